"""Real SSH servers for tests: an in-process asyncssh server and an OpenSSH sshd on 127.0.0.1.

Both use throwaway keys and write a known_hosts for them, so the client side verifies host keys
exactly as it does in production. Nothing here touches ``~/.ssh`` or the system's sshd config.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

SSHD = "/usr/sbin/sshd"
PLAIN_USER = "iactdeploy"  # made by .ci/install-sshd.sh
START_TIMEOUT = 10.0


def write_key(path: Path, key: asyncssh.SSHKey) -> Path:
    """A private key file (0600, as ssh insists) and its ``.pub`` next to it."""
    path.write_bytes(key.export_private_key("openssh"))
    path.chmod(0o600)
    Path(f"{path}.pub").write_bytes(key.export_public_key("openssh"))
    return path


def known_hosts_line(host: str, port: int, key: asyncssh.SSHKey) -> str:
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key.export_public_key('openssh').decode().strip()}\n"


# -- in-process asyncssh server -------------------------------------------------------------


@dataclass
class InProcessSshServer:
    """An asyncssh server on 127.0.0.1 whose commands run ``/bin/sh -c`` in ``workdir``.

    ``bin_dir`` comes first on the commands' PATH: tests put fake tools there (e.g. ``sudo``).
    """

    base: Path
    host: str = "127.0.0.1"
    port: int = 0
    user: str = "deploy"
    host_key: asyncssh.SSHKey = field(
        default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519")
    )
    client_key_path: Path = field(init=False)
    client_public_key: str = field(init=False)
    known_hosts: Path = field(init=False)
    workdir: Path = field(init=False)
    bin_dir: Path = field(init=False)
    connections: list[asyncssh.SSHServerConnection] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    _acceptor: asyncssh.SSHAcceptor | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_path = write_key(self.base / "client_ed25519", client_key)
        self.client_public_key = client_key.export_public_key("openssh").decode()
        self.known_hosts = self.base / "known_hosts"
        self.workdir = self.base / "remote"
        self.workdir.mkdir(exist_ok=True)
        self.bin_dir = self.base / "remote-bin"
        self.bin_dir.mkdir(exist_ok=True)

    async def start(self) -> InProcessSshServer:
        server = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                server.connections.append(conn)

        self._acceptor = await asyncssh.create_server(
            Server,
            self.host,
            0,
            server_host_keys=[self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self.client_public_key),
            process_factory=self._handle,
            encoding=None,
        )
        self.port = self._acceptor.sockets[0].getsockname()[1]
        self.known_hosts.write_text(known_hosts_line(self.host, self.port, self.host_key))
        return self

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        for conn in self.connections:
            conn.abort()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def drop_connections(self) -> None:
        """Cut every client connection, as a network failure would."""
        for conn in self.connections:
            conn.abort()

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
        }

    def fake_tool(self, name: str, script: str) -> Path:
        """A shell script named ``name`` on the commands' PATH."""
        path = self.bin_dir / name
        path.write_text(f"#!/bin/sh\n{script}\n")
        path.chmod(0o755)
        return path

    def _handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.ensure_future(self._run(process))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _run(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        command = process.command or ""
        self.commands.append(command)
        # One pipe for stdout and stderr: two pipes reaching EOF in either order would close
        # the channel's output early (asyncssh sends EOF on the first).
        # A Popen (not asyncio's) because asyncssh redirects plain pipe files; it only forks.
        child = subprocess.Popen(  # noqa: ASYNC220
            ["/bin/sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=self.env,
            start_new_session=True,  # its own process group, as sshd does with setsid
        )
        exited: asyncio.Future[int] | None = None
        closed: asyncio.Future[None] | None = None
        try:
            await process.redirect(stdin=child.stdin, stdout=child.stdout)
            exited = asyncio.ensure_future(_wait_exit(child))
            closed = asyncio.ensure_future(process.wait_closed())
            await asyncio.wait({exited, closed}, return_when=asyncio.FIRST_COMPLETED)
            if exited.done() and not closed.done():
                # Output still in the pipe is forwarded before the exit status goes out.
                drained = asyncio.ensure_future(process.stdout.drain())
                await asyncio.wait({drained, closed}, return_when=asyncio.FIRST_COMPLETED)
                drained.cancel()
                if not closed.done():
                    process.exit(exited.result())
        finally:
            # Like sshd without a pty, closing the channel does not stop the command by itself;
            # but this test server must not leak processes, so it kills the group at the end.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            if exited is not None:
                exited.cancel()
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    pipe.close()
            process.close()
            if closed is not None:  # lets asyncssh finish its own clean-up of the channel
                await asyncio.wait({closed}, timeout=2)


async def _wait_exit(child: subprocess.Popen[bytes]) -> int:
    """The exit status of a child, awaited through a pidfd (no thread, no polling)."""
    loop = asyncio.get_running_loop()
    fd = os.pidfd_open(child.pid)
    exited: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    return child.wait()


# -- OpenSSH sshd on loopback ---------------------------------------------------------------


def sshd_missing_reason() -> str | None:
    """Why a real sshd cannot be started here, or None when it can."""
    if not os.path.exists(SSHD):
        return f"{SSHD} is not installed (run .ci/install-sshd.sh)"
    if os.geteuid() != 0:
        return "starting sshd for other users needs root"
    if not os.path.isdir("/run/sshd"):
        return "/run/sshd is missing (run .ci/install-sshd.sh)"
    try:
        import pwd

        pwd.getpwnam(PLAIN_USER)
    except KeyError:
        return f"the user {PLAIN_USER} does not exist (run .ci/install-sshd.sh)"
    return None


@dataclass
class OpenSshd:
    """An OpenSSH sshd on 127.0.0.1 with its own host key, users and authorized keys.

    The folder is a ``mkdtemp`` one readable by every user: sshd reads ``authorized_keys`` as
    the user logging in, and pytest's own tmp folders are root-only. It is removed by ``stop``.
    Each user gets a client key; ``ssh_config`` has a ``Host`` alias per user.
    """

    users: tuple[str, ...] = (PLAIN_USER,)
    alias: str = "sshd-test"
    host: str = "127.0.0.1"
    port: int = 0
    base: Path = field(init=False)
    host_key: asyncssh.SSHKey = field(
        default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519")
    )
    client_keys: dict[str, Path] = field(default_factory=dict)
    known_hosts: Path = field(init=False)
    ssh_config: Path = field(init=False)
    log: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="iact-sshd-"))
        self.base.chmod(0o755)
        self.log = self.base / "sshd.log"
        self.known_hosts = self.base / "known_hosts"
        self.ssh_config = self.base / "ssh_config"

    @property
    def user(self) -> str:
        return self.users[0]

    @property
    def client_key(self) -> Path:
        return self.client_keys[self.user]

    def start(self) -> OpenSshd:
        write_key(self.base / "ssh_host_ed25519_key", self.host_key)
        keys_dir = self.base / "authorized_keys"
        keys_dir.mkdir(mode=0o755)
        # Client keys live in a root-only folder; only the public halves must be world-readable.
        private = self.base / "client"
        private.mkdir(mode=0o700)
        for user in self.users:
            key = write_key(private / f"id_{user}", asyncssh.generate_private_key("ssh-ed25519"))
            self.client_keys[user] = key
            authorized = keys_dir / user
            authorized.write_bytes(Path(f"{key}.pub").read_bytes())
            authorized.chmod(0o644)
        last_error = ""
        for _ in range(5):  # another process may take the free port between probe and bind
            self.port = _free_port(self.host)
            self._write_config()
            if self._launch():
                self._write_client_files()
                return self
            last_error = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"sshd did not start: {last_error}")

    def _write_config(self) -> None:
        root = "prohibit-password" if "root" in self.users else "no"
        (self.base / "sshd_config").write_text(
            f"""\
Port {self.port}
ListenAddress {self.host}
HostKey {self.base}/ssh_host_ed25519_key
PidFile {self.base}/sshd.pid
AuthorizedKeysFile {self.base}/authorized_keys/%u
AllowUsers {" ".join(self.users)}
PermitRootLogin {root}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
AllowTcpForwarding yes
MaxStartups 200
MaxSessions 200
LogLevel VERBOSE
"""
        )

    def _launch(self) -> bool:
        self.log.write_text("")
        self.process = subprocess.Popen(
            [SSHD, "-D", "-f", str(self.base / "sshd_config"), "-E", str(self.log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # sshd has no readiness signal but its log line; poll it with a deadline.
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if "Server listening on" in self.log.read_text(errors="replace"):
                return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.01)
        self.stop_process()
        return False

    def _write_client_files(self) -> None:
        self.known_hosts.write_text(known_hosts_line(self.host, self.port, self.host_key))
        blocks = []
        for index, user in enumerate(self.users):
            alias = self.alias if index == 0 else f"{self.alias}-{user}"
            blocks.append(
                f"Host {alias}\n    HostName {self.host}\n    Port {self.port}\n"
                f"    User {user}\n    IdentityFile {self.client_keys[user]}\n"
            )
        self.ssh_config.write_text("\n".join(blocks))

    def accepted_logins(self, user: str | None = None) -> int:
        """How many logins sshd has accepted so far (it logs each one before replying)."""
        needle = f"Accepted publickey for {user or ''}"
        return self.log.read_text(errors="replace").count(needle)

    def stop_process(self) -> None:
        proc = self.process
        if proc is None:
            return
        self.process = None
        # The listener does not take its per-connection children with it: stop them too.
        children = _children(proc.pid)
        for pid in [proc.pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def stop(self) -> None:
        self.stop_process()
        shutil.rmtree(self.base, ignore_errors=True)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the field after the ")" that ends the command name: state, then ppid
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def processes_matching(pattern: str, user: str | None = None) -> list[str]:
    """``pgrep -a`` lines for processes whose command line contains ``pattern``."""
    command = ["pgrep", "-a", "-f", pattern]
    if user:
        command[1:1] = ["-u", user]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return [line for line in result.stdout.splitlines() if line.strip()]
