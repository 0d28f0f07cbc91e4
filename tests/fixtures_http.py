"""A real HTTP server on 127.0.0.1 (ephemeral port) whose routes a test sets."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Handler = Callable[["Request"], tuple[int, Any]]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class LoopbackServer:
    url: str
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def route(self, method: str, path: str, handler: Handler | tuple[int, Any]) -> None:
        if not callable(handler):
            fixed = handler
            handler = lambda _req: fixed  # noqa: E731
        self.routes[(method.upper(), path)] = handler


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            server.requests.append(req)
            handler = server.routes.get((self.command, self.path.split("?")[0]))
            if handler is None:
                status, payload = 404, {"error": "not found"}
            else:
                status, payload = handler(req)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    return H


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    holder = LoopbackServer(url="")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(holder))
    srv.daemon_threads = True
    holder.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)
