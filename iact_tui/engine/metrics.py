"""DORA metrics from the run history (the seed's "Métricas de Deployment"; docs/metrics.md).

Everything here is read from the run folders' records, never from memory or a guess:

- **Deployment frequency**: runs that finished ``succeeded`` per ISO week, and their average
  over the window (every ISO week the window touches counts, empty ones too).
- **Lead time** (commit to staging): from the deployed commit's commit time to the successful
  run's finish. A run knows its commit time only when it captured ``deploy_commit_time``
  (ISO 8601, or unix seconds); otherwise its lead time is *unknown*, and said to be.
- **Change failure rate**: deployments that needed a rollback / deployments. A deployment is a
  run that finished ``succeeded`` or ``rolled_back``, or finished ``failed`` / ``aborted``
  after running a step of the deploy phase (or after starting a rollback). Runs that never got
  that far, and runs that have not finished (paused, interrupted, still running), are excluded
  and listed as excluded.
- **MTTR**: for runs that finished ``rolled_back``, from the failure that led to the rollback
  (the first failure of the step the rollback was started from; else the first failure of a
  step that stayed failed; else the rollback's start) to the rollback verified (the finish).

Each checklist is measured on its own (a staging and a production checklist do not mix),
against the ``[targets]`` of its newest run's pinned checklist. A run's date is when it
finished, or when it started for a run that has not finished.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from iact_tui.engine.checklist.model import Targets
from iact_tui.engine.errors import IactError
from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.record.store import PINNED, ReportError, RunLock, read_records
from iact_tui.engine.status import RunStatus, StepStatus

DEPLOY_PHASE = "deploy"
COMMIT_CAPTURE = "deploy_commit"
COMMIT_TIME_CAPTURE = "deploy_commit_time"

# Records that mean a step actually did something (a started command, a person's tick).
_STEP_RAN = ("step_started", "step_finished", "step_ticked")

FREQUENCY = "deployment_frequency_per_week"
LEAD_TIME = "lead_time_hours"
FAILURE_RATE = "change_failure_rate"
MTTR = "mttr_minutes"


class DateError(IactError, ValueError):
    """A --since/--until value that is not a date; the message says what is expected."""


def parse_date(text: str, *, end_of_day: bool = False) -> datetime:
    """A bound of the window: ``YYYY-MM-DD`` (the whole day, UTC) or an ISO 8601 time."""
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
        if not re.match(r"\d{4}-\d{2}-\d{2}[T ]", value):
            raise ValueError(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise DateError(
            f"'{text}' is not a date; use YYYY-MM-DD or an ISO 8601 time such as 2025-11-17T14:00:00Z"
        ) from None
    return _aware(moment)


def parse_commit_time(value: Any) -> datetime | None:
    """A commit time as git prints it: ``%cI`` (ISO 8601) or ``%ct`` (unix seconds)."""
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        return None


def _aware(moment: datetime) -> datetime:
    # A time without an offset is taken as UTC, the zone every run record is written in.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def week_monday(moment: datetime) -> date:
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


# -- one run --------------------------------------------------------------------------------


@dataclass
class RunFacts:
    """One run as the metrics see it."""

    run_id: str
    folder: Path
    checklist_id: str
    checklist_title: str
    status: str  # the run's status; RunStatus.INTERRUPTED for a run left running by a dead process
    started_at: datetime
    finished_at: datetime | None
    reached_deploy: bool  # a step of the deploy phase ran
    rollback: bool  # a rollback was started (or the run finished rolled back)
    deployment: bool  # counts in the change failure rate
    excluded: str = ""  # why the run is not a deployment ("" when it is one)
    deploy_commit: str = ""
    lead_time_seconds: float | None = None
    lead_time_unknown: str = ""  # why a successful run has no lead time
    recovery_seconds: float | None = None  # failure seen to rollback verified
    recovery_from: str = ""  # what the recovery is measured from, in words

    @property
    def at(self) -> datetime:
        return self.finished_at or self.started_at

    @property
    def succeeded(self) -> bool:
        return self.status == RunStatus.SUCCEEDED

    @property
    def change_failure(self) -> bool:
        return self.deployment and self.rollback

    @property
    def lead_time_hours(self) -> float | None:
        return None if self.lead_time_seconds is None else self.lead_time_seconds / 3600

    @property
    def recovery_minutes(self) -> float | None:
        return None if self.recovery_seconds is None else self.recovery_seconds / 60


def _time(value: str) -> datetime | None:
    return _aware(datetime.fromisoformat(value)) if value else None


def run_facts(
    folder: Path,
    records: list[dict[str, Any]],
    *,
    live: bool = False,
    deploy_phase: str = DEPLOY_PHASE,
) -> RunFacts:
    """What the metrics need of one run, from its records."""
    state = reduce(records)
    status = state.status
    if status == RunStatus.RUNNING and not live:
        status = RunStatus.INTERRUPTED
    started = _time(state.started_at)
    assert started is not None  # every readable run starts with run_created
    finished = (
        _time(state.finished_at)
        if status not in (RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.INTERRUPTED)
        else None
    )
    deploy_steps = {sid for sid, s in state.steps.items() if s.phase == deploy_phase}
    reached_deploy = any(r["type"] in _STEP_RAN and r.get("step") in deploy_steps for r in records)
    rollback = state.rollback_started or status == RunStatus.ROLLED_BACK
    facts = RunFacts(
        run_id=state.run_id or folder.name,
        folder=folder,
        checklist_id=str(state.info.get("checklist_id", "")),
        checklist_title=str(state.info.get("checklist_title", "")),
        status=status,
        started_at=started,
        finished_at=finished,
        reached_deploy=reached_deploy,
        rollback=rollback,
        deployment=False,
        deploy_commit=str(state.captures.get(COMMIT_CAPTURE, "")),
    )
    facts.excluded = _exclusion(facts)
    facts.deployment = not facts.excluded
    if facts.succeeded and finished is not None:
        _lead_time(facts, state, finished)
    if status == RunStatus.ROLLED_BACK and finished is not None:
        _recovery(facts, state, records, finished)
    return facts


def _exclusion(f: RunFacts) -> str:
    if f.status in (RunStatus.SUCCEEDED, RunStatus.ROLLED_BACK):
        return ""
    if f.status in (RunStatus.FAILED, RunStatus.ABORTED):
        if f.reached_deploy or f.rollback:
            return ""
        return f"{f.status} before the deploy phase"
    if f.status == RunStatus.PAUSED:
        return "paused, not finished"
    if f.status == RunStatus.INTERRUPTED:
        return "interrupted, not finished (resume it to count it)"
    if f.status == RunStatus.RUNNING:
        return "still running"
    return f"status {f.status!r} is not one the metrics know"


def _lead_time(f: RunFacts, state: RunState, finished: datetime) -> None:
    raw = state.captures.get(COMMIT_TIME_CAPTURE)
    if raw is None:
        raw = state.info.get("variables", {}).get(COMMIT_TIME_CAPTURE)
    if raw is None or str(raw).strip() == "":
        f.lead_time_unknown = f"the run did not capture {COMMIT_TIME_CAPTURE}"
        return
    committed = parse_commit_time(raw)
    if committed is None:
        f.lead_time_unknown = (
            f"{COMMIT_TIME_CAPTURE} {str(raw)!r} is not a time (ISO 8601 or unix seconds)"
        )
        return
    seconds = (finished - committed).total_seconds()
    if seconds < 0:
        f.lead_time_unknown = f"{COMMIT_TIME_CAPTURE} {raw} is after the run finished"
        return
    f.lead_time_seconds = seconds


def _failures(records: Iterable[dict[str, Any]]) -> list[tuple[datetime, str]]:
    out: list[tuple[datetime, str]] = []
    for r in records:
        failed = (r["type"] == "step_finished" and r.get("status") == StepStatus.FAILED) or (
            r["type"] == "step_ticked" and r.get("result") == StepStatus.FAILED
        )
        if failed:
            at = _time(r["at"])
            assert at is not None
            out.append((at, str(r.get("step", ""))))
    return out


def _recovery(
    f: RunFacts, state: RunState, records: list[dict[str, Any]], finished: datetime
) -> None:
    start_index = next((i for i, r in enumerate(records) if r["type"] == "rollback_started"), None)
    if start_index is None:  # rolled back without a recorded start: nothing to measure from
        return
    rollback = records[start_index]
    failures = _failures(records[:start_index])
    from_step = rollback.get("step")
    # A failure that was retried until it passed, or that the operator chose to go past, did not
    # lead to the rollback; the step the rollback started from, or one left failed, did.
    still_failed = {
        sid
        for sid, s in state.steps.items()
        if s.status == StepStatus.FAILED and s.decision != "continue" and not s.rollback
    }
    chosen = next((x for x in failures if from_step and x[1] == from_step), None)
    if chosen is None:
        chosen = next((x for x in failures if x[1] in still_failed), None)
    if chosen is not None:
        began, f.recovery_from = chosen[0], f"failure of step {chosen[1]}"
    else:
        began = _time(rollback["at"]) or finished
        f.recovery_from = "rollback start (no failed step recorded)"
    seconds = (finished - began).total_seconds()
    if seconds >= 0:
        f.recovery_seconds = seconds


# -- the history ------------------------------------------------------------------------------


def collect_runs(
    runs_dir: Path, *, deploy_phase: str = DEPLOY_PHASE
) -> tuple[list[RunFacts], list[tuple[str, str]]]:
    """Every readable run's facts, and (folder name, reason) for each run that cannot be read."""
    runs: list[RunFacts] = []
    unreadable: list[tuple[str, str]] = []
    if not runs_dir.is_dir():
        return runs, unreadable
    for folder in sorted(d for d in runs_dir.iterdir() if d.is_dir()):
        try:
            records = read_records(folder)
            runs.append(
                run_facts(folder, records, live=RunLock.is_held(folder), deploy_phase=deploy_phase)
            )
        except ReportError as exc:
            unreadable.append((folder.name, str(exc)))
        except OSError as exc:
            unreadable.append((folder.name, f"{folder} cannot be read: {exc.strerror or exc}"))
        except (
            KeyError,
            ValueError,
            TypeError,
        ) as exc:  # records that pass the chain but not the shape
            unreadable.append(
                (folder.name, f"{folder}: a record is not in the expected shape ({exc})")
            )
    return runs, unreadable


@dataclass
class WeekPoint:
    """One ISO week of a checklist's history (a bar of the metrics chart)."""

    week: str  # "2025-W47"
    monday: date
    runs: int = 0  # every run dated in the week: the attempts
    succeeded: int = 0  # runs that reached staging successfully
    deployments: int = 0  # runs that count in the change failure rate
    change_failures: int = 0  # deployments that needed a rollback
    lead_time_hours: float | None = None  # median over the week's successful runs that know it
    mttr_minutes: float | None = None  # mean over the week's rolled back runs

    @property
    def change_failure_rate(self) -> float | None:
        return self.change_failures / self.deployments if self.deployments else None


@dataclass
class Metric:
    name: str  # FREQUENCY, LEAD_TIME, FAILURE_RATE or MTTR
    value: float | None  # None: no data
    target: float | None
    at_least: bool  # the target is a floor (frequency), else a ceiling (strictly below)
    samples: int  # how many runs the value is computed from
    detail: str = ""

    @property
    def result(self) -> str:
        if self.value is None:
            return "no data"
        if self.target is None:
            return "no target"
        met = self.value >= self.target if self.at_least else self.value < self.target
        return "met" if met else "missed"


@dataclass
class ChecklistMetrics:
    checklist_id: str
    title: str
    window_start: datetime
    window_end: datetime
    targets: Targets
    targets_from: str  # where the targets come from, in words
    runs: list[RunFacts]  # oldest first
    weeks: list[WeekPoint]
    metrics: dict[str, Metric] = field(default_factory=dict)

    @property
    def excluded(self) -> list[RunFacts]:
        return [r for r in self.runs if r.excluded]


@dataclass
class MetricsReport:
    runs_dir: Path
    since: datetime | None
    until: datetime | None
    checklist_id: str | None
    runs_found: int  # readable runs in the folder, before any filter
    checklists: list[ChecklistMetrics]
    unreadable: list[tuple[str, str]]


def _weeks_between(start: datetime, end: datetime) -> list[WeekPoint]:
    first, last = week_monday(start), week_monday(end)
    count = (last - first).days // 7 + 1
    out = []
    for i in range(count):
        monday = first + timedelta(weeks=i)
        year, week, _ = monday.isocalendar()
        out.append(WeekPoint(f"{year}-W{week:02d}", monday))
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _targets_of(runs: list[RunFacts]) -> tuple[Targets, str]:
    from iact_tui.engine.checklist.load import parse_checklist
    from iact_tui.engine.checklist.problems import ChecklistError

    for run in sorted(runs, key=lambda r: r.at, reverse=True):
        pinned = run.folder / PINNED
        try:
            loaded = parse_checklist(pinned.read_bytes(), str(pinned), pinned=True)
        except (OSError, ChecklistError):
            continue
        version = loaded.checklist.checklist.version
        return (
            loaded.checklist.targets,
            f"the checklist pinned by run {run.run_id} (version {version})",
        )
    return Targets(), "no run's pinned checklist could be read; no targets"


def _measure(
    checklist_id: str,
    runs: list[RunFacts],
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> ChecklistMetrics:
    runs = sorted(runs, key=lambda r: (r.at, r.run_id))
    start = since or runs[0].at
    end = until or max(now, runs[-1].at)
    end = max(end, start)
    weeks = _weeks_between(start, end)
    by_week = {w.week: w for w in weeks}
    for run in runs:
        point = by_week[iso_week(run.at)]
        point.runs += 1
        point.succeeded += run.succeeded
        point.deployments += run.deployment
        point.change_failures += run.change_failure
    for point in weeks:
        in_week = [r for r in runs if iso_week(r.at) == point.week]
        point.lead_time_hours = _median(
            [h for r in in_week if (h := r.lead_time_hours) is not None]
        )
        point.mttr_minutes = _mean([m for r in in_week if (m := r.recovery_minutes) is not None])

    targets, targets_from = _targets_of(runs)
    title = runs[-1].checklist_title
    succeeded = [r for r in runs if r.succeeded]
    leads = [h for r in succeeded if (h := r.lead_time_hours) is not None]
    deployments = [r for r in runs if r.deployment]
    failures = [r for r in deployments if r.change_failure]
    recoveries = [m for r in runs if (m := r.recovery_minutes) is not None]
    rolled_back = [r for r in runs if r.status == RunStatus.ROLLED_BACK]

    metrics = {
        FREQUENCY: Metric(
            FREQUENCY,
            len(succeeded) / len(weeks),
            targets.deployment_frequency_per_week,
            True,
            len(succeeded),
            f"{len(succeeded)} successful of {len(runs)} runs in {len(weeks)} weeks",
        ),
        LEAD_TIME: Metric(
            LEAD_TIME,
            _median(leads),
            targets.lead_time_hours,
            False,
            len(leads),
            f"median of {len(leads)} of {len(succeeded)} successful runs"
            + (
                f"; unknown for {len(succeeded) - len(leads)}"
                if len(leads) < len(succeeded)
                else ""
            ),
        ),
        FAILURE_RATE: Metric(
            FAILURE_RATE,
            len(failures) / len(deployments) if deployments else None,
            targets.change_failure_rate,
            False,
            len(deployments),
            f"{len(failures)} of {len(deployments)} deployments needed a rollback",
        ),
        MTTR: Metric(
            MTTR,
            _mean(recoveries),
            targets.mttr_minutes,
            False,
            len(recoveries),
            f"mean of {len(recoveries)} verified rollbacks"
            + (
                f" ({len(rolled_back) - len(recoveries)} without a measurable recovery)"
                if len(recoveries) < len(rolled_back)
                else ""
            ),
        ),
    }
    return ChecklistMetrics(
        checklist_id, title, start, end, targets, targets_from, runs, weeks, metrics
    )


def compute_metrics(
    runs_dir: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    checklist_id: str | None = None,
    now: datetime | None = None,
    deploy_phase: str = DEPLOY_PHASE,
) -> MetricsReport:
    """The metrics of every checklist with runs in the window (by default: its first run to now)."""
    if since is not None and until is not None and since > until:
        raise DateError(f"the window is empty: {since.isoformat()} is after {until.isoformat()}")
    now = now or datetime.now(UTC)
    runs, unreadable = collect_runs(runs_dir, deploy_phase=deploy_phase)
    chosen = [
        r
        for r in runs
        if (checklist_id is None or r.checklist_id == checklist_id)
        and (since is None or r.at >= since)
        and (until is None or r.at <= until)
    ]
    groups: dict[str, list[RunFacts]] = {}
    for run in chosen:
        groups.setdefault(run.checklist_id, []).append(run)
    checklists = [_measure(cid, group, since, until, now) for cid, group in sorted(groups.items())]
    return MetricsReport(runs_dir, since, until, checklist_id, len(runs), checklists, unreadable)


def weekly_series(
    runs_dir: Path,
    *,
    checklist_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, list[WeekPoint]]:
    """Per checklist id, one point per ISO week of the window, empty weeks included (a chart)."""
    report = compute_metrics(runs_dir, since=since, until=until, checklist_id=checklist_id, now=now)
    return {c.checklist_id: c.weeks for c in report.checklists}


# -- machine-readable form --------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def report_dict(report: MetricsReport) -> dict[str, Any]:
    """The report as plain JSON-ready data (the ``--format json`` output)."""
    return {
        "runs_dir": str(report.runs_dir),
        "since": _iso(report.since),
        "until": _iso(report.until),
        "checklist": report.checklist_id,
        "runs_found": report.runs_found,
        "checklists": [_checklist_dict(c) for c in report.checklists],
        "unreadable": [{"run": name, "error": why} for name, why in report.unreadable],
    }


def _checklist_dict(c: ChecklistMetrics) -> dict[str, Any]:
    return {
        "checklist_id": c.checklist_id,
        "title": c.title,
        "window": {"start": _iso(c.window_start), "end": _iso(c.window_end), "weeks": len(c.weeks)},
        "targets": c.targets.model_dump(),
        "targets_from": c.targets_from,
        "metrics": {
            name: {
                "value": m.value,
                "target": m.target,
                "comparison": ">=" if m.at_least else "<",
                "result": m.result,
                "samples": m.samples,
                "detail": m.detail,
            }
            for name, m in c.metrics.items()
        },
        "weeks": [
            {
                "week": w.week,
                "monday": w.monday.isoformat(),
                "runs": w.runs,
                "succeeded": w.succeeded,
                "deployments": w.deployments,
                "change_failures": w.change_failures,
                "change_failure_rate": w.change_failure_rate,
                "lead_time_hours": w.lead_time_hours,
                "mttr_minutes": w.mttr_minutes,
            }
            for w in c.weeks
        ],
        "runs": [
            {
                "id": r.run_id,
                "status": r.status,
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at),
                "week": iso_week(r.at),
                "deployment": r.deployment,
                "excluded": r.excluded or None,
                "reached_deploy": r.reached_deploy,
                "rollback": r.rollback,
                "deploy_commit": r.deploy_commit or None,
                "lead_time_hours": r.lead_time_hours,
                "lead_time_unknown": r.lead_time_unknown or None,
                "recovery_minutes": r.recovery_minutes,
                "recovery_from": r.recovery_from or None,
            }
            for r in c.runs
        ],
    }


# -- how the front ends write the metrics ------------------------------------------------------

LABELS = {
    FREQUENCY: "deployment frequency",
    LEAD_TIME: "lead time (median)",
    FAILURE_RATE: "change failure rate",
    MTTR: "MTTR (mean)",
}


def _num(value: float) -> str:
    """At most two decimals, no trailing zeros: 2, 1.5, 0.33."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def value_text(name: str, value: float | None) -> str:
    """A metric's value with its unit, as the CLI and the TUI show it."""
    if value is None:
        return "-"
    if name == FREQUENCY:
        return f"{_num(value)}/week"
    if name == LEAD_TIME:
        return f"{_num(value)} h"
    if name == FAILURE_RATE:
        return f"{_num(value * 100)} %"
    return f"{_num(value)} min"
