"""The sandbox's SSH server: asyncssh, in this process, on 127.0.0.1 and an ephemeral port.

Throwaway host and client keys are made at start; the client still verifies the host key (a
known_hosts file is written for it) and only the sandbox user with the client key gets in.
Each command runs as ``bash -c COMMAND`` (the login shell a deploy user has; ``sh`` if there is no
bash) in its own process group, in the sandbox user's home, with the stand-in tools first on PATH
(TECH-NOTES, "An in-process asyncssh server").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncssh

DRAIN_TIMEOUT = (
    10.0  # output still arriving after the command exited (a background child holding the pipe)
)
KILL_GRACE = 2.0
CLOSE_TIMEOUT = 5.0  # the client closes its side once it has the exit status


class _Server(asyncssh.SSHServer):
    def __init__(self, owner: SandboxSshServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._owner.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._owner.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # always authenticate, whoever it claims to be

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return (
            username == self._owner.user and key.public_data == self._owner.client_key.public_data
        )


class SandboxSshServer:
    def __init__(
        self, *, user: str, cwd: Path, env: Mapping[str, str], drop_once: str | None = None
    ) -> None:
        """``drop_once``: a regex; the first command matching it loses its connection as it ends."""
        self.user = user
        self.cwd = cwd
        self.env = dict(env)
        self.shell = shutil.which("bash") or "/bin/sh"
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519", comment="iact-demo-operator")
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._groups: set[int] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._drop = re.compile(drop_once, re.MULTILINE) if drop_once else None
        self.dropped: list[str] = []  # the commands whose connection was dropped
        self.commands: list[str] = []  # every command run, in order
        self.port = 0

    async def start(self) -> None:
        self._acceptor = await asyncssh.create_server(
            lambda: _Server(self),
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            process_factory=self._handle,
            encoding=None,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
        )
        self.port = self._acceptor.get_port()

    def write_client_files(self, folder: Path) -> tuple[Path, Path]:
        """known_hosts for the client and its private key; returns their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        public = self.host_key.export_public_key("openssh").decode().split()
        known_hosts = folder / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{self.port} {public[0]} {public[1]}\n")
        identity = folder / "id_ed25519"
        self.client_key.write_private_key(str(identity))
        identity.chmod(0o600)
        self.client_key.write_public_key(str(identity) + ".pub")
        return known_hosts, identity

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._acceptor.wait_closed(), 5)
            self._acceptor = None
        for conn in list(self.connections):
            conn.abort()
        for pgid in list(self._groups):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        handlers = [t for t in self._handlers if not t.done()]
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=5)

    async def _handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._run(process)
        finally:
            self._handlers.discard(task)

    async def _run(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        command = process.command
        if not command:
            process.stderr.write(
                b"[sandbox] no interactive shell here; run a command, e.g. ssh HOST 'uptime'\n"
            )
            process.exit(1)
            return
        self.commands.append(command)
        # Plain pipes, handed to asyncssh as file descriptors: it forwards them with pipe
        # protocols, which cope with a child that exits before reading its input.
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                self.shell,
                "-c",
                command,
                stdin=in_r,
                stdout=out_w,
                stderr=err_w,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,  # its own process group: a cancel or a close stops all of it
            )
        except BaseException:
            for fd in (in_w, out_r, err_r):
                os.close(fd)
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        self._groups.add(proc.pid)
        process.set_redirect_pid(-proc.pid)  # signals from the client reach the whole group
        closed = asyncio.ensure_future(process.wait_closed())
        exited = asyncio.ensure_future(proc.wait())
        try:
            # send_eof=False: SSH has one EOF for the channel, so the first of stdout/stderr to end
            # must not end the other; exit() below closes the channel once both are drained
            await process.redirect(stdin=in_w, stdout=out_r, stderr=err_r, send_eof=False)
            await asyncio.wait({closed, exited}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():  # the client went away: stop what it started
                await _stop_group(proc)
                return
            status = exited.result()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.gather(process.stdout.drain(), process.stderr.drain()), DRAIN_TIMEOUT
                )
            if self._drop is not None and self._drop.search(command) and not self.dropped:
                # the "connection" fault: the command ran, its exit status never arrives
                self.dropped.append(command)
                process.get_extra_info("connection").abort()
                return
            if status < 0:
                status = 128 - status
            with contextlib.suppress(Exception):
                process.exit(status)
        finally:
            if proc.returncode is None:
                await _stop_group(proc)
            self._groups.discard(proc.pid)
            # wait_closed also runs asyncssh's own clean-up of the redirects: let it finish
            with contextlib.suppress(Exception):
                await asyncio.wait_for(closed, CLOSE_TIMEOUT)


async def _stop_group(proc: asyncio.subprocess.Process) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), KILL_GRACE)
            return
        except TimeoutError:
            continue
