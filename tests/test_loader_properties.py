"""Property: random mutations of checklists/staging.toml never escape the loader as a traceback
(issue #10, "How it is checked"). Lines deleted, duplicated, swapped or inserted, values and
types changed, keys renamed: `parse_checklist` returns a checklist that `describe` prints, or
raises ChecklistError whose every problem names the file; `iact-tui check` exits 0 or 2 and never
says the checker itself failed."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import tomli_w
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iact_tui.cli import main
from iact_tui.engine.checklist.load import parse_checklist
from iact_tui.engine.checklist.outline import describe
from iact_tui.engine.checklist.problems import ChecklistError

STAGING = Path(__file__).resolve().parent.parent / "checklists" / "staging.toml"
LINES = STAGING.read_text(encoding="utf-8").split("\n")
NAME = "mutated.toml"

KEYS = [
    "id", "kind", "title", "run", "host", "url", "method", "headers", "members", "address", "port",
    "expect_exit", "expect_status", "expect_json", "default", "when", "unless", "capture",
    "capture_json", "rollback", "alternatives", "multiple", "schema_version", "timeout", "retries",
    "retry_delay", "token", "repo", "message", "webhook", "steps", "secret", "command", "option",
    "env", "choices", "role", "four_eyes", "on_failure", "artifact", "mode", "from_ref", "version",
    "pattern", "advice", "mttr_minutes", "deployment_frequency_per_week", "json", "body", "cwd",
]
PLACEHOLDERS = ["{branch}", "{base_url}", "{token}", "{run_id}", "{prev_commit}", "{nope}", "{{", "}}", "${HOME}", "{"]

text_value = st.one_of(
    st.text(max_size=12),
    st.sampled_from(PLACEHOLDERS),
    st.builds(lambda a, p, b: a + p + b, st.text(max_size=4), st.sampled_from(PLACEHOLDERS), st.text(max_size=4)),
    st.sampled_from(["ssh", "local", "http", "manual", "notify", "changelog", "staging", "pre", "deploy",
                     "GET", "POST", "rollback", "continue", "draft", "-x", "(\\S+)", "(", "a\r\nb"]),
)
scalar = st.one_of(
    text_value,
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    st.dates(),
)
toml_value = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from([*KEYS, "x", "y"]), inner, max_size=3),
    max_leaves=5,
)


def toml_of(value: object) -> str:
    """The value as it is written after ``key = `` (tomli_w, on one line where it can)."""
    return tomli_w.dumps({"k": value}).strip().removeprefix("k = ")


SNIPPETS = [
    "[[phases]]", "[[phases.steps]]", "[[phases.alternatives]]", "[[phases.alternatives.steps]]",
    "[hosts.x]", 'members = ["staging", "x"]', '[hosts.loop]\nmembers = ["loop2"]\n[hosts.loop2]\nmembers = ["loop"]',
    "[vars.run_id]", "[vars.x]\noption = true", "command = true", 'capture = { branch = "(x)" }',
    "expect_exit = 300", "expect_exit = [-1, 0]", 'kind = "ssh"', 'host = "nope"', "rollback = true",
    'url = "{base_url}/{nope}"', 'headers = { A = "b\\r\\nC: d" }', 'default = "--upload-pack=x"',
    "[targets]", "[[troubleshooting]]", "[[summary]]", "[[summary.items]]", "[checklist]",
    "schema_version = 2", "x = ", "[", "'''", '"""', "[[phases.steps.hints]]",
]

op = st.one_of(
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 4)),
    st.tuples(st.just("dup"), st.floats(0, 1)),
    st.tuples(st.just("swap"), st.floats(0, 1), st.floats(0, 1)),
    st.tuples(st.just("value"), st.floats(0, 1), toml_value),
    st.tuples(st.just("key"), st.floats(0, 1), st.sampled_from(KEYS)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(SNIPPETS)),
)


def _index(lines: list[str], frac: float) -> int:
    return min(int(frac * len(lines)), len(lines) - 1)


def _next_assignment(lines: list[str], frac: float) -> int | None:
    start = _index(lines, frac)
    for i in list(range(start, len(lines))) + list(range(0, start)):
        line = lines[i]
        if " = " in line and not line.lstrip().startswith(("#", "[")):
            return i
    return None


def mutate(ops: list[tuple]) -> bytes:
    lines = list(LINES)
    for o in ops:
        kind = o[0]
        if not lines:
            break
        i = _index(lines, o[1])
        if kind == "delete":
            del lines[i : i + o[2]]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = _index(lines, o[2])
            lines[i], lines[j] = lines[j], lines[i]
        elif kind in ("value", "key"):
            at = _next_assignment(lines, o[1])
            if at is None:
                continue
            key, _, value = lines[at].partition(" = ")
            lines[at] = f"{key} = {toml_of(o[2])}" if kind == "value" else f"{o[2]} = {value}"
        elif kind == "insert":
            lines.insert(i, o[2])
    return "\n".join(lines).encode("utf-8", errors="surrogatepass")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=4), via_cli=st.integers(0, 5))
def test_mutated_staging_checklist_is_a_checklist_or_clear_problems(ops: list[tuple], via_cli: int) -> None:
    data = mutate(ops)
    try:
        loaded = parse_checklist(data, NAME)
    except ChecklistError as exc:
        assert exc.problems
        for problem in exc.problems:
            text = str(problem)
            assert text.startswith(NAME), text
            assert "Traceback" not in text
    else:
        assert describe(loaded).splitlines()[0].startswith(loaded.checklist.checklist.id)
    if via_cli == 0:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / NAME
            path.write_bytes(data)
            result = CliRunner().invoke(main, ["check", str(path)])
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output and "the checker failed" not in result.output, result.output
