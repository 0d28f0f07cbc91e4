"""``manual``: nothing to execute — the runner waits for a person's tick (see runner._manual)."""

from __future__ import annotations

from typing import Any, ClassVar

from iact_tui.engine.checklist.values import Values


class ManualExecutor:
    kind: ClassVar[str] = "manual"

    def describe(self, step: Any, values: Values) -> str:
        who = f" ({step.role}{', four eyes' if step.four_eyes else ''})" if step.role else ""
        return f"manual check{who}: {step.display_title}"

    def needs_person(self, step: Any, values: Values | None = None) -> bool:
        return True
