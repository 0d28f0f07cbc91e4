"""DORA metrics (`iact-tui metrics`) from a recorded run history, against numbers worked out by
hand below.

The history is written through the real RunStore with each record's time fixed, so the report
files, their hash chains and the pinned checklists are exactly what a real run leaves behind.

Weeks (ISO, UTC): W45 = Mon 2025-11-03 .. Sun 11-09, W46 = 11-10 .. 11-16, W47 = 11-17 .. 11-23.

METRICS-001 (targets: >= 5/week, < 10 %, < 10 min, < 24 h):

  run  week  what happens                                           date (UTC)        counts as
  r01  W45   succeeded, commit 08:00 (ISO), finish 10:30            11-03 10:30       deployment, lead 2.5 h
  r02  W45   succeeded, commit 11-04 15:00 (unix s), finish 11-05   11-05 15:00       deployment, lead 24 h
  r03  W45   failed in the pre-checks                               11-04 09:05       excluded
  r04  W46   succeeded, no deploy_commit_time                       11-12 11:00       deployment, lead unknown
  r05  W46   health fails 14:10 (and 14:11 on retry), rollback      11-12 14:16       rollback, recovery 6 min
             from it; an earlier pre-check failure was retried OK
  r06  W47   a pre-check fails 09:02 and the checklist continues;   11-18 09:30       rollback, recovery 20 min
             health fails 09:10, run stops; resumed --rollback
  r07  W47   the deploy step fails, run stops (no rollback)         11-19 10:02       deployment
  r08  W47   interrupted while pulling (no finish)                  11-19 12:00 start excluded
  r09  W47   aborted during the pre-checks                          11-20 08:05       excluded
  r10  W47   paused waiting for a person                            11-20 09:00 start excluded
  r11  W47   rollback asked by the operator (no failure)            11-21 10:10       rollback, recovery 4 min
  r12  W47   aborted after the deploy step ran                      11-22 10:03       deployment

  window 11-03 .. 11-23 = 3 weeks; 3 succeeded -> 1 / week (missed)
  lead time: median(2.5, 24) = 13.25 h (met), 1 unknown
  deployments: r01 r02 r04 r05 r06 r07 r11 r12 = 8, rollbacks r05 r06 r11 = 3 -> 3/8 = 0.375 (missed)
  MTTR: mean(6, 20, 4) = 10 min -> missed (the target is strictly below 10)

OTHER-001 (no targets): o1 succeeded 11-10 10:00, commit "2025-11-10T09:00:00+01:00" -> 2 h;
o2 succeeded 11-11 10:00, commit "last tuesday" -> unknown.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from iact_tui.cli import main
from iact_tui.engine.checklist.load import parse_checklist
from iact_tui.engine.metrics import (
    FAILURE_RATE,
    FREQUENCY,
    LEAD_TIME,
    MTTR,
    compute_metrics,
    parse_commit_time,
    parse_date,
    weekly_series,
)
from iact_tui.engine.record import store as store_module
from iact_tui.engine.record.store import RunStore, read_records
from iact_tui.engine.run.plan import plan_of

CHECKLIST = """\
schema_version = 1

[checklist]
id = "METRICS-001"
title = "Deploy to staging"
version = "1.2.0"

[[phases]]
id = "pre"
title = "Pre-deployment checks"

[[phases.steps]]
id = "ci-green"
kind = "local"
run = "true"

[[phases]]
id = "deploy"
title = "Deployment"

[[phases.steps]]
id = "pull"
kind = "local"
run = "git pull"

[[phases]]
id = "verify"
title = "Verification"

[[phases.steps]]
id = "health"
kind = "local"
run = "curl -fsS http://127.0.0.1:8000/api/health"

[[phases.steps]]
id = "ui-check"
kind = "manual"

[[phases]]
id = "rollback"
title = "Rollback"
rollback = true

[[phases.steps]]
id = "revert"
kind = "local"
run = "git checkout HEAD~1"

[targets]
deployment_frequency_per_week = 5
change_failure_rate = 0.10
mttr_minutes = 10
lead_time_hours = 24
"""

OTHER = CHECKLIST.replace('id = "METRICS-001"', 'id = "OTHER-001"').split("[targets]")[0]

UNTIL_FLAGS = ["--since", "2025-11-03", "--until", "2025-11-23"]
NOW = datetime(2025, 11, 23, 12, 0, tzinfo=UTC)


def t(day: int, hhmm: str) -> str:
    return f"2025-11-{day:02d}T{hhmm}:00+00:00"


class Run:
    """Writes one run through RunStore, each record at the time given."""

    def __init__(self, runs_dir: Path, run_id: str, at: str, checklist: str = CHECKLIST) -> None:
        loaded = parse_checklist(checklist.encode())
        info = loaded.checklist.checklist
        created = {
            "checklist_id": info.id,
            "checklist_title": info.title,
            "checklist_version": info.version,
            "checklist_sha256": loaded.sha256,
            "operator": "alice",
            "mode": "headless",
            "variables": {},
            "plan": plan_of(loaded.checklist),
        }
        with _clock(at):
            self.store = RunStore.create(runs_dir, run_id, checklist, created)

    def add(self, at: str, type_: str, **fields: Any) -> Run:
        with _clock(at):
            self.store.append(type_, **fields)
        return self

    def step(self, start: str, end: str, step: str, status: str = "passed", **fields: Any) -> Run:
        attempt = self.store.state.steps[step].attempts + 1
        self.add(start, "step_started", step=step, attempt=attempt, command=step)
        return self.add(end, "step_finished", step=step, attempt=attempt, status=status, **fields)

    def finish(self, at: str, status: str) -> Path:
        self.add(at, "run_finished", status=status)
        return self.close()

    def close(self) -> Path:
        self.store.close()
        return self.store.folder


class _clock:
    def __init__(self, at: str) -> None:
        self.at = at

    def __enter__(self) -> None:
        self.saved = store_module.now
        store_module.now = lambda: self.at

    def __exit__(self, *exc: object) -> None:
        store_module.now = self.saved


def unix(day: int, hour: int) -> str:
    return str(int(datetime(2025, 11, day, hour, tzinfo=UTC).timestamp()))


def build_history(runs_dir: Path) -> None:
    ok = "passed"
    # W45
    (Run(runs_dir, "r01", t(3, "10:00")).step(t(3, "10:01"), t(3, "10:02"), "ci-green")
     .step(t(3, "10:05"), t(3, "10:10"), "pull",
           captures={"deploy_commit": "a1b2c3d", "deploy_commit_time": "2025-11-03T08:00:00+00:00"})
     .step(t(3, "10:20"), t(3, "10:21"), "health").add(t(3, "10:25"), "step_ticked", step="ui-check", by="bob")
     .finish(t(3, "10:30"), "succeeded"))
    (Run(runs_dir, "r02", t(5, "14:00"))
     .step(t(5, "14:05"), t(5, "14:10"), "pull",
           captures={"deploy_commit": "b2c3d4e", "deploy_commit_time": unix(4, 15)})
     .finish(t(5, "15:00"), "succeeded"))
    (Run(runs_dir, "r03", t(4, "09:00")).step(t(4, "09:01"), t(4, "09:02"), "ci-green", status="failed")
     .finish(t(4, "09:05"), "failed"))
    # W46
    (Run(runs_dir, "r04", t(12, "10:00")).step(t(12, "10:05"), t(12, "10:10"), "pull",
                                              captures={"deploy_commit": "c3d4e5f"})
     .finish(t(12, "11:00"), "succeeded"))
    (Run(runs_dir, "r05", t(12, "14:00"))
     .step(t(12, "14:01"), t(12, "14:01"), "ci-green", status="failed", will_retry=True)
     .step(t(12, "14:02"), t(12, "14:02"), "ci-green", status=ok)
     .step(t(12, "14:04"), t(12, "14:05"), "pull")
     .step(t(12, "14:09"), t(12, "14:10"), "health", status="failed", will_retry=True)
     .step(t(12, "14:10"), t(12, "14:11"), "health", status="failed")
     .add(t(12, "14:12"), "failure_decision", step="health", decision="rollback", by="alice")
     .add(t(12, "14:12"), "rollback_started", reason="health failed", by="alice", step="health")
     .add(t(12, "14:12"), "step_not_applicable", step="ui-check", reason="rollback started")
     .step(t(12, "14:13"), t(12, "14:15"), "revert")
     .finish(t(12, "14:16"), "rolled_back"))
    # W47
    (Run(runs_dir, "r06", t(18, "09:00"))
     .step(t(18, "09:01"), t(18, "09:02"), "ci-green", status="failed")
     .add(t(18, "09:02"), "failure_decision", step="ci-green", decision="continue", by="checklist")
     .step(t(18, "09:04"), t(18, "09:05"), "pull")
     .step(t(18, "09:09"), t(18, "09:10"), "health", status="failed")
     .add(t(18, "09:11"), "run_finished", status="failed")
     .add(t(18, "09:20"), "run_resumed", by="alice", mode="headless")
     .add(t(18, "09:20"), "rollback_started", reason="rollback requested on resume", by="alice")
     .step(t(18, "09:21"), t(18, "09:25"), "revert")
     .finish(t(18, "09:30"), "rolled_back"))
    (Run(runs_dir, "r07", t(19, "09:55")).step(t(19, "10:00"), t(19, "10:01"), "pull", status="failed")
     .finish(t(19, "10:02"), "failed"))
    Run(runs_dir, "r08", t(19, "12:00")).add(t(19, "12:01"), "step_started", step="pull", attempt=1).close()
    (Run(runs_dir, "r09", t(20, "08:00")).step(t(20, "08:01"), t(20, "08:02"), "ci-green")
     .add(t(20, "08:04"), "run_aborted", reason="wrong branch", by="alice")
     .finish(t(20, "08:05"), "aborted"))
    (Run(runs_dir, "r10", t(20, "09:00")).add(t(20, "09:00"), "step_waiting", step="ui-check")
     .add(t(20, "09:01"), "run_paused", reason="waiting for a person").close())
    (Run(runs_dir, "r11", t(21, "10:00")).step(t(21, "10:01"), t(21, "10:05"), "pull")
     .add(t(21, "10:05"), "step_waiting", step="ui-check")
     .add(t(21, "10:06"), "rollback_started", reason="the page looks wrong", by="bob", step="ui-check")
     .step(t(21, "10:07"), t(21, "10:09"), "revert")
     .finish(t(21, "10:10"), "rolled_back"))
    (Run(runs_dir, "r12", t(22, "10:00")).step(t(22, "10:01"), t(22, "10:02"), "pull")
     .add(t(22, "10:02"), "run_aborted", reason="operator stopped it", by="alice")
     .finish(t(22, "10:03"), "aborted"))
    # another checklist, without targets
    (Run(runs_dir, "o1", t(10, "09:30"), OTHER)
     .step(t(10, "09:31"), t(10, "09:40"), "pull", captures={"deploy_commit_time": "2025-11-10T09:00:00+01:00"})
     .finish(t(10, "10:00"), "succeeded"))
    (Run(runs_dir, "o2", t(11, "09:30"), OTHER)
     .step(t(11, "09:31"), t(11, "09:40"), "pull", captures={"deploy_commit_time": "last tuesday"})
     .finish(t(11, "10:00"), "succeeded"))
    # a folder that is not a readable run
    broken = runs_dir / "r99-broken"
    broken.mkdir()
    (broken / "report.toml").write_text("this is [not toml\n")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built once: every test only reads it.
    runs_dir = tmp_path_factory.mktemp("history") / "runs"
    build_history(runs_dir)
    return runs_dir


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["metrics", *args])


# -- the engine -------------------------------------------------------------------------------


def test_history_is_written_with_valid_chains(history: Path) -> None:
    records = read_records(history / "r05")
    assert records[0]["at"] == t(12, "14:00")
    assert records[-1]["type"] == "run_finished" and records[-1]["at"] == t(12, "14:16")


def test_metrics_over_three_weeks_match_the_hand_computation(history: Path) -> None:
    report = compute_metrics(history, checklist_id="METRICS-001", since=parse_date("2025-11-03"),
                             until=parse_date("2025-11-23", end_of_day=True), now=NOW)
    assert report.runs_found == 14
    assert [name for name, _ in report.unreadable] == ["r99-broken"]
    [c] = report.checklists
    assert c.checklist_id == "METRICS-001" and c.title == "Deploy to staging"
    assert "r12" in c.targets_from and "1.2.0" in c.targets_from
    m = c.metrics
    assert (m[FREQUENCY].value, m[FREQUENCY].target, m[FREQUENCY].result) == (1.0, 5, "missed")
    assert (m[LEAD_TIME].value, m[LEAD_TIME].samples, m[LEAD_TIME].result) == (13.25, 2, "met")
    assert (m[FAILURE_RATE].value, m[FAILURE_RATE].samples, m[FAILURE_RATE].result) == (3 / 8, 8, "missed")
    assert (m[MTTR].value, m[MTTR].samples, m[MTTR].result) == (10.0, 3, "missed")

    runs = {r.run_id: r for r in c.runs}
    assert runs["r01"].lead_time_hours == 2.5
    assert runs["r02"].lead_time_hours == 24.0
    assert runs["r04"].lead_time_hours is None
    assert runs["r04"].lead_time_unknown == "the run did not capture deploy_commit_time"
    assert runs["r01"].deploy_commit == "a1b2c3d"
    assert {k: runs[k].recovery_minutes for k in ("r05", "r06", "r11")} == {"r05": 6.0, "r06": 20.0, "r11": 4.0}
    assert runs["r05"].recovery_from == "failure of step health"
    assert runs["r06"].recovery_from == "failure of step health"
    assert runs["r11"].recovery_from == "rollback start (no failed step recorded)"
    assert {r.run_id: r.excluded for r in c.excluded} == {
        "r03": "failed before the deploy phase",
        "r08": "interrupted, not finished (resume it to count it)",
        "r09": "aborted before the deploy phase",
        "r10": "paused, not finished",
    }
    assert sorted(r.run_id for r in c.runs if r.deployment) == ["r01", "r02", "r04", "r05", "r06", "r07", "r11", "r12"]
    assert sorted(r.run_id for r in c.runs if r.change_failure) == ["r05", "r06", "r11"]

    weeks = [(w.week, w.monday.isoformat(), w.runs, w.succeeded, w.deployments, w.change_failures,
              w.lead_time_hours, w.mttr_minutes) for w in c.weeks]
    assert weeks == [
        ("2025-W45", "2025-11-03", 3, 2, 2, 0, 13.25, None),
        ("2025-W46", "2025-11-10", 2, 1, 2, 1, None, 6.0),
        ("2025-W47", "2025-11-17", 7, 0, 4, 2, None, 12.0),
    ]
    assert [w.change_failure_rate for w in c.weeks] == [0.0, 0.5, 0.5]


def test_each_checklist_is_measured_against_its_own_targets(history: Path) -> None:
    report = compute_metrics(history, now=NOW)
    assert [c.checklist_id for c in report.checklists] == ["METRICS-001", "OTHER-001"]
    other = report.checklists[1]
    # no --since: the window starts with its first run (W46) and ends now (W47)
    assert [w.week for w in other.weeks] == ["2025-W46", "2025-W47"]
    assert other.metrics[FREQUENCY].value == 1.0
    assert other.metrics[FREQUENCY].result == "no target"
    assert other.metrics[LEAD_TIME].value == 2.0  # 10:00Z minus 09:00+01:00
    unknown = {r.run_id: r.lead_time_unknown for r in other.runs}
    assert unknown == {"o1": "", "o2": "deploy_commit_time 'last tuesday' is not a time (ISO 8601 or unix seconds)"}
    assert other.metrics[FAILURE_RATE].value == 0.0
    assert other.metrics[MTTR].value is None and other.metrics[MTTR].result == "no data"


def test_since_until_select_the_runs_by_date(history: Path) -> None:
    w46 = compute_metrics(history, checklist_id="METRICS-001", since=parse_date("2025-11-10"),
                          until=parse_date("2025-11-16", end_of_day=True), now=NOW).checklists[0]
    assert [r.run_id for r in w46.runs] == ["r04", "r05"]
    assert [w.week for w in w46.weeks] == ["2025-W46"]
    assert w46.metrics[FREQUENCY].value == 1.0
    assert w46.metrics[FAILURE_RATE].value == 0.5
    assert (w46.metrics[MTTR].value, w46.metrics[MTTR].result) == (6.0, "met")
    assert (w46.metrics[LEAD_TIME].value, w46.metrics[LEAD_TIME].result) == (None, "no data")

    # a time bound cuts inside a day: r04 finished 11:00, r05 at 14:16
    noon = compute_metrics(history, checklist_id="METRICS-001", since=parse_date("2025-11-12"),
                           until=parse_date("2025-11-12T12:00:00Z"), now=NOW).checklists[0]
    assert [r.run_id for r in noon.runs] == ["r04"]

    # --since alone: up to now (NOW is in W47)
    late = compute_metrics(history, checklist_id="METRICS-001", since=parse_date("2025-11-17"), now=NOW)
    assert [w.week for w in late.checklists[0].weeks] == ["2025-W47"]
    assert late.checklists[0].metrics[FAILURE_RATE].value == 0.5  # r06 r11 of r06 r07 r11 r12


def test_a_run_still_driven_by_a_process_is_excluded_as_running(tmp_path: Path) -> None:
    live = Run(tmp_path, "r-live", t(24, "10:00")).step(t(24, "10:01"), t(24, "10:02"), "pull")
    try:
        [c] = compute_metrics(tmp_path, now=NOW).checklists
        [run] = c.runs
        assert (run.status, run.excluded, run.deployment) == ("running", "still running", False)
        assert c.metrics[FAILURE_RATE].result == "no data"
    finally:
        live.close()
    [run] = compute_metrics(tmp_path, now=NOW).checklists[0].runs
    assert run.status == "interrupted"  # the same run once no process holds it


def test_weekly_series_for_a_chart(history: Path) -> None:
    series = weekly_series(history, since=parse_date("2025-11-03"), until=parse_date("2025-11-23", end_of_day=True))
    assert [(w.week, w.succeeded) for w in series["METRICS-001"]] == [
        ("2025-W45", 2), ("2025-W46", 1), ("2025-W47", 0)]
    assert [(w.week, w.succeeded) for w in series["OTHER-001"]] == [
        ("2025-W45", 0), ("2025-W46", 2), ("2025-W47", 0)]


def test_commit_times_and_dates_parse_as_git_and_people_write_them() -> None:
    assert parse_commit_time("1762268400") == datetime(2025, 11, 4, 15, tzinfo=UTC)
    assert parse_commit_time("2025-11-10T09:00:00+01:00") == datetime(2025, 11, 10, 8, tzinfo=UTC)
    assert parse_commit_time("soon") is None
    assert parse_date("2025-11-03") == datetime(2025, 11, 3, tzinfo=UTC)
    assert parse_date("2025-11-03", end_of_day=True) == datetime(2025, 11, 3, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_date("2025-11-03T10:00:00") == datetime(2025, 11, 3, 10, tzinfo=UTC)


# -- the command ------------------------------------------------------------------------------


def test_table_shows_values_targets_and_results(history: Path) -> None:
    result = cli("--runs-dir", str(history), "--checklist", "METRICS-001", *UNTIL_FLAGS)
    assert result.exit_code == 0, result.output
    out = result.output
    lines = {label: next(line for line in out.splitlines() if line.startswith(f"  {label}  "))
             for label in ("deployment frequency", "lead time (median)", "change failure rate", "MTTR (mean)")}
    assert "1/week" in lines["deployment frequency"] and ">= 5/week" in lines["deployment frequency"]
    assert " missed " in lines["deployment frequency"]
    assert "13.25 h" in lines["lead time (median)"] and "< 24 h" in lines["lead time (median)"]
    assert " met " in lines["lead time (median)"]
    assert "37.5 %" in lines["change failure rate"] and "< 10 %" in lines["change failure rate"]
    assert " missed " in lines["change failure rate"]
    assert "10 min" in lines["MTTR (mean)"] and " missed " in lines["MTTR (mean)"]
    assert "window 2025-11-03 .. 2025-11-23 (3 ISO weeks), 12 runs" in out
    week47 = next(line for line in out.splitlines() if line.strip().startswith("2025-W47"))
    assert week47.split()[:5] == ["2025-W47", "7", "0", "4", "2"]
    assert "r04: the run did not capture deploy_commit_time" in out
    assert "git log -1 --format=%cI" in out
    assert "excluded: paused, not finished" in out
    assert "r99-broken" in out and "cannot be read" in out
    assert "OTHER-001" not in out


def test_json_output(history: Path) -> None:
    result = cli("--runs-dir", str(history), "--format", "json", *UNTIL_FLAGS)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    by_id = {c["checklist_id"]: c for c in data["checklists"]}
    m = by_id["METRICS-001"]["metrics"]
    assert {name: (v["value"], v["target"], v["result"]) for name, v in m.items()} == {
        FREQUENCY: (1.0, 5, "missed"),
        LEAD_TIME: (13.25, 24, "met"),
        FAILURE_RATE: (0.375, 0.1, "missed"),
        MTTR: (10.0, 10, "missed"),
    }
    assert by_id["METRICS-001"]["window"]["weeks"] == 3
    assert [w["succeeded"] for w in by_id["METRICS-001"]["weeks"]] == [2, 1, 0]
    runs = {r["id"]: r for r in by_id["METRICS-001"]["runs"]}
    assert runs["r06"]["recovery_minutes"] == 20.0 and runs["r06"]["week"] == "2025-W47"
    assert runs["r08"]["status"] == "interrupted" and runs["r08"]["deployment"] is False
    other = by_id["OTHER-001"]["metrics"]
    assert other[FREQUENCY]["value"] == 2 / 3 and other[FREQUENCY]["result"] == "no target"
    assert data["unreadable"][0]["run"] == "r99-broken"


def test_csv_output(history: Path) -> None:
    result = cli("--runs-dir", str(history), "--format", "csv", "--checklist", "METRICS-001", *UNTIL_FLAGS)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    window = {r["metric"]: r for r in rows if r["period"] == "window"}
    assert {k: (float(v["value"]), v["comparison"], v["result"], int(v["samples"])) for k, v in window.items()} == {
        FREQUENCY: (1.0, ">=", "missed", 3),
        LEAD_TIME: (13.25, "<", "met", 2),
        FAILURE_RATE: (0.375, "<", "missed", 8),
        MTTR: (10.0, "<", "missed", 3),
    }
    assert float(window[FAILURE_RATE]["target"]) == 0.1
    w46 = {r["metric"]: r["value"] for r in rows if r["period"] == "2025-W46"}
    assert w46 == {"runs": "2", "succeeded": "1", "deployments": "2", "change_failures": "1",
                   "change_failure_rate": "0.5", "lead_time_hours": "", "mttr_minutes": "6.0"}
    assert {r["checklist_id"] for r in rows} == {"METRICS-001"}


def test_since_until_on_the_command_line(history: Path) -> None:
    result = cli("--runs-dir", str(history), "--format", "json", "--checklist", "METRICS-001",
                 "--since", "2025-11-10", "--until", "2025-11-16")
    assert result.exit_code == 0, result.output
    [c] = json.loads(result.output)["checklists"]
    assert [r["id"] for r in c["runs"]] == ["r04", "r05"]
    assert c["metrics"][FAILURE_RATE]["value"] == 0.5
    assert c["metrics"][MTTR]["result"] == "met"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--since", "2025-13-40"], "--since: '2025-13-40' is not a date"),
        (["--until", "next week"], "--until: 'next week' is not a date"),
        (["--since", "2025-11-20", "--until", "2025-11-10"], "the window is empty"),
    ],
)
def test_bad_dates_exit_2_with_a_sentence(history: Path, args: list[str], expected: str) -> None:
    result = cli("--runs-dir", str(history), *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_no_runs_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    result = cli("--runs-dir", str(empty))
    assert result.exit_code == 0
    assert result.output.strip() == f"no runs in {empty}; nothing to measure"
    data = json.loads(cli("--runs-dir", str(empty), "--format", "json").output)
    assert data["checklists"] == [] and "no runs" in data["message"]


def test_no_runs_in_the_window_says_so(history: Path) -> None:
    result = cli("--runs-dir", str(history), "--checklist", "OTHER-001", "--since", "2025-11-17", "--until", "2025-11-23")
    assert result.exit_code == 0
    assert result.output.startswith("no runs of checklist OTHER-001 between 2025-11-17 and 2025-11-23 in ")
    assert "(14 runs in all)" in result.output
