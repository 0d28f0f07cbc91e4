"""The TUI's budgets (issue 3), measured in a real terminal: tmux gives the app a pty, and what
it shows is read back with `tmux capture-pane`.

    python benchmarks/bench_tui.py [--repeat 5] [--lines 200000]

- `iact-tui --help`: under 0.3 s (Textual is not imported for it).
- process start to the first frame of the main screen (`iact-tui resume RUN`, which opens on
  it): under 1.5 s.
- a step printing 200,000 lines: a key pressed during the stream (the step tree's cursor moves)
  shows on screen within 100 ms at the 95th percentile; the step takes at most 1.5x its headless
  run (the durations the runs recorded, medians); peak RSS of the TUI under 200 MB. The same
  stream is also measured with the app run headless in this process (App.run_test), which
  leaves out the terminal (tmux parses every frame, on the same cores).

What the terminal shows is polled every 2 ms (there is no event for "the terminal now shows"):
a latency is the time from `send-keys` to the first capture that shows the change, so it
includes tmux's own delivery. While a stream whose duration counts runs, it is polled every
50 ms only (a capture is a process of its own; see bench_stream). The TUI runs with exactly the
environment the headless runs get (`env -i`), not the tmux server's. Prints one line per
measure and exits 1 when one is over budget.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELP_BUDGET = 0.3
FIRST_FRAME_BUDGET = 1.5
KEY_P95_BUDGET = 0.100
RATIO_BUDGET = 1.5
RSS_BUDGET_MB = 200
POLL = 0.002
QUIET_POLL = 0.05  # while a stream whose duration is measured runs (see bench_stream)
SIZE = ("120", "40")
TREE_COLUMNS = 40  # the left pane: only a key changes it while the step streams

GENERATOR = """\
import sys
w = sys.stdout.write
for i in range({lines}):
    w(f"{{i:06d}} INFO deploy: copying static/file-{{i}}.css to /var/www/static [ok]\\n")
"""

CHECKLIST = """\
schema_version = 1

[checklist]
id = "BENCH-TUI"
title = "Streaming output"
version = "1"

[[phases]]
id = "stream"
title = "Stream"

[[phases.steps]]
id = "wait"
kind = "manual"
title = "A person looks first"

[[phases.steps]]
id = "big"
kind = "local"
title = "Print many lines"
run = "{python} {generator}"
"""


def iact(*args: str) -> list[str]:
    return [sys.executable, "-m", "iact_tui", *args]


class Tmux:
    """One detached tmux session running one command in a pty of SIZE."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        exports = " ".join(f"{k}={_quote(v)}" for k, v in env.items())
        # env -i: exactly ``env``, as the headless runs get it. A tmux server hands its own
        # environment to new sessions (the one it started in, e.g. PYTHONUNBUFFERED=1, which
        # would make the benchmark's command write each line on its own: another workload)
        line = f"cd {_quote(str(cwd))} && exec env -i {exports} " + " ".join(
            _quote(a) for a in command
        )
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", SIZE[0], "-y", SIZE[1], line],
            check=True,
        )

    def screen(self, escapes: bool = False) -> str:
        args = ["tmux", "capture-pane", "-p", "-t", self.name] + (["-e"] if escapes else [])
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def pid(self) -> int:
        out = subprocess.run(
            ["tmux", "display-message", "-p", "-t", self.name, "#{pane_pid}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return int(out.strip())

    def alive(self) -> bool:
        return (
            subprocess.run(
                ["tmux", "has-session", "-t", self.name], capture_output=True, check=False
            ).returncode
            == 0
        )

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, check=False)

    def wait_for(
        self,
        shows: Callable[[str], bool],
        within: float,
        escapes: bool = False,
        poll: float = POLL,
    ) -> float:
        """Seconds until the screen satisfies ``shows`` (polled; bounded by ``within``)."""
        start = time.perf_counter()
        while time.perf_counter() - start < within:
            if shows(self.screen(escapes)):
                return time.perf_counter() - start
            time.sleep(poll)
        raise TimeoutError(
            f"the screen did not change as expected within {within} s:\n{self.screen()}"
        )

    def wait_gone(self, within: float) -> None:
        start = time.perf_counter()
        while self.alive() and time.perf_counter() - start < within:
            time.sleep(0.01)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def tree_of(screen: str) -> str:
    """The left pane of a capture taken with its colours (-e): the step tree and its cursor,
    without the output pane, which changes all the time while the step streams."""
    return "\n".join(_columns(line, TREE_COLUMNS) for line in screen.splitlines()[1:-3])


def _columns(line: str, width: int) -> str:
    """The first ``width`` visible columns of a line, with the escape sequences among them."""
    out: list[str] = []
    seen = 0
    i = 0
    while i < len(line) and seen < width:
        if line[i] == "\x1b":
            end = line.find("m", i)
            end = len(line) - 1 if end < 0 else end
            out.append(line[i : end + 1])
            i = end + 1
            continue
        out.append(line[i])
        seen += 1
        i += 1
    return "".join(out)


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def recorded_duration(runs: Path, step: str) -> float:
    reports = sorted(runs.glob("*/report.toml"), key=lambda p: p.stat().st_mtime)
    data = tomllib.loads(reports[-1].read_text())
    return float(next(s for s in data["steps"] if s["id"] == step)["duration"])


def bench_help(repeat: int, env: dict[str, str]) -> float:
    script = shutil.which("iact-tui")
    command = [script, "--help"] if script else iact("--help")
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paused_run(work: Path, env: dict[str, str]) -> str:
    """A run of the checklist paused at its manual step (headless, no terminal: it pauses)."""
    runs = work / "runs"
    out = subprocess.run(
        iact(
            "run",
            str(work / "bench.toml"),
            "--headless",
            "--runs-dir",
            str(runs),
            "--operator",
            "bench",
        ),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 3:
        raise RuntimeError(f"expected a paused run (exit 3), got {out.returncode}: {out.stderr}")
    return out.stdout.split()[1]


def bench_first_frame(work: Path, env: dict[str, str], repeat: int) -> float:
    run_id = paused_run(work, env)
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        tmux = Tmux(
            f"iact-bench-start-{os.getpid()}-{i}",
            iact("resume", run_id, "--runs-dir", str(work / "runs"), "--operator", "bench"),
            env,
            work,
        )
        try:
            tmux.wait_for(lambda s: f"run {run_id}" in s, 30)
            times.append(time.perf_counter() - t0)
            tmux.keys("q")
            tmux.wait_gone(10)
        finally:
            tmux.kill()
    return statistics.median(times)


def bench_stream(
    work: Path, env: dict[str, str], trial: int, press_keys: bool
) -> tuple[float, list[float], float]:
    """One TUI run of the stream: (recorded duration, key latencies, peak RSS in MB). The step's
    duration is measured in runs without key presses (a key moves the tree's cursor, which shows
    another step: work the plain stream does not have). In those, the screen is looked at only
    every QUIET_POLL while the step runs: each look is a `tmux capture-pane` process (about half
    a core at POLL), which would compete with the app on the same cores, and the duration is the
    one the run records, which needs no fast look."""
    runs = work / f"tui-runs-{trial}"
    tmux = Tmux(
        f"iact-bench-stream-{os.getpid()}-{trial}",
        iact("run", str(work / "bench.toml"), "--runs-dir", str(runs), "--operator", "bench"),
        env,
        work,
    )
    latencies: list[float] = []
    try:
        tmux.wait_for(lambda s: "Start run" in s, 30)
        tmux.keys("C-s")
        tmux.wait_for(lambda s: "next: A person looks first" in s, 30)
        tmux.keys("r")  # run the manual step: it waits for a tick
        tmux.wait_for(lambda s: "waits for a person" in s, 30)
        tmux.keys("p")  # ticked: the big step then waits for "run step"
        tmux.wait_for(lambda s: "next: Print many lines" in s, 30)
        tmux.keys("r")
        poll = POLL if press_keys else QUIET_POLL
        tmux.wait_for(lambda s: "running big" in s or "passed" in s.splitlines()[-2], 30, poll=poll)
        key = "Up"  # the streaming step is the tree's last node: Up moves, then Down moves back
        for _ in range(200):  # bounded: the stream ends long before
            screen = tmux.screen(escapes=True)
            if not press_keys or "succeeded" in screen:
                break
            before = tree_of(screen)
            t0 = time.perf_counter()
            tmux.keys(key)
            key = "Down" if key == "Up" else "Up"
            try:
                tmux.wait_for(lambda s, b=before: tree_of(s) != b, 2, escapes=True)
            except TimeoutError:
                continue  # the cursor was already at that end (the run moved it): no effect to time
            latencies.append(time.perf_counter() - t0)
        tmux.wait_for(lambda s: "succeeded" in s, 60, poll=poll)
        rss = vm_hwm_mb(tmux.pid())
        tmux.keys("q")
        tmux.wait_gone(10)
    finally:
        tmux.kill()
    return recorded_duration(runs, "big"), latencies, rss


def bench_headless(work: Path, env: dict[str, str], trial: int) -> float:
    runs = work / f"headless-runs-{trial}"
    subprocess.run(
        iact(
            "run",
            str(work / "bench.toml"),
            "--headless",
            "--runs-dir",
            str(runs),
            "--operator",
            "bench",
        ),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    # headless without a terminal pauses at the manual step: tick it, then resume
    run_id = next(runs.iterdir()).name
    subprocess.run(
        iact("tick", run_id, "wait", "--runs-dir", str(runs), "--as", "bench"),
        env=env,
        capture_output=True,
        check=True,
    )
    subprocess.run(
        iact("resume", run_id, "--headless", "--runs-dir", str(runs), "--operator", "bench"),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
    )
    return recorded_duration(runs, "big")


def bench_in_process(work: Path, env: dict[str, str], trial: int) -> float:
    """The same stream in the app run headless in this process (App.run_test): the step's
    recorded duration, without a terminal (what the app itself costs). The step's command gets
    ``env``, like in the other runs (not this process's environment)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return _in_process(work, trial)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _in_process(work: Path, trial: int) -> float:
    import asyncio

    from iact_tui.engine.run.launch import Launch
    from iact_tui.tui.app import IactApp
    from iact_tui.tui.bridge import RunBridge

    async def main() -> float:
        asking: dict[str, object] = {"question": None}
        changed = asyncio.Event()

        def hook(message: object) -> None:
            if isinstance(message, RunBridge.QuestionChanged):
                asking["question"] = message.question
            changed.set()

        async def until(predicate: Callable[[], bool], within: float = 60) -> None:
            async def loop() -> None:
                while not predicate():
                    changed.clear()
                    await changed.wait()

            await asyncio.wait_for(loop(), within)

        def asked(kind: str) -> bool:
            question = asking["question"]
            return question is not None and getattr(question, "kind", "") == kind

        runs = work / f"inproc-runs-{trial}"
        launch = Launch(
            runs_dir=runs,
            checklist=str(work / "bench.toml"),
            operator="bench",
            mode="tui",
            ssh_config=[],
        )
        app = IactApp(launch)
        async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
            await pilot.pause()
            await pilot.click("#setup-start-button")
            await until(lambda: asked("pace"))
            await pilot.press("r")
            await until(lambda: asked("manual"))
            await pilot.press("p")
            await until(lambda: asked("pace"))
            await pilot.press("r")
            await until(
                lambda: app.run_view is not None and app.run_view.state.status == "succeeded"
            )
            await app.workers.wait_for_complete()
        return recorded_duration(runs, "big")

    return asyncio.run(main())


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="trials of each measure (default 5)")
    parser.add_argument(
        "--lines", type=int, default=200_000, help="lines the step prints (default 200000)"
    )
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("bench_tui: needs tmux (apt-get install tmux)", file=sys.stderr)
        return 2
    env = {
        k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH")
    }
    env.update({"TERM": "xterm-256color", "COLORTERM": "truecolor", "PYTHONPATH": str(ROOT)})
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp:
        work = Path(tmp)
        (work / "gen.py").write_text(GENERATOR.format(lines=args.lines))
        (work / "bench.toml").write_text(
            CHECKLIST.format(python=sys.executable, generator=work / "gen.py")
        )

        help_s = bench_help(max(5, args.repeat), env)
        print(
            f"iact-tui --help: {help_s * 1000:.0f} ms median (budget {HELP_BUDGET * 1000:.0f} ms)"
        )
        if help_s > HELP_BUDGET:
            problems.append("--help")

        first = bench_first_frame(work, env, args.repeat)
        print(
            f"start to the main screen's first frame (resume): {first * 1000:.0f} ms median "
            f"(budget {FIRST_FRAME_BUDGET * 1000:.0f} ms)"
        )
        if first > FIRST_FRAME_BUDGET:
            problems.append("first frame")

        tui_durations, headless_durations, latencies, peaks = [], [], [], []
        for trial in range(args.repeat):
            headless_durations.append(bench_headless(work, env, trial))
            duration, _, rss = bench_stream(work, env, trial, press_keys=False)
            tui_durations.append(duration)
            peaks.append(rss)
            _, keys, rss = bench_stream(work, env, args.repeat + trial, press_keys=True)
            latencies.extend(keys)
            peaks.append(rss)
        inproc_durations = [bench_in_process(work, env, trial) for trial in range(args.repeat)]
        headless = statistics.median(headless_durations)
        inproc = statistics.median(inproc_durations)
        print(
            f"{args.lines:,} lines in the app run headless in-process (App.run_test): {inproc:.3f} s "
            f"(runs {', '.join(f'{d:.3f}' for d in inproc_durations)}): {inproc / headless:.2f}x the headless run"
        )
        tui = statistics.median(tui_durations)
        ratio = tui / headless
        best = min(tui_durations) / min(headless_durations)
        print(
            f"{args.lines:,} lines: headless step {headless:.3f} s (runs "
            f"{', '.join(f'{d:.3f}' for d in headless_durations)}), in the TUI {tui:.3f} s (runs "
            f"{', '.join(f'{d:.3f}' for d in tui_durations)}): {ratio:.2f}x by medians, {best:.2f}x best "
            f"against best (budget {RATIO_BUDGET}x)"
        )
        if ratio > RATIO_BUDGET:
            problems.append("stream ratio")
        if latencies:
            print(
                f"key during the stream: {len(latencies)} presses, p50 {statistics.median(latencies) * 1000:.0f} ms, "
                f"p95 {p95(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
                f"(budget p95 {KEY_P95_BUDGET * 1000:.0f} ms)"
            )
            if p95(latencies) > KEY_P95_BUDGET:
                problems.append("key latency")
        else:
            print("key during the stream: the stream ended before a key could be pressed")
            problems.append("key latency (no sample)")
        print(f"peak RSS of the TUI: {max(peaks):.0f} MB (budget {RSS_BUDGET_MB} MB)")
        if max(peaks) > RSS_BUDGET_MB:
            problems.append("RSS")
    if problems:
        print(f"over budget: {', '.join(problems)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
