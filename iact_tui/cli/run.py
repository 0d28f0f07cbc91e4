"""`iact-tui run` and `iact-tui resume`: the TUI by default, `--headless` for CI and scripts."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from iact_tui.cli.common import fail, runs_dir, runs_dir_option
from iact_tui.cli.completion import complete_run_ids, complete_step_ids
from iact_tui.engine.errors import ExitCode
from iact_tui.engine.run.launch import Launch, spec_for
from iact_tui.engine.run.terminal import detach_hung_up_terminal, terminal_fds
from iact_tui.engine.status import RunStatus

if TYPE_CHECKING:
    from iact_tui.engine.run.runner import Runner


def common_options(f: Any) -> Any:
    options = [
        click.option(
            "--var", "vars_", multiple=True, metavar="K=V", help="Set a variable (repeatable)."
        ),
        click.option(
            "--vars",
            "vars_file",
            type=click.Path(dir_okay=False),
            metavar="FILE",
            help='Variable values from a TOML file: one table, NAME = "value"; a secret only as '
            'NAME = { env = "ENV_VAR" }. --var wins over it.',
        ),
        runs_dir_option,
        click.option("--headless", is_flag=True, help="No screen: one line per state change (CI)."),
        click.option(
            "--operator",
            metavar="NAME",
            help="Who runs it (default: $IACT_OPERATOR, git user.name, login).",
        ),
        click.option(
            "--on-failure",
            type=click.Choice(["stop", "rollback", "ask"]),
            default=None,
            help="Headless: what a failed step does (ask: on the terminal). Default: stop; "
            "remembered for every later resume of the run.",
        ),
        click.option(
            "--choose",
            multiple=True,
            metavar="PHASE=ALT",
            help="Pick a phase's alternative(s) (repeatable).",
        ),
        click.option(
            "--yes", "assume_yes", is_flag=True, help="Headless: answer yes to confirmations."
        ),
        click.option(
            "--wait",
            is_flag=True,
            help="Headless: at a step that waits for a person, print what it asks and the tick "
            "command, and go on as soon as it is ticked (instead of pausing, exit 3).",
        ),
        click.option(
            "-v", "--verbose", is_flag=True, help="Headless: print the steps' output too."
        ),
        click.option(
            "--ssh-config",
            type=click.Path(dir_okay=False),
            multiple=True,
            help="OpenSSH client config to use instead of ~/.ssh/config.",
        ),
        click.option(
            "--known-hosts",
            type=click.Path(dir_okay=False),
            help="known_hosts file (default ~/.ssh/known_hosts).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command("run")
@click.argument("checklist", type=click.Path(dir_okay=False))
@common_options
@click.option(
    "--dry-run", is_flag=True, help="Execute nothing; print every resolved command and request."
)
def run(checklist: str, dry_run: bool, **common: Any) -> None:
    """Start a run of CHECKLIST."""
    launch = _launch(common, checklist=checklist)
    if dry_run:
        sys.exit(dry_run_checklist(launch))
    sys.exit(start(launch))


@click.command("resume")
@click.argument("run_ref", metavar="[RUN]", required=False, shell_complete=complete_run_ids)
@common_options
@click.option(
    "--rerun",
    multiple=True,
    metavar="STEP",
    shell_complete=complete_step_ids,
    help="Re-run this interrupted step (repeatable).",
)
@click.option(
    "--wait-running",
    multiple=True,
    metavar="STEP",
    shell_complete=complete_step_ids,
    help="This interrupted step's process still runs: wait for it to end (repeatable).",
)
@click.option(
    "--stop-running",
    multiple=True,
    metavar="STEP",
    shell_complete=complete_step_ids,
    help="This interrupted step's process still runs: stop it (repeatable).",
)
@click.option("--rollback", is_flag=True, help="Start the rollback now.")
@click.option(
    "--reason",
    "rollback_reason",
    metavar="TEXT",
    default="",
    help="With --rollback: why (recorded, and sent in the rollback notice).",
)
@click.option(
    "--checklist-changed",
    type=click.Choice(["use-new", "keep-pinned"]),
    help="If the checklist changed since the run started: which version to run.",
)
def resume(
    run_ref: str | None,
    rerun: tuple[str, ...],
    rollback: bool,
    rollback_reason: str,
    checklist_changed: str | None,
    wait_running: tuple[str, ...] = (),
    stop_running: tuple[str, ...] = (),
    **common: Any,
) -> None:
    """Resume RUN (an id, its folder or its report); default: the latest unfinished run."""
    if rollback_reason.strip() and not rollback:
        fail("--reason goes with --rollback (the reason for starting the rollback)")
    launch = _launch(
        common,
        run_ref=run_ref,
        rerun=rerun,
        rollback=rollback,
        rollback_reason=rollback_reason,
        checklist_changed=checklist_changed,
        wait_running=wait_running,
        stop_running=stop_running,
    )
    sys.exit(start(launch))


def _launch(common: dict[str, Any], **specific: Any) -> Launch:
    """A Launch from the options `run` and `resume` share; bad --var/--choose exit 2."""
    from iact_tui.engine.run.launch import BadInput, parse_choices, parse_vars

    try:
        return Launch(
            runs_dir=_runs_dir(common["runs_dir"]),
            overrides=parse_vars(common["vars_"]),
            choices=parse_choices(common["choose"]),
            operator=common["operator"],
            on_failure=common["on_failure"],
            assume_yes=common["assume_yes"],
            wait=common["wait"],
            verbose=common["verbose"],
            mode="headless" if common["headless"] else "tui",
            ssh_config=list(common["ssh_config"]) or None,
            known_hosts=common["known_hosts"],
            vars_file=common.get("vars_file"),
            **specific,
        )
    except BadInput as exc:
        fail(str(exc))


def _runs_dir(value: str | None) -> Path:
    return runs_dir(value)


def start(launch: Launch) -> int:
    """Run or resume in the chosen front end; returns the exit code."""
    if launch.mode != "headless":
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            click.echo(
                "iact-tui: no terminal for the TUI; running headless (use --headless to say so)",
                err=True,
            )
            launch.mode = "headless"
        else:
            from iact_tui.tui.main import run_tui

            return int(run_tui(launch))
    return run_headless(launch)


def run_headless(launch: Launch, out: Any = None) -> int:
    from iact_tui.engine.record.store import ReportError, resolve_run
    from iact_tui.engine.run.launch import (
        BadInput,
        NeedsPerson,
        latest_unfinished,
        new_session,
        resume_session,
    )
    from iact_tui.headless.operator import HeadlessOperator, Terminal, ask_value_on_terminal
    from iact_tui.headless.printer import Printer

    out = out or sys.stdout
    spec = spec_for(launch)
    interactive = Terminal.available()
    terminal = Terminal(out) if interactive else None
    operator = HeadlessOperator(
        spec.operator,
        on_failure=launch.on_failure or "stop",
        terminal=terminal,
        assume_yes=launch.assume_yes,
        auto_tick=launch.auto_tick,
        auto_tick_note=launch.auto_tick_note,
        wait=launch.wait,
        out=out,
    )
    printer = Printer(out, verbose=launch.verbose)
    ask = ask_value_on_terminal(out) if interactive else None
    if launch.banner:
        out.write(launch.banner.rstrip() + "\n")
    try:
        if launch.checklist is not None:
            runner = new_session(
                launch.checklist, spec, operator, printer, ask, prompt_all=interactive
            )
            resumed = False
        else:
            folder = (
                resolve_run(launch.run_ref, launch.runs_dir)
                if launch.run_ref
                else latest_unfinished(launch.runs_dir)
            )
            runner = resume_session(folder, spec, operator, printer, ask, None)
            resumed = True
    except (BadInput, ReportError) as exc:
        click.echo(f"iact-tui: {exc}", err=True)
        return ExitCode.BAD_INPUT
    except NeedsPerson as exc:
        click.echo(f"iact-tui: {exc}", err=True)
        return ExitCode.PAUSED
    # --on-failure given now wins (and is recorded); else what the run was started or last resumed with
    operator.on_failure = launch.on_failure or runner.state.on_failure or "stop"
    operator.run_id = runner.run_id  # (--wait prints the exact tick command)
    operator.folder = str(runner.store.folder)
    operator.approver_keys = runner.state.info.get("approver_keys")
    operator.write = printer.write
    printer.tick_for = lambda step_id: _tick_for(runner, step_id)
    return _drive(runner, resumed, launch.resumable, printer)


INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _tick_for(runner: Runner, step_id: str) -> str:
    """The tick command for a step that waits for a person, as ``show`` and ``--wait`` print it
    (``--sign KEY|agent`` for a role that takes signed answers)."""
    from iact_tui.engine.record.asks import awaited, tick_command

    try:
        step = runner.checklist.step(step_id)
    except KeyError:
        return tick_command(runner.run_id, step_id, runner.store.folder)
    approver_keys = runner.state.info.get("approver_keys")
    return awaited(step, runner.run_id, approver_keys, folder=runner.store.folder).command


def _drive(runner: Runner, resumed: bool, resumable: bool = True, printer: Any = None) -> int:
    from iact_tui.engine.formatting import printable
    from iact_tui.engine.record.asks import resume_command

    output_closed = False

    async def main() -> str:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None
        ttys = terminal_fds()

        def interrupt(sig: signal.Signals) -> None:
            if sig == signal.SIGHUP:
                detach_hung_up_terminal(ttys)
            if not task.cancelling():  # once: a second signal must not cut the stop short
                task.cancel()

        def closed() -> None:
            # nobody reads the output any more (`| head`, a closed pipe): the questions and the
            # tick commands would go nowhere, so the run stops as on a dropped terminal
            nonlocal output_closed
            output_closed = True
            _silence_stdout()
            if not task.cancelling():
                loop.call_soon_threadsafe(task.cancel)

        if printer is not None:
            printer.on_closed = closed
            if printer.closed:  # closed before the run began
                closed()
        # Ctrl-C, a kill, a dropped terminal or SSH session: the running command is stopped
        # (locally and on the host), the step recorded interrupted, the run paused
        for sig in INTERRUPT_SIGNALS:
            loop.add_signal_handler(sig, interrupt, sig)
        try:
            return str(await runner.run(resumed=resumed))
        finally:
            for sig in INTERRUPT_SIGNALS:
                loop.remove_signal_handler(sig)

    resume = printable(resume_command(runner.run_id, runner.store.folder))
    try:
        status = asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        hint = f"; resume with: {resume}" if resumable else ""
        why = (
            "standard output was closed (nobody reads it), so the run was interrupted"
            if output_closed
            else "interrupted"
        )
        click.echo(f"iact-tui: {why}{hint}", err=True)
        return ExitCode.INTERRUPTED
    finally:
        runner.store.lock.release()
    if status == RunStatus.PAUSED and resumable:
        click.echo(f"iact-tui: paused; continue with: {resume}", err=True)
    return ExitCode.of_run(status)


def _silence_stdout() -> None:
    """Point the closed standard output at /dev/null, so that nothing written later (Python's own
    flush at exit) fails again."""
    import contextlib
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def dry_run_checklist(launch: Launch) -> int:
    from iact_tui.engine.checklist.load import load_checklist
    from iact_tui.engine.checklist.problems import ChecklistError
    from iact_tui.engine.checklist.values import Values
    from iact_tui.engine.run.dry_run import dry_run_lines
    from iact_tui.engine.run.launch import BadInput, _check_names, hosts_over, with_vars_file

    spec = spec_for(launch)
    try:
        loaded = load_checklist(launch.checklist or "")
        spec, vars_file = with_vars_file(loaded, spec)
        loaded = hosts_over(loaded, vars_file)  # the environment's hosts: a group, host by host
        _check_names(loaded, spec)
    except ChecklistError as exc:
        fail(str(exc))
    except BadInput as exc:
        fail(str(exc))
    builtins = {
        "operator": spec.operator,
        "checklist_id": loaded.checklist.checklist.id,
        "checklist_version": loaded.checklist.checklist.version,
        "run_id": "<run_id>",
    }
    values = Values.resolve(loaded.checklist, spec.overrides, builtins=builtins)
    from iact_tui.engine.checklist.values import injection_problems

    refused = injection_problems(values)
    if refused:
        fail(refused[0])
    from iact_tui.engine.checklist.values import unsafe_values

    unsafe = unsafe_values(values)  # what `run` would refuse at start
    if unsafe:
        fail(unsafe[0])
    for line in dry_run_lines(loaded, values):
        click.echo(line)
    from iact_tui.engine.checklist.needed import unneeded_vars

    unneeded = unneeded_vars(loaded.checklist, values.values)  # only for steps that do not apply
    missing = [n for n in values.missing() if n not in _captured(loaded) and n not in unneeded]
    if missing:
        click.echo(f"values still needed at run time: {', '.join(missing)}")
    return 0


def _captured(loaded: Any) -> set[str]:
    from iact_tui.engine.run.launch import captured_names

    return captured_names(loaded)


def open_start_screen(runs_dir_value: str | None) -> int:
    from iact_tui.tui.main import run_start_screen

    return int(run_start_screen(runs_dir(runs_dir_value)))
