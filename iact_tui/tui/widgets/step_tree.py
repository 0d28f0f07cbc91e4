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
        self._relabelled: set[TreeNode[str]] = set()  # label changes waiting for their repaint
        super().__init__("run", **kwargs)
        self.view = view
        self.show_root = False
        self.guide_depth = 2
        self._steps: dict[str, TreeNode[str]] = {}
        self._phases: dict[str, TreeNode[str]] = {}
        self._alternatives: dict[str, TreeNode[str]] = {}
        self._depths: dict[str, int] = {}  # step id -> its depth in the tree (0: under the root)
        # node data -> what its title shares with its most alike sibling (format.sibling_overlaps)
        self._overlaps: dict[str, tuple[int, int]] = {}

    def on_mount(self) -> None:
        self.build()

    def build(self) -> None:
        self.clear()
        self._steps.clear()
        self._phases.clear()
        self._alternatives.clear()
        self._learn_siblings()
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

    def _learn_siblings(self) -> None:
        """What each title shares with its siblings (the steps of one phase or alternative, the
        phases, a phase's alternatives), so that a shortened title keeps what tells it apart."""
        display = self.view.display
        self._overlaps.clear()

        def learn(items: list[tuple[str, str]]) -> None:
            overlaps = fmt.sibling_overlaps([display(title) for _key, title in items])
            self._overlaps.update(zip([key for key, _title in items], overlaps, strict=True))

        phases = self.view.checklist.phases
        learn([(f"phase:{p.id}", p.title) for p in phases])
        for phase in phases:
            learn([(f"step:{s.id}", s.display_title) for s in phase.steps])
            learn([(f"alt:{phase.id}/{a.id}", a.title) for a in phase.alternatives])
            for alt in phase.alternatives:
                learn([(f"step:{s.id}", s.display_title) for s in alt.steps])

    def _add_step(self, parent: TreeNode[str], step_id: str) -> None:
        depth = 0 if parent is self.root else (1 if parent.parent is self.root else 2)
        self._depths[step_id] = depth
        self._steps[step_id] = parent.add_leaf(self._step_label(step_id), data=f"step:{step_id}")

    # -- fitting: a title is shortened (keeping what tells it from its siblings) so that what follows
    #    it is never cut

    def on_resize(self) -> None:
        self.refresh_all()

    def _fit(self, title: str, rest: int, depth: int, key: str, expandable: bool = False) -> str:
        """``title`` in what the line leaves it: the tree's width less the guides, the expand
        icon and ``rest`` (the icon, counts, durations that follow), told apart from its siblings'
        (``key``: the node's data). Unchanged before layout."""
        width = self.scrollable_content_region.width
        if width <= 0:
            return title
        room = width - self.guide_depth * depth - (2 if expandable else 0) - rest
        return fmt.fit_title(title, max(room, 1), self._overlaps.get(key))

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
        extra = []
        if (
            rec is not None
            and rec.duration is not None
            and status not in (StepStatus.PENDING, StepStatus.RUNNING)
        ):
            extra.append(fmt.duration(rec.duration))
        if rec is not None and rec.attempts > 1:
            extra.append(f"×{rec.attempts}")
        tail = Text()
        if extra:
            tail.append("  " + " ".join(extra), Style(dim=True))
        counts = host_counts(self.view, step_id, self._colour)  # a group step: "web 2/3 ✔ 1 ✘"
        if counts is not None:
            tail.append("  ")
            tail.append_text(counts)
        rest = label.cell_len + tail.cell_len
        label.append(
            self._fit(
                self.view.display(title), rest, self._depths.get(step_id, 1), f"step:{step_id}"
            )
        )
        label.append_text(tail)
        return label

    def _phase_label(self, phase_id: str) -> Text:
        phase = self.view.checklist.phase(phase_id)
        steps = [s for _, s in phase.all_steps()]
        records = [self.view.state.steps.get(s.id) for s in steps]
        done = sum(
            1
            for r in records
            if r is not None and r.status in (StepStatus.PASSED, StepStatus.SKIPPED)
        )
        relevant = sum(1 for r in records if r is None or r.status != StepStatus.NOT_APPLICABLE)
        tail = Text()
        if phase.rollback:
            tail.append(" (rollback)", self._colour("warning"))
        tail.append(f"  {done}/{relevant}", Style(dim=True))
        label = Text(
            self._fit(
                self.view.display(phase.title),
                tail.cell_len,
                0,
                f"phase:{phase_id}",
                expandable=True,
            ),
            Style(bold=True),
        )
        label.append_text(tail)
        return label

    def _alt_label(self, phase_id: str, alt_id: str) -> Text:
        phase = self.view.checklist.phase(phase_id)
        alt = next(a for a in phase.alternatives if a.id == alt_id)
        chosen = self.view.state.choices.get(phase_id)
        label = Text("option: ", Style(dim=True))
        tail = Text()
        if chosen is not None:
            tail.append(
                " ✔ chosen" if alt_id in chosen else " not chosen", Style(dim=alt_id not in chosen)
            )
        elif alt_id in phase.defaults:
            tail.append(" (default)", Style(dim=True))
        label.append(
            self._fit(
                self.view.display(alt.title),
                label.cell_len + tail.cell_len,
                1,
                f"alt:{phase_id}/{alt_id}",
                expandable=True,
            )
        )
        label.append_text(tail)
        return label

    # -- updates ----------------------------------------------------------------------------------

    def _relabel(self, node: TreeNode[str], label: Text) -> None:
        """Give a node a new label, only when it changed, and repaint only its own line: Textual's
        ``set_label`` repaints the node's whole subtree (every step of a phase, each time the
        phase's count moves), which is most of what a fast run costs a watching screen."""
        if node.label == label:
            return
        self._relabelled.add(node)
        node.set_label(label)

    def _refresh_node(self, node: TreeNode[str]) -> None:
        if node in self._relabelled:
            self._relabelled.discard(node)
            if node.line >= 0:
                self._refresh_line(node.line)
                return
        super()._refresh_node(node)

    def refresh_step(self, step_id: str) -> None:
        node = self._steps.get(step_id)
        if node is None:
            self._add_step(self.root, step_id)
            return
        self._relabel(node, self._step_label(step_id))
        rec = self.view.state.steps.get(step_id)
        if rec is not None and rec.phase in self._phases:
            self._relabel(self._phases[rec.phase], self._phase_label(rec.phase))

    def refresh_phase(self, phase_id: str) -> None:
        if phase_id in self._phases:
            self._relabel(self._phases[phase_id], self._phase_label(phase_id))
        for key, node in self._alternatives.items():
            if key.startswith(f"{phase_id}/"):
                self._relabel(node, self._alt_label(phase_id, key.split("/", 1)[1]))

    def refresh_all(self) -> None:
        for step_id in list(self._steps):
            self._relabel(self._steps[step_id], self._step_label(step_id))
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
