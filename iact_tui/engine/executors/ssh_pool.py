"""SSH connections for ``ssh`` steps: one per host, reused across steps, host keys always verified.

A connection is the expensive part (~40 ms and more over a WAN; a command on an open one is ~3 ms),
so the pool opens each host once and hands the same connection to every step. ``~/.ssh/config``
is honoured (aliases, HostName, User, Port, IdentityFile, ProxyJump), but known_hosts is always
passed explicitly: a config line like ``UserKnownHostsFile none`` must not turn verification off.
Jump hosts are opened by the pool itself rather than by asyncssh, so they get the same strict
host-key check, the same keys and the same plain-sentence errors as the target.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.model import Host
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.errors import IactError

DEFAULT_PORT = 22
CONNECT_TIMEOUT = 20.0  # seconds to reach a host and log in
CLOSE_TIMEOUT = 5.0  # seconds close() waits for a clean goodbye before it aborts
# Notices a dead link during a long, silent command (a pg_dump) in ~90 s instead of TCP's
# many minutes; an ssh config's own ServerAliveInterval wins.
KEEPALIVE_INTERVAL = 30.0


class SshError(IactError):
    """A connection problem, as one sentence a person understands."""


@dataclass(frozen=True)
class HostKeyInfo:
    """The verified host key of a connection, for the run report."""

    host: str  # the checklist's host name (or the jump host as written)
    address: str  # the address actually used (after ~/.ssh/config HostName)
    port: int
    user: str
    fingerprint: str  # "SHA256:…", as `ssh-keygen -lf` prints it
    key_type: str  # e.g. "ssh-ed25519"


@dataclass(frozen=True)
class _Target:
    """Where a host is reached, with the checklist's placeholders filled in."""

    name: str  # how messages name it: the checklist host name or the jump host as written
    address: str
    port: int | None
    user: str | None
    identity: str | None
    known_hosts: str | None
    proxy_jump: str | None


@dataclass(frozen=True)
class _Resolved:
    """What asyncssh makes of a target after reading the ssh config."""

    host: str
    port: int
    user: str
    proxy_jump: str | None
    host_key_alias: str | None
    config_keepalive: bool  # the ssh config sets ServerAliveInterval itself

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"


class SshPool:
    """One SSH connection per host, opened on first use and reused until ``close()``.

    ``ssh_config``: config files to read (None: ``~/.ssh/config`` when it exists; ``[]``: none).
    ``known_hosts``: the default known_hosts file (None: ``~/.ssh/known_hosts``); a host's own
    ``known_hosts`` field wins. ``client_keys``: private key files (None: the ssh config's
    IdentityFile, else ``~/.ssh/id_*``); a host's ``identity`` wins. ``agent_path``: the
    ssh-agent socket (None: ``SSH_AUTH_SOCK``; ``""``: do not use an agent).
    """

    def __init__(
        self,
        hosts: Mapping[str, Host],
        values: Values,
        on_connect: Callable[[HostKeyInfo], None],
        *,
        ssh_config: list[str] | None = None,
        known_hosts: str | None = None,
        client_keys: list[str] | None = None,
        agent_path: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        keepalive_interval: float = KEEPALIVE_INTERVAL,
    ) -> None:
        self.hosts = dict(hosts)
        self.values = values
        self.on_connect = on_connect
        self.ssh_config = ssh_config
        self.known_hosts = known_hosts
        self.client_keys = client_keys
        self.agent_path = agent_path
        self.connect_timeout = connect_timeout
        self.keepalive_interval = keepalive_interval
        self._connections: dict[str, asyncssh.SSHClientConnection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.connects = 0  # connections opened so far (tests and the status bar count them)

    # -- public ------------------------------------------------------------------------------

    def members(self, host_name: str) -> list[str]:
        """The member names of a host group, or ``[host_name]`` for a single host."""
        host = self.hosts.get(host_name)
        if host is not None and host.members:
            return list(host.members)
        return [host_name]

    async def connection(self, host_name: str) -> asyncssh.SSHClientConnection:
        """The open connection to a host, connecting first if needed; raises ``SshError``."""
        return await self._pooled(host_name, (), None, None)

    async def close(self) -> None:
        """Close every connection: a clean goodbye, bounded in time; abort on cancel."""
        # Tunnelled connections were opened after their jump hosts: close them first.
        conns = list(reversed(self._connections.values()))
        self._connections.clear()
        for conn in conns:
            conn.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                # A channel whose remote process still runs keeps wait_closed() waiting
                # (TECH-NOTES): the timeout turns that into an abort instead of a hang.
                await asyncio.gather(*(conn.wait_closed() for conn in conns))
        except TimeoutError:
            for conn in conns:
                conn.abort()
        except asyncio.CancelledError:
            for conn in conns:
                conn.abort()
            raise

    # -- connecting --------------------------------------------------------------------------

    async def _pooled(
        self,
        key: str,
        chain: tuple[str, ...],
        target: _Target | None,  # None: the checklist host named ``key``
        tunnel: asyncssh.SSHClientConnection | None,
    ) -> asyncssh.SSHClientConnection:
        if key in chain:
            hops = " -> ".join((*chain, key))
            raise SshError(f"the jump hosts of {chain[0]} go round in a circle ({hops})")
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            conn = self._connections.get(key)
            if conn is not None and not conn.is_closed():
                return conn
            self._connections.pop(key, None)
            conn = await self._connect(target or self._target(key), (*chain, key), tunnel)
            self._connections[key] = conn
            return conn

    def _target(self, name: str) -> _Target:
        host = self.hosts.get(name)
        if host is None:
            return _Target(name, name, None, None, None, None, None)
        if host.members:
            raise SshError(f"{name} is a host group; a connection goes to one of its members")

        def text(field: str, value: str | None) -> str | None:
            if value is None:
                return None
            try:
                resolved = self.values.text(value).strip()
            except template.MissingValue as exc:
                raise SshError(
                    f"the {field} of host {name} uses {{{exc.name}}}, which has no value yet"
                ) from None
            return resolved or None  # empty after filling in: "not set"

        port: int | None
        if isinstance(host.port, int):
            port = host.port
        else:
            port_text = text("port", host.port)
            try:
                port = int(port_text) if port_text else None
            except ValueError:
                raise SshError(f"the port of host {name} is {port_text!r}, not a number") from None
        identity = text("identity", host.identity)
        known_hosts = text("known_hosts", host.known_hosts)
        return _Target(
            name=name,
            address=text("address", host.address) or name,
            port=port,
            user=text("user", host.user),
            identity=os.path.expanduser(identity) if identity else None,
            known_hosts=os.path.expanduser(known_hosts) if known_hosts else None,
            proxy_jump=text("proxy_jump", host.proxy_jump),
        )

    def _options(self, target: _Target, known_hosts: asyncssh.SSHKnownHosts) -> dict[str, Any]:
        options: dict[str, Any] = {
            "host": target.address,
            "known_hosts": known_hosts,
            "connect_timeout": self.connect_timeout,
            "config": () if self.ssh_config is None else list(self.ssh_config),
        }
        if target.port is not None:
            options["port"] = target.port
        if target.user is not None:
            options["username"] = target.user
        # An encrypted key file is skipped rather than fatal: its key may well be in the agent.
        options["ignore_encrypted"] = True
        if target.identity is not None:
            options["client_keys"] = [target.identity]
        elif self.client_keys is not None:
            options["client_keys"] = [os.path.expanduser(k) for k in self.client_keys]
        if self.agent_path is not None:
            options["agent_path"] = self.agent_path or None
        return options

    async def _connect(
        self,
        target: _Target,
        chain: tuple[str, ...],
        tunnel: asyncssh.SSHClientConnection | None,
    ) -> asyncssh.SSHClientConnection:
        known_hosts_path, known_hosts = _load_known_hosts(
            target.known_hosts or self.known_hosts, target.name
        )
        options = self._options(target, known_hosts)
        resolved = await self._resolve(target, options)
        if not resolved.config_keepalive:
            options["keepalive_interval"] = self.keepalive_interval
        jump = target.proxy_jump or resolved.proxy_jump
        if tunnel is None and jump and jump.lower() != "none":
            tunnel = await self._open_jumps(jump, target.name, chain, target.known_hosts)
        where = _where(target.name, resolved)
        try:
            async with asyncio.timeout(self.connect_timeout):
                conn = await asyncssh.connect(**options, tunnel=tunnel if tunnel else ())
        except asyncssh.HostKeyNotVerifiable as exc:
            raise await self._host_key_refused(
                target, resolved, options, tunnel, known_hosts_path, known_hosts, exc
            ) from None
        except (asyncssh.Error, OSError, TimeoutError, ValueError) as exc:
            raise SshError(self._explain(exc, target, resolved, where)) from None
        self.connects += 1
        key = conn.get_server_host_key()
        self.on_connect(
            HostKeyInfo(
                host=target.name,
                address=resolved.host,
                port=resolved.port,
                user=conn.get_extra_info("username") or resolved.user,
                fingerprint=key.get_fingerprint("sha256") if key else "",
                key_type=key.get_algorithm() if key else "",
            )
        )
        return conn

    async def _resolve(self, target: _Target, options: dict[str, Any]) -> _Resolved:
        """Apply the ssh config (HostName, Port, User, ProxyJump), as asyncssh will."""
        try:
            resolved = await asyncssh.SSHClientConnectionOptions.construct(None, **options)
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            raise SshError(f"the private key for {target.name} cannot be used: {exc}") from None
        except OSError as exc:
            what = exc.filename or "a file"
            raise SshError(
                f"could not read {what} for host {target.name}: {exc.strerror or exc}"
            ) from None
        except ValueError as exc:
            raise SshError(f"the SSH settings for {target.name} are not valid: {exc}") from None
        tunnel = resolved.tunnel
        return _Resolved(
            host=resolved.host,
            port=resolved.port or DEFAULT_PORT,
            user=resolved.username,
            proxy_jump=tunnel if isinstance(tunnel, str) and tunnel else None,
            host_key_alias=resolved.host_key_alias,
            config_keepalive=resolved.config.get("ServerAliveInterval") is not None,
        )

    async def _open_jumps(
        self, jumps: str, for_name: str, chain: tuple[str, ...], known_hosts: str | None = None
    ) -> asyncssh.SSHClientConnection:
        """Open a ProxyJump chain (``a,b,…``) hop by hop; checklist hosts come from the pool.
        A jump host that is not a checklist host is verified against the known_hosts file of
        the host it leads to (or the pool's default)."""
        tunnel: asyncssh.SSHClientConnection | None = None
        key = ""
        for hop in (h.strip() for h in jumps.split(",")):
            if not hop:
                continue
            user: str | None = None
            address = hop
            port: int | None = None
            if "@" in address:
                user, address = address.rsplit("@", 1)
            port_text = ""
            if address.startswith("[") and "]:" in address:  # [host]:port, e.g. IPv6
                address, port_text = address[1:].split("]:", 1)
            elif address.count(":") == 1:  # host:port (a bare IPv6 address has more colons)
                address, port_text = address.split(":")
            if port_text:
                try:
                    port = int(port_text)
                except ValueError:
                    raise SshError(f"the jump host {hop!r} of {for_name} has a bad port") from None
            address = address.strip("[]")
            if tunnel is None and user is None and port is None and address in self.hosts:
                key = address
                tunnel = await self._pooled(address, chain, None, None)
                continue
            key = f"{key}>{hop}" if key else f"jump:{hop}"
            hop_target = _Target(
                f"{hop} (jump host for {for_name})", address, port, user, None, known_hosts, None
            )
            try:
                tunnel = await self._pooled(key, chain, hop_target, tunnel)
            except SshError as exc:
                raise SshError(f"on the way to {for_name}: {exc}") from None
        if tunnel is None:
            raise SshError(f"the proxy_jump of {for_name} names no host")
        return tunnel

    # -- explaining failures -----------------------------------------------------------------

    def _explain(self, exc: BaseException, target: _Target, resolved: _Resolved, where: str) -> str:
        if isinstance(exc, TimeoutError):
            return f"could not connect to {where}: no answer within {self.connect_timeout:g} s"
        if isinstance(exc, ConnectionRefusedError):
            return f"could not connect to {where}: connection refused"
        if isinstance(exc, socket.gaierror):
            return (
                f"could not connect to {where}: the name {resolved.host} does not resolve "
                "(DNS lookup failed)"
            )
        if isinstance(exc, asyncssh.PermissionDenied):
            keys = target.identity or ", ".join(self.client_keys or []) or "ssh-agent, ~/.ssh/id_*"
            return (
                f"{resolved.user}@{where} refused our keys ({keys}): permission denied; check "
                "the user name, that the public key is in the host's authorized_keys, and that "
                "a passphrase-protected key is loaded in ssh-agent"
            )
        if isinstance(exc, asyncssh.ConnectionLost):
            return f"lost the connection to {where} while logging in: {exc.reason}"
        if isinstance(exc, asyncssh.ChannelOpenError):
            return f"the jump host could not open a connection to {where}: {exc.reason}"
        if isinstance(exc, asyncssh.DisconnectError):
            return f"{where} closed the connection while logging in: {exc.reason}"
        if isinstance(exc, (asyncssh.KeyImportError, asyncssh.KeyEncryptionError)):
            return f"the private key for {target.name} cannot be used: {exc}"
        if isinstance(exc, OSError):
            if exc.filename:
                return f"could not read {exc.filename} for {target.name}: {exc.strerror or exc}"
            return f"could not connect to {where}: {(exc.strerror or str(exc)).lower()}"
        return f"could not connect to {where}: {exc}"

    async def _host_key_refused(
        self,
        target: _Target,
        resolved: _Resolved,
        options: dict[str, Any],
        tunnel: asyncssh.SSHClientConnection | None,
        known_hosts_path: str,
        known_hosts: asyncssh.SSHKnownHosts,
        exc: asyncssh.HostKeyNotVerifiable,
    ) -> SshError:
        """Tell an unknown host key from a changed one: fetch the offered key and compare."""
        where = _where(target.name, resolved)
        lookup_name = resolved.host_key_alias or resolved.host
        port = None if resolved.port == DEFAULT_PORT else resolved.port
        trusted: list[asyncssh.SSHKey] = []
        revoked: list[asyncssh.SSHKey] = []
        for address in [""] + await _addresses(resolved.host, tunnel is not None):
            found = asyncssh.match_known_hosts(known_hosts, lookup_name, address, port)
            trusted += [k for k in found[0] if k not in trusted]
            revoked += [k for k in found[2] if k not in revoked]
        # Ask for the algorithms known_hosts has, or the server may show another key type.
        algs = [a.decode() for k in trusted for a in k.sig_algorithms]
        try:
            async with asyncio.timeout(self.connect_timeout):
                offered = await asyncssh.get_server_host_key(
                    resolved.host,
                    resolved.port,
                    tunnel=tunnel if tunnel else (),
                    config=options["config"],
                    server_host_key_algs=algs or (),
                )
        except (asyncssh.Error, OSError, TimeoutError, ValueError):
            offered = None
        if offered is None:
            return SshError(
                f"the host key of {where} could not be verified against {known_hosts_path} "
                f"({exc.reason}), so the connection was refused"
            )
        fingerprint = offered.get_fingerprint("sha256")
        algorithm = offered.get_algorithm()
        if offered in revoked:
            return SshError(
                f"the host key of {where} ({algorithm} {fingerprint}) is marked @revoked in "
                f"{known_hosts_path}, so the connection was refused"
            )
        entry = lookup_name if port is None else f"[{lookup_name}]:{port}"
        if trusted:
            known = ", ".join(k.get_fingerprint("sha256") for k in trusted)
            return SshError(
                f"WARNING: the host key of {where} has CHANGED and the connection was refused: "
                f"it offered {algorithm} {fingerprint}, but {known_hosts_path} has {known} for "
                "it, so someone may be intercepting the connection (man-in-the-middle); if the "
                "host was really reinstalled, confirm the new fingerprint with its administrator "
                f"and only then run `ssh-keygen -R '{entry}' -f {known_hosts_path}`"
            )
        short_type = _keyscan_type(algorithm)
        port_flag = f" -p {resolved.port}" if port is not None else ""
        return SshError(
            f"the host key of {where} is not in {known_hosts_path}, so the connection was "
            f"refused: it offered {algorithm} {fingerprint}; if that is the host's real "
            f"fingerprint (`ssh-keygen -lf /etc/ssh/ssh_host_{short_type}_key.pub` on the host "
            f"shows it), trust it with `ssh-keyscan -t {short_type}{port_flag} {resolved.host} "
            f">> {known_hosts_path}`"
        )


def _where(name: str, resolved: _Resolved) -> str:
    if name == resolved.host:
        return resolved.hostport
    return f"{name} ({resolved.hostport})"


def _load_known_hosts(path: str | None, name: str) -> tuple[str, asyncssh.SSHKnownHosts]:
    """The known_hosts to verify against; a missing file trusts nothing (never "trust all")."""
    path = os.path.expanduser(path or "~/.ssh/known_hosts")
    try:
        data = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        data = ""
    except OSError as exc:
        raise SshError(f"could not read {path} for host {name}: {exc.strerror}") from None
    try:
        return path, asyncssh.import_known_hosts(data)
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise SshError(f"{path} (the known_hosts for {name}) cannot be read: {exc}") from None


async def _addresses(host: str, tunnelled: bool) -> list[str]:
    """The IP addresses known_hosts may list the host under (as OpenSSH's CheckHostIP does)."""
    if tunnelled:  # the name is resolved on the jump host, not here
        return []
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _keyscan_type(algorithm: str) -> str:
    if "ed25519" in algorithm:
        return "ed25519"
    if "ecdsa" in algorithm:
        return "ecdsa"
    if "rsa" in algorithm:
        return "rsa"
    return algorithm
