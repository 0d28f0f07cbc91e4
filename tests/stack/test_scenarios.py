"""The staging checklist — the real ``checklists/staging.toml``, environment-specific values
passed with ``--var`` — run by the real command line against the real stack (OpenSSH,
PostgreSQL, Django under gunicorn), through the faults that happen in real deployments
(issue 6)."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from iact_tui.engine.record.store import read_records

from .cli import EXIT_FAILED, EXIT_OK, EXIT_PAUSED, OPERATOR, Cli, Result
from .stack import STAGING_VERSION, Deployment, Stack, StackError, sha256_file, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

MIGRATE_PROCESS = "manage.py migrate"
ROLLBACK_FLAGS = (
    "--on-failure",
    "rollback",
    "--choose",
    "rollback-execute=migrate-back,revert-code,restore-db",
    "--yes",
)


def reach(
    cli: Cli, first: list[str], resume: list[str], arrived: Callable[[], bool], limit: float = 120
) -> subprocess.Popen[str]:
    """Run (ticking the manual steps between resumes, as in ``Cli.drive``) until ``arrived()``;
    returns the process that is running at that moment, still running."""
    proc = cli.spawn(*first)
    for _ in range(25):

        def arrived_or_stopped(running: subprocess.Popen[str] = proc) -> bool:
            return (cli.find_run_id() != "" and arrived()) or running.poll() is not None

        wait_until(arrived_or_stopped, limit, "the run reaching the awaited moment")
        if cli.find_run_id() and arrived():
            return proc
        result = cli.collect(proc)
        assert result.returncode == EXIT_PAUSED, str(result)
        assert cli.tick_waiting(), f"the run paused but no step waits for a person:\n{result}"
        proc = cli.spawn("resume", cli.run_id, "--headless", *resume)
    raise AssertionError("the run never reached the awaited moment")


def migrate_blocked(cli: Cli, deployment: Deployment) -> Callable[[], bool]:
    """The journal says the migrate step started, and PostgreSQL sees the migration waiting."""
    return lambda: (
        cli.journal_has("step_started", "migrate")
        and deployment.stack.pg.lock_waiters(deployment.db_name) == 1
    )


def remote_migrations(stack: Stack, user: str) -> list[str]:
    return stack.host_processes(user, MIGRATE_PROCESS)


def no_remote_migration_left(
    stack: Stack, deployment: Deployment, user: str, within: float = 10
) -> None:
    """The host has no migrate process of ``user`` and PostgreSQL no session waiting at the gate.
    Killing takes effect asynchronously, so allow a few seconds, bounded."""
    try:
        wait_until(
            lambda: (
                not remote_migrations(stack, user)
                and stack.pg.lock_waiters(deployment.db_name) == 0
            ),
            within,
            f"the remote migration of {user} ending",
        )
    except StackError:
        left = remote_migrations(stack, user)
        waiting = stack.pg.lock_waiters(deployment.db_name)
        raise AssertionError(
            f"still on the host after {within:g} s: processes {left}, "
            f"{waiting} PostgreSQL session(s) of the migration"
        ) from None


def step_status(cli: Cli, step: str) -> str:
    return cli.state().steps[step].status


def short_timeout_checklist(path: Path, step: str, seconds: int) -> Path:
    """The real checklist with one step's timeout cut (the real ones are minutes long)."""
    text = (Path(__file__).resolve().parents[2] / "checklists" / "staging.toml").read_text()
    pattern = re.compile(rf'(\nid = "{re.escape(step)}"\n(?:(?!\n\[\[).)*?\ntimeout = )\d+', re.S)
    changed, count = pattern.subn(rf"\g<1>{seconds}", text)
    assert count == 1, f"step {step} with a timeout not found in the checklist"
    path.write_text(changed)
    return path


# -- 1 and 8: the happy path, and what it must not leak --------------------------------------


class HappyRun:
    def __init__(
        self, cli: Cli, deployment: Deployment, result: Result, pid_before: int | None
    ) -> None:
        self.cli = cli
        self.deployment = deployment
        self.result = result
        self.pid_before = pid_before


@pytest.fixture(scope="module")
def happy(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HappyRun]:
    deployment = stack.deploy("develop")
    try:
        cli = Cli(stack, deployment, tmp_path_factory.mktemp("happy"))
        pid_before = deployment.gunicorn_pid()
        # -v: the steps' output (the login response with its token among it) is printed too,
        # so the secrets check below has something to catch
        first = cli.call(*cli.run_args("-v"))
        yield HappyRun(cli, deployment, cli.drive(first, "-v"), pid_before)
    finally:
        stack.forget(deployment)


def test_happy_path_deploys_develop_with_ticks_from_a_second_process(
    stack: Stack, happy: HappyRun
) -> None:
    cli, deployment = happy.cli, happy.deployment
    assert happy.result.returncode == EXIT_OK, str(happy.result)
    state = cli.state()
    assert state.status == "succeeded"
    failed = [s.id for s in state.steps.values() if s.status not in ("passed", "not_applicable")]
    assert failed == []

    # the manual steps were ticked by `iact-tui tick`, each its own process, the approval by
    # someone other than the operator
    ticks = [r for r in cli.results if r.argv[3:4] == ["tick"]]
    assert len(ticks) >= 6
    assert state.steps["tech-lead-approval"].ticked_by == "luis.techlead"
    assert state.operator == OPERATOR

    # the backup exists, is not empty, and the report holds its sha256
    report = cli.report()
    backup = Path(report["run"]["captures"]["backup_file"])
    assert backup.parent == deployment.backup_dir
    assert backup.stat().st_size > 0
    assert sha256_file(backup) in (cli.folder / "report.toml").read_text()

    # the migration is applied, the static files collected, gunicorn really restarted
    assert deployment.applied_migrations() == [
        "0001_initial",
        "0002_seed_items",
        "0003_item_location",
    ]
    assert (deployment.static_root / "inventory" / "app.css").is_file()
    assert deployment.gunicorn_pid() not in (None, happy.pid_before)
    assert deployment.head() == deployment.git("rev-parse", "origin/develop")

    # /api/health reports the new version, and the run captured it
    assert deployment.health() == {"status": "healthy", "version": "1.1.0"}
    assert report["run"]["captures"]["prev_version"] == STAGING_VERSION
    assert report["run"]["captures"]["new_version"] == "1.1.0"

    # the smoke login and /api/users/me passed with the captured token: the server saw both
    assert (
        state.steps["smoke-login"].status == "passed" and state.steps["smoke-me"].status == "passed"
    )
    access = (deployment.root / "log" / "access.log").read_text()
    assert re.search(r'"POST /api/auth/login HTTP/1\.1" 200', access)
    assert re.search(r'"GET /api/users/me HTTP/1\.1" 200', access)

    # PASO 5.1: the CHANGELOG entry, drafted from the conventional commits, is in the checkout
    changelog = (deployment.local_repo / "CHANGELOG.md").read_text()
    entry = changelog.split("## [Unreleased]", 1)[1].split("## [1.0.0]", 1)[0]
    assert "## [1.1.0]" in entry
    assert "- Items know their storage location (migration 0003)" in entry
    assert "0003_item_location" in entry

    # 6: the fingerprint of the host used is in the report
    hosts = report["run"]["hosts"]
    assert [(h["host"], h["port"], h["fingerprint"]) for h in hosts] == [
        ("staging", stack.sshd.port, stack.sshd.fingerprint())
    ]


def test_secrets_appear_in_no_report_log_or_output(stack: Stack, happy: HappyRun) -> None:
    cli, deployment = happy.cli, happy.deployment
    assert happy.result.returncode == EXIT_OK, str(happy.result)
    tokens = stack.pg.sql("SELECT key FROM inventory_apitoken", deployment.db_name).split()
    assert len(tokens) == 1  # the smoke login's
    secrets = {"smoke password": stack.smoke_password, "token": tokens[0]}

    files = [p for p in cli.folder.rglob("*") if p.is_file()]
    assert any(p.name == "smoke-login.log" for p in files)
    for path in files:
        data = path.read_bytes()
        for name, value in secrets.items():
            assert value.encode() not in data, f"the {name} is in {path}"
    # where they would have been, they are masked (so they were there to leak, not just absent)
    masked_body, masked_request = '{"token": "***"}', '"password": "***"'
    login_log = (cli.folder / "logs" / "smoke-login.log").read_text()
    assert masked_body in login_log and masked_request in login_log
    output = cli.all_output()
    assert masked_body in output and masked_request in output
    for name, value in secrets.items():
        assert value not in output, f"the {name} is in the command output"


# -- 2: a broken release is rolled back --------------------------------------------------------


def test_broken_release_is_rolled_back_to_the_previous_version_and_data(
    stack: Stack, deploy: Callable[..., Deployment], tmp_path: Path
) -> None:
    deployment = deploy("broken")
    before = deployment.snapshot()
    commit_before = deployment.head()
    cli = Cli(stack, deployment, tmp_path)

    # --on-failure and --choose are given at the start only: every resume remembers them (the
    # failure happens in a resumed process, after the manual steps of PASO 1 and 4)
    result = cli.drive(cli.call(*cli.run_args(*ROLLBACK_FLAGS)), "--yes")

    assert result.returncode == EXIT_FAILED, str(result)
    state = cli.state()
    assert state.status == "rolled_back"
    # the run failed at PASO 4: everything up to the restart passed, health did not
    assert state.steps["restart-app"].status == "passed"
    assert state.steps["health"].status == "failed"
    assert state.steps["health"].phase == "verify"
    for step in (
        "rollback-migrate",
        "rollback-checkout",
        "rollback-restore-db",
        "rollback-health",
        "rollback-smoke-login",
        "rollback-smoke-me",
    ):
        assert state.steps[step].status == "passed", step
    assert "health" in state.rollback_reason

    # the previous version answers, from the previous commit, on exactly the pre-deploy data
    assert deployment.health() == {"status": "healthy", "version": STAGING_VERSION}
    assert deployment.head() == commit_before
    assert deployment.applied_migrations() == ["0001_initial", "0002_seed_items"]
    assert deployment.snapshot() == before

    # the app was restarted once in the rollback, after the migrations went back (with the new
    # code's migration files) and the code went back: it started on the previous release
    started = [
        r["step"]
        for r in read_records(cli.folder)
        if r["type"] == "step_started" and r["step"].startswith("rollback-")
    ]
    assert started.index("rollback-migrate") < started.index("rollback-checkout")
    assert started.index("rollback-checkout") < started.index("rollback-restart-app")
    assert started.index("rollback-restore-db") < started.index("rollback-restart-app")
    assert started.count("rollback-restart-app") == 1
    assert "rollback-migrate-restart" not in state.steps
    restart_log = (cli.folder / "logs" / "rollback-restart-app.log").read_text()
    assert f"release {STAGING_VERSION}" in restart_log, restart_log
    # and the running app is the previous code on the previous schema: its models read every
    # column of the table (new code on the old schema would fail here on the missing column)
    items = deployment.get("/api/items")
    assert items.status_code == 200, items.text
    assert items.json()["items"] and all("location" not in i for i in items.json()["items"])


# -- 3: the runner is killed in the middle of the migration -----------------------------------


@pytest.mark.parametrize("decision", ["rerun", "confirm"])
def test_crash_during_migrate_resumes_without_losing_anything(
    stack: Stack, deploy: Callable[..., Deployment], tmp_path: Path, decision: str
) -> None:
    deployment = deploy("gated")
    cli = Cli(stack, deployment, tmp_path)
    with stack.pg.gate(deployment.db_name) as gate:
        proc = reach(cli, cli.run_args(), [], migrate_blocked(cli, deployment))
        recorded = read_records(cli.folder)
        passed_before = {s.id for s in cli.state().steps.values() if s.status == "passed"}
        proc.send_signal(signal.SIGKILL)
        killed = cli.collect(proc)
        assert killed.returncode == -signal.SIGKILL
        gate.release()
    # the remote migrate outlived the runner (no terminal on the channel): let it finish first,
    # as an operator would check on the host before deciding
    wait_until(
        lambda: not remote_migrations(stack, stack.user), 60, "the orphaned migration finishing"
    )

    # nothing recorded before the crash is lost: the records are a prefix of what is there now
    after = read_records(cli.folder)
    assert after[: len(recorded)] == recorded
    assert step_status(cli, "migrate") == "running"  # as the crash left it

    resumed = cli.call("resume", cli.run_id, "--headless")
    assert resumed.returncode == EXIT_PAUSED, str(resumed)
    assert "interrupted migrate" in resumed.stdout
    assert step_status(cli, "migrate") == "interrupted"
    assert passed_before <= {s.id for s in cli.state().steps.values() if s.status == "passed"}

    if decision == "rerun":
        # the operator re-runs it (migrate is safe to repeat), and the run completes
        result = cli.drive(cli.call("resume", cli.run_id, "--headless", "--rerun", "migrate"))
    else:
        # the operator saw on the host that the migration did complete, and says so
        assert "0004_wait_for_gate" in deployment.applied_migrations()
        note = "showmigrations on staging: 0004_wait_for_gate applied"
        ticked = cli.call("tick", cli.run_id, "migrate", "--note", note)
        assert ticked.returncode == 0, str(ticked)
        result = cli.drive(cli.call("resume", cli.run_id, "--headless"))
        migrate = cli.state().steps["migrate"]
        assert (migrate.status, migrate.ticked_by, migrate.attempts) == ("passed", OPERATOR, 1)
    assert result.returncode == EXIT_OK, str(result)
    assert cli.state().status == "succeeded"
    assert deployment.applied_migrations()[-2:] == ["0003_item_location", "0004_wait_for_gate"]
    assert deployment.health() == {"status": "healthy", "version": "1.1.1"}
    assert read_records(cli.folder)[: len(recorded)] == recorded


# -- 4: sshd goes away during a long step --------------------------------------------------------


def test_lost_connection_fails_the_step_and_resume_completes(
    stack: Stack, deploy: Callable[..., Deployment], tmp_path: Path
) -> None:
    deployment = deploy("gated")
    cli = Cli(stack, deployment, tmp_path)
    try:
        with stack.pg.gate(deployment.db_name) as gate:
            proc = reach(cli, cli.run_args(), [], migrate_blocked(cli, deployment))
            stack.sshd.stop()  # the server and every connection it served
            lost = cli.collect(proc, timeout=60)
            gate.release()
        assert lost.returncode == EXIT_FAILED, str(lost)
        record = cli.state().steps["migrate"]
        assert record.status == "failed"
        assert "lost the connection" in record.message
        assert "failed migrate" in lost.stdout and "lost the connection" in lost.stdout
        wait_until(
            lambda: not remote_migrations(stack, stack.user), 60, "the orphaned migration finishing"
        )
    finally:
        stack.sshd.start()

    # sshd is back (same address, same host key): a plain resume retries the failed step
    result = cli.drive(cli.call("resume", cli.run_id, "--headless"))
    assert result.returncode == EXIT_OK, str(result)
    assert cli.state().steps["migrate"].status == "passed"
    assert cli.state().steps["migrate"].attempts >= 2
    assert cli.state().status == "succeeded"
    assert deployment.health() == {"status": "healthy", "version": "1.1.1"}


# -- 5: cancel and timeout leave nothing running on the host ----------------------------------


@pytest.mark.parametrize("login", ["plain", "root"])
def test_cancel_and_timeout_leave_no_remote_process(
    stack: Stack, deploy: Callable[..., Deployment], tmp_path: Path, login: str
) -> None:
    user = stack.user if login == "plain" else "root"
    deployment = deploy("gated", owner=user)
    cli = Cli(stack, deployment, tmp_path)
    # the real checklist, but with migrate timing out after 8 s instead of 15 minutes
    checklist = short_timeout_checklist(tmp_path / "staging-short-migrate.toml", "migrate", 8)
    first = cli.run_args()
    first[1] = str(checklist)
    with stack.pg.gate(deployment.db_name):
        # cancel: Ctrl-C while the migration runs on the host
        proc = reach(cli, first, [], migrate_blocked(cli, deployment))
        assert remote_migrations(stack, user), "the migration should be running on the host"
        proc.send_signal(signal.SIGINT)
        cancelled = cli.collect(proc, timeout=60)
        assert cancelled.returncode == 130, str(cancelled)
        no_remote_migration_left(stack, deployment, user)
        assert step_status(cli, "migrate") in ("interrupted", "failed")

        # timeout: the migration runs again and is still waiting when its 8 s are up
        timed_out = cli.call("resume", cli.run_id, "--headless", "--rerun", "migrate", timeout=120)
        assert timed_out.returncode == EXIT_FAILED, str(timed_out)
        record = cli.state().steps["migrate"]
        assert record.status == "failed"
        assert "did not finish within 8 s" in record.message
        no_remote_migration_left(stack, deployment, user)
    assert "0004_wait_for_gate" not in deployment.applied_migrations()


# -- 6: host keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["unknown", "changed"])
def test_host_keys_unknown_or_changed_are_refused(
    stack: Stack, deployment: Deployment, tmp_path: Path, case: str
) -> None:
    known_hosts = tmp_path / "known_hosts"
    if case == "unknown":
        known_hosts.write_text(stack.jump.known_hosts_line() + "\n")  # staging's key is not there
    else:
        # staging's entry holds another key: the jump host's, as after a reinstall (or an attack)
        known_hosts.write_text(
            f"[127.0.0.1]:{stack.sshd.port} ssh-ed25519 {stack.jump.public_host_key()}\n"
        )
    logins_before = stack.sshd.log.read_text().count("Accepted publickey")
    cli = Cli(stack, deployment, tmp_path)

    result = cli.drive(cli.call(*cli.run_args(vars_={"known_hosts": str(known_hosts)})))

    assert result.returncode == EXIT_FAILED, str(result)
    record = cli.state().steps["capture-previous-state"]
    assert record.status == "failed"
    assert stack.sshd.fingerprint() in record.message  # the fingerprint it offered is shown
    assert stack.sshd.fingerprint() in result.stdout
    if case == "unknown":
        assert "is not in" in record.message and "refused" in record.message
    else:
        assert "CHANGED" in record.message and stack.jump.fingerprint() in record.message
    assert (
        stack.sshd.log.read_text().count("Accepted publickey") == logins_before
    )  # no login at all
    assert cli.report()["run"].get("hosts", []) == []
    assert deployment.health() == {
        "status": "healthy",
        "version": STAGING_VERSION,
    }  # nothing changed


# -- 7: a host reached only through ProxyJump ------------------------------------------------


def test_jump_host_from_ssh_config(stack: Stack, deployment: Deployment, tmp_path: Path) -> None:
    cli = Cli(stack, deployment, tmp_path)
    alias = stack.write_ssh_config(cli.home / ".ssh" / "config")
    (cli.home / ".ssh" / "known_hosts").write_text(stack.known_hosts.read_text())
    tunnels_before = stack.jump.log.read_text().count(f"target 127.0.0.1 port {stack.sshd.port}")
    # address, port, user, key and the jump come from ~/.ssh/config, the host keys of both from
    # ~/.ssh/known_hosts: the checklist names only the alias
    overrides = {
        "staging_host": alias,
        "ssh_port": "",
        "ssh_user": "",
        "known_hosts": "",
        "ssh_identity": "",
    }

    result = cli.drive(cli.call(*cli.run_args(vars_=overrides)))

    assert result.returncode == EXIT_OK, str(result)
    assert cli.state().status == "succeeded"
    assert deployment.health() == {"status": "healthy", "version": "1.1.0"}
    # the jump host opened the tunnel(s) to staging's sshd
    assert (
        stack.jump.log.read_text().count(f"target 127.0.0.1 port {stack.sshd.port}")
        > tunnels_before
    )
    # 6: the report holds the fingerprints of both hosts used, the jump host's included
    hosts = cli.report()["run"]["hosts"]
    fingerprints = {h["fingerprint"] for h in hosts}
    assert fingerprints == {stack.sshd.fingerprint(), stack.jump.fingerprint()}, hosts
    assert [h["fingerprint"] for h in hosts if h["host"] == "staging"] == [
        stack.sshd.fingerprint()
    ], hosts
