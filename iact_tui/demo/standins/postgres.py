"""``pg_dump`` and ``psql``, the PostgreSQL client pair: the sandbox database written out as a
real-looking plain SQL dump, and such a dump read back statement by statement."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from .host import TAG, host_root, load_db, save_db

PG_DUMP_VALUED = {
    "-U",
    "--username",
    "-h",
    "--host",
    "-p",
    "--port",
    "-d",
    "--dbname",
    "-f",
    "--file",
    "-F",
    "--format",
    "-t",
    "-n",
}
PSQL_VALUED = {
    "-U",
    "--username",
    "-h",
    "--host",
    "-p",
    "--port",
    "-d",
    "--dbname",
    "-f",
    "--file",
    "-c",
    "--command",
    "-v",
    "--set",
}


def _pg_args(args: list[str], with_value: set[str]) -> tuple[dict[str, str], list[str]]:
    """Options with a value, flags (as "1") and positionals, the way libpq tools read them."""
    opts: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in with_value and i + 1 < len(args):
            opts[a.lstrip("-")[:1] if len(a) == 2 else a] = args[i + 1]
            i += 2
        elif a.startswith("--") and "=" in a:
            key, _, value = a.partition("=")
            opts[key] = value
            i += 1
        elif a.startswith("-"):
            opts[a] = "1"
            i += 1
        else:
            rest.append(a)
            i += 1
    return opts, rest


def _db_name(opts: dict[str, str], rest: list[str]) -> str:
    return (
        opts.get("d")
        or opts.get("--dbname")
        or (rest[0] if rest else os.environ.get("PGDATABASE", "postgres"))
    )


def _no_database(tool: str, name: str) -> int:
    print(
        f'{tool}: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
        f'FATAL:  database "{name}" does not exist {TAG}',
        file=sys.stderr,
    )
    return 1


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _from_copy(text: str, column_type: str) -> Any:
    if text == "\\N":
        return None
    if column_type.startswith(("integer", "bigint", "smallint")):
        return int(text)
    if column_type.startswith("boolean"):
        return text == "t"
    return text.replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")


def dump_sql(db: dict[str, Any], name: str, *, clean: bool, if_exists: bool) -> str:
    out = [
        "--",
        "-- PostgreSQL database dump",
        "--",
        f"-- {TAG} written by the iact-tui demo's pg_dump stand-in from the sandbox database '{name}'",
        "",
        "-- Dumped from database version 15.5 (sandbox)",
        "-- Dumped by pg_dump version 15.5 (sandbox)",
        "",
        "SET statement_timeout = 0;",
        "SET lock_timeout = 0;",
        "SET client_encoding = 'UTF8';",
        "SET standard_conforming_strings = on;",
        "SET check_function_bodies = false;",
        "SET client_min_messages = warning;",
        "",
    ]
    tables: dict[str, Any] = db["tables"]
    if clean:
        for table in reversed(list(tables)):
            out.append(f"DROP TABLE {'IF EXISTS ' if if_exists else ''}public.{table};")
        out.append("")
    for table, spec in tables.items():
        out += [
            "--",
            f"-- Name: {table}; Type: TABLE; Schema: public; Owner: postgres",
            "--",
            "",
            f"CREATE TABLE public.{table} (",
            ",\n".join(f"    {col} {ctype}" for col, ctype in spec["columns"]),
            ");",
            "",
        ]
    for table, spec in tables.items():
        cols = ", ".join(col for col, _ in spec["columns"])
        out += [
            "--",
            f"-- Data for Name: {table}; Type: TABLE DATA; Schema: public; Owner: postgres",
            "--",
            "",
            f"COPY public.{table} ({cols}) FROM stdin;",
            *("\t".join(_copy_value(v) for v in row) for row in spec["rows"]),
            "\\.",
            "",
        ]
    for table, spec in tables.items():
        if spec["columns"] and spec["columns"][0][0] == "id":
            out.append(
                f"ALTER TABLE ONLY public.{table}\n    ADD CONSTRAINT {table}_pkey PRIMARY KEY (id);"
            )
            out.append("")
    out += ["--", "-- PostgreSQL database dump complete", "--", ""]
    return "\n".join(out)


def pg_dump(args: list[str]) -> int:
    host = host_root()
    opts, rest = _pg_args(args, PG_DUMP_VALUED)
    name = _db_name(opts, rest)
    db = load_db(host, name)
    if db is None:
        return _no_database("pg_dump", name)
    text = dump_sql(
        db, name, clean="--clean" in opts or "-c" in opts, if_exists="--if-exists" in opts
    )
    target = opts.get("f") or opts.get("--file")
    if target:
        Path(target).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def restore_sql(db: dict[str, Any], text: str, emit: Any) -> int:
    """Run a plain SQL dump the way psql does: statement by statement, errors reported and skipped."""
    tables: dict[str, Any] = db["tables"]
    errors = 0
    lines = text.splitlines()
    i = 0

    def error(message: str) -> None:
        nonlocal errors
        errors += 1
        emit(f"psql:<stdin>:{i + 1}: ERROR:  {message}", err=True)

    while i < len(lines):
        line = lines[i].strip()
        if not line or line.startswith("--"):
            i += 1
            continue
        if line.startswith("COPY "):
            m = re.match(r"COPY (?:public\.)?(\w+) \(([^)]*)\) FROM stdin;", line)
            rows: list[list[str]] = []
            i += 1
            while i < len(lines) and lines[i] != "\\.":
                rows.append(lines[i].split("\t"))
                i += 1
            i += 1
            if not m:
                error('syntax error at or near "COPY"')
                continue
            table = m.group(1)
            if table not in tables:
                error(f'relation "public.{table}" does not exist')
                continue
            spec = tables[table]
            types = dict((c, t) for c, t in spec["columns"])
            cols = [c.strip() for c in m.group(2).split(",")]
            new_rows = [
                [_from_copy(v, types.get(c, "text")) for c, v in zip(cols, row, strict=False)]
                for row in rows
            ]
            if "id" in cols:
                existing = {r[0] for r in spec["rows"]}
                clash = [r for r in new_rows if r[cols.index("id")] in existing]
                if clash:
                    error(f'duplicate key value violates unique constraint "{table}_pkey"')
                    emit(
                        f"DETAIL:  Key (id)=({clash[0][cols.index('id')]}) already exists.",
                        err=True,
                    )
                    continue
            spec["rows"].extend(new_rows)
            emit(f"COPY {len(new_rows)}")
            continue
        # gather one statement up to its semicolon
        statement = line
        while not statement.endswith(";") and i + 1 < len(lines):
            i += 1
            statement += "\n" + lines[i].strip()
        i += 1
        head = statement.split(None, 2)
        if statement.startswith("SET "):
            emit("SET")
        elif statement.startswith("DROP TABLE"):
            m = re.match(r"DROP TABLE (IF EXISTS )?(?:public\.)?(\w+);", statement)
            if not m:
                error('syntax error at or near "DROP"')
            elif m.group(2) in tables:
                del tables[m.group(2)]
                emit("DROP TABLE")
            elif m.group(1):
                emit(f'NOTICE:  table "{m.group(2)}" does not exist, skipping', err=True)
                emit("DROP TABLE")
            else:
                error(f'table "{m.group(2)}" does not exist')
        elif statement.startswith("CREATE TABLE"):
            m = re.match(r"CREATE TABLE (?:public\.)?(\w+) \((.*)\);$", statement, re.S)
            if not m:
                error('syntax error at or near "CREATE"')
            elif m.group(1) in tables:
                error(f'relation "{m.group(1)}" already exists')
            else:
                columns = []
                for part in m.group(2).split(",\n"):
                    col, _, ctype = part.strip().partition(" ")
                    columns.append([col, ctype])
                tables[m.group(1)] = {"columns": columns, "rows": []}
                emit("CREATE TABLE")
        elif statement.startswith("ALTER TABLE"):
            emit("ALTER TABLE")
        else:
            error(f'syntax error at or near "{head[0] if head else statement}"')
    return errors


def psql(args: list[str]) -> int:
    host = host_root()
    opts, rest = _pg_args(args, PSQL_VALUED)
    name = _db_name(opts, rest)
    if opts.get("c") or opts.get("--command"):
        print(
            f"psql: {TAG} the stand-in only restores plain SQL dumps (from stdin or -f FILE)",
            file=sys.stderr,
        )
        return 2
    db = load_db(host, name)
    if db is None:
        print(
            f'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
            f'FATAL:  database "{name}" does not exist {TAG}',
            file=sys.stderr,
        )
        return 2
    source = opts.get("f") or opts.get("--file")
    text = Path(source).read_text() if source else sys.stdin.read()
    print(f"{TAG} psql stand-in: restoring into the sandbox database '{name}'", file=sys.stderr)

    def emit(line: str, err: bool = False) -> None:
        print(line, file=sys.stderr if err else sys.stdout)

    stop_on_error = opts.get("v", "").upper().replace(" ", "") == "ON_ERROR_STOP=1"
    errors = restore_sql(db, text, emit)
    if errors and stop_on_error:
        return 3
    save_db(host, name, db)
    return 0
