"""``pip install``: records the requirements in the venv's installed.json, downloads nothing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .host import TAG, write_json_atomic


def pip(args: list[str]) -> int:
    if not args or args[0] != "install":
        print(f"{TAG} pip stand-in: only 'pip install -r FILE' is supported", file=sys.stderr)
        return 1
    venv = Path(os.environ.get("VIRTUAL_ENV") or Path.cwd() / "venv")
    requirements: list[str] = []
    i = 1
    while i < len(args):
        if args[i] in ("-r", "--requirement") and i + 1 < len(args):
            path = Path(args[i + 1])
            if not path.exists():
                print(
                    f"ERROR: Could not open requirements file: [Errno 2] No such file or directory: '{path}' {TAG}",
                    file=sys.stderr,
                )
                return 1
            requirements += [
                ln.split("#")[0].strip()
                for ln in path.read_text().splitlines()
                if ln.split("#")[0].strip()
            ]
            i += 2
        elif not args[i].startswith("-"):
            requirements.append(args[i])
            i += 1
        else:
            i += 1
    record = venv / "installed.json"
    installed: dict[str, str] = json.loads(record.read_text()) if record.exists() else {}
    site = f"./{venv.name}/lib/python3.11/site-packages"
    print(f"{TAG} pip stand-in: nothing is downloaded")
    new: list[str] = []
    for req in requirements:
        pkg, _, version = req.partition("==")
        if installed.get(pkg.lower()) == version:
            print(f"Requirement already satisfied: {req} in {site}")
        else:
            print(f"Collecting {req}")
            new.append(f"{pkg}-{version}" if version else pkg)
            installed[pkg.lower()] = version
    if new:
        print(f"Installing collected packages: {', '.join(n.rsplit('-', 1)[0] for n in new)}")
        print(f"Successfully installed {' '.join(new)}")
    venv.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, installed)
    return 0
