"""Shared fixtures. Fixture modules of each area register here."""

from __future__ import annotations

import importlib.util

pytest_plugins = [
    name
    for name in ("tests.fixtures_http", "tests.fixtures_ssh")
    if importlib.util.find_spec(name) is not None
]
