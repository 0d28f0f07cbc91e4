from __future__ import annotations

import click

from iact_tui.cli.common import EXIT_BAD_INPUT, EXIT_OK


@click.command("check")
@click.argument("checklist", type=click.Path(dir_okay=False))
def check(checklist: str) -> None:
    """Validate CHECKLIST; print its phases and steps. Exit 2 on any error."""
    from iact_tui.engine.load import ChecklistError, describe, load_checklist

    try:
        loaded = load_checklist(checklist)
    except ChecklistError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        n = len(exc.problems)
        click.echo(f"{checklist}: {n} problem{'s' if n != 1 else ''}", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    click.echo(describe(loaded))
    raise SystemExit(EXIT_OK)
