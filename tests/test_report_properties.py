"""Property: random damage to a run folder never escapes as a traceback (issue #10, "How it is
checked"). `list`, `resume`, `verify` and `export` answer with an exit code and a sentence;
`verify` never calls a damaged, unsigned folder verified; the engine's readers raise only
ReportError."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iact_tui.cli import main
from iact_tui.engine.record.store import (
    JOURNAL,
    LOCK,
    PINNED,
    REPORT,
    ReportError,
    list_runs,
    read_records,
)
from tests.test_damaged_runs import GOOD_ID, paused_run

TARGETS = [REPORT, JOURNAL, PINNED, LOCK, "logs", "logs/first.log"]

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=8))
json_value = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
# records that look nearly right: the keys a record has, with values of any type
record_like = st.fixed_dictionaries(
    {}, optional={k: json_value for k in ("seq", "type", "hash", "prev", "at", "step", "status", "run_id", "plan")}
)
toml_lines = st.sampled_from([
    "events = 5", 'events = "x"', "events = [1, 2]", "[[events]]", 'seq = "3"', "seq = 99", "schema_version = 2",
    "[run]", 'status = "succeeded"', "type = 7", "[[steps]]", "garbage", "= 1", 'x = 1979-05-27T07:32:00Z',
    'at = 1979-05-27T07:32:00Z', "[[events]]\nseq = 1\ntype = \"run_created\"",
])

op = st.one_of(
    st.tuples(st.just("truncate"), st.sampled_from(TARGETS), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.sampled_from(TARGETS), st.floats(0, 1), st.integers(1, 255)),
    st.tuples(st.just("dir"), st.sampled_from(TARGETS)),
    st.tuples(st.just("delete"), st.sampled_from(TARGETS)),
    st.tuples(st.just("json_line"), st.floats(0, 1), st.one_of(json_value, record_like)),
    st.tuples(st.just("toml_line"), st.floats(0, 1), toml_lines),
    st.tuples(st.just("dup_line"), st.sampled_from([REPORT, JOURNAL]), st.floats(0, 1)),
)


def _bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _insert_line(path: Path, frac: float, line: str) -> None:
    data = _bytes(path)
    if data is None:
        return
    lines = data.split(b"\n")
    at = int(frac * len(lines))
    lines.insert(min(at, len(lines)), line.encode())
    path.write_bytes(b"\n".join(lines))


def damage(folder: Path, ops: list[tuple]) -> None:
    for o in ops:
        kind = o[0]
        if kind in ("truncate", "flip", "dir", "delete", "dup_line"):
            path = folder / o[1]
            data = _bytes(path)
            if kind == "truncate" and data is not None:
                path.write_bytes(data[: int(o[2] * len(data))])
            elif kind == "flip" and data:
                pos = min(int(o[2] * len(data)), len(data) - 1)
                path.write_bytes(data[:pos] + bytes([data[pos] ^ o[3]]) + data[pos + 1 :])
            elif kind == "dir":
                _remove(path)
                path.mkdir(parents=True)
            elif kind == "delete":
                _remove(path)
            elif kind == "dup_line" and data:
                lines = data.split(b"\n")
                at = min(int(o[2] * len(lines)), len(lines) - 1)
                lines.insert(at, lines[at])
                path.write_bytes(b"\n".join(lines))
        elif kind == "json_line":
            _insert_line(folder / JOURNAL, o[1], json.dumps(o[2]))
        elif kind == "toml_line":
            _insert_line(folder / REPORT, o[1], o[2])


def snapshot(folder: Path) -> dict[str, object]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else "dir")
        for p in sorted(folder.rglob("*"))
        if p.name != LOCK
    }


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env={"CI": "true", "IACT_RUNS_DIR": None})
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A paused run whose last records are only in the journal, as a crash leaves it."""
    runs = tmp_path_factory.mktemp("pristine")
    return paused_run(runs, GOOD_ID)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=3))
def test_damaged_run_folder_never_escapes_as_a_traceback(pristine: Path, ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        folder = runs / pristine.name
        shutil.copytree(pristine, folder)
        damage(folder, ops)
        damaged = snapshot(folder) != snapshot(pristine)

        # the engine: only ReportError, and the listing goes on
        try:
            read_records(folder)
        except ReportError as exc:
            assert str(exc) and "\n" not in str(exc)
        rows = list_runs(runs)
        assert [p.name for p, _s, _r in rows] == [pristine.name]
        _path, state, reason = rows[0]
        assert (state is None) == bool(reason)

        listed = invoke("list", "--runs-dir", str(runs))
        assert listed.exit_code == 0, listed.output
        assert pristine.name in listed.output

        verified = invoke("verify", str(folder))
        assert verified.exit_code in (1, 2), verified.output
        if damaged:
            assert "\nverified:" not in "\n" + verified.output, verified.output

        exported = invoke("export", str(folder), "-o", str(Path(tmp) / "out"))
        assert exported.exit_code in (0, 2), exported.output

        resumed = invoke("resume", str(folder), "--headless", "--runs-dir", str(runs))
        assert resumed.exit_code in (0, 1, 2, 3), resumed.output
        if resumed.exit_code == 2:
            errors = [line for line in resumed.output.splitlines() if line.startswith("iact-tui: ")]
            assert errors, resumed.output
        if state is None:  # a folder `list` calls unreadable is never driven
            assert resumed.exit_code == 2, resumed.output
