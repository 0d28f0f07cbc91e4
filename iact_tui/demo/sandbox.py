"""The demo's sandbox: a staging host in a temporary folder, its SSH server and its web app.

``async with Sandbox(faults={"health"}) as sandbox:`` builds everything, starts the servers on
127.0.0.1 (ephemeral ports) and hands out ``sandbox.variables()`` for checklists/staging.toml. On
leaving (normally, on an error, on cancellation or Ctrl-C) every server stops and the folder is
removed, unless ``keep=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from iact_tui.demo import project, staging_host
from iact_tui.demo.http_app import HttpServer, SandboxApp
from iact_tui.demo.layout import SSH_USER, Layout, host_environment
from iact_tui.demo.ssh_server import SandboxSshServer

FAULTS: dict[str, str] = {
    "health": "the release needs JWT_SECRET_KEY, which nobody added to staging's .env: after the restart "
    "/api/health answers 503 unhealthy with KeyError: 'JWT_SECRET_KEY'",
    "migration": "migration 0042 adds a field to a model whose table was never created: manage.py migrate "
    'fails with django.db.utils.OperationalError: relation "app_name_refreshtoken" does not exist',
    "connection": "the SSH connection drops as `manage.py migrate` finishes, before its exit status arrives",
}

# the command whose connection the "connection" fault drops (not showmigrations, not a rollback's
# `migrate APP TARGET`: the first plain `manage.py migrate` of the deploy)
DROP_ON = r"manage\.py\s+migrate(\s+--?[\w-]+)*\s*($|[;&|'\"])"


class SandboxError(Exception):
    """The sandbox could not be set up; the message is one sentence for the operator."""


class Sandbox:
    def __init__(
        self,
        faults: Iterable[str] = (),
        *,
        temp_root: str | Path | None = None,
        keep: bool = False,
    ) -> None:
        self.faults = frozenset(faults)
        unknown = sorted(self.faults - set(FAULTS))
        if unknown:
            raise SandboxError(f"unknown fault {unknown[0]!r}; the demo knows {', '.join(FAULTS)}")
        self.temp_root = Path(temp_root) if temp_root is not None else None
        self.keep = keep
        self.smoke_password = secrets.token_urlsafe(12)
        self.root: Path | None = None
        self.layout: Layout | None = None
        self.ssh: SandboxSshServer | None = None
        self.http: HttpServer | None = None
        self.app: SandboxApp | None = None
        self.known_hosts: Path | None = None
        self.identity: Path | None = None

    # -- life cycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="iact-demo-", dir=self.temp_root))
        try:
            self.layout = Layout(self.root)
            building = asyncio.ensure_future(
                asyncio.to_thread(staging_host.build, self.layout, self.faults, self.smoke_password)
            )
            try:
                await asyncio.shield(building)
            except asyncio.CancelledError:
                # the thread cannot be stopped: let it finish before the folder is removed
                with contextlib.suppress(Exception):
                    await building
                raise
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                raise SandboxError(f"the sandbox could not be built: {exc}") from exc
            self.app = SandboxApp(self.layout.host)
            self.http = HttpServer(self.app)
            await self.http.start()
            self.ssh = SandboxSshServer(
                user=SSH_USER,
                cwd=self.layout.home,
                env=host_environment(self.layout),
                drop_once=DROP_ON if "connection" in self.faults else None,
            )
            await self.ssh.start()
            self.known_hosts, self.identity = self.ssh.write_client_files(self.layout.client)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every server, remove the folder. Safe to call twice and after a failed start."""
        try:
            if self.ssh is not None:
                await asyncio.shield(self.ssh.close())
            if self.http is not None:
                await asyncio.shield(self.http.close())
        finally:
            self.ssh = None
            self.http = None
            if self.root is not None and not self.keep:
                shutil.rmtree(self.root, ignore_errors=True)

    # -- what the checklist gets ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self.http is not None, "the sandbox is not running"
        return f"http://127.0.0.1:{self.http.port}"

    def variables(self) -> dict[str, str]:
        """Values for checklists/staging.toml's variables (names from STAGING-CONTRACT)."""
        layout, ssh = self.layout, self.ssh
        assert layout is not None and ssh is not None, "the sandbox is not running"
        return {
            "staging_host": "127.0.0.1",
            "ssh_port": str(ssh.port),
            "ssh_user": SSH_USER,
            "known_hosts": str(self.known_hosts),
            "ssh_identity": str(self.identity),
            "base_url": self.base_url,
            "app_dir": str(layout.app_dir),
            "repo_dir": str(layout.repo_dir),
            "backup_dir": str(layout.backups),
            "config_paths": " ".join(shlex.quote(str(p)) for p in layout.config_paths),
            "restart_app_cmd": "sudo -n systemctl restart iact-gunicorn",
            "reload_web_cmd": "sudo -n systemctl reload nginx",
            "restart_worker_cmd": "sudo -n systemctl restart iact-celery-worker",
            "app_logs_cmd": 'sudo -n journalctl -u iact-gunicorn --since "5 minutes ago" --no-pager',
            "smoke_user": staging_host.SMOKE_USER,
            "smoke_password": self.smoke_password,
            "webhook_url": "",
            "branch": "develop",
            "base_branch": "staging",
            "git_remote": "origin",
            "db_name": project.DB_NAME,
            "db_user": "postgres",
            "env_file": ".env",
            "django_app": project.APP,
            "has_frontend": "true",
            "release_version": project.RELEASE_VERSION,
        }

    @property
    def secret_variables(self) -> set[str]:
        return {"smoke_password"}

    @property
    def local_bin(self) -> Path:
        """Stand-ins for local tools the checklist may call on the operator's side (gh)."""
        assert self.layout is not None
        return self.layout.local_bin

    def description(self) -> str:
        """One paragraph naming everything that differs from a real staging host."""
        assert self.layout is not None and self.ssh is not None and self.http is not None
        faults = "".join(f" Fault '{name}': {FAULTS[name]}." for name in sorted(self.faults))
        return (
            f"Sandbox: the staging host is the folder {self.layout.host}, reached through an SSH server "
            f"inside this process on 127.0.0.1:{self.ssh.port} (throwaway keys made at start; the host key is "
            f"still verified against {self.known_hosts}). git, cp, tar and ls are real; pg_dump, psql, "
            f"systemctl, journalctl, manage.py, pip, npm, sudo and gh are sandbox stand-ins that keep their "
            f'state in that folder and say "sandbox" in their output. The app at {self.base_url} is a small '
            f"stand-in with the seed's endpoints; it serves the version the last sandbox restart loaded. "
            f"Nothing listens beyond 127.0.0.1, nothing is sent anywhere, and the folder is removed when the "
            f"demo ends.{faults}"
        )


class BackgroundSandbox:
    """A Sandbox served from its own thread and event loop, for front ends that own theirs
    (Textual's ``App.run``, ``asyncio.run`` in the headless runner).

    ``with BackgroundSandbox(...) as sandbox:``. Leaving the block, by any route (also Ctrl-C
    while the sandbox is still being built), stops the servers and removes the folder; the
    thread is not a daemon, so the interpreter waits for that clean-up even on a second Ctrl-C.
    """

    def __init__(self, faults: Iterable[str] = (), **kwargs: Any) -> None:
        self.sandbox = Sandbox(faults, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop_requested = threading.Event()
        self._error: BaseException | None = None

    def __enter__(self) -> Sandbox:
        self._thread = threading.Thread(target=self._serve, name="iact-demo-sandbox")
        self._thread.start()
        try:
            self._ready.wait()
        except BaseException:
            self.__exit__()
            raise
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self.sandbox

    def __exit__(self, *exc: object) -> None:
        self._stop_requested.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join()

    def _serve(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            try:
                await self.sandbox.start()
            except BaseException as exc:
                self._error = exc
                return
            finally:
                self._ready.set()
            try:
                if not self._stop_requested.is_set():
                    await self._stop.wait()
            finally:
                await self.sandbox.stop()

        asyncio.run(main())
