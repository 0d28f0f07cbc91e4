"""Per-host truth for steps on a host group: one record per (step, host).

A step on a group of hosts has one status in the report, but a rollout needs to know each
host's: which ran, which changed, which failed, how long each took, where its output is. These
records are folded from the journal like everything else (``state.py`` hands the ``host_*``
records here), so the live run, resume, exports and verify see the same per-host state.

Records (each written and fsync'ed before it is shown):

- ``host_started``  ``{step, host, attempt, batch}``
- ``host_finished`` ``{step, host, attempt, status, exit_status, duration, message, result,
  changed, log_sha256, log_bytes}`` — ``result`` is Ansible's word where there is one
  (ok / changed / failed / unreachable), ``changed`` whether the host was changed
- ``host_interrupted`` ``{step, host, reason}`` — in flight when the run stopped
- ``host_reset`` ``{step, host?}`` — the host (or every host of the step) runs again
- ``rollout_stopped`` ``{step?, phase?, failed, limit, reason}`` — past ``max_fail``
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from iact_tui.engine.status import StepStatus

HOST_RECORDS = frozenset(
    {"host_started", "host_finished", "host_interrupted", "host_reset", "rollout_stopped"}
)


def host_log_name(step: str, host: str) -> str:
    """The log of one host's part of a step, relative to the run folder."""
    return f"logs/{step}@{host}.log"


@dataclass
class HostRecord:
    step: str
    host: str
    status: str = StepStatus.PENDING
    attempts: int = 0
    batch: int | None = None
    started_at: str = ""
    finished_at: str = ""
    duration: float | None = None
    exit_status: int | None = None
    message: str = ""
    result: str = ""  # ok | changed | failed | unreachable (ansible), else passed | failed
    changed: bool | None = None
    log: str = ""
    log_sha256: str = ""
    log_bytes: int | None = None
    order: int = 0  # the n-th host started in the run (rollback goes backwards)

    def to_toml(self) -> dict[str, Any]:
        return {
            k: v for k, v in self.__dict__.items() if v not in (None, "", [], {}) and k != "order"
        }


@dataclass
class HostRecords:
    """The (step, host) records of a run, in the order the hosts were first started."""

    records: dict[tuple[str, str], HostRecord] = field(default_factory=dict)
    stopped: list[dict[str, Any]] = field(default_factory=list)  # rollout_stopped records
    _started: int = 0

    def apply(self, r: dict[str, Any]) -> bool:
        """Fold one record; False when it is not a per-host record."""
        kind = r.get("type")
        if kind not in HOST_RECORDS:
            return False
        if kind == "rollout_stopped":
            self.stopped.append(
                {k: v for k, v in r.items() if k not in ("seq", "hash", "prev", "type")}
            )
            return True
        step = str(r["step"])
        if kind == "host_reset" and not r.get("host"):
            for rec in self.for_step(step):
                rec.status = StepStatus.PENDING
                rec.message = ""
            return True
        rec = self._get(step, str(r["host"]))
        if kind == "host_started":
            rec.status = StepStatus.RUNNING
            rec.attempts = int(r.get("attempt", rec.attempts + 1))
            if r.get("batch") is not None:
                rec.batch = int(r["batch"])
            rec.started_at = rec.started_at or str(r.get("at", ""))
            rec.finished_at = ""
            rec.message = ""
            if not rec.order:
                self._started += 1
                rec.order = self._started
        elif kind == "host_finished":
            rec.status = str(r.get("status", StepStatus.FAILED))
            rec.finished_at = str(r.get("at", ""))
            rec.duration = r.get("duration")
            rec.exit_status = r.get("exit_status")
            rec.message = str(r.get("message", "") or "")
            rec.result = str(r.get("result", "") or rec.status)
            if r.get("changed") is not None:
                rec.changed = bool(r["changed"])
            if r.get("log_sha256"):
                rec.log = host_log_name(step, rec.host)
                rec.log_sha256 = str(r["log_sha256"])
                rec.log_bytes = int(r.get("log_bytes", 0) or 0)
        elif kind == "host_interrupted":
            rec.status = StepStatus.INTERRUPTED
            rec.message = str(r.get("reason", "interrupted"))
        elif kind == "host_reset":
            rec.status = StepStatus.PENDING
            rec.message = ""
        return True

    def _get(self, step: str, host: str) -> HostRecord:
        key = (step, host)
        if key not in self.records:
            self.records[key] = HostRecord(step, host)
        return self.records[key]

    # -- questions the runner, the front ends and the exports ask ---------------------------------

    def for_step(self, step: str) -> list[HostRecord]:
        return [r for (s, _), r in self.records.items() if s == step]

    def get(self, step: str, host: str) -> HostRecord | None:
        return self.records.get((step, host))

    def steps(self) -> list[str]:
        """The steps that have per-host records, in the order they first appear."""
        return list(dict.fromkeys(s for s, _ in self.records))

    def hosts(self) -> list[str]:
        """Every host with a record, in the order first started."""
        ordered = sorted(self.records.values(), key=lambda r: r.order or 1 << 30)
        return list(dict.fromkeys(r.host for r in ordered))

    def finished(self, step: str) -> set[str]:
        """The hosts that finished the step (passed): a resume does not run them again."""
        return {r.host for r in self.for_step(step) if r.status == StepStatus.PASSED}

    def counts(self, step: str) -> dict[str, int]:
        """Status -> number of hosts, for the step's row ("2/3 passed, 1 failed")."""
        return dict(Counter(str(r.status) for r in self.for_step(step)))

    def summary(self, step: str, total: int | None = None) -> str:
        """One line: "2/3 passed, 1 failed" (``total``: hosts in the group, records or not)."""
        counts = self.counts(step)
        n = total if total is not None else sum(counts.values())
        passed = counts.get(StepStatus.PASSED, 0)
        rest = [f"{v} {k}" for k, v in sorted(counts.items()) if k != StepStatus.PASSED]
        return ", ".join([f"{passed}/{n} passed", *rest])

    def step_status(self, step: str, total: int) -> str | None:
        """The step's status as its hosts summarise it (None: no per-host record): running while
        any host runs, failed when any failed, interrupted when any was, passed when all passed."""
        recs = self.for_step(step)
        if not recs:
            return None
        states = {str(r.status) for r in recs}
        for status in (StepStatus.RUNNING, StepStatus.FAILED, StepStatus.INTERRUPTED):
            if status in states:
                return status
        if states == {StepStatus.PASSED} and len(recs) >= total:
            return StepStatus.PASSED
        return StepStatus.PENDING

    def changed_hosts(self, steps: list[str] | None = None) -> list[str]:
        """Hosts that a step (of ``steps``) may have changed — started, whatever the result —
        newest first: the rollback's order, the last batch first."""
        recs = [
            r
            for r in self.records.values()
            if (steps is None or r.step in steps) and r.attempts > 0 and r.changed is not False
        ]
        recs.sort(key=lambda r: ((r.batch if r.batch is not None else -1), r.order), reverse=True)
        return list(dict.fromkeys(r.host for r in recs))

    def grid(self, steps: list[str]) -> tuple[list[str], list[list[str]]]:
        """The host × step grid for exports: (hosts, one row of statuses per host; "" = none)."""
        hosts = self.hosts()
        rows = []
        for host in hosts:
            row = []
            for step in steps:
                rec = self.records.get((step, host))
                row.append(
                    ""
                    if rec is None
                    else (
                        rec.result if rec.result in ("changed", "unreachable") else str(rec.status)
                    )
                )
            rows.append(row)
        return hosts, rows

    @classmethod
    def from_toml(cls, tables: list[dict[str, Any]]) -> HostRecords:
        """Read back the ``[[host_steps]]`` tables of report.toml (in the order written: the order
        the hosts were first started), e.g. to describe a run without folding its events."""
        fleet = cls()
        names = set(HostRecord.__dataclass_fields__) - {"order"}
        for n, table in enumerate(tables, start=1):
            fields = {
                k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in table.items()
                if k in names
            }
            rec = HostRecord(**fields)
            rec.order = n
            fleet.records[(rec.step, rec.host)] = rec
        fleet._started = len(fleet.records)
        return fleet

    def to_toml(self) -> list[dict[str, Any]]:
        """The ``[[host_steps]]`` tables of report.toml."""
        return [
            r.to_toml()
            for r in sorted(self.records.values(), key=lambda r: (r.order or 1 << 30, r.step))
        ]


__all__ = ["HOST_RECORDS", "HostRecord", "HostRecords", "host_log_name"]
