"""Where everything of the sandbox lives under its root folder (all of it removed when the demo ends)::

    client/                  the operator's side: SSH identity and known_hosts
    local/iact-project       the operator's checkout (repo_dir): staging and develop branches
    local/bin                stand-ins for local tools the demo may call (gh)
    host/                    the staging host's file system, reached over the in-process SSH server
      srv/git/iact-project.git   the bare "origin"
      var/www/iact-project       the deployed working copy (app_dir), on staging
      etc/nginx, etc/systemd     configuration the backup step archives
      backups/                   where pg_dump and tar write
      usr/local/bin              the stand-ins (pg_dump, psql, systemctl, journalctl, npm, pip, sudo, ...)
      usr/local/lib/iact-sandbox the stand-ins' package they run from

and the environment every command on the sandbox host runs with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SSH_USER = "deploy"


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def client(self) -> Path:
        return self.root / "client"

    @property
    def host(self) -> Path:
        return self.root / "host"

    @property
    def origin(self) -> Path:
        return self.host / "srv/git/iact-project.git"

    @property
    def app_dir(self) -> Path:
        return self.host / "var/www/iact-project"

    @property
    def repo_dir(self) -> Path:
        return self.root / "local/iact-project"

    @property
    def local_bin(self) -> Path:
        return self.root / "local/bin"

    @property
    def host_bin(self) -> Path:
        return self.host / "usr/local/bin"

    @property
    def backups(self) -> Path:
        return self.host / "backups"

    @property
    def home(self) -> Path:
        return self.host / "home" / SSH_USER

    @property
    def config_paths(self) -> list[Path]:
        return [self.host / "etc/nginx", self.host / "etc/systemd"]


def host_environment(layout: Layout) -> dict[str, str]:
    """The environment of every command run on the sandbox host (and of the build itself)."""
    return {
        "PATH": f"{layout.host_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(layout.home),
        "USER": SSH_USER,
        "LOGNAME": SSH_USER,
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "TZ": os.environ.get("TZ", "UTC"),
        "IACT_SANDBOX": str(layout.host),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
