"""`iact-tui serve` in a real browser: Debian's chromium, driven by playwright (no browser download).

The page draws the terminal on a canvas (its text is not in the DOM): what the app shows is read
from the websocket frames textual-serve sends the page. The run is driven by this test through
the real RunStore (a RunBuilder), as a runner in another process would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import runfactory
from tests.helpers import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
WAIT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _needs() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
        import textual_serve  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"{exc.name} is not installed (pip install -e '.[test,serve]')")


def _wait_listening(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:  # bounded: the server listens, or has died
        assert server.poll() is None, server.stdout.read().decode() if server.stdout else "serve ended"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"iact-tui serve did not listen on {port} within {WAIT} s")


def test_the_watch_view_in_chromium_follows_the_run(tmp_path: Path) -> None:
    _needs()
    from playwright.sync_api import sync_playwright

    b = runfactory.RunBuilder(tmp_path)
    b.start("staging-health", command="GET https://staging.iact-project.com/api/health")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "iact_tui", "serve", b.store.state.run_id, "--port", str(port),
         "--runs-dir", str(tmp_path)],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    frames: list[str] = []
    try:
        _wait_listening(port, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})

                def on_socket(ws) -> None:  # type: ignore[no-untyped-def]
                    def received(payload) -> None:  # type: ignore[no-untyped-def]
                        data = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
                        frames.append(data)

                    ws.on("framereceived", received)

                page.on("websocket", on_socket)
                page.goto(f"http://127.0.0.1:{port}/")

                def shown(text: str) -> bool:
                    deadline = time.monotonic() + WAIT
                    while time.monotonic() < deadline:  # bounded polling of what the page was sent
                        if text in "".join(frames):
                            return True
                        page.wait_for_timeout(50)
                    return False

                # the page loads, and the run's steps are on it
                assert shown("Staging is operational"), "".join(frames)[-3000:]
                assert shown("Tests green in CI")
                assert shown("staging-health · http · attempt 1")  # the step pane: the running step
                assert shown("▶ running")
                mark = len(frames)
                # a step finishing in the engine shows up on the page
                b.append("step_finished", step="staging-health", status="passed", attempt=1, duration=0.2)
                assert shown("staging-health passed"), "".join(frames[mark:])[-3000:]
                assert "Application failed to start" not in "".join(frames)
            finally:
                browser.close()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)  # textual-serve stops on SIGINT
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
        b.close()
