"""``systemctl``: restart, reload, start, stop, status and is-active of the sandbox's units."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .host import (
    HOSTNAME,
    RUN_DIR,
    TAG,
    UNITS,
    host_root,
    journal,
    load_app,
    service_state,
    unit_name,
    write_json_atomic,
)


def restart_unit(host: Path, unit: str) -> str:
    """Restart a unit; returns the sentence the stand-in prints."""
    fake_pid = 4000 + int(time.time() * 1000) % 5000
    title = UNITS[unit]
    stop = [
        f"systemd[1]: Stopping {unit}.service - {title}...",
        f"systemd[1]: {unit}.service: Deactivated successfully.",
        f"systemd[1]: Stopped {unit}.service - {title}.",
    ]
    if unit == "iact-gunicorn":
        app = load_app(host)
        lines = [
            *stop,
            f"systemd[1]: Started {unit}.service - {title}.",
            f"gunicorn[{fake_pid}]: [INFO] Starting gunicorn 21.2.0",
            f"gunicorn[{fake_pid}]: [INFO] Listening at: unix:/run/iact-gunicorn.sock ({fake_pid})",
            f"gunicorn[{fake_pid}]: [INFO] Using worker: sync",
            f"gunicorn[{fake_pid + 1}]: [INFO] Booting worker with pid: {fake_pid + 1}",
            f"gunicorn[{fake_pid + 1}]: [INFO] IACT {app['version']} (commit {app['commit']}) loaded",
        ]
        state = {"unit": unit, "active": True, "pid": fake_pid, "since": time.time(), **app}
        journal(host, unit, lines)
        write_json_atomic(host / RUN_DIR / f"{unit}.json", state)
        return f"{TAG} systemctl: restarted {unit}.service; the sandbox app now serves IACT {app['version']}"
    if unit == "iact-celery-worker":
        app = load_app(host)
        lines = [
            *stop,
            f"systemd[1]: Started {unit}.service - {title}.",
            f"celery[{fake_pid}]: [INFO/MainProcess] Connected to redis://localhost:6379/0",
            f"celery[{fake_pid}]: [INFO/MainProcess] celery@{HOSTNAME} ready (IACT {app['version']}).",
        ]
        journal(host, unit, lines)
        write_json_atomic(
            host / RUN_DIR / f"{unit}.json",
            {"unit": unit, "active": True, "pid": fake_pid, "since": time.time(), **app},
        )
        return f"{TAG} systemctl: restarted {unit}.service (IACT {app['version']})"
    journal(host, unit, [*stop, f"systemd[1]: Started {unit}.service - {title}."])
    write_json_atomic(
        host / RUN_DIR / f"{unit}.json",
        {"unit": unit, "active": True, "pid": fake_pid, "since": time.time()},
    )
    return f"{TAG} systemctl: restarted {unit}.service"


def reload_unit(host: Path, unit: str) -> tuple[int, str]:
    state = service_state(host, unit)
    if unit == "nginx":
        conf = host / "etc/nginx/nginx.conf"
        if not conf.exists():
            return 1, f"Job for nginx.service failed. {TAG} {conf} is missing"
        journal(
            host,
            unit,
            [
                f"systemd[1]: Reloading {unit}.service - {UNITS[unit]}...",
                f"systemd[1]: Reloaded {unit}.service - {UNITS[unit]}.",
            ],
        )
        state.update(active=True, reloaded=time.time())
        write_json_atomic(host / RUN_DIR / f"{unit}.json", state)
        return 0, f"{TAG} systemctl: reloaded nginx.service (configuration {conf} checked)"
    return 0, restart_unit(host, unit)


def systemctl(args: list[str]) -> int:
    host = host_root()
    words = [a for a in args if not a.startswith("-")]
    if not words:
        print(f"{TAG} systemctl stand-in: use restart|reload|start|stop|status|is-active UNIT")
        return 1
    verb, units = words[0], [unit_name(u) for u in words[1:]]
    if (
        verb
        in (
            "restart",
            "reload",
            "start",
            "stop",
            "status",
            "is-active",
            "try-restart",
            "reload-or-restart",
        )
        and not units
    ):
        print(f"Too few arguments. {TAG}", file=sys.stderr)
        return 1
    for unit in units:
        if unit not in UNITS:
            print(
                f"Failed to {verb} {unit}.service: Unit {unit}.service not found. {TAG}",
                file=sys.stderr,
            )
            return 5
    status = 0
    for unit in units:
        if verb in ("restart", "start", "try-restart", "reload-or-restart"):
            print(restart_unit(host, unit))
        elif verb == "reload":
            rc, text = reload_unit(host, unit)
            print(text, file=sys.stderr if rc else sys.stdout)
            status = status or rc
        elif verb == "stop":
            state = service_state(host, unit)
            state["active"] = False
            write_json_atomic(host / RUN_DIR / f"{unit}.json", state)
            journal(host, unit, [f"systemd[1]: Stopped {unit}.service - {UNITS[unit]}."])
            print(f"{TAG} systemctl: stopped {unit}.service")
        elif verb == "is-active":
            active = service_state(host, unit).get("active")
            print("active" if active else "inactive")
            status = status or (0 if active else 3)
        elif verb == "status":
            state = service_state(host, unit)
            since = time.strftime(
                "%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(state.get("since", time.time()))
            )
            active = "active (running)" if state.get("active") else "inactive (dead)"
            print(f"● {unit}.service - {UNITS[unit]}")
            print(
                f"     Loaded: loaded (/etc/systemd/system/{unit}.service; enabled; preset: enabled) {TAG}"
            )
            print(f"     Active: {active} since {since}")
            if state.get("pid"):
                print(f"   Main PID: {state['pid']} ({unit.split('-')[-1]})")
            status = status or (0 if state.get("active") else 3)
        else:
            print(f"{TAG} systemctl stand-in: '{verb}' is not supported", file=sys.stderr)
            return 1
    return status
