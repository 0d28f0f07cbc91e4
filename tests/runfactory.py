"""Realistic run folders for tests and benchmarks, made through the real ``RunStore``.

- ``STAGING_MINI``: a small checklist in the shape of ``checklists/staging.toml`` — the PASOs as
  phases, Option A / Option B as alternatives, a rollback phase, a secret variable, and a
  ``[[summary]]`` in the shape of the document's closing "Checklist de Deployment".
- ``RunBuilder``: appends the record types ``state.py`` folds (run_created with its plan,
  step_started / step_finished, step_waiting / step_ticked, step_skipped, …), writes each step's
  log with ``LogWriter`` with secrets masked by value as the runner does, on a fixed clock so
  that exported documents can be compared line by line.
- ``staging_run()``: a whole run of ``STAGING_MINI`` that fails in PASO 4 and is rolled back.
- ``big_run()``: a finished run of 1,000 steps (benchmarks).

Use: ``from tests import runfactory`` (tests/ is a package; pytest puts the project root on sys.path).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from iact_tui import __version__
from iact_tui.engine.checklist.load import parse_checklist
from iact_tui.engine.checklist.masking import Redactor
from iact_tui.engine.executors.base import TAIL_LINES, LogWriter
from iact_tui.engine.record import store as store_module
from iact_tui.engine.record.store import RunStore

START = "2025-11-17T14:00:00+00:00"
RUN_ID = "20251117T140000Z-proced-devops-001-a1b2"
SMOKE_PASSWORD = "Sm0ke-pa55word-7Qx!"  # the secret variable's value in staging_run()
LOGIN_TOKEN = "eyJhbGciOiJIUzI1NiJ9.c21va2UtdXNlcg.Zk9QyX1"  # a secret capture's value
HOST_FINGERPRINT = "SHA256:2cXmOY3XPd8l0Lb5kP3WTqs3TPnbXvx2sF6j5cZt1nY"

STAGING_MINI = """\
schema_version = 1

[checklist]
id = "PROCED-DEVOPS-001"
title = "Deploy a Staging"
version = "1.0.0"
roles = ["devops", "tech-lead", "developer"]

[vars.base_url]
default = "https://staging.iact-project.com"
[vars.branch]
default = "develop"
[vars.db_name]
default = "iact_staging"
[vars.smoke_user]
default = "testuser"
[vars.smoke_password]
secret = true
env = "IACT_SMOKE_PASSWORD"

[hosts.staging]
address = "staging.iact-project.com"
user = "deploy"

[[phases]]
id = "pre"
title = "Pre-deployment checks"
reference = "PASO 1"

[[phases.steps]]
id = "staging-health"
title = "Staging is operational"
kind = "http"
url = "{base_url}/api/health"
expect_status = 200

[[phases.steps]]
id = "ci-green"
title = "Tests green in CI"
kind = "manual"
role = "devops"
checks = ["Unit tests", "Integration tests", "Linters", "Security scans", "Build"]

[[phases.steps]]
id = "changelog-review"
title = "Review the changelog"
kind = "local"
run = "git log staging..{branch} --oneline"

[[phases.steps]]
id = "approval"
title = "Tech Lead approval"
kind = "manual"
role = "tech-lead"
four_eyes = true

[[phases.steps]]
id = "notify-start"
title = "Notify the start of the deployment"
kind = "notify"
message = "Starting deployment to staging: {branch}"

[[phases]]
id = "backup"
title = "Backup pre-deployment"
reference = "PASO 2"

[[phases.steps]]
id = "db-backup"
title = "Back up the database"
kind = "ssh"
host = "staging"
run = "pg_dump -U postgres {db_name} > /backups/{db_name}_$(date +%Y%m%d_%H%M%S).sql"
artifact = "/backups/iact_staging_20251117_140012.sql"

[[phases.steps]]
id = "config-backup"
title = "Back up the configuration"
kind = "ssh"
host = "staging"
run = "tar -czf /backups/config_$(date +%Y%m%d_%H%M%S).tar.gz /etc/nginx /etc/systemd"

[[phases]]
id = "deploy"
title = "Deployment"
reference = "PASO 3"
default = "manual"

[[phases.alternatives]]
id = "cicd"
title = "Option A: CI/CD"

[[phases.alternatives.steps]]
id = "ci-deploy"
title = "Run the deploy workflow"
kind = "local"
run = "gh workflow run deploy-staging.yml --ref {branch}"

[[phases.alternatives]]
id = "manual"
title = "Option B: manual deployment"

[[phases.alternatives.steps]]
id = "pull"
title = "Pull the latest code"
kind = "ssh"
host = "staging"
run = "cd /var/www/iact-project && git fetch origin && git checkout {branch} && git pull origin {branch}"

[[phases.alternatives.steps]]
id = "migrate"
title = "Run the migrations"
kind = "ssh"
host = "staging"
run = "cd /var/www/iact-project && venv/bin/python manage.py migrate --noinput"

[[phases.alternatives.steps]]
id = "restart"
title = "Restart the services"
kind = "ssh"
host = "staging"
sudo = true
run = "systemctl restart iact-gunicorn"

[[phases]]
id = "verify"
title = "Post-deployment verification"
reference = "PASO 4"

[[phases.steps]]
id = "health"
title = "API health check"
kind = "http"
url = "{base_url}/api/health"
expect_json = { status = "healthy" }

[[phases.steps]]
id = "smoke-login"
title = "Smoke test: log in"
kind = "http"
method = "POST"
url = "{base_url}/api/auth/login"
json = { username = "{smoke_user}", password = "{smoke_password}" }
capture_json = { token = "token" }

[[phases.steps]]
id = "logs-check"
title = "No errors in the application logs"
kind = "ssh"
host = "staging"
sudo = true
run = "journalctl -u iact-gunicorn --since '5 minutes ago' --no-pager"
reject_output = "(?i)error"
on_failure = "rollback"

[[phases.steps]]
id = "ui-check"
title = "Check the UI by hand"
kind = "manual"
role = "developer"

[[phases]]
id = "rollback"
title = "Rollback"
reference = "PASO 6"
rollback = true

[[phases.steps]]
id = "revert"
title = "Revert to the previous commit"
kind = "ssh"
host = "staging"
run = "cd /var/www/iact-project && git checkout abc1234"

[[phases.steps]]
id = "reverify"
title = "Health check after the rollback"
kind = "http"
url = "{base_url}/api/health"

[[phases.steps]]
id = "notify-rollback"
title = "Notify the rollback"
kind = "notify"
message = "ROLLBACK executed on staging: {rollback_reason}"

[[summary]]
title = "Pre-Deployment"
items = [
  { text = "CI tests passing", steps = ["ci-green"] },
  { text = "Changelog reviewed", steps = ["changelog-review"] },
  { text = "Team notified", steps = ["notify-start"] },
  { text = "Backup de BD creado", steps = ["db-backup"] },
  { text = "Backup de config creado", steps = ["config-backup"] },
]

[[summary]]
title = "Deployment"
items = [
  { text = "Code pulled/deployed", steps = ["ci-deploy", "pull"] },
  { text = "Migrations executed", steps = ["migrate"] },
  { text = "Services restarted", steps = ["restart"] },
]

[[summary]]
title = "Post-Deployment"
items = [
  { text = "Health checks passing", steps = ["health"] },
  { text = "Smoke tests passing", steps = ["smoke-login"] },
  { text = "Logs sin errores críticos", steps = ["logs-check"] },
  { text = "UI verificada manualmente", steps = ["ui-check"] },
]
"""


class Clock:
    """Timestamps for records: starts at ``start``, moves ``gap`` seconds after each record."""

    def __init__(self, start: str = START, gap: float = 1.0) -> None:
        self.t = datetime.fromisoformat(start)
        self.gap = timedelta(seconds=gap)

    def now(self) -> str:
        stamp = self.t.replace(microsecond=(self.t.microsecond // 1000) * 1000).isoformat()
        self.t += self.gap
        return stamp

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def plan_of(checklist_text: str) -> list[dict[str, Any]]:
    loaded = parse_checklist(checklist_text.encode())
    plan = []
    for phase, alt, step in loaded.checklist.iter_steps():
        item: dict[str, Any] = {
            "id": step.id,
            "phase": phase.id,
            "kind": step.kind,
            "title": step.display_title,
        }
        if alt is not None:
            item["alternative"] = alt.id
        if phase.rollback:
            item["rollback"] = True
        plan.append(item)
    return plan


class RunBuilder:
    """Writes one run through ``RunStore`` the way the runner does."""

    def __init__(
        self,
        runs_dir: Path,
        checklist_text: str = STAGING_MINI,
        *,
        run_id: str = RUN_ID,
        operator: str = "alice",
        machine: str = "ops-laptop",
        variables: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        masked: list[str] | None = None,
        clock: Clock | None = None,
        plan: list[dict[str, Any]] | None = None,
    ) -> None:
        self.clock = clock or Clock()
        self.secrets = dict(secrets or {})
        # secret variables and secret captures alike are masked by value in every log
        self.redact = Redactor([*self.secrets.values(), *(masked or [])])
        loaded = parse_checklist(checklist_text.encode())
        info = loaded.checklist.checklist
        if variables is None:
            variables = {
                name: str(v.default)
                for name, v in loaded.checklist.vars.items()
                if not v.secret and v.default is not None
            }
        created = {
            "checklist_id": info.id,
            "checklist_title": info.title,
            "checklist_version": info.version,
            "checklist_sha256": hashlib.sha256(checklist_text.encode()).hexdigest(),
            "checklist_path": "checklists/staging.toml",
            "operator": operator,
            "machine": machine,
            "iact_tui_version": __version__,
            "mode": "headless",
            "variables": variables,
            "secret_variables": sorted(self.secrets),
            "plan": plan if plan is not None else plan_of(checklist_text),
        }
        with self._clock():
            self.store = RunStore.create(Path(runs_dir), run_id, checklist_text, created)
        self.folder = self.store.folder

    @contextlib.contextmanager
    def _clock(self) -> Iterator[None]:
        saved = store_module.now
        store_module.now = self.clock.now
        try:
            yield
        finally:
            store_module.now = saved

    def append(self, type_: str, **fields: Any) -> dict[str, Any]:
        with self._clock():
            return self.store.append(type_, **fields)

    # -- run level --------------------------------------------------------------------------

    def connect(
        self,
        host: str,
        address: str,
        *,
        port: int = 22,
        user: str = "deploy",
        fingerprint: str = HOST_FINGERPRINT,
        key_type: str = "ssh-ed25519",
    ) -> None:
        self.append(
            "host_connected",
            host=host,
            address=address,
            port=port,
            user=user,
            fingerprint=fingerprint,
            key_type=key_type,
        )

    def choose(self, phase: str, *alternatives: str) -> None:
        self.append(
            "alternative_chosen",
            phase=phase,
            alternatives=list(alternatives),
            by=self.store.state.operator,
        )
        for s in list(self.store.state.steps.values()):
            if s.phase == phase and s.alternative and s.alternative not in alternatives:
                self.append(
                    "step_not_applicable",
                    step=s.id,
                    reason=f"alternative '{s.alternative}' was not chosen",
                )

    def rollback(self, reason: str) -> None:
        self.append("rollback_started", reason=reason, by=self.store.state.operator)

    def pause(self, reason: str) -> None:
        self.append("run_paused", reason=reason)

    def finish(self, status: str) -> Path:
        self.append("run_finished", status=status)
        return self.close()

    def close(self) -> Path:
        self.store.close()
        return self.folder

    # -- step level -------------------------------------------------------------------------

    def start(self, step: str, *, command: str | None = None, attempt: int | None = None) -> None:
        s = self.store.state.steps[step]
        self.append(
            "step_started",
            step=step,
            attempt=attempt or s.attempts + 1,
            command=command if command is not None else f"<{s.kind} {step}>",
        )

    def run_step(
        self,
        step: str,
        output: str = "",
        *,
        status: str = "passed",
        duration: float = 0.5,
        exit_status: int | None = 0,
        message: str = "",
        evidence: dict[str, Any] | None = None,
        artifacts: list[dict[str, Any]] | None = None,
        captures: dict[str, str] | None = None,
        secret_captures: list[str] | None = None,
        command: str | None = None,
    ) -> dict[str, Any]:
        """One attempt of an executed step: started, its output logged (masked), finished."""
        self.start(step, command=command)
        log = LogWriter(self.store.log_path(step))
        masked = self.redact(output) if self.redact else output
        if masked and not masked.endswith("\n"):
            masked += "\n"
        log.write(masked)
        log.close()
        lines = masked.splitlines()
        return self.append(
            "step_finished",
            step=step,
            status=status,
            attempt=self.store.state.steps[step].attempts,
            duration=duration,
            exit_status=exit_status,
            message=message,
            output_tail=lines[-TAIL_LINES:],
            lines=len(lines),
            log_sha256=log.sha256,
            log_bytes=log.size,
            evidence=evidence,
            artifacts=artifacts,
            captures=captures,
            secret_captures=secret_captures,
        )

    def wait(self, step: str) -> None:
        self.append("step_waiting", step=step)

    def tick(
        self, step: str, by: str, *, result: str = "passed", note: str = "", role: str | None = None
    ) -> None:
        self.append("step_ticked", step=step, by=by, result=result, note=note or None, role=role)

    def skip(self, step: str, by: str, reason: str) -> None:
        self.append("step_skipped", step=step, by=by, reason=reason)

    def decide(self, step: str, decision: str, reason: str, by: str = "alice") -> None:
        self.append("failure_decision", step=step, decision=decision, reason=reason, by=by)

    def note(self, step: str, note: str, by: str = "alice") -> None:
        self.append("note_added", step=step, note=note, by=by)


# -- ready-made runs --------------------------------------------------------------------------

BACKUP_SHA256 = hashlib.sha256(b"-- PostgreSQL database dump\n").hexdigest()


def staging_run(runs_dir: Path) -> Path:
    """A run of STAGING_MINI: Option B chosen, the log check fails in PASO 4, rolled back.

    The secret ``smoke_password`` and the captured login token went through the output; the
    logs hold them masked (``***``)."""
    b = _staging_until_last_tick(runs_dir)
    b.tick("notify-rollback", "alice", note="Sent by hand | in #deploys")
    return b.finish("rolled_back")


def unfinished_staging_run(runs_dir: Path) -> RunBuilder:
    """The same run still in progress: locked by this process, its last record only in the
    journal (not yet in report.toml). Call ``.store.lock.release()`` (or ``.close()``) after."""
    b = _staging_until_last_tick(runs_dir)
    b.store.compact()
    b.tick("notify-rollback", "alice", note="sent by hand")
    return b


def _staging_until_last_tick(runs_dir: Path) -> RunBuilder:
    b = RunBuilder(runs_dir, secrets={"smoke_password": SMOKE_PASSWORD}, masked=[LOGIN_TOKEN])
    base = "https://staging.iact-project.com"
    b.run_step(
        "staging-health",
        f'GET {base}/api/health\nHTTP 200 OK\n{{"status": "healthy", "version": "1.2.2"}}\n',
        duration=0.0425,
        exit_status=None,
        command=f"GET {base}/api/health",
        evidence={
            "http_status": 200,
            "latency_ms": 42.5,
            "url": f"{base}/api/health",
            "body_excerpt": '{"status": "healthy", "version": "1.2.2"}',
        },
    )
    b.wait("ci-green")
    b.tick("ci-green", "alice", note="All five checks green on run #4812")
    b.run_step(
        "changelog-review",
        "abc1234 feat(auth): implement JWT authentication\n9f8e7d6 fix(perm): validation\n",
        duration=0.031,
        command="git log staging..develop --oneline",
    )
    b.wait("approval")
    b.tick("approval", "bob", role="tech-lead", note="Approved: no downtime expected")
    b.skip("notify-start", "alice", "The team channel is down; told the team by phone")
    b.connect("staging", "staging.iact-project.com")
    b.run_step(
        "db-backup",
        "backup written\n-rw-r--r-- 1 postgres postgres 28 Nov 17 14:00 /backups/iact_staging_20251117_140012.sql\n",
        duration=3.2,
        command="pg_dump -U postgres iact_staging > /backups/iact_staging_$(date +%Y%m%d_%H%M%S).sql",
        artifacts=[
            {
                "path": "/backups/iact_staging_20251117_140012.sql",
                "size": 28,
                "sha256": BACKUP_SHA256,
            }
        ],
    )
    b.run_step("config-backup", "tar: Removing leading `/' from member names\n", duration=1.5)
    b.choose("deploy", "manual")
    b.run_step("pull", "Already on 'develop'\nFast-forward\n", duration=2.25)
    b.run_step(
        "migrate",
        "Operations to perform:\n  Apply all migrations: auth, users\nRunning migrations:\n  Applying users.0042_add_refresh_token_field... OK\n",
        duration=4.0,
    )
    b.run_step("restart", "", duration=1.0, command="sudo -n systemctl restart iact-gunicorn")
    b.run_step(
        "health",
        f'GET {base}/api/health\nHTTP 200 OK\n{{"status": "healthy", "version": "1.2.3"}}\n',
        duration=0.0381,
        exit_status=None,
        evidence={
            "http_status": 200,
            "latency_ms": 38.1,
            "url": f"{base}/api/health",
            "body_excerpt": '{"status": "healthy", "version": "1.2.3"}',
        },
    )
    b.run_step(
        "smoke-login",
        f'POST {base}/api/auth/login\nrequest: {{"username": "testuser", "password": "{SMOKE_PASSWORD}"}}\n'
        f'HTTP 200 OK\n{{"token": "{LOGIN_TOKEN}"}}\n',
        duration=0.12,
        exit_status=None,
        evidence={
            "http_status": 200,
            "latency_ms": 120.0,
            "url": f"{base}/api/auth/login",
            "body_excerpt": '{"token": "***"}',
        },
        captures={},
        secret_captures=["token"],
    )
    b.run_step(
        "logs-check",
        "Nov 17 14:05:01 staging gunicorn[812]: ERROR KeyError: 'JWT_SECRET_KEY'\n",
        status="failed",
        duration=0.8,
        message="the output has a line that must not be there: \"Nov 17 14:05:01 staging gunicorn[812]: ERROR KeyError: 'JWT_SECRET_KEY'\"",
    )
    b.decide(
        "logs-check", "rollback", "JWT_SECRET_KEY missing on staging; roll back and fix the env"
    )
    b.rollback("JWT_SECRET_KEY missing on staging; roll back and fix the env")
    b.run_step("revert", "HEAD is now at abc1234\n", duration=0.9)
    b.run_step(
        "reverify",
        "HTTP 200 OK\n",
        duration=0.05,
        exit_status=None,
        evidence={"http_status": 200, "latency_ms": 50.0, "url": f"{base}/api/health"},
    )
    b.wait("notify-rollback")
    return b


def big_checklist(steps: int = 1000, per_phase: int = 100) -> str:
    """A checklist of ``steps`` steps (local, http, ssh and manual in turn)."""
    out = [
        "schema_version = 1",
        "[checklist]",
        'id = "BIG-001"',
        f'title = "A checklist of {steps} steps"',
        'version = "1.0.0"',
        'roles = ["devops", "tech-lead"]',
        "[vars.base_url]",
        'default = "http://127.0.0.1:8000"',
        "[hosts.app]",
        'address = "127.0.0.1"',
    ]
    kinds = ["local", "http", "ssh", "manual"]
    for i in range(steps):
        if i % per_phase == 0:
            out += [
                "[[phases]]",
                f'id = "phase-{i // per_phase + 1:02d}"',
                f'title = "Phase {i // per_phase + 1}"',
            ]
        kind = kinds[i % len(kinds)]
        out += [
            "[[phases.steps]]",
            f'id = "step-{i + 1:04d}"',
            f'title = "Step {i + 1}"',
            f'kind = "{kind}"',
        ]
        if kind == "local":
            out.append(f'run = "echo step {i + 1}"')
        elif kind == "ssh":
            out += ['host = "app"', f'run = "uptime && echo step {i + 1}"']
        elif kind == "http":
            out.append('url = "{base_url}/api/health"')
        else:
            out.append('role = "tech-lead"')
    return "\n".join(out) + "\n"


def big_run(
    runs_dir: Path, steps: int = 1000, *, run_id: str = "20251117T140000Z-big-001-0001"
) -> Path:
    """A finished run of ``steps`` steps, each with its log (about 2,000 records)."""
    text = big_checklist(steps)
    b = RunBuilder(runs_dir, text, run_id=run_id, clock=Clock(gap=0.25))
    b.connect("app", "127.0.0.1", port=2222)
    body = "".join(f"line {n} of the output of a command\n" for n in range(20))
    for s in list(b.store.state.steps.values()):
        if s.kind == "manual":
            b.wait(s.id)
            b.tick(s.id, "bob", role="tech-lead", note=f"checked {s.id}")
        elif s.kind == "http":
            b.run_step(
                s.id,
                "GET http://127.0.0.1:8000/api/health\nHTTP 200 OK\n",
                exit_status=None,
                duration=0.004,
                evidence={
                    "http_status": 200,
                    "latency_ms": 4.0,
                    "url": "http://127.0.0.1:8000/api/health",
                    "body_excerpt": '{"status": "healthy"}',
                },
            )
        else:
            b.run_step(s.id, body + f"{s.id} done\n", duration=0.01)
    return b.finish("succeeded")
