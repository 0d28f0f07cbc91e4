"""Team notices (PASO 1.4, 5.2, 6.4): the staging checklist's three messages, filled from a run,
reach webhook servers on loopback exactly as Slack, Mattermost and Teams expect them; retries
back off; a webhook that is down warns without failing the run; no secret reaches a channel."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from iact_tui.engine import events as ev
from iact_tui.engine.checklist.load import load_checklist
from iact_tui.engine.checklist.problems import ChecklistError
from tests.cicd_runs import Ran, checklist, run
from tests.fixtures_cicd import WEBHOOK_SECRET_PATH, FakeWebhook, serving
from tests.helpers import ROOT

pytestmark = pytest.mark.timeout(60)

STAGING = load_checklist(ROOT / "checklists" / "staging.toml").checklist
START, SUCCESS, ROLLBACK = (
    STAGING.step(s).message for s in ("notify-start", "notify-success", "notify-rollback")
)

BACKOFF = "backoff = 0.01\n"  # fast retries, unless a test sets its own

WEBHOOK_VAR = """
[vars.webhook_url]
secret = true
default = ""
"""


@pytest.fixture
def hook() -> Iterator[FakeWebhook]:
    with serving(FakeWebhook()) as fake:
        yield fake


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def notice(message: str, extra: str = "", step_id: str = "notice") -> str:
    return f"""
    [[phases.steps]]
    id = "{step_id}"
    kind = "notify"
    webhook = "{{webhook_url}}"
    message = {toml_string(message)}
    {extra if "backoff" in extra else BACKOFF + extra}
    """


def seed_vars(**values: str) -> str:
    return WEBHOOK_VAR + "".join(
        f"[vars.{k}]\ndefault = {toml_string(v)}\n" for k, v in values.items()
    )


async def post(tmp_path: Path, hook: FakeWebhook, body: str, vars_: str, **overrides: str) -> Ran:
    path = checklist(tmp_path, body, vars_)
    return await run(path, tmp_path / "runs", {"webhook_url": hook.url, **overrides})


def warning_of(ran: Ran, step_id: str) -> str:
    """The warning the report's journal recorded for the step's (last) attempt."""
    finished = [
        e for e in ran.report["events"] if e["type"] == "step_finished" and e["step"] == step_id
    ]
    return str(finished[-1].get("warning", ""))


def everything_of(ran: Ran) -> bytes:
    return ran.everything()


# -- the seed's three messages ------------------------------------------------------------------


async def test_start_notice_reaches_slack_exactly_as_the_procedure_writes_it(
    tmp_path: Path, hook: FakeWebhook
) -> None:
    vars_ = seed_vars(
        branch="develop",
        commit_summary='abc1234 - "feat(auth): implement JWT authentication"',
        eta_minutes="15",
        expected_downtime="0",
    )
    ran = await post(tmp_path, hook, notice(START), vars_)
    assert ran.status == "succeeded", ran.step("notice").message
    assert [p.json() for p in hook.posts] == [
        {
            "text": "🚀 Starting deployment to staging\n\n"
            "Branch: develop\n"
            'Commit: abc1234 - "feat(auth): implement JWT authentication"\n'
            "ETA: 15 minutos\n"
            "Expected downtime: 0 minutos\n\n"
            "Status updates: 🧵"
        }
    ]
    assert hook.posts[0].headers["content-type"] == "application/json"
    assert ran.step("notice").message == "posted to the slack webhook (HTTP 200)"
    assert WEBHOOK_SECRET_PATH.encode() not in everything_of(ran)  # the webhook URL is a secret


async def test_success_notice_has_the_version_and_the_runs_duration(
    tmp_path: Path, hook: FakeWebhook
) -> None:
    vars_ = seed_vars(new_version="1.2.3", expected_downtime="0")
    ran = await post(
        tmp_path, hook, notice(SUCCESS, 'format = "mattermost"\nchannel = "town-square"'), vars_
    )
    assert ran.status == "succeeded", ran.step("notice").message
    assert [p.json() for p in hook.posts] == [
        {
            "text": "✅ Deployment to staging SUCCESSFUL\n\n"
            "Version: 1.2.3\n"
            "Duration: 0 minutos\n"  # {elapsed_minutes}: this run took less than a minute
            "Downtime: 0 minutos\n\n"
            "Health checks: ✅ All passing\n"
            "Smoke tests: ✅ All passing\n\n"
            "Staging ready for testing!",
            "channel": "town-square",
        }
    ]


async def test_rollback_notice_has_the_reason_and_the_target(
    tmp_path: Path, hook: FakeWebhook
) -> None:
    body = f"""
    [[phases.steps]]
    id = "deploy"
    kind = "local"
    run = "echo migrating; exit 3"
    on_failure = "rollback"

    [[phases]]
    id = "rollback-notify"
    title = "Notify the rollback"
    rollback = true
    {notice(ROLLBACK, step_id="notify-rollback")}
    """
    vars_ = seed_vars(prev_version="1.2.2", prev_commit="abc1234")
    path = checklist(tmp_path, body, vars_)
    ran = await run(path, tmp_path / "runs", {"webhook_url": hook.url}, on_failure="rollback")
    assert ran.status == "rolled_back"
    assert [p.json() for p in hook.posts] == [
        {
            "text": "⚠️ ROLLBACK executed on staging\n\n"
            "Reason: step 'deploy' failed: the command exited with status 3 (expected 0)\n"
            "Rolled back to: version 1.2.2 (commit abc1234)\n"
            "Status: ✅ Staging stable\n\n"
            "Investigation ongoing."
        }
    ]


async def test_teams_workflow_webhook_gets_an_adaptive_card_one_block_per_line(
    tmp_path: Path, hook: FakeWebhook
) -> None:
    hook.status = 202  # a Teams workflow accepts the post for later
    ran = await post(
        tmp_path,
        hook,
        notice("⚠️ ROLLBACK executed\n\nReason: {why}\nStatus: ok", 'format = "teams"'),
        seed_vars(why="health failed"),
    )
    assert ran.step("notice").message == "posted to the teams webhook (HTTP 202)"
    assert hook.posts[0].json() == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": "⚠️ ROLLBACK executed",
                            "wrap": True,
                            "weight": "Bolder",
                            "size": "Medium",
                        },
                        {"type": "TextBlock", "text": "Reason: health failed", "wrap": True},
                        {
                            "type": "TextBlock",
                            "text": "Status: ok",
                            "wrap": True,
                            "spacing": "None",
                        },
                    ],
                },
            }
        ],
    }


# -- secrets ------------------------------------------------------------------------------------


async def test_a_secret_value_never_reaches_the_channel(tmp_path: Path, hook: FakeWebhook) -> None:
    # a plain value that happens to hold a secret's value: masked by value all the same (a plain
    # *variable* holding one is refused at start; a capture is kept as a secret, never written)
    vars_ = WEBHOOK_VAR + '[vars.api_key]\nsecret = true\n'
    secret = "K3Y-s3cr3t-value"
    source = """
    [[phases.steps]]
    id = "rotate"
    kind = "local"
    run = "echo note=rotated {api_key} today"
    capture = { note = '^note=(.*)$' }
    """
    ran = await post(tmp_path, hook, source + notice("Note: {note}"), vars_, api_key=secret)
    assert ran.status == "succeeded", ran.step("notice").message
    assert hook.posts[0].json() == {"text": "Note: ***"}  # the whole capture is secret now
    assert secret.encode() not in everything_of(ran)
    notice_events = [e for _, e in ran.events if getattr(e, "step_id", "") == "notice"]
    assert "Note: ***" in repr(notice_events) and secret not in repr(notice_events)
    assert secret not in (ran.folder / "logs" / "notice.log").read_text()


def test_check_refuses_a_secret_in_a_notice(tmp_path: Path) -> None:
    path = checklist(tmp_path, notice("token {webhook_url}"), WEBHOOK_VAR)
    with pytest.raises(ChecklistError) as caught:
        load_checklist(path)
    assert "a team notice must not contain the secret '{webhook_url}'" in str(caught.value)


# -- retries, backoff, failures -----------------------------------------------------------------


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed on leaving: nothing listens there


async def test_a_down_webhook_warns_and_the_run_goes_on(tmp_path: Path) -> None:
    port = refused_port()
    body = (
        notice(START)
        + """
    [[phases.steps]]
    id = "after"
    kind = "local"
    run = "echo still deploying"
    """
    )
    vars_ = seed_vars(
        branch="develop", commit_summary="abc1234", eta_minutes="15", expected_downtime="0"
    )
    path = checklist(tmp_path, body, vars_)
    url = f"http://127.0.0.1:{port}{WEBHOOK_SECRET_PATH}"
    ran = await run(path, tmp_path / "runs", {"webhook_url": url})
    assert ran.status == "succeeded"
    assert ran.step("notice").status == "passed" and ran.step("after").status == "passed"
    warning = f"the notice could not be posted: could not connect to 127.0.0.1:{port}: connection refused; send it by hand"
    assert warning_of(ran, "notice") == warning
    assert any(
        isinstance(e, ev.Notice) and e.level == "warning" and warning in e.text
        for _, e in ran.events
    )
    log = (ran.folder / "logs" / "notice.log").read_text()
    assert "attempt 1: could not connect" in log and "trying again in 0.01 s" in log
    assert "trying again in 0.02 s" in log and "attempt 3: could not connect" in log
    assert WEBHOOK_SECRET_PATH.encode() not in everything_of(ran)


async def test_retries_back_off_doubling_and_a_required_notice_fails(
    tmp_path: Path, hook: FakeWebhook
) -> None:
    hook.fail_first = 100
    ran = await post(tmp_path, hook, notice("hello", "required = true\nbackoff = 0.1"), WEBHOOK_VAR)
    assert ran.status == "failed"
    assert (
        ran.step("notice").message
        == "the notice could not be posted: the webhook answered HTTP 500"
    )
    times = [p.at for p in hook.posts]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.1 and times[2] - times[1] >= 0.2


async def test_a_passing_failure_is_retried_until_posted(tmp_path: Path, hook: FakeWebhook) -> None:
    hook.fail_first = 1
    ran = await post(tmp_path, hook, notice("hello"), WEBHOOK_VAR)
    assert ran.step("notice").message == "posted to the slack webhook (HTTP 200)"
    assert [p.json() for p in hook.posts] == [{"text": "hello"}] * 2


async def test_a_client_error_is_not_retried(tmp_path: Path, hook: FakeWebhook) -> None:
    hook.status = 404
    ran = await post(tmp_path, hook, notice("hello"), WEBHOOK_VAR)
    assert ran.status == "succeeded"
    assert len(hook.posts) == 1
    assert warning_of(ran, "notice") == (
        "the notice could not be posted: the webhook answered HTTP 404; send it by hand"
    )


async def test_too_many_requests_waits_as_long_as_retry_after_says(
    tmp_path: Path, hook: FakeWebhook
) -> None:
    hook.fail_first, hook.fail_status, hook.retry_after = 1, 429, "0"
    # with the 30 s backoff this test would time out: Retry-After (0 s) is what is waited
    ran = await post(tmp_path, hook, notice("hello", "backoff = 30"), WEBHOOK_VAR)
    assert ran.step("notice").message == "posted to the slack webhook (HTTP 200)"
    assert len(hook.posts) == 2


async def test_without_a_webhook_the_notice_waits_to_be_ticked_sent(tmp_path: Path) -> None:
    path = checklist(tmp_path, notice("hello"), WEBHOOK_VAR)
    ran = await run(path, tmp_path / "runs", {})
    assert ran.status == "paused"
    assert ran.step("notice").status == "waiting"
