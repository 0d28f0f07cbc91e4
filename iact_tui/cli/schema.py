"""`iact-tui schema`: the checklist format's JSON Schema, for editors that validate TOML.

Printed on stdout, or written to a file with ``-o``. A checklist whose first line is
``#:schema ./checklist.schema.json`` gets completion and errors while it is typed in an editor
with Taplo (VS Code's Even Better TOML, Helix, Zed, Neovim's taplo LSP). docs/checklist-format.md,
"Editor support".
"""

from __future__ import annotations

from pathlib import Path

import click

from iact_tui.cli.common import fail


@click.command("schema")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=True, writable=True),
    help="Write the schema to this file (a folder: FOLDER/checklist.schema.json) instead of stdout.",
)
def schema(output: str | None) -> None:
    """Print the checklist format's JSON Schema (draft-07), generated from the format itself.

    Put it next to your checklists (`iact-tui schema -o checklists/`) and start each checklist
    with the line `#:schema ./checklist.schema.json`: Taplo-based editors then complete keys and
    flag mistakes while you type. `iact-tui check` still checks what a schema cannot (names,
    regexes, ids)."""
    from iact_tui.engine.checklist.schema import SCHEMA_FILENAME, schema_text

    text = schema_text()
    if output is None:
        click.echo(text, nl=False)
        return
    target = Path(output)
    if target.is_dir():
        target = target / SCHEMA_FILENAME
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{target}: cannot write the schema: {exc.strerror or exc}")
    click.echo(f"wrote {target}")
