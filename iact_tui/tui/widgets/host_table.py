"""A group step's hosts on screen: the counts on its row in the tree ("web 2/3 ✔ 1 ✘") and the
host table of the detail pane (host, status, batch, attempts, duration, exit, result).

Read from the screen's copy of the run state (``RunView.state.fleet``, folded from the durable
``host_*`` records), so a live run and one read from its folder show the same table.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text

from iact_tui.engine.status import StepStatus
from iact_tui.tui import format as fmt
from iact_tui.tui.run_model import RunView

QUIET = Style(dim=True)
# the states a row counts, in this order, after "passed/total"
COUNTED = (StepStatus.RUNNING, StepStatus.FAILED, StepStatus.INTERRUPTED)
COLUMNS = ("host", "status", "batch", "tries", "time", "exit", "result")


def host_counts(view: RunView, step_id: str, colour: Callable[[str], Style]) -> Text | None:
    """ "web 2/3 ✔ 1 ✘" for a step on a group (None for a step on no group): the group, the
    hosts that passed out of all, then how many run, failed or were interrupted."""
    hosts = view.group_hosts(step_id)
    if not hosts:
        return None
    step = view.step(step_id)
    counts = view.state.fleet.counts(step_id)
    text = Text()
    name = getattr(step, "host", None) or "hosts"
    text.append(f"{name} {counts.get(StepStatus.PASSED, 0)}/{len(hosts)}", QUIET)
    for status in COUNTED:
        n = counts.get(status, 0)
        if n:
            text.append(f" {fmt.STEP_ICONS[status]} {n}", colour(fmt.STEP_COLOURS[status]))
    return text


def host_table(view: RunView, step_id: str, colour: Callable[[str], Style]) -> Text:
    """One line per host of a group step (empty for a step on no group), in the group's order;
    a host not started yet reads "pending"."""
    hosts = view.group_hosts(step_id)
    text = Text()
    if not hosts:
        return text
    fleet = view.state.fleet
    rows: list[tuple[str, ...]] = []
    statuses: list[str] = []
    for host in hosts:
        rec = fleet.get(step_id, host)
        status = str(rec.status) if rec is not None else StepStatus.PENDING
        statuses.append(status)
        if rec is None:
            rows.append((host, f"{fmt.STEP_ICONS[status]} {fmt.words(status)}", "", "", "", "", ""))
            continue
        result = rec.result if rec.result and rec.result != status else ""
        if rec.status in (StepStatus.FAILED, StepStatus.INTERRUPTED) and rec.message:
            result = f"{result}: {rec.message}" if result else rec.message
        rows.append(
            (
                host,
                f"{fmt.STEP_ICONS.get(status, '?')} {fmt.words(status)}",
                "" if rec.batch is None else str(rec.batch + 1),
                str(rec.attempts) if rec.attempts else "",
                fmt.duration(rec.duration) if rec.duration is not None else "",
                "" if rec.exit_status is None else str(rec.exit_status),
                result,
            )
        )
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS[:-1])]
    text.append(_row(COLUMNS, widths), QUIET)
    text.append("\n")
    for row, status in zip(rows, statuses, strict=True):
        text.append(f"{row[0]:<{widths[0]}}  ")
        text.append(f"{row[1]:<{widths[1]}}", colour(fmt.STEP_COLOURS.get(status, "foreground")))
        text.append("  " + _row(row[2:], widths[2:]).rstrip() + "\n")
    return text


def _row(cells: tuple[str, ...], widths: list[int]) -> str:
    out = [f"{c:<{w}}" for c, w in zip(cells, widths, strict=False)]
    out.extend(cells[len(widths) :])
    return "  ".join(out)
