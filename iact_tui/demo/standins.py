"""The sandbox's stand-ins for the tools a real staging host has and this machine may not.

One multi-call program (like busybox): the sandbox installs a tiny shell wrapper per tool in
``<host>/usr/local/bin`` that runs ``python -I -S standins.py TOOL ARGS...`` with
``IACT_SANDBOX=<host>``. Tools: pg_dump, psql, systemctl, journalctl, npm, pip, sudo, gh, nginx.

Each one behaves plausibly and keeps its state in files under the sandbox host folder:
- the "database" is a JSON file, ``var/lib/postgresql/<db>.json`` (tables, columns, rows);
  ``pg_dump`` writes it out as a real-looking SQL dump and ``psql`` reads such a dump back;
- services are ``run/<unit>.json``; restarting ``iact-gunicorn`` loads the checked-out code
  (VERSION, required environment variables) and the in-process HTTP app serves what it loaded;
- the journal is ``var/log/journal/<unit>.log`` (``epoch<TAB>line``), read by ``journalctl``.

Every tool says "sandbox" in its output. This file is also imported by the sandbox itself (the
same code writes the journal and reads the database), so it must stay standard-library only and
must never import anything from iact_tui.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

HOSTNAME = "staging-sandbox"
TAG = "[sandbox]"

UNITS: dict[str, str] = {
    "iact-gunicorn": "IACT Django app (gunicorn)",
    "iact-celery-worker": "IACT Celery worker",
    "nginx": "A high performance web server and a reverse proxy server",
}

DB_DIR = "var/lib/postgresql"
RUN_DIR = "run"
JOURNAL_DIR = "var/log/journal"
CONFIG_FILE = "etc/iact-sandbox.json"


# -- shared state helpers (also used in-process by the sandbox) ----------------------------------


def host_root() -> Path:
    root = os.environ.get("IACT_SANDBOX")
    if not root:
        raise SystemExit(
            f"{TAG} this stand-in runs only inside the iact-tui demo sandbox (IACT_SANDBOX is not set)"
        )
    return Path(root)


def config(host: Path) -> dict[str, Any]:
    return json.loads((host / CONFIG_FILE).read_text())


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


def db_path(host: Path, name: str) -> Path:
    return host / DB_DIR / f"{name}.json"


def load_db(host: Path, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(db_path(host, name).read_text())  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


def save_db(host: Path, name: str, db: dict[str, Any]) -> None:
    write_json_atomic(db_path(host, name), db)


def service_state(host: Path, unit: str) -> dict[str, Any]:
    try:
        return json.loads((host / RUN_DIR / f"{unit}.json").read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, json.JSONDecodeError):
        return {"unit": unit, "active": False}


def journal(host: Path, unit: str, lines: list[str]) -> None:
    """Append lines to a unit's journal, each stamped with the current time."""
    path = host / JOURNAL_DIR / f"{unit}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    with open(path, "a", encoding="utf-8") as f:
        for line in lines:
            f.write(f"{now:.6f}\t{line}\n")


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def db_name_from_env(env: dict[str, str]) -> str:
    url = env.get("DATABASE_URL", "")
    m = re.search(r"/([A-Za-z0-9_]+)$", url)
    return m.group(1) if m else "iact_staging"


def password_hash(password: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}${password}".encode()).hexdigest()
    return f"sha256${salt}${digest}"


def check_password(stored: str, password: str) -> bool:
    try:
        _, salt, _ = stored.split("$", 2)
    except ValueError:
        return False
    return password_hash(password, salt) == stored


def required_env(app_dir: Path) -> list[str]:
    """Environment variables the checked-out code reads with ``os.environ["NAME"]``."""
    names: list[str] = []
    for path in sorted(app_dir.rglob("*.py")):
        parts = path.relative_to(app_dir).parts
        if parts and parts[0] in ("venv", "node_modules", "staticfiles"):
            continue
        for m in re.finditer(r"os\.environ\[[\"'](\w+)[\"']\]", path.read_text(errors="replace")):
            if m.group(1) not in names:
                names.append(m.group(1))
    return names


def load_app(host: Path) -> dict[str, Any]:
    """What a gunicorn restart loads from the checked-out code: version, and a boot problem."""
    cfg = config(host)
    app_dir = Path(cfg["app_dir"])
    try:
        version = (app_dir / "VERSION").read_text().strip()
    except FileNotFoundError:
        version = "unknown"
    env = read_env_file(app_dir / ".env")
    missing = [name for name in required_env(app_dir) if name not in env]
    commit = ""
    head = app_dir / ".git" / "HEAD"
    if head.exists():
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref_path = app_dir / ".git" / ref[5:]
            commit = (
                ref_path.read_text().strip() if ref_path.exists() else _packed_ref(app_dir, ref[5:])
            )
        else:
            commit = ref
    return {
        "version": version,
        "commit": commit[:7],
        "problem": f"KeyError: '{missing[0]}'" if missing else "",
        "database": db_name_from_env(env),
    }


def _packed_ref(app_dir: Path, ref: str) -> str:
    packed = app_dir / ".git" / "packed-refs"
    if packed.exists():
        for line in packed.read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    return ""


# -- systemctl ----------------------------------------------------------------------------------


def _unit(name: str) -> str:
    return name.removesuffix(".service")


def restart_unit(host: Path, unit: str) -> str:
    """Restart a unit; returns the sentence the stand-in prints."""
    fake_pid = 4000 + int(time.time() * 1000) % 5000
    title = UNITS[unit]
    stop = [
        f"systemd[1]: Stopping {unit}.service - {title}...",
        f"systemd[1]: {unit}.service: Deactivated successfully.",
        f"systemd[1]: Stopped {unit}.service - {title}.",
    ]
    if unit == "iact-gunicorn":
        app = load_app(host)
        lines = [
            *stop,
            f"systemd[1]: Started {unit}.service - {title}.",
            f"gunicorn[{fake_pid}]: [INFO] Starting gunicorn 21.2.0",
            f"gunicorn[{fake_pid}]: [INFO] Listening at: unix:/run/iact-gunicorn.sock ({fake_pid})",
            f"gunicorn[{fake_pid}]: [INFO] Using worker: sync",
            f"gunicorn[{fake_pid + 1}]: [INFO] Booting worker with pid: {fake_pid + 1}",
            f"gunicorn[{fake_pid + 1}]: [INFO] IACT {app['version']} (commit {app['commit']}) loaded",
        ]
        state = {"unit": unit, "active": True, "pid": fake_pid, "since": time.time(), **app}
        journal(host, unit, lines)
        write_json_atomic(host / RUN_DIR / f"{unit}.json", state)
        return f"{TAG} systemctl: restarted {unit}.service; the sandbox app now serves IACT {app['version']}"
    if unit == "iact-celery-worker":
        app = load_app(host)
        lines = [
            *stop,
            f"systemd[1]: Started {unit}.service - {title}.",
            f"celery[{fake_pid}]: [INFO/MainProcess] Connected to redis://localhost:6379/0",
            f"celery[{fake_pid}]: [INFO/MainProcess] celery@{HOSTNAME} ready (IACT {app['version']}).",
        ]
        journal(host, unit, lines)
        write_json_atomic(
            host / RUN_DIR / f"{unit}.json",
            {"unit": unit, "active": True, "pid": fake_pid, "since": time.time(), **app},
        )
        return f"{TAG} systemctl: restarted {unit}.service (IACT {app['version']})"
    journal(host, unit, [*stop, f"systemd[1]: Started {unit}.service - {title}."])
    write_json_atomic(
        host / RUN_DIR / f"{unit}.json",
        {"unit": unit, "active": True, "pid": fake_pid, "since": time.time()},
    )
    return f"{TAG} systemctl: restarted {unit}.service"


def reload_unit(host: Path, unit: str) -> tuple[int, str]:
    state = service_state(host, unit)
    if unit == "nginx":
        conf = host / "etc/nginx/nginx.conf"
        if not conf.exists():
            return 1, f"Job for nginx.service failed. {TAG} {conf} is missing"
        journal(
            host,
            unit,
            [
                f"systemd[1]: Reloading {unit}.service - {UNITS[unit]}...",
                f"systemd[1]: Reloaded {unit}.service - {UNITS[unit]}.",
            ],
        )
        state.update(active=True, reloaded=time.time())
        write_json_atomic(host / RUN_DIR / f"{unit}.json", state)
        return 0, f"{TAG} systemctl: reloaded nginx.service (configuration {conf} checked)"
    return 0, restart_unit(host, unit)


def systemctl(args: list[str]) -> int:
    host = host_root()
    words = [a for a in args if not a.startswith("-")]
    if not words:
        print(f"{TAG} systemctl stand-in: use restart|reload|start|stop|status|is-active UNIT")
        return 1
    verb, units = words[0], [_unit(u) for u in words[1:]]
    if (
        verb
        in (
            "restart",
            "reload",
            "start",
            "stop",
            "status",
            "is-active",
            "try-restart",
            "reload-or-restart",
        )
        and not units
    ):
        print(f"Too few arguments. {TAG}", file=sys.stderr)
        return 1
    for unit in units:
        if unit not in UNITS:
            print(
                f"Failed to {verb} {unit}.service: Unit {unit}.service not found. {TAG}",
                file=sys.stderr,
            )
            return 5
    status = 0
    for unit in units:
        if verb in ("restart", "start", "try-restart", "reload-or-restart"):
            print(restart_unit(host, unit))
        elif verb == "reload":
            rc, text = reload_unit(host, unit)
            print(text, file=sys.stderr if rc else sys.stdout)
            status = status or rc
        elif verb == "stop":
            state = service_state(host, unit)
            state["active"] = False
            write_json_atomic(host / RUN_DIR / f"{unit}.json", state)
            journal(host, unit, [f"systemd[1]: Stopped {unit}.service - {UNITS[unit]}."])
            print(f"{TAG} systemctl: stopped {unit}.service")
        elif verb == "is-active":
            active = service_state(host, unit).get("active")
            print("active" if active else "inactive")
            status = status or (0 if active else 3)
        elif verb == "status":
            state = service_state(host, unit)
            since = time.strftime(
                "%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(state.get("since", time.time()))
            )
            active = "active (running)" if state.get("active") else "inactive (dead)"
            print(f"● {unit}.service - {UNITS[unit]}")
            print(
                f"     Loaded: loaded (/etc/systemd/system/{unit}.service; enabled; preset: enabled) {TAG}"
            )
            print(f"     Active: {active} since {since}")
            if state.get("pid"):
                print(f"   Main PID: {state['pid']} ({unit.split('-')[-1]})")
            status = status or (0 if state.get("active") else 3)
        else:
            print(f"{TAG} systemctl stand-in: '{verb}' is not supported", file=sys.stderr)
            return 1
    return status


# -- journalctl ---------------------------------------------------------------------------------


def _parse_since(text: str, now: float) -> float | None:
    text = text.strip().lower()
    m = re.fullmatch(
        r"(\d+)\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hour|hours|d|day|days)\s+ago",
        text,
    ) or re.fullmatch(r"-(\d+)\s*(s|m|min|h|d)", text)
    if m:
        unit = m.group(2)[0]
        return now - int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if text in ("today", "yesterday"):
        start = time.mktime((*time.localtime(now)[:3], 0, 0, 0, 0, 0, -1))
        return start - (86400 if text == "yesterday" else 0)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return time.mktime(time.strptime(text, fmt))
        except ValueError:
            continue
    return None


def journalctl(args: list[str]) -> int:
    host = host_root()
    units: list[str] = []
    since: float | None = None
    limit: int | None = None
    i = 0
    now = time.time()
    while i < len(args):
        a = args[i]
        value = args[i + 1] if i + 1 < len(args) else ""
        if a in ("-u", "--unit"):
            units.append(_unit(value))
            i += 2
        elif a.startswith("--unit="):
            units.append(_unit(a.split("=", 1)[1]))
            i += 1
        elif a in ("-S", "--since"):
            since = _parse_since(value, now)
            if since is None:
                print(f"Failed to parse timestamp: {value} {TAG}", file=sys.stderr)
                return 1
            i += 2
        elif a.startswith("--since="):
            since = _parse_since(a.split("=", 1)[1], now)
            i += 1
        elif a in ("-n", "--lines"):
            limit = int(value)
            i += 2
        else:  # --no-pager, -q, -o short... change nothing here
            i += 1
    units = units or sorted(p.stem for p in (host / JOURNAL_DIR).glob("*.log"))
    entries: list[tuple[float, str]] = []
    for unit in units:
        path = host / JOURNAL_DIR / f"{unit}.log"
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            stamp, _, text = line.partition("\t")
            t = float(stamp)
            if since is None or t >= since:
                entries.append((t, text))
    entries.sort(key=lambda e: e[0])
    if limit is not None:
        entries = entries[-limit:] if limit else []
    print(f"-- {TAG} journal of {HOSTNAME} ({', '.join(u + '.service' for u in units)}) --")
    if not entries:
        print("-- No entries --")
    for t, text in entries:
        print(f"{time.strftime('%b %d %H:%M:%S', time.localtime(t))} {HOSTNAME} {text}")
    return 0


# -- pg_dump / psql -----------------------------------------------------------------------------


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


# -- Django's manage.py ------------------------------------------------------------------------
#
# The committed manage.py imports ``manage`` from here (where a real one imports Django). Migration
# files are read from the checked-out code with ``ast`` (never imported: there is no Django), so a
# checkout of another commit changes which migrations exist. The applied ones are the rows of the
# sandbox database's django_migrations table.

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


# -- npm / pip / gh / nginx / sudo --------------------------------------------------------------


def npm(args: list[str]) -> int:
    cwd = Path.cwd()
    manifest = cwd / "package.json"
    if not manifest.exists():
        print(f"npm ERR! enoent Could not read package.json: {manifest} {TAG}", file=sys.stderr)
        return 254
    package = json.loads(manifest.read_text())
    if not args:
        print(f"{TAG} npm stand-in: install | ci | run SCRIPT")
        return 1
    verb = args[0]
    if verb in ("install", "i", "ci"):
        (cwd / "node_modules").mkdir(exist_ok=True)
        deps = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
        (cwd / "node_modules" / ".package-lock.json").write_text(json.dumps(deps, indent=1) + "\n")
        print(f"{TAG} npm stand-in: nothing is downloaded; {len(deps)} dependencies recorded")
        print()
        print(f"added {len(deps)} packages, and audited {len(deps) + 1} packages in 0.2s")
        print()
        print("found 0 vulnerabilities")
        return 0
    if verb == "run" and len(args) > 1 and args[1] == "build":
        script = package.get("scripts", {}).get("build")
        if not script:
            print(f'npm ERR! Missing script: "build" {TAG}', file=sys.stderr)
            return 1
        print(
            f"\n> {package.get('name', 'app')}@{package.get('version', '0.0.0')} build\n> {script}\n"
        )
        sources = sorted((cwd / "frontend" / "src").glob("*.js"))
        bundle = "\n".join(p.read_text() for p in sources)
        digest = hashlib.sha256(bundle.encode()).hexdigest()[:8]
        dist = cwd / "frontend" / "dist" / "assets"
        dist.mkdir(parents=True, exist_ok=True)
        for old in dist.glob("index-*.js"):
            old.unlink()
        (dist / f"index-{digest}.js").write_text(bundle)
        print(f"{TAG} npm stand-in: bundled frontend/src without vite")
        print(f"✓ {len(sources)} modules transformed.")
        print(f"frontend/dist/assets/index-{digest}.js  {len(bundle) / 1000:.2f} kB")
        print("✓ built in 0.05s")
        return 0
    print(f"{TAG} npm stand-in: '{' '.join(args)}' is not supported", file=sys.stderr)
    return 1


def pip(args: list[str]) -> int:
    if not args or args[0] != "install":
        print(f"{TAG} pip stand-in: only 'pip install -r FILE' is supported", file=sys.stderr)
        return 1
    venv = Path(os.environ.get("VIRTUAL_ENV") or Path.cwd() / "venv")
    requirements: list[str] = []
    i = 1
    while i < len(args):
        if args[i] in ("-r", "--requirement") and i + 1 < len(args):
            path = Path(args[i + 1])
            if not path.exists():
                print(
                    f"ERROR: Could not open requirements file: [Errno 2] No such file or directory: '{path}' {TAG}",
                    file=sys.stderr,
                )
                return 1
            requirements += [
                ln.split("#")[0].strip()
                for ln in path.read_text().splitlines()
                if ln.split("#")[0].strip()
            ]
            i += 2
        elif not args[i].startswith("-"):
            requirements.append(args[i])
            i += 1
        else:
            i += 1
    record = venv / "installed.json"
    installed: dict[str, str] = json.loads(record.read_text()) if record.exists() else {}
    site = f"./{venv.name}/lib/python3.11/site-packages"
    print(f"{TAG} pip stand-in: nothing is downloaded")
    new: list[str] = []
    for req in requirements:
        pkg, _, version = req.partition("==")
        if installed.get(pkg.lower()) == version:
            print(f"Requirement already satisfied: {req} in {site}")
        else:
            print(f"Collecting {req}")
            new.append(f"{pkg}-{version}" if version else pkg)
            installed[pkg.lower()] = version
    if new:
        print(f"Installing collected packages: {', '.join(n.rsplit('-', 1)[0] for n in new)}")
        print(f"Successfully installed {' '.join(new)}")
    venv.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, installed)
    return 0


def gh(args: list[str]) -> int:
    if args[:2] == ["workflow", "run"] and len(args) > 2:
        ref = (
            args[args.index("--ref") + 1]
            if "--ref" in args and args.index("--ref") + 1 < len(args)
            else "main"
        )
        print(f"✓ Created workflow_dispatch event for {args[2]} at {ref}")
        print(f"{TAG} gh stand-in: nothing was sent to GitHub")
        return 0
    if args[:2] == ["run", "list"]:
        workflow = next(
            (a.split("=", 1)[1] for a in args if a.startswith("--workflow=")), "deploy-staging.yml"
        )
        print(
            "STATUS  TITLE                     WORKFLOW            BRANCH   EVENT              ID          ELAPSED  AGE"
        )
        print(
            f"✓       chore(release): 1.2.3 ({TAG})  {workflow}  develop  workflow_dispatch  1000000001  2m41s    less than a minute ago"
        )
        return 0
    print(
        f"{TAG} gh stand-in: only 'gh workflow run' and 'gh run list' are supported",
        file=sys.stderr,
    )
    return 1


def nginx(args: list[str]) -> int:
    host = host_root()
    conf = host / "etc/nginx/nginx.conf"
    if "-t" in args:
        if not conf.exists():
            print(
                f'nginx: [emerg] open() "{conf}" failed (2: No such file or directory) {TAG}',
                file=sys.stderr,
            )
            return 1
        print(f"nginx: the configuration file {conf} syntax is ok {TAG}", file=sys.stderr)
        print(f"nginx: configuration file {conf} test is successful", file=sys.stderr)
        return 0
    print(
        f"{TAG} nginx stand-in: only 'nginx -t' is supported (use systemctl reload nginx)",
        file=sys.stderr,
    )
    return 1


def sudo(args: list[str]) -> int:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        a = args[i]
        if a == "--":
            i += 1
            break
        i += 2 if a in ("-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U") else 1
    command = args[i:]
    if not command:
        print(f"usage: sudo [-n] [-u user] command {TAG}", file=sys.stderr)
        return 1
    print(f"{TAG} sudo: runs the command as the sandbox user, no password asked", file=sys.stderr)
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        print(f"sudo: {command[0]}: command not found", file=sys.stderr)
        return 1
    return 0  # pragma: no cover - execvp does not return


TOOLS = {
    "pg_dump": pg_dump,
    "psql": psql,
    "systemctl": systemctl,
    "journalctl": journalctl,
    "npm": npm,
    "pip": pip,
    "pip3": pip,
    "gh": gh,
    "nginx": nginx,
    "sudo": sudo,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TOOLS:
        print(f"{TAG} stand-ins: {', '.join(TOOLS)}", file=sys.stderr)
        return 2
    try:
        return TOOLS[argv[0]](argv[1:])
    except BrokenPipeError:
        return 141


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
