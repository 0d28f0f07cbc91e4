"""The sandbox host's state, kept in files under the host folder: what every stand-in reads and
writes, and what the sandbox itself uses in-process (the web app reads the database and the
service state, the build writes them).

- the "database" is a JSON file, ``var/lib/postgresql/<db>.json`` (tables, columns, rows);
- services are ``run/<unit>.json``; a restart of ``iact-gunicorn`` loads the checked-out code
  (VERSION, required environment variables, see ``load_app``);
- the journal is ``var/log/journal/<unit>.log`` (``epoch<TAB>line``), read by ``journalctl``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
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


def unit_name(name: str) -> str:
    """``nginx.service`` and ``nginx`` name the same unit."""
    return name.removesuffix(".service")
