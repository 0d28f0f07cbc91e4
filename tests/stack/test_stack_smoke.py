"""The stack itself: it starts, the app answers for real, the deploy user logs in with the key,
and a release applied by hand (the checklist's own commands) does what the scenarios rely on."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from .stack import STAGING_VERSION, Deployment, Stack, wait_until

pytestmark = pytest.mark.stack


def ssh(
    stack: Stack, command: str, user: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*stack.ssh_argv(user), command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_app_answers_with_staging_before_the_deploy(
    stack: Stack, deployment: Deployment
) -> None:
    assert deployment.health() == {"status": "healthy", "version": STAGING_VERSION}

    db = deployment.get("/api/db-check")
    assert db.status_code == 200
    assert db.json() == {"database": "connected", "name": deployment.db_name, "items": 3}

    assert deployment.get("/api/cache-check").json() == {"cache": "connected"}

    login = deployment.post(
        "/api/auth/login", json={"username": stack.smoke_user, "password": stack.smoke_password}
    )
    assert login.status_code == 200
    token = login.json()["token"]
    assert len(token) >= 32

    me = deployment.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["username"] == stack.smoke_user

    assert deployment.get("/api/users/me").status_code == 401
    assert (
        deployment.get("/api/users/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    wrong = deployment.post(
        "/api/auth/login", json={"username": stack.smoke_user, "password": "wrong"}
    )
    assert wrong.status_code == 401
    # the token is a row of PostgreSQL's, not something the app made up
    assert stack.pg.sql("SELECT count(*) FROM inventory_apitoken", deployment.db_name) == "1"


def test_the_deploy_user_logs_in_with_the_key_and_finds_postgres(
    stack: Stack, deployment: Deployment
) -> None:
    result = ssh(
        stack, "id -un; echo $SHELL; psql -X -At -U postgres -c 'SELECT 42' " + deployment.db_name
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [stack.user, "/bin/bash", "42"]

    as_root = ssh(stack, "id -u", user="root")
    assert as_root.returncode == 0, as_root.stderr
    assert as_root.stdout.strip() == "0"


def test_an_unknown_host_key_is_refused_by_openssh(stack: Stack, tmp_path: Path) -> None:
    # the same check the app makes, done by OpenSSH itself: our known_hosts must be what matters
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    argv = [a.replace(str(stack.known_hosts), str(empty)) for a in stack.ssh_argv()]
    result = subprocess.run(
        [*argv, "true"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 255
    assert "Host key verification failed" in result.stderr


def test_the_jump_host_forwards_to_staging(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    alias = stack.write_ssh_config(config)
    result = subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", alias, "id -un"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == stack.user
    # the jump host opened the tunnel to staging's sshd: its log says so
    assert f"target 127.0.0.1 port {stack.sshd.port}" in stack.jump.log.read_text()


def test_a_release_by_hand_with_the_checklists_commands(
    stack: Stack, deployment: Deployment
) -> None:
    """The commands of PASO 2-3 and the rollback of PASO 6, typed by hand over ssh: the stack
    does what the scenarios expect of it."""
    before = deployment.snapshot()
    app = deployment.app_dir
    backup = deployment.backup_dir / "before.sql"
    activate = f"cd {app} && source venv/bin/activate"
    steps = [
        f"pg_dump --clean --if-exists -U postgres {deployment.db_name} > {backup}",
        f"cd {app} && git fetch origin && git checkout develop && git pull origin develop",
        f"{activate} && pip install -q -r requirements.txt",
        f"{activate} && python manage.py migrate --no-input",
        f"{activate} && python manage.py makemigrations --check --dry-run",
        f"{activate} && python manage.py collectstatic --no-input",
        f"{deployment.appctl} restart",
    ]
    for command in steps:
        result = ssh(stack, command, timeout=120)
        assert result.returncode == 0, f"{command}: {result.stderr or result.stdout}"

    assert deployment.health() == {"status": "healthy", "version": "1.1.0"}
    assert deployment.applied_migrations() == [
        "0001_initial",
        "0002_seed_items",
        "0003_item_location",
    ]
    items = deployment.get("/api/items").json()["items"]
    assert [i["location"] for i in items] == ["estante-a", "estante-b", "deposito"]
    assert (deployment.static_root / "inventory" / "app.css").is_file()
    assert backup.stat().st_size > 0
    logs = ssh(stack, f"{deployment.appctl} logs").stdout
    assert "Booting worker" in logs and "error" not in logs.lower()

    rollback = [
        f"{activate} && python manage.py migrate inventory 0002_seed_items --no-input",
        f"cd {app} && git checkout -q staging",
        f"psql -q -U postgres {deployment.db_name} < {backup}",
        f"{deployment.appctl} restart",  # once, last: previous code on the previous schema
    ]
    for command in rollback:
        result = ssh(stack, command, timeout=120)
        assert result.returncode == 0, f"{command}: {result.stderr or result.stdout}"
    assert deployment.health() == {"status": "healthy", "version": STAGING_VERSION}
    assert deployment.snapshot() == before


def test_the_broken_release_starts_but_reports_unhealthy(
    stack: Stack, deploy: Callable[..., Deployment]
) -> None:
    deployment = deploy("broken")
    app = deployment.app_dir
    for command in (
        f"cd {app} && git fetch -q origin && git checkout -q develop",
        f"cd {app} && source venv/bin/activate && python manage.py migrate --no-input",
        f"{deployment.appctl} restart",
    ):
        result = ssh(stack, command)
        assert result.returncode == 0, result.stderr
    response = deployment.get("/api/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["version"] == "1.2.0"


def test_the_gated_migration_waits_for_the_test(
    stack: Stack, deploy: Callable[..., Deployment]
) -> None:
    deployment = deploy("gated")
    app = deployment.app_dir
    assert ssh(stack, f"cd {app} && git fetch -q origin && git checkout -q develop").returncode == 0
    with stack.pg.gate(deployment.db_name) as gate:
        result: dict[str, subprocess.CompletedProcess[str]] = {}
        migrate = threading.Thread(
            target=lambda: result.update(
                done=ssh(
                    stack,
                    f"cd {app} && source venv/bin/activate && python manage.py migrate --no-input",
                    timeout=90,
                )
            )
        )
        migrate.start()
        wait_until(
            lambda: stack.pg.lock_waiters(deployment.db_name) == 1,
            30,
            "the migration waiting at the gate",
        )
        assert "0004_wait_for_gate" not in deployment.applied_migrations()
        gate.release()
        migrate.join(timeout=60)
    assert result["done"].returncode == 0, result["done"].stderr
    assert deployment.applied_migrations()[-1] == "0004_wait_for_gate"
