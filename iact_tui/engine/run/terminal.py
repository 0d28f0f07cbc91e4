"""The driver's terminal after a hang-up (a dropped terminal or SSH session).

Both front ends stop the run cleanly on SIGHUP; for that they must still be able to print and
record their way to a pause once the terminal is gone.
"""

from __future__ import annotations

import contextlib
import os


def terminal_fds() -> list[int]:
    """Which of stdin, stdout and stderr are a terminal (asked before any hang-up: after it,
    the terminal no longer answers as one)."""
    found = []
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                found.append(fd)
        except OSError:
            continue
    return found


def detach_hung_up_terminal(fds: list[int]) -> None:
    """After a hang-up the terminal is gone and writing to it fails (EIO): those of stdin,
    stdout and stderr that were the terminal now point at /dev/null, so that the run can still
    record and print its way to a clean pause. Pipes and files are kept (someone reads them)."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    try:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
    finally:
        os.close(null)
