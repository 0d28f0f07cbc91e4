"""What the CI/CD executors (GitHub, Jenkins) share: a time limit, waits said on screen, errors
in one sentence.

Both services answer the same way when they are busy: a rate limit (HTTP 403 or 429 with
``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``, or ``retry-after``), a 5xx while they
restart, a refused connection. Those are waited out inside the step's time limit, and every
wait is one line of the step's output. Everything else becomes a ``ServiceError`` whose message
names what failed. A token only ever travels in a request header: no message, line or URL
written here holds it, and every line is masked by value before it is written anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from iact_tui.engine.errors import IactError
from iact_tui.engine.executors.base import OutputCollector, StepContext
from iact_tui.engine.executors.http import connection_message

REQUEST_TIMEOUT = 30.0  # seconds for one request (less when the step's time runs out first)
MAX_TRANSIENT = 5  # 5xx answers or connection failures in a row before the step fails
MAX_PAGES = 50  # pages of one paginated list (100 items each)
MAX_BACKOFF = 60.0
DEFAULT_RATE_LIMIT_WAIT = 60.0  # GitHub: "wait at least one minute" when no header says more


class ServiceError(IactError):
    """A problem with the service, already worded for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Deadline:
    """The step's time limit, counted from the start of the step."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    @property
    def over(self) -> bool:
        return self.left() <= 0

    async def sleep(self, seconds: float) -> None:
        """Sleep, but never past the time limit."""
        await asyncio.sleep(max(0.0, min(seconds, self.left())))


def origin_of(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def rate_limit_wait(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait when the answer is a rate limit (GitHub's documented headers), else None."""
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    now = time.time() if now is None else now
    retry_after = headers.get("retry-after", "").strip()
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    if headers.get("x-ratelimit-remaining", "").strip() == "0":
        try:
            return max(0.0, float(headers.get("x-ratelimit-reset", "")) - now)
        except ValueError:
            return DEFAULT_RATE_LIMIT_WAIT
    if response.status_code == 429 or "rate limit" in response.text[:2000].lower():
        return DEFAULT_RATE_LIMIT_WAIT  # a secondary rate limit that names no time
    return None


def api_message(response: httpx.Response) -> str:
    """The service's own explanation (GitHub's JSON ``message``), short, on one line."""
    try:
        data = response.json()
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str):
        return ""
    line = " ".join(message.split())
    return line if len(line) <= 200 else line[:197] + "..."


def clock(seconds_from_now: float) -> str:
    moment = datetime.fromtimestamp(time.time() + seconds_from_now, UTC)
    return moment.strftime("%H:%M:%S UTC")


class ServiceClient:
    """Requests to one service for one step: retries what may pass, says every wait."""

    def __init__(
        self,
        ctx: StepContext,
        *,
        service: str,
        base_url: str,
        deadline: Deadline,
        poll_interval: float,
        out: OutputCollector,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
        verify_tls: bool = True,
    ) -> None:
        self.ctx = ctx
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.origin = origin_of(self.base_url)
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.out = out
        self.headers = headers or {}
        self.auth = auth
        self.client = ctx.services.http_client(verify_tls)

    async def aclose(self) -> None:
        if self.client is not self.ctx.services.http:
            await self.client.aclose()

    def say(self, line: str) -> None:
        """One line of the step's output: masked, logged, shown live."""
        self.out.feed_text(line.rstrip("\n") + "\n")

    def url(self, path_or_url: str) -> str:
        """A path on the service, or a URL the service gave, kept on the service's own host."""
        if path_or_url.startswith(("http://", "https://")):
            if origin_of(path_or_url) != self.origin:
                # A link elsewhere must not receive the credentials: keep its path on our host.
                given = httpx.URL(path_or_url)
                return str(
                    httpx.URL(self.base_url).copy_with(path=given.path, query=given.query or None)
                )
            return path_or_url
        return self.base_url + path_or_url

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        retry_transient: bool = True,
    ) -> httpx.Response:
        """The answer, once it is not a rate limit or (when retried) a passing failure.

        ``retry_transient = False`` for requests that start something (a dispatch, a build
        trigger): after a 5xx or a lost connection nobody knows whether it started, and a second
        try could start it twice.
        """
        url = self.url(path_or_url)
        failures = 0
        # Bounded by the deadline (every pass waits or returns) and, to be sure, by a count.
        for _ in range(10_000):
            timeout = min(REQUEST_TIMEOUT, max(self.deadline.left(), 1.0))
            try:
                response = await self.client.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=self.headers,
                    auth=self.auth if self.auth is not None else httpx.USE_CLIENT_DEFAULT,
                    timeout=timeout,
                    follow_redirects=method == "GET",
                )
            except httpx.HTTPError as exc:
                problem = connection_message(exc, url)
                if not retry_transient:
                    raise ServiceError(problem) from None
                failures += 1
                await self._retry_after_failure(failures, problem)
                continue
            wait = rate_limit_wait(response)
            if wait is not None:
                wait = max(wait, self.poll_interval)
                if wait > self.deadline.left():
                    raise ServiceError(
                        f"{self.service}'s API rate limit is used up until {clock(wait)}, "
                        f"after this step's time limit of {self.deadline.seconds:g} s; "
                        "retry the step then, or use a token with a higher limit"
                    )
                self.say(
                    f"{self.service} rate limit reached (HTTP {response.status_code}): "
                    f"waiting {wait:.0f} s, until {clock(wait)}"
                )
                await asyncio.sleep(wait)
                continue
            if response.status_code >= 500 and retry_transient:
                failures += 1
                problem = f"{self.service} answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
                await self._retry_after_failure(failures, problem)
                continue
            return response
        raise ServiceError(f"{self.service} kept failing; gave up")  # pragma: no cover

    async def _retry_after_failure(self, failures: int, problem: str) -> None:
        if failures >= MAX_TRANSIENT:
            raise ServiceError(f"{problem} ({failures} times in a row)")
        delay = min(self.poll_interval * 2 ** (failures - 1), MAX_BACKOFF)
        if delay > self.deadline.left():
            raise ServiceError(
                f"{problem}, and the step's time limit of {self.deadline.seconds:g} s ran out"
            )
        self.say(f"{problem}: retrying in {delay:g} s ({failures}/{MAX_TRANSIENT - 1})")
        await asyncio.sleep(delay)

    async def get_json(
        self,
        path_or_url: str,
        explain: Callable[[httpx.Response], str],
        params: dict[str, Any] | None = None,
    ) -> Any:
        response = await self.request("GET", path_or_url, params=params)
        if response.status_code != 200:
            raise ServiceError(explain(response))
        try:
            return response.json()
        except ValueError:
            raise ServiceError(
                f"{self.service} answered something that is not JSON at {httpx.URL(self.url(path_or_url)).path}"
            ) from None

    async def get_pages(
        self,
        path: str,
        key: str,
        explain: Callable[[httpx.Response], str],
        params: dict[str, Any] | None = None,
    ) -> list[Any]:
        """Every item of a paginated list (``Link: <...>; rel="next"``, 100 per page)."""
        items: list[Any] = []
        url: str = path
        query: dict[str, Any] | None = {**(params or {}), "per_page": 100}
        for _ in range(MAX_PAGES):
            response = await self.request("GET", url, params=query)
            if response.status_code != 200:
                raise ServiceError(explain(response))
            try:
                page = response.json()
            except ValueError:
                raise ServiceError(
                    f"{self.service} answered something that is not JSON at {httpx.URL(self.url(url)).path}"
                ) from None
            found = page.get(key) if isinstance(page, dict) else None
            if not isinstance(found, list):
                raise ServiceError(
                    f"{self.service}'s answer at {httpx.URL(self.url(url)).path} has no '{key}' list"
                )
            items.extend(found)
            following = response.links.get("next", {}).get("url")
            if not following:
                return items
            if origin_of(following) != self.origin:
                raise ServiceError(
                    f"{self.service} pointed the next page to another host ({httpx.URL(following).host}); "
                    "not followed, so that the token stays with the service"
                )
            url, query = following, None
        raise ServiceError(f"{self.service}'s list at {path} has more than {MAX_PAGES} pages")
