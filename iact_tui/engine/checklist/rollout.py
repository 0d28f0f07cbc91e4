"""Rolling batches over a host group: which hosts go together, and when a rollout stops.

A step (or a whole phase) on a host group runs, by default, on every member at once. With
``serial`` it runs batch after batch — ``serial = 1`` is one host at a time, ``"25%"`` a quarter
of the group, ``[1, "50%"]`` a canary host and then halves — and ``max_fail`` says how many hosts
may fail before the rollout stops and the step's failure policy applies (default 0: the first
failed host stops it, as the procedure says: "Si algún check falla: NO proceder").

Everything here is pure: the runner asks for the plan and reports each batch's results; the
functions decide. The semantics follow Ansible's ``serial`` and ``max_fail_percentage`` where
they agree with ours (a percentage of the whole group, rounded down, at least one host), except
that ``max_fail`` counts hosts *tolerated*: the rollout stops when more than that many failed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import cast

Size = int | str  # a count (1, 5) or a percentage ("25%")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


class BatchMode(StrEnum):
    """How a phase with ``serial`` rolls: a whole phase per batch (the rolling restart: take a
    host out, deploy, restart, health-check, next), or each step over all batches in turn."""

    PHASE = "phase"
    STEP = "step"


class RolloutError(ValueError):
    """A ``serial`` or ``max_fail`` value that cannot be used; the message says why."""


def parse_size(value: Size, what: str = "serial") -> tuple[int | None, float | None]:
    """``(count, None)`` or ``(None, percent)``; raises RolloutError for anything else."""
    if isinstance(value, bool):
        raise RolloutError(
            f'{what} is a number of hosts or a percentage such as "25%", not {value!r}'
        )
    if isinstance(value, int):
        if value < 0 or (value == 0 and what == "serial"):
            low = 1 if what == "serial" else 0
            raise RolloutError(f"{what} must be at least {low}, not {value}")
        return value, None
    if isinstance(value, str):
        m = _PERCENT.match(value)
        if m:
            pct = float(m.group(1))
            if not (0 < pct <= 100) and not (what == "max_fail" and pct == 0):
                raise RolloutError(f"{what} {value!r} is not a percentage between 1% and 100%")
            return None, pct
        if value.strip().isdigit():
            return parse_size(int(value.strip()), what)
    raise RolloutError(f'{what} is a number of hosts or a percentage such as "25%", not {value!r}')


def _sizes(serial: Size | Sequence[Size]) -> list[Size]:
    if isinstance(serial, list | tuple):
        return list(serial)
    return [cast(Size, serial)]


def check_serial(serial: Size | Sequence[Size] | None) -> None:
    """Raise RolloutError when ``serial`` is not usable (used by the checklist loader)."""
    if serial is None:
        return
    sizes = _sizes(serial)
    if not sizes:
        raise RolloutError("serial is an empty list; give at least one batch size")
    for size in sizes:
        parse_size(size, "serial")


def batch_size(size: Size, total: int) -> int:
    """How many of ``total`` hosts one batch of ``size`` takes (at least 1, at most all)."""
    count, pct = parse_size(size, "serial")
    if pct is not None:
        count = int(total * pct / 100)
    return max(1, min(total, count or 1))


def plan_batches(hosts: Sequence[str], serial: Size | Sequence[Size] | None) -> list[list[str]]:
    """The hosts in batches, in order. ``None``: one batch of all. A list of sizes is taken in
    turn, its last size repeating (``[1, "50%"]``: one canary host, then halves)."""
    hosts = list(hosts)
    if not hosts:
        return []
    if serial is None:
        return [hosts]
    sizes = _sizes(serial)
    check_serial(sizes)
    batches: list[list[str]] = []
    i = 0
    while i < len(hosts):  # bounded: every batch takes at least one host
        size = batch_size(sizes[min(len(batches), len(sizes) - 1)], len(hosts))
        batches.append(hosts[i : i + size])
        i += size
    return batches


def fail_limit(max_fail: Size | None, total: int) -> int:
    """How many failed hosts a rollout of ``total`` hosts tolerates (0: none)."""
    if max_fail is None:
        return 0
    count, pct = parse_size(max_fail, "max_fail")
    if pct is not None:
        return int(total * pct / 100)
    return int(count or 0)


def exceeded(failed: int, total: int, max_fail: Size | None) -> bool:
    """True when ``failed`` hosts are more than ``max_fail`` tolerates: the rollout stops."""
    return failed > fail_limit(max_fail, total)


@dataclass
class FailBudget:
    """The max_fail accounting of one rollout: hosts that failed, against the limit."""

    total: int
    max_fail: Size | None = None
    failed: list[str] = field(default_factory=list)

    @property
    def limit(self) -> int:
        return fail_limit(self.max_fail, self.total)

    def add(self, results: Mapping[str, bool]) -> bool:
        """Count a batch's results (host -> passed); True when the rollout must stop now."""
        for host, ok in results.items():
            if not ok and host not in self.failed:
                self.failed.append(host)
        return self.exhausted

    @property
    def exhausted(self) -> bool:
        return exceeded(len(self.failed), self.total, self.max_fail)

    def describe(self) -> str:
        names = ", ".join(self.failed)
        allowed = "no failed host" if self.limit == 0 else f"at most {self.limit} failed host(s)"
        return (
            f"{len(self.failed)} of {self.total} hosts failed ({names}); max_fail allows {allowed}"
        )


@dataclass
class RolloutResult:
    batches: list[list[str]]  # the plan
    done: list[list[str]] = field(default_factory=list)  # the batches that ran, in order
    failed: list[str] = field(default_factory=list)
    stopped: bool = False  # max_fail was exceeded: the batches after it did not run
    reason: str = ""

    @property
    def untouched(self) -> list[str]:
        ran = {h for b in self.done for h in b}
        return [h for b in self.batches for h in b if h not in ran]

    @property
    def ok(self) -> bool:
        return not self.stopped and not self.failed


async def roll(
    hosts: Sequence[str],
    serial: Size | Sequence[Size] | None,
    max_fail: Size | None,
    run_batch: Callable[[int, list[str]], Awaitable[Mapping[str, bool]]],
    *,
    skip: Callable[[str], bool] | None = None,
) -> RolloutResult:
    """Run ``run_batch(index, hosts)`` batch after batch until done or past ``max_fail``.

    ``skip(host)`` leaves out hosts that already finished (a resume goes on host by host); they
    keep their place in the plan, so the batches are the same as in the first run."""
    result = RolloutResult(plan_batches(hosts, serial))
    budget = FailBudget(len(hosts), max_fail)
    for index, batch in enumerate(result.batches):
        todo = [h for h in batch if skip is None or not skip(h)]
        if not todo:
            result.done.append(batch)
            continue
        outcome = await run_batch(index, todo)
        result.done.append(batch)
        if budget.add(outcome):
            result.stopped = True
            result.reason = budget.describe()
            break
    result.failed = list(budget.failed)
    if result.failed and not result.reason:
        result.reason = budget.describe()
    return result
