"""Export a run as a self-contained bundle, optionally signed.

The bundle (``RUN_FOLDER/export/`` by default, or any folder given)::

    report.toml          the run report as recorded: [run], [[steps]] and the hash-chained [[events]]
    report.toml.sig      its SSHSIG signature (namespace iact-tui-report), when signed
    checklist.toml       the checklist as pinned when the run started (its sha256 is in the report)
    logs/<step>.log      every step log the report references (their sha256 are in the events)
    logs/<step>@<host>.log  each host's log of a step on a host group (sha256 in [[host_steps]])
    report.md, .html     the human checklist, when asked for (each with its .sig when signed)
    export.toml          who exported it, when, and the sha256 of each file above and of any step
                         log still being written (signed too)

``verify`` on that folder needs nothing else. Before anything is written or signed, the run's
record is checked the way ``verify`` checks it (event chain, tables, logs, pinned checklist):
iact-tui never signs a record that does not verify.

Signing with ssh-agent runs an event loop of its own: an async caller (the TUI) calls
``export_run`` from a worker thread.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from iact_tui import __version__
from iact_tui.engine.checklist.outline import read_outline
from iact_tui.engine.errors import IactError
from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.record.store import (
    JOURNAL,
    PINNED,
    REPORT,
    SCHEMA_VERSION,
    ReportError,
    RunLock,
    build_report,
    check_chain,
    now,
    read_records,
)
from iact_tui.engine.report.consistency import compare_report, pinned_checklist_problem
from iact_tui.engine.report.document import RenderInput, build_document
from iact_tui.engine.report.html import render_html
from iact_tui.engine.report.layout import (
    BUNDLE_FILES,
    EXPORT_DIR,
    FORMAT_FILES,
    FORMATS,
    LOGS,
    MANIFEST,
    NAMESPACE,
    NOT_FINAL,
    SIG_SUFFIX,
    is_inside,
    toml_loads,
)
from iact_tui.engine.report.markdown import render_markdown
from iact_tui.engine.status import FINAL_RUN_STATES, StepStatus

if TYPE_CHECKING:
    from iact_tui.engine.report.signing import KeyInfo, Signer


class ExportError(IactError):
    """The export cannot be made; the message says why in one sentence."""


@dataclass
class RunSnapshot:
    """A run as it is on disk now: its records, state and the report to ship."""

    folder: Path
    records: list[dict[str, Any]]
    state: RunState
    report_bytes: bytes
    report_complete: bool  # report.toml holds every record (nothing pending in the journal)
    report_data: dict[str, Any] | None  # the parsed report.toml, when complete
    in_use: bool

    @property
    def finished(self) -> bool:
        return self.state.status in FINAL_RUN_STATES


def snapshot_run(folder: Path) -> RunSnapshot:
    """Read a run folder once. Raises ReportError when it is damaged."""
    folder = Path(folder)
    in_use = RunLock.is_held(folder)
    report = folder / REPORT
    journal = folder / JOURNAL
    journal_pending = journal.exists() and journal.stat().st_size > 0
    data: dict[str, Any] | None = None
    raw = b""
    if report.exists():
        raw = report.read_bytes()
        try:
            data = toml_loads(raw.decode("utf-8"))
        except ValueError as exc:  # TOMLDecodeError, UnicodeDecodeError
            raise ReportError(f"{report} cannot be read: {exc}") from None
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ReportError(
                f"{report} has schema_version {data.get('schema_version')!r}; this iact-tui reads {SCHEMA_VERSION}"
            )
    if journal_pending or data is None:
        records = read_records(folder)  # merges the journal; checks the chain
    else:
        records = data.get("events", [])
        if (
            not isinstance(records, list)
            or not records
            or not all(isinstance(r, dict) for r in records)
        ):
            raise ReportError(f"{report} holds no [[events]]: it is not a run report")
        problems = check_chain(records)
        if problems:
            raise ReportError(f"{folder}: the report is damaged: {problems[0]}")
    try:
        state = reduce(records)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportError(
            f"{folder}: the report's events cannot be replayed ({type(exc).__name__}: {exc})"
        ) from None
    complete = data is not None and len(data.get("events", [])) == len(records)
    if not complete:
        raw = tomli_w.dumps(build_report(records, state), multiline_strings=False).encode()
    return RunSnapshot(folder, records, state, raw, complete, data if complete else None, in_use)


@dataclass
class ExportResult:
    folder: Path  # where the bundle is
    snapshot: RunSnapshot
    files: list[Path] = field(default_factory=list)  # exported documents (report.toml, .md, .html)
    signatures: list[Path] = field(default_factory=list)
    logs: int = 0
    signer: KeyInfo | None = None
    notes: list[str] = field(default_factory=list)


def exporter_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def export_run(
    folder: Path,
    *,
    out_dir: Path | None = None,
    formats: Sequence[str] = ("toml",),
    signer: Signer | None = None,
    exported_by: str | None = None,
) -> ExportResult:
    """Write the bundle of the run in ``folder``. Raises ExportError or ReportError."""
    folder = Path(folder)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown format '{unknown[0]}'; the formats are {', '.join(FORMATS)}")
    snap = snapshot_run(folder)
    state = snap.state
    # never export (let alone sign) a record that does not verify
    if snap.report_data is not None:
        problems = compare_report(snap.report_data, snap.records)
        if problems:
            raise ExportError(
                f"the run's report does not agree with its own events: {problems[0]}; it was edited"
            )
    checklist_problem = pinned_checklist_problem(folder, state)
    if checklist_problem:
        raise ExportError(checklist_problem)

    logs = _logs_to_copy(folder, state)  # checked before anything is written
    exported_at = now()
    exported_by = exported_by or exporter_name()
    target = Path(out_dir) if out_dir is not None else folder / EXPORT_DIR
    _prepare(target, folder, default=out_dir is None)
    result = ExportResult(target, snap)
    (target / REPORT).write_bytes(snap.report_bytes)
    result.files.append(target / REPORT)
    pinned = folder / PINNED
    checklist_bytes = pinned.read_bytes() if pinned.exists() else None
    if checklist_bytes is not None:
        (target / PINNED).write_bytes(checklist_bytes)
    result.logs = _copy_logs(folder, target, logs)

    render_needed = [f for f in formats if f in ("md", "html")]
    if render_needed:
        outline = read_outline(checklist_bytes) if checklist_bytes is not None else None
        if outline is None:
            result.notes.append(
                "the pinned checklist cannot be read: phase and summary titles are left out"
            )
        doc = build_document(
            RenderInput(
                state=state,
                outline=outline,
                exported_at=exported_at,
                exported_by=exported_by,
                in_use=snap.in_use,
                secret_captures=_secret_captures_by_step(snap.records),
            )
        )
        for fmt in render_needed:
            text = render_markdown(doc) if fmt == "md" else render_html(doc)
            path = target / FORMAT_FILES[fmt]
            path.write_text(text, encoding="utf-8")
            result.files.append(path)

    if not snap.finished:
        result.notes.append(
            f"run {state.run_id} is not finished (status {state.status}"
            + (", in use by another process" if snap.in_use else "")
            + "): the export is a snapshot and says so"
        )
    if not snap.report_complete:
        result.notes.append("records not yet compacted into the run's report.toml are included")

    manifest = target / MANIFEST
    manifest.write_bytes(
        tomli_w.dumps(
            _manifest(result, checklist_bytes, signer, exported_at, exported_by, logs)
        ).encode()
    )
    if signer is not None:
        from iact_tui.engine.report.signing import sign_files

        result.signatures = sign_files(signer, [*result.files, manifest])
        result.signer = signer.key
    return result


def _prepare(target: Path, run_folder: Path, *, default: bool) -> None:
    try:
        same = target.resolve() == run_folder.resolve()
    except OSError:
        same = False
    if same:
        raise ExportError(
            "the export folder cannot be the run folder itself; choose another with -o"
        )
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        if not default and not (target / MANIFEST).exists():
            raise ExportError(
                f"{target} is not empty and holds no earlier export; choose an empty or new folder"
            )
        # an earlier export: replace its files, so that no stale signature survives
        for name in BUNDLE_FILES:
            for path in (target / name, target / (name + SIG_SUFFIX)):
                path.unlink(missing_ok=True)
        shutil.rmtree(target / LOGS, ignore_errors=True)
    try:
        (target / LOGS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the export folder {target}: {exc.strerror}") from None


def _logs_to_copy(folder: Path, state: RunState) -> list[str]:
    """The step logs the report references, each final one checked against its sha256."""
    out = []
    for s in state.steps.values():
        if not s.log:
            continue
        if not is_inside(s.log):
            raise ExportError(f"step '{s.id}' names a log outside the run folder ({s.log})")
        path = os.path.join(folder, s.log)
        if s.log_sha256 and s.status not in NOT_FINAL:
            try:
                with open(path, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
            except FileNotFoundError:
                raise ExportError(
                    f"{s.log} is missing from the run folder (the report records its sha256)"
                ) from None
            if digest != s.log_sha256:
                raise ExportError(f"{s.log} was changed after step '{s.id}' recorded its sha256")
        elif not os.path.isfile(path):
            if s.log_sha256:
                raise ExportError(
                    f"{s.log} is missing from the run folder (the report records its sha256)"
                )
            continue
        out.append(s.log)
    for h in _host_logs(state):  # logs/<step>@<host>.log of the steps on host groups
        if not is_inside(h.log):
            raise ExportError(
                f"host {h.host} of step '{h.step}' names a log outside the run folder ({h.log})"
            )
        path = os.path.join(folder, h.log)
        if h.status in HOST_SEALED:
            try:
                with open(path, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
            except FileNotFoundError:
                raise ExportError(
                    f"{h.log} is missing from the run folder (the report records its sha256)"
                ) from None
            if digest != h.log_sha256:
                raise ExportError(
                    f"{h.log} was changed after host {h.host} of step '{h.step}' recorded its sha256"
                )
        elif not os.path.isfile(path):
            continue
        out.append(h.log)
    return out


HOST_SEALED = (
    StepStatus.PASSED,
    StepStatus.FAILED,
)  # a host's log is final (its sha256 recorded) in these states


def _host_logs(state: RunState) -> list[Any]:
    """The per-host records that name a log (``host_finished`` recorded its sha256)."""
    return [h for h in state.fleet.records.values() if h.log and h.log_sha256]


def _copy_logs(folder: Path, target: Path, logs: list[str]) -> int:
    made: set[str] = set()
    for log in logs:
        dest = os.path.join(target, log)
        parent = os.path.dirname(dest)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        shutil.copyfile(os.path.join(folder, log), dest)
    return len(logs)


def _secret_captures_by_step(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rec in records:
        if rec.get("type") == "step_finished" and rec.get("secret_captures"):
            names = out.setdefault(str(rec["step"]), [])
            names += [n for n in rec["secret_captures"] if n not in names]
    return out


def _manifest(
    result: ExportResult,
    checklist_bytes: bytes | None,
    signer: Signer | None,
    exported_at: str,
    exported_by: str,
    logs: Sequence[str] = (),
) -> dict[str, Any]:
    state = result.snapshot.state
    # a log the report gives no final sha256 for (its step was still running) is listed here,
    # so that a signed export.toml covers it: verify vouches only for signed bytes
    sealed = {
        s.log for s in state.steps.values() if s.log and s.log_sha256 and s.status not in NOT_FINAL
    } | {h.log for h in _host_logs(state) if h.status in HOST_SEALED}
    files = []
    for path, name in [
        *[(p, p.name) for p in result.files[:1]],
        *([(result.folder / PINNED, PINNED)] if checklist_bytes is not None else []),
        *[(p, p.name) for p in result.files[1:]],
        *[(result.folder / log, log) for log in logs if log not in sealed],
    ]:
        data = path.read_bytes()
        files.append({"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    export: dict[str, Any] = {
        "exported_at": exported_at,
        "exported_by": exported_by,
        "iact_tui_version": __version__,
        "run_id": state.run_id,
        "run_status": state.status,
        "run_finished": result.snapshot.finished,
        "run_in_use": result.snapshot.in_use,
        "namespace": NAMESPACE,
        "logs": result.logs,
    }
    if signer is not None:
        export["signer_fingerprint"] = signer.key.fingerprint
        export["signer_key_type"] = signer.key.algorithm
    return {"export": export, "files": files}
