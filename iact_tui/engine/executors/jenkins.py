"""Jenkins through its JSON API: the CI result of a commit (PASO 1.2) and a deploy job (PASO 3.1).

``jenkins_status`` looks at the job's recent builds (``/job/NAME/api/json?tree=builds[...]``),
takes the newest one that built the commit (or the branch), waits while it is building, and
passes when its result is SUCCESS. ``jenkins_build`` triggers the job
(``buildWithParameters``), follows the queue item from the ``Location`` header to the build,
streams the build's console as it grows (``logText/progressiveText``) and passes on SUCCESS.

Authentication is basic auth with a user and that user's API token (a secret variable), which
Jenkins accepts without a CSRF crumb. Self-hosted Jenkins: ``url`` is a variable.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, ClassVar

import httpx

from iact_tui.engine.checklist.values import Values
from iact_tui.engine.executors.base import Automatic, Outcome, StepContext
from iact_tui.engine.executors.service import Deadline, ServiceClient, ServiceError

BUILDS_LOOKED_AT = 50
MISSING_GRACE_POLLS = 3
BUILDS_TREE = (
    "builds[number,result,building,url,actions[lastBuiltRevision[SHA1,branch[SHA1,name]]]]"
    f"{{0,{BUILDS_LOOKED_AT}}}"
)


def job_path(job: str) -> str:
    """``folder/name`` -> ``/job/folder/job/name``."""
    return "".join(
        f"/job/{urllib.parse.quote(part, safe='')}" for part in job.strip("/").split("/")
    )


def jenkins_client(ctx: StepContext, step: Any, deadline: Deadline, out: Any) -> ServiceClient:
    values = ctx.values
    user = values.text(step.user).strip() if step.user else ""
    token = values.text(step.token).strip() if step.token else ""
    return ServiceClient(
        ctx,
        service="Jenkins",
        base_url=values.text(step.url).strip(),
        deadline=deadline,
        poll_interval=step.poll_interval,
        out=out,
        auth=httpx.BasicAuth(user, token) if user else None,
        verify_tls=step.verify_tls,
    )


def jenkins_problem(what: str, user: str) -> Any:
    def explain(response: httpx.Response) -> str:
        code = response.status_code
        if code == 401:
            who = f"user {user!r} and its API token" if user else "an anonymous request"
            return (
                f"Jenkins refused {who} (HTTP 401) for {what}; check jenkins_user and jenkins_token"
            )
        if code == 403:
            if "crumb" in response.text[:4000].lower():
                return (
                    f"Jenkins asked for a CSRF crumb for {what} (HTTP 403): authenticate with the "
                    "user's API token, not a password"
                )
            return f"Jenkins denied {what} (HTTP 403): the user lacks the permission"
        if code == 404:
            return f"Jenkins has no {what} (HTTP 404); check the job name and the Jenkins URL"
        return f"Jenkins answered HTTP {code} for {what}"

    return explain


def _start(ctx: StepContext) -> tuple[Deadline, Any, ServiceClient, str, str]:
    step = ctx.step
    deadline = Deadline(step.time_limit)
    out = ctx.output()
    api = jenkins_client(ctx, step, deadline, out)
    job = ctx.values.text(step.job).strip()
    user = ctx.values.text(step.user).strip() if step.user else ""
    return deadline, out, api, job, user


# -- jenkins_status -----------------------------------------------------------------------------


def _revisions(build: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for action in build.get("actions") or []:
        revision = action.get("lastBuiltRevision") if isinstance(action, dict) else None
        if isinstance(revision, dict):
            found.append(revision)
    return found


def _branch_name(name: str) -> str:
    for prefix in ("refs/remotes/", "refs/heads/"):
        name = name.removeprefix(prefix)
    return name


def built_commit(build: dict[str, Any], commit: str) -> bool:
    commit = commit.lower()
    for revision in _revisions(build):
        shas = [
            revision.get("SHA1"),
            *(b.get("SHA1") for b in revision.get("branch") or [] if isinstance(b, dict)),
        ]
        if any(isinstance(s, str) and s.lower().startswith(commit) for s in shas):
            return True
    return False


def built_branch(build: dict[str, Any], branch: str) -> bool:
    for revision in _revisions(build):
        for b in revision.get("branch") or []:
            name = _branch_name(str(b.get("name") or "")) if isinstance(b, dict) else ""
            if name == branch or name.endswith("/" + branch):
                return True
    return False


class JenkinsStatusExecutor(Automatic):
    kind: ClassVar[str] = "jenkins_status"

    def describe(self, step: Any, values: Values) -> str:
        # masked by value too: a plain variable may hold a secret's value
        return values.redactor(self._describe(step, values))

    def _describe(self, step: Any, values: Values) -> str:
        return (
            f"Jenkins job {values.display_text(step.job)} at {values.display_text(step.url)}: "
            f"the last build of {_target(step, values.display_text)} is SUCCESS"
        )

    async def execute(self, ctx: StepContext) -> Outcome:
        deadline, out, api, job, user = _start(ctx)
        try:
            return await self._check(ctx, api, deadline, job, user)
        except ServiceError as exc:
            return Outcome(False, ctx.values.redactor(exc.message))
        finally:
            out.close()
            await api.aclose()

    async def _check(
        self, ctx: StepContext, api: ServiceClient, deadline: Deadline, job: str, user: str
    ) -> Outcome:
        step = ctx.step
        commit = ctx.values.text(step.commit).strip() if step.commit else ""
        branch = ctx.values.text(step.branch).strip() if step.branch else ""
        if commit and len(commit) < 7:
            return Outcome(
                False,
                f"commit '{commit}' is too short to name a commit: give 7 or more characters of its sha",
            )
        target = _target(step, ctx.values.text)
        explain = jenkins_problem(f"job {job}", user)
        shown = ""
        missing_polls = 0
        while True:
            data = await api.get_json(f"{job_path(job)}/api/json", explain, {"tree": BUILDS_TREE})
            builds = (
                [b for b in (data.get("builds") or []) if isinstance(b, dict)]
                if isinstance(data, dict)
                else []
            )
            builds.sort(key=lambda b: int(b.get("number") or 0), reverse=True)
            if commit:
                build = next((b for b in builds if built_commit(b, commit)), None)
            elif branch:
                build = next((b for b in builds if built_branch(b, branch)), None)
            else:
                build = builds[0] if builds else None
            if build is None:
                missing_polls += 1
                if missing_polls == 1:
                    api.say(f"no build of {job} for {target} yet")
                if missing_polls >= MISSING_GRACE_POLLS:
                    return Outcome(
                        False,
                        f"Jenkins job {job} has no build of {target} among its last {BUILDS_LOOKED_AT} builds",
                    )
            else:
                missing_polls = 0
                number, url = build.get("number"), str(build.get("url") or "")
                result = build.get("result")
                state = "building" if build.get("building") or result is None else str(result)
                if state != shown:
                    shown = state
                    api.say(f"build #{number} of {target}: {state}")
                evidence = {"job": job, "build": number, "result": result, "url": url}
                if state == "SUCCESS":
                    return Outcome(
                        True,
                        f"Jenkins build #{number} of {job} ({target}) succeeded: {url}",
                        evidence=evidence,
                    )
                if state != "building":
                    return Outcome(
                        False,
                        f"Jenkins build #{number} of {job} ({target}) ended {state}: {url}",
                        evidence=evidence,
                    )
            if deadline.over:
                return Outcome(
                    False,
                    f"after {deadline.seconds:g} s Jenkins has no finished build of {job} for {target}",
                )
            await deadline.sleep(step.poll_interval)


def _target(step: Any, render: Any) -> str:
    if step.commit:
        return f"commit {render(step.commit)}"
    if step.branch:
        return f"branch {render(step.branch)}"
    return "the job"


# -- jenkins_build ------------------------------------------------------------------------------


class JenkinsBuildExecutor(Automatic):
    kind: ClassVar[str] = "jenkins_build"

    def describe(self, step: Any, values: Values) -> str:
        # masked by value too: a plain variable may hold a secret's value
        return values.redactor(self._describe(step, values))

    def _describe(self, step: Any, values: Values) -> str:
        how = "buildWithParameters" if step.parameters else "build"
        params = "".join(
            f" {values.display_text(k)}={values.display_text(v)}"
            for k, v in step.parameters.items()
        )
        return (
            f"POST {values.display_text(step.url)}{job_path(values.display_text(step.job))}/{how}"
            f"{params}, then follow the build and its console"
        )

    async def execute(self, ctx: StepContext) -> Outcome:
        deadline, out, api, job, user = _start(ctx)
        console = ctx.output()
        try:
            return await self._build(ctx, api, console, deadline, job, user)
        except ServiceError as exc:
            return Outcome(False, ctx.values.redactor(exc.message))
        finally:
            console.close()
            out.close()
            await api.aclose()

    async def _build(
        self,
        ctx: StepContext,
        api: ServiceClient,
        console: Any,
        deadline: Deadline,
        job: str,
        user: str,
    ) -> Outcome:
        step = ctx.step
        params = {ctx.values.text(k): ctx.values.text(v) for k, v in step.parameters.items()}
        path = job_path(job)
        what = f"the build of job {job}"
        response = await api.request(
            "POST",
            f"{path}/{'buildWithParameters' if params else 'build'}",
            data=params or None,
            retry_transient=False,
        )
        if response.status_code >= 500:
            raise ServiceError(
                f"Jenkins answered HTTP {response.status_code} to {what}; it may or may not have "
                f"queued a build: look at job {job} before retrying"
            )
        if response.status_code not in (200, 201, 302, 303):
            raise ServiceError(jenkins_problem(what, user)(response))
        location = response.headers.get("location", "")
        if "/queue/item/" not in location:
            raise ServiceError(
                f"Jenkins accepted {what} but did not say where it is queued (no queue Location)"
            )
        queue_url = api.url(location).rstrip("/") + "/"
        api.say(f"queued: {queue_url}")
        number, build_url = await self._wait_in_queue(api, deadline, queue_url, job, user)
        api.say(f"build #{number} started: {build_url}")
        try:
            await self._stream_console(api, console, deadline, path, number, job, user)
            return await self._result(api, deadline, path, number, job, user, build_url)
        except BaseException:
            ctx.log.write(f"the build goes on at Jenkins: {build_url}\n")
            raise

    async def _wait_in_queue(
        self, api: ServiceClient, deadline: Deadline, queue_url: str, job: str, user: str
    ) -> tuple[int, str]:
        explain = jenkins_problem(f"the queue item of job {job}", user)
        why_shown = ""
        while True:
            item = await api.get_json(queue_url + "api/json", explain)
            if not isinstance(item, dict):
                raise ServiceError("Jenkins' queue item is not a JSON object")
            if item.get("cancelled"):
                raise ServiceError(f"the queued build of job {job} was cancelled in Jenkins")
            executable = item.get("executable")
            if isinstance(executable, dict) and str(executable.get("number", "")).isdigit():
                return int(executable["number"]), str(executable.get("url") or "")
            why = " ".join(str(item.get("why") or "waiting").split())
            if why != why_shown:
                why_shown = why
                api.say(f"queued: {why}")
            if deadline.over:
                raise ServiceError(
                    f"after {deadline.seconds:g} s the build of job {job} is still queued: {why}"
                )
            await deadline.sleep(api.poll_interval)

    async def _stream_console(
        self,
        api: ServiceClient,
        console: Any,
        deadline: Deadline,
        path: str,
        number: int,
        job: str,
        user: str,
    ) -> None:
        explain = jenkins_problem(f"the console of build #{number} of job {job}", user)
        start = 0
        while True:
            response = await api.request(
                "GET", f"{path}/{number}/logText/progressiveText", params={"start": start}
            )
            if response.status_code == 404 and start == 0 and not deadline.over:
                await deadline.sleep(api.poll_interval)  # the build exists before its log does
                continue
            if response.status_code != 200:
                raise ServiceError(explain(response))
            console.feed_text(response.text)
            size = response.headers.get("x-text-size", "")
            start = int(size) if size.isdigit() else start + len(response.content)
            if response.headers.get("x-more-data", "").lower() != "true":
                return
            if deadline.over:
                raise ServiceError(
                    f"after {deadline.seconds:g} s build #{number} of job {job} is still running; "
                    "it goes on at Jenkins"
                )
            await deadline.sleep(api.poll_interval)

    async def _result(
        self,
        api: ServiceClient,
        deadline: Deadline,
        path: str,
        number: int,
        job: str,
        user: str,
        build_url: str,
    ) -> Outcome:
        explain = jenkins_problem(f"build #{number} of job {job}", user)
        while True:
            build = await api.get_json(
                f"{path}/{number}/api/json",
                explain,
                {"tree": "number,result,building,url,duration"},
            )
            result = build.get("result") if isinstance(build, dict) else None
            url = str(build.get("url") or build_url) if isinstance(build, dict) else build_url
            building = bool(build.get("building")) if isinstance(build, dict) else False
            evidence = {"job": job, "build": number, "result": result, "url": url}
            if result is not None and not building:
                api.say(f"build #{number}: {result}")
                if result == "SUCCESS":
                    return Outcome(
                        True,
                        f"Jenkins build #{number} of {job} succeeded: {url}",
                        evidence=evidence,
                    )
                return Outcome(
                    False,
                    f"Jenkins build #{number} of {job} ended {result}: {url}",
                    evidence=evidence,
                )
            if deadline.over:
                return Outcome(
                    False,
                    f"after {deadline.seconds:g} s build #{number} of job {job} has no result yet: {url}",
                    evidence=evidence,
                )
            await deadline.sleep(api.poll_interval)
