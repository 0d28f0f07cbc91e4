"""A fleet of loopback "hosts" for fleet tests and benchmarks: real OpenSSH sshd, plain user.

``Fleet(n, servers=k)`` starts ``k`` sshd (one per port, each with its own host key and folder,
see tests/sshd.py) and names ``n`` hosts ``web01``, ``web02``… spread over them: with
``servers == n`` every host is its own sshd (three ports, three app folders for the rollout
test); with fewer, hosts are aliases of the same sshd, each its own connection, as 200 hosts
would be. One ``known_hosts`` lists every server; ``ssh_config`` has a ``Host`` entry per host
(for Fabric and plain ``ssh``); ``hosts_toml()`` writes the checklist's ``[hosts]`` tables with
a group.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.sshd import PLAIN_USER, OpenSshd, sshd_missing_reason


class FleetSshd(OpenSshd):
    """An OpenSshd that takes many connections at once (200 hosts connecting together)."""

    def _write_config(self) -> None:
        super()._write_config()
        path = self.base / "sshd_config"
        text = path.read_text().replace("MaxStartups 200", "MaxStartups 1000").replace(
            "MaxSessions 200", "MaxSessions 1000"
        ).replace("LogLevel VERBOSE", "LogLevel INFO")
        path.write_text(text)


@dataclass
class FleetHost:
    name: str
    server: OpenSshd
    app_dir: Path  # a folder of this host's own, writable by the plain user

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def key(self) -> Path:
        return self.server.client_key


@dataclass
class Fleet:
    size: int
    servers: int = 1
    prefix: str = "web"
    user: str = PLAIN_USER
    base: Path = field(init=False)
    hosts: list[FleetHost] = field(default_factory=list)
    sshds: list[OpenSshd] = field(default_factory=list)

    def start(self) -> Fleet:
        reason = sshd_missing_reason()
        if reason:
            raise RuntimeError(reason)
        self.base = Path(tempfile.mkdtemp(prefix="iact-fleet-"))
        self.base.chmod(0o755)
        try:
            for _ in range(min(self.servers, self.size)):
                self.sshds.append(FleetSshd(users=(self.user,)).start())
            pw = pwd.getpwnam(self.user)
            width = max(2, len(str(self.size)))
            for i in range(self.size):
                name = f"{self.prefix}{i + 1:0{width}d}"
                app = self.base / "apps" / name
                app.mkdir(parents=True)
                os.chown(app, pw.pw_uid, pw.pw_gid)
                os.chown(app.parent, 0, 0)
                self.hosts.append(FleetHost(name, self.sshds[i % len(self.sshds)], app))
            (self.base / "known_hosts").write_text(
                "".join(s.known_hosts.read_text() for s in self.sshds)
            )
            self.ssh_config.write_text("".join(
                f"Host {h.name}\n    HostName 127.0.0.1\n    Port {h.port}\n    User {self.user}\n"
                f"    IdentityFile {h.key}\n    UserKnownHostsFile {self.known_hosts}\n"
                "    StrictHostKeyChecking yes\n"
                for h in self.hosts
            ))
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def known_hosts(self) -> Path:
        return self.base / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.base / "ssh_config"

    @property
    def names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def host(self, name: str) -> FleetHost:
        return next(h for h in self.hosts if h.name == name)

    def hosts_toml(self, group: str = "web") -> str:
        """``[hosts.NAME]`` per host and ``[hosts.GROUP]`` with them all as members."""
        blocks = [
            f'[hosts.{h.name}]\naddress = "127.0.0.1"\nport = {h.port}\nuser = "{self.user}"\n'
            f'identity = "{h.key}"\nknown_hosts = "{self.known_hosts}"\n'
            for h in self.hosts
        ]
        members = ", ".join(f'"{n}"' for n in self.names)
        blocks.append(f"[hosts.{group}]\nmembers = [{members}]\n")
        return "\n".join(blocks)

    def connections(self) -> int:
        """Logins the servers have accepted so far."""
        return sum(s.accepted_logins(self.user) for s in self.sshds)

    def stop(self) -> None:
        for s in self.sshds:
            with contextlib.suppress(Exception):
                s.stop()
        self.sshds.clear()
        if getattr(self, "base", None) is not None:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
