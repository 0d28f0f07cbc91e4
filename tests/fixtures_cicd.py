"""Loopback HTTP servers that answer as the GitHub REST API, Jenkins and team webhooks do.

The shapes follow the services' documentation: check runs that go queued -> in_progress ->
completed with a conclusion, combined commit statuses, pagination with ``Link`` headers, primary
rate limits (403 + ``x-ratelimit-remaining: 0`` + ``x-ratelimit-reset``), 5xx answers, a revoked
token (401 "Bad credentials"), a workflow dispatch (204, or 200 with the run's details) and its
runs, jobs and steps; Jenkins' queue item -> executable, progressive console text with
``X-Text-Size`` / ``X-More-Data``, builds with ``lastBuiltRevision``. Each fake keeps state and
records every request, so a test can see what was asked, in what order, with which headers.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GITHUB_TOKEN = "ghp_Fake0Token0For0Tests0Only0x9Z"
JENKINS_TOKEN = "11aa22bb33cc44dd55ee66ff77gg88hh"
JENKINS_USER = "deployer"
WEBHOOK_SECRET_PATH = "/hooks/T000/B000/XyZsEcReT"

SHA = "3f6e1b2c4d5a69788796a5b4c3d2e1f001122334"
OLD_SHA = "9a8b7c6d5e4f30211203f4e5d6c7b8a998877665"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode()))


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict / list: JSON; str: text; bytes: as is; None: empty
    headers: dict[str, str] = field(default_factory=dict)


class Loopback:
    """An HTTP server on 127.0.0.1 (ephemeral port) that asks ``handle`` for every answer."""

    def __init__(self, handle: Callable[[Request], Reply]) -> None:
        self.handle = handle
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed ACK

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urllib.parse.urlsplit(self.path)
                req = Request(
                    self.command,
                    split.path,
                    dict(urllib.parse.parse_qsl(split.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.monotonic(),
                )
                with owner.lock:
                    owner.requests.append(req)
                    reply = owner.handle(req)
                if isinstance(reply.body, dict | list):
                    data = json.dumps(reply.body).encode()
                    ctype = "application/json; charset=utf-8"
                elif isinstance(reply.body, str):
                    data, ctype = reply.body.encode(), "text/plain; charset=utf-8"
                else:
                    data, ctype = reply.body or b"", "application/octet-stream"
                self.send_response(reply.status)
                headers = {"Content-Type": ctype, "Date": formatdate(usegmt=True), **reply.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Loopback:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def paths(self, method: str = "") -> list[str]:
        return [r.path for r in self.requests if not method or r.method == method]


# -- GitHub -------------------------------------------------------------------------------------


def check_run(run_id: int, name: str, status: str, conclusion: str | None = None) -> dict[str, Any]:
    return {
        "id": run_id,
        "name": name,
        "head_sha": SHA,
        "status": status,
        "conclusion": conclusion,
        "html_url": f"https://github.example/iact/app/runs/{run_id}",
        "app": {"slug": "github-actions"},
    }


SEED_CHECKS = ["unit tests", "integration tests", "linters", "security scans", "build"]


class FakeGitHub:
    """The parts of the REST API the GitHub kinds use, with a scripted timeline."""

    def __init__(self) -> None:
        self.token = GITHUB_TOKEN
        self.revoked = False
        self.refs = {"develop": SHA, SHA: SHA}
        # one entry per look at the check runs: the runs GitHub has at that moment
        self.check_timeline: list[list[dict[str, Any]]] = [
            [check_run(100 + i, n, "queued") for i, n in enumerate(SEED_CHECKS)],
            [check_run(100 + i, n, "in_progress") for i, n in enumerate(SEED_CHECKS)],
            [check_run(100 + i, n, "completed", "success") for i, n in enumerate(SEED_CHECKS)],
        ]
        self.statuses: list[dict[str, Any]] = []
        self.page_size = 2  # small pages: every list is paginated
        self.check_looks = 0
        self.check_look_times: list[float] = []  # when each look at the check runs was served
        self.rate_limited = 0  # the next N requests get a primary rate limit answer
        self.rate_reset_in = 0.0  # seconds from now in x-ratelimit-reset
        self.dispatch_error: int | None = None  # answer the dispatch with this status
        self.prefix = ""  # GitHub Enterprise Server: "/api/v3"
        self.server_errors = 0  # the next N requests get HTTP 502
        # workflows
        self.runs: list[dict[str, Any]] = [self._run(7001, 41, "completed", "success", age=3600)]
        self.dispatches: list[dict[str, Any]] = []
        self.return_details = False  # answer the dispatch with 200 + the run's id
        self.old_enterprise = False  # refuse return_run_details as an unknown key (422)
        self.run_hidden_looks = 1  # lists of runs that do not show the new run yet
        self.run_script = ["queued", "in_progress", "in_progress", "completed"]
        self.run_conclusion = "success"
        self.run_looks: dict[int, int] = {}
        self.completed_served_at: float | None = None
        self.server: Loopback | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def _run(
        self, run_id: int, number: int, status: str, conclusion: str | None, age: float = 0
    ) -> dict[str, Any]:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - age))
        return {
            "id": run_id,
            "run_number": number,
            "name": "Deploy to staging",
            "event": "workflow_dispatch",
            "head_branch": "develop",
            "head_sha": SHA,
            "head_commit": {
                "id": SHA,
                "timestamp": "2025-11-17T13:40:00Z",
                "message": "feat(auth): JWT",
            },
            "status": status,
            "conclusion": conclusion,
            "created_at": created,
            "html_url": f"https://github.example/iact/app/actions/runs/{run_id}",
        }

    def handle(self, req: Request) -> Reply:
        if self.rate_limited:
            self.rate_limited -= 1
            return Reply(
                403,
                {
                    "message": "API rate limit exceeded for user ID 1.",
                    "documentation_url": "https://docs.github.com",
                },
                {
                    "x-ratelimit-limit": "5000",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": str(int(time.time() + self.rate_reset_in)),
                },
            )
        if self.server_errors:
            self.server_errors -= 1
            return Reply(502, {"message": "Server Error"})
        if self.revoked or req.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(
                401,
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
            )
        if not req.path.startswith(self.prefix + "/"):
            return Reply(404, {"message": "Not Found"})
        parts = req.path[len(self.prefix) :].strip("/").split("/")
        if parts[:3] != ["repos", "iact", "app"]:
            return Reply(404, {"message": "Not Found"})
        rest = parts[3:]
        if rest[:1] == ["commits"] and len(rest) == 2:
            ref = urllib.parse.unquote(rest[1])
            if ref not in self.refs:
                return Reply(422, {"message": f"No commit found for SHA: {ref}"})
            return Reply(
                200,
                {
                    "sha": self.refs[ref],
                    "commit": {"message": "feat(auth): implement JWT authentication\n\nbody"},
                },
            )
        if rest[:1] == ["commits"] and rest[2:] == ["check-runs"]:
            page = int(req.query.get("page", "1"))
            if page == 1:
                self.check_looks += 1
                self.check_look_times.append(time.monotonic())
            runs = self.check_timeline[min(self.check_looks, len(self.check_timeline)) - 1]
            return self._page(req, "check_runs", runs, page)
        if rest[:1] == ["commits"] and rest[2:] == ["status"]:
            page = int(req.query.get("page", "1"))
            return self._page(req, "statuses", self.statuses, page, state=True)
        if rest[:3] == ["actions", "workflows", "deploy-staging.yml"]:
            return self._workflow(req, rest[3:])
        if rest[:2] == ["actions", "runs"] and len(rest) >= 3:
            return self._run_reply(int(rest[2]), rest[3:])
        return Reply(404, {"message": "Not Found"})

    def _page(
        self, req: Request, key: str, items: list[Any], page: int, state: bool = False
    ) -> Reply:
        size = self.page_size
        chunk = items[(page - 1) * size : page * size]
        body: dict[str, Any] = {"total_count": len(items), key: chunk}
        if state:
            states = {s["state"] for s in items}
            body["state"] = (
                "failure"
                if states & {"failure", "error"}
                else "pending"
                if "pending" in states or not items
                else "success"
            )
            body["sha"] = SHA
        headers = {}
        if page * size < len(items):
            query = {k: v for k, v in req.query.items() if k != "page"}
            query["page"] = str(page + 1)
            headers["Link"] = f'<{self.url}{req.path}?{urllib.parse.urlencode(query)}>; rel="next"'
        return Reply(200, body, headers)

    def _workflow(self, req: Request, rest: list[str]) -> Reply:
        if rest == ["dispatches"] and req.method == "POST":
            body = req.json()
            if self.dispatch_error is not None:
                return Reply(
                    self.dispatch_error,
                    {"message": "Workflow does not have 'workflow_dispatch' trigger"},
                )
            if self.old_enterprise and "return_run_details" in body:
                return Reply(
                    422,
                    {"message": 'Invalid request.\n\n"return_run_details" is not a permitted key.'},
                )
            self.dispatches.append(body)
            run_id = 8000 + len(self.dispatches)
            self.runs.append(self._run(run_id, 41 + len(self.dispatches), "queued", None))
            self.hidden_until = self.run_hidden_looks
            if self.return_details and body.get("return_run_details"):
                return Reply(
                    200,
                    {
                        "workflow_run_id": run_id,
                        "run_url": f"{self.url}/repos/iact/app/actions/runs/{run_id}",
                        "html_url": f"https://github.example/iact/app/actions/runs/{run_id}",
                    },
                )
            return Reply(204, None)
        if rest == ["runs"]:
            runs = self.runs
            if self.dispatches and getattr(self, "hidden_until", 0) > 0:
                self.hidden_until -= 1
                runs = runs[:-1]
            return Reply(200, {"total_count": len(runs), "workflow_runs": list(reversed(runs))})
        return Reply(404, {"message": "Not Found"})

    def _run_reply(self, run_id: int, rest: list[str]) -> Reply:
        run = next((r for r in self.runs if r["id"] == run_id), None)
        if run is None:
            return Reply(404, {"message": "Not Found"})
        if not rest:
            look = self.run_looks.get(run_id, 0)
            self.run_looks[run_id] = look + 1
            status = self.run_script[min(look, len(self.run_script) - 1)]
            run["status"] = status
            run["conclusion"] = self.run_conclusion if status == "completed" else None
            if status == "completed" and self.completed_served_at is None:
                self.completed_served_at = time.monotonic()
            return Reply(200, run)
        if rest == ["jobs"]:
            return Reply(200, {"total_count": 2, "jobs": self._jobs(run)})
        return Reply(404, {"message": "Not Found"})

    def _jobs(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        status, conclusion = run["status"], run["conclusion"]
        done = status == "completed"

        def step(number: int, name: str, failing: bool = False) -> dict[str, Any]:
            if status == "queued":
                return {"name": name, "number": number, "status": "queued", "conclusion": None}
            if not done:
                return {
                    "name": name,
                    "number": number,
                    "status": "completed"
                    if number == 1
                    else "in_progress"
                    if number == 2
                    else "queued",
                    "conclusion": "success" if number == 1 else None,
                }
            return {
                "name": name,
                "number": number,
                "status": "completed",
                "conclusion": conclusion if failing and conclusion != "success" else "success",
            }

        build = {
            "id": 1,
            "name": "build",
            "status": "completed" if status != "queued" else "queued",
            "conclusion": "success" if status != "queued" else None,
            "steps": [
                {"name": "Set up job", "number": 1, "status": "completed", "conclusion": "success"}
            ]
            if status != "queued"
            else [],
        }
        deploy = {
            "id": 2,
            "name": "deploy",
            "status": status,
            "conclusion": conclusion,
            "steps": [
                step(1, "Set up job"),
                step(2, "Run migrations", failing=True),
                step(3, "Restart services"),
            ],
        }
        return [build, deploy]


# -- Jenkins ------------------------------------------------------------------------------------


CONSOLE = [
    "Started by user deployer\n",
    "Running as SYSTEM\nBuilding in workspace /var/jenkins/workspace/deploy-staging\n",
    f"+ ./deploy.sh develop --token {JENKINS_TOKEN}\nmigrating... ",
    "done\nrestarting iact-gunicorn\n",
    "Finished: SUCCESS\n",
]


class FakeJenkins:
    def __init__(self) -> None:
        self.user, self.token = JENKINS_USER, JENKINS_TOKEN
        self.queue_looks = 0
        self.queue_waits = 2  # looks at the queue item before it has an executable
        self.cancelled = False
        self.console = list(CONSOLE)
        self.console_looks = 0
        self.result = "SUCCESS"
        self.triggers: list[Request] = []
        self.builds: list[dict[str, Any]] = [
            self.build(12, "SUCCESS", OLD_SHA, "origin/develop"),
            self.build(13, "FAILURE", "77aa" + "0" * 36, "origin/feature/x"),
        ]
        self.build_looks = 0
        self.server: Loopback | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    @staticmethod
    def build(
        number: int, result: str | None, sha: str, branch: str, building: bool = False
    ) -> dict[str, Any]:
        return {
            "_class": "hudson.model.FreeStyleBuild",
            "number": number,
            "result": result,
            "building": building,
            "url": f"http://jenkins.example/job/ci/{number}/",
            "actions": [
                {"_class": "hudson.model.CauseAction"},
                {},
                {
                    "_class": "hudson.plugins.git.util.BuildData",
                    "lastBuiltRevision": {
                        "SHA1": sha,
                        "branch": [{"SHA1": sha, "name": f"refs/remotes/{branch}"}],
                    },
                },
            ],
        }

    def handle(self, req: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        if req.headers.get("authorization") != expected:
            return Reply(401, "<html><body>Invalid password/token for user</body></html>")
        path = req.path
        if path == "/job/ci/api/json":
            self.build_looks += 1
            return Reply(
                200,
                {"_class": "hudson.model.FreeStyleProject", "builds": list(reversed(self.builds))},
            )
        if (
            path in ("/job/deploy/job/staging/buildWithParameters", "/job/deploy/job/staging/build")
            and req.method == "POST"
        ):
            self.triggers.append(req)
            # a Jenkins behind a proxy names its own (wrong) root URL: only the path must be used
            return Reply(201, None, {"Location": "http://jenkins.internal:8080/queue/item/77/"})
        if path == "/queue/item/77/api/json":
            self.queue_looks += 1
            if self.cancelled:
                return Reply(
                    200,
                    {
                        "_class": "hudson.model.Queue$LeftItem",
                        "id": 77,
                        "cancelled": True,
                        "executable": None,
                    },
                )
            if self.queue_looks <= self.queue_waits:
                return Reply(
                    200,
                    {
                        "_class": "hudson.model.Queue$WaitingItem",
                        "id": 77,
                        "why": "Waiting for next available executor",
                        "executable": None,
                    },
                )
            return Reply(
                200,
                {
                    "_class": "hudson.model.Queue$LeftItem",
                    "id": 77,
                    "cancelled": False,
                    "executable": {
                        "_class": "hudson.model.FreeStyleBuild",
                        "number": 42,
                        "url": "http://jenkins.internal:8080/job/deploy/job/staging/42/",
                    },
                },
            )
        if path == "/job/deploy/job/staging/42/logText/progressiveText":
            start = int(req.query.get("start", "0"))
            full = "".join(self.console[: self.console_looks + 1])
            self.console_looks += 1
            more = self.console_looks < len(self.console)
            headers = {"X-Text-Size": str(len(full.encode()))}
            if more:
                headers["X-More-Data"] = "true"
            return Reply(200, full.encode()[start:].decode(), headers)
        if path == "/job/deploy/job/staging/42/api/json":
            return Reply(
                200,
                {
                    "number": 42,
                    "building": False,
                    "result": self.result,
                    "url": "http://jenkins.internal:8080/job/deploy/job/staging/42/",
                },
            )
        return Reply(404, "<html>Not Found</html>")


# -- webhooks -----------------------------------------------------------------------------------


class FakeWebhook:
    """An incoming-webhook endpoint: records the posts; can fail the first ones."""

    def __init__(self, status: int = 200, body: Any = "ok") -> None:
        self.status = status
        self.body = body
        self.fail_first = 0
        self.fail_status = 500
        self.retry_after: str | None = None
        self.posts: list[Request] = []
        self.server: Loopback | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url + WEBHOOK_SECRET_PATH

    def handle(self, req: Request) -> Reply:
        if req.path != WEBHOOK_SECRET_PATH:
            return Reply(404, "no_service")
        self.posts.append(req)
        if self.fail_first:
            self.fail_first -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return Reply(self.fail_status, "busy", headers)
        return Reply(self.status, self.body)


@contextlib.contextmanager
def serving(fake: Any) -> Iterator[Any]:
    """A fake (FakeGitHub, FakeJenkins, FakeWebhook) answering on its own loopback server."""
    with Loopback(fake.handle) as server:
        fake.server = server
        yield fake
