"""`iact-tui list`: the runs, newest first."""

from __future__ import annotations

import click

from iact_tui.cli.common import runs_dir, runs_dir_option


@click.command("list")
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
def list_runs(runs_dir: str | None, as_json: bool) -> None:
    """List the runs in the runs folder, newest first."""
    import json

    from iact_tui.cli.common import fail
    from iact_tui.engine.record.store import ReportError, RunLock
    from iact_tui.engine.record.store import list_runs as read_runs
    from iact_tui.engine.status import RunStatus

    folder = _dir(runs_dir)
    try:
        rows = read_runs(folder)  # a damaged run is a row with its reason, never an error
    except ReportError as exc:  # the runs folder itself cannot be read
        fail(str(exc))
    if not rows:
        click.echo(f"no runs in {folder}")
        return
    for path, state, problem in rows:
        if state is None:
            if as_json:
                click.echo(json.dumps({"id": path.name, "folder": str(path), "error": problem}))
            else:
                click.echo(f"{path.name}  unreadable: {problem}")
            continue
        status = state.status
        live = RunLock.is_held(path)
        if status == RunStatus.RUNNING and not live:
            status = RunStatus.INTERRUPTED
        done, total = state.progress()
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": state.run_id,
                        "folder": str(path),
                        "status": status,
                        "live": live,
                        "checklist": state.info.get("checklist_id"),
                        "operator": state.operator,
                        "started_at": state.started_at,
                        "finished_at": state.finished_at or None,
                        "done": done,
                        "total": total,
                    }
                )
            )
        else:
            click.echo(
                f"{state.run_id}  {status:<11} {done:>3}/{total:<3} {state.operator:<16} "
                f"{state.info.get('checklist_id', '')}  {state.started_at[:19]}{'  (live)' if live else ''}"
            )


def _dir(value: str | None):  # type: ignore[no-untyped-def]
    return runs_dir(value)
