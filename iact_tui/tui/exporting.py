"""Export and verify for the TUI, on top of the engine's export and verify (no widgets here).

Both run in a thread worker: signing through ssh-agent runs an event loop of its own, and
re-hashing every log of a long run must not hold the screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iact_tui.engine.report.layout import NAMESPACE, SIG_SUFFIX

FORMAT_CHOICES = (
    ("toml", "report.toml: the record, as recorded"),
    ("md", "report.md: the checklist for a pull request or ticket"),
    ("html", "report.html: one printable file"),
)


@dataclass
class ExportRequest:
    run_folder: Path
    formats: list[str] = field(default_factory=lambda: ["toml"])
    key: str = ""  # a private key file, "agent" or "agent:FINGERPRINT"; empty: not signed
    passphrase: str = ""  # for an encrypted key file; never stored
    out_dir: str = ""  # empty: RUN_FOLDER/export

    @property
    def target(self) -> Path:
        return Path(self.out_dir).expanduser() if self.out_dir else self.run_folder / "export"


@dataclass
class ExportOutcome:
    """What a person needs after an export: where it is, what was signed, how to verify."""

    folder: Path
    files: list[Path]
    logs: int
    notes: list[str]
    signed_with: str = ""
    allowed_signers_line: str = ""
    verify_command: str = ""

    def lines(self) -> list[str]:
        out = [f"Exported to {self.folder}"]
        out += [f"  {path.name}" for path in self.files]
        out.append(f"  checklist.toml and {self.logs} step log(s) in logs/")
        out += [f"Note: {note}" for note in self.notes]
        if self.signed_with:
            out.append(f"Signed with {self.signed_with} (namespace {NAMESPACE}).")
            out.append("An auditor's allowed_signers line for this key:")
            out.append(f"  {self.allowed_signers_line}")
            out.append("Anyone verifies it with OpenSSH alone:")
            out.append(f"  {self.verify_command}")
        else:
            out.append(
                "Not signed: verify can check that it is consistent, not who made it. "
                "Give a key (or agent) to sign it."
            )
        return out


def run_export(request: ExportRequest) -> ExportOutcome:
    """Export (and sign) a run. Raises ExportError, ReportError, SigningError or OSError with a
    sentence a person understands."""
    from iact_tui.engine.report.bundle import export_run

    signer: Any = None
    if request.key.strip():
        from iact_tui.engine.report.signing import (  # asyncssh: only to sign
            SigningError,
            make_signer,
        )

        def passphrase(_prompt: str) -> str | None:
            return request.passphrase or None

        try:
            signer = make_signer(request.key.strip(), passphrase)
        except SigningError as exc:
            if "passphrase" in str(exc) and not request.passphrase:
                raise SigningError(
                    f"{request.key} is protected by a passphrase: type it in the passphrase field"
                ) from None
            raise
    out_dir = Path(request.out_dir).expanduser() if request.out_dir else None
    result = export_run(
        request.run_folder, out_dir=out_dir, formats=request.formats or ["toml"], signer=signer
    )
    outcome = ExportOutcome(result.folder, list(result.files), result.logs, list(result.notes))
    if result.signer is not None:
        key = result.signer
        principal = key.comment if key.comment and " " not in key.comment else "SIGNER"
        report = result.folder / "report.toml"
        outcome.signed_with = key.describe()
        outcome.allowed_signers_line = key.allowed_signers_line(principal)
        outcome.verify_command = (
            f"ssh-keygen -Y verify -f allowed_signers -I {principal} -n {NAMESPACE} "
            f"-s {report}{SIG_SUFFIX} < {report}"
        )
    return outcome


def export_errors() -> tuple[type[Exception], ...]:
    from iact_tui.engine.record.store import ReportError
    from iact_tui.engine.report.bundle import ExportError

    errors: tuple[type[Exception], ...] = (ExportError, ReportError, OSError)
    try:
        from iact_tui.engine.report.signing import SigningError
    except ImportError:  # pragma: no cover - asyncssh is a dependency
        return errors
    return (*errors, SigningError)


@dataclass
class VerifyOutcome:
    ok: bool
    lines: list[tuple[bool | None, str]]  # (ok, text); None: a note
    verdict: str


def run_verify(target: str, allowed_signers: str = "", identity: str = "") -> VerifyOutcome:
    """Verify a report file, an export folder or a run folder, the way `iact-tui verify` does.
    Raises VerifyInputError for something that cannot be verified at all."""
    from iact_tui.engine.report.verify import VerifyInputError, verify

    if identity and not allowed_signers:
        raise VerifyInputError("an identity is looked up in an allowed_signers file: give one too")
    result = verify(
        Path(target).expanduser(),
        Path(allowed_signers).expanduser() if allowed_signers else None,
        identity or None,
    )
    lines = result.lines()
    if result.run_line():
        lines.append((None, result.run_line()))
    verdict = result.verdict().sentence()
    return VerifyOutcome(result.ok, lines, verdict)
