"""`iact-tui watch [RUN]`: follow a run that another process drives (read-only, no lock).

Several people can watch one run at once, from any user that can read the runs folder
(docs/team.md). p / f / s answer the step that waits for a person, through the run's inbox.
"""

from __future__ import annotations

import sys

import click

from iact_tui.cli.common import fail, runs_dir, runs_dir_option
from iact_tui.cli.completion import complete_run_ids


@click.command("watch")
@click.argument("run_ref", metavar="RUN", required=False, shell_complete=complete_run_ids)
@click.option(
    "--as",
    "as_",
    metavar="NAME",
    help="Who ticks from this watch (default: $IACT_OPERATOR, git user.name, login).",
)
@click.option(
    "--sign",
    metavar="KEY|agent",
    help="Sign the ticks given here with this SSH key (or ssh-agent's).",
)
@runs_dir_option
def watch(run_ref: str | None, as_: str | None, sign: str | None, runs_dir: str | None) -> None:
    """Watch RUN as it goes (default: choose among the runs, live ones first)."""
    from iact_tui.engine.record.identity import name_problem
    from iact_tui.engine.record.store import ReportError, resolve_run

    if as_ and name_problem("--as", as_):  # a person's name: UTF-8, no control characters
        fail(name_problem("--as", as_))
    if not as_:  # who ticks from here by default: the same name `tick` would take
        from iact_tui.engine.run.launch import default_operator

        problem = name_problem("the operator name", default_operator())
        if problem:
            fail(f"{problem} ($IACT_OPERATOR, git's user.name or the login; or give --as NAME)")
    folder_of_runs = runs_dir_path(runs_dir)
    folder = None
    if run_ref is not None:
        try:
            folder = resolve_run(run_ref, folder_of_runs)
        except ReportError as exc:
            fail(str(exc))
    from iact_tui.tui.watching import run_watch

    sys.exit(run_watch(folder_of_runs, folder, name_as=as_ or "", sign=sign or ""))


def runs_dir_path(value: str | None):  # type: ignore[no-untyped-def]
    return runs_dir(value)
