"""`iact-tui serve [RUN] [--port N]`: the watch view in a browser, on 127.0.0.1 only.

textual-serve starts ``python -m iact_tui.tui.watching`` for each browser tab that opens the
page: the runs (live ones first) or RUN, followed as `iact-tui watch` follows them. The page only
shows: a browser session has no identity to tick with (tick from a terminal, `tick --sign`).
"""

from __future__ import annotations

import shlex
import sys

import click

from iact_tui.cli.common import fail, runs_dir, runs_dir_option
from iact_tui.cli.completion import complete_run_ids

HOST = "127.0.0.1"  # never another interface: reach it from elsewhere through an SSH tunnel


def served_command(runs_folder: str, run: str | None = None) -> str:
    """The command textual-serve runs for each browser tab (it starts whatever stdin is)."""
    parts = [
        sys.executable,
        "-m",
        "iact_tui.tui.watching",
        "--read-only",
        "--runs-dir",
        runs_folder,
    ]
    if run:
        parts.append(run)
    return shlex.join(parts)


@click.command("serve")
@click.argument("run_ref", metavar="RUN", required=False, shell_complete=complete_run_ids)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="The port on 127.0.0.1.",
)
@runs_dir_option
def serve(run_ref: str | None, port: int, runs_dir: str | None) -> None:
    """Serve the watch view on http://127.0.0.1:PORT (read-only; Ctrl+C stops it)."""
    try:
        from textual_serve.server import Server
    except ImportError:
        fail("iact-tui serve needs textual-serve: pip install 'iact-tui[serve]'")
    from iact_tui.engine.record.store import ReportError, resolve_run

    folder_of_runs = runs_dir_path(runs_dir)
    run = None
    if run_ref is not None:
        try:
            run = str(resolve_run(run_ref, folder_of_runs))
        except ReportError as exc:
            fail(str(exc))
    server = Server(
        served_command(str(folder_of_runs), run), host=HOST, port=port, title="iact-tui watch"
    )
    click.echo(f"serving the watch view on http://{HOST}:{port} (Ctrl+C stops it)")
    server.serve()


def runs_dir_path(value: str | None):  # type: ignore[no-untyped-def]
    return runs_dir(value)
