"""A run driven by a process that waits for ticks from other terminals (a stand-in for the TUI).

Usage: python -m tests.live_runner CHECKLIST RUNS_DIR OPERATOR
Prints the headless lines; manual steps wait until `iact-tui tick` answers them through the inbox.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from iact_tui.engine.run.launch import SessionSpec, new_session
from iact_tui.engine.run.operator import RunOptions
from iact_tui.headless.operator import HeadlessOperator
from iact_tui.headless.printer import Printer


class WaitingOperator(HeadlessOperator):
    async def manual(self, step, instructions):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()  # only a tick from another terminal answers


def main() -> int:
    checklist, runs_dir, operator = sys.argv[1:4]
    printer = Printer(sys.stdout)
    spec = SessionSpec(Path(runs_dir), operator, options=RunOptions(mode="headless"))
    runner = new_session(checklist, spec, WaitingOperator(operator), printer, None, prompt_all=False)
    status = asyncio.run(runner.run())
    runner.store.lock.release()
    print(f"exit status {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
