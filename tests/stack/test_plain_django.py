"""Issue 14, "Show": a plain Django app — written here, with nothing of the IACT app (no
/api/health JSON, no JSON login, no cache check, no Celery, no nginx, no systemd) — deployed on
the real stack with the shipped ``checklists/staging.toml`` as it is, plus one vars file.

The box is what a small team's staging server often is, and what docs/writing-a-checklist.md
describes: an sshd whose login environment says nothing about PostgreSQL (so ``db_host`` and
``db_port`` reach pg_dump and psql), the app's settings in its ``.env``, gunicorn started by hand
with a pid file and restarted with ``kill -HUP`` (no systemd), its log in a file.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .cli import EXIT_OK, Cli
from .stack import (
    HERE,
    REQUIREMENTS,
    Sshd,
    Stack,
    chown_tree,
    free_port,
    make_dir,
    run,
    user_env,
    wait_until,
)

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

APP_SRC = HERE / "plain_django"
RELEASE_SRC = HERE / "plain_release"
CHECKLIST = Path(__file__).resolve().parents[2] / "checklists" / "staging.toml"


@dataclass
class PlainApp:
    """The plain app deployed on its own box of the stack: sshd without a PostgreSQL login
    environment, a checkout of ``staging`` serving 1.0.0, ``develop`` (1.1.0, migration 0002)
    waiting in origin."""

    stack: Stack
    root: Path
    sshd: Sshd
    port: int
    db_name: str = "shop_staging"

    @property
    def app_dir(self) -> Path:
        return self.root / "app"

    @property
    def pidfile(self) -> Path:
        return self.root / "run" / "gunicorn.pid"

    @property
    def log(self) -> Path:
        return self.root / "log" / "gunicorn.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def local_repo(self) -> Path:
        return self.root / "operator-checkout"

    def as_deploy(self, *argv: str, timeout: float = 120) -> str:
        return run(list(argv), user=self.stack.user, cwd=self.app_dir, timeout=timeout).stdout

    def vars_file(self, path: Path) -> Path:
        """The environment's values: everything the checklist needs to know about this box."""
        values = {
            "branch": "develop",
            "base_branch": "staging",
            "base_url": self.base_url,
            "staging_host": "127.0.0.1",
            "ssh_port": self.sshd.port,
            "ssh_user": self.stack.user,
            "known_hosts": str(self.known_hosts),
            "ssh_identity": str(self.stack.client_key),
            "app_dir": str(self.app_dir),
            "repo_dir": str(self.local_repo),
            "backup_dir": str(self.root / "backups"),
            "db_name": self.db_name,
            "db_user": self.stack.pg.role,
            "db_host": "127.0.0.1",
            "db_port": self.stack.pg.port,
            "django_app": "catalog",
            "has_frontend": False,
            "config_paths": "",
            "release_version": "1.1.0",
            # no systemd, no nginx, no Celery: gunicorn by its pid file, its log in a file
            "restart_app_cmd": f'kill -HUP "$(cat {shlex.quote(str(self.pidfile))})"',
            "reload_web_cmd": "",
            "restart_worker_cmd": "",
            "app_logs_cmd": f"tail -n 100 {shlex.quote(str(self.log))}",
            # a plain Django app: an HTML page that answers 200, no JSON, no JSON login
            "health_path": "/",
            "health_json_field": "",
            "version_json_field": "",
            "db_check_path": "",
            "cache_check_path": "",
            "smoke_login_path": "",
        }
        lines = ["# the plain shop app on the stack's staging box (tests/stack/test_plain_django.py)"]
        for key, value in values.items():
            if isinstance(value, bool):
                lines.append(f"{key} = {str(value).lower()}")
            elif isinstance(value, int):
                lines.append(f"{key} = {value}")
            else:
                lines.append(f"{key} = {json_string(value)}")
        path.write_text("\n".join(lines) + "\n")
        return path


def json_string(value: str) -> str:
    import json

    return json.dumps(value)


def build(stack: Stack, base: Path) -> PlainApp:
    root = make_dir(base / "plain", stack.user)
    box = Sshd("plain", root / "sshd", free_port())  # no SetEnv: nothing about PostgreSQL
    box.prepare()
    box.authorize(stack.user, stack.client_public_key)
    box.start()
    app = PlainApp(stack, root, box, free_port())
    app.known_hosts.write_text(box.known_hosts_line() + "\n")
    # git: staging = 1.0.0 (migration 0001); develop = the release (1.1.0, migration 0002)
    src = root / "src"
    shutil.copytree(APP_SRC, src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REQUIREMENTS, src / "requirements.txt")
    stack._git(src, "init", "-q", "-b", "staging")
    stack._git(src, "add", "-A")
    stack._git(src, "commit", "-q", "-m", "feat(catalog): products and the home page")
    stack._git(src, "checkout", "-q", "-b", "develop")
    shutil.copytree(RELEASE_SRC, src, dirs_exist_ok=True, copy_function=shutil.copyfile)
    stack._git(src, "add", "-A")
    stack._git(src, "commit", "-q", "-m", "feat(catalog): products have a price (migration 0002)")
    stack._git(src, "checkout", "-q", "staging")
    origin = root / "origin.git"
    stack._git(root, "init", "-q", "--bare", origin.name)
    stack._git(src, "push", "-q", str(origin), "staging:staging", "develop:develop")
    chown_tree(origin, stack.user)
    app.local_repo.mkdir()
    stack._git(app.local_repo, "init", "-q", "-b", "main")
    stack._git(app.local_repo, "fetch", "-q", str(src), "staging:staging", "develop:develop")
    stack._git(app.local_repo, "checkout", "-q", "develop")
    # the box: checkout, .env, venv, database at 0001, gunicorn serving 1.0.0
    for sub in ("backups", "log", "run", "static"):
        make_dir(root / sub, stack.user)
    run(["git", "clone", "-q", "--branch", "staging", str(origin), str(app.app_dir)], user=stack.user)
    (app.app_dir / "venv").symlink_to(stack.venv)
    env_file = app.app_dir / ".env"
    env_file.write_text(
        f"SECRET_KEY={stack.secret_key}\nDB_NAME={app.db_name}\nDB_USER={stack.pg.role}\n"
        f"DB_HOST=127.0.0.1\nDB_PORT={stack.pg.port}\nSTATIC_ROOT={root / 'static'}\n"
    )
    env_file.chmod(0o600)
    chown_tree(app.app_dir, stack.user)
    stack.pg.create_database(app.db_name)
    python = str(stack.venv / "bin" / "python")
    app.as_deploy(python, "manage.py", "migrate", "--no-input")
    gunicorn = [
        str(stack.venv / "bin" / "gunicorn"), "--chdir", str(app.app_dir), "--bind", f"127.0.0.1:{app.port}",
        "--workers", "2", "--pid", str(app.pidfile), "--error-logfile", str(app.log), "--daemon",
    ]
    if "--no-control-socket" in run([gunicorn[0], "--help"], check=False).stdout:
        gunicorn.append("--no-control-socket")
    run([*gunicorn, "shop.wsgi:application"], user=stack.user, cwd=app.app_dir, env=user_env(stack.user))
    wait_until(lambda: home(app) is not None, 30, "the plain app answering")
    return app


def home(app: PlainApp) -> str | None:
    try:
        response = httpx.get(app.base_url + "/", timeout=2)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def teardown(app: PlainApp) -> None:
    if app.pidfile.exists():
        run(["kill", "-QUIT", app.pidfile.read_text().strip()], check=False)
    app.sshd.stop()
    app.stack.pg.drop_database(app.db_name)
    shutil.rmtree(app.root, ignore_errors=True)


@pytest.fixture(scope="module")
def plain(stack: Stack) -> Iterator[PlainApp]:
    app = build(stack, stack.base)
    try:
        yield app
    finally:
        teardown(app)


def test_plain_django_app_deploys_with_the_shipped_checklist_and_a_vars_file(
    plain: PlainApp, tmp_path: Path
) -> None:
    assert "Shop 1.0.0" in (home(plain) or "")
    pid_before = int(plain.pidfile.read_text())
    vars_file = plain.vars_file(tmp_path / "shop-staging.vars.toml")
    cli = Cli(plain.stack, None, tmp_path)  # type: ignore[arg-type]
    cli.extra_env["IACT_SMOKE_PASSWORD"] = ""  # nobody gives one: the app has no login to test
    first = cli.call("run", str(CHECKLIST), "--headless", "--choose", "deploy=manual", "--vars", str(vars_file))
    result = cli.drive(first)
    assert result.returncode == EXIT_OK, str(result)

    state = cli.state()
    assert state.status == "succeeded"
    statuses = {s.id: s.status for s in state.steps.values() if not s.rollback}
    off = sorted(k for k, v in statuses.items() if v == "not_applicable")
    assert off == sorted([
        "ci-checks", "ci-jenkins", "config-backup", "db-check", "cache-check", "smoke-login",
        "smoke-me", "reload-web", "restart-worker", "install-node-deps", "build-frontend",
        "workflow-run", "jenkins-deploy", "workflow-dispatch", "workflow-status",
        "app-health",  # one server: no per-server health check (host_health_url is empty)
    ]), statuses
    assert all(v in ("passed", "not_applicable") for v in statuses.values()), statuses

    # the new release runs: gunicorn reloaded its workers (same master), migration 0002 applied,
    # the checkout at develop, the data kept
    page = home(plain) or ""
    assert "Shop 1.1.0" in page and "2 products: kettle, teapot" in page
    assert int(plain.pidfile.read_text()) == pid_before
    migrations = plain.stack.pg.sql(
        "SELECT name FROM django_migrations WHERE app = 'catalog' ORDER BY id", plain.db_name
    ).splitlines()
    assert migrations == ["0001_initial", "0002_product_price_cents"]
    assert plain.as_deploy("git", "rev-parse", "HEAD").strip() == plain.as_deploy(
        "git", "rev-parse", "origin/develop"
    ).strip()

    # pg_dump found PostgreSQL through db_host/db_port (the box's login environment has no PGHOST)
    report = cli.report()
    dump = Path(report["run"]["captures"]["backup_file"])
    assert dump.parent == plain.root / "backups" and dump.stat().st_size > 0
    assert hashlib.sha256(dump.read_bytes()).hexdigest() in (cli.folder / "report.toml").read_text()
    assert "CREATE TABLE public.catalog_product" in dump.read_text()

    # the vars file is in the report, with its sha256; the fallbacks filled the notices
    assert report["run"]["vars_file"] == {
        "path": str(vars_file.resolve()),
        "sha256": hashlib.sha256(vars_file.read_bytes()).hexdigest(),
    }
    assert report["run"]["variables"]["health_path"] == "/"
    assert "smoke_password" not in report["run"]["variables"]
    assert report["run"]["variables"]["new_version"] == "unknown"
    assert "new_version" not in report["run"].get("captures", {})
    # the checklist ran as shipped: no edit
    assert report["run"]["checklist_sha256"] == hashlib.sha256(CHECKLIST.read_bytes()).hexdigest()
