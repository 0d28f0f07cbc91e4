"""Shell completion (click's): commands and options come from click itself; these callbacks add
the values only iact-tui knows: run ids and step ids (files complete as files).

Enable it once per shell (docs/checklist-format.md, "Shell completion"):

    eval "$(_IACT_TUI_COMPLETE=bash_source iact-tui)"      # ~/.bashrc
    eval "$(_IACT_TUI_COMPLETE=zsh_source iact-tui)"       # ~/.zshrc
    _IACT_TUI_COMPLETE=fish_source iact-tui | source       # ~/.config/fish/completions/iact-tui.fish

A callback never raises and never prints: a shell shows nothing rather than a traceback, and it
reads only folder names and the pinned checklist, so a tab press stays fast.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

PINNED = "checklist.toml"


def _runs_dir(ctx: click.Context) -> Path | None:
    node: click.Context | None = ctx
    while node is not None:
        value = node.params.get("runs_dir")
        if value:
            return Path(value).expanduser()
        node = node.parent
    if os.environ.get("IACT_RUNS_DIR"):
        return Path(os.environ["IACT_RUNS_DIR"]).expanduser()
    try:
        from iact_tui.engine.record.store import default_runs_dir

        return default_runs_dir()
    except Exception:
        return None


def _run_folders(ctx: click.Context) -> list[Path]:
    folder = _runs_dir(ctx)
    if folder is None or not folder.is_dir():
        return []
    try:
        runs = [p for p in folder.iterdir() if p.is_dir() and (p / PINNED).is_file()]
    except OSError:
        return []
    return sorted(runs, key=lambda p: p.name, reverse=True)  # ids start with the time: newest first


def complete_run_ids(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Run ids in the runs folder (--runs-dir, $IACT_RUNS_DIR or the default), newest first."""
    return [CompletionItem(p.name) for p in _run_folders(ctx) if p.name.startswith(incomplete)]


def _step_ids(folder: Path) -> list[tuple[str, str]]:
    try:
        data = tomllib.loads((folder / PINNED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    found: list[tuple[str, str]] = []

    def steps(table: Any) -> None:
        for step in table.get("steps", []) if isinstance(table, dict) else []:
            if isinstance(step, dict) and isinstance(step.get("id"), str):
                found.append((step["id"], str(step.get("title", ""))))

    for phase in data.get("phases", []):
        steps(phase)
        for alt in phase.get("alternatives", []) if isinstance(phase, dict) else []:
            steps(alt)
    return found


def _run_folder(ctx: click.Context, ref: str | None) -> Path | None:
    if not ref:
        return None
    candidate = Path(ref).expanduser()
    if candidate.is_file():
        candidate = candidate.parent
    if (candidate / PINNED).is_file():
        return candidate
    matches = [p for p in _run_folders(ctx) if ref in p.name]
    return matches[0] if len(matches) == 1 or (matches and matches[0].name == ref) else None


def complete_step_ids(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The step ids of the run named earlier on the line (``tick RUN <TAB>``), with titles."""
    ref = ctx.params.get("run_ref") or ctx.params.get("run") or _ref_from_words(ctx)
    folder = _run_folder(ctx, ref if isinstance(ref, str) else None)
    if folder is None:
        return []
    return [
        CompletionItem(sid, help=title)
        for sid, title in _step_ids(folder)
        if sid.startswith(incomplete)
    ]


def _ref_from_words(ctx: click.Context) -> str | None:
    """The RUN argument read from the words being completed: click does not parse the
    positionals of a line that ends in an option waiting for its value (``--rerun <TAB>``)."""
    import shlex

    try:
        words = shlex.split(os.environ.get("COMP_WORDS", ""))
    except ValueError:
        return None
    if ctx.info_name not in words:
        return None
    takes_value = {
        name
        for param in ctx.command.params
        if isinstance(param, click.Option) and not param.is_flag and not param.count
        for name in param.opts
    }
    after = words[words.index(ctx.info_name) + 1 :]
    for i, word in enumerate(after):
        if word.startswith("-") or (i > 0 and after[i - 1] in takes_value):
            continue
        return word
    return None
