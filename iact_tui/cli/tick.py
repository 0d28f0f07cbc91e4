"""`iact-tui tick RUN STEP`: a person's answer to a step, from any terminal.

When another process drives the run, the tick goes through the run's inbox and that process
records it (and says whether it was accepted); otherwise it is recorded here directly.
"""

from __future__ import annotations

import sys
import time

import click

from iact_tui.cli.common import runs_dir, runs_dir_option
from iact_tui.cli.completion import complete_run_ids, complete_step_ids
from iact_tui.engine.errors import ExitCode
from iact_tui.engine.status import RunStatus

ANSWER_WAIT = 15.0  # seconds a live run gets to answer
POLL = 0.1


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
    from iact_tui.engine.checklist.load import parse_checklist
    from iact_tui.engine.checklist.problems import ChecklistError
    from iact_tui.engine.record.store import (
        PINNED,
        ReportError,
        RunLock,
        RunLocked,
        RunStore,
        resolve_run,
    )
    from iact_tui.engine.record.ticks import (
        Tick,
        TickRefused,
        describe,
        post_request,
        read_result,
        record_tick,
    )
    from iact_tui.engine.report.approvals import check_tick_signature
    from iact_tui.engine.run.launch import default_operator

    if failed and skip:
        _bad("--fail and --skip exclude each other")
    if skip and not (reason or "").strip():
        _bad("--skip needs --reason TEXT")
    action = "skip" if skip else "fail" if failed else "pass"
    by = as_ or default_operator()
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
    try:
        try:
            store = RunStore.open(folder)
        except ReportError:
            if not RunLock.is_held(folder):
                raise
            # the lock belongs to another user (a group-shared runs folder): the run is driven
            raise RunLocked(str(folder)) from None
    except RunLocked:
        try:
            rid = post_request(folder / "inbox", the_tick)
        except OSError as exc:
            _bad(
                f"cannot leave the tick in the run's inbox {folder / 'inbox'}: {exc.strerror or exc}"
            )
        deadline = time.monotonic() + ANSWER_WAIT
        while time.monotonic() < deadline:
            result = read_result(folder / "inbox", rid)
            if result is not None:
                if result["ok"]:
                    click.echo(result["message"])
                    sys.exit(0)
                click.echo(f"iact-tui: refused: {result['message']}", err=True)
                sys.exit(ExitCode.BAD_INPUT)
            time.sleep(POLL)
        click.echo(
            "iact-tui: the process driving the run did not answer within "
            f"{ANSWER_WAIT:g} s; the tick is left in its inbox and will be taken when it looks",
            err=True,
        )
        sys.exit(ExitCode.FAILED)
    except ReportError as exc:
        _bad(str(exc))
    try:
        try:
            checklist = parse_checklist(
                (folder / PINNED).read_bytes(), str(folder / PINNED), pinned=True
            ).checklist
        except (OSError, ChecklistError) as exc:
            _bad(f"the run's pinned checklist cannot be read: {exc}")
        try:
            rec = record_tick(store, checklist, the_tick, check_tick_signature)
        except TickRefused as exc:
            click.echo(f"iact-tui: refused: {exc}", err=True)
            sys.exit(ExitCode.BAD_INPUT)
        click.echo(describe(store, the_tick, rec))
        if store.state.status in (RunStatus.PAUSED, RunStatus.FAILED, RunStatus.RUNNING):
            click.echo(f"continue with: iact-tui resume {store.state.run_id}")
    finally:
        store.close()


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
