"""Which process a step started, and whether it still runs: so that a resume never starts a
second copy beside one that outlived its driver (``kill -9``, a lost terminal).

As soon as a step's command starts, the executor reports its process group leader and the
runner records it (``step_process``, fsync'ed) before the command goes past its start gate: the
command's shell first reads one line from its stdin, which the driver writes only after the
record is durable. A driver that dies before that closes the pipe, and the shell exits without
running anything. A process is named by its pid, its start time (``/proc/PID/stat`` field 22,
clock ticks since boot) and the machine's boot id, so a reused pid or a reboot is not mistaken
for it. Remote processes are checked and stopped over SSH with the same identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from dataclasses import dataclass
from typing import Any

BOOT_ID = "/proc/sys/kernel/random/boot_id"
STOP_GRACE = 3.0  # seconds between TERM and KILL
POLL = 0.2  # seconds between looks while waiting for a process to end (local)
REMOTE_POLL = 1.0  # the same over SSH (a round trip each)
DEFAULT_WAIT = 6 * 3600.0  # longest wait for a step without a timeout of its own

# The start gate, first in a local command's shell: nothing runs until the driver has recorded
# the process (it writes one line); a driver that died closes the pipe and the shell exits.
GATE = "IFS= read -r _iact_go || exit 125; exec </dev/null\n"


@dataclass(frozen=True)
class ProcessRef:
    """One process group a step started, as recorded in a ``step_process`` record."""

    pid: int
    host: str = ""  # "" on the operator's machine, else the checklist host (member) name
    start: str = ""  # /proc/PID/stat starttime; "" when the host has no /proc
    boot_id: str = ""
    sudo: bool = False

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> ProcessRef:
        start = str(r.get("start", "") or "")
        boot = str(r.get("boot_id", "") or "")
        return cls(
            pid=int(r["pid"]),
            host=str(r.get("host", "") or ""),
            # they go into a shell script on the host: digits and a uuid, nothing else
            start=start if start.isdigit() else "",
            boot_id=boot if re.fullmatch(r"[0-9a-fA-F-]{8,64}", boot) else "",
            sudo=bool(r.get("sudo", False)),
        )

    def describe(self) -> str:
        where = f"on {self.host}" if self.host else "on this machine"
        return f"process group {self.pid} {where}"


# -- the identity of a process ------------------------------------------------------------------


def stat_fields(text: str) -> list[str]:
    """The fields of a ``/proc/PID/stat`` line after the command name: [state, ppid, …]."""
    return text.rsplit(")", 1)[1].split() if ")" in text else []


def start_time(stat: str) -> str:
    fields = stat_fields(stat)
    return fields[19] if len(fields) > 19 else ""


def boot_id() -> str:
    try:
        with open(BOOT_ID, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def local_identity(pid: int) -> tuple[str, str]:
    """(start time, boot id) of a local process; empty strings where /proc has none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            return start_time(f.read()), boot_id()
    except OSError:
        return "", boot_id()


def local_alive(ref: ProcessRef) -> bool:
    """Whether the recorded local process (or, once it is gone, its group) still runs."""
    if ref.boot_id and boot_id() and ref.boot_id != boot_id():
        return False  # the machine restarted since: nothing of it survived
    try:
        with open(f"/proc/{ref.pid}/stat", encoding="utf-8", errors="replace") as f:
            fields = stat_fields(f.read())
    except FileNotFoundError:
        return _local_group_alive(ref.pid)
    except OSError:
        fields = []
    if not fields:
        return _signal_alive(ref.pid)
    if ref.start and len(fields) > 19 and fields[19] != ref.start:
        return False  # the pid was reused by another process
    return not fields[0].startswith(("Z", "X"))


def _local_group_alive(pgid: int) -> bool:
    """The leader is gone; a member of its group may still run (Linux keeps the pid reserved
    while the group has members, so the group is still ours)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                fields = stat_fields(f.read())
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and not fields[0].startswith(("Z", "X")):
            return True
    return False


def _signal_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def local_stop(ref: ProcessRef, grace: float = STOP_GRACE) -> bool:
    """TERM the recorded group, KILL it after ``grace``; True when it is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not local_alive(ref):
            return True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(ref.pid, sig)
        for _ in range(max(1, int(grace / 0.05))):  # bounded: up to ``grace`` seconds
            if not local_alive(ref):
                break
            await asyncio.sleep(0.05)
    return not local_alive(ref)


# -- on a host, over SSH ------------------------------------------------------------------------


def remote_alive_script(ref: ProcessRef) -> str:
    """Prints ``alive`` or ``gone`` for the recorded process group on the host."""
    pid = ref.pid
    checks = []
    if ref.boot_id:
        checks.append(
            f'if read -r b 2>/dev/null < {BOOT_ID} && [ "$b" != {ref.boot_id} ]; then echo gone; exit 0; fi'
        )
    # the leader: same start time and not a zombie; once it is gone, any live member of its group
    checks.append(
        f"if read -r s 2>/dev/null < /proc/{pid}/stat; then "
        "set -- ${s##*)}; "
        f"if [ -n '{ref.start}' ] && [ \"${{20}}\" != '{ref.start}' ]; then echo gone; exit 0; fi; "
        'case "$1" in Z*|X*) echo gone;; *) echo alive;; esac; exit 0; fi'
    )
    checks.append(
        "if t=$(ps -e -o pgid= -o stat= 2>/dev/null); then "
        f"""printf '%s\\n' "$t" | awk '($2 !~ /^Z/) && ($1 == {pid}) {{ f = 1 }} END {{ exit !f }}' """
        "&& echo alive || echo gone; "
        f"elif kill -s 0 -- -{pid} 2>/dev/null; then echo alive; else echo gone; fi"
    )
    return "; ".join(checks)


async def remote_alive(conn: Any, ref: ProcessRef) -> bool:
    import asyncssh

    result = await conn.run(remote_alive_script(ref), check=False, stdin=asyncssh.DEVNULL)
    out = result.stdout if isinstance(result.stdout, str) else (result.stdout or b"").decode()
    words = out.split()
    if not words or words[-1] not in ("alive", "gone"):
        raise OSError(f"could not tell whether {ref.describe()} still runs: {out.strip()[:200]!r}")
    return words[-1] == "alive"


async def remote_stop(conn: Any, ref: ProcessRef) -> bool:
    """TERM then KILL the recorded group on the host (as root when it ran under sudo)."""
    import shlex

    import asyncssh

    from iact_tui.engine.executors.ssh import _kill_script

    if not await remote_alive(conn, ref):
        return True
    script = _kill_script([ref.pid])
    if ref.sudo:
        quoted = shlex.quote(script)
        script = f"sudo -n sh -c {quoted} 2>/dev/null || sh -c {quoted}"
    await conn.run(script, check=False, stdin=asyncssh.DEVNULL)
    return not await remote_alive(conn, ref)
