"""`iact-tui demo --headless --auto-tick` against `iact-tui check checklists/staging.toml` (issue 4:
the demo under 20 s on a 2-core machine).

    python benchmarks/bench_demo.py [--repeat 3] [--break NAME]

Both are timed as a user runs them: a fresh `python -m iact_tui` process each time, wall clock,
from start to exit. The demo builds its sandbox (git history, stand-ins, database), starts the
SSH server and the app, runs all of staging.toml and removes everything; `check` only loads and
validates the same checklist, so the ratio is what the whole demo costs over the bare start-up.
Prints one line per measure (median, best, worst) and the ratio; exits 1 when the demo's median
is over the budget or a run does not end as expected.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 20.0


def timed(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "iact_tui", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
    return elapsed, done.returncode


def describe(name: str, times: list[float]) -> str:
    return (
        f"{name:<44} median {statistics.median(times):6.2f} s   best {min(times):6.2f} s   "
        f"worst {max(times):6.2f} s   ({len(times)} runs)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--break", dest="fault", metavar="NAME", help="time the demo with this fault too"
    )
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_")}
    env["CI"] = "true"
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        runs = str(Path(tmp) / "runs")
        check_times = []
        for _ in range(args.repeat):
            elapsed, code = timed(["check", "checklists/staging.toml"], env)
            check_times.append(elapsed)
            ok &= code == 0
        demo_times = []
        for _ in range(args.repeat):
            elapsed, code = timed(["demo", "--headless", "--auto-tick", "--runs-dir", runs], env)
            demo_times.append(elapsed)
            ok &= code == 0
        print(describe("iact-tui check checklists/staging.toml", check_times))
        print(describe("iact-tui demo --headless --auto-tick", demo_times))
        ratio = statistics.median(demo_times) / statistics.median(check_times)
        print(f"{'ratio demo / check (medians)':<44} {ratio:6.1f}x")
        if args.fault:
            fault_times = []
            for _ in range(args.repeat):
                elapsed, code = timed(
                    [
                        "demo",
                        "--headless",
                        "--auto-tick",
                        "--break",
                        args.fault,
                        "--runs-dir",
                        runs,
                    ],
                    env,
                )
                fault_times.append(elapsed)
                ok &= code == 1  # rolled back
            print(describe(f"iact-tui demo ... --break {args.fault}", fault_times))
    median = statistics.median(demo_times)
    verdict = "within" if median < BUDGET_S else "OVER"
    print(f"demo median {median:.2f} s: {verdict} the {BUDGET_S:g} s budget")
    if not ok:
        print("a run did not end as expected (check: exit 0; demo: 0; --break: 1)")
    return 0 if ok and median < BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
