"""``http``: a request with expectations (status, JSON fields, latency) and JSON captures.

Evidence kept for the report: status, latency and a masked body excerpt.
"""

from __future__ import annotations

import errno
import json
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.masking import MASK
from iact_tui.engine.checklist.template import render_url
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.errors import IactError
from iact_tui.engine.events import StepOutput
from iact_tui.engine.executors.base import Automatic, Outcome, StepContext
from iact_tui.engine.executors.hosts import host_values, members_of, on_members

BODY_EXCERPT = 500
LOG_BODY_MAX = 64 * 1024


class StepError(IactError):
    pass


def json_path(data: Any, path: str) -> Any:
    """``a.b.0.c`` into nested dicts and lists; KeyError when absent."""
    current = data
    for part in path.split(".") if path else []:
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise KeyError(path)
    return current


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected or str(actual).lower() == str(expected).lower()
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(actual) == float(expected)
    return str(actual) == str(expected)


def _root_os_error(exc: BaseException) -> OSError | None:
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 20:  # bounded walk down the cause chain
        if isinstance(current, OSError) and (current.errno or isinstance(current, socket.gaierror)):
            return current
        if isinstance(current, ExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
        else:
            current = current.__cause__ or current.__context__
        seen += 1
    return None


def connection_message(exc: httpx.HTTPError, url: str) -> str:
    parsed = httpx.URL(url)
    host = parsed.host or url
    where = f"{host}:{parsed.port}" if parsed.port else host
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return f"could not connect to {where}: the connection timed out"
    if isinstance(exc, httpx.TimeoutException):
        return f"{where} did not answer in time ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        root = _root_os_error(exc)
        if (
            isinstance(root, socket.gaierror)
            or "name or service not known" in lowered
            or "name resolution" in lowered
        ):
            return f"could not resolve the host name {host} (DNS)"
        if (root is not None and root.errno == errno.ECONNREFUSED) or "refused" in lowered:
            return f"could not connect to {where}: connection refused"
        if root is not None and root.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return f"could not connect to {where}: network unreachable"
        if "certificate" in lowered or "ssl" in lowered:
            return f"the TLS certificate of {host} was not accepted: {text}"
        detail = root.strerror if root is not None and root.strerror else text
        return f"could not connect to {where}: {detail}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{where} closed the connection or answered something that is not HTTP: {text}"
    return f"the request to {where} failed: {text}"


def url_paths(values: Values) -> set[str]:
    """The variables whose value is a URL path (``url_path = true``): their '/' stay in a URL."""
    return {name for name, var in values.checklist.vars.items() if var.url_path}


Lookup = Callable[[str], str]


@dataclass(frozen=True)
class Lookups:
    """Where a request's values come from: for its text (headers, body, checks) and for its URL."""

    text: Lookup
    url: Lookup


HOST_PLACEHOLDERS = {"host": "{host}", "host_address": "{host_address}"}


def _on_host(values: Values, name: str | None, lookup: Lookup) -> Lookups:
    """``lookup`` for a request to one host (``host = ...``): ``{host}`` is its name and
    ``{host_address}`` its address, also where a declared variable's value names them
    (``host_health_url = "http://{host_address}:8000/api/health"``; nothing else in a value is
    ever filled). ``name`` None: both shown as written (the request of every host, for display).
    Raises MissingValue (an address that uses a value not known yet)."""
    own = host_values(values, name) if name is not None else HOST_PLACEHOLDERS
    declared = values.checklist.vars

    def on_host(url: bool) -> Lookup:
        def find(key: str) -> str:
            if key in own:
                return own[key]
            value = lookup(key)
            if key in declared and value != MASK:
                return template.fill_only(value, own, url=url and name is not None)
            return value

        return find

    return Lookups(on_host(False), on_host(True))


class HttpExecutor(Automatic):
    kind: ClassVar[str] = "http"

    def describe(self, step: Any, values: Values) -> str:
        if not step.host:
            return self._describe(step, values, Lookups(values.masked_lookup, values.masked_lookup))
        members = _members(step, values)
        if members == [step.host]:
            return f"{step.host}: " + self._describe(
                step, values, _on_host(values, step.host, values.masked_lookup)
            )
        every = self._describe(step, values, _on_host(values, None, values.masked_lookup))
        lines = [f"{every} on each host of {step.host} ({', '.join(members)}):"]
        for member in members:
            lookup = _on_host(values, member, values.masked_lookup)
            lines.append(f"{member}: {self._describe(step, values, lookup)}")
        return "\n".join(lines)

    def _describe(self, step: Any, values: Values, lookup: Lookups) -> str:
        shown_url = render_url(
            step.url,
            lookup.url,
            raw=lambda v: v == MASK or v.startswith("<") or v in HOST_PLACEHOLDERS.values(),
            paths=url_paths(values),
        )
        text = f"{step.method} {values.redactor(shown_url)}"
        if step.json_body is not None:
            body = _render(step.json_body, lookup.text)
            text += f" json={json.dumps(body, ensure_ascii=False)}"
        return text

    async def execute(self, ctx: StepContext) -> Outcome:
        step = ctx.step
        values = ctx.values
        if not step.host:
            return await self._request(ctx, Lookups(values.lookup, values.lookup))
        members = _members(step, values)
        if members == [step.host]:
            try:
                lookup = _on_host(values, step.host, values.lookup)
            except template.MissingValue as exc:
                return Outcome(False, _no_address(step.host, exc))
            return await self._request(ctx, lookup)

        async def on_member(member: str, log: Any) -> Outcome:
            try:
                lookup = _on_host(values, member, values.lookup)
            except template.MissingValue as exc:
                return Outcome(False, _no_address(member, exc))
            outcome = await self._request(ctx, lookup, member, log)
            # each host's answer is in its log; the step keeps its status and latency
            outcome.evidence.pop("body_excerpt", None)
            return outcome

        return await on_members(ctx, members, on_member)

    async def _request(
        self, ctx: StepContext, lookup: Lookups, member: str = "", host_log: Any = None
    ) -> Outcome:
        """One request and its checks; on a group, to ``member``: its lines go to the step's
        log prefixed ``[member] `` and, as they are, to its own ``host_log``."""
        step = ctx.step
        values = ctx.values

        def text_of(part: str) -> str:
            return template.render(part, lookup.text)

        def write(text: str) -> str:
            if host_log is not None:
                host_log.write(text)
            shown = _prefixed(text, f"[{member}] ") if member else text
            ctx.log.write(shown)
            return shown

        url = render_url(step.url, lookup.url, paths=url_paths(values))
        headers = {text_of(k): text_of(v) for k, v in step.headers.items()}
        broken = _header_line_breaks(step, lookup.text)
        if broken:  # refused before anything is logged or sent
            return Outcome(False, broken)
        kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": step.follow_redirects}
        if step.json_body is not None:
            kwargs["json"] = _render(step.json_body, lookup.text)
        elif step.body is not None:
            kwargs["content"] = text_of(step.body).encode()
        if step.timeout:
            kwargs["timeout"] = step.timeout
        client = ctx.services.http_client(step.verify_tls)
        shown_headers = {
            k: (MASK if k.lower() in ("authorization", "cookie") else values.redactor(v))
            for k, v in headers.items()
        }
        request_text = f"> {step.method} {values.redactor(url)}\n" + "".join(
            f"> {k}: {v}\n" for k, v in shown_headers.items()
        )
        t0 = time.perf_counter()
        try:
            response = await client.request(step.method, url, **kwargs)
        except httpx.HTTPError as exc:
            message = values.redactor(connection_message(exc, url))
            write(request_text + f"! {message}\n")
            return Outcome(False, message)
        finally:
            if client is not ctx.services.http:
                await client.aclose()
        latency_ms = round((time.perf_counter() - t0) * 1000, 1)
        body = response.text
        parsed: Any = None
        is_json = False
        try:
            parsed = response.json()
            is_json = True
        except (ValueError, UnicodeDecodeError):
            pass
        # captures first: a captured secret (a token) must be masked in everything written below
        capture_problems: list[str] = []
        for name, path in step.capture_json.items():
            path = text_of(
                path
            )  # a path may be a variable; one that renders empty captures nothing
            if not path.strip():
                continue
            try:
                value = json_path(parsed, path) if is_json else None
                if value is None:
                    raise KeyError(path)
                ctx.capture(name, value if isinstance(value, str) else json.dumps(value))
            except KeyError:
                capture_problems.append(
                    f"the response has no JSON field '{path}' to capture as {name}"
                )
        masked_body = values.redactor(body)
        excerpt = masked_body[:BODY_EXCERPT]
        text = (
            request_text
            + f"< HTTP {response.status_code} {response.reason_phrase} in {latency_ms} ms\n"
        )
        text += masked_body[:LOG_BODY_MAX]
        if not text.endswith("\n"):
            text += "\n"
        if len(masked_body) > LOG_BODY_MAX:
            text += f"[... {len(masked_body) - LOG_BODY_MAX} more characters not logged]\n"
        ctx.emit(StepOutput(step.id, write(text)))
        evidence = {
            "http_status": response.status_code,
            "latency_ms": latency_ms,
            "body_excerpt": excerpt,
            "url": values.redactor(url),
        }
        problems: list[str] = []
        if response.status_code not in step.statuses:
            want = " or ".join(str(s) for s in step.statuses)
            problems.append(
                f"{step.method} {values.redactor(url)} answered HTTP {response.status_code} (expected {want})"
            )
        for path, expected in step.expect_json.items():
            path = text_of(path)  # a field may be a variable; one that renders empty is not checked
            if not path.strip():
                continue
            want = text_of(expected) if isinstance(expected, str) else expected
            shown = values.redactor(repr(want))
            if not is_json:
                problems.append(f"the response is not JSON (expected {path} = {shown})")
                break
            try:
                actual = json_path(parsed, path)
            except KeyError:
                problems.append(f"the response has no field '{path}' (expected {shown})")
                continue
            if not _same(actual, want):
                problems.append(
                    f"'{path}' is {values.redactor(json.dumps(actual))} (expected {shown})"
                )
        if step.expect_body and not re.search(step.expect_body, body, re.MULTILINE):
            problems.append(f"the body does not match {step.expect_body!r}")
        if step.max_latency_ms is not None and latency_ms > step.max_latency_ms:
            problems.append(
                f"the answer took {latency_ms} ms (at most {step.max_latency_ms:g} ms allowed)"
            )
        problems.extend(capture_problems)
        if problems:
            return Outcome(False, "; ".join(problems), evidence=evidence)
        return Outcome(True, f"HTTP {response.status_code} in {latency_ms} ms", evidence=evidence)


def _members(step: Any, values: Values) -> list[str]:
    members = members_of(values.checklist.hosts, step.host)
    return members[:1] if step.once else members


def _no_address(host: str, exc: template.MissingValue) -> str:
    return f"the address of host {host} uses {{{exc.name}}}, which has no value yet"


def _prefixed(text: str, prefix: str) -> str:
    """Every line of ``text`` prefixed (a group's member in the step's log)."""
    return "".join(prefix + line for line in text.splitlines(keepends=True))


def _header_line_breaks(step: Any, lookup: Lookup) -> str:
    """Why the headers cannot be sent: a value (a capture, say) with CR or LF would add or split
    headers, and would reach the log as fake lines. '' when they can."""
    from iact_tui.engine.checklist.values import header_message

    for key, text in step.headers.items():
        for where, part in (("header name", key), (f"header '{key}'", text)):
            for name in template.names(part):
                value = lookup(name)
                if "\r" in value or "\n" in value:
                    return header_message(name, where, step.id) + "; nothing was sent"
        if "\r" in key + text or "\n" in key + text:
            return f"header {key!r} has a line break (CR or LF); nothing was sent"
    return ""


def _render(value: Any, lookup: Any) -> Any:
    from iact_tui.engine.checklist.template import render_value

    return render_value(value, lookup)
