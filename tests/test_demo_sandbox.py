"""The demo's sandbox, driven from outside as the checklist would: asyncssh with host-key
checking against the sandbox's known_hosts, httpx against its web app."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pytest

from iact_tui.demo import FAULTS, Sandbox, SandboxError
from iact_tui.demo.project import (
    NEW_MIGRATION,
    PREVIOUS_MIGRATION,
    RELEASE_VERSION,
    STAGING_VERSION,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(temp_root=tmp_path) as box:
        yield box


def connect(box: Sandbox, **kwargs: object) -> Any:
    v = box.variables()
    options = {
        "known_hosts": v["known_hosts"],
        "client_keys": [v["ssh_identity"]],
        "username": v["ssh_user"],
    }
    options.update(kwargs)
    return asyncssh.connect(v["staging_host"], port=int(v["ssh_port"]), **options)


async def health(box: Sandbox) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(f"{box.base_url}/api/health")


def in_app(box: Sandbox, command: str) -> str:
    app_dir = shlex.quote(box.variables()["app_dir"])
    return f"cd {app_dir} && . venv/bin/activate && {command}"


DEPLOY = "git fetch -q origin && git checkout -q develop && git pull -q origin develop && python manage.py migrate --noinput"


# -- the SSH server -----------------------------------------------------------------------------


async def test_ssh_verifies_host_key_and_runs_commands_in_the_sandbox(sandbox: Sandbox) -> None:
    async with connect(sandbox) as conn:
        result = await conn.run("pwd; echo out; echo err >&2; exit 7")
    assert result.exit_status == 7
    assert result.stdout.splitlines() == [str(sandbox.layout.home), "out"]
    assert result.stderr == "err\n"


async def test_ssh_refuses_an_unknown_host_key_and_a_stranger(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    other = tmp_path / "other_known_hosts"
    stranger = (
        asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().split()
    )
    other.write_text(f"[127.0.0.1]:{sandbox.variables()['ssh_port']} {stranger[0]} {stranger[1]}\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with connect(sandbox, known_hosts=str(other)):
            pass
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(sandbox, username="root"):
            pass
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(sandbox, client_keys=[asyncssh.generate_private_key("ssh-ed25519")]):
            pass


async def test_stand_ins_come_first_on_path_and_say_sandbox(sandbox: Sandbox) -> None:
    async with connect(sandbox) as conn:
        result = await conn.run(
            "for t in pg_dump psql systemctl journalctl npm pip sudo; do command -v $t; done"
        )
        status = await conn.run("systemctl status iact-gunicorn")
    bin_dir = str(sandbox.layout.host_bin)
    assert [Path(p).parent for p in result.stdout.split()] == [Path(bin_dir)] * 7
    assert "sandbox" in status.stdout
    assert "active (running)" in status.stdout


async def test_changelog_review_in_the_local_checkout(sandbox: Sandbox) -> None:
    repo = sandbox.variables()["repo_dir"]
    proc = await asyncio.create_subprocess_exec(
        "git", "log", "staging..develop", "--oneline", cwd=repo, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    subjects = [line.split(" ", 1)[1] for line in out.decode().splitlines()]
    assert proc.returncode == 0
    assert len(subjects) >= 3
    assert subjects[0] == f"chore(release): {RELEASE_VERSION}"
    assert all(re.match(r"^(feat|fix|chore)(\(\w+\))?: ", s) for s in subjects)
    assert "feat(auth): add refresh token field" in subjects


async def test_remote_changelog_and_previous_state(sandbox: Sandbox) -> None:
    async with connect(sandbox) as conn:
        log = await conn.run(
            in_app(
                sandbox, "git fetch -q origin && git log origin/staging..origin/develop --oneline"
            )
        )
        migrations = await conn.run(in_app(sandbox, "python manage.py showmigrations app_name"))
    assert len(log.stdout.splitlines()) >= 3
    lines = migrations.stdout.splitlines()
    assert lines[0] == "app_name"
    assert lines[-1] == f" [X] {PREVIOUS_MIGRATION}"
    assert all(re.match(r"^ \[X\] \d{4}_\w+$", line) for line in lines[1:])


async def test_dump_and_restore_round_trip_brings_the_database_back(sandbox: Sandbox) -> None:
    v = sandbox.variables()
    dump = f"{v['backup_dir']}/{v['db_name']}_test.sql"
    async with connect(sandbox) as conn:
        backup = await conn.run(
            f"pg_dump --clean --if-exists -U postgres {v['db_name']} > {dump} && test -s {dump} && ls -lh {dump}"
        )
        migrated = await conn.run(in_app(sandbox, DEPLOY))
        after = await conn.run(
            in_app(sandbox, "python manage.py showmigrations app_name | tail -1")
        )
        restored = await conn.run(f"psql -U postgres {v['db_name']} < {dump}")
        back = await conn.run(in_app(sandbox, "python manage.py showmigrations app_name | tail -1"))
    assert backup.exit_status == 0, backup.stderr
    text = await asyncio.to_thread(Path(dump).read_text)
    assert "PostgreSQL database dump" in text and "sandbox" in text
    assert "DROP TABLE IF EXISTS public.auth_user;" in text
    assert f"app_name\t{PREVIOUS_MIGRATION}" in text
    assert migrated.exit_status == 0, migrated.stderr
    assert after.stdout.strip() == f"[X] {NEW_MIGRATION}"
    assert restored.exit_status == 0 and "ERROR" not in restored.stderr, restored.stderr
    assert "COPY" in restored.stdout
    assert back.stdout.strip() == f"[ ] {NEW_MIGRATION}"


async def test_restore_without_clean_reports_errors_like_psql(sandbox: Sandbox) -> None:
    v = sandbox.variables()
    dump = f"{v['backup_dir']}/plain.sql"
    async with connect(sandbox) as conn:
        await conn.run(f"pg_dump -U postgres {v['db_name']} > {dump}")
        restored = await conn.run(f"psql -U postgres {v['db_name']} < {dump}")
    assert 'ERROR:  relation "auth_user" already exists' in restored.stderr


async def test_restart_changes_the_version_and_rollback_brings_it_back(sandbox: Sandbox) -> None:
    before = await health(sandbox)
    assert before.status_code == 200
    assert before.json() == {"status": "healthy", "version": STAGING_VERSION}
    async with connect(sandbox) as conn:
        prev = (await conn.run(in_app(sandbox, "git rev-parse HEAD"))).stdout.strip()
        deployed = await conn.run(
            in_app(sandbox, f"{DEPLOY} && sudo -n systemctl restart iact-gunicorn")
        )
        assert deployed.exit_status == 0, deployed.stderr
        assert (await health(sandbox)).json() == {"status": "healthy", "version": RELEASE_VERSION}
        logs = await conn.run(
            'sudo -n journalctl -u iact-gunicorn --since "5 minutes ago" --no-pager'
        )
        rolled = await conn.run(
            in_app(
                sandbox,
                f"python manage.py migrate app_name {PREVIOUS_MIGRATION} && git checkout -q {prev} "
                "&& sudo -n systemctl restart iact-gunicorn",
            )
        )
    assert f"IACT {RELEASE_VERSION}" in logs.stdout
    assert not re.search(r"(?i)\berror\b", logs.stdout)
    assert rolled.exit_status == 0, rolled.stderr
    assert f"Unapplying app_name.{NEW_MIGRATION}... OK" in rolled.stdout
    assert (await health(sandbox)).json() == {"status": "healthy", "version": STAGING_VERSION}


async def test_http_endpoints_of_the_seed(sandbox: Sandbox) -> None:
    v = sandbox.variables()
    async with httpx.AsyncClient(base_url=v["base_url"], timeout=5) as client:
        assert (await client.get("/api/db-check")).json() == {"database": "connected"}
        assert (await client.get("/api/cache-check")).json() == {"cache": "connected"}
        assert (await client.get("/api/users/me")).status_code == 401
        bad = await client.post(
            "/api/auth/login", json={"username": v["smoke_user"], "password": "wrong"}
        )
        assert bad.status_code == 401
        login = await client.post(
            "/api/auth/login", json={"username": v["smoke_user"], "password": v["smoke_password"]}
        )
        assert login.status_code == 200
        token = login.json()["token"]
        me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["username"] == v["smoke_user"]
        assert (await client.get("/api/nothing")).status_code == 404
        assert (await client.post("/api/health")).status_code == 405
        assert "sandbox" in (await client.get("/")).text


async def test_deploy_steps_run_as_the_checklist_writes_them(sandbox: Sandbox) -> None:
    v = sandbox.variables()
    async with connect(sandbox) as conn:
        env_backup = await conn.run(
            f"cd {v['app_dir']} && cp .env .env.backup.$(date +%Y%m%d_%H%M%S) && ls -a"
        )
        tarball = await conn.run(
            f'f={v["backup_dir"]}/config_x.tar.gz; tar -czf "$f" {v["config_paths"]} && ls -lh "$f"'
        )
        deps = await conn.run(
            in_app(
                sandbox,
                "git fetch -q origin && git checkout -q develop && pip install -r requirements.txt "
                "&& npm install && python manage.py collectstatic --noinput && npm run build",
            )
        )
        services = await conn.run(f"{v['reload_web_cmd']} && {v['restart_worker_cmd']}")
    assert ".env.backup." in env_backup.stdout
    assert tarball.exit_status == 0 and "config_x.tar.gz" in tarball.stdout
    assert deps.exit_status == 0, deps.stderr
    assert "Successfully installed PyJWT-2.8.0" in deps.stdout
    assert "static files copied" in deps.stdout
    assert services.exit_status == 0, services.stderr
    assert "sandbox" in services.stdout


# -- the faults ---------------------------------------------------------------------------------


async def test_fault_health_makes_the_new_release_unhealthy(tmp_path: Path) -> None:
    async with Sandbox({"health"}, temp_root=tmp_path) as box:
        assert (await health(box)).status_code == 200
        async with connect(box) as conn:
            prev = (await conn.run(in_app(box, "git rev-parse HEAD"))).stdout.strip()
            await conn.run(in_app(box, f"{DEPLOY} && sudo -n systemctl restart iact-gunicorn"))
            broken = await health(box)
            logs = await conn.run(
                'sudo -n journalctl -u iact-gunicorn --since "5 minutes ago" --no-pager'
            )
            await conn.run(
                in_app(
                    box,
                    f"python manage.py migrate app_name {PREVIOUS_MIGRATION} && git checkout -q {prev} "
                    "&& sudo -n systemctl restart iact-gunicorn",
                )
            )
        assert broken.status_code == 503
        assert broken.json() == {
            "status": "unhealthy",
            "version": RELEASE_VERSION,
            "error": "KeyError: 'JWT_SECRET_KEY'",
        }
        assert re.search(r"\[ERROR\]", logs.stdout)
        assert (await health(box)).json() == {"status": "healthy", "version": STAGING_VERSION}


async def test_fault_migration_fails_like_django(tmp_path: Path) -> None:
    async with Sandbox({"migration"}, temp_root=tmp_path) as box:
        async with connect(box) as conn:
            failed = await conn.run(in_app(box, DEPLOY))
            state = await conn.run(
                in_app(box, "python manage.py showmigrations app_name | tail -1")
            )
    assert failed.exit_status == 1
    assert (
        'django.db.utils.OperationalError: relation "app_name_refreshtoken" does not exist'
        in failed.stderr
    )
    assert state.stdout.strip() == f"[ ] {NEW_MIGRATION}"  # nothing of the failed migration is kept


async def test_fault_connection_drops_once_during_migrate(tmp_path: Path) -> None:
    async with Sandbox({"connection"}, temp_root=tmp_path) as box:
        async with connect(box) as conn:
            assert (
                await conn.run(in_app(box, "python manage.py showmigrations app_name"))
            ).exit_status == 0
            try:
                dropped = await conn.run(in_app(box, DEPLOY))
            except (asyncssh.ConnectionLost, asyncssh.DisconnectError, ConnectionError):
                pass
            else:  # the channel ended with the connection: no exit status ever came
                assert dropped.exit_status is None
                assert conn.is_closed()
        async with connect(
            box
        ) as again:  # the host is still there; the next command is not dropped
            check = await again.run(
                in_app(
                    box,
                    "python manage.py migrate --noinput && python manage.py showmigrations app_name | tail -1",
                )
            )
        assert box.ssh is not None and len(box.ssh.dropped) == 1
    assert check.exit_status == 0
    assert check.stdout.strip().endswith(f"[X] {NEW_MIGRATION}")  # the dropped command did run


def test_unknown_fault_is_refused_with_the_known_ones() -> None:
    with pytest.raises(SandboxError, match=r"unknown fault 'disk'.*health"):
        Sandbox({"disk"})
    assert set(FAULTS) >= {"health", "migration", "connection"}


# -- clean-up and loopback only -----------------------------------------------------------------


def _listening_sockets() -> list[tuple[str, int]]:
    """(address, port) of this process's listening TCP sockets, from /proc (no psutil)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != "0A" or inode not in inodes:  # 0A: LISTEN
                    continue
                address_hex, port_hex = local.split(":")
                if width == 8:
                    address = ".".join(str(int(address_hex[i : i + 2], 16)) for i in (6, 4, 2, 0))
                else:
                    address = address_hex
                found.append((address, int(port_hex, 16)))
    return found


async def test_only_loopback_is_bound_and_nothing_is_left_behind(tmp_path: Path) -> None:
    before = set(_listening_sockets())
    async with Sandbox(temp_root=tmp_path) as box:
        v = box.variables()
        async with connect(box) as conn:
            await conn.run("true")
        ours = set(_listening_sockets()) - before
        root = box.root
        http_port = int(box.base_url.rsplit(":", 1)[1])
    assert {port for _, port in ours} == {int(v["ssh_port"]), http_port}
    assert all(address == "127.0.0.1" for address, _ in ours), ours
    assert root is not None and not root.exists()
    assert os.listdir(tmp_path) == []
    assert set(_listening_sockets()) - before == set()


async def test_cancellation_stops_servers_remote_commands_and_removes_the_folder(
    tmp_path: Path,
) -> None:
    started = asyncio.Event()
    boxes: list[Sandbox] = []

    async def demo() -> None:
        async with Sandbox(temp_root=tmp_path) as box:
            boxes.append(box)
            async with (
                connect(box) as conn,
                conn.create_process("echo started; exec sleep 31.7") as proc,
            ):
                await proc.stdout.readline()
                started.set()
                await asyncio.Event().wait()  # until cancelled, as Ctrl-C would

    task = asyncio.create_task(demo())
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert os.listdir(tmp_path) == []
    assert boxes[0].ssh is None and boxes[0].http is None
    leftover = await asyncio.create_subprocess_exec(
        "pgrep", "-f", "sleep 31.7", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await leftover.communicate()
    assert out.strip() == b""


async def test_keep_leaves_the_folder_for_inspection(tmp_path: Path) -> None:
    async with Sandbox(temp_root=tmp_path, keep=True) as box:
        root = box.root
    assert root is not None and (root / "host/var/www/iact-project/VERSION").exists()


async def test_description_names_the_sandbox(sandbox: Sandbox) -> None:
    text = sandbox.description()
    assert "Sandbox" in text and "127.0.0.1" in text and "stand-ins" in text
    assert sandbox.smoke_password not in text
