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
    """The runs folder: the command's --runs-dir, else the one given before the command (which
    also wins over a command's value that only came from $IACT_RUNS_DIR), else the default."""
    here = click.get_current_context(silent=True)
    from_env = (
        here is not None
        and here.get_parameter_source("runs_dir") == click.core.ParameterSource.ENVIRONMENT
    )
    ctx = here
    while ctx is not None:
        if (
            ctx.obj
            and ctx.obj.get("runs_dir")
            and (value is None or (from_env and ctx.obj.get("runs_dir_given")))
        ):
            value = ctx.obj["runs_dir"]
            break
        ctx = ctx.parent
    if value:
        return Path(value).expanduser()
    from iact_tui.engine.record.store import default_runs_dir

    return default_runs_dir()


def fail(message: str, code: int = ExitCode.BAD_INPUT) -> NoReturn:
    click.echo(f"iact-tui: {message}", err=True)
    sys.exit(code)
