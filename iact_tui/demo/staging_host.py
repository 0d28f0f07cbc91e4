"""Builds the sandbox "staging host" in a folder: the project's git history and deployed working
copy, configuration files, the stand-in tools, a migrated database; then starts its services."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from iact_tui.demo import standins
from iact_tui.demo.layout import Layout, host_environment
from iact_tui.demo.project import DB_NAME, build_history
from iact_tui.demo.standins import host as host_state

SMOKE_USER = "testuser"


# -- the host's other files ---------------------------------------------------------------------

NGINX_CONF = """# [sandbox] sample configuration archived by the backup step
user www-data;
worker_processes auto;
events { worker_connections 768; }
http {
    include /etc/nginx/sites-enabled/*;
}
"""

SITE_CONF = """server {
    listen 443 ssl;
    server_name staging.iact-project.com;
    location /static/ { alias /var/www/iact-project/staticfiles/; }
    location / { proxy_pass http://unix:/run/iact-gunicorn.sock; }
}
"""

GUNICORN_UNIT = """[Unit]
Description=IACT Django app (gunicorn)
After=network.target

[Service]
User=deploy
WorkingDirectory=/var/www/iact-project
EnvironmentFile=/var/www/iact-project/.env
ExecStart=/var/www/iact-project/venv/bin/gunicorn iact.wsgi --bind unix:/run/iact-gunicorn.sock
ExecReload=/bin/kill -s HUP $MAINPID

[Install]
WantedBy=multi-user.target
"""

WORKER_UNIT = """[Unit]
Description=IACT Celery worker
After=network.target

[Service]
User=deploy
WorkingDirectory=/var/www/iact-project
EnvironmentFile=/var/www/iact-project/.env
ExecStart=/var/www/iact-project/venv/bin/celery -A iact worker --loglevel=INFO

[Install]
WantedBy=multi-user.target
"""


def _write(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)


def install_tools(layout: Layout) -> None:
    """The stand-in tools: a copy of the multi-call package and a shell wrapper per tool over it."""
    package = layout.host / "usr/local/lib/iact-sandbox/standins"
    shutil.copytree(
        Path(standins.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__")
    )
    python = shlex.quote(sys.executable)
    for name in standins.TOOLS:
        target = layout.local_bin if name == "gh" else layout.host_bin
        _write(
            target / name,
            f"#!/bin/sh\n# [sandbox] stand-in for {name} (iact-tui demo)\n"
            f'IACT_SANDBOX={shlex.quote(str(layout.host))} exec {python} -I -S {shlex.quote(str(package))} {name} "$@"\n',
            0o755,
        )


def install_host_files(layout: Layout, faults: frozenset[str]) -> None:
    host = layout.host
    _write(host / "etc/nginx/nginx.conf", NGINX_CONF)
    _write(host / "etc/nginx/sites-available/iact-project", SITE_CONF)
    _write(host / "etc/nginx/sites-enabled/iact-project", SITE_CONF)
    _write(host / "etc/systemd/system/iact-gunicorn.service", GUNICORN_UNIT)
    _write(host / "etc/systemd/system/iact-celery-worker.service", WORKER_UNIT)
    layout.backups.mkdir(parents=True)
    layout.home.mkdir(parents=True)
    _write(
        layout.home / ".gitconfig",
        "[user]\n\tname = deploy\n\temail = deploy@staging-sandbox\n[advice]\n\tdetachedHead = false\n",
    )
    app = layout.app_dir
    env_lines = [
        "# [sandbox] the staging environment of the demo (no real secret here)",
        "DJANGO_SETTINGS_MODULE=iact.settings",
        f"DATABASE_URL=postgres://postgres@localhost:5432/{DB_NAME}",
        "REDIS_URL=redis://localhost:6379/0",
        f"SECRET_KEY=sandbox-{secrets.token_hex(8)}",
    ]
    if "health" not in faults:  # the release needs it; the "health" fault forgets to add it
        env_lines.append(f"JWT_SECRET_KEY=sandbox-{secrets.token_hex(8)}")
    _write(app / ".env", "\n".join(env_lines) + "\n")
    venv = app / "venv"
    _write(
        venv / "bin/activate",
        "# [sandbox] stand-in for a virtualenv's activate script (iact-tui demo)\n"
        f"VIRTUAL_ENV={shlex.quote(str(venv))}\nexport VIRTUAL_ENV\n"
        'PATH="$VIRTUAL_ENV/bin:$PATH"\nexport PATH\n',
    )
    python = shlex.quote(sys.executable)
    for name in ("python", "python3"):
        _write(
            venv / "bin" / name,
            f'#!/bin/sh\n# [sandbox] the venv\'s interpreter\nexec {python} "$@"\n',
            0o755,
        )
    for name in ("pip", "pip3"):
        _write(
            venv / "bin" / name,
            f'#!/bin/sh\nexec {shlex.quote(str(layout.host_bin / "pip"))} "$@"\n',
            0o755,
        )
    installed = {}
    for line in (app / "requirements.txt").read_text().splitlines():
        pkg, _, version = line.partition("==")
        installed[pkg.lower()] = version
    host_state.write_json_atomic(venv / "installed.json", installed)


def seed_database(layout: Layout, env: dict[str, str], smoke_password: str) -> None:
    """An empty database with the demo user, then staging's own migrations via manage.py."""
    salt = secrets.token_hex(6)
    db = {
        "tables": {
            "auth_user": {
                "columns": [
                    ["id", "integer NOT NULL"],
                    ["username", "character varying(150) NOT NULL"],
                    ["email", "character varying(254) NOT NULL"],
                    ["password", "character varying(128) NOT NULL"],
                    ["is_active", "boolean NOT NULL"],
                ],
                "rows": [
                    [
                        1,
                        SMOKE_USER,
                        "testuser@iact-project.example",
                        host_state.password_hash(smoke_password, salt),
                        True,
                    ],
                    [
                        2,
                        "ana.torres",
                        "ana.torres@iact-project.example",
                        host_state.password_hash(secrets.token_hex(8), salt),
                        True,
                    ],
                ],
            },
        }
    }
    host_state.save_db(layout.host, DB_NAME, db)
    run_on_host(
        layout,
        env,
        f"{shlex.quote(sys.executable)} manage.py migrate --noinput",
        cwd=layout.app_dir,
    )


def run_on_host(layout: Layout, env: dict[str, str], command: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=cwd or layout.home,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"sandbox set-up command {command!r} failed: {(done.stderr or done.stdout).strip()[-500:]}"
        )
    return done.stdout


def build(layout: Layout, faults: frozenset[str], smoke_password: str) -> None:
    """Everything on disk; the services are started (the app loads staging's code)."""
    env = host_environment(layout)
    for path in (layout.client, layout.local_bin):
        path.mkdir(parents=True, exist_ok=True)
    build_env = {**env, "GIT_CONFIG_GLOBAL": os.devnull, "HOME": str(layout.root / "local")}
    build_history(layout, build_env, faults)
    install_tools(layout)
    install_host_files(layout, faults)
    host_state.write_json_atomic(
        layout.host / host_state.CONFIG_FILE,
        {
            "app_dir": str(layout.app_dir),
            "db_name": DB_NAME,
            "faults": sorted(faults),
        },
    )
    seed_database(layout, env, smoke_password)
    run_on_host(layout, env, "systemctl restart iact-gunicorn iact-celery-worker nginx")
