"""``journalctl``: the units' journal lines, by unit, ``--since`` and ``-n``."""

from __future__ import annotations

import re
import sys
import time

from .host import HOSTNAME, JOURNAL_DIR, TAG, host_root, unit_name


def _parse_since(text: str, now: float) -> float | None:
    text = text.strip().lower()
    m = re.fullmatch(
        r"(\d+)\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hour|hours|d|day|days)\s+ago",
        text,
    ) or re.fullmatch(r"-(\d+)\s*(s|m|min|h|d)", text)
    if m:
        unit = m.group(2)[0]
        return now - int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if text in ("today", "yesterday"):
        start = time.mktime((*time.localtime(now)[:3], 0, 0, 0, 0, 0, -1))
        return start - (86400 if text == "yesterday" else 0)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return time.mktime(time.strptime(text, fmt))
        except ValueError:
            continue
    return None


def journalctl(args: list[str]) -> int:
    host = host_root()
    units: list[str] = []
    since: float | None = None
    limit: int | None = None
    i = 0
    now = time.time()
    while i < len(args):
        a = args[i]
        value = args[i + 1] if i + 1 < len(args) else ""
        if a in ("-u", "--unit"):
            units.append(unit_name(value))
            i += 2
        elif a.startswith("--unit="):
            units.append(unit_name(a.split("=", 1)[1]))
            i += 1
        elif a in ("-S", "--since"):
            since = _parse_since(value, now)
            if since is None:
                print(f"Failed to parse timestamp: {value} {TAG}", file=sys.stderr)
                return 1
            i += 2
        elif a.startswith("--since="):
            since = _parse_since(a.split("=", 1)[1], now)
            i += 1
        elif a in ("-n", "--lines"):
            limit = int(value)
            i += 2
        else:  # --no-pager, -q, -o short... change nothing here
            i += 1
    units = units or sorted(p.stem for p in (host / JOURNAL_DIR).glob("*.log"))
    entries: list[tuple[float, str]] = []
    for unit in units:
        path = host / JOURNAL_DIR / f"{unit}.log"
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            stamp, _, text = line.partition("\t")
            t = float(stamp)
            if since is None or t >= since:
                entries.append((t, text))
    entries.sort(key=lambda e: e[0])
    if limit is not None:
        entries = entries[-limit:] if limit else []
    print(f"-- {TAG} journal of {HOSTNAME} ({', '.join(u + '.service' for u in units)}) --")
    if not entries:
        print("-- No entries --")
    for t, text in entries:
        print(f"{time.strftime('%b %d %H:%M:%S', time.localtime(t))} {HOSTNAME} {text}")
    return 0
