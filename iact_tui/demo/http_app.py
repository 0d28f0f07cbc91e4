"""The sandbox's web app: the seed's endpoints, served on 127.0.0.1 with asyncio streams.

It answers with what the last ``systemctl restart iact-gunicorn`` on the sandbox host loaded
(``run/iact-gunicorn.json``: version, boot problem), and with the sandbox database (users), so a
deploy, a rollback or a restore changes what it says, as a real app would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iact_tui.demo.standins import host as host_state

MAX_HEADER_LINES = 100
MAX_BODY = 1 << 20
IDLE_TIMEOUT = 30.0
SERVER = "nginx (iact-tui demo sandbox)"

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

BAD_GATEWAY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    "</center>\r\n<hr><center>nginx (sandbox)</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, data: Any) -> Response:
        return cls(status, json.dumps(data).encode())


@dataclass
class SandboxApp:
    """The app's behaviour, separate from the HTTP plumbing below."""

    host: Path
    tokens: dict[str, int] = field(default_factory=dict)  # token -> user id
    requests: int = 0

    def _service(self) -> dict[str, Any]:
        return host_state.service_state(self.host, "iact-gunicorn")

    def _db(self, service: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return host_state.load_db(self.host, service.get("database") or "iact_staging")
        except (OSError, ValueError):
            return None

    def _users(self, db: dict[str, Any] | None) -> list[dict[str, Any]]:
        if db is None or "auth_user" not in db["tables"]:
            return []
        spec = db["tables"]["auth_user"]
        cols = [c for c, _ in spec["columns"]]
        return [dict(zip(cols, row, strict=False)) for row in spec["rows"]]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        self.requests += 1
        path = path.split("?", 1)[0].rstrip("/") or "/"
        service = self._service()
        if not service.get("active"):
            return Response(502, BAD_GATEWAY.encode(), "text/html")
        routes = {
            "/": ("GET", self.home),
            "/api/health": ("GET", self.health),
            "/api/db-check": ("GET", self.db_check),
            "/api/cache-check": ("GET", self.cache_check),
            "/api/auth/login": ("POST", self.login),
            "/api/users/me": ("GET", self.me),
        }
        if path not in routes:
            return Response.json(404, {"detail": "Not found."})
        allowed, view = routes[path]
        if method not in (allowed, "HEAD" if allowed == "GET" else allowed):
            return Response.json(405, {"detail": f'Method "{method}" not allowed.'})
        return view(service, headers, body)  # type: ignore[operator]

    def home(self, service: dict[str, Any], headers: dict[str, str], body: bytes) -> Response:
        version = service.get("version", "?")
        page = (
            f"<!doctype html><html><head><title>IACT staging (sandbox)</title></head><body>"
            f"<h1>IACT</h1><p>Version {version} &mdash; the iact-tui demo's sandbox app, on 127.0.0.1 only.</p>"
            f"</body></html>\n"
        )
        return Response(200, page.encode(), "text/html; charset=utf-8")

    def health(self, service: dict[str, Any], headers: dict[str, str], body: bytes) -> Response:
        version = service.get("version", "unknown")
        problem = service.get("problem")
        if problem:
            pid = service.get("pid", 0) + 1
            host_state.journal(
                self.host,
                "iact-gunicorn",
                [
                    f"gunicorn[{pid}]: [ERROR] Internal Server Error: /api/health",
                    f"gunicorn[{pid}]: Traceback (most recent call last):",
                    f'gunicorn[{pid}]:   File "/var/www/iact-project/app_name/auth/jwt.py", line 5, in <module>',
                    f"gunicorn[{pid}]: {problem}",
                ],
            )
            return Response.json(503, {"status": "unhealthy", "version": version, "error": problem})
        return Response.json(200, {"status": "healthy", "version": version})

    def db_check(self, service: dict[str, Any], headers: dict[str, str], body: bytes) -> Response:
        if self._db(service) is None:
            return Response.json(503, {"database": "unavailable"})
        return Response.json(200, {"database": "connected"})

    def cache_check(
        self, service: dict[str, Any], headers: dict[str, str], body: bytes
    ) -> Response:
        return Response.json(200, {"cache": "connected"})

    def login(self, service: dict[str, Any], headers: dict[str, str], body: bytes) -> Response:
        try:
            data = json.loads(body or b"{}")
            username, password = str(data["username"]), str(data["password"])
        except (ValueError, KeyError, TypeError):
            return Response.json(400, {"detail": "username and password are required."})
        for user in self._users(self._db(service)):
            if (
                user.get("username") == username
                and user.get("is_active")
                and host_state.check_password(str(user.get("password")), password)
            ):
                token = secrets.token_urlsafe(24)
                self.tokens[token] = int(user["id"])
                return Response.json(200, {"token": token, "user": username})
        return Response.json(401, {"detail": "No active account found with the given credentials"})

    def me(self, service: dict[str, Any], headers: dict[str, str], body: bytes) -> Response:
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        user_id = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user_id is None:
            return Response.json(401, {"detail": "Authentication credentials were not provided."})
        for user in self._users(self._db(service)):
            if user.get("id") == user_id:
                return Response.json(
                    200, {"id": user_id, "username": user["username"], "email": user["email"]}
                )
        return Response.json(401, {"detail": "User not found."})


class HttpServer:
    """A small HTTP/1.1 server (keep-alive, Content-Length bodies) on 127.0.0.1, port 0."""

    def __init__(self, app: SandboxApp) -> None:
        self.app = app
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, host="127.0.0.1", port=0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    request = await asyncio.wait_for(self._read_request(reader), IDLE_TIMEOUT)
                except (
                    TimeoutError,
                    asyncio.IncompleteReadError,
                    ConnectionError,
                    ValueError,
                    asyncio.LimitOverrunError,
                ):
                    return
                if request is None:
                    return
                method, path, version, headers, body = request
                if isinstance(body, Response):
                    response = body
                else:
                    response = self.app.handle(method, path, headers, body)
                keep_alive = (
                    version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                )
                head = [
                    f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'OK')}",
                    f"Server: {SERVER}",
                    f"Content-Type: {response.content_type}",
                    f"Content-Length: {len(response.body)}",
                    f"Connection: {'keep-alive' if keep_alive else 'close'}",
                    "",
                    "",
                ]
                writer.write(
                    "\r\n".join(head).encode("latin-1")
                    + (b"" if method == "HEAD" else response.body)
                )
                await writer.drain()
                if not keep_alive:
                    return
        except ConnectionError:
            return
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(
        self, reader: asyncio.StreamReader
    ) -> tuple[str, str, str, dict[str, str], Any] | None:
        line = await reader.readline()
        if not line:
            return None
        try:
            method, path, version = line.decode("latin-1").strip().split(" ", 2)
        except ValueError:
            raise ValueError("bad request line") from None
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            raise ValueError("too many header lines")
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY:
            return (
                method,
                path,
                version,
                {**headers, "connection": "close"},
                Response.json(413, {"detail": "Request body too large."}),
            )
        body = await reader.readexactly(length) if length else b""
        return method, path, version, headers, body
