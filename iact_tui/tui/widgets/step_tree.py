"""The phases and steps of a run as a tree: state icon, title, duration and attempts."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from iact_tui.engine.status import StepStatus
from iact_tui.tui import format as fmt
from iact_tui.tui.run_model import RunView
from iact_tui.tui.widgets.host_table import host_counts
from iact_tui.tui.widgets.theme import theme_style


class StepTree(Tree[str]):
    """Node data: ``step:<id>``, ``phase:<id>`` or ``alt:<phase>/<alt>``."""

    def __init__(self, view: RunView, **kwargs: Any) -> None:
        super().__init__("run", **kwargs)
        self.view = view
        self.show_root = False
        self.guide_depth = 2
        self._steps: dict[str, TreeNode[str]] = {}
        self._phases: dict[str, TreeNode[str]] = {}
        self._alternatives: dict[str, TreeNode[str]] = {}

    def on_mount(self) -> None:
        self.build()

    def build(self) -> None:
        self.clear()
        self._steps.clear()
        self._phases.clear()
        self._alternatives.clear()
        for phase in self.view.checklist.phases:
            pnode = self.root.add(
                self._phase_label(phase.id), data=f"phase:{phase.id}", expand=True
            )
            self._phases[phase.id] = pnode
            if phase.steps:
                for step in phase.steps:
                    self._add_step(pnode, step.id)
                continue
            for alt in phase.alternatives:
                key = f"{phase.id}/{alt.id}"
                anode = pnode.add(self._alt_label(phase.id, alt.id), data=f"alt:{key}", expand=True)
                self._alternatives[key] = anode
                for step in alt.steps:
                    self._add_step(anode, step.id)
        # steps of the record that the checklist no longer has (a changed checklist)
        for step_id in self.view.state.steps:
            if step_id not in self._steps:
                self._add_step(self.root, step_id)

    def _add_step(self, parent: TreeNode[str], step_id: str) -> None:
        self._steps[step_id] = parent.add_leaf(self._step_label(step_id), data=f"step:{step_id}")

    # -- labels (rich Text: titles come from the checklist and are never parsed as markup) ---------

    def _colour(self, name: str) -> Style:
        return theme_style(self, name)

    def _step_label(self, step_id: str) -> Text:
        rec = self.view.state.steps.get(step_id)
        step = self.view.step(step_id)
        status = rec.status if rec is not None else StepStatus.PENDING
        title = (
            step.display_title if step is not None else (rec.title if rec is not None else step_id)
        )
        label = Text()
        label.append(
            fmt.STEP_ICONS.get(status, "?"),
            self._colour(fmt.STEP_COLOURS.get(status, "foreground")),
        )
        label.append(" ")
        label.append(self.view.display(title))
        extra = []
        if rec is not None and rec.duration is not None and status not in (StepStatus.PENDING, StepStatus.RUNNING):
            extra.append(fmt.duration(rec.duration))
        if rec is not None and rec.attempts > 1:
            extra.append(f"×{rec.attempts}")
        if extra:
            label.append("  " + " ".join(extra), Style(dim=True))
        counts = host_counts(self.view, step_id, self._colour)  # a group step: "web 2/3 ✔ 1 ✘"
        if counts is not None:
            label.append("  ")
            label.append_text(counts)
        return label

    def _phase_label(self, phase_id: str) -> Text:
        phase = self.view.checklist.phase(phase_id)
        steps = [s for _, s in phase.all_steps()]
        records = [self.view.state.steps.get(s.id) for s in steps]
        done = sum(1 for r in records if r is not None and r.status in (StepStatus.PASSED, StepStatus.SKIPPED))
        relevant = sum(1 for r in records if r is None or r.status != StepStatus.NOT_APPLICABLE)
        label = Text(self.view.display(phase.title), Style(bold=True))
        if phase.rollback:
            label.append(" (rollback)", self._colour("warning"))
        label.append(f"  {done}/{relevant}", Style(dim=True))
        return label

    def _alt_label(self, phase_id: str, alt_id: str) -> Text:
        phase = self.view.checklist.phase(phase_id)
        alt = next(a for a in phase.alternatives if a.id == alt_id)
        chosen = self.view.state.choices.get(phase_id)
        label = Text("option: ", Style(dim=True))
        label.append(self.view.display(alt.title))
        if chosen is not None:
            label.append(
                " ✔ chosen" if alt_id in chosen else " not chosen", Style(dim=alt_id not in chosen)
            )
        elif alt_id in phase.defaults:
            label.append(" (default)", Style(dim=True))
        return label

    # -- updates ----------------------------------------------------------------------------------

    def refresh_step(self, step_id: str) -> None:
        node = self._steps.get(step_id)
        if node is None:
            self._add_step(self.root, step_id)
            return
        node.set_label(self._step_label(step_id))
        rec = self.view.state.steps.get(step_id)
        if rec is not None and rec.phase in self._phases:
            self._phases[rec.phase].set_label(self._phase_label(rec.phase))

    def refresh_phase(self, phase_id: str) -> None:
        if phase_id in self._phases:
            self._phases[phase_id].set_label(self._phase_label(phase_id))
        for key, node in self._alternatives.items():
            if key.startswith(f"{phase_id}/"):
                node.set_label(self._alt_label(phase_id, key.split("/", 1)[1]))

    def refresh_all(self) -> None:
        for step_id in list(self._steps):
            self._steps[step_id].set_label(self._step_label(step_id))
        for phase_id in self._phases:
            self.refresh_phase(phase_id)

    def select_step(self, step_id: str) -> None:
        node = self._steps.get(step_id)
        if node is not None:
            if node.parent is not None and not node.parent.is_expanded:
                node.parent.expand()  # (expanding an expanded node still costs a layout)
            self.move_cursor(node)
            self.scroll_to_node(node, animate=False)

    @property
    def step_ids(self) -> list[str]:
        return list(self._steps)

    @staticmethod
    def step_of(node: TreeNode[str] | None) -> str:
        data = node.data if node is not None else None
        return data[5:] if data and data.startswith("step:") else ""
