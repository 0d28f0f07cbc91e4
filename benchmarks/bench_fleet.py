"""Fleet benchmarks (issue 13), measured side by side in one run. Prints Markdown tables.

    python benchmarks/bench_fleet.py                 # all
    python benchmarks/bench_fleet.py fanout rolling ansible

- fanout:  one `ssh` step running `true` on a group of 50 and of 200 hosts (aliases of loopback
           sshd, one connection each), headless through the CLI, vs a raw `asyncio.gather` of
           asyncssh connections doing the same (connect + run), vs `ansible -m command -f 50`,
           vs Fabric's ThreadingGroup when it is installed. Targets: ≤ 1.5x raw, ≥ 10x faster
           than ansible; peak RSS of the iact-tui process at 200 hosts < 300 MB.
- rolling: a rolling restart of 20 hosts with `serial = 5` (command `sleep 0.2`), vs the same
           batches done raw (per batch: connect + run, gathered): overhead per batch ≤ 50 ms.
- ansible: the `ansible` kind running a playbook on 20 hosts, vs `ansible-playbook` on the same
           playbook and inventory: overhead ≤ 10 %; the per-host events reach the step's output
           while it runs (the time of the first one is printed).

Needs root, /usr/sbin/sshd and the plain user of .ci/install-sshd.sh; sshd is started here on
127.0.0.1 and stopped after. Not part of the test suite.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fleet import Fleet  # noqa: E402

HEADER = '[checklist]\nid = "FLEET"\ntitle = "Fleet benchmark"\nversion = "1"\n\n'
REPEAT = 3


def _checklist(fleet: Fleet, hosts: int, steps: str, folder: Path) -> Path:
    sub = Fleet(hosts, prefix=fleet.prefix)
    sub.hosts, sub.user, sub.base = fleet.hosts[:hosts], fleet.user, fleet.base
    path = folder / f"fleet-{hosts}-{time.monotonic_ns()}.toml"
    path.write_text(HEADER + sub.hosts_toml("web") + "\n" + steps)
    return path


def _run_cli_rss(checklist: Path, runs: Path) -> tuple[float, dict, int]:
    """Like _run_cli, with the child's own peak RSS (wait4's rusage)."""
    env = dict(os.environ, CI="true", PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(
            [sys.executable, "-m", "iact_tui", "run", str(checklist), "--headless", "--runs-dir", str(runs)],
            stdout=devnull, stderr=devnull, cwd=ROOT, env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the run failed ({proc.returncode})")
    run_dir = next(p for p in runs.iterdir() if p.is_dir() and (p / "report.toml").exists())
    report = tomllib.loads((run_dir / "report.toml").read_text())
    shutil.rmtree(run_dir)
    return wall, report, usage.ru_maxrss


async def _raw(fleet: Fleet, names: list[str], command: str) -> float:
    import asyncssh

    hosts = [fleet.host(n) for n in names]
    known = asyncssh.read_known_hosts(str(fleet.known_hosts))

    async def one(h) -> None:  # type: ignore[no-untyped-def]
        async with asyncssh.connect("127.0.0.1", h.port, username=fleet.user, client_keys=[str(h.key)],
                                    known_hosts=known, agent_path=None, config=()) as conn:
            await conn.run(command, check=True)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(h) for h in hosts))
    return time.perf_counter() - t0


def _inventory(fleet: Fleet, names: list[str], folder: Path) -> Path:
    from iact_tui.engine.checklist.model import Checklist
    from iact_tui.engine.checklist.values import Values
    from iact_tui.engine.executors.ansible import build_inventory

    sub = Fleet(len(names), prefix=fleet.prefix)
    sub.hosts, sub.user, sub.base = [fleet.host(n) for n in names], fleet.user, fleet.base
    c = Checklist.model_validate(tomllib.loads(HEADER + sub.hosts_toml("web") +
                                               '\n[[phases]]\nid = "p"\ntitle = "p"\n[[phases.steps]]\nid = "x"\nkind = "manual"\n'))
    inv = build_inventory(c.hosts, "web", Values.resolve(c, {}))
    path = folder / f"inventory-{len(names)}.json"
    path.write_text(json.dumps(inv))
    return path


def _ansible_env(folder: Path) -> dict[str, str]:
    return dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_PIPELINING="True", ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER="auto_silent", ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_SSH_CONTROL_PATH_DIR=str(folder / "cp"), ANSIBLE_LOCAL_TEMP=str(folder / "tmp"),
        ANSIBLE_HOME=str(folder / "home"), ANSIBLE_DEPRECATION_WARNINGS="False",
    )


def _ansible_adhoc(inv: Path, folder: Path) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(["ansible", "web", "-i", str(inv), "-m", "command", "-a", "true", "-f", "50"],
                       capture_output=True, text=True, env=_ansible_env(folder), timeout=600)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(r.stdout[-2000:] + r.stderr[-2000:])
    _close_masters(folder)
    return wall


def _close_masters(folder: Path) -> None:
    for sock in (folder / "cp").glob("*") if (folder / "cp").exists() else []:
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True, timeout=5, check=False)


def _fabric(fleet: Fleet, names: list[str]) -> float | None:
    try:
        from fabric import Config, ThreadingGroup
    except ImportError:
        return None
    config = Config(runtime_ssh_path=str(fleet.ssh_config))
    t0 = time.perf_counter()
    group = ThreadingGroup(*names, config=config)
    for conn in group:
        conn.client.load_host_keys(str(fleet.known_hosts))
    try:
        group.run("true", hide=True)
    finally:
        group.close()
    return time.perf_counter() - t0


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


# -- the benchmarks ------------------------------------------------------------------------------


def bench_fanout(fleet: Fleet, folder: Path) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for n in (50, 200):
        names = fleet.names[:n]
        steps = '[[phases]]\nid = "p"\ntitle = "P"\n[[phases.steps]]\nid = "fan"\nkind = "ssh"\nhost = "web"\nrun = "true"\n'
        checklist = _checklist(fleet, n, steps, folder)
        runs = folder / f"runs-{n}"
        runs.mkdir(exist_ok=True)
        ours, raw, walls, rss = [], [], [], []
        for _ in range(REPEAT):  # interleaved, so load moves both alike
            wall, report, peak = _run_cli_rss(checklist, runs)
            ours.append(float(report["steps"][0]["duration"]))
            walls.append(wall)
            rss.append(peak)
            raw.append(asyncio.run(_raw(fleet, names, "true")))
        inv = _inventory(fleet, names, folder)
        ansible = [_ansible_adhoc(inv, folder) for _ in range(2 if n <= 50 else 1)]
        fab = _fabric(fleet, names)
        o, r, a = _median(ours), _median(raw), _median(ansible)
        rows.append((f"`ssh` step `true` on {n} hosts (step duration, connections included)", f"{o:.3f} s",
                     f"{o / r:.2f}x raw", "≤ 1.5x raw", "yes" if o / r <= 1.5 else "no"))
        rows.append((f"... raw asyncio.gather of {n} asyncssh connect + run", f"{r:.3f} s", "1.00x", "", ""))
        rows.append((f"... `ansible web -m command -a true -f 50`, {n} hosts", f"{a:.2f} s",
                     f"iact-tui {a / o:.1f}x faster", "≥ 10x", "yes" if a / o >= 10 else "no"))
        if fab is not None:
            rows.append((f"... Fabric ThreadingGroup.run('true'), {n} hosts", f"{fab:.2f} s", f"{fab / r:.1f}x raw", "", ""))
        rows.append((f"... whole `iact-tui run --headless` process, {n} hosts (start-up, report)", f"{_median(walls):.2f} s", "", "", ""))
        if n == 200:
            peak_mb = max(rss) / 1024
            rows.append(("peak RSS of the iact-tui process at 200 hosts", f"{peak_mb:.0f} MB", "", "< 300 MB",
                         "yes" if peak_mb < 300 else "no"))
    return rows


def bench_rolling(fleet: Fleet, folder: Path) -> list[tuple[str, ...]]:
    n, serial, command = 20, 5, "sleep 0.2"
    names = fleet.names[:n]
    steps = (f'[[phases]]\nid = "p"\ntitle = "P"\n[[phases.steps]]\nid = "restart"\nkind = "ssh"\nhost = "web"\n'
             f'run = "{command}"\nserial = {serial}\n')
    checklist = _checklist(fleet, n, steps, folder)
    runs = folder / "runs-rolling"
    runs.mkdir(exist_ok=True)
    ours, raw = [], []
    batches = [names[i : i + serial] for i in range(0, n, serial)]
    for _ in range(REPEAT):
        _, report, _ = _run_cli_rss(checklist, runs)
        ours.append(float(report["steps"][0]["duration"]))
        raw.append(sum(asyncio.run(_raw(fleet, b, command)) for b in batches))
    o, r = _median(ours), _median(raw)
    per_batch = (o - r) / len(batches) * 1000
    return [
        (f"rolling restart: `{command}` on {n} hosts, serial = {serial} ({len(batches)} batches)", f"{o:.3f} s",
         f"{per_batch:+.1f} ms per batch over raw", "≤ 50 ms per batch", "yes" if per_batch <= 50 else "no"),
        ("... the same batches raw (per batch: gather of connect + run)", f"{r:.3f} s", "", "", ""),
    ]


PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: one
      command: "true"
    - name: two
      command: "true"
    - name: three
      shell: "echo {{ inventory_hostname }}"
"""


def bench_ansible(fleet: Fleet, folder: Path) -> list[tuple[str, ...]]:
    n = 20
    names = fleet.names[:n]
    play = folder / "site.yml"
    play.write_text(PLAYBOOK)
    steps = ('[[phases]]\nid = "p"\ntitle = "P"\n[[phases.steps]]\nid = "play"\nkind = "ansible"\nhost = "web"\n'
             f'playbook = "{play}"\nforks = 50\n')
    checklist = _checklist(fleet, n, steps, folder)
    runs = folder / "runs-ansible"
    runs.mkdir(exist_ok=True)
    inv = _inventory(fleet, names, folder)
    ours, plain = [], []
    for _ in range(REPEAT):
        _, report, _ = _run_cli_rss(checklist, runs)
        ours.append(float(report["steps"][0]["duration"]))
        t0 = time.perf_counter()
        r = subprocess.run(["ansible-playbook", "-i", str(inv), str(play), "-f", "50"], capture_output=True,
                           text=True, env=_ansible_env(folder), timeout=600)
        plain.append(time.perf_counter() - t0)
        _close_masters(folder)
        if r.returncode != 0:
            raise RuntimeError(r.stdout[-2000:])
    live = asyncio.run(_first_event_delay(fleet, names, play, folder))
    o, p = _median(ours), _median(plain)
    return [
        (f"`ansible` kind, a 3-task playbook on {n} hosts (step duration)", f"{o:.2f} s",
         f"{(o / p - 1) * 100:+.1f} % over ansible-playbook", "≤ 10 %", "yes" if o / p <= 1.10 else "no"),
        ("... `ansible-playbook -f 50` on the same playbook and inventory", f"{p:.2f} s", "", "", ""),
        ("... first per-host event in the step's output, after the step started", f"{live:.2f} s",
         f"{live / o * 100:.0f} % into the step", "live (before the end)", "yes" if live < o * 0.9 else "no"),
    ]


async def _first_event_delay(fleet: Fleet, names: list[str], play: Path, folder: Path) -> float:
    """Run the executor in process and time the first output event (a host's task result)."""
    from types import SimpleNamespace

    from iact_tui.engine.checklist.model import Checklist
    from iact_tui.engine.checklist.values import Values
    from iact_tui.engine.executors.ansible import AnsibleExecutor
    from iact_tui.engine.executors.base import LogWriter, OutputCollector, compile_expectations

    sub = Fleet(len(names), prefix=fleet.prefix)
    sub.hosts, sub.user, sub.base = [fleet.host(n) for n in names], fleet.user, fleet.base
    c = Checklist.model_validate(tomllib.loads(HEADER + sub.hosts_toml("web") +
                                               '\n[[phases]]\nid = "p"\ntitle = "p"\n[[phases.steps]]\nid = "x"\nkind = "manual"\n'))
    values = Values.resolve(c, {})
    step = SimpleNamespace(id="play", host="web", inventory=None, playbook=str(play), module=None, args=None,
                           extra_vars={}, forks=50, sudo=False, timeout=300.0, serial=None, max_fail=None)
    first: list[float] = []
    t0 = time.perf_counter()

    def emit(event: object) -> None:
        if (not first and "ok: [" in str(getattr(event, "text", ""))) or "changed: [" in str(getattr(event, "text", "")):
            first.append(time.perf_counter() - t0)

    log = LogWriter(folder / "live.log")
    ctx = SimpleNamespace(step=step, attempt=1, values=values, log=log, emit=emit,
                          services=SimpleNamespace(ssh=None),
                          output=lambda prefix="": OutputCollector("play", log, emit, values, compile_expectations(step),
                                                                   lambda n, v: None, prefix))
    outcome = await AnsibleExecutor().execute(ctx)  # type: ignore[arg-type]
    log.close()
    if not outcome.ok:
        raise RuntimeError(outcome.message)
    return first[0] if first else float("nan")


def main() -> None:
    which = sys.argv[1:] or ["fanout", "rolling", "ansible"]
    print(f"{time.strftime('%Y-%m-%d')} · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"load {os.getloadavg()[0]:.1f}")
    folder = Path(tempfile.mkdtemp(prefix="iact-bench-fleet-"))
    folder.chmod(0o755)
    fleet = Fleet(200, servers=4).start()
    try:
        rows: list[tuple[str, ...]] = []
        for name in which:
            rows += globals()[f"bench_{name}"](fleet, folder)
        print("\n| what | measured | ratio | target | met |\n|---|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    finally:
        fleet.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
