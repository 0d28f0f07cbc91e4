"""Verify an exported report (or a run folder): signatures, event chain, tables, logs, checklist.

What is checked, and what each check proves:

- ``report.toml.sig`` (and the ``.sig`` of every other exported file): an SSHSIG signature in the
  ``iact-tui-report`` namespace over those exact bytes; with ``--allowed-signers`` the key must be
  listed there for that namespace, the identity and the current time. A signature holds no
  time: it proves *who* signed *these bytes*, not when.
- the ``[[events]]`` hash chain: each event carries the hash of the one before, so a removed,
  reordered or edited event is caught even in an unsigned report.
- ``[run]`` and ``[[steps]]`` are a projection of the events: they are recomputed and compared,
  so an edited step row is caught too.
- every step log the events give a sha256 for is re-hashed; ``checklist.toml`` against the
  pinned sha256; the files listed in ``export.toml`` against their sha256.

The verdict (``Verification.ok``, exit 0 of ``iact-tui verify``) means one thing: ``report.toml``
and every other file in the folder are covered by signatures, each made by a key that the given
allowed_signers lists for the namespace. A signed report is read alone: its status, steps and
events come from the signed bytes, never from ``journal.jsonl``, and any file no signature covers
(directly, through the signed report's sha256 of a log or of the pinned checklist, or through a
signed ``export.toml``) is named and fails it. An unsigned record is at best *consistent*: its
hash chain is unkeyed, so anyone who edits a run can recompute it; that guards against accidental
damage only, and is not "verified".
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iact_tui.engine.errors import IactError
from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.record.store import (
    JOURNAL,
    PINNED,
    REPORT,
    SCHEMA_VERSION,
    ReportError,
    check_chain,
    read_records,
)
from iact_tui.engine.report.consistency import compare_report, pinned_checklist_problem
from iact_tui.engine.report.layout import (
    FORMAT_FILES,
    MANIFEST,
    NOT_FINAL,
    SIG_SUFFIX,
    is_inside,
    toml_loads,
)
from iact_tui.engine.status import FINAL_RUN_STATES, StepStatus

if TYPE_CHECKING:  # asyncssh is imported only when there is a signature to check
    from iact_tui.engine.report.signing import AllowedSigners, SignatureCheck


class VerifyInputError(IactError):
    """Nothing to verify: a missing file, a report that cannot be read, a bad allowed_signers."""


@dataclass
class Check:
    ok: bool
    topic: str  # signature | report | events | tables | logs | checklist | approval | export
    text: str


@dataclass
class Verification:
    folder: Path
    report: Path
    checks: list[Check] = field(default_factory=list)
    signatures: list[SignatureCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    state: RunState | None = None
    manifest: dict[str, Any] | None = None
    trusted: bool = False  # --allowed-signers was given
    sealed: bool = False  # report.toml has a .sig next to it (good or not): it is read alone
    examined: set[str] = field(default_factory=set)  # files whose signature was looked at

    @property
    def consistent(self) -> bool:
        """Nothing checked is wrong: no failed check, no bad signature. On its own this guards
        against accidental damage only (anyone who edits a run can recompute its hash chain)."""
        return all(c.ok for c in self.checks) and all(s.ok for s in self.signatures)

    @property
    def ok(self) -> bool:
        """Verified (exit 0): consistent, report.toml signed, every file covered by a signature,
        and every signature made by a key that the given allowed_signers lists."""
        return (
            self.consistent
            and self.report_signature is not None
            and all(s.trusted for s in self.signatures)
        )

    @property
    def shortfall(self) -> str:
        """Why a result that is otherwise consistent is still not verified ("" when it is)."""
        if not self.sealed:
            name = self.report.name
            text = f"{name} is not signed: there is no {name}{SIG_SUFFIX} next to it"
            if self.consistent:
                text += (
                    ". Its record is consistent (event chain, tables, step logs, checklist), which "
                    "guards against accidental damage only: anyone who edits a run can recompute "
                    "its hash chain"
                )
            return text
        unchecked = [s for s in self.signatures if s.ok and not s.trusted]
        if not unchecked:
            return ""
        keys = sorted({s.key.describe() for s in unchecked if s.key is not None})
        names = ", ".join(s.file for s in unchecked)
        return (
            f"signer not checked: {names} carry good signatures made with "
            f"{', '.join(keys) or 'an unknown key'}, but nothing says whose key that is "
            "(give --allowed-signers)"
        )

    @property
    def problems(self) -> list[str]:
        shortfall = self.shortfall
        return (
            [s.describe() for s in self.signatures if not s.ok]
            + [c.text for c in self.checks if not c.ok]
            + ([shortfall] if shortfall else [])
        )

    @property
    def exit_code(self) -> int:
        """0 verified; 1 anything else (``iact-tui verify``; unreadable input raises instead)."""
        return 0 if self.ok else 1

    def lines(self) -> list[tuple[bool | None, str]]:
        """(ok, text) for each signature and check, in order; None: a note. As the CLI and the
        TUI show them."""
        out: list[tuple[bool | None, str]] = []
        if not self.sealed:
            name = self.report.name
            out.append(
                (False, f"{'signature':<10} {name} is not signed: no {name}{SIG_SUFFIX} next to it")
            )
        out += [(s.ok, f"{'signature':<10} {s.describe()}") for s in self.signatures]
        out += [(c.ok, f"{c.topic:<10} {c.text}") for c in self.checks]
        out += [(None, note) for note in self.notes]
        return out

    @property
    def report_signature(self) -> SignatureCheck | None:
        return next((s for s in self.signatures if s.file == self.report.name), None)

    def run_line(self) -> str:
        """``run ID: CHECKLIST VERSION, status S, operator O`` ('' when the events did not replay)."""
        state = self.state
        if state is None:
            return ""
        info = state.info
        return (
            f"run {state.run_id}: {info.get('checklist_id', '')} {info.get('checklist_version', '')}, "
            f"status {state.status}, operator {state.operator or 'unknown'}"
        )

    def verdict(self) -> Verdict:
        """The verdict both front ends print: verified and by whom, or why not."""
        sig = self.report_signature
        if self.ok and sig is not None:
            return Verdict(True, f"{self.report.name} is intact and signed by {sig.principal}")
        if self.consistent:  # only the signature's proof is missing: say what the record is
            return Verdict(False, self.shortfall)
        problems = self.problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        return Verdict(False, count, tuple(problems))


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # who signed it, what is missing, or how many problems
    problems: tuple[str, ...] = ()  # each problem, when the record itself has any

    def line(self) -> str:
        """``verified: …`` or ``NOT VERIFIED: …``; the problems, if any, are listed under it."""
        return f"{'verified' if self.ok else 'NOT VERIFIED'}: {self.reason}"

    def sentence(self) -> str:
        """The verdict in one sentence, the first problem standing for the others."""
        if self.problems:
            return f"{self.line()}: {self.problems[0]}"
        line = self.line()
        return f"{line[0].upper()}{line[1:]}."


def locate(target: Path) -> tuple[Path, Path, Path | None]:
    """(folder, report file, another signed file the user named) for FILE."""
    if target.is_dir():
        report = target / REPORT
        if not report.exists():
            raise VerifyInputError(f"{target} holds no {REPORT}")
        return target, report, None
    if not target.exists():
        raise VerifyInputError(f"no such file or folder: {target}")
    if target.name.endswith(SIG_SUFFIX):
        target = target.with_name(target.name[: -len(SIG_SUFFIX)])
        if not target.exists():
            raise VerifyInputError(f"no file {target} next to its signature")
    if target.suffix in (".md", ".html", ".htm") or target.name == MANIFEST:
        report = target.parent / REPORT
        if not report.exists():
            raise VerifyInputError(f"{target.parent} holds no {REPORT} to go with {target.name}")
        return target.parent, report, target
    return target.parent, target, None


def verify(
    target: Path,
    allowed_signers: Path | None = None,
    identity: str | None = None,
    approvers_files: dict[str, Path] | None = None,
) -> Verification:
    """Verify FILE (a report, an export folder or a run folder). Raises VerifyInputError.
    ``approvers_files``: role -> the auditor's own allowed_signers of the people whose signed
    approvals that role takes (checked besides the list the run pinned)."""
    folder, report, extra = locate(Path(target))
    approvers = _read_approvers(approvers_files or {})
    allowed: AllowedSigners | None = None
    if allowed_signers is not None:
        from iact_tui.engine.report.signing import AllowedSignersError, load_allowed_signers

        try:
            allowed = load_allowed_signers(allowed_signers)
        except AllowedSignersError as exc:
            raise VerifyInputError(str(exc)) from None
    result = Verification(folder, report, trusted=allowed is not None)
    try:
        raw = report.read_bytes()
    except OSError as exc:
        raise VerifyInputError(f"cannot read {report}: {exc.strerror}") from None

    result.sealed = report.with_name(report.name + SIG_SUFFIX).exists()
    _check_signature_of(result, report, raw, allowed, identity, required=False)

    # the record itself
    try:
        data = toml_loads(raw.decode("utf-8"))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"it has schema_version {data.get('schema_version')!r}; this iact-tui reads {SCHEMA_VERSION}"
            )
        events = data.get("events")
        if (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, dict) for e in events)
        ):
            raise ValueError("it holds no [[events]]")
    except ValueError as exc:  # TOMLDecodeError, UnicodeDecodeError, or ours
        if result.signatures and not all(s.ok for s in result.signatures):
            result.checks.append(
                Check(False, "report", f"{report.name} cannot be read as a report: {exc}")
            )
            return result
        raise VerifyInputError(f"{report} cannot be read as a run report: {exc}") from None

    chain = check_chain(events)
    if chain:
        result.checks += [Check(False, "events", f"{report.name}: {p}") for p in chain]
    else:
        result.checks.append(
            Check(
                True,
                "events",
                f"{len(events)} events, hash chain intact (last hash {events[-1]['hash'][:16]}…)",
            )
        )

    records = events
    journal = folder / JOURNAL
    # a signed report is read alone: records outside the signed bytes never change what it says
    if (
        not result.sealed
        and not chain
        and report.name == REPORT
        and journal.is_file()
        and journal.stat().st_size > 0
    ):
        try:
            records = read_records(folder)
        except ReportError as exc:
            result.checks.append(Check(False, "events", str(exc)))
        except OSError as exc:
            result.checks.append(
                Check(False, "events", f"cannot read {JOURNAL}: {exc.strerror or exc}")
            )
        else:
            if len(records) > len(events):
                result.notes.append(
                    f"{len(records) - len(events)} records in {JOURNAL} are not yet in {REPORT}: "
                    "the run is in progress or was interrupted; they were checked too"
                )
    try:
        state = reduce(records)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        result.checks.append(
            Check(False, "events", f"the events cannot be replayed ({type(exc).__name__}: {exc})")
        )
        return result
    result.state = state

    if not chain:
        try:
            differences = compare_report(data, events)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            differences = [
                f"the tables cannot be compared with the events ({type(exc).__name__}: {exc})"
            ]
        if differences:
            result.checks += [Check(False, "tables", d) for d in differences]
        else:
            result.checks.append(
                Check(
                    True,
                    "tables",
                    f"[run] and [[steps]] agree with the events ({len(state.steps)} steps)",
                )
            )

    problem = pinned_checklist_problem(folder, state)
    if problem:
        result.checks.append(Check(False, "checklist", problem))
    else:
        result.checks.append(
            Check(
                True,
                "checklist",
                f"{PINNED} matches the pinned sha256 {state.checklist_sha256[:16]}…",
            )
        )

    _check_approvals(result, records, state, folder, approvers)
    unfinished = _check_logs(result, folder, state)
    _check_host_logs(result, folder, state)
    listed = _check_exported_files(result, folder, report, extra, allowed, identity, state)
    unlisted = [s for s in unfinished if state.steps[s].log not in listed]
    if unlisted:
        result.notes.append(
            f"{len(unlisted)} step log(s) still being written were not checked: {', '.join(unlisted[:5])}"
        )
    if result.sealed:
        _check_coverage(result, folder, report, state, listed, allowed, identity)
    if state.status not in FINAL_RUN_STATES:
        result.notes.append(
            f"the run was not finished when this report was written (status {state.status})"
        )
    return result


def _check_signature_of(
    result: Verification,
    path: Path,
    data: bytes,
    allowed: AllowedSigners | None,
    identity: str | None,
    *,
    required: bool,
    name: str | None = None,
) -> None:
    name = name or path.name
    sig = path.with_name(path.name + SIG_SUFFIX)
    if sig.exists():
        result.examined.add(name)
        try:
            text = sig.read_bytes()
        except OSError as exc:
            result.checks.append(
                Check(False, "signature", f"cannot read {name}{SIG_SUFFIX}: {exc.strerror}")
            )
            return
        from iact_tui.engine.report.signing import check_signature

        result.signatures.append(check_signature(name, data, text, allowed, identity))
    elif allowed is not None and required:
        result.examined.add(name)
        result.checks.append(
            Check(
                False,
                "signature",
                f"{name} is not signed: there is no {name}{SIG_SUFFIX} next to it",
            )
        )
    elif path != result.report and not result.sealed:
        # an unsigned report.toml: Verification.shortfall says so; a file beside a signed one:
        # the coverage check names it unless a signed export.toml lists it
        result.notes.append(f"{name} is not signed (no {name}{SIG_SUFFIX})")


def _check_approvals(
    result: Verification,
    records: list[dict[str, Any]],
    state: RunState,
    folder: Path,
    trusted: dict[str, str] | None = None,
) -> None:
    """Every signed answer (tick --sign) again: its signature over the payload its record names,
    by a key the allowed_signers the run pinned lists for the role (at the time of its record),
    over this run's history — and, for a role in ``trusted`` (``verify --approvers ROLE=FILE``:
    the auditor's own list), by a key that list names too. An answer to a step whose role takes
    signed approvals only that carries no signature fails."""
    from iact_tui.engine.record.state import approvers_after
    from iact_tui.engine.report.approvals import ApprovalError, check_recorded, record_time

    approver_keys = state.info.get("approver_keys") or {}
    roles, declared = _step_roles(folder, records)
    for role in sorted(declared - set(approver_keys)):
        result.checks.append(
            Check(
                False,
                "approval",
                f"the checklist takes signed approvals for role '{role}' ([checklist.approvers]), "
                "but the run pinned no list of its approvers (approver_keys)",
            )
        )
    _say_pinned_approvers(result, approver_keys, trusted or {})
    checklist_sha256 = ""
    keys_now: dict[str, Any] = {}  # the lists the run held at the record: a use-new may change them
    # The pinned checklist is the last one a use-new put in place: the roles it declares are
    # required from there on; before, the lists the records pinned say which roles were.
    changes = [i for i, r in enumerate(records) if _used_new(r)]
    declared_from = changes[-1] if changes else -1
    before: set[str] = set()
    previous: dict[str, Any] = {}
    for index, rec in enumerate(records):
        kind = rec.get("type")
        if kind == "run_created":
            checklist_sha256 = str(rec.get("checklist_sha256", ""))
            keys_now = approvers_after(None, rec) or {}
        elif _used_new(rec):
            checklist_sha256 = str(rec.get("sha256_new", checklist_sha256))
            keys_now = approvers_after(keys_now, rec) or {}
        signed_roles = set(keys_now) | (declared if index > declared_from else set())
        signed = rec.get("signed")
        step = str(rec.get("step", ""))
        if isinstance(signed, dict):
            role = str(signed.get("role", ""))
            try:
                checked = check_recorded(
                    rec, state.run_id, keys_now, role, before, checklist_sha256
                )
                if role in (trusted or {}):
                    _check_trusted(rec, state.run_id, role, (trusted or {})[role], record_time(rec))
            except ApprovalError as exc:
                result.checks.append(
                    Check(
                        False,
                        "approval",
                        f"step '{step}' (event {rec.get('seq')}): the signed answer does not hold: {exc}",
                    )
                )
            else:
                result.checks.append(
                    Check(
                        True,
                        "approval",
                        f"step '{step}': {result_word(rec)} signed by {checked.signer} with "
                        f"{checked.key_type} key {checked.fingerprint}",
                    )
                )
        elif _unsigned_answer(rec, previous) and (
            str(roles.get(step, rec.get("role") or "")) in signed_roles
        ):
            role = str(roles.get(step, rec.get("role") or ""))
            result.checks.append(
                Check(
                    False,
                    "approval",
                    f"step '{step}' (event {rec.get('seq')}): {result_word(rec)} by "
                    f"{rec.get('by', 'unknown')} without a signature, but its role '{role}' takes "
                    "signed approvals only ([checklist.approvers])",
                )
            )
        before.add(str(rec.get("hash", "")))
        previous = rec


def _used_new(rec: dict[str, Any]) -> bool:
    return rec.get("type") == "checklist_changed" and rec.get("decision") == "use-new"


def _read_approvers(files: dict[str, Path]) -> dict[str, str]:
    from iact_tui.engine.checklist.approvers import ApproversError, read_allowed_signers

    out = {}
    for role, path in files.items():
        try:
            out[role] = read_allowed_signers(path.expanduser())[1]
        except ApproversError as exc:
            raise VerifyInputError(f"--approvers {role}: {exc}") from None
    return out


def _unsigned_answer(rec: dict[str, Any], previous: dict[str, Any]) -> bool:
    """A person's answer to a step, not signed: a tick (pass / fail, ahead or not) or a skip that
    is not iact-tui's own (a step that does not apply) nor the operator's decision on a failure
    (which the failure's own answer preceded)."""
    kind = rec.get("type")
    if kind in ("step_ticked", "step_ticked_ahead"):
        return True
    if kind != "step_skipped" or rec.get("by") == "iact-tui":
        return False
    decided = (
        previous.get("type") == "failure_decision"
        and previous.get("step") == rec.get("step")
        and previous.get("decision") == "skip"
    )
    return not decided


def _step_roles(folder: Path, records: list[dict[str, Any]]) -> tuple[dict[str, str], set[str]]:
    """Each step's role, and the roles whose approvals must be signed, from the run's pinned
    checklist (verified against its sha256 apart: a report that drops its approvers list still
    has it there); the roles the records name where the checklist cannot be read."""
    from iact_tui.engine.checklist.load import parse_checklist
    from iact_tui.engine.checklist.problems import ChecklistError

    try:
        loaded = parse_checklist((folder / PINNED).read_bytes(), str(folder / PINNED), pinned=True)
    except (OSError, ChecklistError):
        roles = {str(r["step"]): str(r["role"]) for r in records if r.get("step") and r.get("role")}
        return roles, set()
    roles = {
        step.id: str(role)
        for _, _, step in loaded.checklist.iter_steps()
        if (role := getattr(step, "role", None))
    }
    return roles, set(loaded.checklist.checklist.approvers)


def _say_pinned_approvers(
    result: Verification, approver_keys: dict[str, Any], trusted: dict[str, str]
) -> None:
    """Name the approvers lists the run pinned (their sha256, to compare with the team's own), and
    whether each list the auditor gave is the same file."""
    for role in sorted(set(approver_keys) | set(trusted)):
        pinned = approver_keys.get(role)
        if not isinstance(pinned, dict):
            said = (
                f"--approvers names role '{role}', but the run took no signed approvals for it"
                if pinned is None
                else f"the run's record of role '{role}' approvers list is damaged (not a list)"
            )
            result.checks.append(Check(False, "approval", said))
            continue
        digest = str(pinned.get("sha256", ""))
        said = (
            f"role '{role}' approvers pinned by the run: {pinned.get('file', '')} (sha256 {digest})"
        )
        if role not in trusted:
            result.notes.append(said + "; give --approvers to check its approvals against yours")
            continue
        import hashlib

        same = hashlib.sha256(trusted[role].encode()).hexdigest() == digest
        result.notes.append(
            said
            + (
                "; the same file as yours"
                if same
                else "; not the file you gave: each approval is checked against yours too"
            )
        )


def _check_trusted(
    rec: dict[str, Any], run_id: str, role: str, allowed_text: str, at: float | None
) -> None:
    """The signer's key must be one the auditor's own allowed_signers names for the role."""
    from iact_tui.engine.report.approvals import ApprovalError, check_approval, payload_of_record

    signed = rec["signed"]
    payload = payload_of_record(
        rec, run_id, str(signed.get("checklist_sha256", "")), str(signed.get("chain_head", ""))
    )
    try:
        checked = check_approval(
            payload, str(signed.get("signature", "")), allowed_text, role, at=at
        )
    except ApprovalError as exc:
        raise ApprovalError(f"by the approvers you gave: {exc}") from None
    if checked.signer != signed.get("signer"):
        raise ApprovalError(
            f"the approvers you gave name its key as {checked.signer}, but the run recorded "
            f"{signed.get('signer')}"
        )


def result_word(rec: dict[str, Any]) -> str:
    from iact_tui.engine.report.approvals import result_of_record

    return {"pass": "passed", "fail": "failed", "skip": "skipped"}.get(
        result_of_record(rec), "answered"
    )


def _check_logs(result: Verification, folder: Path, state: RunState) -> list[str]:
    """Re-hash every final step log; returns the steps whose log was still being written."""
    good = 0
    unfinished = []
    for s in state.steps.values():
        if not s.log_sha256:
            continue
        if s.status in NOT_FINAL:
            unfinished.append(s.id)
            continue
        if not is_inside(s.log):
            result.checks.append(
                Check(False, "logs", f"step '{s.id}' names a log outside the folder ({s.log})")
            )
            continue
        try:
            with open(os.path.join(folder, s.log), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            result.checks.append(
                Check(False, "logs", f"{s.log} is missing (step '{s.id}' recorded its sha256)")
            )
            continue
        except OSError as exc:
            result.checks.append(Check(False, "logs", f"cannot read {s.log}: {exc.strerror}"))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != s.log_sha256:
            size = (
                f"; {len(data)} bytes, {s.log_bytes} recorded"
                if s.log_bytes and len(data) != s.log_bytes
                else ""
            )
            result.checks.append(
                Check(
                    False,
                    "logs",
                    f"{s.log} does not match the sha256 recorded for step '{s.id}' "
                    f"(recorded {s.log_sha256[:16]}…, file {digest[:16]}…{size}): the log was changed",
                )
            )
            continue
        good += 1
    result.checks.append(
        Check(
            True, "logs", f"{good} step log{'s' if good != 1 else ''} match their recorded sha256"
        )
    )
    return unfinished


HOST_SEALED = (
    StepStatus.PASSED,
    StepStatus.FAILED,
)  # a host's log is final (its sha256 recorded) in these states


def _sealed_host_logs(state: RunState) -> list[Any]:
    return [
        h
        for h in state.fleet.records.values()
        if h.log and h.log_sha256 and h.status in HOST_SEALED
    ]


def _check_host_logs(result: Verification, folder: Path, state: RunState) -> None:
    """Re-hash each host's log of a step on a host group against its ``[[host_steps]]`` sha256."""
    sealed = _sealed_host_logs(state)
    if not sealed:
        return
    bad = 0
    for h in sealed:
        problem = ""
        if not is_inside(h.log):
            problem = f"host {h.host} of step '{h.step}' names a log outside the folder ({h.log})"
        else:
            try:
                with open(os.path.join(folder, h.log), "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
            except FileNotFoundError:
                problem = (
                    f"{h.log} is missing (host {h.host} of step '{h.step}' recorded its sha256)"
                )
            except OSError as exc:
                problem = f"cannot read {h.log}: {exc.strerror}"
            else:
                if digest != h.log_sha256:
                    problem = (
                        f"{h.log} does not match the sha256 recorded for host {h.host} of step "
                        f"'{h.step}' (recorded {h.log_sha256[:16]}…, file {digest[:16]}…): the log was changed"
                    )
        if problem:
            bad += 1
            result.checks.append(Check(False, "logs", problem))
    good = len(sealed) - bad
    result.checks.append(
        Check(
            True, "logs", f"{good} host log{'s' if good != 1 else ''} match their recorded sha256"
        )
    )


def _check_exported_files(
    result: Verification,
    folder: Path,
    report: Path,
    extra: Path | None,
    allowed: AllowedSigners | None,
    identity: str | None,
    state: RunState,
) -> set[str]:
    """Signatures of the exported formats and export.toml; the files export.toml lists against
    their sha256 (each mismatch named). Returns the files it lists."""
    names = [FORMAT_FILES["md"], FORMAT_FILES["html"], MANIFEST]
    if extra is not None and extra.name not in names:
        names.append(extra.name)
    for name in names:
        path = folder / name
        if not path.exists():
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            result.examined.add(name)
            result.checks.append(Check(False, "export", f"cannot read {name}: {exc.strerror}"))
            continue
        _check_signature_of(
            result, path, data, allowed, identity, required=extra is not None and name == extra.name
        )
    listed: set[str] = set()
    manifest = folder / MANIFEST
    if not manifest.exists():
        return listed
    try:
        doc = tomllib.loads(manifest.read_text(encoding="utf-8"))
        files = doc.get("files", [])
        info = doc.get("export", {})
        if not isinstance(files, list) or not isinstance(info, dict):
            raise ValueError("unexpected layout")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError) as exc:
        result.checks.append(Check(False, "export", f"{MANIFEST} cannot be read: {exc}"))
        return listed
    except OSError as exc:
        result.checks.append(Check(False, "export", f"cannot read {MANIFEST}: {exc.strerror}"))
        return listed
    result.manifest = doc
    if info.get("run_id") not in (None, state.run_id):
        result.checks.append(
            Check(
                False, "export", f"{MANIFEST} is about run {info.get('run_id')}, not {state.run_id}"
            )
        )
    bad = 0
    for entry in files:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("path", ""))
        path = folder / name
        if not is_inside(name) or name.startswith(".") or not path.is_file():
            result.checks.append(Check(False, "export", f"{name} listed in {MANIFEST} is missing"))
            bad += 1
            continue
        listed.add(name)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            result.checks.append(Check(False, "export", f"cannot read {name}: {exc.strerror}"))
            bad += 1
            continue
        if digest != entry.get("sha256"):
            result.checks.append(
                Check(
                    False,
                    "export",
                    f"{name} does not match the sha256 listed in {MANIFEST}: it was changed after the export",
                )
            )
            bad += 1
    if not bad:
        result.checks.append(
            Check(True, "export", f"the {len(files)} files listed in {MANIFEST} match their sha256")
        )
    return listed


MAX_UNCOVERED = 8


def _check_coverage(
    result: Verification,
    folder: Path,
    report: Path,
    state: RunState,
    listed: set[str],
    allowed: AllowedSigners | None,
    identity: str | None,
) -> None:
    """A signed report vouches only for signed bytes: every file in the folder must be covered by
    a signature, directly (FILE.sig), through the signed report (the pinned checklist, the step
    logs it gives a sha256 for) or through a signed export.toml (the files it lists). Anything
    else (journal records, an added or edited rendering, any extra file) is named and fails."""
    files, linked = _folder_files(folder)
    present = set(files)
    # any other file that carries a signature of its own is checked like the exported ones
    for rel in files:
        if rel not in result.examined and rel + SIG_SUFFIX in present and rel != report.name:
            path = folder / rel
            try:
                data = path.read_bytes()
            except OSError as exc:
                result.examined.add(rel)
                result.checks.append(Check(False, "coverage", f"cannot read {rel}: {exc.strerror}"))
                continue
            _check_signature_of(result, path, data, allowed, identity, required=False, name=rel)
    claimed = {report.name}
    if state.checklist_sha256:
        claimed.add(PINNED)
    claimed |= {
        s.log
        for s in state.steps.values()
        if s.log and s.log_sha256 and s.status not in NOT_FINAL and is_inside(s.log)
    } | {h.log for h in _sealed_host_logs(state) if is_inside(h.log)}
    manifest_sig = next((s for s in result.signatures if s.file == MANIFEST), None)
    if manifest_sig is not None and manifest_sig.ok:
        claimed |= listed
    uncovered: list[str] = []
    for rel in files:
        if rel in claimed or rel in result.examined:
            continue
        if rel.endswith(SIG_SUFFIX) and rel[: -len(SIG_SUFFIX)] in (result.examined | claimed):
            continue
        uncovered.append(_uncovered_reason(folder, rel, present))
    uncovered += [
        f"{rel} is a symbolic link to a folder: what it holds is not covered by any signature"
        for rel in linked
    ]
    if len(uncovered) > MAX_UNCOVERED:
        more = len(uncovered) - MAX_UNCOVERED
        uncovered = [*uncovered[:MAX_UNCOVERED], f"and {more} more files no signature covers"]
    if uncovered:
        result.checks += [Check(False, "coverage", text) for text in uncovered]
    else:
        result.checks.append(
            Check(
                True, "coverage", f"every file here is covered by a signature ({len(files)} files)"
            )
        )


def _uncovered_reason(folder: Path, rel: str, present: set[str]) -> str:
    if rel == JOURNAL:
        try:
            with open(folder / rel, "rb") as f:
                count = sum(1 for line in f if line.strip())
        except OSError:
            count = -1
        if count > 0:
            return (
                f"{JOURNAL} holds {count} record{'s' if count != 1 else ''} that no signature "
                f"covers: a signed report's status, steps and events come from {REPORT} alone"
            )
    if rel.endswith(SIG_SUFFIX):
        return f"{rel} signs no file here: there is no {rel[: -len(SIG_SUFFIX)]} next to it"
    if rel == MANIFEST:
        return f"{MANIFEST} is not covered by any signature (no {MANIFEST}{SIG_SUFFIX}): its claims and file list are not vouched for"
    if rel in (FORMAT_FILES["md"], FORMAT_FILES["html"]):
        return f"{rel} is not covered by any signature (no {rel}{SIG_SUFFIX}, and no signed {MANIFEST} lists it)"
    return f"{rel} is not covered by any signature"


def _folder_files(folder: Path) -> tuple[list[str], list[str]]:
    """Every file under FOLDER (relative, '/'-separated, sorted) and every symbolic link to a
    folder (not followed)."""
    files: list[str] = []
    linked: list[str] = []
    for top, dirs, names in os.walk(folder):
        base = os.path.relpath(top, folder)
        prefix = "" if base == "." else base.replace(os.sep, "/") + "/"
        for d in list(dirs):
            if os.path.islink(os.path.join(top, d)):
                linked.append(prefix + d)
        files += [prefix + n for n in names]
    return sorted(files), sorted(linked)
