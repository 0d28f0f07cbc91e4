"""Run a small checklist in this process and keep what the run emitted, for the CI/CD tests."""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iact_tui.engine import events as ev
from iact_tui.engine.record.state import RunState
from iact_tui.engine.run.launch import SessionSpec, new_session
from iact_tui.engine.run.operator import RunOptions
from iact_tui.headless.operator import HeadlessOperator
from tests.helpers import HEADER, report_of, state_of


@dataclass
class Ran:
    status: str
    folder: Path
    events: list[tuple[float, Any]]
    state: RunState

    @property
    def output(self) -> str:
        return "".join(e.text for _, e in self.events if isinstance(e, ev.StepOutput))

    def output_of(self, step_id: str) -> str:
        return "".join(
            e.text for _, e in self.events if isinstance(e, ev.StepOutput) and e.step_id == step_id
        )

    def step(self, step_id: str) -> Any:
        return self.state.steps[step_id]

    @property
    def report(self) -> dict[str, Any]:
        return report_of(self.folder)

    def everything(self) -> bytes:
        """Every byte the run wrote (report, journal, logs, drafts) and every event's text."""
        data = b"".join(p.read_bytes() for p in sorted(self.folder.rglob("*")) if p.is_file())
        return data + repr([e for _, e in self.events]).encode()


def checklist(folder: Path, body: str, vars_: str = "") -> Path:
    path = folder / "c.toml"
    path.write_text(
        "schema_version = 1\n"
        + textwrap.dedent(HEADER)
        + textwrap.dedent(vars_)
        + '\n[[phases]]\nid = "main"\ntitle = "Main"\n\n'
        + textwrap.dedent(body).lstrip()
    )
    return path


async def run(
    path: Path, runs: Path, overrides: dict[str, str] | None = None, on_failure: str = "stop"
) -> Ran:
    events: list[tuple[float, Any]] = []

    def emit(event: Any) -> None:
        events.append((time.monotonic(), event))

    spec = SessionSpec(
        runs, "tester", overrides=dict(overrides or {}), options=RunOptions(mode="headless")
    )
    operator = HeadlessOperator("tester", on_failure=on_failure)
    runner = new_session(path, spec, operator, emit, None, prompt_all=False)
    try:
        status = await runner.run()
    finally:
        runner.store.lock.release()
    folder = runner.store.folder
    return Ran(status, folder, events, state_of(folder))
