"""``nginx -t``: checks that the configuration file exists."""

from __future__ import annotations

import sys

from .host import TAG, host_root


def nginx(args: list[str]) -> int:
    host = host_root()
    conf = host / "etc/nginx/nginx.conf"
    if "-t" in args:
        if not conf.exists():
            print(
                f'nginx: [emerg] open() "{conf}" failed (2: No such file or directory) {TAG}',
                file=sys.stderr,
            )
            return 1
        print(f"nginx: the configuration file {conf} syntax is ok {TAG}", file=sys.stderr)
        print(f"nginx: configuration file {conf} test is successful", file=sys.stderr)
        return 0
    print(
        f"{TAG} nginx stand-in: only 'nginx -t' is supported (use systemctl reload nginx)",
        file=sys.stderr,
    )
    return 1
