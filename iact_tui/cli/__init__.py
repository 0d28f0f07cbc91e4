"""The command line (README "Command line"). Each command lives in its own module and is
imported only when it runs, so `iact-tui --help` stays fast and never imports Textual."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from iact_tui import __version__

# name -> "module:function", in the order --help lists them
COMMANDS: dict[str, str] = {
    "run": "iact_tui.cli.run:run",
    "resume": "iact_tui.cli.run:resume",
    "tick": "iact_tui.cli.tick:tick",
    "watch": "iact_tui.cli.watch:watch",
    "show": "iact_tui.cli.show:show",
    "serve": "iact_tui.cli.serve:serve",
    "list": "iact_tui.cli.runs:list_runs",
    "check": "iact_tui.cli.check:check",
    "export": "iact_tui.cli.export:export",
    "verify": "iact_tui.cli.export:verify",
    "metrics": "iact_tui.cli.metrics:metrics",
    "demo": "iact_tui.cli.demo:demo",
    "new": "iact_tui.cli.new:new",
    "schema": "iact_tui.cli.schema:schema",
}

SHORT_HELP: dict[str, str] = {
    "run": "Start a run of a checklist (TUI, or --headless).",
    "resume": "Resume a run (default: the latest unfinished one).",
    "tick": "Tick off a step of a run: pass, --fail, or --skip with a reason.",
    "watch": "Follow a run another process drives, live and read-only (several at once).",
    "show": "Show a run's steps, or one step: what it asks, its command, its output.",
    "serve": "Serve the watch view in a browser, on 127.0.0.1.",
    "list": "List the runs, newest first.",
    "check": "Validate a checklist; print its phases and steps.",
    "export": "Export a run as TOML, Markdown or HTML, optionally signed.",
    "verify": "Verify an exported report: signature, event chain, step logs.",
    "metrics": "DORA metrics from the run history against the checklist's targets.",
    "demo": "Run the staging checklist against a built-in sandbox (no setup).",
    "new": "Scaffold a checklist from a template (django, generic).",
    "schema": "Print the checklist format's JSON Schema (for editors).",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            cmd = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            return _missing(name)
        return cmd  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        rows = [(name, SHORT_HELP.get(name, "")) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _missing(name: str) -> click.Command:
    @click.command(name, help=f"{SHORT_HELP.get(name, '')} (not available in this build)")
    def unavailable() -> None:
        raise click.UsageError(f"'{name}' is not available in this build")

    return unavailable


EPILOG = """\b
Exit codes: 0 succeeded, 1 a step failed or the run was rolled back,
2 bad input, 3 paused waiting for a person, 130 interrupted.
Runs are kept in --runs-dir, $IACT_RUNS_DIR, or the per-user state folder."""


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="iact-tui")
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, readable=False),  # unreadable: said with the remedy
    envvar="IACT_RUNS_DIR",
    help="Where runs are kept.",
)
@click.pass_context
def main(ctx: click.Context, runs_dir: str | None) -> None:
    """iact-tui: walk through a deployment checklist, run its automatic steps, keep a record."""
    ctx.ensure_object(dict)
    ctx.obj["runs_dir"] = runs_dir
    # given on the command line (`iact-tui --runs-dir D list`): it wins over $IACT_RUNS_DIR,
    # which the command's own --runs-dir would otherwise take (cli/common.py runs_dir)
    ctx.obj["runs_dir_given"] = (
        ctx.get_parameter_source("runs_dir") == click.core.ParameterSource.COMMANDLINE
    )
    if ctx.invoked_subcommand is None:
        if not sys.stdin.isatty() or not sys.stdout.isatty():
            click.echo(ctx.get_help())
            return
        from iact_tui.cli.run import open_start_screen

        ctx.exit(open_start_screen(runs_dir))
