"""Whole headless runs through the real command line, with `local` and `http` steps."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import (
    HEADER,
    cli,
    first_line_run,
    only_run,
    report_of,
    state_of,
    write_checklist,
)

SIMPLE = HEADER + """
[vars.who]
default = "world"

[vars.pw]
secret = true
env = "T_PW"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "hello"
kind = "local"
run = "echo hello {who}; echo the password is {pw}; echo file=/tmp/x.sql"
capture = { out_file = "file=(\\\\S+)" }

[[phases.steps]]
id = "approve"
kind = "manual"
role = "tech-lead"
four_eyes = true
instructions = "Approve the change for {who}"

[[phases.steps]]
id = "after"
kind = "local"
run = "echo got {out_file}"
expect_output = "got /tmp/x.sql"

[[phases]]
id = "rb"
title = "Rollback"
rollback = true

[[phases.steps]]
id = "undo"
kind = "local"
run = "echo undo"
"""


def test_pause_tick_resume_to_success(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, SIMPLE)
    runs = tmp_path / "runs"
    env = {"T_PW": "s3cr3t-value-42"}
    first = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--operator", "alice", env=env)
    assert first.returncode == 3, first.stderr
    run_id, folder = first_line_run(first.stdout)
    assert folder == only_run(runs)
    assert "waiting approve" in first.stdout
    state = state_of(folder)
    assert state.status == "paused"
    assert state.steps["hello"].status == "passed"
    assert state.steps["approve"].status == "waiting"

    refused = cli("tick", run_id, "approve", "--runs-dir", str(runs), "--as", "alice")
    assert refused.returncode == 2
    assert "four eyes" in refused.stderr

    ok = cli("tick", run_id, "approve", "--runs-dir", str(runs), "--as", "bob", "--note", "LGTM")
    assert ok.returncode == 0, ok.stderr
    assert "approve passed by bob" in ok.stdout

    done = cli("resume", "--headless", "--runs-dir", str(runs), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == f"run {run_id} {folder}"
    report = report_of(folder)
    assert report["run"]["status"] == "succeeded"
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["approve"]["ticked_by"] == "bob"
    assert steps["approve"]["note"] == "LGTM"
    assert steps["after"]["status"] == "passed"
    assert steps["undo"]["status"] == "not_applicable"
    assert report["run"]["captures"] == {"out_file": "/tmp/x.sql"}
    types = [e["type"] for e in report["events"]]
    assert types[0] == "run_created" and types[-1] == "run_finished"
    assert "run_resumed" in types and "step_ticked" in types


def test_secret_from_env_never_written(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, SIMPLE)
    runs = tmp_path / "runs"
    secret = "s3cr3t-value-42"
    result = cli("run", str(checklist), "--headless", "-v", "--runs-dir", str(runs), env={"T_PW": secret})
    assert result.returncode == 3
    assert "the password is ***" in result.stdout
    assert secret not in result.stdout + result.stderr
    folder = only_run(runs)
    for path in folder.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert report_of(folder)["run"]["secret_variables"] == ["pw"]


def test_var_with_shell_metacharacters_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    checklist = write_checklist(tmp_path, HEADER + """
[vars.branch]
default = "develop"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "echo"
kind = "local"
run = "echo branch={branch}"
""")
    hostile = f"x; touch {marker}; $(touch {marker}) `touch {marker}` ' \" && touch {marker}"
    result = cli("run", str(checklist), "--headless", "-v", "--runs-dir", str(tmp_path / "runs"), "--var", f"branch={hostile}")
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    assert f"branch={hostile}" in result.stdout


FAILING = HEADER + """
[vars.marker]
default = ""

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "flaky"
kind = "local"
run = "test -e {marker} || {{ echo 'django.db.utils.OperationalError: relation \\"x\\" does not exist'; exit 3; }}"

[[phases.steps]]
id = "last"
kind = "local"
run = "echo last"

[[phases]]
id = "rb"
title = "Rollback"
rollback = true

[[phases.steps]]
id = "undo"
kind = "local"
run = "echo undone"

[[troubleshooting]]
id = "migrations-fail"
title = "Problema 1: Migrations fail"
pattern = "relation .* does not exist"
advice = "python manage.py showmigrations"
"""


def test_failed_step_stops_then_resume_retries(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, FAILING)
    runs = tmp_path / "runs"
    marker = tmp_path / "fixed"
    first = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--var", f"marker={marker}")
    assert first.returncode == 1
    assert "failed flaky" in first.stdout
    assert "exited with status 3" in first.stdout
    assert "hint for flaky: Problema 1: Migrations fail" in first.stdout
    folder = only_run(runs)
    state = state_of(folder)
    assert state.status == "failed"
    assert state.steps["flaky"].hints == ["Problema 1: Migrations fail"]
    marker.write_text("")
    again = cli("resume", folder.name, "--headless", "--runs-dir", str(runs))
    assert again.returncode == 0, again.stdout
    state = state_of(folder)
    assert state.steps["flaky"].attempts == 2
    assert state.steps["flaky"].status == "passed"
    assert state.status == "succeeded"


def test_skip_failed_step_with_reason_then_resume(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, FAILING)
    runs = tmp_path / "runs"
    cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--var", f"marker={tmp_path / 'never'}")
    folder = only_run(runs)
    no_reason = cli("tick", folder.name, "flaky", "--skip", "--runs-dir", str(runs))
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    skipped = cli("tick", folder.name, "flaky", "--skip", "--reason", "applied by hand", "--runs-dir", str(runs), "--as", "carol")
    assert skipped.returncode == 0, skipped.stderr
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs))
    assert done.returncode == 0
    steps = {s["id"]: s for s in report_of(folder)["steps"]}
    assert steps["flaky"]["status"] == "skipped"
    assert steps["flaky"]["skip_reason"] == "applied by hand"
    assert steps["flaky"]["skipped_by"] == "carol"
    assert steps["last"]["status"] == "passed"


def test_on_failure_rollback(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, FAILING)
    runs = tmp_path / "runs"
    result = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--on-failure", "rollback",
                 "--var", f"marker={tmp_path / 'never'}")
    assert result.returncode == 1
    folder = only_run(runs)
    state = state_of(folder)
    assert state.status == "rolled_back"
    assert state.steps["undo"].status == "passed"
    assert state.steps["last"].status == "not_applicable"
    assert "flaky" in state.rollback_reason


def test_resume_rollback_of_failed_run(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, FAILING)
    runs = tmp_path / "runs"
    cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--var", f"marker={tmp_path / 'never'}")
    folder = only_run(runs)
    result = cli("resume", folder.name, "--headless", "--rollback", "--runs-dir", str(runs))
    assert result.returncode == 1
    assert state_of(folder).status == "rolled_back"
    finished = cli("resume", folder.name, "--headless", "--runs-dir", str(runs))
    assert finished.returncode == 2 and "nothing to resume" in finished.stderr


ALTERNATIVES = HEADER + """
[[phases]]
id = "deploy"
title = "Deploy"
{default}

[[phases.alternatives]]
id = "ci-cd"
title = "Opcion A"
[[phases.alternatives.steps]]
id = "dispatch"
kind = "local"
run = "echo dispatch"

[[phases.alternatives]]
id = "manual"
title = "Opcion B"
[[phases.alternatives.steps]]
id = "pull"
kind = "local"
run = "echo pull"
"""


def test_alternatives_choose_default_and_pause(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    no_default = write_checklist(tmp_path, ALTERNATIVES.replace("{default}", ""), "a.toml")
    paused = cli("run", str(no_default), "--headless", "--runs-dir", str(runs / "a"))
    assert paused.returncode == 3
    assert "--choose deploy=" in paused.stdout
    chosen = cli("run", str(no_default), "--headless", "--runs-dir", str(runs / "b"), "--choose", "deploy=manual")
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    state = state_of(only_run(runs / "b"))
    assert state.choices == {"deploy": ["manual"]}
    assert state.steps["pull"].status == "passed"
    assert state.steps["dispatch"].status == "not_applicable"
    with_default = write_checklist(tmp_path, ALTERNATIVES.replace("{default}", 'default = "ci-cd"'), "c.toml")
    assert cli("run", str(with_default), "--headless", "--runs-dir", str(runs / "c")).returncode == 0
    assert state_of(only_run(runs / "c")).steps["dispatch"].status == "passed"
    bad = cli("run", str(with_default), "--headless", "--runs-dir", str(runs / "d"), "--choose", "deploy=nope")
    assert bad.returncode == 2 and "no such alternative" in bad.stderr


def test_when_and_confirm(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, HEADER + """
[vars.has_frontend]
default = "false"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "npm"
kind = "local"
run = "echo npm"
when = "has_frontend"

[[phases.steps]]
id = "restore"
kind = "local"
run = "echo restore > {marker}"
confirm = true

[vars.marker]
default = "x"
""")
    runs = tmp_path / "runs"
    marker = tmp_path / "restored"
    paused = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--var", f"marker={marker}")
    assert paused.returncode == 3
    assert not marker.exists()
    folder = only_run(runs)
    assert state_of(folder).steps["npm"].status == "not_applicable"
    done = cli("resume", folder.name, "--headless", "--yes", "--runs-dir", str(runs))
    assert done.returncode == 0
    assert marker.read_text().strip() == "restore"


def test_missing_variable_and_unknown_var(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, HEADER + """
[vars.needed]
prompt = "Needed value"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "s"
kind = "local"
run = "echo {needed}"
""")
    result = cli("run", str(checklist), "--headless", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert "variable 'needed' has no value" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    typo = cli("run", str(checklist), "--headless", "--runs-dir", str(tmp_path / "runs"), "--var", "neded=1")
    assert typo.returncode == 2 and "did you mean 'needed'" in typo.stderr


def test_retries_until_pass(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    checklist = write_checklist(tmp_path, HEADER + f"""
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "health"
kind = "local"
run = "echo x >> {counter}; test $(wc -l < {counter}) -ge 3"
retries = 4
retry_delay = 0
""")
    result = cli("run", str(checklist), "--headless", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stdout
    state = state_of(only_run(tmp_path / "runs"))
    assert state.steps["health"].attempts == 3
    assert result.stdout.count("(will retry)") == 2


def test_timeout_stops_local_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    checklist = write_checklist(tmp_path, HEADER + f"""
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "slow"
kind = "local"
run = "echo $$ > {pidfile}; sleep 30 & wait"
timeout = 0.5
""")
    result = cli("run", str(checklist), "--headless", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 1
    assert "did not finish within 0.5 s" in result.stdout
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists()


def test_dry_run_executes_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    checklist = write_checklist(tmp_path, HEADER + f"""
[vars.pw]
secret = true
env = "T_DRY_PW"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "touch"
kind = "local"
run = "touch {marker}; echo {{pw}}"

[[phases.steps]]
id = "look"
kind = "http"
url = "http://127.0.0.1:9/api/health?pw={{pw}}"
""".replace("{{pw}}", "{pw}"))
    result = cli("run", str(checklist), "--dry-run", "--runs-dir", str(tmp_path / "runs"), env={"T_DRY_PW": "hunter22"})
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    assert not (tmp_path / "runs").exists()
    assert "hunter22" not in result.stdout
    assert f"[changes] touch: touch {marker}; echo ***" in result.stdout
    assert "[reads]   look: GET http://127.0.0.1:9/api/health?pw=***" in result.stdout


def test_http_steps_capture_secret_token(tmp_path: Path, http_server) -> None:  # type: ignore[no-untyped-def]
    token = "tok-" + "9" * 20
    http_server.route("GET", "/api/health", (200, {"status": "healthy", "version": "1.2.3"}))
    http_server.route("POST", "/api/auth/login", lambda r: (200, {"token": token}) if r.json()["password"] == "pw-123456" else (401, {}))
    http_server.route("GET", "/api/users/me", lambda r: (200, {"user": "testuser"}) if r.headers.get("authorization") == f"Bearer {token}" else (401, {}))
    checklist = write_checklist(tmp_path, HEADER + """
[vars.base_url]
default = "http://127.0.0.1:9"
[vars.smoke_password]
secret = true
env = "T_SMOKE"
[vars.token]
secret = true

[[phases]]
id = "verify"
title = "Verify"

[[phases.steps]]
id = "health"
kind = "http"
url = "{base_url}/api/health"
expect_json = { status = "healthy" }
capture_json = { new_version = "version" }
max_latency_ms = 5000

[[phases.steps]]
id = "login"
kind = "http"
method = "POST"
url = "{base_url}/api/auth/login"
json = { username = "testuser", password = "{smoke_password}" }
capture_json = { token = "token" }

[[phases.steps]]
id = "me"
kind = "http"
url = "{base_url}/api/users/me"
headers = { Authorization = "Bearer {token}" }
""")
    runs = tmp_path / "runs"
    result = cli("run", str(checklist), "--headless", "-v", "--runs-dir", str(runs), "--var", f"base_url={http_server.url}",
                 env={"T_SMOKE": "pw-123456"})
    assert result.returncode == 0, result.stdout + result.stderr
    folder = only_run(runs)
    state = state_of(folder)
    assert state.captures == {"new_version": "1.2.3"}
    assert state.secret_captures == {"token"}
    assert state.steps["health"].evidence["http_status"] == 200
    assert state.steps["health"].evidence["latency_ms"] >= 0
    for text in (result.stdout, result.stderr, *(p.read_text() for p in folder.rglob("*") if p.is_file())):
        assert token not in text
        assert "pw-123456" not in text
    assert http_server.requests[-1].headers["authorization"] == f"Bearer {token}"


def test_http_failures_say_what_happened(tmp_path: Path, http_server) -> None:  # type: ignore[no-untyped-def]
    http_server.route("GET", "/api/health", (503, {"status": "unhealthy"}))
    checklist = write_checklist(tmp_path, HEADER + f"""
[[phases]]
id = "verify"
title = "Verify"

[[phases.steps]]
id = "health"
kind = "http"
url = "{http_server.url}/api/health"
expect_json = {{ status = "healthy" }}
""")
    result = cli("run", str(checklist), "--headless", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 1
    assert "answered HTTP 503 (expected 200)" in result.stdout
    assert "'status' is \"unhealthy\" (expected 'healthy')" in result.stdout
    refused = write_checklist(tmp_path, HEADER + """
[[phases]]
id = "verify"
title = "Verify"

[[phases.steps]]
id = "health"
kind = "http"
url = "http://127.0.0.1:9/api/health"
""", "r.toml")
    result = cli("run", str(refused), "--headless", "--runs-dir", str(tmp_path / "runs2"))
    assert result.returncode == 1
    assert "could not connect to 127.0.0.1:9: connection refused" in result.stdout


def test_notify_posts_to_webhook_and_tolerates_a_down_one(tmp_path: Path, http_server) -> None:  # type: ignore[no-untyped-def]
    http_server.route("POST", "/hook", (200, {"ok": True}))
    body = HEADER + """
[vars.webhook_url]
secret = true
env = "T_HOOK"
[vars.branch]
default = "develop"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "notice"
kind = "notify"
webhook = "{webhook_url}"
message = "Starting deployment to staging\\nBranch: {branch}"
"""
    checklist = write_checklist(tmp_path, body)
    result = cli("run", str(checklist), "--headless", "--runs-dir", str(tmp_path / "runs"), env={"T_HOOK": f"{http_server.url}/hook"})
    assert result.returncode == 0, result.stdout
    assert http_server.requests[-1].json() == {"text": "Starting deployment to staging\nBranch: develop"}
    down = cli("run", str(checklist), "--headless", "--runs-dir", str(tmp_path / "runs2"), env={"T_HOOK": "http://127.0.0.1:9/hook"})
    assert down.returncode == 0
    assert "warning: notice: the notice could not be posted" in down.stdout
    assert "127.0.0.1:9/hook" not in down.stdout  # the webhook URL is a secret


def test_list_and_json(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, SIMPLE)
    runs = tmp_path / "runs"
    cli("run", str(checklist), "--headless", "--runs-dir", str(runs), env={"T_PW": "abcdef"})
    listing = cli("list", "--runs-dir", str(runs), "--json")
    assert listing.returncode == 0
    row = json.loads(listing.stdout.splitlines()[0])
    assert row["status"] == "paused" and row["checklist"] == "T-1" and row["total"] == 3


def test_choose_given_at_run_holds_for_later_resumes(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, HEADER + """
[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "gate"
kind = "manual"

[[phases]]
id = "deploy"
title = "Deploy"
default = "ci-cd"

[[phases.alternatives]]
id = "ci-cd"
title = "A"
[[phases.alternatives.steps]]
id = "dispatch"
kind = "local"
run = "echo dispatch"

[[phases.alternatives]]
id = "manual"
title = "B"
[[phases.alternatives.steps]]
id = "pull"
kind = "local"
run = "echo pull"
""")
    runs = tmp_path / "runs"
    assert cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--choose", "deploy=manual").returncode == 3
    folder = only_run(runs)
    assert cli("tick", folder.name, "gate", "--runs-dir", str(runs)).returncode == 0
    assert cli("resume", folder.name, "--headless", "--runs-dir", str(runs)).returncode == 0
    state = state_of(folder)
    assert state.choices == {"deploy": ["manual"]}
    assert state.steps["dispatch"].status == "not_applicable"


def test_a_value_that_contains_a_secret_is_refused_at_start(tmp_path: Path) -> None:
    """It would be recorded masked and a resume would run with the masked text (issue 10, item 3):
    refused before anything is recorded, naming both variables and neither value."""
    checklist = write_checklist(tmp_path, HEADER + """
[vars.pw]
secret = true
env = "T_PW"
[vars.url]
default = "https://user:x@example.invalid"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "show"
kind = "local"
run = "echo {url}"
""")
    runs = tmp_path / "runs"
    secret = "pa55-in-url"
    result = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--var",
                 f"url=https://user:{secret}@example.invalid", env={"T_PW": secret})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "variable 'url' contains the value of the secret 'pw'" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert secret not in result.stdout + result.stderr
    assert not runs.exists() or not any(runs.iterdir())
