"""Fixtures of the TUI tests (the helpers are in harness.py)."""

from __future__ import annotations

import pytest

from tests.tui.harness import Recorder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
