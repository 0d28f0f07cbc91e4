"""`iact-tui tick RUN STEP`: a person's answer to a step, from any terminal.

When another process drives the run, the tick goes through the run's inbox and that process
records it (and says whether it was accepted); otherwise it is recorded here directly.
"""

from __future__ import annotations

import sys

import click

from iact_tui.cli.common import runs_dir, runs_dir_option
from iact_tui.cli.completion import complete_run_ids, complete_step_ids
from iact_tui.engine.errors import ExitCode


@click.command("tick")
@click.argument("run_ref", metavar="RUN", shell_complete=complete_run_ids)
@click.argument("step", shell_complete=complete_step_ids)
@click.option("--fail", "failed", is_flag=True, help="The check failed.")
@click.option("--skip", is_flag=True, help="Skip the step (needs --reason).")
@click.option("--reason", help="Why it is skipped.")
@click.option("--note", help="A note or an evidence link.")
@click.option(
    "--as", "as_", metavar="NAME", help="Who ticks (default: $IACT_OPERATOR, git user.name, login)."
)
@click.option(
    "--ahead",
    is_flag=True,
    help="Answer a step the run has not reached yet; used when it gets there (never a rollback "
    "step before a rollback has started).",
)
@click.option(
    "--sign",
    metavar="KEY|agent",
    help="Sign the answer with this SSH private key file, or the key in ssh-agent (agent, "
    "agent:FINGERPRINT): a role whose approvers the checklist lists takes only signed answers.",
)
@click.option(
    "--passphrase-env",
    metavar="NAME",
    help="With --sign KEY: the environment variable holding the key's passphrase.",
)
@runs_dir_option
def tick(
    run_ref: str,
    step: str,
    failed: bool,
    skip: bool,
    reason: str | None,
    note: str | None,
    as_: str | None,
    ahead: bool,
    sign: str | None,
    passphrase_env: str | None,
    runs_dir: str | None,
) -> None:
    """Tick STEP of RUN as passed (default), --fail, or --skip --reason TEXT.

    Only a step that waits for a person now takes a tick; --ahead answers a later one. With --sign,
    the answer is signed (SSHSIG, namespace iact-tui-approval) and the signer is who answered."""
    from iact_tui.engine.record.answer import Outcome, answer_step
    from iact_tui.engine.record.identity import name_problem, text_problem
    from iact_tui.engine.record.store import ReportError, resolve_run
    from iact_tui.engine.record.ticks import Tick
    from iact_tui.engine.report.approvals import check_tick_signature
    from iact_tui.engine.run.launch import default_operator
    from iact_tui.engine.run.runner import process_alive_here

    if failed and skip:
        _bad("--fail and --skip exclude each other")
    if skip and not (reason or "").strip():
        _bad("--skip needs --reason TEXT")
    action = "skip" if skip else "fail" if failed else "pass"
    by = as_ or default_operator()
    # refused before anything is sent: no record, file or inbox takes text that is not UTF-8,
    # and a name with control characters reads as another name on a terminal
    for problem in (
        text_problem("RUN", run_ref),
        text_problem("STEP", step),
        name_problem("--as" if as_ else "the operator name", by),
        text_problem("--note", note or ""),
        text_problem("--reason", reason or ""),
    ):
        if problem:
            _bad(problem)
    try:
        folder = resolve_run(run_ref, _dir(runs_dir))
    except ReportError as exc:
        _bad(str(exc))
    signed = (
        _signed(folder, step, action, note or "", reason or "", sign, passphrase_env)
        if sign
        else {}
    )
    the_tick = Tick(step, action, by, note=note or "", reason=reason or "", ahead=ahead, **signed)
    # through the run's inbox when another process drives it, else recorded here (answer.py)
    answer = answer_step(folder, the_tick, check_tick_signature, process_alive=process_alive_here)
    if answer.ok:
        click.echo(answer.message)
        if answer.then:
            click.echo(answer.then)
        sys.exit(0)
    click.echo(f"iact-tui: {answer.message}", err=True)
    sys.exit(ExitCode.FAILED if answer.outcome == Outcome.UNANSWERED else ExitCode.BAD_INPUT)


def _signed(
    folder,
    step: str,
    action: str,
    note: str,
    reason: str,
    spec: str,  # type: ignore[no-untyped-def]
    passphrase_env: str | None,
) -> dict[str, str]:
    """The signature over this answer, made now with the person's key (read-only: no lock)."""
    import os

    from iact_tui.engine.record.state import reduce
    from iact_tui.engine.record.store import ReportError, read_records
    from iact_tui.engine.report.approvals import ApprovalError, payload_for, sign_payload

    if passphrase_env and passphrase_env not in os.environ:
        _bad(f"--passphrase-env {passphrase_env}: that environment variable is not set")
    try:
        state = reduce(read_records(folder))
    except ReportError as exc:
        _bad(str(exc))
    try:
        made = sign_payload(
            spec,
            payload_for(state, step, action, note, reason),
            lambda prompt: _passphrase(prompt, passphrase_env),
        )
    except ApprovalError as exc:
        _bad(f"cannot sign: {exc}")
    return {"signature": made.signature, "chain_head": state.last_hash}


def _passphrase(prompt: str, env_name: str | None) -> str | None:
    import getpass
    import os

    if env_name:
        return os.environ.get(env_name)
    if not sys.stdin.isatty():
        return None
    return getpass.getpass(f"{prompt}: ")


def _dir(value: str | None):  # type: ignore[no-untyped-def]
    return runs_dir(value)


def _bad(message: str) -> None:
    click.echo(f"iact-tui: {message}", err=True)
    sys.exit(ExitCode.BAD_INPUT)
