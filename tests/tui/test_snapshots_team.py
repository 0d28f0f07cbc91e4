"""Snapshots of the manual-step panel and the alternatives dialog, keyboard first (issue 12 item
5), at 80×24 and 160×45: labelled inputs with a visible focus, the approver before the note, the
chosen alternative marked by a symbol, and tree titles that stay distinct with their durations
and counts uncut. Deterministic as test_snapshots.py's (its ``frozen`` fixture)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from iact_tui.tui.dialogs.choice import ChoiceDialog
from tests.tui.harness import make_app, until, write_checklist
from tests.tui.test_snapshots import asked, frozen, settle, start_run  # noqa: F401 (a fixture)

SIZES = {"80x24": (80, 24), "160x45": (160, 45)}

TEAM = """
schema_version = 1

[checklist]
id = "SNAP-TEAM"
title = "Deploy a Staging (team)"
version = "1.0.0"
roles = ["devops", "tech-lead", "developer"]

[[phases]]
id = "pre"
title = "PASO 1: Pre-Deployment Checks"

[[phases.steps]]
id = "staging-health"
title = "1.1 Verificar que staging está operativo"
kind = "local"
run = "echo healthy"

[[phases.steps]]
id = "tech-lead-approval"
title = "1.4 Aprobación del Tech Lead"
kind = "manual"
role = "tech-lead"
four_eyes = true
evidence = true
instructions = "The Tech Lead approves deployments of **major changes**."

[[phases]]
id = "deploy"
title = "PASO 3: Deploy de la aplicación"
default = "manual"

[[phases.alternatives]]
id = "cicd"
title = "Opción A: Deploy con CI/CD (GitHub Actions)"

[[phases.alternatives.steps]]
id = "ci-deploy"
title = "3.1 Disparar el workflow de deploy"
kind = "local"
run = "echo dispatched"

[[phases.alternatives]]
id = "manual"
title = "Opción B: Deploy manual"

[[phases.alternatives.steps]]
id = "deps-python"
title = "3.2 Paso 2: Instalar dependencias Python"
kind = "local"
run = "echo pip"

[[phases.alternatives.steps]]
id = "deps-node"
title = "3.2 Paso 2: Instalar dependencias Node"
kind = "local"
run = "echo npm"
"""


def _app(frozen_dir: Path) -> Any:
    write_checklist(frozen_dir / "checklists", TEAM, "team.toml")
    return make_app(frozen_dir, Path("checklists/team.toml"))


async def _to_the_manual_step(pilot: Pilot[Any]) -> Any:
    screen = await start_run(pilot)
    await until(screen, lambda: asked(screen, "pace", "staging-health"))
    await pilot.press("n")
    await until(screen, lambda: asked(screen, "manual", "tech-lead-approval"))
    return screen


@pytest.mark.parametrize("size", list(SIZES))
def test_manual_panel_labelled_inputs_and_focus(frozen: Path, snap_compare: Any, size: str) -> None:  # noqa: F811
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await _to_the_manual_step(pilot)
        approver = screen.query_one("#manual-approver", Input)
        approver.focus()
        await until(screen, lambda: approver.has_focus)
        await pilot.press(*"bea", "enter")  # Enter: on to the note, never a tick
        note = screen.query_one("#manual-note", Input)
        await until(screen, lambda: note.has_focus)
        await pilot.press(*"checked", "enter")  # on to the evidence
        assert asked(screen, "manual", "tech-lead-approval")  # still asked: nothing was ticked
        await settle(pilot)

    assert snap_compare(_app(frozen), terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", list(SIZES))
def test_alternatives_dialog_marks_the_choice(frozen: Path, snap_compare: Any, size: str) -> None:  # noqa: F811
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await _to_the_manual_step(pilot)
        screen.query_one("#manual-approver", Input).value = "bea"
        await pilot.press("p")
        await until(screen, lambda: isinstance(pilot.app.screen, ChoiceDialog))
        await settle(pilot)

    assert snap_compare(_app(frozen), terminal_size=SIZES[size], run_before=run_before)


async def test_tab_order_is_approver_note_evidence_buttons(frozen: Path) -> None:  # noqa: F811
    app = _app(frozen)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _to_the_manual_step(pilot)
        screen.query_one("#manual-approver", Input).focus()
        await pilot.pause()
        order = []
        for _ in range(4):
            order.append(app.focused.id if app.focused is not None else "")
            await pilot.press("tab")
        assert order == ["manual-approver", "manual-note", "manual-evidence", "manual-pass"]


async def test_tree_titles_stay_distinct_and_durations_uncut_at_80x24(frozen: Path) -> None:  # noqa: F811
    from iact_tui.tui.widgets.step_tree import StepTree

    app = _app(frozen)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _to_the_manual_step(pilot)
        await pilot.pause()
        tree = screen.query_one(StepTree)
        width = tree.scrollable_content_region.width
        labels = {step: str(tree._steps[step].label) for step in ("deps-python", "deps-node", "staging-health")}
        assert labels["deps-python"] != labels["deps-node"]
        assert labels["deps-python"].endswith("Python") and labels["deps-node"].endswith("Node")
        assert labels["staging-health"].endswith("<1s")  # the duration is whole
        for node in [*tree._steps.values(), *tree._phases.values()]:
            depth = 0 if node.parent is tree.root else (1 if node.parent.parent is tree.root else 2)
            indent = tree.guide_depth * depth + (2 if node.allow_expand else 0)
            assert node.label.cell_len + indent <= width, str(node.label)
        phase = str(tree._phases["pre"].label)
        assert phase.endswith("1/2")  # the count is whole
