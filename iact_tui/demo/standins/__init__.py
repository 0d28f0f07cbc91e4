"""The sandbox's stand-ins for the tools a real staging host has and this machine may not.

One multi-call program (like busybox): the sandbox copies this package into the host folder and
installs a tiny shell wrapper per tool in ``<host>/usr/local/bin`` that runs
``python -I -S <copy> TOOL ARGS...`` with ``IACT_SANDBOX=<host>`` (see ``__main__.py``).
One module per tool: pg_dump and psql (``postgres``), systemctl, journalctl, Django's manage.py
(``django_manage``), npm, pip, sudo, gh, nginx; ``host`` holds the host's state files they share.

Every tool behaves plausibly, keeps its state in files under the sandbox host folder and says
"sandbox" in its output. The sandbox itself imports ``host`` too (the same code writes the journal
and reads the database), so the package stays standard-library only, imports its own modules
relatively and never imports anything from iact_tui.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from .gh import gh
from .host import TAG
from .journalctl import journalctl
from .nginx import nginx
from .npm import npm
from .pip import pip
from .postgres import pg_dump, psql
from .sudo import sudo
from .systemctl import systemctl

TOOLS: dict[str, Callable[[list[str]], int]] = {
    "pg_dump": pg_dump,
    "psql": psql,
    "systemctl": systemctl,
    "journalctl": journalctl,
    "npm": npm,
    "pip": pip,
    "pip3": pip,
    "gh": gh,
    "nginx": nginx,
    "sudo": sudo,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TOOLS:
        print(f"{TAG} stand-ins: {', '.join(TOOLS)}", file=sys.stderr)
        return 2
    try:
        return TOOLS[argv[0]](argv[1:])
    except BrokenPipeError:
        return 141
