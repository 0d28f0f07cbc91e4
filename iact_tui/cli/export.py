"""`iact-tui export` and `iact-tui verify` (README "Signed reports", docs/export.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from iact_tui.cli.common import fail, runs_dir, runs_dir_option
from iact_tui.cli.completion import complete_run_ids
from iact_tui.engine.errors import ExitCode

FORMAT_CHOICES = ["toml", "md", "html"]


@click.command("export")
@click.argument("run", shell_complete=complete_run_ids)
@click.option(
    "--format",
    "formats",
    type=click.Choice(FORMAT_CHOICES),
    multiple=True,
    help="toml (the report as recorded), md (the checklist for a pull request), "
    "html (one printable file). May be given more than once. Default: toml.",
)
@click.option(
    "--sign",
    "sign",
    metavar="KEY",
    help="Sign with a private key file, or 'agent' / 'agent:SHA256:…' for a key in ssh-agent.",
)
@click.option(
    "--passphrase-env",
    metavar="NAME",
    help="Environment variable holding the key's passphrase (else it is asked on the terminal).",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False),
    help="Folder for a self-contained bundle (default: RUN_FOLDER/export).",
)
@runs_dir_option
def export(
    run: str,
    formats: tuple[str, ...],
    sign: str | None,
    passphrase_env: str | None,
    output: str | None,
    runs_dir: str | None,
) -> None:
    """Export RUN (an id, a run folder or its report.toml) with its logs, optionally signed."""
    from iact_tui.engine.record.store import ReportError, resolve_run
    from iact_tui.engine.report.bundle import ExportError, export_run

    chosen = list(dict.fromkeys(formats or ("toml",)))
    try:
        folder = resolve_run(run, runs_dir_path(runs_dir))
    except ReportError as exc:
        fail(str(exc))
    signer = None
    errors: tuple[type[Exception], ...] = (ExportError, ReportError)
    if sign:
        from iact_tui.engine.report.signing import (  # asyncssh: only to sign
            SigningError,
            make_signer,
        )

        errors += (SigningError,)
        if passphrase_env and passphrase_env not in os.environ:
            fail(f"--passphrase-env {passphrase_env}: that environment variable is not set")
        try:
            signer = make_signer(sign, lambda prompt: _passphrase(prompt, passphrase_env))
        except SigningError as exc:
            fail(str(exc))
    try:
        result = export_run(
            folder, out_dir=Path(output) if output else None, formats=chosen, signer=signer
        )
    except KeyboardInterrupt:
        fail("interrupted: the export folder may be incomplete; export again", ExitCode.INTERRUPTED)
    except errors as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the export: {exc.strerror or exc}")
    state = result.snapshot.state
    click.echo(f"exported run {state.run_id} ({state.status}) to {result.folder}")
    for path in result.files:
        click.echo(f"  {path}")
    click.echo(
        f"  {result.folder / 'checklist.toml'}, {result.logs} step log(s) in {result.folder / 'logs'}"
    )
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.signer is not None:
        key = result.signer
        click.echo(
            f"signed with {key.describe()} ({len(result.signatures)} signatures, namespace iact-tui-report)"
        )
        principal = key.comment if key.comment and " " not in key.comment else "SIGNER"
        click.echo("an auditor's allowed_signers line for this key:")
        click.echo(f"  {key.allowed_signers_line(principal)}")
        report = result.folder / "report.toml"
        click.echo("verify with:")
        click.echo(
            f"  ssh-keygen -Y verify -f allowed_signers -I {principal} -n iact-tui-report "
            f"-s {report}.sig < {report}"
        )
    else:
        click.echo(
            "not signed (sign with --sign KEY): `iact-tui verify` can check that it is consistent, "
            "not who made it, and will not call it verified"
        )
    sys.exit(ExitCode.OK)


def runs_dir_path(value: str | None) -> Path:
    return runs_dir(value)


def _passphrase(prompt: str, env_name: str | None) -> str | None:
    if env_name:
        return os.environ.get(env_name)
    if not sys.stdin.isatty():
        return None
    try:
        value: str = click.prompt(prompt, hide_input=True, err=True)
    except click.Abort:
        click.echo("", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    return value


@click.command("verify")
@click.argument("file")
@click.option(
    "--allowed-signers",
    "allowed_signers",
    type=click.Path(dir_okay=False),
    help="OpenSSH allowed_signers file: who may sign reports (see docs/export.md).",
)
@click.option(
    "--identity",
    "-I",
    "identity",
    metavar="ID",
    help="The signer the report must come from (a principal in allowed_signers).",
)
@click.option(
    "--approvers",
    "approvers",
    multiple=True,
    metavar="ROLE=FILE",
    help="Your own allowed_signers of a role's approvers (repeatable): each signed approval of "
    "that role must be by a key it names, besides the list the run pinned (docs/team.md).",
)
@runs_dir_option
def verify(
    file: str,
    allowed_signers: str | None,
    identity: str | None,
    approvers: tuple[str, ...],
    runs_dir: str | None,
) -> None:
    """Verify FILE (a report.toml, an export folder or a run): signatures, event chain, step logs.

    Exit 0 only when report.toml and every file beside it are covered by signatures made by keys
    that --allowed-signers lists for the iact-tui-report namespace; 1 otherwise (something does
    not match, a file no signature covers, an unsigned report, a signer not checked), each reason
    named; 2 when FILE or the allowed_signers file cannot be read."""
    from iact_tui.engine.formatting import utc_time
    from iact_tui.engine.record.store import ReportError, resolve_run
    from iact_tui.engine.report.verify import VerifyInputError
    from iact_tui.engine.report.verify import verify as verify_report

    if identity and not allowed_signers:
        fail("--identity needs --allowed-signers: the identity is looked up there")
    approvers_files: dict[str, Path] = {}
    for given in approvers:
        role, eq, path = given.partition("=")
        if not eq or not role.strip() or not path.strip():
            fail(
                f"--approvers takes ROLE=FILE (e.g. tech-lead=approvers/allowed_signers), not {given!r}"
            )
        if role.strip() in approvers_files:
            fail(f"--approvers names role '{role.strip()}' twice")
        approvers_files[role.strip()] = Path(path.strip())
    target = Path(file).expanduser()
    if not target.exists():
        try:
            target = resolve_run(file, runs_dir_path(runs_dir))
        except ReportError as exc:
            from iact_tui.engine.record.store import WILDCARDS

            fail(
                str(exc) if any(c in file for c in WILDCARDS) else f"no such file or folder: {file}"
            )
    try:
        result = verify_report(
            target,
            Path(allowed_signers) if allowed_signers else None,
            identity,
            approvers_files,
        )
    except KeyboardInterrupt:
        fail("interrupted before the verification finished", ExitCode.INTERRUPTED)
    except VerifyInputError as exc:
        fail(str(exc))

    click.echo(f"verifying {result.report}")
    for ok, text in result.lines():
        click.echo(f"  {'note' if ok is None else 'ok  ' if ok else 'FAIL'}  {text}")

    state = result.state
    if state is not None:
        finished = f", finished {utc_time(state.finished_at)}" if state.finished_at else ""
        click.echo(f"{result.run_line()}, started {utc_time(state.started_at)}{finished}")
    sig = result.report_signature
    if sig is not None and sig.ok and sig.key is not None:
        who = sig.principal if sig.trusted else "an unchecked signer"
        click.echo(f"signed by {who} with {sig.key.describe()}.")
        exported = (result.manifest or {}).get("export", {})
        claim = ""
        if exported.get("exported_at"):
            claim = f" The export says it was made at {utc_time(exported['exported_at'])} by {exported.get('exported_by', 'unknown')} (the signer's claim, not proven)."
        click.echo(
            "What this proves: the holder of that key signed these exact bytes. An SSH signature carries "
            "no time, and file times can be set at will, so when it was signed is not proven."
            + claim
        )
        if not sig.trusted:
            click.echo(
                "The signature was not checked against trusted signers: give --allowed-signers to do so."
            )
    verdict = result.verdict()
    click.echo(verdict.line() + (":" if verdict.problems else ""))
    for problem in verdict.problems:
        click.echo(f"  - {problem}")
    sys.exit(ExitCode.OK if verdict.ok else ExitCode.FAILED)
