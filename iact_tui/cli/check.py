"""`iact-tui check CHECKLIST`: validate a checklist file, print its phases and steps.

Exit 0 when the file is valid (warnings are printed but do not fail it), 2 with one line per
problem otherwise. The format is documented in docs/checklist-format.md.
"""

from __future__ import annotations

import click

from iact_tui.engine.errors import ExitCode


@click.command("check")
@click.argument("checklist")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems, not the phases and steps.")
def check(checklist: str, quiet: bool) -> None:
    """Validate CHECKLIST; print its phases and steps. Exit 2 on any error."""
    # The loader reports a missing file, a folder or an unreadable file itself, in the same
    # form as every other problem, so the argument is a plain string here.
    from iact_tui.engine.checklist.load import load_checklist
    from iact_tui.engine.checklist.outline import describe
    from iact_tui.engine.checklist.problems import ChecklistError

    try:
        loaded = load_checklist(checklist)
    except ChecklistError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        n = len(exc.problems)
        click.echo(
            f"{checklist}: {n} problem{'s' if n != 1 else ''}; not a valid checklist", err=True
        )
        raise SystemExit(ExitCode.BAD_INPUT) from None
    except Exception as exc:  # a bug of ours must still not print a traceback to the operator
        click.echo(
            f"error: {checklist}: the checker failed ({type(exc).__name__}: {exc}); "
            "please report this with the file",
            err=True,
        )
        raise SystemExit(ExitCode.BAD_INPUT) from None
    if quiet:
        for warning in loaded.warnings:
            click.echo(f"warning: {warning}", err=True)
    else:
        click.echo(describe(loaded))
    raise SystemExit(ExitCode.OK)
