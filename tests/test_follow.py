"""Following a live run read-only (engine/record/follow.py) and reading it fast (summary.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from iact_tui.engine.executors.base import LogWriter
from iact_tui.engine.record.follow import LogFollower, RunFollower, is_driven
from iact_tui.engine.record.state import reduce
from iact_tui.engine.record.store import JOURNAL, RunLocked, RunStore, read_records
from iact_tui.engine.record.summary import quick_state
from tests import runfactory


def _same(a, b) -> None:
    assert a.last_seq == b.last_seq and a.last_hash == b.last_hash
    assert a.status == b.status
    assert {k: (v.status, v.ticked_by, v.attempts) for k, v in a.steps.items()} == {
        k: (v.status, v.ticked_by, v.attempts) for k, v in b.steps.items()
    }


def test_follower_takes_new_records_without_reading_the_report_again(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    follower = RunFollower(b.folder)
    follower.open()
    assert follower.resyncs == 1
    b.run_step("staging-health", "HTTP 200\n")
    b.wait("ci-green")
    update = follower.look()
    assert [r["type"] for r in update.records] == ["step_started", "step_finished", "step_waiting"]
    assert not update.reloaded and follower.resyncs == 1  # read from the journal's new bytes only
    assert follower.state.steps["ci-green"].status == "waiting"
    assert not follower.look()  # nothing new: an empty update
    b.close()


def test_follower_survives_compactions_and_checkpoints(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    follower = RunFollower(b.folder)
    follower.open()
    seen: list[int] = [r["seq"] for r in follower.records]
    b.run_step("staging-health", "ok\n")
    b.store.checkpoint()  # report rewritten, journal kept
    seen += [r["seq"] for r in follower.look().records]
    b.wait("ci-green")
    b.tick("ci-green", "bea")
    b.store.compact()  # report rewritten, journal emptied (a pause does this)
    b.run_step("changelog-review", "done\n")  # new records at the start of an empty journal
    update = follower.look()
    if update.reloaded:
        seen = [r["seq"] for r in update.records]
    else:
        seen += [r["seq"] for r in update.records]
    assert seen == list(range(1, len(seen) + 1))  # no record lost, none twice
    _same(follower.state, reduce(read_records(b.folder)))
    b.close()
    follower.look()
    _same(follower.state, reduce(read_records(b.folder)))


def test_a_line_still_being_written_waits_for_the_next_look(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    follower = RunFollower(b.folder)
    follower.open()
    b.wait("ci-green")
    journal = b.folder / JOURNAL
    whole = journal.read_bytes()
    last = whole.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    journal.write_bytes(whole[: len(whole) - len(last) - 1])  # the record half written
    with open(journal, "ab") as f:
        f.write(last[:10])
    assert follower.look().records == []
    with open(journal, "ab") as f:
        f.write(last[10:] + b"\n")
    assert [r["type"] for r in follower.look().records] == ["step_waiting"]
    b.close()


def test_a_record_that_does_not_continue_the_chain_is_read_again_from_the_files(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    follower = RunFollower(b.folder)
    follower.open()
    b.wait("ci-green")
    follower.look()
    rec = json.loads((b.folder / JOURNAL).read_bytes().splitlines()[-1])
    forged = dict(rec, seq=rec["seq"] + 1, prev="f" * 64)
    with open(b.folder / JOURNAL, "ab") as f:
        f.write(json.dumps(forged).encode() + b"\n")
    update = follower.look()
    assert update.problem  # not taken: the files are read again, and say what is wrong
    assert follower.state.last_seq == rec["seq"]
    b.close()


def test_the_running_steps_output_is_followed_as_it_is_written(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    follower = RunFollower(b.folder)
    follower.open()
    b.start("staging-health")
    log = LogWriter(b.store.log_path("staging-health"))
    log.write("one\ntwo\nthr")
    log.flush()
    update = follower.look()
    assert update.output == {"staging-health": ["one", "two"]}
    log.write("ee\n")
    log.flush()
    assert follower.look().output == {"staging-health": ["three"]}
    log.close()
    b.append("step_finished", step="staging-health", status="passed", attempt=1, duration=0.1)
    follower.look()
    assert follower.state.steps["staging-health"].status == "passed"
    b.close()


def test_a_log_follower_starts_at_the_tail_of_a_long_log(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("".join(f"line {n}\n" for n in range(100_000)))
    lines = LogFollower(path, start_bytes=1000).read_new()
    assert lines[-1] == "line 99999" and len(lines) < 200
    assert all(line.startswith("line ") for line in lines)  # the cut first line is dropped


def test_several_followers_and_no_lock(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    followers = [RunFollower(b.folder) for _ in range(3)]
    for f in followers:
        f.open()
    assert is_driven(b.folder)
    b.run_step("staging-health", "ok\n")
    for f in followers:
        assert [r["type"] for r in f.look().records] == ["step_started", "step_finished"]
    with pytest.raises(RunLocked):
        RunStore.open(b.folder)  # the builder drives it
    b.close()
    assert not is_driven(b.folder)
    store = RunStore.open(b.folder)  # followers hold nothing
    try:
        assert store.state.last_seq == followers[0].state.last_seq
    finally:
        store.close()


def test_quick_state_matches_the_full_read(tmp_path: Path) -> None:
    finished = runfactory.staging_run(tmp_path / "a")
    _same(quick_state(finished), reduce(read_records(finished)))
    live = runfactory.RunBuilder(tmp_path / "b")
    live.run_step("staging-health", "ok\n")
    live.store.checkpoint()
    live.wait("ci-green")  # in the journal only
    quick = quick_state(live.folder)
    _same(quick, reduce(read_records(live.folder)))
    assert quick.steps["ci-green"].status == "waiting"
    live.close()


def _plain_user() -> str | None:
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        return None
    name = "iactwatcher"
    subprocess.run(["groupadd", "-f", "iactops"], check=True)
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-M", "-G", "iactops", name], check=True)
    else:
        subprocess.run(["usermod", "-a", "-G", "iactops", name], check=True)
    return name


@pytest.mark.multiuser
def test_another_user_follows_a_run_in_a_group_shared_runs_folder(tmp_path: Path) -> None:
    user = _plain_user()
    if user is None:
        pytest.skip("needs root (to make a second user) and useradd")
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="iact-shared-"))  # pytest's tmp_path is root's alone (0700)
    base.chmod(0o755)
    try:
        _shared_folder(base, user)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _shared_folder(base: Path, user: str) -> None:
    shared = base / "runs"
    shared.mkdir()
    subprocess.run(["chgrp", "iactops", str(shared)], check=True)
    shared.chmod(0o2770)  # setgid: every run folder made in it belongs to the group
    old = os.umask(0o007)  # the operator's umask (docs/team.md)
    try:
        b = runfactory.RunBuilder(shared)
        b.run_step("staging-health", "HTTP 200\n")
        b.wait("ci-green")
        b.store.inbox()
    finally:
        os.umask(old)
    # the follower runs as the other user: a child process that drops root's rights first (the
    # venv's interpreter may live where that user cannot go, so no new interpreter is started)
    import grp
    import pwd

    uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam("iactops").gr_gid

    def follow() -> str:
        f = RunFollower(b.folder)
        try:
            state = f.open()
        except Exception as exc:
            return f"refused {exc}"
        return f"{state.steps['ci-green'].status} {f.look().problem or 'ok'}"

    assert _as_user(uid, [gid], follow).split() == ["waiting", "ok"]

    def tick_through_the_inbox() -> str:  # what `iact-tui tick` does when another process drives
        from iact_tui.engine.record.ticks import Tick, post_request

        try:
            RunStore.open(b.folder).close()
        except RunLocked:
            pass  # the lock file opened (group-writable) and is held: the run is driven
        else:
            return "not locked"
        return "posted " + post_request(b.folder / "inbox", Tick("ci-green", "pass", "bea"))

    assert _as_user(uid, [gid], tick_through_the_inbox).startswith("posted ")
    assert len(list((b.folder / "inbox").glob("*.json"))) == 1
    outsider = _as_user(uid, [], follow)  # the same user outside the group
    assert outsider.startswith("refused") and "docs/team.md" in outsider, outsider

    def look_it_up() -> str:  # `iact-tui watch|show|tick RUN` first finds the run by its id
        from iact_tui.engine.record.store import ReportError, resolve_run

        try:
            return str(resolve_run(b.folder.name[-8:], shared))
        except ReportError as exc:
            return str(exc)

    said = _as_user(uid, [], look_it_up)
    assert "cannot be read by this user" in said and "docs/team.md" in said, said
    assert (b.folder / "inbox").stat().st_gid == gid  # the group's, by the setgid bit
    b.close()


def _as_user(uid: int, groups: list[int], function) -> str:  # type: ignore[no-untyped-def]
    """``function()``'s text, run in a forked child with the rights of ``uid`` and ``groups``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read_end)
            gid = groups[0] if groups else 65534
            os.setgroups(groups)
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            os.write(write_end, function().encode())
            code = 0
        except BaseException as exc:
            os.write(write_end, f"error {exc!r}".encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, said
    return said


def test_records_that_reached_only_the_report_are_seen(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)  # created: report written, journal empty
    follower = RunFollower(b.folder)
    follower.open()
    b.run_step("staging-health", "ok\n")
    b.pause("waits")
    b.store.compact()  # the journal is empty again, as when the follower last read it
    assert (b.folder / JOURNAL).stat().st_size == 0
    follower.look()
    assert follower.state.status == "paused"
    _same(follower.state, reduce(read_records(b.folder)))
    b.close()


def test_a_flood_is_counted_and_only_its_newest_lines_read(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("")
    follower = LogFollower(path, keep_bytes=1000)
    assert follower.read_new() == []
    with open(path, "a") as f:
        f.write("".join(f"line {n}\n" for n in range(50_000)))
    lines = follower.read_new()
    assert lines[-1] == "line 49999" and len(lines) < 150
    assert follower.skipped + len(lines) == 50_000  # every line counted once
    with open(path, "a") as f:
        f.write("tail 1\ntail 2\n")
    assert follower.read_new() == ["tail 1", "tail 2"] and follower.skipped == 0


@pytest.mark.multiuser
def test_the_inbox_of_a_shared_run_is_the_groups_whoever_ticks_first(tmp_path: Path) -> None:
    """The inbox is made with the run (the operator's umask, the folder's group), and one made by
    a tick (a run from before) takes the run folder's permissions, not the ticker's umask 022:
    every member of the group and the driver can leave and answer requests in it."""
    user = _plain_user()
    if user is None:
        pytest.skip("needs root (to make a second user) and useradd")
    import grp
    import pwd
    import stat
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="iact-shared-"))
    base.chmod(0o755)
    try:
        shared = base / "runs"
        shared.mkdir()
        subprocess.run(["chgrp", "iactops", str(shared)], check=True)
        shared.chmod(0o2770)
        old = os.umask(0o007)
        try:
            b = runfactory.RunBuilder(shared)
            b.wait("staging-health")
        finally:
            os.umask(old)
        inbox = b.folder / "inbox"
        assert stat.S_IMODE(inbox.stat().st_mode) == 0o2770  # made with the run: drwxrws---
        inbox.rmdir()  # a run made before the inbox came with it
        uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam("iactops").gr_gid

        def tick_with_umask_022() -> str:
            from iact_tui.engine.record.ticks import Tick, post_request

            os.umask(0o022)
            return post_request(inbox, Tick("staging-health", "pass", "bea"))

        _as_user(uid, [gid], tick_with_umask_022)
        assert stat.S_IMODE(inbox.stat().st_mode) == 0o2770, oct(inbox.stat().st_mode)
        assert inbox.stat().st_gid == gid
        b.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_log_followed_late_counts_the_lines_before_what_it_reads(tmp_path: Path) -> None:
    """A watcher that attaches while a step has printed much already reads only the log's end,
    and counts every line before it: the step's line count is whole."""
    path = tmp_path / "x.log"
    path.write_text("".join(f"line {n}\n" for n in range(30_000)))
    follower = LogFollower(path, start_bytes=4096)
    lines = follower.read_new()
    assert lines[-1] == "line 29999" and len(lines) < 500
    assert follower.skipped + len(lines) == 30_000
    with open(path, "a") as f:
        f.write("more\n")
    assert follower.read_new() == ["more"] and follower.skipped == 0
