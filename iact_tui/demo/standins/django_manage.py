"""Django's ``manage.py``: migrate, showmigrations, collectstatic, check.

The committed manage.py imports ``manage`` from here (where a real one imports Django). Migration
files are read from the checked-out code with ``ast`` (never imported: there is no Django), so a
checkout of another commit changes which migrations exist. The applied ones are the rows of the
sandbox database's django_migrations table.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from .host import TAG, db_name_from_env, host_root, load_db, read_env_file, save_db

FIELD_TYPES = {
    "AutoField": "integer NOT NULL",
    "BigAutoField": "bigint NOT NULL",
    "IntegerField": "integer",
    "PositiveIntegerField": "integer",
    "BooleanField": "boolean",
    "TextField": "text",
    "DateTimeField": "timestamp with time zone",
    "DateField": "date",
    "JSONField": "jsonb",
}


class OperationalError(Exception):
    """What django.db.utils.OperationalError would be."""


class ProgrammingError(Exception):
    """What django.db.utils.ProgrammingError would be."""


def _column(name: str, field: Any) -> list[str]:
    import ast

    kind = (
        field.func.attr
        if isinstance(field, ast.Call) and isinstance(field.func, ast.Attribute)
        else "TextField"
    )
    if kind == "ForeignKey":
        return [f"{name}_id", "bigint"]
    if kind == "CharField":
        size = next(
            (
                int(k.value.value)  # type: ignore[arg-type]
                for k in field.keywords
                if k.arg == "max_length" and isinstance(k.value, ast.Constant)
            ),
            255,
        )
        return [name, f"character varying({size})"]
    return [name, FIELD_TYPES.get(kind, "text")]


def migration_operations(path: Path) -> list[dict[str, Any]]:
    """The operations of a migration file: CreateModel, DeleteModel, AddField, RemoveField, others."""
    import ast

    tree = ast.parse(path.read_text(), str(path))
    ops: list[dict[str, Any]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "operations" for t in node.targets
        ):
            assert isinstance(node.value, ast.List)
            for call in node.value.elts:
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                    continue
                kw = {k.arg: k.value for k in call.keywords}
                op: dict[str, Any] = {"op": call.func.attr}
                for key in ("name", "model_name"):
                    value = kw.get(key)
                    if isinstance(value, ast.Constant):
                        op[key] = value.value
                fields = kw.get("fields")
                if call.func.attr == "CreateModel" and isinstance(fields, ast.List):
                    op["columns"] = [
                        _column(str(t.elts[0].value), t.elts[1])
                        for t in fields.elts
                        if isinstance(t, ast.Tuple)
                        and len(t.elts) == 2
                        and isinstance(t.elts[0], ast.Constant)
                    ]
                if call.func.attr in ("AddField", "RemoveField") and "field" in kw:
                    op["column"] = _column(op.get("name", "field"), kw["field"])
                ops.append(op)
    return ops


def _apply_operation(db: dict[str, Any], app: str, op: dict[str, Any], forward: bool) -> None:
    tables: dict[str, Any] = db["tables"]
    kind = op["op"]
    if kind in ("CreateModel", "DeleteModel"):
        table = f"{app}_{op['name'].lower()}"
        create = (kind == "CreateModel") == forward
        if create:
            if table in tables:
                raise ProgrammingError(f'relation "{table}" already exists')
            tables[table] = {
                "columns": [list(c) for c in op.get("columns", [["id", "bigint NOT NULL"]])],
                "rows": [],
            }
        else:
            if table not in tables:
                raise OperationalError(f'relation "{table}" does not exist')
            del tables[table]
    elif kind in ("AddField", "RemoveField"):
        table = f"{app}_{op['model_name'].lower()}"
        if table not in tables:
            raise OperationalError(f'relation "{table}" does not exist')
        spec = tables[table]
        column = op.get("column") or [op["name"], "text"]
        names = [c for c, _ in spec["columns"]]
        if (kind == "AddField") == forward:
            if column[0] in names:
                raise ProgrammingError(f'column "{column[0]}" of relation "{table}" already exists')
            spec["columns"].append(list(column))
            for row in spec["rows"]:
                row.append(None)
        else:
            if column[0] not in names:
                raise ProgrammingError(f'column "{column[0]}" of relation "{table}" does not exist')
            index = names.index(column[0])
            del spec["columns"][index]
            for row in spec["rows"]:
                del row[index]
    # AlterField, RunPython, AddIndex ...: no change the sandbox needs to model


def _code_migrations(app_dir: Path, app: str) -> list[str]:
    folder = app_dir / app / "migrations"
    return sorted(p.stem for p in folder.glob("[0-9][0-9][0-9][0-9]_*.py"))


def _applied(db: dict[str, Any], app: str) -> list[str]:
    rows = db["tables"].get("django_migrations", {"rows": []})["rows"]
    return [r[2] for r in rows if r[1] == app]


def _record(db: dict[str, Any], app: str, name: str, applied: bool) -> None:
    table = db["tables"].setdefault(
        "django_migrations",
        {
            "columns": [
                ["id", "bigint NOT NULL"],
                ["app", "character varying(255) NOT NULL"],
                ["name", "character varying(255) NOT NULL"],
                ["applied", "timestamp with time zone NOT NULL"],
            ],
            "rows": [],
        },
    )
    if applied:
        next_id = max((r[0] for r in table["rows"]), default=0) + 1
        stamp = time.strftime("%Y-%m-%d %H:%M:%S.000000+00", time.gmtime())
        table["rows"].append([next_id, app, name, stamp])
    else:
        table["rows"] = [r for r in table["rows"] if not (r[1] == app and r[2] == name)]


def _project_apps(app_dir: Path) -> list[str]:
    return sorted(p.parent.parent.name for p in app_dir.glob("*/migrations/__init__.py"))


def _traceback(exc: Exception, where: str) -> None:
    module = "django.db.utils"
    print("Traceback (most recent call last):", file=sys.stderr)
    print(
        '  File "/var/www/iact-project/venv/lib/python3.11/site-packages/django/db/backends/utils.py", line 89, in _execute',
        file=sys.stderr,
    )
    print("    return self.cursor.execute(sql, params)", file=sys.stderr)
    cause = "UndefinedTable" if isinstance(exc, OperationalError) else "DuplicateObject"
    print(f"psycopg2.errors.{cause}: {exc} (while running {where})", file=sys.stderr)
    print("", file=sys.stderr)
    print("The above exception was the direct cause of the following exception:", file=sys.stderr)
    print("", file=sys.stderr)
    print(f"{module}.{type(exc).__name__}: {exc}", file=sys.stderr)


def manage(app_dir_text: str, args: list[str]) -> int:
    """The subcommands of Django's manage.py the procedure uses."""
    host = host_root()
    app_dir = Path(app_dir_text)
    env = read_env_file(app_dir / ".env")
    db_name = db_name_from_env(env)
    if not args:
        print(f"Type 'manage.py help <subcommand>' for help on a specific subcommand. {TAG}")
        return 0
    command, rest = args[0], [a for a in args[1:] if not a.startswith("-")]
    flags = [a for a in args[1:] if a.startswith("-")]
    if command in ("migrate", "showmigrations"):
        db = load_db(host, db_name)
        if db is None:
            print(
                f'django.db.utils.OperationalError: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
                f'FATAL:  database "{db_name}" does not exist {TAG}',
                file=sys.stderr,
            )
            return 1
        if command == "showmigrations":
            return _showmigrations(app_dir, db, rest)
        return _migrate(host, app_dir, db_name, db, rest, flags)
    if command == "collectstatic":
        return _collectstatic(app_dir, clear="--clear" in flags)
    if command == "check":
        print(f"System check identified no issues (0 silenced). {TAG}")
        return 0
    print(f"Unknown command: '{command}' {TAG}", file=sys.stderr)
    print("Type 'manage.py help' for usage.", file=sys.stderr)
    return 1


def _showmigrations(app_dir: Path, db: dict[str, Any], apps: list[str]) -> int:
    print(f"{TAG} manage.py stand-in: migrations read from {app_dir}", file=sys.stderr)
    apps = apps or _project_apps(app_dir)
    for app in apps:
        code = _code_migrations(app_dir, app)
        if not code and app not in _project_apps(app_dir):
            print(f"CommandError: No migrations present for: {app}", file=sys.stderr)
            return 1
        applied = set(_applied(db, app))
        print(app)
        if not code:
            print(" (no migrations)")
        for name in code:
            print(f" [{'X' if name in applied else ' '}] {name}")
    return 0


def _migrate(
    host: Path, app_dir: Path, db_name: str, db: dict[str, Any], rest: list[str], flags: list[str]
) -> int:
    apps = _project_apps(app_dir)
    plan: list[tuple[str, str, bool]] = []  # (app, migration, forward)
    print(
        f"{TAG} manage.py stand-in: database '{db_name}' is a file in the sandbox", file=sys.stderr
    )
    if rest and rest[0] not in apps:
        print(f"CommandError: App '{rest[0]}' does not have migrations.", file=sys.stderr)
        return 1
    header = ["Operations to perform:"]
    if rest:
        app = rest[0]
        code = _code_migrations(app_dir, app)
        applied = _applied(db, app)
        if len(rest) > 1:
            wanted = rest[1]
            if wanted == "zero":
                target_index = -1
            else:
                matches = [n for n in code if n.startswith(wanted)]
                if len(matches) != 1:
                    if matches:
                        print(
                            f"CommandError: More than one migration matches '{wanted}' in app '{app}'. Please be more specific.",
                            file=sys.stderr,
                        )
                    else:
                        print(
                            f"CommandError: Cannot find a migration matching '{wanted}' from app '{app}'.",
                            file=sys.stderr,
                        )
                    return 1
                target_index = code.index(matches[0])
            header.append(
                f"  Target specific migration: {'zero' if target_index < 0 else code[target_index]}, from {app}"
            )
            unknown = [n for n in applied if n not in code]
            if unknown:
                print(
                    f"CommandError: Migration {app}.{unknown[-1]} is applied in the database but its file is not in "
                    f"the checked-out code; check out the release that has it to unapply it.",
                    file=sys.stderr,
                )
                return 1
            for name in reversed(code[target_index + 1 :]):
                if name in applied:
                    plan.append((app, name, False))
            for name in code[: target_index + 1]:
                if name not in applied:
                    plan.append((app, name, True))
        else:
            header.append(f"  Apply all migrations: {app}")
            plan = [(app, n, True) for n in code if n not in applied]
    else:
        header.append(
            f"  Apply all migrations: {', '.join(['admin', 'auth', 'contenttypes', *apps, 'sessions'])}"
        )
        for app in apps:
            applied = _applied(db, app)
            plan += [(app, n, True) for n in _code_migrations(app_dir, app) if n not in applied]
    print("\n".join(header))
    print("Running migrations:")
    if not plan:
        print("  No migrations to apply.")
        return 0
    if any(not forward for _, _, forward in plan):
        print("  Rendering model states... DONE")
    for app, name, forward in plan:
        print(f"  {'Applying' if forward else 'Unapplying'} {app}.{name}...", end="", flush=True)
        try:
            ops = migration_operations(app_dir / app / "migrations" / f"{name}.py")
            for op in ops if forward else list(reversed(ops)):
                _apply_operation(db, app, op, forward)
        except (OperationalError, ProgrammingError) as exc:
            print("", flush=True)
            _traceback(exc, f"{app}.{name}")
            return 1  # the migration ran in a transaction: nothing of it is saved
        _record(db, app, name, forward)
        save_db(host, db_name, db)
        print(" OK", flush=True)
    return 0


def _collectstatic(app_dir: Path, clear: bool) -> int:
    import shutil

    target = app_dir / "staticfiles"
    if clear and target.exists():
        shutil.rmtree(target)
    sources = [
        p
        for app in _project_apps(app_dir)
        for p in (app_dir / app / "static").rglob("*")
        if p.is_file()
    ]
    dist = app_dir / "frontend" / "dist"
    sources += [p for p in dist.rglob("*") if p.is_file()] if dist.exists() else []
    copied = unmodified = 0
    for source in sources:
        base = (
            dist
            if source.is_relative_to(dist)
            else next(
                a
                for a in (app_dir / x / "static" for x in _project_apps(app_dir))
                if source.is_relative_to(a)
            )
        )
        dest = target / source.relative_to(base)
        if dest.exists() and dest.read_bytes() == source.read_bytes():
            unmodified += 1
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        copied += 1
    print(f"{TAG} manage.py stand-in: collected into {target}", file=sys.stderr)
    print(f"{copied} static files copied to '{target}', {unmodified} unmodified.")
    return 0
