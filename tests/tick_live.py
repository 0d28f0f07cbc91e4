"""A live run whose questions only ticks from other terminals answer (through its inbox).

Usage: python -m tests.tick_live CHECKLIST RUNS_DIR OPERATOR
Like tests/live_runner.py, but a failed step waits too (instead of stopping the run), and the
final line is the headless one (with what it says about skipped approvals).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from iact_tui.engine.run.launch import SessionSpec, new_session
from iact_tui.engine.run.operator import RunOptions
from iact_tui.headless.operator import HeadlessOperator
from iact_tui.headless.printer import Printer


class InboxOnlyOperator(HeadlessOperator):
    async def manual(self, step, instructions):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()

    async def failure(self, step, failure):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()


def main() -> int:
    checklist, runs_dir, operator = sys.argv[1:4]
    printer = Printer(sys.stdout)
    spec = SessionSpec(Path(runs_dir), operator, options=RunOptions(mode="headless"))
    runner = new_session(checklist, spec, InboxOnlyOperator(operator), printer, None, prompt_all=False)
    status = asyncio.run(runner.run())
    runner.store.lock.release()
    print(f"exit status {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
