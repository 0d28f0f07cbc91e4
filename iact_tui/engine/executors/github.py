"""GitHub through its REST API: the CI checks of a commit (PASO 1.2) and a deploy workflow run
(PASO 3.1 Opción A).

``github_checks`` passes only when every required check run and commit status of the commit
concluded ``success``; it polls while they are queued or running and names the ones that failed
or do not exist. ``github_workflow`` dispatches a workflow, finds the run it started, follows its
jobs and steps to the run's conclusion and fails with the run's address when it fails.

GitHub Enterprise: ``api_url = "https://HOST/api/v3"``. The token (a secret variable) is sent
only in the ``Authorization`` header to ``api_url``'s host.
"""

from __future__ import annotations

import fnmatch
import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx

from iact_tui.engine.checklist.values import Values
from iact_tui.engine.executors.base import Automatic, Outcome, StepContext
from iact_tui.engine.executors.http import json_path
from iact_tui.engine.executors.service import (
    Deadline,
    ServiceClient,
    ServiceError,
    api_message,
)

API_VERSION = "2022-11-28"
MISSING_GRACE_POLLS = 3  # looks at a commit whose required check does not exist, nothing running
RUN_CREATED_SLACK = timedelta(seconds=5)  # GitHub's clock vs the dispatch answer's Date header
FULL_SHA = re.compile(r"[0-9a-fA-F]{40}")

_WORDS = {
    "in_progress": "in progress",
    "timed_out": "timed out",
    "action_required": "action required",
    "startup_failure": "startup failure",
}


def _word(state: str) -> str:
    return _WORDS.get(state, state)


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def github_client(ctx: StepContext, step: Any, deadline: Deadline, out: Any) -> ServiceClient:
    values = ctx.values
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
    token = values.text(step.token).strip() if step.token else ""
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return ServiceClient(
        ctx,
        service="GitHub",
        base_url=values.text(step.api_url).strip(),
        deadline=deadline,
        poll_interval=step.poll_interval,
        out=out,
        headers=headers,
        verify_tls=step.verify_tls,
    )


def github_problem(what: str, writes: bool = False) -> Any:
    """The sentence for a GitHub answer that is not a success, for one kind of request."""

    def explain(response: httpx.Response) -> str:
        code = response.status_code
        said = api_message(response)
        detail = f": {said}" if said else ""
        if code == 401:
            return (
                f"GitHub refused the token (HTTP 401{detail}) for {what}: it is missing, "
                "expired or revoked; set github_token to a valid token"
            )
        if code == 403:
            need = "write access to Actions" if writes else "read access to the repository"
            return f"GitHub denied {what} (HTTP 403{detail}); the token needs {need}"
        if code == 404:
            return (
                f"GitHub found no {what} (HTTP 404); check the repository, the names and the ref, "
                "and that the token can see the repository"
            )
        if code == 422:
            return f"GitHub refused {what} (HTTP 422{detail})"
        return f"GitHub answered HTTP {code} for {what}{detail}"

    return explain


# -- github_checks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    source: str  # "check run" or "status"
    state: str  # queued, in_progress, pending, success, failure, cancelled ...
    done: bool
    url: str

    @property
    def ok(self) -> bool:
        return self.done and self.state == "success"

    @property
    def key(self) -> tuple[str, str]:
        return self.source, self.name


def _check_run(run: dict[str, Any]) -> Check:
    status = str(run.get("status") or "queued")
    url = str(run.get("html_url") or run.get("details_url") or "")
    if status == "completed":
        return Check(
            str(run.get("name")), "check run", str(run.get("conclusion") or "unknown"), True, url
        )
    return Check(str(run.get("name")), "check run", status, False, url)


def _status(status: dict[str, Any]) -> Check:
    state = str(status.get("state") or "pending")
    return Check(
        str(status.get("context")),
        "status",
        state,
        state != "pending",
        str(status.get("target_url") or ""),
    )


def matches(pattern: str, name: str) -> bool:
    """A required name: the check's name, case-insensitive; ``*`` and ``?`` are wildcards."""
    pattern, name = pattern.strip().casefold(), name.strip().casefold()
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern == name


@dataclass
class Verdict:
    passed: list[Check]
    failed: list[Check]
    pending: list[Check]
    missing: list[str]


def evaluate(required: list[str], checks: list[Check]) -> Verdict:
    chosen: dict[tuple[str, str], Check] = {}
    missing: list[str] = []
    if required:
        for pattern in required:
            found = [c for c in checks if matches(pattern, c.name)]
            if not found:
                missing.append(pattern)
            chosen.update((c.key, c) for c in found)
    else:
        chosen = {c.key: c for c in checks}
        if not chosen:
            missing.append("any check")
    picked = list(chosen.values())
    return Verdict(
        passed=[c for c in picked if c.ok],
        failed=[c for c in picked if c.done and not c.ok],
        pending=[c for c in picked if not c.done],
        missing=missing,
    )


class GitHubChecksExecutor(Automatic):
    kind: ClassVar[str] = "github_checks"

    def describe(self, step: Any, values: Values) -> str:
        # masked by value too: a plain variable may hold a secret's value
        return values.redactor(self._describe(step, values))

    def _describe(self, step: Any, values: Values) -> str:
        required = ", ".join(values.display_text(r) for r in step.required) or "every check"
        return (
            f"GitHub checks of {values.display_text(step.repo)} at {values.display_text(step.ref)} "
            f"({values.display_text(step.api_url)}); required: {required}"
        )

    async def execute(self, ctx: StepContext) -> Outcome:
        step = ctx.step
        values = ctx.values
        deadline = Deadline(step.time_limit)
        out = ctx.output()
        api = github_client(ctx, step, deadline, out)
        try:
            return await self._check(ctx, api, deadline)
        except ServiceError as exc:
            return Outcome(False, values.redactor(exc.message))
        finally:
            out.close()
            await api.aclose()

    async def _check(self, ctx: StepContext, api: ServiceClient, deadline: Deadline) -> Outcome:
        step = ctx.step
        values = ctx.values
        repo = values.text(step.repo).strip()
        ref = values.text(step.ref).strip()
        required = [r for r in (values.text(r).strip() for r in step.required) if r]
        repo_path = "/repos/" + "/".join(_quote(p) for p in repo.split("/", 1))
        sha, title = await _resolve(api, repo_path, repo, ref)
        short = sha[:7]
        where = ref if ref.lower() == sha.lower() else f"{ref} ({short})"
        api.say(f"{repo} at {where}: {title}" if title else f"{repo} at {where}")
        api.say(f"required: {', '.join(required) if required else 'every check on the commit'}")
        shown: dict[tuple[str, str], str] = {}
        missing_polls = 0
        while True:
            runs = await api.get_pages(
                f"{repo_path}/commits/{sha}/check-runs",
                "check_runs",
                github_problem(f"the check runs of {repo} at {where}"),
                {"filter": "latest"},
            )
            statuses = await api.get_pages(
                f"{repo_path}/commits/{sha}/status",
                "statuses",
                github_problem(f"the commit statuses of {repo} at {where}"),
            )
            checks = _latest(runs) + [_status(s) for s in statuses]
            for check in checks:
                if shown.get(check.key) != check.state:
                    shown[check.key] = check.state
                    label = f"{check.name} (status)" if check.source == "status" else check.name
                    api.say(f"  {label}: {_word(check.state)}")
            verdict = evaluate(required, checks)
            evidence = {
                "repo": repo,
                "ref": ref,
                "commit": sha,
                "checks": {c.name: c.state for c in checks},
            }
            if verdict.failed:
                named = ", ".join(f"{c.name} ({_word(c.state)})" for c in verdict.failed)
                link = next((c.url for c in verdict.failed if c.url), "")
                count = len(verdict.failed)
                return Outcome(
                    False,
                    f"{count} required check{'s' if count > 1 else ''} did not pass on {where}: {named}"
                    + (f"; see {link}" if link else ""),
                    evidence=evidence,
                )
            if not verdict.pending and not verdict.missing:
                if required:
                    what = f"every required check passed on {where}: {', '.join(required)}"
                else:
                    what = f"all {len(verdict.passed)} checks passed on {where}"
                return Outcome(True, what, evidence=evidence)
            missing_polls = missing_polls + 1 if verdict.missing and not verdict.pending else 0
            if missing_polls >= MISSING_GRACE_POLLS:
                there = ", ".join(sorted({c.name for c in checks})) or "none"
                return Outcome(
                    False,
                    f"no check named {', '.join(repr(m) for m in verdict.missing)} on {where}; "
                    f"the checks there are: {there}",
                    evidence=evidence,
                )
            if deadline.over:
                still = ", ".join(f"{c.name} ({_word(c.state)})" for c in verdict.pending) or "none"
                gone = f"; missing: {', '.join(verdict.missing)}" if verdict.missing else ""
                return Outcome(
                    False,
                    f"after {deadline.seconds:g} s the required checks on {where} have not all "
                    f"finished: still running: {still}{gone}",
                    evidence=evidence,
                )
            await deadline.sleep(step.poll_interval)


async def _resolve(api: ServiceClient, repo_path: str, repo: str, ref: str) -> tuple[str, str]:
    """The commit sha of a branch, tag or sha, and its title."""
    data = await api.get_json(
        f"{repo_path}/commits/{_quote(ref)}", github_problem(f"commit or branch '{ref}' in {repo}")
    )
    sha = str(data.get("sha") or "") if isinstance(data, dict) else ""
    if not FULL_SHA.fullmatch(sha):
        raise ServiceError(f"GitHub's answer for '{ref}' in {repo} names no commit")
    message = str((data.get("commit") or {}).get("message") or "")
    return sha, message.splitlines()[0] if message else ""


def _latest(runs: list[Any]) -> list[Check]:
    """One check run per name: the newest (a re-run gets a higher id)."""
    newest: dict[str, dict[str, Any]] = {}
    for run in runs:
        if not isinstance(run, dict):
            continue
        name = str(run.get("name"))
        if name not in newest or int(run.get("id") or 0) > int(newest[name].get("id") or 0):
            newest[name] = run
    return [_check_run(r) for r in newest.values()]


# -- github_workflow ----------------------------------------------------------------------------


class GitHubWorkflowExecutor(Automatic):
    kind: ClassVar[str] = "github_workflow"

    def describe(self, step: Any, values: Values) -> str:
        # masked by value too: a plain variable may hold a secret's value
        return values.redactor(self._describe(step, values))

    def _describe(self, step: Any, values: Values) -> str:
        inputs = "".join(
            f" {values.display_text(k)}={values.display_text(v)}" for k, v in step.inputs.items()
        )
        return (
            f"dispatch the GitHub Actions workflow {values.display_text(step.workflow)} of "
            f"{values.display_text(step.repo)} on {values.display_text(step.ref)}{inputs} "
            f"({values.display_text(step.api_url)}), then follow its run to the end"
        )

    async def execute(self, ctx: StepContext) -> Outcome:
        step = ctx.step
        deadline = Deadline(step.time_limit)
        out = ctx.output()
        api = github_client(ctx, step, deadline, out)
        try:
            return await _WorkflowRun(ctx, api, deadline).run()
        except ServiceError as exc:
            return Outcome(False, ctx.values.redactor(exc.message))
        finally:
            out.close()
            await api.aclose()


class _WorkflowRun:
    def __init__(self, ctx: StepContext, api: ServiceClient, deadline: Deadline) -> None:
        self.ctx = ctx
        self.step = ctx.step
        self.api = api
        self.deadline = deadline
        values = ctx.values
        self.repo = values.text(self.step.repo).strip()
        self.workflow = values.text(self.step.workflow).strip()
        self.ref = values.text(self.step.ref).strip()
        self.inputs = {values.text(k): values.text(v) for k, v in self.step.inputs.items()}
        self.repo_path = "/repos/" + "/".join(_quote(p) for p in self.repo.split("/", 1))
        self.workflow_path = f"{self.repo_path}/actions/workflows/{_quote(self.workflow)}"
        self.shown: dict[Any, str] = {}

    async def run(self) -> Outcome:
        before = await self._run_ids()
        run_id, since = await self._dispatch()
        self.api.say(f"dispatched {self.workflow} on {self.ref} in {self.repo}")
        run = await (self._get_run(run_id) if run_id else self._find_run(since, before))
        self.api.say(f"run #{run.get('run_number')}: {run.get('html_url')}")
        try:
            return await self._follow(run)
        except BaseException:
            # Interrupted or cancelled here, the run goes on at GitHub: say where to look.
            self.ctx.log.write(f"the workflow run goes on at GitHub: {run.get('html_url')}\n")
            raise

    async def _run_ids(self) -> set[int]:
        """The runs that exist before the dispatch, so that ours is the new one."""
        data = await self.api.get_json(
            f"{self.workflow_path}/runs",
            github_problem(f"workflow {self.workflow} in {self.repo}"),
            {"event": "workflow_dispatch", "per_page": 30},
        )
        return {int(r["id"]) for r in _runs_of(data)}

    async def _dispatch(self) -> tuple[int | None, datetime]:
        body: dict[str, Any] = {"ref": self.ref, "return_run_details": True}
        if self.inputs:
            body["inputs"] = self.inputs
        what = f"the dispatch of {self.workflow} on {self.ref} in {self.repo}"
        url = f"{self.workflow_path}/dispatches"
        response = await self.api.request("POST", url, json=body, retry_transient=False)
        if response.status_code in (400, 422) and "return_run_details" in response.text:
            # GitHub Enterprise before the run details existed: dispatch without asking for them
            body.pop("return_run_details")
            response = await self.api.request("POST", url, json=body, retry_transient=False)
        if response.status_code >= 500:
            raise ServiceError(
                f"GitHub answered HTTP {response.status_code} to {what}; it may or may not have "
                f"started a run: look at the Actions tab of {self.repo} before retrying"
            )
        if response.status_code not in (200, 201, 204):
            raise ServiceError(github_problem(what, writes=True)(response))
        since = _server_time(response)
        run_id: int | None = None
        if response.status_code == 200 and response.content:
            try:
                found = response.json().get("workflow_run_id")
            except (ValueError, AttributeError):
                found = None
            run_id = int(found) if isinstance(found, int) or str(found).isdigit() else None
        return run_id, since

    async def _get_run(self, run_id: int) -> dict[str, Any]:
        data = await self.api.get_json(
            f"{self.repo_path}/actions/runs/{run_id}",
            github_problem(f"workflow run {run_id} in {self.repo}"),
        )
        if not isinstance(data, dict) or "id" not in data:
            raise ServiceError(f"GitHub's answer for workflow run {run_id} is not a run")
        return data

    async def _find_run(self, since: datetime, before: set[int]) -> dict[str, Any]:
        """The run the dispatch started: new, dispatched, created at or after the dispatch."""
        limit = Deadline(min(self.step.find_timeout, max(self.deadline.left(), 0.0)))
        after = since - RUN_CREATED_SLACK
        stamp = after.strftime("%Y-%m-%dT%H:%M:%SZ")
        said = False
        while True:
            data = await self.api.get_json(
                f"{self.workflow_path}/runs",
                github_problem(f"the runs of workflow {self.workflow} in {self.repo}"),
                {"event": "workflow_dispatch", "created": f">={stamp}", "per_page": 30},
            )
            new = [
                r
                for r in _runs_of(data)
                if int(r["id"]) not in before
                and r.get("event", "workflow_dispatch") == "workflow_dispatch"
                and _created(r) >= after
            ]
            if new:
                return min(new, key=lambda r: int(r["id"]))  # the first one after the dispatch
            if limit.over:
                raise ServiceError(
                    f"GitHub accepted the dispatch of {self.workflow} on {self.ref}, but no new run "
                    f"showed up within {limit.seconds:g} s; look at the Actions tab of {self.repo}"
                )
            if not said:
                self.api.say("waiting for GitHub to start the run")
                said = True
            await limit.sleep(self.step.poll_interval)

    async def _follow(self, run: dict[str, Any]) -> Outcome:
        run_id = int(run["id"])
        number = run.get("run_number", run_id)
        while True:
            run = await self._get_run(run_id)
            jobs = await self.api.get_pages(
                f"{self.repo_path}/actions/runs/{run_id}/jobs",
                "jobs",
                github_problem(f"the jobs of workflow run #{number} in {self.repo}"),
                {"filter": "latest"},
            )
            self._show(("run",), f"run #{number}", run)
            for job in jobs:
                if not isinstance(job, dict):
                    continue
                self._show(("job", job.get("id")), f"  job {job.get('name')}", job)
                for s in job.get("steps") or []:
                    if isinstance(s, dict) and s.get("status") in ("in_progress", "completed"):
                        label = f"    step {s.get('number')} {s.get('name')}"
                        self._show(("step", job.get("id"), s.get("number")), label, s)
            url = str(run.get("html_url") or "")
            evidence = {
                "run_id": run_id,
                "run_number": number,
                "html_url": url,
                "head_sha": run.get("head_sha"),
                "conclusion": run.get("conclusion"),
            }
            if run.get("status") == "completed":
                conclusion = str(run.get("conclusion") or "unknown")
                if conclusion != "success":
                    where = _failed_parts(jobs)
                    return Outcome(
                        False,
                        f"workflow run #{number} of {self.workflow} finished: {_word(conclusion)}"
                        + (f" ({where})" if where else "")
                        + f"; see {url}",
                        evidence=evidence,
                    )
                problems = self._capture(run)
                if problems:
                    return Outcome(False, "; ".join(problems), evidence=evidence)
                return Outcome(
                    True,
                    f"workflow run #{number} of {self.workflow} succeeded: {url}",
                    evidence=evidence,
                )
            if self.deadline.over:
                return Outcome(
                    False,
                    f"after {self.deadline.seconds:g} s workflow run #{number} is still "
                    f"{_word(str(run.get('status')))}; it goes on at GitHub: {url}",
                    evidence=evidence,
                )
            await self.deadline.sleep(self.step.poll_interval)

    def _show(self, key: Any, label: str, item: dict[str, Any]) -> None:
        status = str(item.get("status") or "queued")
        state = str(item.get("conclusion") or "unknown") if status == "completed" else status
        if status == "waiting" and key == ("run",):
            state = "waiting (for an approval on GitHub: an environment protection rule)"
        if self.shown.get(key) != state:
            self.shown[key] = state
            self.api.say(f"{label}: {_word(state)}")

    def _capture(self, run: dict[str, Any]) -> list[str]:
        problems = []
        for name, path in self.step.capture_run.items():
            try:
                value = json_path(run, path)
                if value is None:
                    raise KeyError(path)
            except KeyError:
                problems.append(f"the workflow run has no field '{path}' to capture as {name}")
                continue
            self.ctx.capture(name, value if isinstance(value, str) else str(value))
        return problems


def _runs_of(data: Any) -> list[dict[str, Any]]:
    runs = data.get("workflow_runs") if isinstance(data, dict) else None
    return [r for r in runs or [] if isinstance(r, dict) and str(r.get("id", "")).isdigit()]


def _created(run: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(run.get("created_at")).replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)  # no date: do not rule it out on time


def _server_time(response: httpx.Response) -> datetime:
    """When GitHub received the dispatch (its Date header), else our clock."""
    try:
        moment = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _failed_parts(jobs: list[Any]) -> str:
    parts = []
    for job in jobs:
        if not isinstance(job, dict) or job.get("conclusion") in (None, "success", "skipped"):
            continue
        steps = [
            s.get("name")
            for s in job.get("steps") or []
            if isinstance(s, dict) and s.get("conclusion") not in (None, "success", "skipped")
        ]
        parts.append(
            f"job {job.get('name')}"
            + (f", step {steps[0]}" if steps else "")
            + f": {_word(str(job.get('conclusion')))}"
        )
    return "; ".join(parts)
