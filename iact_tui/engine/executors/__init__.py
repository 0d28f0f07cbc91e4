"""One executor per step kind. Adding a kind: a module here and one line in ``EXECUTORS``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from iact_tui.engine.executors.base import Executor

EXECUTORS: dict[str, str] = {
    "ssh": "iact_tui.engine.executors.ssh:SshExecutor",
    "local": "iact_tui.engine.executors.local:LocalExecutor",
    "http": "iact_tui.engine.executors.http:HttpExecutor",
    "manual": "iact_tui.engine.executors.manual:ManualExecutor",
    "notify": "iact_tui.engine.executors.notify:NotifyExecutor",
    "github_checks": "iact_tui.engine.executors.github:GitHubChecksExecutor",
    "github_workflow": "iact_tui.engine.executors.github:GitHubWorkflowExecutor",
    "jenkins_status": "iact_tui.engine.executors.jenkins:JenkinsStatusExecutor",
    "jenkins_build": "iact_tui.engine.executors.jenkins:JenkinsBuildExecutor",
    "changelog": "iact_tui.engine.executors.changelog:ChangelogExecutor",
    "ansible": "iact_tui.engine.executors.ansible:AnsibleExecutor",
}

_cache: dict[str, Any] = {}


def executor_for(kind: str) -> Executor:
    """The executor instance for a step kind (modules are imported on first use)."""
    if kind not in _cache:
        module, _, name = EXECUTORS[kind].partition(":")
        _cache[kind] = getattr(importlib.import_module(module), name)()
    return cast("Executor", _cache[kind])


def needs_person(step: Any, values: Any = None) -> bool:
    """Whether ``step`` waits for a person's tick instead of being executed: its kind decides."""
    return executor_for(step.kind).needs_person(step, values)
