"""Engine benchmarks (issue 2), measured side by side in one run. Prints a Markdown table.

    python benchmarks/bench_engine.py            # all
    python benchmarks/bench_engine.py save lines check ssh

- save:  one durable save with 10,000 recorded events vs with 10 (target: at most 1.5x)
- lines: a step printing 2,000,000 lines, headless: peak RSS < 120 MB, log complete, >= 1 M lines/s
- check: `iact-tui check checklists/staging.toml` wall time (target < 0.5 s)
- ssh:   200 `ssh` steps running `true` on one loopback sshd, headless with durable saves, vs the
         same 200 commands on one raw asyncssh connection (target: at most 2x); ansible-playbook's
         per-task time on the same host beside it when ansible-playbook is installed.
         Needs root and /usr/sbin/sshd (started here on 127.0.0.1, stopped after).
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADER = """
[checklist]
id = "BENCH"
title = "Benchmark"
version = "1"
"""


def _cli(*args: str, **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = dict(os.environ, CI="true")
    return subprocess.run([sys.executable, "-m", "iact_tui", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, **kw)


def bench_save() -> list[tuple[str, str, str, str]]:
    from iact_tui.engine.store import RunStore

    def per_save(n_before: int, samples: int = 300) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            plan = [{"id": "a", "phase": "p", "kind": "local", "title": "A"}]
            store = RunStore.create(Path(tmp), "r", "", {"plan": plan, "operator": "x"})
            for i in range(n_before - 1):
                store.append("note_added", step="a", note=f"event {i}", by="bench")
            times = []
            for i in range(samples):
                t0 = time.perf_counter()
                store.append("note_added", step="a", note=f"measured {i}", by="bench")
                times.append(time.perf_counter() - t0)
            store.lock.release()
            return statistics.median(times)

    small = per_save(10)
    large = per_save(10_000)
    ratio = large / small
    return [("one save at 10,000 events vs at 10", f"{large * 1e3:.3f} ms vs {small * 1e3:.3f} ms",
             f"{ratio:.2f}x", "ok" if ratio <= 1.5 else "MISSED (target <= 1.5x)")]


def bench_lines(n: int = 2_000_000) -> list[tuple[str, str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        checklist = Path(tmp) / "c.toml"
        checklist.write_text(HEADER + f"""
[[phases]]
id = "p"
title = "P"
[[phases.steps]]
id = "print"
kind = "local"
run = "seq {n}"
""")
        runs = Path(tmp) / "runs"
        code = (
            "import resource, subprocess, sys, time\n"
            f"t0 = time.perf_counter()\n"
            f"r = subprocess.run([sys.executable, '-m', 'iact_tui', 'run', {str(checklist)!r}, '--headless', '--runs-dir', {str(runs)!r}], capture_output=True, text=True)\n"
            "wall = time.perf_counter() - t0\n"
            "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "print(r.returncode, wall, rss)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, CI="true"))
        rc, wall, rss_kb = out.stdout.split()
        folder = next(runs.iterdir())
        log = folder / "logs" / "print.log"
        body = [line for line in log.read_text().splitlines() if not line.startswith("--- ")]
        complete = body == [str(i) for i in range(1, n + 1)]
        from iact_tui.engine.state import reduce
        from iact_tui.engine.store import read_records

        step_time = reduce(read_records(folder)).steps["print"].duration or float(wall)
    rss_mb = int(rss_kb) / 1024
    rate = n / step_time
    return [
        (f"step printing {n:,} lines: peak RSS (whole process)", f"{rss_mb:.0f} MB", "", "ok" if rss_mb < 120 else "MISSED (< 120 MB)"),
        ("... throughput (step duration)", f"{rate / 1e6:.2f} M lines/s in {step_time:.2f} s", "", "ok" if rate >= 1e6 else "MISSED (>= 1 M/s)"),
        ("... log complete to the line", "yes" if complete and rc == "0" else "NO", "", "ok" if complete else "MISSED"),
    ]


def bench_check() -> list[tuple[str, str, str, str]]:
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        r = _cli("check", "checklists/staging.toml")
        times.append(time.perf_counter() - t0)
        assert r.returncode == 0, r.stderr
    t = statistics.median(times)
    return [("iact-tui check checklists/staging.toml", f"{t * 1e3:.0f} ms", "", "ok" if t < 0.5 else "MISSED (< 0.5 s)")]


def bench_ssh(n: int = 200) -> list[tuple[str, str, str, str]]:
    from tests.sshd import OpenSshd, sshd_missing_reason  # the real-sshd starter the tests use

    reason = sshd_missing_reason()
    if reason:
        return [(f"{n} ssh steps", f"skipped: {reason}", "", "")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server = OpenSshd().start()
        try:
            import asyncssh

            async def raw() -> float:
                conn = await asyncssh.connect(server.host, port=server.port, username=server.user,
                                              client_keys=[str(server.client_key)], known_hosts=str(server.known_hosts),
                                              config=[])
                t0 = time.perf_counter()
                for _ in range(n):
                    await conn.run("true", check=True)
                elapsed = time.perf_counter() - t0
                conn.close()
                await conn.wait_closed()
                return elapsed

            raw_time = asyncio.run(raw())
            steps = "\n".join(f'[[phases.steps]]\nid = "s{i:03d}"\nkind = "ssh"\nhost = "h"\nrun = "true"\n' for i in range(n))
            checklist = Path(tmp) / "c.toml"
            checklist.write_text(HEADER + f"""
[hosts.h]
address = "{server.host}"
port = {server.port}
user = "{server.user}"
identity = "{server.client_key}"
known_hosts = "{server.known_hosts}"

[[phases]]
id = "p"
title = "P"
""" + steps)
            runs = Path(tmp) / "runs"
            t0 = time.perf_counter()
            r = _cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--ssh-config", "/dev/null")
            assert r.returncode == 0, r.stdout + r.stderr
            from iact_tui.engine.state import reduce
            from iact_tui.engine.store import read_records

            folder = next(runs.iterdir())
            records = read_records(folder)
            state = reduce(records)
            first = next(x for x in records if x["type"] == "step_started")
            last = [x for x in records if x["type"] == "step_finished"][-1]
            from datetime import datetime

            span = (datetime.fromisoformat(last["at"]) - datetime.fromisoformat(first["at"])).total_seconds()
            wall = time.perf_counter() - t0
            ratio = span / raw_time
            rows.append((f"{n} ssh steps `true`, headless, durable saves (first start to last finish)",
                         f"{span * 1e3 / n:.2f} ms/step ({span:.2f} s; whole process {wall:.2f} s)", f"{ratio:.2f}x raw",
                         "ok" if ratio <= 2 else "MISSED (<= 2x)"))
            rows.append((f"{n} commands on one raw asyncssh connection", f"{raw_time * 1e3 / n:.2f} ms/command", "1.00x", ""))
            assert all(s.status == "passed" for s in state.steps.values())
            if shutil.which("ansible-playbook"):
                inv = Path(tmp) / "inv.ini"
                inv.write_text(f"h ansible_host={server.host} ansible_port={server.port} ansible_user={server.user} "
                               f"ansible_ssh_private_key_file={server.client_key} "
                               f"ansible_ssh_common_args='-o UserKnownHostsFile={server.known_hosts}'\n")
                tasks = 20
                play = Path(tmp) / "play.yml"
                play.write_text("- hosts: h\n  gather_facts: false\n  tasks:\n" + "".join(
                    f"    - command: 'true'\n" for _ in range(tasks)))
                env = dict(os.environ, ANSIBLE_PIPELINING="1", ANSIBLE_HOST_KEY_CHECKING="1")
                t0 = time.perf_counter()
                a = subprocess.run(["ansible-playbook", "-i", str(inv), str(play)], capture_output=True, text=True, env=env)
                at = time.perf_counter() - t0
                ok = a.returncode == 0
                rows.append((f"ansible-playbook, {tasks} tasks, pipelining on", f"{at * 1e3 / tasks:.0f} ms/task" if ok else f"failed: {a.stdout[-200:]}",
                             f"{(at / tasks) / (raw_time / n):.0f}x raw" if ok else "", ""))
            else:
                rows.append(("ansible-playbook", "not installed (pip install ansible-core to compare)", "", ""))
        finally:
            server.stop()
    return rows


def main() -> None:
    which = sys.argv[1:] or ["save", "lines", "check", "ssh"]
    rows: list[tuple[str, str, str, str]] = []
    for name in which:
        rows.extend(globals()[f"bench_{name}"]())
    print(f"engine benchmarks, {time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print()
    print("| what | measured | ratio | target |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
