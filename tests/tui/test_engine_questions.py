"""The engine's list of start-of-run questions (session.value_questions), which the TUI's form
shows: the same values `new_session` / `resume_session` then ask for, in the same order."""

from __future__ import annotations

from pathlib import Path

import pytest

from iact_tui.engine.checklist.load import load_checklist
from iact_tui.engine.run.launch import (
    BadInput,
    SessionSpec,
    new_session,
    resume_value_questions,
    value_questions,
)
from tests.tui.harness import write_checklist

CHECKLIST = """
schema_version = 1

[checklist]
id = "Q-1"
title = "Questions"
version = "1"

[vars.branch]
default = "develop"
prompt = "Branch to deploy"

[vars.db_name]
default = "app"

[vars.password]
secret = true
prompt = "Password"

[vars.level]
default = "low"
prompt = "Level"
choices = ["low", "high"]

[[phases]]
id = "p"
title = "P"

[[phases.steps]]
id = "s"
kind = "local"
run = "echo {branch} {db_name} {password} {level}"
"""


class Nobody:
    name = "ana"


def test_questions_are_what_new_session_asks(tmp_path: Path) -> None:
    path = write_checklist(tmp_path, CHECKLIST)
    spec = SessionSpec(tmp_path / "runs", "ana")
    questions = value_questions(load_checklist(path), spec, prompt_all=True)
    assert [q.name for q in questions] == ["branch", "password", "level"]
    branch, password, level = questions
    assert (branch.default, branch.required, branch.secret) == ("develop", False, False)
    assert (password.default, password.required, password.secret) == (None, True, True)
    assert level.choices == ("low", "high")
    asked: list[str] = []

    def ask(name: str, prompt: str, secret: bool, default: str | None) -> str | None:
        asked.append(name)
        return {"password": "pw-4321", "branch": "release"}.get(name)

    runner = new_session(path, spec, Nobody(), lambda _e: None, ask, prompt_all=True)  # type: ignore[arg-type]
    try:
        assert asked == [q.name for q in questions]
        assert runner.values.values["branch"] == "release"
    finally:
        runner.store.lock.release()


def test_overrides_are_not_asked_and_bad_input_is_refused(tmp_path: Path) -> None:
    path = write_checklist(tmp_path, CHECKLIST)
    loaded = load_checklist(path)
    spec = SessionSpec(tmp_path / "runs", "ana", overrides={"branch": "main", "password": "x"})
    assert [q.name for q in value_questions(loaded, spec, prompt_all=True)] == ["level"]
    with pytest.raises(BadInput, match="no variable 'brnch'"):
        value_questions(
            loaded, SessionSpec(tmp_path / "runs", "ana", overrides={"brnch": "x"}), prompt_all=True
        )


def test_a_resume_asks_for_the_secrets_again(tmp_path: Path) -> None:
    path = write_checklist(tmp_path, CHECKLIST)
    spec = SessionSpec(tmp_path / "runs", "ana")
    runner = new_session(
        path,
        spec,
        Nobody(),
        lambda _e: None,
        lambda n, p, s, d: "pw-4321" if s else d,  # type: ignore[arg-type]
        prompt_all=True,
    )
    runner.store.close()
    questions = resume_value_questions(runner.store.folder, spec)
    assert [(q.name, q.secret, q.required) for q in questions] == [("password", True, True)]
