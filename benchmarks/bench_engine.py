"""Engine benchmarks (issue 2), measured side by side in one run. Prints a Markdown table.

    python benchmarks/bench_engine.py            # all
    python benchmarks/bench_engine.py save lines masked check ssh

- save:  one durable save with 10,000 recorded events vs with 10 (target: at most 1.5x)
- lines: a step printing 2,000,000 lines, headless: peak RSS < 120 MB, log complete, >= 1 M lines/s
- masked: the same step with two secrets known to the run (one multi-line), so every block of
         output goes through the masker: >= 1 M lines/s, log complete
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
    """One durable save (an append and an fdatasync of the journal) at 10 and at 10,000 recorded
    events, and what keeping report.toml up to date costs (issue 10, item 19). "before": the report
    rewritten only at start, pause and finish; "after": also at least every 10 s while records are
    made (and at each phase's end, once per phase). Both are measured in the same run; a fake clock
    moves 10 ms per save (100 saves a second, a busy run), so the 10 s rule fires every 1,000 saves."""
    import math

    import tomli_w

    from iact_tui.engine.record.store import COMPACT_EVERY, RunStore, atomic_write, report_header

    def run(n_before: int, every: float, samples: int, tick: float) -> tuple[list[float], float, float, int]:
        with tempfile.TemporaryDirectory() as tmp:
            plan = [{"id": "a", "phase": "p", "kind": "local", "title": "A"}]
            store = RunStore.create(Path(tmp), "r", "", {"plan": plan, "operator": "x"})
            store.compact_every = math.inf
            real_sync = os.fdatasync
            os.fdatasync = lambda fd: None  # the events before the measured ones: no need to wait
            try:
                for i in range(n_before - 1):
                    store.append("note_added", step="a", note=f"event {i}", by="bench")
            finally:
                os.fdatasync = real_sync
            clock = [0.0]
            store.clock = lambda: clock[0]
            store.compact()  # the report holds the first n_before events, written at t = 0
            store.compact_every = every
            real_compact = store.compact
            rewrites = [0]

            def counted(**kw: bool) -> None:
                rewrites[0] += 1
                real_compact(**kw)

            store.compact = counted  # type: ignore[method-assign]
            times = []
            for i in range(samples):
                clock[0] = (i + 1) * tick
                t0 = time.perf_counter()
                store.append("note_added", step="a", note=f"measured {i}", by="bench")
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            store.checkpoint()  # one rewrite of report.toml at this size
            compaction = time.perf_counter() - t0
            t0 = time.perf_counter()  # the same rewrite as before item 19: the whole report serialised
            whole = tomli_w.dumps(store.report_data(), multiline_strings=False)
            atomic_write(store.folder / "whole.toml", (report_header(store.records, store.state) + whole).encode())
            serialised_whole = time.perf_counter() - t0
            store.lock.release()
            return times, compaction, serialised_whole, rewrites[0] - 1

    rows: list[tuple[str, str, str, str]] = []
    small, *_ = run(10, COMPACT_EVERY, 300, 0.0)
    large, *_ = run(10_000, COMPACT_EVERY, 300, 0.0)
    ratio = statistics.median(large) / statistics.median(small)
    rows.append(("one save at 10,000 events vs at 10 (median)",
                 f"{statistics.median(large) * 1e3:.3f} ms vs {statistics.median(small) * 1e3:.3f} ms",
                 f"{ratio:.2f}x", "ok" if ratio <= 1.5 else "MISSED (target <= 1.5x)"))
    ms = 1e3
    for n in (10, 10_000):
        before, _, _, none = run(n, math.inf, 3000, 0.01)
        after, compaction, whole, rewrites = run(n, COMPACT_EVERY, 3000, 0.01)
        assert none == 0, none
        for what, f in (("median", statistics.median), ("mean", statistics.fmean), ("worst", max)):
            b, a = f(before), f(after)
            rows.append((f"3,000 saves from {n:,} events, 100 saves/s: {what} save, after vs before",
                         f"{a * ms:.3f} ms vs {b * ms:.3f} ms", f"{a / b:.2f}x",
                         f"report rewritten {rewrites}x in the 30 s" if what == "worst" else ""))
        rows.append((f"one rewrite of report.toml at {n + 3000:,} events, after (events kept serialised) vs "
                     "before (serialised whole)", f"{compaction * ms:.1f} ms vs {whole * ms:.1f} ms",
                     f"{compaction / whole:.2f}x", f"{compaction / COMPACT_EVERY:.2%} of a run's time at one per 10 s"))
    return rows


def bench_masked(n: int = 10_000_000) -> list[tuple[str, str, str, str]]:
    """The same step with and without two secrets known to the run (with: every block of output
    goes through the masker)."""
    plain = _lines_rate(n, secret=False)
    masked = _lines_rate(n, secret=True)
    ok = masked[1] and masked[0] >= 1e6
    return [
        (f"step printing {n:,} lines, no secret", f"{plain[0] / 1e6:.2f} M lines/s", "1.00x", ""),
        (f"... with 2 secrets to mask (one multi-line), log complete: {'yes' if masked[1] else 'NO'}",
         f"{masked[0] / 1e6:.2f} M lines/s", f"{plain[0] / masked[0]:.2f}x slower", "ok" if ok else "MISSED (>= 1 M/s, complete)"),
    ]


def _lines_rate(n: int, secret: bool) -> tuple[float, bool]:
    rows = bench_lines(n, secret=secret)
    rate = float(rows[1][1].split()[0]) * 1e6
    return rate, rows[2][1] == "yes"


def bench_lines(n: int = 2_000_000, secret: bool = False) -> list[tuple[str, str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        checklist = Path(tmp) / "c.toml"
        secrets = ('[vars.token]\nsecret = true\n[vars.key]\nsecret = true\n' if secret else "")
        key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END KEY-----"
        secret_args = ["--var", "token=eyJhbGciOi.s3cr3t/T0ken+value", "--var", f"key={key}"] if secret else []
        checklist.write_text(HEADER + secrets + f"""
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
            f"r = subprocess.run([sys.executable, '-m', 'iact_tui', 'run', {str(checklist)!r}, '--headless', '--runs-dir', {str(runs)!r}]"
            f" + {secret_args!r}, capture_output=True, text=True)\n"
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
        from iact_tui.engine.record.state import reduce
        from iact_tui.engine.record.store import read_records

        step_time = reduce(read_records(folder)).steps["print"].duration or float(wall)
    rss_mb = int(rss_kb) / 1024
    rate = n / step_time
    return [
        (f"step printing {n:,} lines: peak RSS (whole process)", f"{rss_mb:.0f} MB", "", "ok" if rss_mb < 120 else "MISSED (< 120 MB)"),
        ("... throughput (step duration)", f"{rate / 1e6:.3f} M lines/s in {step_time:.2f} s", "", "ok" if rate >= 1e6 else "MISSED (>= 1 M/s)"),
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
            from iact_tui.engine.record.state import reduce
            from iact_tui.engine.record.store import read_records

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
                    "    - command: 'true'\n" for _ in range(tasks)))
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
    which = sys.argv[1:] or ["save", "lines", "masked", "check", "ssh"]
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
