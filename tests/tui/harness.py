"""Helpers for driving the TUI like a person: checklists on disk, an app on a Launch, and a
recorder of the app's messages that tests wait on (never on fixed sleeps)."""

from __future__ import annotations

import asyncio
import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.message import Message

from iact_tui.engine import events as ev
from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.record.store import read_records
from iact_tui.engine.run.launch import Launch
from iact_tui.tui.app import IactApp
from iact_tui.tui.bridge import RunBridge

WAIT = 20.0  # seconds: a bound on every wait, never a sleep


class Recorder:
    """A ``message_hook``: keeps every message and wakes the tests waiting for one."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._waiters: list[tuple[Callable[[Message], bool], asyncio.Future[Message]]] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(message):
                future.set_result(message)

    def mark(self) -> int:
        return len(self.messages)

    async def wait(
        self, predicate: Callable[[Message], bool], *, since: int = 0, within: float = WAIT
    ) -> Message:
        for message in self.messages[since:]:
            if predicate(message):
                return message
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, within)
        finally:
            self._waiters.remove(entry)

    def events(self, kind: type[ev.Event] = ev.Event) -> list[Any]:
        return [
            m.event
            for m in self.messages
            if isinstance(m, RunBridge.EngineEvent) and isinstance(m.event, kind)
        ]


def question(kind: str, step: str | None = None) -> Callable[[Message], bool]:
    def match(message: Message) -> bool:
        if not isinstance(message, RunBridge.QuestionChanged) or message.question is None:
            return False
        q = message.question
        return q.kind == kind and (step is None or q.step_id == step)

    return match


def event(kind: type[ev.Event], **fields: Any) -> Callable[[Message], bool]:
    def match(message: Message) -> bool:
        if not isinstance(message, RunBridge.EngineEvent) or not isinstance(message.event, kind):
            return False
        return all(getattr(message.event, k) == v for k, v in fields.items())

    return match


def write_checklist(folder: Path, body: str, name: str = "checklist.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def make_app(tmp_path: Path, checklist: Path | None = None, **launch_fields: Any) -> IactApp:
    """An app on a Launch as the command line makes it; ``tmp_path`` may be relative (snapshots
    run in their tmp folder so that no absolute path reaches the screen)."""
    launch = Launch(
        runs_dir=tmp_path / "runs",
        checklist=str(checklist) if checklist is not None else None,
        operator=launch_fields.pop("operator", "ana"),
        mode="tui",
        ssh_config=[str(_empty(tmp_path / "ssh_config"))],
        **launch_fields,
    )
    return IactApp(launch, checklists_dir=tmp_path / "checklists", clock=lambda: 0.0)


def _empty(path: Path) -> Path:
    path.touch()
    return path


def run_folder(app: IactApp) -> Path:
    assert app.run_view is not None
    return app.run_view.folder


def state_of(folder: Path) -> RunState:
    return reduce(read_records(folder))


def report_of(folder: Path) -> dict[str, Any]:
    return tomllib.loads((folder / "report.toml").read_text())


async def until(screen: Any, condition: Callable[[], bool], *, within: float = WAIT) -> None:
    """Wait until ``condition()`` holds, checking it after each message ``screen`` handles
    (for snapshot tests, whose app runs without a message_hook)."""
    if condition():
        return
    future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def check(_message: Message) -> None:
        if not future.done() and condition():
            future.set_result(True)

    screen.message_signal.subscribe(screen, check, immediate=True)
    try:
        await asyncio.wait_for(future, within)
    finally:
        screen.message_signal.unsubscribe(screen)
