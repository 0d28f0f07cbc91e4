"""``sudo``: runs the command as the sandbox user, no password asked."""

from __future__ import annotations

import os
import sys

from .host import TAG


def sudo(args: list[str]) -> int:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        a = args[i]
        if a == "--":
            i += 1
            break
        i += 2 if a in ("-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U") else 1
    command = args[i:]
    if not command:
        print(f"usage: sudo [-n] [-u user] command {TAG}", file=sys.stderr)
        return 1
    print(f"{TAG} sudo: runs the command as the sandbox user, no password asked", file=sys.stderr)
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        print(f"sudo: {command[0]}: command not found", file=sys.stderr)
        return 1
    return 0  # pragma: no cover - execvp does not return
