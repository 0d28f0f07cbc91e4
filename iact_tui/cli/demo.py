"""`iact-tui demo`: checklists/staging.toml against a sandbox built inside this process.

The run goes through exactly the code path of `iact-tui run` (``iact_tui.cli.run.start``); only
the variables differ: the sandbox's hosts, URLs, paths and commands.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from iact_tui.cli.common import fail
from iact_tui.engine.errors import ExitCode

DEMO_TICKER = "demo operator"
AUTO_TICK_NOTE = "ticked by the demo's --auto-tick (sandbox): nobody looked at this"
FAULT_ROLLBACK = ["migrate-back", "revert-code", "restore-db"]


FAULTS_EPILOG = """\b
Faults (--break):
  health      the release needs JWT_SECRET_KEY, missing from staging's .env:
              /api/health answers 503 after the restart
  migration   migration 0042 fails: OperationalError, relation does not exist
  connection  the SSH connection drops as `manage.py migrate` finishes
Each one fails the deploy, rolls it back (migrations, code, database backup)
and ends with the previous version answering on /api/health (exit 1)."""


@click.command("demo", epilog=FAULTS_EPILOG)
@click.option(
    "--headless", is_flag=True, help="No screen: one line per state change (CI, screenshots)."
)
@click.option(
    "--auto-tick",
    is_flag=True,
    help=f"Tick manual steps and notices as {DEMO_TICKER!r}, with a note saying so.",
)
@click.option(
    "--break",
    "faults",
    multiple=True,
    metavar="NAME",
    help="Make the deploy fail: health, migration or connection (repeatable).",
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False),
    envvar="IACT_RUNS_DIR",
    help="Where the demo's run is kept (default: $IACT_RUNS_DIR, else a demo-runs folder next to "
    "the real runs, so that demo runs never count in `iact-tui metrics`).",
)
@click.option("--keep", is_flag=True, help="Keep the sandbox folder afterwards, for inspection.")
@click.option(
    "--operator",
    metavar="NAME",
    help="Who runs it (default: $IACT_OPERATOR, git user.name, login).",
)
@click.option("-v", "--verbose", is_flag=True, help="Headless: print the steps' output too.")
def demo(
    headless: bool,
    auto_tick: bool,
    faults: tuple[str, ...],
    runs_dir: str | None,
    keep: bool,
    operator: str | None,
    verbose: bool,
) -> None:
    """Run the staging checklist against a built-in sandbox: no server, key or setting needed.

    An SSH server and the app start inside this process on 127.0.0.1 (throwaway keys; the host
    key is still verified); the staging host is a temporary folder with a real git repository
    and stand-ins for pg_dump, psql, systemctl, journalctl, manage.py, npm and pip. Everything
    is removed when the demo ends."""
    from iact_tui.demo import FAULTS

    names = [n.strip() for value in faults for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        fail(f"--break {unknown[0]}: no such fault; the demo knows {', '.join(FAULTS)}")
    sys.exit(
        run_demo(
            headless=headless,
            auto_tick=auto_tick,
            faults=names,
            runs_dir_value=runs_dir,
            keep=keep,
            operator=operator,
            verbose=verbose,
        )
    )


def run_demo(
    *,
    headless: bool,
    auto_tick: bool,
    faults: list[str],
    runs_dir_value: str | None,
    keep: bool,
    operator: str | None,
    verbose: bool,
) -> int:
    from iact_tui.cli.run import start
    from iact_tui.demo import BackgroundSandbox, SandboxError
    from iact_tui.demo.checklist import ChecklistNotFound, demo_checklist_path
    from iact_tui.engine.checklist.load import load_checklist
    from iact_tui.engine.checklist.problems import ChecklistError
    from iact_tui.engine.run.launch import default_operator

    try:
        checklist = demo_checklist_path()
        declared = set(load_checklist(checklist).checklist.vars)
    except (ChecklistNotFound, ChecklistError) as exc:
        click.echo(f"iact-tui: {exc}", err=True)
        return ExitCode.BAD_INPUT
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if headless and not auto_tick and not interactive:
        click.echo(
            "iact-tui: no terminal to ask on, so the demo ticks its manual steps itself (--auto-tick)",
            err=True,
        )
        auto_tick = True
    with _terminate_as_interrupt():
        try:
            with BackgroundSandbox(faults, keep=keep) as sandbox:
                # local steps (gh for the CI/CD alternative) find the sandbox's stand-ins first
                os.environ["PATH"] = f"{sandbox.local_bin}{os.pathsep}{os.environ.get('PATH', '')}"
                launch = demo_launch(
                    sandbox,
                    checklist=str(checklist),
                    declared=declared,
                    runs_dir=_demo_runs_dir(runs_dir_value),
                    operator=operator or default_operator(),
                    headless=headless,
                    auto_tick=auto_tick,
                    faults=faults,
                    verbose=verbose,
                )
                code = start(launch)
                click.echo(_final_health(sandbox.base_url))
                if keep:
                    click.echo(f"sandbox: kept in {sandbox.root}")
                return code
        except SandboxError as exc:
            click.echo(f"iact-tui: {exc}", err=True)
            return ExitCode.BAD_INPUT
        except KeyboardInterrupt:
            click.echo("iact-tui: demo interrupted; the sandbox was stopped and removed", err=True)
            return ExitCode.INTERRUPTED


def demo_launch(
    sandbox: Any,
    *,
    checklist: str,
    declared: set[str],
    runs_dir: Path,
    operator: str,
    headless: bool,
    auto_tick: bool,
    faults: list[str],
    verbose: bool = False,
) -> Any:
    """The Launch of a demo run: staging.toml with the sandbox's values, as `iact-tui run` gets it."""
    from iact_tui.engine.run.launch import Launch

    # four eyes: the approval is refused when the approver is the run's operator
    ticker = DEMO_TICKER if operator.strip().lower() != DEMO_TICKER else "demo tech lead"
    return Launch(
        runs_dir=runs_dir,
        checklist=checklist,
        overrides={k: v for k, v in sandbox.variables().items() if k in declared},
        choices=_preset_choices(headless=headless, auto_tick=auto_tick, faults=faults),
        operator=operator,
        on_failure="rollback",
        assume_yes=auto_tick,
        verbose=verbose,
        mode="headless" if headless else "demo",
        auto_tick=ticker if auto_tick else None,
        auto_tick_note=AUTO_TICK_NOTE,
        ssh_config=[],  # the operator's ~/.ssh/config has nothing to say about the sandbox
        known_hosts=str(sandbox.known_hosts),
        banner=sandbox.description(),
        resumable=False,  # the sandbox is removed when the demo ends
    )


def _preset_choices(*, headless: bool, auto_tick: bool, faults: list[str]) -> dict[str, list[str]]:
    """What nobody will be there to choose. A person at the TUI chooses for themselves."""
    choices: dict[str, list[str]] = {}
    if auto_tick:
        choices["deploy"] = ["manual"]  # the procedure's Opción B: every step runs on the sandbox
    if faults and (headless or auto_tick):
        # a fault shows the whole rollback: migrations back, code back, backup restored
        choices["rollback-execute"] = FAULT_ROLLBACK
    return choices


def _demo_runs_dir(value: str | None) -> Path:
    """--runs-dir or $IACT_RUNS_DIR when given; else a demo-runs folder next to the real runs,
    so that the demo's runs never count in `iact-tui metrics`."""
    from iact_tui.cli.common import runs_dir
    from iact_tui.engine.record.store import default_runs_dir

    ctx = click.get_current_context(silent=True)
    given = value or os.environ.get("IACT_RUNS_DIR")
    while ctx is not None and not given:
        given = (ctx.obj or {}).get("runs_dir") if isinstance(ctx.obj, dict) else None
        ctx = ctx.parent
    if given:
        return runs_dir(given)
    return default_runs_dir().parent / "demo-runs"


def _final_health(base_url: str) -> str:
    """What the sandbox app answers once the run is over (the rolled-back version, after a fault)."""
    import httpx

    try:
        response = httpx.get(f"{base_url}/api/health", timeout=5)
    except httpx.HTTPError as exc:
        return f"sandbox: /api/health did not answer ({type(exc).__name__})"
    try:
        body = json.dumps(response.json(), ensure_ascii=False)
    except ValueError:
        body = response.text.strip()[:200]
    return f"sandbox: /api/health now answers {response.status_code} {body}"


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the sandbox is still removed."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
