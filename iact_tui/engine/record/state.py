"""Run state as a pure projection of the run's records (the append-only audit trail).

The journal holds records; the state (each step's status, attempts, times, evidence) is derived
from them here, the same way on the live run, on resume, in `list`, in exports and in `verify`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from iact_tui.engine.record.hosts import HostRecords
from iact_tui.engine.status import DONE_STATES, RunStatus, StepStatus


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class StepRecord:
    id: str
    phase: str
    kind: str
    title: str
    alternative: str = ""
    rollback: bool = False
    status: str = StepStatus.PENDING
    attempts: int = 0
    started_at: str = ""
    finished_at: str = ""
    duration: float | None = None
    exit_status: int | None = None
    command: str = ""
    message: str = ""
    output_tail: list[str] = field(default_factory=list)
    lines: int | None = None
    log: str = ""
    log_sha256: str = ""
    log_bytes: int | None = None
    note: str = ""
    ticked_by: str = ""
    ticked_at: str = ""
    skip_reason: str = ""
    skipped_by: str = ""
    captures: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    decision: str = ""
    decision_reason: str = ""
    ahead: str = ""  # an answer ticked ahead (`tick --ahead`) that waits for the run to get here
    ticked_ahead_at: str = ""  # when the answer that decided the step was ticked ahead
    approval_skipped: bool = False  # a four-eyes approval that was skipped
    # a signed answer (`tick --sign`, docs/team.md): who signed, with which key
    approval_signer: str = ""
    approval_fingerprint: str = ""
    approval_key_type: str = ""

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if value in (None, "", [], {}):
                continue
            if key in ("started_at", "finished_at", "ticked_at", "ticked_ahead_at"):
                value = parse_time(value)
            out[key] = value
        return out


@dataclass
class RunState:
    run_id: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    status: str = RunStatus.RUNNING
    started_at: str = ""
    finished_at: str = ""
    steps: dict[str, StepRecord] = field(default_factory=dict)
    choices: dict[str, list[str]] = field(default_factory=dict)
    presets: dict[str, list[str]] = field(default_factory=dict)  # --choose given at run/resume
    on_failure: str = ""  # --on-failure given at run/resume (the latest one given); "": never given
    captures: dict[str, Any] = field(default_factory=dict)
    secret_captures: set[str] = field(default_factory=set)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    approvers: dict[str, str] = field(default_factory=dict)
    operators: list[str] = field(default_factory=list)  # who started or resumed the run (four eyes)
    # the fingerprints of the keys the operators' ssh-agents held when they started or resumed a
    # run whose checklist has approvers: four eyes compares an approval's key with these
    operator_keys: list[str] = field(default_factory=list)
    ahead: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # answers ticked ahead, not yet used
    rollback_started: bool = False
    rollback_reason: str = ""
    pause_reason: str = ""
    checklist_sha256: str = ""
    last_seq: int = 0
    last_hash: str = ""
    confirmed: set[str] = field(default_factory=set)
    # step -> the command, for each confirmation the run asked for and nobody gave since it was
    # (last) started or resumed: a paused run's confirmation, which a tick gives
    confirmation_asked: dict[str, str] = field(default_factory=dict)
    # the process groups each step's current attempt started (step_process records): on resume,
    # an interrupted step whose process still runs is never started a second time
    processes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # one record per (step, host) of the steps on host groups (record/hosts.py)
    fleet: HostRecords = field(default_factory=HostRecords)

    @property
    def operator(self) -> str:
        return str(self.info.get("operator", ""))

    @property
    def skipped_approvals(self) -> list[StepRecord]:
        """Four-eyes approvals that were skipped (the run's final line, report and exports say so)."""
        return [
            s for s in self.steps.values() if s.approval_skipped and s.status == StepStatus.SKIPPED
        ]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.steps.values():
            out[s.status] = out.get(s.status, 0) + 1
        return out

    def progress(self) -> tuple[int, int]:
        """(done, total) over the steps that can still matter."""
        relevant = [
            s
            for s in self.steps.values()
            if s.status != StepStatus.NOT_APPLICABLE and (not s.rollback or self.rollback_started)
        ]
        done = [
            s
            for s in relevant
            if s.status in DONE_STATES
            or (s.status == StepStatus.FAILED and s.decision == "continue")
        ]
        return len(done), len(relevant)

    def apply(self, rec: dict[str, Any]) -> None:
        """Fold one record into the state."""
        self.last_seq = int(rec.get("seq", self.last_seq))
        self.last_hash = str(rec.get("hash", self.last_hash))
        kind = rec["type"]
        if self.fleet.apply(rec):
            return
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(rec)

    # -- run-level ----------------------------------------------------------------------------

    def _on_run_created(self, r: dict[str, Any]) -> None:
        self.run_id = r["run_id"]
        self.info = {k: v for k, v in r.items() if k not in ("seq", "hash", "prev", "type", "plan")}
        self.started_at = r["at"]
        self.checklist_sha256 = r.get("checklist_sha256", "")
        self.presets.update(r.get("presets", {}))
        self.on_failure = str(r.get("on_failure", "") or "")
        self.operators = [str(r["operator"])] if r.get("operator") else []
        self.operator_keys = [str(k) for k in r.get("operator_keys", [])]
        self.status = RunStatus.RUNNING
        self._add_plan(r.get("plan", []))

    def _add_plan(self, plan: list[dict[str, Any]]) -> None:
        """A record per planned step not known yet (all at the start; new ones on use-new)."""
        for p in plan:
            if p["id"] not in self.steps:
                self.steps[p["id"]] = StepRecord(
                    id=p["id"],
                    phase=p["phase"],
                    kind=p["kind"],
                    title=p.get("title", ""),
                    alternative=p.get("alternative", ""),
                    rollback=bool(p.get("rollback", False)),
                )

    def _on_run_resumed(self, r: dict[str, Any]) -> None:
        self.presets.update(r.get("presets", {}))
        if r.get("on_failure"):
            self.on_failure = str(r["on_failure"])
        if r.get("by") and str(r["by"]) not in self.operators:
            self.operators.append(str(r["by"]))
        self.operator_keys += [
            str(k) for k in r.get("operator_keys", []) if str(k) not in self.operator_keys
        ]
        self.status = RunStatus.RUNNING
        self.finished_at = ""
        self.pause_reason = ""
        self.confirmation_asked.clear()  # asked again when the run gets there

    def _on_run_paused(self, r: dict[str, Any]) -> None:
        self.status = RunStatus.PAUSED
        self.pause_reason = r.get("reason", "")

    def _on_run_finished(self, r: dict[str, Any]) -> None:
        self.status = r["status"]
        self.finished_at = r["at"]

    def _on_run_aborted(self, r: dict[str, Any]) -> None:
        self.pause_reason = r.get("reason", "")

    def _on_checklist_changed(self, r: dict[str, Any]) -> None:
        if r.get("decision") == "use-new":
            self.checklist_sha256 = r.get("sha256_new", self.checklist_sha256)
            self._add_plan(r.get("plan", []))
            keys = approvers_after(self.info.get("approver_keys"), r)
            if keys:
                self.info["approver_keys"] = keys

    def _on_host_connected(self, r: dict[str, Any]) -> None:
        self.hosts[r["host"]] = {
            k: v
            for k, v in r.items()
            if k in ("host", "address", "port", "user", "fingerprint", "key_type")
        }

    def _on_alternative_chosen(self, r: dict[str, Any]) -> None:
        self.choices[r["phase"]] = list(r["alternatives"])

    def _on_rollback_started(self, r: dict[str, Any]) -> None:
        self.rollback_started = True
        self.rollback_reason = r.get("reason", "")

    # -- step-level ---------------------------------------------------------------------------

    def _step(self, r: dict[str, Any]) -> StepRecord:
        sid = r["step"]
        if sid not in self.steps:  # a step unknown to the plan (changed checklist): keep it
            self.steps[sid] = StepRecord(
                id=sid, phase=r.get("phase", ""), kind=r.get("kind", ""), title=sid
            )
        return self.steps[sid]

    def _on_step_started(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        s.status = StepStatus.RUNNING
        s.attempts = int(r.get("attempt", s.attempts + 1))
        s.started_at = s.started_at or r["at"]
        s.finished_at = ""
        s.command = r.get("command", s.command)
        s.message = ""
        self.processes.pop(s.id, None)
        self.confirmation_asked.pop(s.id, None)

    def _on_step_process(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        fields = ("pid", "host", "start", "boot_id", "sudo", "attempt", "at")
        self.processes.setdefault(s.id, []).append({k: r[k] for k in fields if k in r})

    def _on_step_process_ended(self, r: dict[str, Any]) -> None:
        """A recorded process of the step is known to be gone (waited for, stopped, or found
        ended on resume): it no longer holds the step."""
        s = self._step(r)
        host = str(r.get("host") or "")
        left = [
            p
            for p in self.processes.get(s.id, [])
            if not (p.get("pid") == r.get("pid") and str(p.get("host") or "") == host)
        ]
        if left:
            self.processes[s.id] = left
        else:
            self.processes.pop(s.id, None)

    def _on_step_finished(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        self.processes.pop(s.id, None)
        s.status = r["status"]
        s.finished_at = r["at"]
        s.duration = r.get("duration")
        s.exit_status = r.get("exit_status")
        s.message = r.get("message", "")
        s.output_tail = list(r.get("output_tail", []))
        s.lines = r.get("lines")
        if r.get("log_sha256"):
            s.log = f"logs/{s.id}.log"
            s.log_sha256 = r["log_sha256"]
            s.log_bytes = int(r.get("log_bytes", 0))
        s.captures.update(r.get("captures", {}))
        self.captures.update(r.get("captures", {}))
        self.secret_captures.update(r.get("secret_captures", []))
        if r.get("evidence"):
            s.evidence = dict(r["evidence"])
        if r.get("artifacts"):
            s.artifacts = list(r["artifacts"])
        if r.get("hints"):
            s.hints = list(r["hints"])

    def _on_step_waiting(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        s.status = StepStatus.WAITING
        s.started_at = s.started_at or r["at"]

    def _on_step_ticked_ahead(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        self.ahead[s.id] = {
            k: r[k] for k in ("action", "by", "note", "reason", "role", "at", "signed") if k in r
        }
        self.ahead[s.id]["checklist_sha256"] = self.checklist_sha256  # the version it answered
        s.ahead = f"{r.get('action', '')} by {r.get('by', '')}"

    def _on_step_ahead_dropped(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        self.ahead.pop(s.id, None)
        s.ahead = ""

    def _used_ahead(self, s: StepRecord, r: dict[str, Any]) -> None:
        self.ahead.pop(s.id, None)
        s.ahead = ""
        if r.get("ahead_at"):
            s.ticked_ahead_at = r["ahead_at"]

    def _on_step_ticked(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        self._used_ahead(s, r)
        result = r.get("result", StepStatus.PASSED)
        s.status = StepStatus.FAILED if result == StepStatus.FAILED else StepStatus.PASSED
        s.ticked_by = r.get("by", "")
        s.ticked_at = r["at"]
        s.finished_at = r["at"]
        if s.started_at and s.duration is None:
            s.duration = _seconds(s.started_at, r["at"])
        if r.get("note"):
            s.note = r["note"]
        if result == StepStatus.FAILED:
            s.message = r.get("note", "") or "failed by the person who ticked it"
        if r.get("role"):
            self.approvers[s.id] = f"{r.get('by', '')} ({r['role']})"
        self._signed(s, r)

    @staticmethod
    def _signed(s: StepRecord, r: dict[str, Any]) -> None:
        signed = r.get("signed")
        if isinstance(signed, dict):
            s.approval_signer = str(signed.get("signer", ""))
            s.approval_fingerprint = str(signed.get("fingerprint", ""))
            s.approval_key_type = str(signed.get("key_type", ""))

    def _on_step_skipped(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        self._used_ahead(s, r)
        self._signed(s, r)
        s.approval_skipped = bool(r.get("approval"))
        self.confirmation_asked.pop(s.id, None)
        s.status = StepStatus.SKIPPED
        s.skip_reason = r.get("reason", "")
        s.skipped_by = r.get("by", "")
        s.finished_at = r["at"]

    def _on_step_not_applicable(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        s.status = StepStatus.NOT_APPLICABLE
        s.message = r.get("reason", "")

    def _on_step_interrupted(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        s.status = StepStatus.INTERRUPTED
        s.message = r.get("reason", "interrupted")

    def _on_step_reset(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        s.status = StepStatus.PENDING
        s.message = ""

    def _on_confirmation_asked(self, r: dict[str, Any]) -> None:
        self.confirmation_asked[r["step"]] = str(r.get("command", ""))

    def _on_step_confirmed(self, r: dict[str, Any]) -> None:
        self.confirmed.add(r["step"])
        self.confirmation_asked.pop(r["step"], None)

    def _on_note_added(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        s.note = (s.note + "\n" if s.note else "") + r.get("note", "")

    def _on_failure_decision(self, r: dict[str, Any]) -> None:
        s = self._step(r)
        s.decision = r.get("decision", "")
        s.decision_reason = r.get("reason", "")


def approvers_after(pinned: Any, changed: dict[str, Any]) -> dict[str, Any] | None:
    """The approvers lists a run holds after a ``checklist_changed`` (use-new) record: the new
    checklist's list for each role it names, the pinned one for a role it does not (a new
    checklist never drops a signature requirement the run started with)."""
    before = dict(pinned) if isinstance(pinned, dict) else {}
    new = changed.get("approver_keys")
    if isinstance(new, dict):
        # a list is a table with its text (a damaged record's other values are no list)
        before.update((k, v) for k, v in new.items() if isinstance(v, dict) and "text" in v)
    return before or None


def _seconds(start: str, end: str) -> float:
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return 0.0
    return round((b - a).total_seconds(), 3)


def reduce(records: list[dict[str, Any]]) -> RunState:
    state = RunState()
    for rec in records:
        state.apply(rec)
    return state
