"""Export + sign, and verify, the report of a 1,000-step run (issue 5: each under 1 s).

    python benchmarks/bench_export.py [--steps 1000] [--repeat 5]

Builds the run with tests/runfactory.py (through the real RunStore), makes a throwaway ed25519
key with ssh-keygen, then times, in this process:

- export: read the run, check it, write the bundle (report.toml, checklist, 1,000 logs,
  report.md, report.html, export.toml) and sign the four files;
- verify: every signature against an allowed_signers file, the event chain, the tables
  recomputed from the events, every log re-hashed, the checklist, the export manifest.

Prints one result line per measure (median and worst of the repeats, wall and CPU time) and
exits 1 when a median is over its budget; then, for information, the same two through the
command line (`python -m iact_tui`, interpreter start-up and imports included). Most of the
time is reading the 2 MB TOML report: with the `tomli` package installed (the same parser as
tomllib, compiled) it is about twice as fast.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from iact_tui.engine.report.bundle import export_run
from iact_tui.engine.report.layout import toml_loads
from iact_tui.engine.report.signing import load_key_file
from iact_tui.engine.report.verify import verify
from tests import runfactory

BUDGET_S = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        folder = runfactory.big_run(root / "runs", args.steps)
        built = time.perf_counter() - t0
        key = root / "key"
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "bench@example.org",
                "-f",
                str(key),
            ],
            check=True,
        )
        signer = load_key_file(key)
        (root / "allowed_signers").write_text(
            signer.key.allowed_signers_line("bench@example.org") + "\n"
        )
        report_size = (folder / "report.toml").stat().st_size

        export_times, verify_times, export_cpu, verify_cpu = [], [], [], []
        for i in range(args.repeat):
            out = root / f"bundle-{i}"  # a new folder each time, as `export -o NEW` makes
            t, c = time.perf_counter(), time.process_time()
            result = export_run(folder, out_dir=out, formats=("toml", "md", "html"), signer=signer)
            export_times.append(time.perf_counter() - t)
            export_cpu.append(time.process_time() - c)
            t, c = time.perf_counter(), time.process_time()
            check = verify(out, root / "allowed_signers", "bench@example.org")
            verify_times.append(time.perf_counter() - t)
            verify_cpu.append(time.process_time() - c)
            if not check.ok:
                print("verify failed: " + "; ".join(check.problems), file=sys.stderr)
                return 1
        ok = True
        parser = toml_loads.__module__.split(".")[0]
        print(
            f"run: {args.steps} steps, {len(result.snapshot.records)} events, report.toml {report_size / 1e6:.2f} MB, "
            f"{result.logs} step logs (built in {built:.1f} s); TOML parser: {parser}; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        for name, times, cpu in (
            ("export+sign (toml, md, html; 4 signatures)", export_times, export_cpu),
            ("verify (4 signatures, chain, tables, logs)", verify_times, verify_cpu),
        ):
            median = statistics.median(times)
            ok = ok and median < BUDGET_S
            verdict = "ok" if median < BUDGET_S else "OVER BUDGET"
            print(
                f"bench_export: {name}: median {median * 1000:.0f} ms wall ({statistics.median(cpu) * 1000:.0f} ms CPU), "
                f"worst {max(times) * 1000:.0f} ms over {len(times)} runs (budget {BUDGET_S * 1000:.0f} ms) {verdict}"
            )
        # the whole command, as a person runs it: interpreter start and imports included
        cli_export, cli_verify = [], []
        for i in range(max(1, args.repeat // 2)):
            out = root / f"cli-{i}"
            t = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "iact_tui",
                    "export",
                    str(folder),
                    "-o",
                    str(out),
                    "--format",
                    "md",
                    "--format",
                    "html",
                    "--sign",
                    str(key),
                ],
                check=True,
                capture_output=True,
            )
            cli_export.append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "iact_tui",
                    "verify",
                    str(out),
                    "--allowed-signers",
                    str(root / "allowed_signers"),
                ],
                check=True,
                capture_output=True,
            )
            cli_verify.append(time.perf_counter() - t)
        print(
            f"bench_export: command line (python -m iact_tui, start-up included): export+sign median "
            f"{statistics.median(cli_export) * 1000:.0f} ms, verify median {statistics.median(cli_verify) * 1000:.0f} ms "
            "(for information)"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
