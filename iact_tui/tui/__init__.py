"""The Textual front end: shows the engine's events and answers its questions.

Nothing under ``iact_tui.engine`` imports this package; the command line imports it only for the
commands that open a screen (``launch.py`` is the entry point).
"""
