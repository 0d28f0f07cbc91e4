"""`iact-tui check`: malformed checklists get one clear message each (file, line, path, hint)
and exit 2, never a traceback; checklists/staging.toml checks clean and keeps its contract;
the placeholder rules of iact_tui/engine/checklist/template.py hold."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from iact_tui.cli import main
from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.crosscheck import quoted_placeholders
from iact_tui.engine.checklist.load import load_checklist, parse_checklist
from iact_tui.engine.checklist.locator import Locator
from iact_tui.engine.checklist.model import Checklist
from iact_tui.engine.checklist.problems import ChecklistError
from iact_tui.engine.checklist.values import Values

ROOT = Path(__file__).resolve().parent.parent
STAGING = ROOT / "checklists" / "staging.toml"

HEAD = """\
schema_version = 1

[checklist]
id = "T-1"
title = "Test"
version = "1.0.0"
roles = ["devops", "tech-lead", "developer"]

[vars.branch]
default = "develop"

[vars.base_url]
default = "http://127.0.0.1:1"

[hosts.web]
address = "127.0.0.1"
"""

ONE_STEP = """
[[phases]]
id = "pre"
title = "Pre"

[[phases.steps]]
id = "a"
kind = "local"
run = "echo {branch} {base_url}"
"""


def line_of(text: str, marker: str, nth: int = 1) -> int:
    """The 1-based line of the nth line containing ``marker`` (independent of the Locator)."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if marker in line:
            seen += 1
            if seen == nth:
                return number
    raise AssertionError(f"marker {marker!r} not in the text")


@dataclass
class Case:
    name: str
    body: str  # appended to HEAD unless it starts with "!" (then the whole file)
    path: str  # expected data path in the message, "" for none
    marker: str | None  # a substring of the expected line, None when no line is expected
    message: str
    hint: str
    nth: int = 1

    def text(self) -> str:
        if self.body.startswith("!"):
            return textwrap.dedent(self.body[1:]).lstrip("\n")
        return HEAD + textwrap.dedent(self.body)


CASES = [
    Case(
        "toml-syntax",
        ONE_STEP + '\n[[phases.steps]]\nid = "b"\ntitle = "not closed\nkind = "manual"\n',
        "",
        'title = "not closed',
        "TOML syntax error",
        'a "..." string ends at the end of its line',
    ),
    Case(
        "unknown-kind",
        ONE_STEP.replace('kind = "local"', 'kind = "shh"'),
        "phases[0].steps[0].kind",
        'kind = "shh"',
        "unknown step kind 'shh'",
        "did you mean 'ssh'?",
    ),
    Case(
        "typo-key-in-alternative-step",
        """
        [[phases]]
        id = "deploy"
        title = "Deploy"
        default = "x"

        [[phases.alternatives]]
        id = "x"
        title = "X"

        [[phases.alternatives.steps]]
        id = "x1"
        kind = "local"
        run = "true"

        [[phases.alternatives]]
        id = "y"
        title = "Y"

        [[phases.alternatives.steps]]
        id = "y1"
        kind = "local"
        run = "true"

        [[phases.alternatives.steps]]
        id = "y2"
        kind = "local"
        run = "true"
        tiemout = 5
        """,
        "phases[0].alternatives[1].steps[1].tiemout",
        "tiemout = 5",
        "unknown key 'tiemout'",
        "did you mean 'timeout'?",
    ),
    Case(
        "key-of-another-kind",
        ONE_STEP + 'host = "web"\n',
        "phases[0].steps[0].host",
        'host = "web"',
        "unknown key 'host' for a local step",
        "'host' belongs to ssh, http and ansible steps",
    ),
    Case(
        "missing-kind",
        ONE_STEP.replace('kind = "local"\n', ""),
        "phases[0].steps[0]",
        "[[phases.steps]]",
        "this step has no 'kind'",
        "add kind = one of",
    ),
    Case(
        "missing-run",
        """
        [[phases]]
        id = "pre"
        title = "Pre"

        [[phases.steps]]
        id = "a"
        kind = "ssh"
        host = "web"
        """,
        "phases[0].steps[0].run",
        "[[phases.steps]]",
        "missing required key 'run'",
        "every ssh step needs 'run'",
    ),
    Case(
        "number-in-quotes",
        ONE_STEP + 'timeout = "600"\n',
        "phases[0].steps[0].timeout",
        'timeout = "600"',
        'expected a number, got a string ("600")',
        "write numbers without quotes",
    ),
    Case(
        "boolean-in-quotes",
        ONE_STEP + 'idempotent = "yes"\n',
        "phases[0].steps[0].idempotent",
        'idempotent = "yes"',
        "expected true or false",
        "write true or false without quotes",
    ),
    Case(
        "duplicate-step-id",
        ONE_STEP + '\n[[phases.steps]]\nid = "a"\nkind = "manual"\n',
        "phases[0].steps[1].id",
        'id = "a"',
        "duplicate step id 'a' (first at phases[0].steps[0])",
        "step ids are unique in the whole checklist",
        nth=2,
    ),
    Case(
        "duplicate-phase-id",
        ONE_STEP + ONE_STEP.replace('id = "a"', 'id = "b"'),
        "phases[1].id",
        'id = "pre"',
        "duplicate phase id 'pre' (first at phases[0])",
        "phase ids are unique",
        nth=2,
    ),
    Case(
        "bad-regex",
        ONE_STEP + "reject_output = '(unclosed'\n",
        "phases[0].steps[0].reject_output",
        "reject_output",
        "not a valid regular expression",
        "Python regex syntax",
    ),
    Case(
        "capture-without-group",
        ONE_STEP + "capture = { sha = '[0-9a-f]+' }\n",
        "phases[0].steps[0].capture",
        "capture = {",
        "the regex needs one group",
        "put the part to keep in parentheses",
    ),
    Case(
        "unknown-variable",
        """
        [[phases]]
        id = "verify"
        title = "Verify"

        [[phases.steps]]
        id = "health"
        kind = "http"
        url = "{base_ur}/api/health"
        """,
        "phases[0].steps[0].url",
        'url = "{base_ur}',
        "unknown variable or capture '{base_ur}'",
        "did you mean 'base_url'?",
    ),
    Case(
        "capture-used-before-its-step",
        ONE_STEP.replace("{branch} {base_url}", "{sha}")
        + '\n[[phases.steps]]\nid = "b"\nkind = "local"\nrun = "git rev-parse HEAD"\ncapture = { sha = "(.+)" }\n',
        "phases[0].steps[0].run",
        'run = "echo {sha}"',
        "'{sha}' is captured by step 'b', which comes later",
        "a capture is known only after the step that captures it",
    ),
    Case(
        "capture-from-one-alternative-only",
        """
        [[phases]]
        id = "deploy"
        title = "Deploy"

        [[phases.alternatives]]
        id = "ci"
        title = "CI"

        [[phases.alternatives.steps]]
        id = "dispatch"
        kind = "local"
        run = "true"

        [[phases.alternatives]]
        id = "manual"
        title = "Manual"

        [[phases.alternatives.steps]]
        id = "pull"
        kind = "local"
        run = "git rev-parse HEAD"
        capture = { commit = "(.+)" }

        [[phases]]
        id = "after"
        title = "After"

        [[phases.steps]]
        id = "tell"
        kind = "notify"
        message = "deployed {commit}"
        """,
        "phases[1].steps[0].message",
        'message = "deployed {commit}"',
        "captured only in alternative 'manual' of phase 'deploy'",
        "capture it in every alternative",
    ),
    Case(
        "unknown-host",
        """
        [[phases]]
        id = "pre"
        title = "Pre"

        [[phases.steps]]
        id = "a"
        kind = "ssh"
        host = "wbe"
        run = "true"
        """,
        "phases[0].steps[0].host",
        'host = "wbe"',
        "unknown host 'wbe'",
        "did you mean 'web'?",
    ),
    Case(
        "unknown-default-alternative",
        """
        [[phases]]
        id = "deploy"
        title = "Deploy"
        default = "manul"

        [[phases.alternatives]]
        id = "manual"
        title = "Manual"

        [[phases.alternatives.steps]]
        id = "pull"
        kind = "local"
        run = "true"
        """,
        "phases[0].default",
        'default = "manul"',
        "unknown alternative 'manul'",
        "did you mean 'manual'?",
    ),
    Case(
        "unknown-step-in-troubleshooting",
        ONE_STEP
        + """
        [[troubleshooting]]
        id = "t"
        title = "T"
        pattern = "boom"
        advice = "fix it"
        steps = ["b"]
        """,
        "troubleshooting[0].steps",
        'steps = ["b"]',
        "unknown step 'b'",
        "",
    ),
    Case(
        "unknown-step-in-summary-inline-table",
        ONE_STEP
        + """
        [[summary]]
        title = "Pre-Deployment"
        items = [
            { text = "first", steps = ["a"] },
            { text = "second", steps = ["aa"] },
        ]
        """,
        "summary[0].items[1].steps",
        '"second"',
        "unknown step 'aa'",
        "did you mean 'a'?",
    ),
    Case(
        "unknown-role",
        ONE_STEP + '\n[[phases.steps]]\nid = "ok"\nkind = "manual"\nrole = "tech-led"\n',
        "phases[0].steps[1].role",
        'role = "tech-led"',
        "unknown role 'tech-led'",
        "did you mean 'tech-lead'?",
    ),
    Case(
        "schema-version",
        "!schema_version = 2\n" + HEAD.removeprefix("schema_version = 1\n") + ONE_STEP,
        "schema_version",
        "schema_version = 2",
        "schema_version 2 is not supported",
        "write schema_version = 1",
    ),
    Case(
        "empty-file",
        "!# nothing here yet\n\n",
        "",
        None,
        "the file holds no checklist",
        "start with schema_version = 1",
    ),
    Case(
        "phases-as-single-table",
        '\n[phases]\nid = "pre"\ntitle = "Pre"\n',
        "phases",
        "[phases]",
        "expected an array, got a table",
        "write [[phases]] (double brackets)",
    ),
    Case(
        "unknown-top-level-table",
        ONE_STEP + '\n[variables.x]\ndefault = "1"\n',
        "variables",
        "[variables.x]",
        "unknown key 'variables'",
        "did you mean 'vars'?",
    ),
    Case(
        "unknown-when-variable",
        ONE_STEP + 'when = "has_fronted"\n',
        "phases[0].steps[0].when",
        'when = "has_fronted"',
        "unknown variable or capture 'has_fronted'",
        "declare [vars.has_fronted]",
    ),
    Case(
        "lower-case-method",
        """
        [[phases]]
        id = "pre"
        title = "Pre"

        [[phases.steps]]
        id = "login"
        kind = "http"
        url = "{base_url}/login"
        method = "post"
        """,
        "phases[0].steps[0].method",
        'method = "post"',
        "'post' is not allowed here",
        "did you mean 'POST'?",
    ),
    Case(
        "list-default-without-multiple",
        """
        [[phases]]
        id = "rb"
        title = "Rollback"
        rollback = true
        default = ["a", "b"]

        [[phases.alternatives]]
        id = "a"
        title = "A"

        [[phases.alternatives.steps]]
        id = "a1"
        kind = "manual"
        """
        + ONE_STEP,
        "phases[0]",
        "[[phases]]",
        "a list of defaults needs 'multiple = true'",
        "add multiple = true",
    ),
    Case(
        "capture-into-command-variable",
        """
        [vars.restart_cmd]
        default = "true"
        command = true

        [[phases]]
        id = "pre"
        title = "Pre"

        [[phases.steps]]
        id = "a"
        kind = "local"
        run = "cat cmd.txt {branch} {base_url} {restart_cmd}"
        capture = { restart_cmd = "(.+)" }
        """,
        "phases[0].steps[0].capture",
        "capture = {",
        "would fill the command variable 'restart_cmd'",
        "capture into another name",
    ),
    Case(
        "rollback-without-rollback-phase",
        ONE_STEP + 'on_failure = "rollback"\n',
        "phases[0].steps[0].on_failure",
        'on_failure = "rollback"',
        "the checklist has no rollback phase",
        "add a [[phases]] table with rollback = true",
    ),
    Case(
        "host-port-out-of-range",
        ONE_STEP + '\n[hosts.db]\naddress = "10.0.0.1"\nport = 70000\n',
        "hosts.db.port",
        "port = 70000",
        "port 70000 is out of range",
        "a TCP port is between 1 and 65535",
    ),
]

# These go through a real `python -m iact_tui check` process; the rest through CliRunner.
SUBPROCESS_CASES = {"toml-syntax", "unknown-kind", "typo-key-in-alternative-step", "empty-file"}


def run_check(path: Path, real_process: bool) -> tuple[int, str]:
    if real_process:
        proc = subprocess.run(
            [sys.executable, "-m", "iact_tui", "check", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        return proc.returncode, proc.stdout + proc.stderr
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_checklist_gets_one_clear_message(tmp_path: Path, case: Case) -> None:
    text = case.text()
    path = tmp_path / f"{case.name}.toml"
    path.write_text(text, encoding="utf-8")
    code, output = run_check(path, case.name in SUBPROCESS_CASES)

    assert code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    error = errors[0]
    where = f"{path}:{line_of(text, case.marker, case.nth)}" if case.marker else f"{path}"
    prefix = f"error: {where}: {case.path + ': ' if case.path else ''}"
    assert error.startswith(prefix), f"{error!r} does not start with {prefix!r}"
    assert case.message in error
    if case.hint:
        assert f"(hint: {case.hint}" in error
    assert output.rstrip().endswith("1 problem; not a valid checklist")


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes((HEAD + ONE_STEP).encode() + b'\n[vars.x]\ndefault = "a\xf1o"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "iact_tui", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    expected_line = (HEAD + ONE_STEP).count("\n") + 3
    assert f"error: {path}:{expected_line}: not UTF-8 text (byte 0xf1" in proc.stderr
    assert "(hint: save the file as UTF-8)" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_directory_and_missing_file(tmp_path: Path) -> None:
    code, output = run_check(tmp_path, real_process=True)
    assert code == 2
    assert (
        f"error: {tmp_path}: is a directory, not a checklist file (hint: name a .toml file)"
        in output
    )
    code, output = run_check(tmp_path / "nope.toml", real_process=False)
    assert code == 2
    assert f"error: {tmp_path / 'nope.toml'}: file not found (hint: check the path" in output
    assert "Traceback" not in output


def test_several_problems_are_all_reported_in_line_order(tmp_path: Path) -> None:
    text = (
        HEAD
        + """
[[phases]]
id = "pre"
title = "Pre"

[[phases.steps]]
id = "a"
kind = "ssh"
host = "nowhere"
run = "echo {nothing}"

[[phases.steps]]
id = "b"
kind = "manual"
role = "boss"
"""
    )
    path = tmp_path / "many.toml"
    path.write_text(text)
    code, output = run_check(path, real_process=False)
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert [e.split(": ")[2] for e in errors] == [
        "phases[0].steps[0].host",
        "phases[0].steps[0].run",
        "phases[0].steps[1].role",
    ]
    lines = [int(e.split(":")[2]) for e in errors]
    assert lines == [
        line_of(text, 'host = "nowhere"'),
        line_of(text, "{nothing}"),
        line_of(text, 'role = "boss"'),
    ]
    assert output.rstrip().endswith("3 problems; not a valid checklist")


def test_union_type_errors_are_one_message(tmp_path: Path) -> None:
    text = HEAD + ONE_STEP + 'expect_exit = "0"\n'
    path = tmp_path / "union.toml"
    path.write_text(text)
    code, output = run_check(path, real_process=False)
    assert code == 2
    assert (
        f"error: {path}:{line_of(text, 'expect_exit')}: phases[0].steps[0].expect_exit: "
        'expected an integer or an array, got a string ("0")'
    ) in output
    assert output.count("error: ") == 1


def test_quoted_placeholder_is_a_warning_not_an_error(tmp_path: Path) -> None:
    text = HEAD + ONE_STEP.replace(
        'run = "echo {branch} {base_url}"', """run = "cd '{branch}' && curl {base_url}" """
    )
    path = tmp_path / "quoted.toml"
    path.write_text(text)
    code, output = run_check(path, real_process=False)
    assert code == 0, output
    assert (
        f"warning: {path}:{line_of(text, 'run = ')}: phases[0].steps[0].run: '{{branch}}' is inside quotes"
        in output
    )


def test_unused_variable_is_a_warning(tmp_path: Path) -> None:
    text = HEAD + '\n[vars.forgotten]\ndefault = "x"\n' + ONE_STEP
    loaded = parse_checklist(text.encode(), "c.toml")
    assert [(w.path, w.line) for w in loaded.warnings] == [
        ("vars.forgotten", line_of(text, "[vars.forgotten]"))
    ]


def test_rollback_phase_may_use_captures_of_any_forward_step(tmp_path: Path) -> None:
    text = (
        HEAD
        + ONE_STEP
        + """
[[phases]]
id = "deploy"
title = "Deploy"

[[phases.steps]]
id = "b"
kind = "local"
run = "git rev-parse HEAD"
capture = { prev = "(.+)" }

[[phases]]
id = "back"
title = "Back"
rollback = true

[[phases.steps]]
id = "c"
kind = "local"
run = "git checkout {prev}"
"""
    )
    loaded = parse_checklist(text.encode(), "c.toml")
    assert loaded.checklist.step("c").run == "git checkout {prev}"
    # ... and a forward step may not use a rollback step's capture
    bad = (
        text
        + '\n[[phases]]\nid = "z"\ntitle = "Z"\n\n[[phases.steps]]\nid = "d"\nkind = "local"\nrun = "echo {later}"\n'
    )
    bad = bad.replace(
        'run = "git checkout {prev}"', 'run = "git checkout {prev}"\ncapture = { later = "(.+)" }'
    )
    with pytest.raises(ChecklistError) as info:
        parse_checklist(bad.encode(), "c.toml")
    assert [p.path for p in info.value.problems] == ["phases[3].steps[0].run"]
    assert "captured only by rollback step 'c'" in info.value.problems[0].message


def test_token_declared_without_default_and_captured_is_fine() -> None:
    text = (
        HEAD
        + """
[vars.token]
secret = true

[[phases]]
id = "verify"
title = "Verify"

[[phases.steps]]
id = "login"
kind = "http"
method = "POST"
url = "{base_url}/login"
capture_json = { token = "token" }

[[phases.steps]]
id = "me"
kind = "http"
url = "{base_url}/me"
headers = { Authorization = "Bearer {token}" }
"""
    )
    loaded = parse_checklist(text.encode(), "c.toml")
    assert [w.path for w in loaded.warnings] == ["vars.branch"]  # unused here; token is fine
    assert loaded.checklist.step("me").headers == {"Authorization": "Bearer {token}"}


# -- checklists/staging.toml ------------------------------------------------------------------

CONTRACT_PHASES = [
    "pre",
    "backup",
    "deploy",
    "verify",
    "document",
    "rollback-execute",  # 6.2 acts first: nothing waits for a person before staging is back
    "rollback-restart",  # one restart, on the previous code and the previous schema
    "rollback-verify",
    "rollback-notify",
    "rollback-identify",  # 6.1: the symptoms are recorded after the rollback
    "rollback-investigate",
]

CONTRACT_STEPS = {
    "staging-health": "http",
    "ci-green": "manual",
    "changelog-review": "local",
    "commit-summary": "local",
    "changelog-questions": "manual",
    "tech-lead-approval": "manual",
    "notify-start": "notify",
    "capture-previous-state": "ssh",
    "db-backup": "ssh",
    "env-backup": "ssh",
    "config-backup": "ssh",
    "workflow-dispatch": "local",
    "workflow-status": "local",
    "pull-code": "ssh",
    "install-python-deps": "ssh",
    "install-node-deps": "ssh",
    "migrate": "ssh",
    "migrations-check": "ssh",
    "collectstatic": "ssh",
    "build-frontend": "ssh",
    "restart-app": "ssh",
    "reload-web": "ssh",
    "restart-worker": "ssh",
    "health": "http",
    "db-check": "http",
    "cache-check": "http",
    "smoke-login": "http",
    "smoke-me": "http",
    "app-logs": "ssh",
    "ui-check": "manual",
    "metrics-check": "manual",
    "changelog-update": "manual",
    "notify-success": "notify",
    "rollback-symptoms": "manual",
    "rollback-migrate": "ssh",
    "rollback-checkout": "ssh",
    "rollback-restart-app": "ssh",
    "rollback-restart-worker": "ssh",
    "rollback-restore-db": "ssh",
    "rollback-health": "http",
    "rollback-smoke-login": "http",
    "rollback-smoke-me": "http",
    "notify-rollback": "notify",
    "root-cause": "manual",
}

CONTRACT_VARS = {
    "branch": "develop",
    "base_branch": "staging",
    "base_url": "https://staging.iact-project.com",
    "staging_host": "staging.iact-project.com",
    "ssh_user": "deploy",
    "ssh_port": "22",
    "known_hosts": "",
    "ssh_identity": "",
    "app_dir": "/var/www/iact-project",
    "venv_activate": "venv/bin/activate",
    "python": "python",
    "repo_dir": ".",
    "git_remote": "origin",
    "db_name": "iact_staging",
    "db_user": "postgres",
    "backup_dir": "/backups",
    "env_file": ".env",
    "config_paths": "/etc/nginx /etc/systemd",
    "has_frontend": "true",
    "django_app": "app_name",
    "restart_app_cmd": "sudo -n systemctl restart iact-gunicorn",
    "reload_web_cmd": "sudo -n systemctl reload nginx",
    "restart_worker_cmd": "sudo -n systemctl restart iact-celery-worker",
    "app_logs_cmd": 'sudo -n journalctl -u iact-gunicorn --since "5 minutes ago" --no-pager',
    "smoke_user": "testuser",
    "smoke_password": None,
    "token": None,
    "webhook_url": "",
    "eta_minutes": "15",
    "expected_downtime": "0",
    "gh_workflow": "deploy-staging.yml",
    "release_version": "1.2.3",
}

PASO_REFERENCES = [
    "1.1",
    "1.2",
    "1.3",
    "1.4",
    "2.1",
    "2.2",
    "3.1",
    "3.2",
    "4.1",
    "4.2",
    "4.3",
    "4.4",
    "4.5",
    "5.1",
    "5.2",
    "6.1",
    "6.2",
    "6.3",
    "6.4",
    "6.5",
]


@pytest.fixture(scope="module")
def staging() -> Checklist:
    return load_checklist(STAGING).checklist


def test_staging_checks_clean_through_the_real_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "iact_tui", "check", str(STAGING)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stdout + proc.stderr
    assert proc.stdout.startswith("PROCED-DEVOPS-001 1.0.0: Deploy a Staging")
    assert "ok: 11 phases (5 forward, 6 rollback)" in proc.stdout
    for step_id in CONTRACT_STEPS:
        assert f" {step_id} " in proc.stdout


def test_staging_phases_steps_and_kinds_follow_the_contract(staging: Checklist) -> None:
    assert [p.id for p in staging.phases] == CONTRACT_PHASES
    assert [p.rollback for p in staging.phases] == [False] * 5 + [True] * 6
    kinds = {s.id: s.kind for _, _, s in staging.iter_steps()}
    for step_id, kind in CONTRACT_STEPS.items():
        assert kinds.get(step_id) == kind, step_id
    deploy = staging.phase("deploy")
    assert [a.id for a in deploy.alternatives] == ["ci-cd", "manual"] and deploy.defaults == [
        "manual"
    ]
    execute = staging.phase("rollback-execute")
    assert [a.id for a in execute.alternatives] == ["migrate-back", "revert-code", "restore-db"]
    assert execute.multiple and execute.defaults == ["migrate-back", "revert-code"]
    assert staging.step("rollback-restore-db").confirm
    assert staging.step("tech-lead-approval").role == "tech-lead"
    assert staging.step("tech-lead-approval").four_eyes
    assert staging.step("ui-check").role == "developer"
    assert staging.step("install-node-deps").when == "has_frontend"
    assert staging.step("build-frontend").when == "has_frontend"
    assert staging.step("db-backup").artifact == "{backup_file}"
    assert "--clean --if-exists" in staging.step("db-backup").run
    assert staging.step("health").retries == 5 and staging.step("health").retry_delay == 2
    assert staging.step("smoke-login").capture_json == {"token": "token"}
    assert staging.step("smoke-me").headers == {"Authorization": "Bearer {token}"}
    assert staging.step("app-logs").reject_output == r"(?i)\berror\b"
    assert [t.id for t in staging.troubleshooting] == [
        "migrations-fail",
        "static-files",
        "env-var-missing",
    ]
    assert staging.targets.deployment_frequency_per_week == 5
    assert staging.targets.change_failure_rate == pytest.approx(0.10)
    assert staging.targets.mttr_minutes == 10
    assert [s.title for s in staging.summary] == ["Pre-Deployment", "Deployment", "Post-Deployment"]
    assert sum(len(s.items) for s in staging.summary) == 17


def test_staging_variables_follow_the_contract(staging: Checklist) -> None:
    for name, default in CONTRACT_VARS.items():
        assert name in staging.vars, name
        assert staging.vars[name].default == default, name
    assert {n for n, v in staging.vars.items() if v.secret} == {
        "smoke_password",
        "token",
        "webhook_url",
        "github_token",  # the CI/CD services (docs/cicd.md)
        "jenkins_token",
    }
    assert {n for n, v in staging.vars.items() if v.command} == {
        "config_paths",
        "restart_app_cmd",
        "reload_web_cmd",
        "restart_worker_cmd",
        "app_logs_cmd",
    }
    assert staging.vars["smoke_password"].env == "IACT_SMOKE_PASSWORD"
    assert staging.vars["webhook_url"].env == "IACT_WEBHOOK_URL"
    host = staging.hosts["staging"]
    assert (host.address, host.user, host.port) == ("{staging_host}", "{ssh_user}", "{ssh_port}")


def test_staging_references_every_paso(staging: Checklist) -> None:
    references = [s.reference for _, _, s in staging.iter_steps()]
    assert all(r.startswith("PASO ") for r in references)
    for paso in PASO_REFERENCES:
        assert any(r.startswith(f"PASO {paso}") for r in references), paso


def test_staging_troubleshooting_patterns_match_the_documents_errors(staging: Checklist) -> None:
    import re

    for t in staging.troubleshooting:
        assert re.search(t.pattern, t.error, re.MULTILINE), t.id
        assert t.error in t.advice
    assert re.search(
        staging.troubleshooting[0].pattern,
        'django.db.utils.OperationalError: relation "app_refreshtoken" does not exist',
    )
    assert re.search(staging.troubleshooting[1].pattern, "GET /static/app.css HTTP/1.1 404")


def test_locator_finds_every_staging_step_including_alternatives(staging: Checklist) -> None:
    text = STAGING.read_text(encoding="utf-8")
    lines = text.splitlines()
    locator = Locator(text)
    for pi, phase in enumerate(staging.phases):
        groups = [(("phases", pi), phase.steps)]
        groups += [
            (("phases", pi, "alternatives", ai), alt.steps)
            for ai, alt in enumerate(phase.alternatives)
        ]
        for prefix, steps in groups:
            for si, step in enumerate(steps):
                header = locator.line_of((*prefix, "steps", si))
                assert header is not None and lines[header - 1].endswith("steps]]"), step.id
                id_line = locator.line_of((*prefix, "steps", si, "id"))
                assert id_line is not None and lines[id_line - 1] == f'id = "{step.id}"'


def test_staging_commands_render_with_quoted_values(staging: Checklist) -> None:
    values = Values.resolve(
        staging, {"app_dir": "/srv/my app", "branch": "feat/x;rm -rf /"}, environ={}
    )
    pull = values.command(staging.step("pull-code").run)
    assert pull.startswith("cd -- '/srv/my app' && git fetch -- origin && git checkout 'feat/x;rm -rf /' --")
    assert (
        values.command(staging.step("restart-app").run) == "sudo -n systemctl restart iact-gunicorn"
    )
    backup = values.command(staging.step("config-backup").run)
    assert 'tar -czf "$f" /etc/nginx /etc/systemd' in backup


# -- placeholders (iact_tui/engine/checklist/template.py) -----------------------------------------------


def test_placeholder_names_in_order_of_first_use() -> None:
    assert template.names("cd {app_dir} && git checkout {branch} && ls {app_dir}") == [
        "app_dir",
        "branch",
    ]
    assert template.names_in({"Authorization": "Bearer {token}", "{hdr}": ["{a}", 1]}) == [
        "token",
        "hdr",
        "a",
    ]


def test_shell_braces_are_not_placeholders() -> None:
    text = "echo ${HOME} ${x:-1} && awk '{print $1}' && awk '/x/ {m = $2} END {print m}' && {{literal}}"
    assert template.names(text) == []
    assert template.render(text, lambda name: "X") == (
        "echo ${HOME} ${x:-1} && awk '{print $1}' && awk '/x/ {m = $2} END {print m}' && {literal}"
    )


def test_double_braces_are_literal_and_placeholders_fill() -> None:
    assert (
        template.render("{{branch}} is {branch}", {"branch": "develop"}.__getitem__)
        == "{branch} is develop"
    )
    checklist = parse_checklist((HEAD + ONE_STEP).encode(), "c.toml").checklist
    with pytest.raises(template.MissingValue) as info:
        Values.resolve(checklist, {}, environ={}).command("echo {missing}")
    assert str(info.value) == "no value for {missing}"


def test_hostile_value_is_shell_quoted_and_runs_nothing(tmp_path: Path) -> None:
    text = HEAD + ONE_STEP.replace('run = "echo {branch} {base_url}"', 'run = "echo {branch}"')
    text = text.replace('[vars.base_url]\ndefault = "http://127.0.0.1:1"\n', "")
    checklist = parse_checklist(text.encode(), "c.toml").checklist
    marker = tmp_path / "pwned"
    hostile = f"$(touch {marker}); echo pwned `touch {marker}` ' \" ; rm -rf /"
    values = Values.resolve(checklist, {"branch": hostile}, environ={})
    command = values.command(checklist.step("a").run)
    assert command == "echo " + template.shell_quote(hostile)
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=10)
    assert out.stdout == hostile + "\n"
    assert not marker.exists()


def test_command_variable_is_inserted_as_written() -> None:
    text = (
        HEAD
        + """
[vars.restart_cmd]
default = "sudo -n systemctl restart iact-gunicorn"
command = true

[[phases]]
id = "p"
title = "P"

[[phases.steps]]
id = "restart"
kind = "ssh"
host = "web"
run = "{restart_cmd} && echo {branch} {base_url}"
"""
    )
    checklist = parse_checklist(text.encode(), "c.toml").checklist
    values = Values.resolve(checklist, {"branch": "a b"}, environ={})
    assert values.command(checklist.step("restart").run) == (
        "sudo -n systemctl restart iact-gunicorn && echo 'a b' http://127.0.0.1:1"
    )


def test_quoted_placeholders_follow_shell_quoting() -> None:
    assert quoted_placeholders("""cd "{dir}" && echo '{x}' && echo {ok}""") == ["{dir}", "{x}"]
    assert quoted_placeholders('echo "$({python} manage.py showmigrations)"') == []
    assert quoted_placeholders('echo "it\'s {x}"') == ["{x}"]
    assert quoted_placeholders("echo {a} # '{b}'") == []
    assert template.quoted_placeholders("""run '{x}' "{y}" {z}""") == ["'{x}'", '"{y}"']


def test_every_key_of_the_format_is_documented() -> None:
    import re

    from iact_tui.engine.checklist import model

    doc = (ROOT / "docs" / "checklist-format.md").read_text(encoding="utf-8")
    classes = [
        model.Checklist,
        model.ChecklistInfo,
        model.Var,
        model.Host,
        model.Phase,
        model.Alternative,
        model.SshStep,
        model.LocalStep,
        model.HttpStep,
        model.ManualStep,
        model.NotifyStep,
        model.GitHubChecksStep,
        model.GitHubWorkflowStep,
        model.JenkinsStatusStep,
        model.JenkinsBuildStep,
        model.ChangelogStep,
        model.Hint,
        model.Troubleshooting,
        model.Targets,
        model.SummarySection,
        model.SummaryItem,
    ]
    missing = [
        f"{cls.__name__}.{key}"
        for cls in classes
        for name, field in cls.model_fields.items()
        if not re.search(rf"\| `(items\[\]\.)?{re.escape(key := field.alias or name)}` \|", doc)
    ]
    assert missing == []
    from iact_tui.engine.checklist.model import BUILTIN_VARS

    assert all(f"| `{name}` |" in doc for name in BUILTIN_VARS)


def test_mangled_checklists_never_escape_as_a_traceback() -> None:
    """Seeded random damage to staging.toml: every outcome is a checklist or a ChecklistError."""
    import random

    raw = STAGING.read_bytes()
    rng = random.Random(20251117)
    pieces = [b'"', b"'", b"[", b"]", b"{", b"}", b"=", b"\\", b"\n", b"'''", b"#", b"{x}", b"\xff"]
    outcomes = {"valid": 0, "refused": 0}
    for _ in range(150):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(data))
            if rng.random() < 0.5:
                del data[pos : pos + rng.randint(1, 12)]
            else:
                data[pos:pos] = rng.choice(pieces)
        try:
            parse_checklist(bytes(data), "mangled.toml")
            outcomes["valid"] += 1
        except ChecklistError as exc:
            assert exc.problems and all(str(p).startswith("mangled.toml") for p in exc.problems)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 50  # the damage was real


# -- issue #10 item 18: what `check` refuses besides the shape ----------------------------------


def _check_errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    code, output = run_check(path, real_process=False)
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert code == (2 if errors else 0), output
    return errors


HOST_GROUPS = """
[hosts.a]
members = ["b"]

[hosts.b]
members = ["c"]

[hosts.c]
members = ["a"]
"""


def test_check_refuses_circular_host_groups(tmp_path: Path) -> None:
    errors = _check_errors(tmp_path, HEAD + HOST_GROUPS + ONE_STEP)
    assert len(errors) == 1, errors  # one circle, one message
    assert "hosts.a.members: circular host groups: a -> b -> c -> a" in errors[0], errors
    two = HEAD + '\n[hosts.x]\nmembers = ["y"]\n\n[hosts.y]\nmembers = ["x"]\n' + ONE_STEP
    assert [e.split(": ", 2)[-1].split(" (hint")[0] for e in _check_errors(tmp_path, two)] == [
        "hosts.x.members: circular host groups: x -> y -> x"
    ]


def test_check_refuses_a_group_inside_a_group(tmp_path: Path) -> None:
    groups = '\n[hosts.h1]\naddress = "10.0.0.1"\n\n[hosts.inner]\nmembers = ["h1"]\n\n[hosts.outer]\nmembers = ["inner", "web"]\n'
    errors = _check_errors(tmp_path, HEAD + groups + ONE_STEP)
    assert len(errors) == 1 and "hosts.outer.members" in errors[0], errors
    assert "member 'inner' is itself a host group" in errors[0]
    ok = '\n[hosts.h1]\naddress = "10.0.0.1"\n\n[hosts.pair]\nmembers = ["h1", "web"]\n'
    assert _check_errors(tmp_path, HEAD + ok + ONE_STEP) == []


@pytest.mark.parametrize("value", ["256", "-1", "[0, 300]", "99999"])
def test_check_refuses_expect_exit_out_of_range(tmp_path: Path, value: str) -> None:
    text = HEAD + ONE_STEP + f"expect_exit = {value}\n"
    errors = _check_errors(tmp_path, text)
    assert len(errors) == 1, errors
    assert "expect_exit" in errors[0] and "0 to 255" in errors[0]
    assert f"c.toml:{line_of(text, 'expect_exit')}:" in errors[0]
    assert _check_errors(tmp_path, HEAD + ONE_STEP + "expect_exit = [0, 1, 255]\n") == []


@pytest.mark.parametrize("name", ["run_id", "run_folder", "rollback_reason", "elapsed_minutes", "operator", "date"])
def test_check_refuses_a_variable_that_shadows_a_built_in(tmp_path: Path, name: str) -> None:
    text = HEAD + f'\n[vars.{name}]\ndefault = "mine"\n' + ONE_STEP.replace("{base_url}", f"{{base_url}} {{{name}}}")
    errors = _check_errors(tmp_path, text)
    assert len(errors) == 1, errors
    assert f"vars.{name}: variable '{name}' has the name of a built-in" in errors[0]
    assert f"c.toml:{line_of(text, f'[vars.{name}]')}:" in errors[0]


def test_check_refuses_defaults_every_run_would_refuse(tmp_path: Path) -> None:
    """A default starting with '-' for a command (item 15) and a header with a line break (16)."""
    text = HEAD.replace('default = "develop"', 'default = "--upload-pack=touch /tmp/x"') + ONE_STEP
    errors = _check_errors(tmp_path, text)
    assert len(errors) == 1 and "vars.branch.default" in errors[0] and "option = true" in errors[0], errors
    allowed = text.replace('default = "--upload-pack', 'option = true\ndefault = "--upload-pack')
    assert _check_errors(tmp_path, allowed) == []
    http = HEAD + """
[[phases]]
id = "pre"
title = "Pre"

[[phases.steps]]
id = "h"
kind = "http"
url = "{base_url}/x"
headers = { X-Branch = "{branch}", X-Two = "a\\r\\nInjected: yes" }
"""
    errors = _check_errors(tmp_path, http)
    assert len(errors) == 1 and "line break" in errors[0] and "X-Two" in errors[0], errors


def test_choose_names_a_phase_without_alternatives(tmp_path: Path) -> None:
    from iact_tui.engine.run.launch import BadInput, SessionSpec, _check_names
    from iact_tui.engine.run.operator import RunOptions

    loaded = parse_checklist(STAGING.read_bytes(), str(STAGING))
    spec = SessionSpec(tmp_path, "ana", options=RunOptions(choices={"pre": ["manual"]}))
    with pytest.raises(BadInput) as exc:
        _check_names(loaded, spec)
    message = str(exc.value)
    assert "\n" not in message
    assert "phase 'pre' has no alternatives" in message
    having = [p.id for p in loaded.checklist.phases if p.alternatives]
    assert having and message.endswith("phases with alternatives: " + ", ".join(having))

    path = tmp_path / "c.toml"
    path.write_text(HEAD + ONE_STEP, encoding="utf-8")
    result = CliRunner().invoke(
        main, ["run", str(path), "--headless", "--runs-dir", str(tmp_path / "runs"), "--choose", "pre=x"],
        env={"CI": "true"},
    )
    assert result.exit_code == 2, result.output
    assert "phase 'pre' has no alternatives to choose; this checklist has no phase with alternatives" in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_check_refuses_a_secret_with_a_default(tmp_path: Path) -> None:
    """The default would be copied into the pinned checklist.toml and every export bundle
    (issue 10, item 7); an empty default ("not set") gives nothing away and is allowed."""
    text = HEAD + '\n[vars.api_token]\nsecret = true\nprompt = "API token"\ndefault = "tok-123456"\n' + ONE_STEP
    path = tmp_path / "secret-default.toml"
    path.write_text(text, encoding="utf-8")
    code, output = run_check(path, real_process=True)
    assert code == 2, output
    assert "Traceback" not in output and "tok-123456" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    line = line_of(text, 'default = "tok-123456"')
    assert errors == [
        f"error: {path}:{line}: vars.api_token.default: the secret "
        "'api_token' has a default: it would be copied, unmasked, into the checklist pinned in every run "
        'folder and every export (hint: remove the default; give the value with env = "..." in '
        "[vars.api_token], --var api_token=..., or at the prompt)"
    ], output
    empty = tmp_path / "secret-empty-default.toml"
    empty.write_text(text.replace('default = "tok-123456"', 'default = ""'), encoding="utf-8")
    code, output = run_check(empty, real_process=False)
    assert code == 0, output
