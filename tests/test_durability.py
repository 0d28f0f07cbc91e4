"""Durable before shown, and what ``kill -9`` leaves at the worst instants of a compaction.

- Every event a front end shows follows the record that backs it: at the moment an event reaches
  the front end, the run folder read back from disk (a fresh reader, not the store's memory) holds
  every record made so far, and every byte of the journal has been ``fdatasync``'ed.
- A process killed between rewriting ``report.toml`` and emptying the journal (both then hold the
  same records), or before the rename, leaves a run that reads back with each record exactly once.
- ``report.toml`` alone (what a person or their tool opens) is brought up to date at the end of
  every phase and while a long step runs (issue 10, item 19).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from iact_tui.engine import events as ev
from iact_tui.engine.record.state import reduce
from iact_tui.engine.record.store import JOURNAL, REPORT, RunStore, check_chain, read_records
from iact_tui.engine.run.launch import SessionSpec, new_session
from iact_tui.engine.run.operator import RunOptions
from iact_tui.engine.run.runner import Runner
from iact_tui.headless.operator import HeadlessOperator
from tests.helpers import HEADER, ROOT, only_run, write_checklist

pytestmark = pytest.mark.timeout(120)


class ShownAfterDisk:
    """An emit hook: at each event, what is on disk must already back it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.synced: dict[tuple[int, int], int] = {}  # (device, inode) -> size at its last fdatasync
        self.runner: Runner | None = None
        self.checked: list[ev.Event] = []
        real = os.fdatasync

        def fdatasync(fd: int) -> None:
            real(fd)
            st = os.fstat(fd)
            self.synced[(st.st_dev, st.st_ino)] = st.st_size

        monkeypatch.setattr(os, "fdatasync", fdatasync)

    def __call__(self, event: ev.Event) -> None:
        assert self.runner is not None
        store = self.runner.store
        on_disk = read_records(store.folder)  # a fresh reader: report.toml + journal.jsonl
        assert [r["hash"] for r in on_disk] == [r["hash"] for r in store.records], (
            f"{event} was shown before its record was on disk"
        )
        journal = store.folder / JOURNAL
        st = journal.stat()
        if st.st_size:
            assert self.synced.get((st.st_dev, st.st_ino)) == st.st_size, (
                f"{event} was shown before the journal was fdatasync'ed"
            )
        state = reduce(on_disk)
        if isinstance(event, ev.StepStarted):
            assert state.steps[event.step_id].status == "running"
            assert state.steps[event.step_id].attempts == event.attempt
        elif isinstance(event, ev.StepFinished):
            done = [r for r in on_disk if r["type"] == "step_finished" and r["step"] == event.step_id]
            assert done and done[-1]["attempt"] == event.attempt and done[-1]["status"] == event.status
        elif isinstance(event, ev.StepChanged) and event.status in ("passed", "failed", "skipped", "not_applicable"):
            assert state.steps[event.step_id].status == event.status
        elif isinstance(event, ev.RunFinished):
            assert state.status == event.status
        self.checked.append(event)


def _run_in_process(checklist: Path, runs: Path, emit: Any, operator: HeadlessOperator) -> Runner:
    spec = SessionSpec(runs, operator.name, options=RunOptions(mode="headless"))
    return new_session(checklist, spec, operator, emit, None, prompt_all=False)


def test_every_event_is_shown_after_its_record_is_on_disk_and_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = tmp_path / "second-attempt"
    checklist = write_checklist(tmp_path, HEADER + f"""
[vars.optional]
default = ""

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "build"
kind = "local"
run = "echo built"

[[phases.steps]]
id = "flaky"
kind = "local"
run = "if [ -e {flag} ]; then echo ok; else touch {flag}; echo first; exit 3; fi"
retries = 1

[[phases.steps]]
id = "gate"
kind = "manual"
instructions = "Look at it"

[[phases]]
id = "two"
title = "Two"

[[phases.steps]]
id = "optional-step"
kind = "local"
run = "echo never"
when = "optional"

[[phases.steps]]
id = "broken"
kind = "local"
run = "echo broken; exit 4"
on_failure = "continue"

[[phases.steps]]
id = "last"
kind = "local"
run = "echo last"
""")
    runs = tmp_path / "runs"
    shown = ShownAfterDisk(monkeypatch)
    runner = _run_in_process(checklist, runs, shown, HeadlessOperator("ann", auto_tick="bea"))
    shown.runner = runner
    try:
        status = asyncio.run(runner.run())
    finally:
        runner.store.lock.release()
    assert status == "succeeded"
    for kind in (ev.RunOpened, ev.PhaseStarted, ev.StepStarted, ev.StepOutput, ev.StepFinished,
                 ev.StepChanged, ev.RunFinished):
        assert any(isinstance(e, kind) for e in shown.checked), kind
    retried = [e for e in shown.checked if isinstance(e, ev.StepFinished) and e.step_id == "flaky"]
    assert [(e.attempt, e.status) for e in retried] == [(1, "failed"), (2, "passed")]
    assert any(isinstance(e, ev.StepChanged) and e.status == "not_applicable" for e in shown.checked)


# -- kill -9 inside a compaction ----------------------------------------------------------------

CHILD = r"""
import os, signal, sys
from pathlib import Path
from iact_tui.engine.record import store as S

runs, how, where = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
plan = [{"id": "a", "phase": "p", "kind": "local", "title": "A"}]
store = S.RunStore.create(runs, "r1", "x = 1\n", {"operator": "ann", "plan": plan, "checklist_sha256": "00"})
store.append("step_started", step="a", attempt=1, command="true")
store.append("step_finished", step="a", attempt=1, status="passed", duration=0.1)
for rec in store.records:
    print(rec["hash"], flush=True)

def die(*args):
    os.kill(os.getpid(), signal.SIGKILL)

if where == "after-report":  # report.toml rewritten and synced; the journal not emptied yet
    real = S.atomic_write
    def atomic_write(path, data):
        real(path, data)
        die()
    S.atomic_write = atomic_write
elif where == "before-rename":  # the new report is written to its temporary file only
    os.replace = die
if how == "compact":
    store.compact()
else:
    store.checkpoint()
print("survived", flush=True)
"""


@pytest.mark.parametrize(
    ("how", "where"),
    [("compact", "after-report"), ("compact", "before-rename"), ("checkpoint", "after-report"),
     ("checkpoint", "before-rename")],
)
def test_kill9_inside_a_compaction_keeps_every_record_exactly_once(tmp_path: Path, how: str, where: str) -> None:
    runs = tmp_path / "runs"
    child = subprocess.run([sys.executable, "-c", CHILD, str(runs), how, where], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == -9, child.stdout + child.stderr
    acknowledged = child.stdout.split()
    assert len(acknowledged) == 3 and "survived" not in acknowledged
    folder = runs / "r1"
    report_seqs = [e["seq"] for e in tomllib.loads((folder / REPORT).read_text())["events"]]
    journal_seqs = [json.loads(line)["seq"] for line in (folder / JOURNAL).read_bytes().splitlines()]
    if where == "after-report":
        assert report_seqs == [1, 2, 3] and journal_seqs == [2, 3]  # the window: both hold 2 and 3
    else:
        assert report_seqs == [1] and journal_seqs == [2, 3]

    records = read_records(folder)  # what list, resume, tick, export and verify read
    assert [r["hash"] for r in records] == acknowledged  # none lost, none twice, in order
    state = reduce(records)
    assert state.steps["a"].status == "passed" and state.steps["a"].attempts == 1

    store = RunStore.open(folder)  # a resume
    store.append("note_added", step="a", note="after the crash", by="ann")
    store.close()
    records = read_records(folder)
    assert [r["seq"] for r in records] == [1, 2, 3, 4] and check_chain(records) == []
    assert [e["seq"] for e in tomllib.loads((folder / REPORT).read_text())["events"]] == [1, 2, 3, 4]
    assert (folder / JOURNAL).read_bytes() == b""


# -- report.toml alone is up to date (item 19) ------------------------------------------------


def test_after_kill9_report_toml_alone_shows_the_phases_that_ended(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    checklist = write_checklist(tmp_path, HEADER + f"""
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "first"
kind = "local"
run = "echo first"

[[phases.steps]]
id = "second"
kind = "local"
run = "echo second"

[[phases]]
id = "two"
title = "Two"

[[phases.steps]]
id = "long"
kind = "local"
run = "echo started > {fifo}; sleep 60"
""")
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_")}
    env["CI"] = "true"
    proc = subprocess.Popen([sys.executable, "-m", "iact_tui", "run", str(checklist), "--headless",
                             "--runs-dir", str(runs)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with open(fifo) as f:  # blocks until the long step really runs
            assert f.readline().strip() == "started"
    finally:
        proc.kill()
        proc.wait(timeout=30)
    folder = only_run(runs)
    text = (folder / REPORT).read_text()
    report = tomllib.loads(text)  # no journal: what a person's editor or tool sees
    steps = {s["id"]: s["status"] for s in report["steps"]}
    assert steps["first"] == "passed" and steps["second"] == "passed"
    assert report["run"]["status"] == "running"
    last = report["events"][-1]["seq"]
    assert f"events 1 to {last}," in text.splitlines()[0]
    assert "journal.jsonl in this folder may hold newer records" in text
    records = read_records(folder)  # the journal holds what came after: the long step's start
    started = [r for r in records if r["type"] == "step_started"][-1]
    assert started["step"] == "long" and started["seq"] > last


async def test_report_catches_up_while_a_long_step_runs(tmp_path: Path) -> None:
    """At most 10 s behind the journal even when no record is made (a long step): the runner
    asks the store while it waits. The clock is a fake one, moved 10 s on by hand."""
    checklist = write_checklist(tmp_path, HEADER + """
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "quick"
kind = "local"
run = "echo quick"

[[phases.steps]]
id = "long"
kind = "local"
run = "echo going; sleep 60"
""")
    clock = [0.0]
    long_started = asyncio.Event()
    caught_up = asyncio.Event()
    made: list[int] = []  # how many records there were when the clock moved on

    def emit(event: ev.Event) -> None:
        if isinstance(event, ev.StepOutput) and event.step_id == "long" and not made:
            made.append(len(runner.store.records))
            clock[0] = 10.0  # ten seconds later, as far as the store can tell
            long_started.set()

    runner = _run_in_process(checklist, tmp_path / "runs", emit, HeadlessOperator("ann"))
    store = runner.store
    store.clock = lambda: clock[0]
    store.compact()  # written at t = 0
    real = store.compact_if_due

    def compact_if_due() -> bool:
        done = real()
        if done:
            caught_up.set()
        return done

    store.compact_if_due = compact_if_due  # type: ignore[method-assign]
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(long_started.wait(), 30)
        assert not caught_up.is_set()
        await asyncio.wait_for(caught_up.wait(), 10)
        assert len(store.records) == made[0]  # no record was made: the runner's wait loop did it
        report = tomllib.loads((store.folder / REPORT).read_text())
        steps = {s["id"]: s["status"] for s in report["steps"]}
        assert steps == {"quick": "passed", "long": "running"}
        assert runner.cancel_step()
        assert await asyncio.wait_for(task, 30) == "failed"
    finally:
        if not task.done():
            task.cancel()
        store.lock.release()
