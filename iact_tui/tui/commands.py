"""The command palette (ctrl+p): the run's actions that apply right now, by name."""

from __future__ import annotations

from functools import partial

from textual.actions import parse
from textual.command import DiscoveryHit, Hit, Hits, Provider

# binding id -> how the action reads in the palette (the footer's words are shorter)
PALETTE_NAMES: dict[str, str] = {
    "run-step": "Run step",
    "run-on": "Run on to the next manual step",
    "retry": "Retry the failed step",
    "tick-pass": "Tick pass",
    "tick-fail": "Tick fail",
    "skip": "Skip with a reason",
    "choose": "Choose an alternative",
    "decide": "Decide: open the question the run waits on",
    "note": "Add a note to the selected step",
    "cancel-step": "Cancel the running step",
    "rollback": "Start rollback",
    "abort": "Abort the run",
    "search-output": "Search the output",
    "follow": "Follow the running step",
    "export": "Export the report",
    "verify": "Verify a report",
    "runs": "Show all runs",
    "metrics": "Show the DORA metrics of the runs",
    "metrics-checklist": "Choose the checklist whose metrics are shown",
    "metrics-reload": "Compute the metrics again",
    "metrics-back": "Back: close the metrics",
    "back": "Back to the runs",
    "help": "Help: keys and icons",
}


class RunCommands(Provider):
    """Offers the bindings of the current screen that its ``check_action`` allows now."""

    def _commands(self) -> list[tuple[str, str, str]]:
        screen = self.screen
        out: list[tuple[str, str, str]] = []
        for binding in getattr(screen, "BINDINGS", []):
            if not hasattr(binding, "id") or binding.id not in PALETTE_NAMES:
                continue
            _, name, params = parse(binding.action)
            if screen.check_action(name, params) is not True:
                continue
            out.append((PALETTE_NAMES[binding.id], binding.action, binding.tooltip))
        return out

    async def discover(self) -> Hits:
        for name, action, help_text in self._commands():
            yield DiscoveryHit(name, partial(self.screen.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self.screen.run_action, action),
                    help=help_text,
                )
