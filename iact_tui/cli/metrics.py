"""`iact-tui metrics`: DORA metrics from the run history against the checklist's targets.

The numbers come from iact_tui.engine.metrics (docs/metrics.md says how each one is counted);
this module only reads the options and prints the report as a table, JSON or CSV.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

import click

from iact_tui.cli.common import fail, runs_dir, runs_dir_option
from iact_tui.engine.metrics import LABELS
from iact_tui.engine.metrics import value_text as _value_text


@click.command("metrics")
@runs_dir_option
@click.option(
    "--since", metavar="DATE", help="Only runs from this day (YYYY-MM-DD, UTC) or time (ISO 8601)."
)
@click.option("--until", metavar="DATE", help="Only runs up to this day (inclusive) or time.")
@click.option("--checklist", "checklist_id", metavar="ID", help="Only runs of this checklist id.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Human-readable table, or JSON / CSV for scripts.",
)
@click.option(
    "--deploy-phase",
    default="deploy",
    show_default=True,
    metavar="PHASE",
    help="The phase whose steps make a run a deployment (for the change failure rate).",
)
def metrics(
    runs_dir: str | None,
    since: str | None,
    until: str | None,
    checklist_id: str | None,
    output_format: str,
    deploy_phase: str,
) -> None:
    """DORA metrics from the run history: deployment frequency, lead time, change failure rate
    and MTTR, each against the checklist's targets (met, missed or no data)."""
    from iact_tui.engine.metrics import DateError, compute_metrics, parse_date

    folder = _runs_dir(runs_dir)
    try:
        start = parse_date(since) if since else None
    except DateError as exc:
        fail(f"--since: {exc}")
    try:
        end = parse_date(until, end_of_day=True) if until else None
    except DateError as exc:
        fail(f"--until: {exc}")
    try:
        report = compute_metrics(
            folder, since=start, until=end, checklist_id=checklist_id, deploy_phase=deploy_phase
        )
    except DateError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot read the runs folder {folder}: {exc.strerror or exc}")

    empty = _nothing_found(report)
    if output_format == "json":
        data = _report_dict(report)
        if empty:
            data["message"] = empty
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif output_format == "csv":
        click.echo(_csv(report), nl=False)
        if empty:
            click.echo(empty, err=True)
        _warn_unreadable(report, err=True)
    else:
        if empty:
            click.echo(empty)
            _warn_unreadable(report, err=False)
        else:
            click.echo(_table(report))


def _runs_dir(value: str | None):  # type: ignore[no-untyped-def]
    return runs_dir(value)


def _report_dict(report: Any) -> dict[str, Any]:
    from iact_tui.engine.metrics import report_dict

    return report_dict(report)


def _nothing_found(report: Any) -> str:
    """The sentence to print when there is nothing to measure; "" when there is."""
    if report.checklists:
        return ""
    where = f"in {report.runs_dir}"
    if report.runs_found == 0:
        return f"no runs {where}; nothing to measure"
    parts = []
    if report.checklist_id:
        parts.append(f"of checklist {report.checklist_id}")
    if report.since or report.until:
        parts.append(
            f"between {_day(report.since) or 'the first run'} and {_day(report.until) or 'now'}"
        )
    return (
        f"no runs {' '.join(parts)} {where} ({report.runs_found} runs in all); nothing to measure"
    )


def _warn_unreadable(report: Any, *, err: bool) -> None:
    for name, why in report.unreadable:
        click.echo(f"not counted (cannot be read): {name}: {why}", err=err)


# -- formatting -------------------------------------------------------------------------------


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else ""


def _target_text(name: str, target: float | None, at_least: bool) -> str:
    if target is None:
        return "-"
    return f"{'>=' if at_least else '<'} {_value_text(name, target)}"


def _grid(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _table(report: Any) -> str:
    from iact_tui.engine.metrics import iso_week

    out: list[str] = []
    for c in report.checklists:
        if out:
            out.append("")
        out.append(f"{c.checklist_id}: {c.title}" if c.title else c.checklist_id)
        out.append(
            f"  window {_day(c.window_start)} .. {_day(c.window_end)} ({len(c.weeks)} ISO weeks), "
            f"{len(c.runs)} runs; targets from {c.targets_from}"
        )
        out.append("")
        rows = [["metric", "value", "target", "result", "based on"]]
        for name, metric in c.metrics.items():
            rows.append(
                [
                    LABELS[name],
                    _value_text(name, metric.value),
                    _target_text(name, metric.target, metric.at_least),
                    metric.result,
                    metric.detail,
                ]
            )
        out += _grid(rows)
        out.append("")
        rows = [["week", "runs", "succeeded", "deployments", "rollbacks", "lead time", "MTTR"]]
        for w in c.weeks:
            rows.append(
                [
                    w.week,
                    str(w.runs),
                    str(w.succeeded),
                    str(w.deployments),
                    str(w.change_failures),
                    _value_text("lead_time_hours", w.lead_time_hours),
                    _value_text("mttr_minutes", w.mttr_minutes),
                ]
            )
        out += _grid(rows)
        out.append("")
        rows = [["run", "status", "date", "counted as", "lead time", "recovery"]]
        for r in c.runs:
            counted = (
                "excluded: " + r.excluded
                if r.excluded
                else ("deployment, rolled back" if r.change_failure else "deployment")
            )
            lead = _value_text("lead_time_hours", r.lead_time_hours) if r.succeeded else ""
            if r.succeeded and r.lead_time_hours is None:
                lead = "unknown"
            recovery = (
                _value_text("mttr_minutes", r.recovery_minutes)
                if r.recovery_minutes is not None
                else ""
            )
            rows.append(
                [
                    r.run_id,
                    r.status,
                    f"{r.at.strftime('%Y-%m-%d %H:%M')} ({iso_week(r.at)})",
                    counted,
                    lead,
                    recovery,
                ]
            )
        out += _grid(rows)
        unknown = [r for r in c.runs if r.lead_time_unknown]
        if unknown:
            out.append("")
            out.append("  lead time unknown:")
            out += [f"    {r.run_id}: {r.lead_time_unknown}" for r in unknown]
            if any(r.lead_time_unknown.startswith("the run did not capture") for r in unknown):
                out.append(
                    "    (have the checklist capture deploy_commit_time after the pull, "
                    "e.g. from `git log -1 --format=%cI`)"
                )
    if report.unreadable:
        out.append("")
        out.append("not counted (cannot be read):")
        out += [f"  {name}: {why}" for name, why in report.unreadable]
    return "\n".join(out)


CSV_COLUMNS = [
    "checklist_id",
    "period",
    "metric",
    "value",
    "target",
    "comparison",
    "result",
    "samples",
]


def _csv(report: Any) -> str:
    """One row per value: the window's four metrics, then each ISO week's counts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def cell(value: float | None) -> str:
        return "" if value is None else repr(float(value))

    for c in report.checklists:
        for name, m in c.metrics.items():
            writer.writerow(
                [
                    c.checklist_id,
                    "window",
                    name,
                    cell(m.value),
                    cell(m.target),
                    ">=" if m.at_least else "<",
                    m.result,
                    m.samples,
                ]
            )
        for w in c.weeks:
            for name, value in (
                ("runs", w.runs),
                ("succeeded", w.succeeded),
                ("deployments", w.deployments),
                ("change_failures", w.change_failures),
            ):
                writer.writerow([c.checklist_id, w.week, name, value, "", "", "", ""])
            for name, fvalue in (
                ("change_failure_rate", w.change_failure_rate),
                ("lead_time_hours", w.lead_time_hours),
                ("mttr_minutes", w.mttr_minutes),
            ):
                writer.writerow([c.checklist_id, w.week, name, cell(fvalue), "", "", "", ""])
    return buffer.getvalue()
