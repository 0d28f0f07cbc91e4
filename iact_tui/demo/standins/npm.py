"""``npm``: install (records the dependencies, downloads nothing) and ``run build`` (bundles
frontend/src without vite)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from .host import TAG


def npm(args: list[str]) -> int:
    cwd = Path.cwd()
    manifest = cwd / "package.json"
    if not manifest.exists():
        print(f"npm ERR! enoent Could not read package.json: {manifest} {TAG}", file=sys.stderr)
        return 254
    package = json.loads(manifest.read_text())
    if not args:
        print(f"{TAG} npm stand-in: install | ci | run SCRIPT")
        return 1
    verb = args[0]
    if verb in ("install", "i", "ci"):
        (cwd / "node_modules").mkdir(exist_ok=True)
        deps = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
        (cwd / "node_modules" / ".package-lock.json").write_text(json.dumps(deps, indent=1) + "\n")
        print(f"{TAG} npm stand-in: nothing is downloaded; {len(deps)} dependencies recorded")
        print()
        print(f"added {len(deps)} packages, and audited {len(deps) + 1} packages in 0.2s")
        print()
        print("found 0 vulnerabilities")
        return 0
    if verb == "run" and len(args) > 1 and args[1] == "build":
        script = package.get("scripts", {}).get("build")
        if not script:
            print(f'npm ERR! Missing script: "build" {TAG}', file=sys.stderr)
            return 1
        print(
            f"\n> {package.get('name', 'app')}@{package.get('version', '0.0.0')} build\n> {script}\n"
        )
        sources = sorted((cwd / "frontend" / "src").glob("*.js"))
        bundle = "\n".join(p.read_text() for p in sources)
        digest = hashlib.sha256(bundle.encode()).hexdigest()[:8]
        dist = cwd / "frontend" / "dist" / "assets"
        dist.mkdir(parents=True, exist_ok=True)
        for old in dist.glob("index-*.js"):
            old.unlink()
        (dist / f"index-{digest}.js").write_text(bundle)
        print(f"{TAG} npm stand-in: bundled frontend/src without vite")
        print(f"✓ {len(sources)} modules transformed.")
        print(f"frontend/dist/assets/index-{digest}.js  {len(bundle) / 1000:.2f} kB")
        print("✓ built in 0.05s")
        return 0
    print(f"{TAG} npm stand-in: '{' '.join(args)}' is not supported", file=sys.stderr)
    return 1
