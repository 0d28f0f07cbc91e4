"""An environment's hosts over a checklist's: the ``[hosts.NAME]`` tables of a vars file.

The same checklist runs on one staging host and on a group of app servers: the environment's
vars file (``--vars FILE``) may hold ``[hosts.NAME]`` tables that replace the checklist's tables
of the same name (and add hosts), e.g. turn ``[hosts.staging]`` into a group::

    [hosts.staging]
    members = ["app1", "app2", "app3"]
    [hosts.app1]
    address = "10.0.1.11"
    user = "{ssh_user}"
    ...

The tables are checked as the checklist's own are (shape, members, placeholders). The pinned
checklist stays the file as written; the tables are recorded in the run (``run_created``
``vars_file.hosts``), so a resume, the TUI and ``show`` see the same hosts (docs/fleets.md).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from pydantic import ValidationError

from iact_tui.engine.checklist.crosscheck import CrossCheck
from iact_tui.engine.checklist.load import LoadedChecklist
from iact_tui.engine.checklist.locator import Locator
from iact_tui.engine.checklist.model import Checklist
from iact_tui.engine.checklist.problems import ChecklistError, shape_problems


def with_hosts(
    loaded: LoadedChecklist, hosts: dict[str, Any] | None, source: str = ""
) -> LoadedChecklist:
    """``loaded`` with ``hosts`` (``[hosts.NAME]`` tables) over its own; the text and sha256
    (the pinned checklist) are kept. Raises ChecklistError naming ``source`` when the result is
    not a valid checklist (an unknown member, a bad port …)."""
    if not hosts:
        return loaded
    data = copy.deepcopy(loaded.data)
    data["hosts"] = {**dict(data.get("hosts", {})), **copy.deepcopy(hosts)}
    name = f"{loaded.path} with the hosts of {source or 'the vars file'}"
    locator = Locator(loaded.text)
    try:
        checklist = Checklist.model_validate(data)
    except ValidationError as exc:
        raise ChecklistError(shape_problems(name, exc, data, locator)) from None
    errors = [p for p in CrossCheck(checklist, name, locator).run() if not p.warning]
    if errors:
        raise ChecklistError(errors)
    return dataclasses.replace(loaded, checklist=checklist, data=data)


def recorded_hosts(info: dict[str, Any]) -> dict[str, Any] | None:
    """The hosts a run started with over its checklist's (``run_created`` ``vars_file.hosts``)."""
    vars_file = info.get("vars_file") or {}
    hosts = vars_file.get("hosts") if isinstance(vars_file, dict) else None
    return dict(hosts) if isinstance(hosts, dict) and hosts else None


__all__ = ["recorded_hosts", "with_hosts"]
