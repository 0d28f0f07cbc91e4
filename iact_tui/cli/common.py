"""Shared by the commands: the runs folder, clean error messages (exit codes: engine/errors.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from iact_tui.engine.errors import ExitCode


def runs_dir_option(f):  # type: ignore[no-untyped-def]
    return click.option(
        "--runs-dir",
        type=click.Path(file_okay=False, readable=False),  # unreadable: said with the remedy
        envvar="IACT_RUNS_DIR",
        help="Where runs are kept (default: $IACT_RUNS_DIR or the per-user state folder).",
    )(f)


def runs_dir(value: str | None) -> Path:
    if value is None:
        ctx = click.get_current_context(silent=True)
        while ctx is not None and value is None:
            if ctx.obj and ctx.obj.get("runs_dir"):
                value = ctx.obj["runs_dir"]
            ctx = ctx.parent
    if value:
        return Path(value).expanduser()
    from iact_tui.engine.record.store import default_runs_dir

    return default_runs_dir()


def fail(message: str, code: int = ExitCode.BAD_INPUT) -> NoReturn:
    click.echo(f"iact-tui: {message}", err=True)
    sys.exit(code)
