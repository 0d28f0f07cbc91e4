"""CI/CD steps against loopback servers that answer as GitHub's REST API and Jenkins do.

github_checks (PASO 1.2), github_workflow (PASO 3.1), jenkins_status, jenkins_build: they pass,
fail and retry as docs/cicd.md says, stream what they see while it happens, and never write a
token anywhere (every byte of the run folder and every event is searched for it).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from iact_tui.engine import events as ev
from iact_tui.engine.checklist.load import load_checklist
from iact_tui.engine.checklist.problems import ChecklistError
from iact_tui.engine.checklist.values import Values
from tests.cicd_runs import Ran, checklist, run
from tests.fixtures_cicd import (
    GITHUB_TOKEN,
    JENKINS_TOKEN,
    JENKINS_USER,
    SHA,
    FakeGitHub,
    FakeJenkins,
    check_run,
    serving,
)
from tests.helpers import ROOT, cli, first_line_run

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with serving(FakeGitHub()) as fake:
        yield fake


@pytest.fixture
def jenkins() -> Iterator[FakeJenkins]:
    with serving(FakeJenkins()) as fake:
        yield fake


GITHUB_VARS = """
[vars.github_token]
secret = true
default = ""
env = "IACT_GITHUB_TOKEN"
"""

JENKINS_VARS = """
[vars.jenkins_token]
secret = true
default = ""
"""


def checks_step(
    url: str,
    required: str = '["unit tests", "integration tests", "linters", "security scans", "build"]',
    extra: str = "",
) -> str:
    return f"""
    [[phases.steps]]
    id = "ci"
    kind = "github_checks"
    repo = "iact/app"
    ref = "develop"
    api_url = "{url}"
    token = "{{github_token}}"
    required = {required}
    poll_interval = 0.02
    timeout = 10
    {extra}
    """


def no_token(ran: Ran, *texts: str) -> None:
    data = ran.everything() + "".join(texts).encode()
    for token in (GITHUB_TOKEN, JENKINS_TOKEN):
        assert token.encode() not in data
    basic = base64.b64encode(f"{JENKINS_USER}:{JENKINS_TOKEN}".encode())
    assert basic not in data


async def checks_run(tmp_path: Path, github: FakeGitHub, **kwargs: str) -> Ran:
    path = checklist(tmp_path, checks_step(github.url, **kwargs), GITHUB_VARS)
    return await run(path, tmp_path / "runs", {"github_token": GITHUB_TOKEN})


# -- github_checks ------------------------------------------------------------------------------


async def test_checks_pass_after_queued_and_in_progress_through_every_page(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.statuses = [
        {"context": "ci/jenkins", "state": "success", "target_url": "https://ci.example/1"}
    ]
    ran = await checks_run(tmp_path, github)
    assert ran.status == "succeeded", ran.step("ci").message
    assert ran.step("ci").message == (
        "every required check passed on develop (3f6e1b2): unit tests, integration tests, "
        "linters, security scans, build"
    )
    out = ran.output_of("ci").splitlines()
    assert out[0] == "iact/app at develop (3f6e1b2): feat(auth): implement JWT authentication"
    for name in ("unit tests", "build"):
        assert (
            out.index(f"  {name}: queued")
            < out.index(f"  {name}: in progress")
            < out.index(f"  {name}: success")
        )
    assert "  ci/jenkins (status): success" in out
    # five check runs in pages of two: every look read pages 1, 2 and 3 through the Link headers
    pages = [
        r.query.get("page", "1") for r in github.server.requests if r.path.endswith("/check-runs")
    ]  # type: ignore[union-attr]
    assert pages == ["1", "2", "3"] * 3
    assert all(
        r.headers["authorization"] == f"Bearer {GITHUB_TOKEN}" for r in github.server.requests
    )  # type: ignore[union-attr]
    assert all(r.headers["x-github-api-version"] == "2022-11-28" for r in github.server.requests)  # type: ignore[union-attr]
    assert ran.step("ci").evidence["commit"] == SHA
    # the log holds the same lines as the screen
    log = (ran.folder / "logs" / "ci.log").read_text()
    assert "  unit tests: in progress\n" in log
    no_token(ran)


async def test_each_state_is_shown_while_the_checks_still_run(
    tmp_path: Path, github: FakeGitHub
) -> None:
    ran = await checks_run(tmp_path, github)
    shown_at = next(
        t
        for t, e in ran.events
        if isinstance(e, ev.StepOutput) and "unit tests: in progress" in e.text
    )
    # GitHub had not yet said "completed" when the screen showed "in progress"
    assert shown_at < github.check_look_times[2]


async def test_failed_and_cancelled_checks_are_named_at_once(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.check_timeline = [
        [
            check_run(1, "unit tests", "completed", "failure"),
            check_run(2, "integration tests", "in_progress"),
            check_run(3, "linters", "completed", "cancelled"),
            check_run(4, "security scans", "completed", "success"),
            check_run(5, "build", "queued"),
        ]
    ]
    ran = await checks_run(tmp_path, github)
    assert ran.status == "failed"
    assert ran.step("ci").message == (
        "2 required checks did not pass on develop (3f6e1b2): unit tests (failure), linters "
        "(cancelled); see https://github.example/iact/app/runs/1"
    )
    assert github.check_looks == 1  # "Si algún check falla: NO proceder" — no waiting for the rest


async def test_a_rerun_replaces_the_failed_run_of_the_same_name(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.check_timeline = [
        [
            check_run(1, "unit tests", "completed", "failure"),
            check_run(9, "unit tests", "completed", "success"),
        ]
    ]
    ran = await checks_run(tmp_path, github, required='["Unit Tests"]')
    assert ran.status == "succeeded", ran.step("ci").message


async def test_a_failing_commit_status_fails_the_step(tmp_path: Path, github: FakeGitHub) -> None:
    github.check_timeline = [[check_run(1, "build", "completed", "success")]]
    github.statuses = [
        {"context": "security/snyk", "state": "failure", "target_url": "https://snyk.example/r/1"},
        {"context": "ci/lint", "state": "success", "target_url": ""},
    ]
    ran = await checks_run(tmp_path, github, required='["build", "security/*", "CI/LINT"]')
    assert ran.status == "failed"
    assert ran.step("ci").message == (
        "1 required check did not pass on develop (3f6e1b2): security/snyk (failure); "
        "see https://snyk.example/r/1"
    )


async def test_a_required_check_that_does_not_exist_is_named(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.check_timeline = [
        [
            check_run(1, "unit tests", "completed", "success"),
            check_run(2, "lint", "completed", "success"),
        ]
    ]
    ran = await checks_run(tmp_path, github, required='["unit tests", "e2e tests"]')
    assert ran.status == "failed"
    assert ran.step("ci").message == (
        "no check named 'e2e tests' on develop (3f6e1b2); the checks there are: lint, unit tests"
    )


async def test_checks_still_running_at_the_time_limit(tmp_path: Path, github: FakeGitHub) -> None:
    github.check_timeline = [
        [check_run(1, "unit tests", "in_progress"), check_run(2, "build", "completed", "success")]
    ]
    path = checklist(
        tmp_path,
        checks_step(github.url, required='["unit tests", "build"]').replace(
            "timeout = 10", "timeout = 0.3"
        ),
        GITHUB_VARS,
    )
    ran = await run(path, tmp_path / "runs", {"github_token": GITHUB_TOKEN})
    assert ran.status == "failed"
    assert ran.step("ci").message == (
        "after 0.3 s the required checks on develop (3f6e1b2) have not all finished: "
        "still running: unit tests (in progress)"
    )


async def test_rate_limit_is_waited_out_and_said(tmp_path: Path, github: FakeGitHub) -> None:
    github.rate_limited = 2
    ran = await checks_run(tmp_path, github)
    assert ran.status == "succeeded", ran.step("ci").message
    waits = [line for line in ran.output_of("ci").splitlines() if "rate limit" in line]
    assert len(waits) == 2
    assert waits[0].startswith("GitHub rate limit reached (HTTP 403): waiting 0 s, until ")
    no_token(ran)


async def test_rate_limit_past_the_time_limit_fails_with_the_time(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.rate_limited = 1
    github.rate_reset_in = 3600
    ran = await checks_run(tmp_path, github)
    assert ran.status == "failed"
    message = ran.step("ci").message
    assert message.startswith("GitHub's API rate limit is used up until ")
    assert message.endswith(
        "UTC, after this step's time limit of 10 s; retry the step then, or use a token with a higher limit"
    )


async def test_server_errors_are_retried_then_given_up(tmp_path: Path, github: FakeGitHub) -> None:
    github.server_errors = 2
    ran = await checks_run(tmp_path, github)
    assert ran.status == "succeeded", ran.step("ci").message
    assert "GitHub answered HTTP 502 Bad Gateway: retrying in 0.02 s (1/4)" in ran.output_of("ci")
    assert "GitHub answered HTTP 502 Bad Gateway: retrying in 0.04 s (2/4)" in ran.output_of("ci")

    github.server_errors = 100
    (tmp_path / "again").mkdir()
    ran = await checks_run(tmp_path / "again", github)
    assert ran.status == "failed"
    assert ran.step("ci").message == "GitHub answered HTTP 502 Bad Gateway (5 times in a row)"


async def test_a_revoked_token_fails_with_a_sentence_and_is_never_written(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.revoked = True
    ran = await checks_run(tmp_path, github)
    assert ran.status == "failed"
    assert ran.step("ci").message == (
        "GitHub refused the token (HTTP 401: Bad credentials) for commit or branch 'develop' in "
        "iact/app: it is missing, expired or revoked; set github_token to a valid token"
    )
    assert len(github.server.requests) == 1  # type: ignore[union-attr] - a 401 is not retried
    no_token(ran)


async def test_unknown_ref_is_named(tmp_path: Path, github: FakeGitHub) -> None:
    path = checklist(
        tmp_path,
        checks_step(github.url).replace('ref = "develop"', 'ref = "feature/nope"'),
        GITHUB_VARS,
    )
    ran = await run(path, tmp_path / "runs", {"github_token": GITHUB_TOKEN})
    assert ran.status == "failed"
    assert ran.step("ci").message == (
        "GitHub refused commit or branch 'feature/nope' in iact/app (HTTP 422: No commit found for SHA: feature/nope)"
    )
    assert github.server.requests[0].path == "/repos/iact/app/commits/feature%2Fnope"  # type: ignore[union-attr]


async def test_github_enterprise_base_url_keeps_its_path(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.prefix = "/api/v3"
    path = checklist(tmp_path, checks_step(github.url + "/api/v3"), GITHUB_VARS)
    ran = await run(path, tmp_path / "runs", {"github_token": GITHUB_TOKEN})
    # the fake serves /api/v3 only: passing means every request (pages too) went there
    assert ran.status == "succeeded", ran.step("ci").message
    assert all(r.path.startswith("/api/v3/repos/iact/app/") for r in github.server.requests)  # type: ignore[union-attr]


async def test_the_token_is_not_sent_to_another_host(tmp_path: Path, github: FakeGitHub) -> None:
    class Elsewhere(FakeGitHub):
        def _page(self, req, key, items, page, state=False):  # type: ignore[no-untyped-def]
            reply = super()._page(req, key, items, page, state)
            if "Link" in reply.headers:
                reply.headers["Link"] = reply.headers["Link"].replace("127.0.0.1", "localhost")
            return reply

    other = Elsewhere()
    other.server = github.server
    github.server.handle = other.handle  # type: ignore[union-attr]
    ran = await checks_run(tmp_path, other)
    assert ran.status == "failed"
    assert ran.step("ci").message == (
        "GitHub pointed the next page to another host (localhost); not followed, so that the "
        "token stays with the service"
    )


# -- github_workflow ----------------------------------------------------------------------------


def workflow_step(url: str, extra: str = "") -> str:
    return f"""
    [[phases.steps]]
    id = "deploy"
    kind = "github_workflow"
    repo = "iact/app"
    api_url = "{url}"
    token = "{{github_token}}"
    ref = "develop"
    inputs = {{ environment = "staging", version = "1.2.3" }}
    capture_run = {{ deploy_commit = "head_sha", deploy_commit_time = "head_commit.timestamp" }}
    poll_interval = 0.02
    timeout = 10
    {extra}
    """


async def workflow_run(tmp_path: Path, github: FakeGitHub, extra: str = "") -> Ran:
    path = checklist(tmp_path, workflow_step(github.url, extra), GITHUB_VARS)
    return await run(path, tmp_path / "runs", {"github_token": GITHUB_TOKEN})


async def test_workflow_is_dispatched_found_and_followed_to_success(
    tmp_path: Path, github: FakeGitHub
) -> None:
    ran = await workflow_run(tmp_path, github)
    assert ran.status == "succeeded", ran.step("deploy").message
    assert github.dispatches == [
        {
            "ref": "develop",
            "return_run_details": True,
            "inputs": {"environment": "staging", "version": "1.2.3"},
        }
    ]
    assert ran.step("deploy").message == (
        "workflow run #42 of deploy-staging.yml succeeded: https://github.example/iact/app/actions/runs/8001"
    )
    out = ran.output_of("deploy").splitlines()
    assert out[:2] == [
        "dispatched deploy-staging.yml on develop in iact/app",
        "waiting for GitHub to start the run",
    ]
    expected_in_order = [
        "run #42: https://github.example/iact/app/actions/runs/8001",
        "run #42: queued",
        "run #42: in progress",
        "  job deploy: in progress",
        "    step 2 Run migrations: in progress",
        "run #42: success",
        "    step 3 Restart services: success",
    ]
    positions = [out.index(line) for line in expected_in_order]
    assert positions == sorted(positions)
    # the run that existed before (7001) was not taken for ours
    assert all("/actions/runs/7001" not in r.path for r in github.server.requests)  # type: ignore[union-attr]
    captures = ran.report["run"]["captures"]
    assert captures["deploy_commit"] == SHA
    assert captures["deploy_commit_time"] == "2025-11-17T13:40:00Z"
    no_token(ran)


async def test_failed_workflow_run_names_job_step_and_url(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.run_conclusion = "failure"
    ran = await workflow_run(tmp_path, github)
    assert ran.status == "failed"
    assert ran.step("deploy").message == (
        "workflow run #42 of deploy-staging.yml finished: failure (job deploy, step Run migrations: "
        "failure); see https://github.example/iact/app/actions/runs/8001"
    )
    assert "deploy_commit" not in (ran.report["run"].get("captures") or {})


async def test_run_details_in_the_dispatch_answer_are_used(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.return_details = True
    github.run_hidden_looks = 100  # the list would never show it: the answer's id must be used
    ran = await workflow_run(tmp_path, github)
    assert ran.status == "succeeded", ran.step("deploy").message
    lists = [r for r in github.server.requests if r.path.endswith("/runs") and r.method == "GET"]  # type: ignore[union-attr]
    assert len(lists) == 1  # only the look before the dispatch


async def test_enterprise_without_run_details_is_dispatched_once_without_them(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.old_enterprise = True
    ran = await workflow_run(tmp_path, github)
    assert ran.status == "succeeded", ran.step("deploy").message
    assert github.dispatches == [
        {"ref": "develop", "inputs": {"environment": "staging", "version": "1.2.3"}}
    ]


async def test_a_refused_dispatch_is_explained_and_not_repeated(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.dispatch_error = 422
    ran = await workflow_run(tmp_path, github)
    assert ran.status == "failed"
    assert ran.step("deploy").message == (
        "GitHub refused the dispatch of deploy-staging.yml on develop in iact/app (HTTP 422: "
        "Workflow does not have 'workflow_dispatch' trigger)"
    )
    github.dispatch_error = 502
    (tmp_path / "b").mkdir()
    ran = await workflow_run(tmp_path / "b", github)
    assert ran.status == "failed"
    assert ran.step("deploy").message.startswith(
        "GitHub answered HTTP 502 to the dispatch of deploy-staging.yml on develop in iact/app; "
        "it may or may not have started a run"
    )
    posts = [r for r in github.server.requests if r.method == "POST"]  # type: ignore[union-attr]
    assert len(posts) == 2  # one per run: a 5xx dispatch is never sent again


async def test_a_run_that_never_shows_up_fails_after_find_timeout(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.run_hidden_looks = 10_000
    ran = await workflow_run(tmp_path, github, "find_timeout = 0.2")
    assert ran.status == "failed"
    assert ran.step("deploy").message == (
        "GitHub accepted the dispatch of deploy-staging.yml on develop, but no new run showed up "
        "within 0.2 s; look at the Actions tab of iact/app"
    )


async def test_a_run_still_going_at_the_time_limit_says_where_it_goes_on(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.run_script = ["in_progress"]
    path = checklist(
        tmp_path, workflow_step(github.url).replace("timeout = 10", "timeout = 0.5"), GITHUB_VARS
    )
    ran = await run(path, tmp_path / "runs", {"github_token": GITHUB_TOKEN})
    assert ran.status == "failed"
    assert ran.step("deploy").message == (
        "after 0.5 s workflow run #42 is still in progress; it goes on at GitHub: "
        "https://github.example/iact/app/actions/runs/8001"
    )


# -- jenkins ------------------------------------------------------------------------------------


def jenkins_build_step(url: str, extra: str = "") -> str:
    return f"""
    [[phases.steps]]
    id = "deploy"
    kind = "jenkins_build"
    url = "{url}"
    job = "deploy/staging"
    user = "{JENKINS_USER}"
    token = "{{jenkins_token}}"
    parameters = {{ BRANCH = "develop", VERSION = "1.2.3" }}
    poll_interval = 0.02
    timeout = 10
    {extra}
    """


async def jenkins_run(tmp_path: Path, jenkins: FakeJenkins, body: str) -> Ran:
    path = checklist(tmp_path, body, JENKINS_VARS)
    return await run(path, tmp_path / "runs", {"jenkins_token": JENKINS_TOKEN})


async def test_jenkins_build_is_triggered_followed_and_its_console_streamed(
    tmp_path: Path, jenkins: FakeJenkins
) -> None:
    ran = await jenkins_run(tmp_path, jenkins, jenkins_build_step(jenkins.url))
    assert ran.status == "succeeded", ran.step("deploy").message
    assert ran.step("deploy").message == (
        "Jenkins build #42 of deploy/staging succeeded: http://jenkins.internal:8080/job/deploy/job/staging/42/"
    )
    assert [t.form() for t in jenkins.triggers] == [{"BRANCH": "develop", "VERSION": "1.2.3"}]
    assert jenkins.triggers[0].path == "/job/deploy/job/staging/buildWithParameters"
    out = ran.output_of("deploy")
    # the queue item named by Location on a host name Jenkins got wrong was read on its own host
    assert "queued: Waiting for next available executor\n" in out
    assert "build #42 started: " in out
    # the console, read in pieces (a line split across two reads is whole), the token masked
    assert (
        "+ ./deploy.sh develop --token ***\nmigrating... done\nrestarting iact-gunicorn\nFinished: SUCCESS\n"
        in out
    )
    starts = [
        r.query["start"] for r in jenkins.server.requests if r.path.endswith("progressiveText")
    ]  # type: ignore[union-attr]
    assert starts[0] == "0" and starts == sorted(starts, key=int) and len(starts) == 5
    log = (ran.folder / "logs" / "deploy.log").read_text()
    assert "migrating... done\n" in log
    no_token(ran)


async def test_jenkins_build_failure_and_cancelled_queue_item(
    tmp_path: Path, jenkins: FakeJenkins
) -> None:
    jenkins.result = "FAILURE"
    ran = await jenkins_run(tmp_path, jenkins, jenkins_build_step(jenkins.url))
    assert ran.status == "failed"
    assert ran.step("deploy").message == (
        "Jenkins build #42 of deploy/staging ended FAILURE: http://jenkins.internal:8080/job/deploy/job/staging/42/"
    )
    jenkins.cancelled = True
    (tmp_path / "b").mkdir()
    ran = await jenkins_run(tmp_path / "b", jenkins, jenkins_build_step(jenkins.url))
    assert (
        ran.step("deploy").message
        == "the queued build of job deploy/staging was cancelled in Jenkins"
    )


async def test_jenkins_refuses_a_wrong_token(tmp_path: Path, jenkins: FakeJenkins) -> None:
    jenkins.token = "a-rotated-token"
    ran = await jenkins_run(tmp_path, jenkins, jenkins_build_step(jenkins.url))
    assert ran.status == "failed"
    assert ran.step("deploy").message == (
        "Jenkins refused user 'deployer' and its API token (HTTP 401) for the build of job "
        "deploy/staging; check jenkins_user and jenkins_token"
    )
    no_token(ran)


def jenkins_status_step(url: str, target: str) -> str:
    return f"""
    [[phases.steps]]
    id = "ci"
    kind = "jenkins_status"
    url = "{url}"
    job = "ci"
    user = "{JENKINS_USER}"
    token = "{{jenkins_token}}"
    {target}
    poll_interval = 0.02
    timeout = 10
    """


async def test_jenkins_status_of_a_branch_and_of_a_commit(
    tmp_path: Path, jenkins: FakeJenkins
) -> None:
    ran = await jenkins_run(
        tmp_path, jenkins, jenkins_status_step(jenkins.url, 'branch = "develop"')
    )
    assert ran.status == "succeeded", ran.step("ci").message
    assert (
        ran.step("ci").message
        == "Jenkins build #12 of ci (branch develop) succeeded: http://jenkins.example/job/ci/12/"
    )
    (tmp_path / "b").mkdir()
    ran = await jenkins_run(
        tmp_path / "b", jenkins, jenkins_status_step(jenkins.url, 'commit = "77aa0000"')
    )
    assert ran.status == "failed"
    assert (
        ran.step("ci").message
        == "Jenkins build #13 of ci (commit 77aa0000) ended FAILURE: http://jenkins.example/job/ci/13/"
    )


async def test_jenkins_status_waits_for_a_build_that_is_running(
    tmp_path: Path, jenkins: FakeJenkins
) -> None:
    building = FakeJenkins.build(14, None, SHA, "origin/develop", building=True)
    jenkins.builds.append(building)
    original = jenkins.handle

    def handle(req):  # type: ignore[no-untyped-def]
        if jenkins.build_looks >= 2:
            building.update(result="SUCCESS", building=False)
        return original(req)

    jenkins.server.handle = handle  # type: ignore[union-attr]
    ran = await jenkins_run(
        tmp_path, jenkins, jenkins_status_step(jenkins.url, f'commit = "{SHA[:10]}"')
    )
    assert ran.status == "succeeded", ran.step("ci").message
    out = ran.output_of("ci")
    assert out.index(f"build #14 of commit {SHA[:10]}: building") < out.index(
        f"build #14 of commit {SHA[:10]}: SUCCESS"
    )


async def test_jenkins_status_without_a_build_of_the_commit(
    tmp_path: Path, jenkins: FakeJenkins
) -> None:
    ran = await jenkins_run(
        tmp_path, jenkins, jenkins_status_step(jenkins.url, 'commit = "deadbeef"')
    )
    assert ran.status == "failed"
    assert (
        ran.step("ci").message
        == "Jenkins job ci has no build of commit deadbeef among its last 50 builds"
    )


# -- the checklist side: keys, checks, fallbacks ------------------------------------------------


def problems_of(tmp_path: Path, body: str, vars_: str = GITHUB_VARS) -> str:
    with pytest.raises(ChecklistError) as caught:
        load_checklist(checklist(tmp_path, body, vars_))
    return str(caught.value)


def test_a_token_must_come_from_a_secret_variable(tmp_path: Path) -> None:
    literal = checks_step("https://api.github.com").replace("{github_token}", "ghp_abc")
    assert (
        "a token must come from a secret variable: it is written in the checklist"
        in problems_of(tmp_path, literal)
    )
    plain = checks_step("https://api.github.com").replace("{github_token}", "{plain}")
    text = problems_of(tmp_path, plain, GITHUB_VARS + '[vars.plain]\ndefault = "x"\n')
    assert "'{plain}' is not a secret variable" in text
    assert (
        'hint: write token = "{github_token}" and declare [vars.github_token] with secret = true'
        in text
    )


def test_service_keys_are_checked_with_line_and_hint(tmp_path: Path) -> None:
    text = problems_of(tmp_path, checks_step("api.github.com").replace("iact/app", "iact"))
    lines = (tmp_path / "c.toml").read_text().splitlines()
    line = lines.index('repo = "iact"') + 1
    assert f"c.toml:{line}: phases[0].steps[0].repo: 'iact' is not a GitHub repository name" in text
    assert "phases[0].steps[0].api_url: 'api.github.com' is not an http:// or https:// URL" in text
    typo = problems_of(
        tmp_path, checks_step("https://api.github.com").replace("required =", "requried =")
    )
    assert "unknown key 'requried' (hint: did you mean 'required'?)" in typo
    kind = problems_of(tmp_path, checks_step("https://x").replace("github_checks", "github_check"))
    assert "did you mean 'github_checks'?" in kind
    unless = problems_of(
        tmp_path,
        checks_step("https://x", extra='unless = "github_rep"'),
        GITHUB_VARS + '[vars.github_repo]\ndefault = ""\n',
    )
    assert (
        "phases[0].steps[0].unless: unknown variable or capture 'github_rep' (hint: did you mean 'github_repo'?)"
        in unless
    )


def test_staging_uses_the_services_only_when_configured() -> None:
    staging = load_checklist(ROOT / "checklists" / "staging.toml").checklist

    def applies(step_id: str, **overrides: str) -> bool:
        values = Values.resolve(staging, overrides, environ={})
        return not staging.step(step_id).not_applicable_reason(values.values)

    assert [applies(s) for s in ("ci-checks", "ci-jenkins", "ci-green")] == [False, False, True]
    assert [
        applies(s, github_repo="iact/app") for s in ("ci-checks", "ci-jenkins", "ci-green")
    ] == [True, False, False]
    assert [applies(s, jenkins_ci_job="ci") for s in ("ci-checks", "ci-jenkins", "ci-green")] == [
        False,
        True,
        False,
    ]
    deploy = ("workflow-run", "jenkins-deploy", "workflow-dispatch", "workflow-status")
    assert [applies(s) for s in deploy] == [False, False, True, True]
    assert [applies(s, github_repo="iact/app") for s in deploy] == [True, False, False, False]
    assert [applies(s, github_repo="iact/app", jenkins_deploy_job="deploy") for s in deploy] == [
        False,
        True,
        False,
        False,
    ]
    assert staging.step("workflow-run").capture_run == {
        "deploy_commit": "head_sha",
        "deploy_commit_time": "head_commit.timestamp",
    }
    assert "deploy_commit_time" in staging.step("pull-code").capture
    assert staging.step("ci-checks").required == [
        "unit tests",
        "integration tests",
        "linters",
        "security scans",
        "build",
    ]
    assert staging.step("workflow-run").changes and not staging.step("ci-checks").changes


async def test_unless_makes_the_manual_tick_the_fallback_in_a_run(
    tmp_path: Path, github: FakeGitHub
) -> None:
    body = (
        checks_step(github.url, extra='when = "github_repo"')
        + """
    [[phases.steps]]
    id = "ci-green"
    kind = "manual"
    unless = ["github_repo", "jenkins_ci_job"]
    """
    )
    vars_ = GITHUB_VARS + '[vars.github_repo]\ndefault = ""\n[vars.jenkins_ci_job]\ndefault = ""\n'
    path = checklist(tmp_path, body, vars_)
    ran = await run(
        path, tmp_path / "runs", {"github_token": GITHUB_TOKEN, "github_repo": "iact/app"}
    )
    assert ran.status == "succeeded"
    assert ran.step("ci").status == "passed"
    assert ran.step("ci-green").status == "not_applicable"
    ran = await run(path, tmp_path / "runs2", {"github_token": GITHUB_TOKEN})
    assert ran.status == "paused"  # nobody to tick it here: the manual fallback waits
    assert ran.step("ci").status == "not_applicable"
    assert ran.step("ci-green").status == "waiting"


# -- through the command line -------------------------------------------------------------------


def test_headless_run_reads_the_token_from_the_environment_and_never_prints_it(
    tmp_path: Path, github: FakeGitHub
) -> None:
    path = checklist(tmp_path, checks_step(github.url), GITHUB_VARS)
    runs = tmp_path / "runs"
    done = cli(
        "run",
        str(path),
        "--headless",
        "-v",
        "--runs-dir",
        str(runs),
        env={"IACT_GITHUB_TOKEN": GITHUB_TOKEN},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "  unit tests: in progress" in done.stdout
    _, folder = first_line_run(done.stdout)
    dry = cli(
        "run",
        str(path),
        "--dry-run",
        "--runs-dir",
        str(runs),
        env={"IACT_GITHUB_TOKEN": GITHUB_TOKEN},
    )
    assert "[reads]   ci: GitHub checks of iact/app at develop" in dry.stdout
    github.revoked = True
    failed = cli(
        "run",
        str(path),
        "--headless",
        "--runs-dir",
        str(runs),
        env={"IACT_GITHUB_TOKEN": GITHUB_TOKEN},
    )
    assert failed.returncode == 1
    assert "GitHub refused the token (HTTP 401: Bad credentials)" in failed.stdout
    everything = b"".join(p.read_bytes() for p in runs.rglob("*") if p.is_file())
    for text in (done.stdout, done.stderr, dry.stdout, failed.stdout, failed.stderr):
        assert GITHUB_TOKEN not in text
    assert GITHUB_TOKEN.encode() not in everything
    assert (folder / "report.toml").exists()
