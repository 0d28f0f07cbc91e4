"""A real staging stack on this machine, for the end-to-end tests of ``checklists/staging.toml``.

What runs, all on loopback and all started and stopped here:

- PostgreSQL (Debian's package), a throwaway cluster initialised as the ``postgres`` OS user in
  a temporary folder, with a template database at staging's migration state;
- OpenSSH ``sshd`` for the deploy user (a plain account, key login only), and a second ``sshd``
  used as a jump host (ProxyJump);
- the Django app of ``django_project/`` in git: per variant a bare repository ("origin") with a
  ``staging`` branch (release 1.0.0, migrations 0001-0002) and a ``develop`` branch (1.1.0,
  migration 0003), deployed as a checkout of ``staging`` with its own virtualenv, ``.env`` and
  backups folder, served by gunicorn under ``bin/appctl`` (the stand-in for the systemd units of
  the real host: there is no systemd here).

Everything lives under one temporary folder that the deploy user and ``postgres`` can traverse
(pytest's own temporary folders are private to root).
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
PROJECT_SRC = HERE / "django_project"
RELEASES_SRC = HERE / "releases"
REQUIREMENTS = HERE / "requirements.txt"

DEPLOY_USER = os.environ.get("IACT_STACK_USER", "iactstage")
SSHD = Path("/usr/sbin/sshd")
SYSTEM_PYTHON = Path("/usr/bin/python3")  # readable by the deploy user, unlike root's pyenv
SMOKE_USER = "testuser"
GATE_LOCK = 724242  # the advisory lock releases/gated/.../0004_wait_for_gate.py waits for
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"

# What `develop` means in each variant of origin: the release folders applied on top of staging,
# each one commit. "broken" carries a release whose health check fails after the restart;
# "gated" carries a test-only migration that waits until the test lets it finish.
# Conventional commits, as the team writes them: the checklist drafts the CHANGELOG from them.
DEVELOP_COMMIT = ("develop", "feat(inventory): items know their storage location (migration 0003)")
VARIANTS: dict[str, list[tuple[str, str]]] = {
    "develop": [DEVELOP_COMMIT],
    "broken": [DEVELOP_COMMIT, ("broken", "feat(inventory): /api/health checks the stock feed")],
    "gated": [DEVELOP_COMMIT, ("gated", "test: migration 0004 waits for the test's gate")],
}
RELEASE_VERSION = {"develop": "1.1.0", "broken": "1.2.0", "gated": "1.1.1"}
STAGING_VERSION = "1.0.0"


class StackError(Exception):
    """A part of the stack did not start or a command on it failed; the message says which."""


def missing_prerequisites() -> list[str]:
    """Why the stack cannot run on this machine; empty when it can."""
    missing: list[str] = []
    if os.geteuid() != 0:
        missing.append("the stack tests run as root (they switch to the deploy and postgres users)")
    if not SSHD.is_file():
        missing.append(f"{SSHD} (Debian package openssh-server)")
    if postgres_bindir() is None:
        missing.append(
            "PostgreSQL server binaries under /usr/lib/postgresql/*/bin (package postgresql)"
        )
    if shutil.which("git") is None:
        missing.append("git")
    if shutil.which("ssh-keygen") is None:
        missing.append("ssh-keygen (package openssh-client)")
    if not SYSTEM_PYTHON.is_file():
        missing.append(f"{SYSTEM_PYTHON} with the venv module (package python3-venv)")
    for user in ("postgres", DEPLOY_USER):
        try:
            pwd.getpwnam(user)
        except KeyError:
            missing.append(f"the OS user {user!r}")
    return missing


def postgres_bindir() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return found[-1].parent if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``predicate`` until true, within a bounded time (for things that signal no event)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise StackError(f"{what} did not happen within {timeout:g} s")


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def user_env(user: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    pw = pwd.getpwnam(user)
    env = {
        "HOME": pw.pw_dir,
        "USER": user,
        "LOGNAME": user,
        "PATH": PLAIN_PATH,
        "LANG": "C.UTF-8",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.update(extra or {})
    return env


def run(
    cmd: Sequence[str] | str,
    *,
    user: str | None = None,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, as ``user`` when given (root switches with setuid, no su/PAM)."""
    kwargs: dict[str, object] = {}
    if user is not None and user != "root":
        pw = pwd.getpwnam(user)
        kwargs = {
            "user": pw.pw_uid,
            "group": pw.pw_gid,
            "extra_groups": [],
            "env": user_env(user, env),
        }
    elif env is not None:
        kwargs = {"env": {**os.environ, **env}}
    try:
        result = subprocess.run(
            cmd,
            shell=isinstance(cmd, str),
            cwd=cwd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,  # type: ignore[call-overload]
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{_show(cmd)} did not finish within {timeout:g} s") from exc
    if check and result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise StackError(
            f"{_show(cmd)} exited {result.returncode}" + ("".join(f"\n  | {t}" for t in tail))
        )
    return result


def _show(cmd: Sequence[str] | str) -> str:
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


def chown_tree(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.lchown(root, pw.pw_uid, pw.pw_gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)


def make_dir(path: Path, owner: str = "root", mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    pw = pwd.getpwnam(owner)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    path.chmod(mode)
    return path


class Timings:
    """How long each part of the stack took to start, for the report and the docs."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def measure(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - t0

    def summary(self, exclude: tuple[str, ...] = ()) -> str:
        return ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items() if k not in exclude)


# -- PostgreSQL ---------------------------------------------------------------------------------


@dataclass
class Postgres:
    root: Path
    port: int
    bindir: Path
    os_user: str = "postgres"
    role: str = "postgres"

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def start(self) -> None:
        make_dir(self.root, self.os_user, 0o755)
        make_dir(self.socket_dir, self.os_user, 0o755)
        if not (self.datadir / "PG_VERSION").exists():
            run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    self.role,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                user=self.os_user,
            )
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            # a test cluster: durability is not what is under test, speed is welcome
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            # a backend waiting on a lock notices that its client died (a killed
            # migration) within half a second, instead of when the lock is granted
            "-c client_connection_check_interval=500"
        )
        run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "30",
                "start",
            ],
            user=self.os_user,
            timeout=60,
        )

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            run(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                ],
                user=self.os_user,
                timeout=60,
                check=False,
            )

    def psql_argv(self, db: str = "postgres") -> list[str]:
        return [
            str(self.bindir / "psql"),
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            self.role,
            "-d",
            db,
        ]

    def sql(self, statement: str, db: str = "postgres") -> str:
        return run([*self.psql_argv(db), "-c", statement]).stdout.strip()

    def create_database(self, name: str, template: str | None = None) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def drop_database(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextlib.contextmanager
    def gate(self, db: str, key: int = GATE_LOCK) -> Iterator[Gate]:
        """Hold advisory lock ``key`` of database ``db`` (advisory locks are per database) in a
        psql session until ``release()`` or the block ends."""
        proc = subprocess.Popen(
            [*self.psql_argv(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        gate = Gate(self, key, proc)
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(f"SELECT pg_advisory_lock({key});\n\\echo gate-closed\n")
            proc.stdin.flush()
            # psql prints the (empty) result, then the echo once the lock is held
            seen = [proc.stdout.readline().strip() for _ in range(2)]
            if seen[-1] != "gate-closed":
                raise StackError(f"could not take advisory lock {key}: {' '.join(seen)}")
            yield gate
        finally:
            gate.release()

    def lock_waiters(self, db: str, key: int = GATE_LOCK) -> int:
        """Sessions waiting for advisory lock ``key`` (the gated migration, while it is blocked)."""
        out = self.sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            f"WHERE l.locktype = 'advisory' AND l.objid = {key} AND NOT l.granted "
            f"AND d.datname = '{db}'"
        )
        return int(out or 0)


@dataclass
class Gate:
    pg: Postgres
    key: int
    proc: subprocess.Popen[str]

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()  # psql ends; its session and the lock go with it
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# -- OpenSSH sshd -------------------------------------------------------------------------------


@dataclass
class Sshd:
    name: str
    root: Path
    port: int
    set_env: dict[str, str] = field(default_factory=dict)
    permit_root: bool = True
    log_level: str = "VERBOSE"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.root / "sshd_config"

    @property
    def host_key(self) -> Path:
        return self.root / "ssh_host_ed25519_key"

    @property
    def log(self) -> Path:
        return self.root / "sshd.log"

    @property
    def keys_dir(self) -> Path:
        return self.root / "authorized_keys"

    def prepare(self) -> None:
        make_dir(self.root)
        make_dir(self.keys_dir)
        if not self.host_key.exists():
            run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    f"iact-stack-{self.name}",
                    "-f",
                    str(self.host_key),
                ]
            )
        env_line = " ".join(f"{k}={v}" for k, v in self.set_env.items())
        lines = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.root / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.keys_dir}/%u",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "MaxStartups 200",
            "MaxSessions 200",
            f"PermitRootLogin {'prohibit-password' if self.permit_root else 'no'}",
            "AllowTcpForwarding yes",
            f"LogLevel {self.log_level}",
            "Subsystem sftp internal-sftp",
        ]
        if env_line:
            lines.append(f"SetEnv {env_line}")
        self.config.write_text("\n".join(lines) + "\n")
        # sshd refuses to start without its privilege-separation folder
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    def authorize(self, user: str, public_key: str) -> None:
        path = self.keys_dir / user
        existing = path.read_text() if path.exists() else ""
        if public_key.strip() not in existing:
            path.write_text(existing + public_key.strip() + "\n")
        path.chmod(0o644)

    def start(self) -> None:
        if self.running():
            return
        self.prepare()
        run(
            [str(SSHD), "-t", "-f", str(self.config)]
        )  # a config error says so here, not as a timeout
        self.proc = subprocess.Popen(
            [str(SSHD), "-D", "-f", str(self.config), "-E", str(self.log)],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        # sshd announces readiness only in its log; poll the port it binds, bounded
        wait_until(
            lambda: (
                self.proc is not None and (self.proc.poll() is not None or port_open(self.port))
            ),
            10,
            f"sshd {self.name} listening on port {self.port}",
        )
        if self.proc.poll() is not None:
            raise StackError(f"sshd {self.name} exited with {self.proc.returncode}; see {self.log}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Stop sshd and every connection it serves, as a crashed or stopped server would."""
        if self.proc is None:
            return
        # per-connection sshd processes are children of the listener (each in its own session):
        # find them before the listener goes, or they are reparented and out of reach
        children = [
            int(p) for p in run(["pgrep", "-P", str(self.proc.pid)], check=False).stdout.split()
        ]
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def public_host_key(self) -> str:
        return self.host_key.with_suffix(".pub").read_text().split()[1]

    def known_hosts_line(self, host: str = "127.0.0.1") -> str:
        return f"[{host}]:{self.port} ssh-ed25519 {self.public_host_key()}"

    def fingerprint(self) -> str:
        """SHA256:… as ``ssh-keygen -l`` and OpenSSH show it."""
        return run(
            ["ssh-keygen", "-l", "-f", str(self.host_key.with_suffix(".pub"))]
        ).stdout.split()[1]


# -- the app: git, virtualenv, deployments ------------------------------------------------------

APPCTL = r"""#!/bin/bash
# Stands in for the systemd units of the real staging host (iact-gunicorn, nginx, the Celery
# worker): there is no systemd on the test machine. The checklist's restart, reload and log
# commands are variables; the stack tests point them here.
set -u
APP_DIR=@APP_DIR@
VENV=@VENV@
PORT=@PORT@
PIDFILE=@PIDFILE@
LOG=@LOG@
ACCESS_LOG=@ACCESS_LOG@
WAIT_READY=@WAIT_READY@

# alive, and not a zombie: a daemon's exit is reaped by PID 1, which may take its time
alive() { st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
running() { [ -s "$PIDFILE" ] && alive "$(cat "$PIDFILE")"; }

# gunicorn 24+ opens a control socket in ~/.gunicorn, one path for all the user's instances: the
# test stack runs several at once and writes nothing in the home, so switch it off where it exists
EXTRA_OPTIONS=()
if "$VENV/bin/gunicorn" --help 2>/dev/null | grep -q -- --no-control-socket; then
    EXTRA_OPTIONS+=(--no-control-socket)
fi

start() {
    if running; then echo "gunicorn is already running (pid $(cat "$PIDFILE"))"; return 0; fi
    echo "=== appctl start $(date -u +%Y-%m-%dT%H:%M:%SZ) ===" >> "$LOG"
    "$VENV/bin/gunicorn" --chdir "$APP_DIR" --bind "127.0.0.1:$PORT" --workers 2 \
        --graceful-timeout 5 --pid "$PIDFILE" \
        --error-logfile "$LOG" --access-logfile "$ACCESS_LOG" \
        --capture-output --daemon "${EXTRA_OPTIONS[@]}" iact_site.wsgi:application || return 1
    if ! "$VENV/bin/python" "$WAIT_READY" "http://127.0.0.1:$PORT/api/health" "$PIDFILE" 30; then
        tail -n 20 "$LOG" >&2
        return 1
    fi
    echo "gunicorn started (pid $(cat "$PIDFILE")), release $(cat "$APP_DIR/VERSION")"
}

stop() {  # TERM: graceful, as systemd stops it; QUIT: at once (the tests' teardown)
    if ! running; then rm -f "$PIDFILE"; echo "gunicorn is not running"; return 0; fi
    pid=$(cat "$PIDFILE")
    kill "-${1:-TERM}" "$pid"
    # gunicorn has no way to say it is gone; poll its pid, bounded (graceful timeout is 5 s)
    for _ in $(seq 150); do
        if ! alive "$pid"; then echo "gunicorn stopped (pid $pid)"; return 0; fi
        sleep 0.1
    done
    echo "gunicorn (pid $pid) did not stop within 15 s" >&2
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    halt) stop QUIT ;;
    restart) stop && start ;;
    status)
        if running; then echo "running (pid $(cat "$PIDFILE"))"; else echo "stopped"; exit 3; fi ;;
    # like `journalctl -u iact-gunicorn --since ...`: the log since the last start
    logs)
        awk '/^=== appctl start/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' \
            "$LOG" ;;
    reload-web) echo "no nginx on the test stack: gunicorn answers directly on 127.0.0.1:$PORT" ;;
    restart-worker) echo "no Celery worker on the test stack: nothing to restart" ;;
    *) echo "usage: $0 start|stop|halt|restart|status|logs|reload-web|restart-worker" >&2; exit 2 ;;
esac
"""

WAIT_READY = '''"""Wait until gunicorn answers HTTP (any status) or its master is gone; bounded."""

import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

url, pidfile, limit = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        pid = int(pidfile.read_text().strip())
        Path(f"/proc/{pid}").stat()
    except (OSError, ValueError):
        if time.monotonic() > deadline - limit + 5:  # no live master after 5 s: it died at boot
            sys.exit("gunicorn is not running (its pid file is missing or stale)")
        time.sleep(0.1)
        continue
    try:
        urllib.request.urlopen(url, timeout=2).close()
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # it answers; whether it is healthy is the checklist's business
    except OSError:
        time.sleep(0.1)
sys.exit(f"gunicorn did not answer {url} within {limit:g} s")
'''


@dataclass
class Deployment:
    """One deployed copy of the app on the stack, as the staging host would hold it."""

    stack: Stack
    name: str
    owner: str
    variant: str
    root: Path
    port: int
    db_name: str

    @property
    def app_dir(self) -> Path:
        return self.root / "app"

    @property
    def backup_dir(self) -> Path:
        return self.root / "backups"

    @property
    def config_dirs(self) -> list[Path]:
        return [self.root / "etc" / "nginx", self.root / "etc" / "systemd"]

    @property
    def appctl(self) -> Path:
        return self.root / "bin" / "appctl"

    @property
    def log(self) -> Path:
        return self.root / "log" / "gunicorn.log"

    @property
    def pidfile(self) -> Path:
        return self.root / "run" / "gunicorn.pid"

    @property
    def static_root(self) -> Path:
        return self.root / "static"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> Path:
        return self.stack.origin(self.variant, self.owner)

    @property
    def local_repo(self) -> Path:
        return self.stack.local_repo(self.variant, self.name)

    def checklist_vars(self) -> dict[str, str]:
        """Every environment-specific variable of checklists/staging.toml for this deployment."""
        appctl = shlex.quote(str(self.appctl))
        return {
            "branch": "develop",
            "base_branch": "staging",
            "base_url": self.base_url,
            "staging_host": "127.0.0.1",
            "ssh_user": self.owner,
            "ssh_port": str(self.stack.sshd.port),
            "known_hosts": str(self.stack.known_hosts),
            "ssh_identity": str(self.stack.client_key),
            "app_dir": str(self.app_dir),
            "venv_activate": "venv/bin/activate",
            "python": "python",
            "repo_dir": str(self.local_repo),
            "git_remote": "origin",
            "db_name": self.db_name,
            "db_user": self.stack.pg.role,
            "backup_dir": str(self.backup_dir),
            "env_file": ".env",
            "config_paths": " ".join(shlex.quote(str(p)) for p in self.config_dirs),
            "has_frontend": "false",  # the test app has no npm front end
            "django_app": "inventory",
            "restart_app_cmd": f"{appctl} restart",
            "reload_web_cmd": f"{appctl} reload-web",
            "restart_worker_cmd": f"{appctl} restart-worker",
            "app_logs_cmd": f"{appctl} logs",
            "smoke_user": SMOKE_USER,
            "release_version": RELEASE_VERSION[self.variant],
        }

    def ctl(self, action: str, timeout: float = 60) -> str:
        return run(
            [str(self.appctl), action], user=self.owner, env=self.stack.remote_env, timeout=timeout
        ).stdout

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.base_url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.post(self.base_url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def health(self) -> dict[str, object]:
        return dict(self.get("/api/health").json())

    def git(self, *args: str) -> str:
        return run(["git", *args], user=self.owner, cwd=self.app_dir).stdout.strip()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def applied_migrations(self, app: str = "inventory") -> list[str]:
        out = self.stack.pg.sql(
            f"SELECT name FROM django_migrations WHERE app = '{app}' ORDER BY id", self.db_name
        )
        return out.splitlines()

    def table_rows(self, table: str) -> list[str]:
        """Every row of ``table`` as text, in primary-key order (the shape of the data included)."""
        return self.stack.pg.sql(
            f"SELECT t::text FROM {table} t ORDER BY 1", self.db_name
        ).splitlines()

    def snapshot(self) -> dict[str, list[str]]:
        """The data a rollback must bring back: the domain tables, the users, the migrations.

        API tokens are left out on purpose: the rollback's own smoke login issues one after the
        restore, as it would on the real host."""
        tables = ["inventory_item", "auth_user", "django_migrations"]
        columns = self.stack.pg.sql(
            "SELECT table_name || '.' || column_name FROM information_schema.columns "
            "WHERE table_name = 'inventory_item' ORDER BY ordinal_position",
            self.db_name,
        )
        return {"columns": columns.splitlines(), **{t: self.table_rows(t) for t in tables}}

    def gunicorn_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def destroy(self) -> None:
        if self.appctl.exists():
            run(
                [str(self.appctl), "halt"],
                user=self.owner,
                env=self.stack.remote_env,
                check=False,
                timeout=60,
            )
        self.stack.pg.drop_database(self.db_name)
        shutil.rmtree(self.root, ignore_errors=True)


class Stack:
    """The whole stack; ``start()`` brings it up, ``close()`` takes it down."""

    def __init__(self, base: Path | None = None, user: str = DEPLOY_USER) -> None:
        # in /tmp itself, whatever TMPDIR says: a private TMPDIR would hide it from the deploy user
        self.base = base or Path(tempfile.mkdtemp(prefix="iact-stack-", dir="/tmp"))
        self.base.chmod(0o755)  # the deploy user and postgres must reach their folders inside
        self.user = user
        self.timings = Timings()
        bindir = postgres_bindir()
        if bindir is None:
            raise StackError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.pg = Postgres(self.base / "postgres", free_port(), bindir)
        # what the real host's login environment would provide: where PostgreSQL is
        self.remote_env = {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.pg.port),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_CACHE_DIR": str(self.base / "pip-cache"),
        }
        self.sshd = Sshd("staging", self.base / "sshd-staging", free_port(), dict(self.remote_env))
        # DEBUG1: the jump host logs each tunnel it opens ("direct-tcpip"), the proof that a
        # connection really went through it
        self.jump = Sshd(
            "jump", self.base / "sshd-jump", free_port(), permit_root=False, log_level="DEBUG1"
        )
        self.client_dir = self.base / "client"
        self.client_key = self.client_dir / "id_ed25519"
        self.known_hosts = self.client_dir / "known_hosts"
        self.venv = self.base / "venv"
        self.src_repo = self.base / "src"
        self.smoke_user = SMOKE_USER
        self.smoke_password = secrets.token_urlsafe(18)
        self.secret_key = secrets.token_urlsafe(40)
        self.template_db = "iact_template"
        self.venv_seconds = 0.0
        self._origins: dict[tuple[str, str], Path] = {}
        self._local_repos: dict[str, Path] = {}
        self._deployments: list[Deployment] = []
        self._counter = 0
        self.deployments_started = 0

    # -- start and stop -------------------------------------------------------------------------

    def start(self) -> Stack:
        try:
            with self.timings.measure("postgres"):
                self.pg.start()
            with self.timings.measure("ssh keys and sshd"):
                self._client_keys()
                for server in (self.sshd, self.jump):
                    server.prepare()
                    server.authorize(self.user, self.client_public_key)
                self.sshd.authorize("root", self.client_public_key)
                self.sshd.start()
                self.jump.start()
                self.known_hosts.write_text(
                    self.sshd.known_hosts_line() + "\n" + self.jump.known_hosts_line() + "\n"
                )
            with self.timings.measure("git repositories"):
                self._build_source_repo()
            with self.timings.measure("virtualenv"):
                self._build_venv()
            with self.timings.measure("template database"):
                self._build_template_db()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        with self.timings.measure("stop"):
            for deployment in list(self._deployments):
                with contextlib.suppress(Exception):
                    deployment.destroy()
            for server in (self.sshd, self.jump):
                with contextlib.suppress(Exception):
                    server.stop()
            with contextlib.suppress(Exception):
                self.pg.stop()
            shutil.rmtree(self.base, ignore_errors=True)

    # -- parts ----------------------------------------------------------------------------------

    def _client_keys(self) -> None:
        make_dir(self.client_dir, "root", 0o700)
        if not self.client_key.exists():
            run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "iact-stack-operator",
                    "-f",
                    str(self.client_key),
                ]
            )

    @property
    def client_public_key(self) -> str:
        return self.client_key.with_suffix(".pub").read_text().strip()

    def _git(self, repo: Path, *args: str, user: str | None = None) -> str:
        env = {
            "GIT_AUTHOR_NAME": "IACT Dev",
            "GIT_AUTHOR_EMAIL": "dev@iact.example",
            "GIT_COMMITTER_NAME": "IACT Dev",
            "GIT_COMMITTER_EMAIL": "dev@iact.example",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
        }
        return run(["git", *args], cwd=repo, user=user, env=env).stdout.strip()

    def _build_source_repo(self) -> None:
        """One repository with the app's history: staging, then a branch per variant."""
        repo = self.src_repo
        shutil.copytree(PROJECT_SRC, repo, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy(REQUIREMENTS, repo / "requirements.txt")
        seed = repo / "inventory" / "migrations" / "0002_seed_items.py"
        seed_text = seed.read_text()
        seed.unlink()
        self._git(repo, "init", "-q", "-b", "staging")
        self._git(repo, "add", "-A")
        self._git(
            repo, "commit", "-q", "-m", "feat(inventory): items, API tokens, health and smoke API"
        )
        seed.write_text(seed_text)
        self._git(repo, "add", "-A")
        self._git(repo, "commit", "-q", "-m", "feat(inventory): staging's stock (migration 0002)")
        for variant, releases in VARIANTS.items():
            self._git(repo, "checkout", "-q", "-b", f"variant/{variant}", "staging")
            for release, message in releases:
                # copyfile, not copy2: a fresh mtime, or git may take a same-size file for unchanged
                shutil.copytree(
                    RELEASES_SRC / release,
                    repo,
                    dirs_exist_ok=True,
                    copy_function=shutil.copyfile,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
                self._git(repo, "add", "-A")
                self._git(repo, "commit", "-q", "-m", message)
        self._git(repo, "checkout", "-q", "staging")

    def local_repo(self, variant: str, name: str) -> Path:
        """The operator's checkout for the changelog review and the CHANGELOG entry (each
        deployment its own: the run writes CHANGELOG.md there): ``staging`` and this ``develop``."""
        if name not in self._local_repos:
            path = self.base / "operator" / name
            path.mkdir(parents=True)
            self._git(path, "init", "-q", "-b", "main")
            self._git(
                path,
                "fetch",
                "-q",
                str(self.src_repo),
                "staging:staging",
                f"variant/{variant}:develop",
            )
            self._git(path, "checkout", "-q", "develop")
            self._local_repos[name] = path
        return self._local_repos[name]

    def origin(self, variant: str, owner: str) -> Path:
        """The bare repository a deployment pulls from, owned by the deploying user (git refuses
        repositories of other users)."""
        key = (variant, owner)
        if key not in self._origins:
            path = self.base / "origins" / owner / f"iact-project-{variant}.git"
            make_dir(path.parent.parent)
            make_dir(path.parent)
            self._git(path.parent, "init", "-q", "--bare", path.name)
            self._git(
                self.src_repo,
                "push",
                "-q",
                str(path),
                "staging:staging",
                f"variant/{variant}:develop",
            )
            chown_tree(path, owner)
            self._origins[key] = path
        return self._origins[key]

    def _build_venv(self) -> None:
        """The app's virtualenv, built once per session and linked into every deployment (the
        checklist's install-python-deps then finds everything satisfied, as on a warm host)."""
        make_dir(self.venv, self.user)
        make_dir(self.base / "pip-cache", self.user)
        t0 = time.monotonic()
        run([str(SYSTEM_PYTHON), "-m", "venv", str(self.venv)], user=self.user)
        run(
            [str(self.venv / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)],
            user=self.user,
            env=self.remote_env,
            timeout=300,
        )
        self.venv_seconds = time.monotonic() - t0
        (self.base / "bin").mkdir(exist_ok=True)
        (self.base / "bin" / "wait_ready.py").write_text(WAIT_READY)

    def _build_template_db(self) -> None:
        """Staging's database before the deploy: migrations 0001-0002, the stock, the smoke user."""
        self.pg.create_database(self.template_db)
        deployment = self._checkout("template", self.user, "develop", self.template_db, free_port())
        manage = [str(self.venv / "bin" / "python"), "manage.py"]
        run(
            [*manage, "migrate", "--no-input"],
            user=self.user,
            cwd=deployment.app_dir,
            env=self.remote_env,
        )
        create_user = (
            "import os; from django.contrib.auth.models import User; "
            "User.objects.create_user(os.environ['SMOKE_USER'], 'qa@iact.example', "
            "os.environ['SMOKE_PASSWORD'])"
        )
        # the password travels in the environment, never on a command line that `ps` shows
        run(
            [*manage, "shell", "-c", create_user],
            user=self.user,
            cwd=deployment.app_dir,
            env={
                **self.remote_env,
                "SMOKE_USER": self.smoke_user,
                "SMOKE_PASSWORD": self.smoke_password,
            },
        )
        shutil.rmtree(deployment.root)

    # -- deployments ----------------------------------------------------------------------------

    def _checkout(self, name: str, owner: str, variant: str, db_name: str, port: int) -> Deployment:
        root = self.base / "deployments" / name
        make_dir(root.parent)
        deployment = Deployment(self, name, owner, variant, root, port, db_name)
        make_dir(root, owner)
        origin = self.origin(variant, owner)
        run(
            ["git", "clone", "-q", "--branch", "staging", str(origin), str(deployment.app_dir)],
            user=owner,
        )
        (deployment.app_dir / "venv").symlink_to(self.venv)
        for sub in (
            "backups",
            "log",
            "run",
            "static",
            "cache",
            "bin",
            "etc/nginx/sites-enabled",
            "etc/systemd/system",
        ):
            make_dir(root / sub, owner)
        (root / "etc" / "nginx" / "sites-enabled" / "iact-project").write_text(
            f"server {{ listen 80; location / {{ proxy_pass http://127.0.0.1:{port}; }} }}\n"
        )
        (root / "etc" / "systemd" / "system" / "iact-gunicorn.service").write_text(
            f"[Service]\nExecStart={self.venv}/bin/gunicorn iact_site.wsgi:application\n"
        )
        env_file = deployment.app_dir / ".env"
        env_file.write_text(
            f"DJANGO_SECRET_KEY={self.secret_key}\nDB_NAME={db_name}\nDB_USER={self.pg.role}\n"
            f"DB_HOST=127.0.0.1\nDB_PORT={self.pg.port}\nSTATIC_ROOT={deployment.static_root}\n"
            f"CACHE_DIR={root / 'cache'}\nALLOWED_HOSTS=127.0.0.1,localhost\n"
        )
        env_file.chmod(0o600)
        appctl = (
            APPCTL.replace("@APP_DIR@", shlex.quote(str(deployment.app_dir)))
            .replace("@VENV@", shlex.quote(str(self.venv)))
            .replace("@PORT@", str(port))
            .replace("@PIDFILE@", shlex.quote(str(deployment.pidfile)))
            .replace("@LOG@", shlex.quote(str(deployment.log)))
            .replace("@ACCESS_LOG@", shlex.quote(str(root / "log" / "access.log")))
            .replace("@WAIT_READY@", shlex.quote(str(self.base / "bin" / "wait_ready.py")))
        )
        deployment.appctl.write_text(appctl)
        deployment.appctl.chmod(0o755)
        chown_tree(root, owner)
        return deployment

    def deploy(
        self, variant: str = "develop", owner: str | None = None, db_name: str = "iact_staging"
    ) -> Deployment:
        """Staging as it is before the deploy: the ``staging`` branch checked out and serving,
        the database at migration 0002, ``develop`` of ``variant`` waiting in origin."""
        if variant not in VARIANTS:
            raise StackError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
        owner = owner or self.user
        self._counter += 1
        self.pg.create_database(db_name, template=self.template_db)
        deployment = self._checkout(
            f"d{self._counter}-{variant}-{owner}", owner, variant, db_name, free_port()
        )
        self._deployments.append(deployment)
        with self.timings.measure("deployments"):
            deployment.ctl("start")
        self.deployments_started += 1
        return deployment

    def forget(self, deployment: Deployment) -> None:
        deployment.destroy()
        with contextlib.suppress(ValueError):
            self._deployments.remove(deployment)

    # -- client side ----------------------------------------------------------------------------

    def ssh_argv(self, user: str | None = None, port: int | None = None, *extra: str) -> list[str]:
        """The OpenSSH client, strict about host keys, with the stack's key and known_hosts."""
        return [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(self.client_key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-p",
            str(port or self.sshd.port),
            *extra,
            f"{user or self.user}@127.0.0.1",
        ]

    def write_ssh_config(self, path: Path, alias: str = "staging-behind-jump") -> str:
        """An OpenSSH client config where ``alias`` is reached only through the jump host."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "Host stack-jump\n"
            "    HostName 127.0.0.1\n"
            f"    Port {self.jump.port}\n"
            f"    User {self.user}\n"
            f"    IdentityFile {self.client_key}\n"
            "    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {self.known_hosts}\n"
            f"Host {alias}\n"
            "    HostName 127.0.0.1\n"
            f"    Port {self.sshd.port}\n"
            f"    User {self.user}\n"
            f"    IdentityFile {self.client_key}\n"
            "    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {self.known_hosts}\n"
            "    ProxyJump stack-jump\n"
        )
        path.chmod(0o600)
        return alias

    def host_processes(self, user: str, pattern: str) -> list[str]:
        """Processes of ``user`` on the host whose command line matches ``pattern`` (ps)."""
        out = run(["ps", "-u", user, "-o", "pid=,args="], check=False).stdout
        return [
            line.strip() for line in out.splitlines() if pattern in line and "ps -u" not in line
        ]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def group_name(user: str) -> str:
    return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


if __name__ == "__main__":  # python tests/stack/stack.py: start it, print what runs, stop on Enter
    problems = missing_prerequisites()
    if problems:
        sys.exit("cannot start the stack: " + "; ".join(problems))
    t_start = time.monotonic()
    stack = Stack().start()
    try:
        d = stack.deploy()
        print(f"stack up in {time.monotonic() - t_start:.1f} s ({stack.timings.summary()})")
        print(
            f"  app {d.base_url} ({d.health()}), sshd 127.0.0.1:{stack.sshd.port}, "
            f"postgres 127.0.0.1:{stack.pg.port}, base {stack.base}"
        )
        with contextlib.suppress(EOFError, KeyboardInterrupt):
            input("Enter stops it. ")
    finally:
        stack.close()
