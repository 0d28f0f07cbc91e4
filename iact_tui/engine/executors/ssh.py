"""``ssh``: a command on one host or on every member of a host group, over the pooled connection.

How a remote command is stopped (timeout, cancel) is the delicate part. Closing the channel
leaves a non-pty process running, and OpenSSH ignores signal requests in root sessions
(TECH-NOTES). So every command runs inside a wrapper that first prints its shell's pid, which
is also its process group (sshd starts each session with setsid), and stopping means
``kill -s TERM -- -PGID`` over a second channel, then KILL after a grace period. With sudo,
sudo may start the command in a session of its own (``Defaults use_pty``): the command under
sudo prints its pid too, and both groups are killed, as root.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import asyncssh

from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.executors.base import Automatic, Outcome, OutputCollector, StepContext
from iact_tui.engine.executors.hosts import host_values, on_members
from iact_tui.engine.executors.ssh_pool import SshError, SshPool

CHUNK = 1 << 16
KILL_GRACE = 3.0  # seconds between TERM and KILL
PID_WAIT = 2.0  # seconds to wait for the wrapper's pid line when a command is stopped early
STOP_TIMEOUT = 10.0  # upper bound for the whole stop sequence
ARTIFACT_TIMEOUT = 600.0  # sha256 of a multi-GB dump takes a while
MARKER_SCAN_LINES = 32  # pid lines come first; sudo may print a warning or two before its own
SUDO_NEEDS_PASSWORD = re.compile(r"sudo: (a password is required|a terminal is required)")


class SshExecutor(Automatic):
    kind: ClassVar[str] = "ssh"

    def describe(self, step: Any, values: Values) -> str:
        command = values.display_command(step.run)
        if step.sudo:
            command = f"sudo -n sh -c {shlex.quote(command)}"
        host = values.checklist.hosts.get(step.host)
        if host is not None and host.members:
            return f"{step.host} ({', '.join(host.members)})$ {command}"
        return f"{step.host}$ {command}"

    async def execute(self, ctx: StepContext) -> Outcome:
        step = ctx.step
        try:
            command = _command_on(ctx.values, step.run, step.host)
        except template.MissingValue as exc:
            return Outcome(False, f"the command uses {{{exc.name}}}, which has no value yet")
        pool: SshPool = ctx.services.ssh
        members = pool.members(step.host)
        if members == [step.host]:
            return await self._on_member(ctx, pool, step.host, command, False)
        return await self._rollout(ctx, pool, members, command)

    async def _rollout(
        self, ctx: StepContext, pool: SshPool, members: list[str], command: str
    ) -> Outcome:
        """A group: the command on each member under the rollout (executors/hosts.py)."""
        run = ctx.step.run

        async def on_member(member: str, log: Any) -> Outcome:
            here = _command_on(ctx.values, run, member) if _per_host(run) else command
            return await self._on_member(ctx, pool, member, here, True, log)

        return await on_members(ctx, members, on_member)

    async def _on_member(
        self,
        ctx: StepContext,
        pool: SshPool,
        member: str,
        command: str,
        group: bool,
        host_log: Any = None,
    ) -> Outcome:
        step = ctx.step
        out = ctx.output()
        if group:
            out.prefix = f"[{member}] "
        if host_log is not None:
            out.log = _Tee(out.log, host_log)  # type: ignore[assignment]  # only write_masked is used
        try:
            conn = await pool.connection(member)
        except SshError as exc:
            out.close()
            return Outcome(False, str(exc))
        recorder = getattr(ctx, "process_started", None)
        on_started = None
        if recorder is not None:

            def on_started(pid: int, start: str, boot: str, sudo: bool) -> Any:
                return recorder(pid, host=member, start=start, boot_id=boot, sudo=sudo)

        run = RemoteCommand(conn, member, command, sudo=step.sudo, on_started=on_started)
        try:
            result = await run.run(out.feed, step.timeout)
        finally:
            out.close()
        ok, message = out.check(result.exit_status, step.exit_codes)
        sudo_refused = result.sudo_password_required or any(
            SUDO_NEEDS_PASSWORD.search(line) for line in out.tail
        )
        if sudo_refused and (result.failure or not ok):
            return Outcome(
                False,
                f"sudo on {member} needs a password, and a step cannot type one: allow this "
                "command without a password (NOPASSWD in sudoers) for the SSH user",
                exit_status=result.exit_status,
            )
        if result.failure:
            return Outcome(False, result.failure, exit_status=result.exit_status)
        if not ok:
            return Outcome(False, message, exit_status=result.exit_status)
        artifacts: list[dict[str, Any]] = []
        if step.artifact:
            try:
                path = ctx.values.text(step.artifact)
            except template.MissingValue as exc:
                return Outcome(False, f"the artifact path uses {{{exc.name}}}, which has no value")
            artifact, problem = await _artifact(conn, member, path, step.sudo, ctx.values)
            if problem:
                return Outcome(False, problem, exit_status=result.exit_status)
            artifacts.append(artifact)
        return Outcome(True, exit_status=result.exit_status, artifacts=artifacts)


def _per_host(run: str) -> bool:
    return bool({"host", "host_address"} & set(template.names(run)))


def _command_on(values: Values, run: str, host: str) -> str:
    """The command for one host: ``{host}`` is the host it runs on (a group's member),
    ``{host_address}`` its address."""
    names = template.names(run)
    own = host_values(values, host) if "host_address" in names else {"host": host}
    before = {name: values.values.get(name) for name in own}
    values.values.update(own)
    try:
        return values.command(run)
    finally:  # no await in between: other members' commands never see this one's value
        for name, value in before.items():
            if value is None:
                values.values.pop(name, None)
            else:
                values.values[name] = value


class _Tee:
    """The step's log and one host's log: a group step's lines go to both."""

    def __init__(self, *logs: Any) -> None:
        self.logs = logs

    def write_masked(self, text: str) -> None:
        for log in self.logs:
            log.write_masked(text)


@dataclass
class RemoteResult:
    exit_status: int | None = None
    failure: str = ""  # set when the command did not run to its end (timeout, lost connection)
    sudo_password_required: bool = False
    pids: list[int] = field(default_factory=list)


# Before its pid line the wrapper reads (builtins only, no fork) what names its process beyond
# the pid: the host's boot id and the shell's /proc/PID/stat (the start time is field 22).
_IDENTITY = (
    "read -r _iact_b 2>/dev/null </proc/sys/kernel/random/boot_id; "
    "read -r _iact_s 2>/dev/null </proc/$$/stat; "
)
# The start gate: the command runs only once the driver has recorded its pid and says so (one
# line on stdin); a driver that died first closes the channel, and the shell exits.
_GATE = "IFS= read -r _iact_go || exit 125; "


class RemoteCommand:
    """One command on one connection: streamed, and stopped without leaving anything behind."""

    def __init__(
        self,
        conn: asyncssh.SSHClientConnection,
        host: str,
        command: str,
        *,
        sudo: bool,
        on_started: Callable[[int, str, str, bool], Any] | None = None,
    ) -> None:
        self.conn = conn
        self.host = host
        self.sudo = sudo
        self.on_started = on_started  # (pid, start time, boot id, under sudo): record it durably
        self.start_error: Exception | None = None
        self._proc: Any = None
        self._stopping = False  # a pid line that arrives now does not open the gate
        # A per-run token: a command's own output cannot pass for the wrapper's pid line.
        self.marker = f"__IACT_PID_{secrets.token_hex(6)}__"
        echo = f"{_IDENTITY}echo {self.marker} $$ ${{_iact_b:--}} ${{_iact_s##*)}}"
        if sudo:
            inner = f"{echo}; {command}"
            body = f"sudo -n sh -c {shlex.quote(inner)}"
        else:
            body = command
        gate = _GATE if on_started is not None else ""
        # `exec 2>&1` merges stderr on the remote side, which keeps the order of lines.
        # The newline before the body ends a possible comment or heredoc cleanly.
        self.wrapped = f"{echo}; {gate}exec 2>&1 </dev/null\n{body}"
        self.expected_markers = 2 if sudo else 1

    def _started(self, index: int, pid: int, start: str, boot: str) -> None:
        """A pid line arrived: record it, then (the first one) open the start gate."""
        if self.on_started is None:
            return
        durable = None
        if self.start_error is None:
            try:
                durable = self.on_started(pid, start, boot, index > 0)
            except Exception as exc:  # the command must not run unrecorded: keep the gate shut
                self.start_error = exc
        if isinstance(durable, asyncio.Future) and not durable.done():
            # a group commit (a batch of hosts starting together): the gate opens once it is written
            durable.add_done_callback(lambda f: self._durable(index, f))
            return
        if isinstance(durable, asyncio.Future) and (
            durable.cancelled() or durable.exception() is not None
        ):
            self.start_error = self.start_error or RuntimeError(
                "the command's start was not recorded"
            )
        self._open_gate(index)

    def _durable(self, index: int, future: asyncio.Future[Any]) -> None:
        if (
            future.cancelled() or future.exception() is not None
        ):  # not recorded: the gate stays shut
            self.start_error = self.start_error or RuntimeError(
                "the command's start was not recorded"
            )
        self._open_gate(index)

    def _open_gate(self, index: int) -> None:
        if index == 0 and self._proc is not None:
            with contextlib.suppress(asyncssh.Error, OSError):
                if self.start_error is None and not self._stopping:
                    self._proc.stdin.write(b"\n")
                self._proc.stdin.write_eof()

    async def run(self, feed: Any, time_limit: float | None) -> RemoteResult:
        result = RemoteResult()
        markers = _MarkerFilter(self.marker.encode(), self.expected_markers, feed, self._started)
        gated = self.on_started is not None
        try:
            proc = await self.conn.create_process(
                self.wrapped,
                stdin=asyncssh.PIPE if gated else asyncssh.DEVNULL,
                stderr=asyncssh.STDOUT,
                encoding=None,
            )
        except (asyncssh.Error, OSError) as exc:
            result.failure = f"could not start the command on {self.host}: {_reason(exc)}"
            return result
        self._proc = proc

        async def pump() -> None:
            while data := await proc.stdout.read(CHUNK):
                markers.feed(data)

        # The reader is shielded: after a timeout it keeps collecting until the process is gone.
        reader = asyncio.ensure_future(pump())
        try:
            async with asyncio.timeout(time_limit):
                await asyncio.shield(reader)
                await proc.wait_closed()
        except TimeoutError:
            await asyncio.shield(self._stop(proc, markers, reader))
            markers.close()
            result.pids = markers.pids
            result.sudo_password_required = markers.sudo_password_required
            result.failure = (
                f"the command did not finish within {time_limit:g} s and was stopped on {self.host}"
            )
            return result
        except asyncio.CancelledError:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._stop(proc, markers, reader))
            markers.close()
            raise
        except (asyncssh.Error, OSError) as exc:
            markers.close()
            result.failure = f"lost the connection to {self.host} while the command was running"
            if not isinstance(exc, asyncssh.ConnectionLost):
                result.failure += f" ({_reason(exc)})"
            return result
        markers.close()
        result.pids = markers.pids
        result.sudo_password_required = markers.sudo_password_required
        result.exit_status = proc.exit_status
        if self.start_error is not None:
            result.failure = (
                f"the command was not run on {self.host}: its process could not be recorded "
                f"({self.start_error})"
            )
            result.exit_status = None
            return result
        if proc.exit_signal:
            signal_name = proc.exit_signal[0]
            result.failure = f"the command was killed by signal {signal_name} on {self.host}"
            result.exit_status = None
        elif result.exit_status is None or self.conn.is_closed():
            result.failure = f"lost the connection to {self.host} while the command was running"
            result.exit_status = None
        return result

    async def _stop(
        self,
        proc: asyncssh.SSHClientProcess[bytes],
        markers: _MarkerFilter,
        reader: asyncio.Future[None],
    ) -> None:
        """Kill the command's process groups on the host and wait until they are gone."""
        self._stopping = True
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                if not markers.pids and not reader.done():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(PID_WAIT):
                            await markers.first_pid.wait()
                if markers.pids:
                    script = _kill_script(markers.pids)
                    if self.sudo:
                        # Processes under sudo are root's; fall back to the user's own kill
                        # when sudo refuses (the user's processes are still worth stopping).
                        quoted = shlex.quote(script)
                        script = f"sudo -n sh -c {quoted} 2>/dev/null || sh -c {quoted}"
                    with contextlib.suppress(asyncssh.Error, OSError):
                        await self.conn.run(script, check=False, stdin=asyncssh.DEVNULL)
                else:
                    # No pid (the shell never started): a signal is the remaining way in.
                    with contextlib.suppress(asyncssh.Error, OSError):
                        proc.terminate()
                # The process is gone, so sshd closes the channel and the reader sees the end.
                with contextlib.suppress(asyncssh.Error, OSError):
                    await reader
        except TimeoutError:
            pass
        finally:
            if not reader.done():
                reader.cancel()
            proc.close()


class _MarkerFilter:
    """Takes the wrapper's pid lines out of the output before anyone sees them.

    Only the first lines are looked at, byte-wise; after that, chunks pass straight through.
    """

    def __init__(
        self, marker: bytes, expected: int, feed: Any, on_pid: Callable[..., None] | None = None
    ) -> None:
        self.marker = marker
        self.expected = expected
        self.feed_out = feed
        self.on_pid = on_pid  # (index, pid, start time, boot id)
        self.pids: list[int] = []
        self.first_pid = asyncio.Event()
        self.sudo_password_required = False
        self._buffer = b""
        self._scanning = True
        self._lines_left = MARKER_SCAN_LINES

    def feed(self, data: bytes) -> None:
        if not self._scanning:
            self.feed_out(data)
            return
        self._buffer += data
        while self._scanning:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > CHUNK:  # no line end in sight: not a pid line
                    self._scanning = False
                break
            line, self._buffer = self._buffer[: newline + 1], self._buffer[newline + 1 :]
            if line.startswith(self.marker + b" "):
                with contextlib.suppress(ValueError):
                    words = line[len(self.marker) + 1 :].decode("ascii", "replace").split()
                    pid = int(words[0])
                    boot = words[1] if len(words) > 1 and words[1] != "-" else ""
                    # after the boot id: /proc/PID/stat from the state on; start time is 20th
                    start = words[21] if len(words) > 21 and words[21].isdigit() else ""
                    self.pids.append(pid)
                    self.first_pid.set()
                    if self.on_pid is not None:
                        self.on_pid(len(self.pids) - 1, pid, start, boot)
                if len(self.pids) >= self.expected:
                    self._scanning = False
                continue
            if SUDO_NEEDS_PASSWORD.search(line.decode("utf-8", "replace")):
                self.sudo_password_required = True
            self.feed_out(line)
            self._lines_left -= 1
            if self._lines_left <= 0:
                self._scanning = False
        if not self._scanning and self._buffer:
            rest, self._buffer = self._buffer, b""
            self.feed_out(rest)

    def close(self) -> None:
        if self._buffer:
            rest, self._buffer = self._buffer, b""
            self.feed_out(rest)
        self._scanning = False


def _kill_script(pids: list[int]) -> str:
    """TERM each process group, wait up to KILL_GRACE for them to go, then KILL what is left.

    Runs on the host in one round trip. A group that does not exist (sudo without use_pty keeps
    the command in the outer group) is simply skipped. `kill -s SIG -- -PGID` works in dash
    and bash alike. "Gone" ignores zombies: an orphan stays one until the host's init reaps it,
    which some inits do only every second or two. Without `ps`, `kill -0` is the fallback.
    """
    groups = " ".join(f"-{pid}" for pid in pids)
    in_groups = " || ".join(f"$1 == {pid}" for pid in pids)
    rounds = int(KILL_GRACE * 10)
    return (
        "alive() { "
        "if t=$(ps -e -o pgid= -o stat= 2>/dev/null); then "
        f"""printf '%s\\n' "$t" | awk '($2 !~ /^Z/) && ({in_groups}) {{ f = 1 }} END {{ exit !f }}'; """
        f"else for g in {groups}; do kill -s 0 -- $g 2>/dev/null && return 0; done; return 1; "
        "fi; }; "
        f"for g in {groups}; do kill -s TERM -- $g 2>/dev/null; done; "
        f"i=0; while [ $i -lt {rounds} ] && alive; do sleep 0.1; i=$((i+1)); done; "
        f"for g in {groups}; do kill -s KILL -- $g 2>/dev/null; done; exit 0"
    )


async def _artifact(
    conn: asyncssh.SSHClientConnection, host: str, path: str, sudo: bool, values: Values
) -> tuple[dict[str, Any], str]:
    """Size and sha256 of a file the step made, measured on the host; or why it cannot be."""
    shown = values.redactor(path)
    quoted = shlex.quote(path)
    script = (
        f"if [ ! -e {quoted} ]; then echo missing; "
        f"elif [ ! -f {quoted} ]; then echo notfile; "
        f"else wc -c < {quoted} && sha256sum < {quoted}; fi"
    )
    output = bytearray()
    command = RemoteCommand(conn, host, script, sudo=sudo)
    result = await command.run(output.extend, ARTIFACT_TIMEOUT)
    text = output.decode("utf-8", "replace")
    lines = text.split()
    if result.failure:
        return {}, f"could not measure the artifact {shown} on {host}: {result.failure}"
    if lines[:1] == ["missing"]:
        return {}, f"the artifact {shown} was not found on {host}"
    if lines[:1] == ["notfile"]:
        return {}, f"the artifact {shown} on {host} is not a regular file"
    if result.exit_status != 0 or len(lines) < 2 or not lines[0].isdigit():
        detail = values.redactor(text.strip())[:200]
        return {}, f"could not measure the artifact {shown} on {host}: {detail!r}"
    size = int(lines[0])
    if size == 0:
        return {}, f"the artifact {shown} on {host} is empty (0 bytes)"
    return {"path": shown, "size": size, "sha256": lines[1], "host": host}, ""


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", "") or getattr(exc, "strerror", "") or str(exc)
    return str(reason) or type(exc).__name__


__all__ = ["OutputCollector", "RemoteCommand", "SshExecutor"]
