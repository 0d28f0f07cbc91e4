"""`iact-tui new TEMPLATE [PATH]`: scaffold a checklist from a template that ships with iact-tui.

- ``django``: the generalised staging procedure (``checklists/staging.toml``) for a Django +
  PostgreSQL + gunicorn app; what the IACT app has and another app may not is a variable.
- ``generic``: an SSH host, an HTTP health check, an approval, a rollback: a skeleton to adapt.

It asks for the few values every deployment differs in — the server, the SSH user, the app's
folder on it, the URL it answers on — or takes them as options, writes them as the variables'
defaults, and writes ``checklist.schema.json`` beside the file for editors. The result passes
``iact-tui check``. docs/writing-a-checklist.md walks through the rest.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from iact_tui.cli.common import fail

TEMPLATES: dict[str, str] = {
    "django": "the staging procedure for a Django + PostgreSQL + gunicorn app (PROCED-DEVOPS-001, generalised)",
    "generic": "an SSH host, an HTTP health check, an approval and a rollback: a skeleton to adapt",
}


@dataclass(frozen=True)
class Question:
    option: str  # the click parameter name
    var: str  # the template variable it sets
    prompt: str


QUESTIONS = [
    Question("host", "staging_host", "Server (name, IP or ~/.ssh/config alias)"),
    Question("user", "ssh_user", "SSH user on it"),
    Question("app_dir", "app_dir", "The app's folder on the server (its git checkout)"),
    Question("base_url", "base_url", "The URL the app answers on"),
]


@click.command("new")
@click.argument("template", type=click.Choice(sorted(TEMPLATES)), metavar="TEMPLATE")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--host", metavar="HOST", help="The server: a name, an IP or a ~/.ssh/config alias.")
@click.option("--user", metavar="USER", help="The SSH user on the server.")
@click.option("--app-dir", metavar="DIR", help="The app's folder (git checkout) on the server.")
@click.option(
    "--base-url",
    metavar="URL",
    help="The URL the app answers on, e.g. https://staging.example.com.",
)
@click.option(
    "--id", "checklist_id", metavar="ID", help="The checklist's id (default: the template's)."
)
@click.option("--title", metavar="TEXT", help="The checklist's title (default: the template's).")
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def new(
    template: str,
    path: str | None,
    checklist_id: str | None,
    title: str | None,
    force: bool,
    **answers: str | None,
) -> None:
    """Scaffold a checklist from TEMPLATE (django or generic) into PATH
    (default: checklists/TEMPLATE.toml).

    \b
    django   the staging procedure, generalised: any Django + PostgreSQL + gunicorn app
    generic  an SSH host, an HTTP health check, an approval and a rollback

    The server, SSH user, app folder and base URL are asked for on a terminal, or given as
    options. checklist.schema.json is written beside PATH for editors (the file's first line
    points at it)."""
    from iact_tui.engine.checklist.schema import SCHEMA_FILENAME, schema_text

    target = Path(path) if path else Path("checklists") / f"{template}.toml"
    if target.exists() and not force:
        fail(f"{target} exists; choose another PATH, or --force to overwrite it")
    text = template_text(template)
    values = _answers(text, answers)
    for question in QUESTIONS:
        problem = _bad_value(question.option, values[question.var])
        if problem:
            fail(problem)
    text = set_defaults(text, values)
    if checklist_id is not None or title is not None:
        text = set_info(text, {"id": checklist_id, "title": title})
    _verify(text, target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        schema_path = target.parent / SCHEMA_FILENAME
        schema = schema_text()
        wrote_schema = (
            not schema_path.is_file() or schema_path.read_text(encoding="utf-8") != schema
        )
        if wrote_schema:
            schema_path.write_text(schema, encoding="utf-8")
    except OSError as exc:
        fail(f"{target}: cannot write: {exc.strerror or exc}")
    click.echo(f"wrote {target} ({template}: {TEMPLATES[template]})")
    if wrote_schema:
        click.echo(f"wrote {schema_path} (editors complete and check the checklist with it)")
    click.echo("next:")
    click.echo(f"  iact-tui check {target}")
    click.echo(f"  iact-tui run {target} --dry-run")
    if template == "django":
        click.echo(
            "  the app-specific values (health and login paths, services, database): docs/writing-a-checklist.md"
        )


def template_text(name: str) -> str:
    """The template as shipped (iact_tui/templates/NAME.toml)."""
    import importlib.resources

    resource = importlib.resources.files("iact_tui") / "templates" / f"{name}.toml"
    try:
        return resource.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        fail(
            f"template {name!r} is missing from this installation (iact_tui/templates/{name}.toml)"
        )


def _answers(text: str, given: dict[str, str | None]) -> dict[str, str]:
    values: dict[str, str] = {}
    interactive = sys.stdin.isatty()
    missing: list[str] = []
    for q in QUESTIONS:
        value = given.get(q.option)
        if value is None and interactive:
            value = click.prompt(q.prompt, default=var_default(text, q.var) or None)
        if value is None:
            missing.append("--" + q.option.replace("_", "-"))
            continue
        values[q.var] = value.strip()
    if missing:
        fail(f"no terminal to ask on: give {', '.join(missing)}")
    return values


def _bad_value(option: str, value: str) -> str:
    flag = "--" + option.replace("_", "-")
    if not value:
        return f"{flag}: give a value"
    if option in ("host", "user") and (re.search(r"\s", value) or value.startswith("-")):
        return f"{flag} {value!r}: a {option} name has no spaces and does not start with '-'"
    if option == "app_dir" and not value.startswith("/"):
        return f"{flag} {value!r}: give the absolute path of the folder on the server, e.g. /srv/my-app"
    if option == "base_url" and not re.match(r"https?://[^/\s]+", value):
        return (
            f"{flag} {value!r}: give an http:// or https:// URL, e.g. https://staging.example.com"
        )
    return ""


def var_default(text: str, name: str) -> str:
    """The default a template gives [vars.NAME] (the basic or literal string on its line)."""
    index = _default_line(text, name)
    return "" if index is None else _parse_value(text.splitlines()[index])


def _parse_value(line: str) -> str:
    import tomllib

    try:
        value = tomllib.loads(line).get("default", "")
    except tomllib.TOMLDecodeError:
        return ""
    return value if isinstance(value, str) else str(value)


def _default_line(text: str, name: str) -> int | None:
    """The index of the ``default = ...`` line of [vars.NAME], or None."""
    lines = text.splitlines()
    try:
        start = lines.index(f"[vars.{name}]")
    except ValueError:
        return None
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("["):
            return None
        if re.match(r"default\s*=", lines[i]):
            return i
    return None


def _toml_string(value: str) -> str:
    import tomli_w

    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def set_defaults(text: str, values: dict[str, str]) -> str:
    """The template with these variables' ``default = ...`` lines set to the values."""
    lines = text.splitlines(keepends=True)
    for name, value in values.items():
        index = _default_line(text, name)
        if index is None:
            fail(f"the template has no [vars.{name}] with a default (a bug: please report it)")
        lines[index] = f"default = {_toml_string(value)}\n"
        text = "".join(lines)
    return text


def set_info(text: str, fields: dict[str, str | None]) -> str:
    """The template with [checklist] id / title replaced."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == "[checklist]"), None)
    if start is None:
        fail("the template has no [checklist] table (a bug: please report it)")
    for key, value in fields.items():
        if value is None:
            continue
        if not value.strip():
            fail(f"--{key}: give a value")
        for i in range(start + 1, len(lines)):
            if lines[i].startswith("["):
                break
            if re.match(rf"{key}\s*=", lines[i]):
                lines[i] = f"{key} = {_toml_string(value.strip())}\n"
                break
    return "".join(lines)


def _verify(text: str, target: Path) -> None:
    """What is written passes `check` (a template that does not is our bug, never the user's)."""
    from iact_tui.engine.checklist.load import parse_checklist
    from iact_tui.engine.checklist.problems import ChecklistError

    try:
        parse_checklist(text.encode("utf-8"), str(target))
    except ChecklistError as exc:
        fail(f"the scaffolded checklist does not pass check:\n{exc}")
