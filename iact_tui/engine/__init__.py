"""The engine: checklist model, executors, run state, report store, signing, headless runner.

Nothing under this package imports Textual; the TUI is one front end over it
(tests/test_import_hygiene.py and the import-linter contract in pyproject.toml guard that).
"""
