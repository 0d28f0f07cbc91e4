"""Documented behaviour that had no test (issue 10, the test audit):

- ``on_failure = "continue"`` (docs/checklist-format.md: recorded as failed, the run goes on);
- a secret capture (the login token) is never written, so after a resume the idempotent step that
  captures it is run again to get it back;
- the http checks ``max_latency_ms``, ``expect_body`` and a JSON field that is missing, against a
  real HTTP server on 127.0.0.1;
- in CI, a real-server test that skips is a failure (tests/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from iact_tui.engine.record.store import read_records
from tests.helpers import HEADER, ROOT, cli, only_run, report_of, state_of, write_checklist

pytestmark = pytest.mark.timeout(120)


# -- on_failure = "continue" --------------------------------------------------------------------


def test_on_failure_continue_records_the_failure_and_goes_on(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, HEADER + """
[[phases]]
id = "checks"
title = "Checks"

[[phases.steps]]
id = "disk-space"
kind = "local"
run = "echo only 3% free; exit 7"
on_failure = "continue"

[[phases.steps]]
id = "next"
kind = "local"
run = "echo next"

[[phases]]
id = "rollback"
title = "Rollback"
rollback = true

[[phases.steps]]
id = "undo"
kind = "local"
run = "echo undo"
""")
    runs = tmp_path / "runs"
    # even with --on-failure rollback: a `continue` step is no reason to stop or to roll back
    result = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--on-failure", "rollback")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed disk-space" in result.stdout
    folder = only_run(runs)
    state = state_of(folder)
    assert state.status == "succeeded"
    failed = state.steps["disk-space"]
    assert failed.status == "failed" and failed.exit_status == 7 and failed.attempts == 1
    assert failed.decision == "continue"
    assert state.steps["next"].status == "passed"
    assert state.steps["undo"].status == "not_applicable"
    decisions = [r for r in read_records(folder) if r["type"] == "failure_decision"]
    assert [(d["step"], d["decision"], d["by"]) for d in decisions] == [("disk-space", "continue", "checklist")]
    row = next(s for s in report_of(folder)["steps"] if s["id"] == "disk-space")
    assert row["status"] == "failed" and row["decision"] == "continue"


# -- a secret capture after resume ----------------------------------------------------------------

LOGIN = HEADER + """
[vars.base_url]
default = "http://127.0.0.1:9"
[vars.smoke_password]
secret = true
env = "T_SMOKE"
[vars.token]
secret = true

[[phases]]
id = "smoke"
title = "Smoke"

[[phases.steps]]
id = "login"
kind = "http"
method = "POST"
url = "{base_url}/api/auth/login"
json = { username = "testuser", password = "{smoke_password}" }
capture_json = { token = "token" }
idempotent = IDEMPOTENT

[[phases.steps]]
id = "gate"
kind = "manual"

[[phases.steps]]
id = "me"
kind = "http"
url = "{base_url}/api/users/me"
headers = { Authorization = "Bearer {token}" }
"""


class TokenServer:
    """Each login hands out a new token; /me accepts the latest one only."""

    def __init__(self, http_server) -> None:  # type: ignore[no-untyped-def]
        self.server = http_server
        self.tokens: list[str] = []
        self.lock = threading.Lock()
        http_server.route("POST", "/api/auth/login", self.login)
        http_server.route("GET", "/api/users/me", self.me)

    def login(self, request):  # type: ignore[no-untyped-def]
        if request.json().get("password") != "pw-123456":
            return 401, {"error": "bad password"}
        with self.lock:
            self.tokens.append(f"tok-{len(self.tokens) + 1}-" + "7" * 24)
            return 200, {"token": self.tokens[-1]}

    def me(self, request):  # type: ignore[no-untyped-def]
        with self.lock:
            ok = bool(self.tokens) and request.headers.get("authorization") == f"Bearer {self.tokens[-1]}"
        return (200, {"user": "testuser"}) if ok else (401, {"error": "bad token"})

    def me_requests(self) -> list[str]:
        return [r.headers.get("authorization", "") for r in self.server.requests if r.path == "/api/users/me"]


def _pause_at_gate_then_resume(tmp_path: Path, http_server, idempotent: str):  # type: ignore[no-untyped-def]
    checklist = write_checklist(tmp_path, LOGIN.replace("IDEMPOTENT", idempotent))
    runs = tmp_path / "runs"
    env = {"T_SMOKE": "pw-123456"}
    first = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--var",
                f"base_url={http_server.url}", env=env)
    assert first.returncode == 3, first.stdout + first.stderr  # waits for a person at the gate
    folder = only_run(runs)
    assert state_of(folder).secret_captures == {"token"}
    ticked = cli("tick", folder.name, "gate", "--runs-dir", str(runs))
    assert ticked.returncode == 0, ticked.stdout + ticked.stderr
    resumed = cli("resume", folder.name, "--headless", "-v", "--runs-dir", str(runs), env=env)
    return folder, first, resumed


def test_a_secret_capture_is_recovered_after_resume_by_rerunning_its_idempotent_step(
    tmp_path: Path, http_server  # type: ignore[no-untyped-def]
) -> None:
    server = TokenServer(http_server)
    folder, first, resumed = _pause_at_gate_then_resume(tmp_path, http_server, "true")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(server.tokens) == 2  # logged in again after the resume
    assert server.me_requests() == [f"Bearer {server.tokens[1]}"]
    state = state_of(folder)
    assert state.status == "succeeded"
    assert state.steps["login"].attempts == 2 and state.steps["login"].status == "passed"
    assert state.steps["me"].status == "passed"
    resets = [r for r in read_records(folder) if r["type"] == "step_reset"]
    assert [(r["step"], r["reason"]) for r in resets] == [
        ("login", "re-run to recover the secret capture 'token' after resume")
    ]
    # never written: not in the report, the journal, the logs or the output
    texts = [first.stdout, first.stderr, resumed.stdout, resumed.stderr]
    texts += [p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()]
    for token in server.tokens:
        assert all(token not in text for text in texts)


def test_a_secret_capture_of_a_step_that_is_not_idempotent_is_not_fetched_again(
    tmp_path: Path, http_server  # type: ignore[no-untyped-def]
) -> None:
    server = TokenServer(http_server)
    folder, _, resumed = _pause_at_gate_then_resume(tmp_path, http_server, "false")
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert len(server.tokens) == 1  # the login was not run a second time
    assert server.me_requests() == []  # and nothing was sent without the token
    state = state_of(folder)
    assert state.steps["login"].attempts == 1
    assert state.steps["me"].status == "failed"
    assert "token" in (state.steps["me"].message or "")


# -- http checks against a real server ------------------------------------------------------------


def test_http_latency_body_and_missing_json_fields(tmp_path: Path, http_server) -> None:  # type: ignore[no-untyped-def]
    slow_gate = threading.Event()

    def slow(_request):  # type: ignore[no-untyped-def]
        slow_gate.wait(0.3)  # an answer that takes 300 ms (nobody sets the event)
        return 200, {"status": "healthy"}

    http_server.route("GET", "/slow", slow)
    http_server.route("GET", "/fast", (200, {"status": "healthy"}))
    http_server.route("GET", "/page", (200, b"<h1>Welcome to staging</h1>\n<p>version 1.2.3</p>"))
    http_server.route("GET", "/health", (200, {"version": "1.2.3", "db": {}}))
    url = http_server.url

    def step(sid: str, path: str, extra: str) -> str:
        return f'[[phases.steps]]\nid = "{sid}"\nkind = "http"\nurl = "{url}{path}"\non_failure = "continue"\n{extra}\n'

    checklist = write_checklist(tmp_path, HEADER + '[[phases]]\nid = "checks"\ntitle = "Checks"\n\n' + "\n".join([
        step("too-slow", "/slow", "max_latency_ms = 50"),
        step("fast-enough", "/fast", "max_latency_ms = 10000"),
        step("body-matches", "/page", 'expect_body = "Welcome to \\\\w+"'),
        step("body-differs", "/page", 'expect_body = "Dashboard"'),
        step("no-field", "/health", 'expect_json = { status = "healthy" }'),
        step("no-nested-field", "/health", 'expect_json = { "db.status" = "ok" }'),
        step("no-field-to-capture", "/health", 'capture_json = { build = "build.id" }'),
        step("not-json", "/page", 'expect_json = { status = "healthy" }'),
    ]))
    result = cli("run", str(checklist), "--headless", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stdout + result.stderr  # every failure is `continue`
    steps = state_of(only_run(tmp_path / "runs")).steps
    status = {sid: s.status for sid, s in steps.items()}
    assert status == {
        "too-slow": "failed", "fast-enough": "passed", "body-matches": "passed", "body-differs": "failed",
        "no-field": "failed", "no-nested-field": "failed", "no-field-to-capture": "failed", "not-json": "failed",
    }
    slow_step = steps["too-slow"]
    assert slow_step.evidence["latency_ms"] >= 300
    assert f"the answer took {slow_step.evidence['latency_ms']} ms (at most 50 ms allowed)" in slow_step.message
    assert steps["fast-enough"].evidence["latency_ms"] < 10000
    assert steps["body-differs"].message == "the body does not match 'Dashboard'"
    assert steps["no-field"].message == "the response has no field 'status' (expected 'healthy')"
    assert steps["no-nested-field"].message == "the response has no field 'db.status' (expected 'ok')"
    assert steps["no-field-to-capture"].message == "the response has no JSON field 'build.id' to capture as build"
    assert steps["not-json"].message == "the response is not JSON (expected status = 'healthy')"
    for sid in ("too-slow", "body-differs", "no-field"):
        assert f"failed {sid}" in result.stdout


# -- CI fails when a real-server test skips ------------------------------------------------------

INNER = '''
import pytest


@pytest.fixture
def sshd_server():
    pytest.skip("/usr/sbin/sshd is not installed (run .ci/install-sshd.sh)")


@pytest.mark.sshd
def test_marked():
    pytest.skip("starting sshd for other users needs root")


def test_unmarked_with_the_fixture(sshd_server):
    pass


@pytest.mark.stack
@pytest.mark.parametrize("n", [1])
def test_stack_skipif(n):
    pytest.skip("PostgreSQL server binaries are missing")


def test_not_a_server_test():
    pytest.skip("nothing to do with servers")


@pytest.mark.sshd
@pytest.mark.xfail(reason="known")
def test_xfail_is_left_alone():
    assert False
'''


def _inner_pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n"
                                          "from tests.conftest import pytest_plugins  # noqa: F401\n")
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-c", os.devnull,
         "-W", "ignore::pytest.PytestUnknownMarkWarning",
         "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_in_ci_a_skipped_real_server_test_fails_with_its_reason(tmp_path: Path) -> None:
    result = _inner_pytest(tmp_path, "true")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    # a skip in a fixture fails the test's setup: an error
    assert "2 failed, 1 skipped, 1 xfailed, 1 error" in out, out
    assert "FAILED test_inner.py::test_marked" in out
    assert "ERROR test_inner.py::test_unmarked_with_the_fixture" in out
    assert "FAILED test_inner.py::test_stack_skipif[1]" in out
    assert ("test_marked is a real-server test (sshd) and it skipped in CI ($CI is set): "
            "starting sshd for other users needs root") in out
    assert ("test_unmarked_with_the_fixture is a real-server test (sshd) and it skipped in CI ($CI is set): "
            "/usr/sbin/sshd is not installed") in out
    assert "test_stack_skipif[1] is a real-server test (stack) and it skipped in CI" in out
    assert "SKIPPED [1] test_inner.py" in out and "nothing to do with servers" in out


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_outside_ci_a_real_server_test_skips_with_its_reason(tmp_path: Path, ci: str | None) -> None:
    result = _inner_pytest(tmp_path, ci)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 skipped, 1 xfailed" in result.stdout, result.stdout


def test_every_real_server_test_of_the_suite_is_marked() -> None:
    """The real-server fixtures are used only by tests that carry a marker, so `-m "not sshd"`
    and the CI rule see all of them."""
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-n", "0",
         "-m", "not (sshd or postgres or stack)", "--fixtures-per-test", "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert listed.returncode in (0, 5), listed.stdout[-2000:] + listed.stderr[-2000:]
    unmarked: list[str] = []
    test = ""
    for line in listed.stdout.splitlines():
        if "fixtures used by " in line:
            test = line.split("fixtures used by ", 1)[1].strip(" -")
        elif line.split(" -- ")[0] in ("sshd_factory", "sshd_server", "stack", "deploy") and " -- " in line:
            unmarked.append(f"{test} uses {line.split(' -- ')[0]}")
    assert sum("fixtures used by " in line for line in listed.stdout.splitlines()) > 500, listed.stdout[-2000:]
    assert unmarked == [], "real-server tests without an sshd/postgres/stack marker: " + "; ".join(unmarked)
