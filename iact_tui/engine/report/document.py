"""The document model of a run's report, built from the run's state (the projection of its
events): the one source of the Markdown (markdown.py) and HTML (html.py) renderings, so that they
always say the same thing.

The shape follows the procedure's closing "Checklist de Deployment": phases, ``[x]`` / ``[ ]``
items, who ticked each and when, durations, notes, skip reasons, failures and the rollback, the
evidence (HTTP status and latency, artifacts' size and sha256), host key fingerprints, the
checklist's sha256 and the approvers. When the checklist has a ``[[summary]]``, it comes first,
each item mapped onto its steps' statuses.

Everything in it comes from the report, which never holds a secret value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iact_tui import __version__
from iact_tui.engine.checklist.outline import Outline
from iact_tui.engine.formatting import byte_size, duration, number, seconds_between, utc_time
from iact_tui.engine.record.state import RunState, StepRecord
from iact_tui.engine.report.layout import NAMESPACE
from iact_tui.engine.status import FINAL_RUN_STATES, RunStatus, StepStatus

Span = tuple[str, str]  # (style, text); style: "" plain, "code", "strong"
Line = list[Span]

TAIL_IN_EXPORT = 10  # lines of a failed step's output shown under it


def plain(text: str) -> Span:
    return ("", text)


def code(text: str) -> Span:
    return ("code", text)


def strong(text: str) -> Span:
    return ("strong", text)


@dataclass
class Item:
    checked: bool
    head: Line
    details: list[Line] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # preformatted lines
    state: str = ""  # a step status, for the HTML's colours


@dataclass
class Table:
    header: list[str]
    rows: list[list[Line]]


@dataclass
class Section:
    level: int
    title: Line
    intro: list[Line] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    table: Table | None = None
    children: list[Section] = field(default_factory=list)


@dataclass
class Document:
    title: str
    banner: Line | None
    facts: list[tuple[str, Line]]
    sections: list[Section]
    footer: list[Line]


STATUS_WORDS: dict[str, str] = {
    StepStatus.PASSED: "passed",
    StepStatus.FAILED: "failed",
    StepStatus.SKIPPED: "skipped",
    StepStatus.NOT_APPLICABLE: "not applicable",
    StepStatus.PENDING: "not run",
    StepStatus.RUNNING: "running (not finished)",
    StepStatus.WAITING: "waiting for a person",
    StepStatus.INTERRUPTED: "interrupted",
}

RUN_WORDS: dict[str, str] = {
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.ROLLED_BACK: "rolled back",
    RunStatus.ABORTED: "aborted",
    RunStatus.RUNNING: "running",
    RunStatus.PAUSED: "paused",
}


# -- the document -----------------------------------------------------------------------------


@dataclass
class RenderInput:
    """What the renderers need to know about a run besides its state."""

    state: RunState
    outline: Outline | None  # titles and summary from the pinned checklist, when it reads
    exported_at: str
    exported_by: str
    in_use: bool = False
    secret_captures: dict[str, list[str]] = field(default_factory=dict)  # step id -> names


def build_document(src: RenderInput) -> Document:
    state = src.state
    info = state.info
    title = str(info.get("checklist_title") or info.get("checklist_id") or "Run")
    finished = state.status in FINAL_RUN_STATES
    banner: Line | None = None
    if not finished:
        why = (
            "it was in use by a running iact-tui when exported"
            if src.in_use
            else "it can still be resumed"
        )
        banner = [
            strong("Not finished:"),
            plain(
                f" this run's status is {RUN_WORDS.get(state.status, state.status)} ({why}); "
                "this export is a snapshot of it."
            ),
        ]
    return Document(
        title=f"{title} — run report",
        banner=banner,
        facts=_facts(src),
        sections=[*_summary_sections(src), _steps_section(src), *_hosts_and_logs(src)],
        footer=_footer(src),
    )


def _facts(src: RenderInput) -> list[tuple[str, Line]]:
    state = src.state
    info = state.info
    facts: list[tuple[str, Line]] = []
    checklist = [code(str(info.get("checklist_id", "")))]
    if info.get("checklist_title"):
        checklist.append(plain(f" {info['checklist_title']}"))
    if info.get("checklist_version"):
        checklist.append(plain(f", version {info['checklist_version']}"))
    facts.append(("Checklist", checklist))
    pinned: Line = []
    if info.get("checklist_path"):
        pinned += [code(str(info["checklist_path"])), plain(", ")]
    pinned += [plain("sha256 "), code(state.checklist_sha256 or "unknown")]
    facts.append(("Checklist file", pinned))
    facts.append(("Run", [code(state.run_id)]))
    status = RUN_WORDS.get(state.status, state.status)
    if state.status not in FINAL_RUN_STATES:
        status += " — not finished"
    facts.append(("Status", [strong(status)]))
    operator = [plain(state.operator or "unknown")]
    if info.get("machine"):
        operator.append(plain(f", on {info['machine']}"))
    facts.append(("Operator", operator))
    facts.append(("Started", [plain(utc_time(state.started_at))]))
    if state.finished_at:
        facts.append(("Finished", [plain(utc_time(state.finished_at))]))
        elapsed = seconds_between(state.started_at, state.finished_at)
        if elapsed is not None:
            facts.append(("Duration", [plain(duration(elapsed))]))
    if state.approvers:
        line: Line = []
        for i, (step_id, who) in enumerate(state.approvers.items()):
            if i:
                line.append(plain("; "))
            line += [plain(f"{who} for "), code(step_id)]
        facts.append(("Approvers", line))
    approver_keys = info.get("approver_keys")
    if isinstance(approver_keys, dict) and approver_keys:  # the lists signed approvals were
        line = []  # checked against, pinned at the start: an auditor compares them with the team's
        for role, pinned in sorted(approver_keys.items()):
            if not isinstance(pinned, dict):
                continue
            if line:
                line.append(plain("; "))
            line += [
                plain(f"{role}: "),
                code(str(pinned.get("file", ""))),
                plain(", sha256 "),
                code(str(pinned.get("sha256", ""))),
            ]
        facts.append(("Approvers' keys", line))
    if state.skipped_approvals:  # a skipped four-eyes approval is said at the top of every export
        line = []
        for i, s in enumerate(state.skipped_approvals):
            if i:
                line.append(plain("; "))
            line += [code(s.id), plain(f" skipped by {s.skipped_by or 'unknown'}: {s.skip_reason}")]
        facts.append(("Approval skipped", [strong("yes — "), *line]))
    if state.choices:
        line = []
        for i, (phase_id, alts) in enumerate(state.choices.items()):
            if i:
                line.append(plain("; "))
            line.append(plain(f"{_phase_title(src, phase_id)}: "))
            line.append(plain(", ".join(_alternative_title(src, phase_id, a) for a in alts)))
        facts.append(("Alternatives chosen", line))
    if state.rollback_started:
        facts.append(
            ("Rollback", [plain("started: " + (state.rollback_reason or "no reason recorded"))])
        )
    if state.pause_reason and state.status == RunStatus.PAUSED:
        facts.append(("Paused", [plain(state.pause_reason)]))
    variables = info.get("variables") or {}
    if variables:
        line = []
        for i, (name, value) in enumerate(sorted(variables.items())):
            if i:
                line.append(plain(", "))
            line += [code(str(name)), plain(" = "), code(str(value))]
        facts.append(("Variables", line))
    secrets = info.get("secret_variables") or []
    if secrets:
        line = []
        for i, name in enumerate(secrets):
            if i:
                line.append(plain(", "))
            line.append(code(str(name)))
        line.append(plain(" — values never recorded"))
        facts.append(("Secret variables", line))
    counts = state.counts()
    order = [
        StepStatus.PASSED,
        StepStatus.FAILED,
        StepStatus.SKIPPED,
        StepStatus.NOT_APPLICABLE,
        StepStatus.INTERRUPTED,
        StepStatus.RUNNING,
        StepStatus.WAITING,
        StepStatus.PENDING,
    ]
    parts = [f"{counts[s]} {STATUS_WORDS[s]}" for s in order if counts.get(s)]
    facts.append(("Steps", [plain(", ".join(parts) or "none")]))
    if info.get("mode"):
        facts.append(("Mode", [plain(str(info["mode"]))]))
    return facts


def _phase_title(src: RenderInput, phase_id: str) -> str:
    p = src.outline.phases.get(phase_id) if src.outline else None
    return p.title if p and p.title else phase_id


def _phase_reference(src: RenderInput, phase_id: str) -> str:
    p = src.outline.phases.get(phase_id) if src.outline else None
    return p.reference if p else ""


def _alternative_title(src: RenderInput, phase_id: str, alt_id: str) -> str:
    p = src.outline.phases.get(phase_id) if src.outline else None
    return p.alternative_title(alt_id) if p else alt_id


def _status_word(s: StepRecord) -> str:
    word = STATUS_WORDS.get(s.status, s.status.replace("_", " "))
    if s.status == StepStatus.PASSED and s.ticked_by:
        word += f" (ticked by {s.ticked_by})"
    if s.status == StepStatus.SKIPPED and s.skip_reason:
        word += f": {s.skip_reason}"
    return word


def _summary_sections(src: RenderInput) -> list[Section]:
    if src.outline is None or not src.outline.summary:
        return []
    steps = src.state.steps
    top = Section(2, [plain("Deployment checklist")])
    for section_title, items in src.outline.summary:
        child = Section(3, [plain(section_title)])
        for text, step_ids in items:
            present = [steps[sid] for sid in step_ids if sid in steps]
            statuses = [s.status for s in present]
            checked = (
                bool(present)
                and all(st in (StepStatus.PASSED, StepStatus.NOT_APPLICABLE) for st in statuses)
                and StepStatus.PASSED in statuses
            )
            head: Line = [plain(text), plain(" — ")]
            if not present:
                head.append(plain("not in this run"))
            for i, s in enumerate(present):
                if i:
                    head.append(plain(", "))
                head += [code(s.id), plain(" " + _status_word(s))]
            state = (
                StepStatus.PASSED
                if checked
                else next(
                    (st for st in statuses if st != StepStatus.NOT_APPLICABLE), StepStatus.PENDING
                )
            )
            child.items.append(Item(checked, head, state=state))
        top.children.append(child)
    return [top]


def _steps_section(src: RenderInput) -> Section:
    state = src.state
    top = Section(2, [plain("Steps")])
    phases: dict[str, list[StepRecord]] = {}
    for s in state.steps.values():
        phases.setdefault(s.phase, []).append(s)
    for phase_id, steps in phases.items():
        title = _phase_title(src, phase_id)
        ref = _phase_reference(src, phase_id)
        heading = f"{title} ({ref})" if ref and ref not in title else title
        relevant = [s for s in steps if s.status != StepStatus.NOT_APPLICABLE]
        passed = sum(1 for s in relevant if s.status == StepStatus.PASSED)
        is_rollback = any(s.rollback for s in steps)
        if is_rollback:
            tail = (
                f"started: {state.rollback_reason or 'no reason recorded'}"
                if state.rollback_started
                else "not started"
            )
            heading += f" — {tail}"
        if not is_rollback or state.rollback_started:
            heading += f" — {passed} of {len(relevant)} passed"
        section = Section(3, [plain(heading)])
        groups: dict[str, list[StepRecord]] = {}
        for s in steps:
            groups.setdefault(s.alternative, []).append(s)
        chosen = state.choices.get(phase_id, [])
        for alt_id, alt_steps in groups.items():
            if not alt_id:
                section.items += [_step_item(src, s) for s in alt_steps]
                continue
            mark = "chosen" if alt_id in chosen else ("not chosen" if chosen else "not decided")
            child = Section(
                4,
                [
                    plain(_alternative_title(src, phase_id, alt_id) + " ("),
                    code(alt_id),
                    plain(f") — {mark}"),
                ],
            )
            child.items = [_step_item(src, s) for s in alt_steps]
            section.children.append(child)
        top.children.append(section)
    return top


def _step_item(src: RenderInput, s: StepRecord) -> Item:
    state = src.state
    head: Line = [strong(s.title or s.id), plain(" ("), code(s.id), plain(f", {s.kind}) — ")]
    details: list[Line] = []
    attempts = f" after {s.attempts} attempts" if s.attempts > 1 else ""
    if s.status in (StepStatus.PASSED, StepStatus.FAILED) and s.ticked_by:
        who = state.approvers.get(s.id) if s.status == StepStatus.PASSED else None
        head.append(
            plain(f"{s.status} — ticked by {who or s.ticked_by} at {utc_time(s.ticked_at)}")
        )
        if s.duration is not None:
            head.append(plain(f" (waited {duration(s.duration)})"))
    elif s.status in (StepStatus.PASSED, StepStatus.FAILED):
        head.append(plain(f"{s.status} at {utc_time(s.finished_at)}"))
        if s.duration is not None:
            head.append(plain(f" in {duration(s.duration)}"))
        head.append(plain(attempts))
    elif s.status == StepStatus.SKIPPED:
        who = f" by {s.skipped_by}" if s.skipped_by else ""
        head.append(plain(f"skipped{who} at {utc_time(s.finished_at)}"))
        if s.approval_skipped:
            head.append(strong(" — an approval (four eyes) was skipped"))
    elif s.status == StepStatus.WAITING:
        head.append(plain(f"waiting for a person since {utc_time(s.started_at)}"))
    elif s.status == StepStatus.RUNNING:
        head.append(plain(f"running since {utc_time(s.started_at)} (not finished)"))
    else:
        head.append(plain(STATUS_WORDS.get(s.status, s.status)))
    if s.approval_fingerprint:  # a signed answer (tick --sign): who signed, with which key
        details.append(
            [
                plain("signed by "),
                strong(s.approval_signer),
                plain(f" with {s.approval_key_type} key "),
                code(s.approval_fingerprint),
                plain(" (SSHSIG, namespace iact-tui-approval)"),
            ]
        )
    if s.status == StepStatus.SKIPPED:
        details.append([plain("Reason: " + (s.skip_reason or "none given"))])
    if s.ticked_ahead_at:
        details.append(
            [plain(f"Answered ahead of the run (tick --ahead) at {utc_time(s.ticked_ahead_at)}")]
        )
    if s.message and s.status in (
        StepStatus.FAILED,
        StepStatus.NOT_APPLICABLE,
        StepStatus.INTERRUPTED,
    ):
        labels: dict[str, str] = {
            StepStatus.FAILED: "Failure",
            StepStatus.NOT_APPLICABLE: "Reason",
            StepStatus.INTERRUPTED: "Interrupted",
        }
        label = labels[s.status]
        details.append([plain(f"{label}: {s.message}")])
    if s.decision:
        text = f"Decision after the failure: {s.decision}"
        if s.decision_reason:
            text += f" — {s.decision_reason}"
        details.append([plain(text)])
    if s.command and s.kind != "manual":
        details.append([plain("Command: "), code(s.command)])
    if s.note:
        details.append([plain("Note: " + s.note)])
    if s.evidence:
        details.append([plain("Evidence: " + _evidence(s.evidence))])
    for art in s.artifacts:
        line: Line = [plain("Artifact: "), code(str(art.get("path", "?")))]
        if "size" in art:
            line.append(plain(f" — {byte_size(int(art['size']))}"))
        if art.get("sha256"):
            line += [plain(", sha256 "), code(str(art["sha256"]))]
        details.append(line)
    secret_captures = state.secret_captures | set(state.info.get("secret_variables", []))
    for name, value in s.captures.items():
        if name in secret_captures:
            details.append([plain("Captured: "), code(name), plain(" (secret, not recorded)")])
        else:
            details.append([plain("Captured: "), code(name), plain(" = "), code(str(value))])
    for name in src.secret_captures.get(s.id, []):
        if name not in s.captures:
            details.append([plain("Captured: "), code(name), plain(" (secret, not recorded)")])
    for hint in s.hints:
        details.append([plain("Hint: " + hint)])
    if s.log_sha256:
        details.append(
            [
                plain("Log: "),
                code(s.log),
                plain(f" — {byte_size(s.log_bytes or 0)}, sha256 "),
                code(s.log_sha256),
            ]
        )
    output = list(s.output_tail[-TAIL_IN_EXPORT:]) if s.status == StepStatus.FAILED else []
    return Item(s.status == StepStatus.PASSED, head, details, output, s.status)


def _evidence(evidence: dict[str, Any]) -> str:
    parts: list[str] = []
    rest = dict(evidence)
    for key in ("http_status", "status"):
        if key in rest:
            parts.append(f"HTTP {rest.pop(key)}")
            break
    for key in ("latency_ms", "elapsed_ms"):
        if key in rest:
            parts.append(f"{number(rest.pop(key))} ms")
    method, url = rest.pop("method", None), rest.pop("url", None)
    if method or url:
        parts.append(" ".join(str(x) for x in (method, url) if x))
    if "body_excerpt" in rest:
        rest["body"] = rest.pop("body_excerpt")
    for key in sorted(rest):
        value = rest[key]
        text = (
            value
            if isinstance(value, str)
            else number(value)
            if isinstance(value, (int, float))
            else repr(value)
        )
        text = " ".join(str(text).split())
        if len(text) > 200:
            text = text[:199] + "…"
        parts.append(f"{key}: {text}")
    return " · ".join(parts)


def _hosts_and_logs(src: RenderInput) -> list[Section]:
    state = src.state
    out: list[Section] = []
    if state.hosts:
        rows: list[list[Line]] = []
        for h in state.hosts.values():
            address = str(h.get("address", ""))
            if h.get("port") not in (None, "", 22):
                address += f":{h['port']}"
            rows.append(
                [
                    [plain(str(h.get("host", "")))],
                    [plain(address)],
                    [plain(str(h.get("user", "")))],
                    [plain(str(h.get("key_type", "")) + " "), code(str(h.get("fingerprint", "")))],
                ]
            )
        out.append(
            Section(2, [plain("Hosts")], table=Table(["Host", "Address", "User", "Host key"], rows))
        )
    out.extend(_fleet_grid(src))
    logged = [s for s in state.steps.values() if s.log_sha256]
    host_logged = sorted(
        (r for r in state.fleet.records.values() if r.log_sha256),
        key=lambda r: (r.order or 1 << 30, r.step),
    )
    if logged or host_logged:
        rows = [
            [[code(s.id)], [code(s.log)], [plain(f"{s.log_bytes or 0:,}")], [code(s.log_sha256)]]
            for s in logged
        ] + [
            [
                [code(r.step), plain(" on "), code(r.host)],
                [code(r.log)],
                [plain(f"{r.log_bytes or 0:,}")],
                [code(r.log_sha256)],
            ]
            for r in host_logged
        ]
        out.append(
            Section(
                2,
                [plain("Step logs")],
                intro=[
                    [
                        plain("Each log's sha256 is recorded in the report's events; "),
                        code("iact-tui verify"),
                        plain(" re-hashes every one."),
                    ]
                ],
                table=Table(["Step", "Log", "Bytes", "sha256"], rows),
            )
        )
    return out


def _fleet_grid(src: RenderInput) -> list[Section]:
    """The host × step grid of the steps on host groups: one row per host, one column per step,
    each cell that host's status (``changed`` / ``unreachable`` where Ansible said so)."""
    fleet = src.state.fleet
    with_hosts = set(fleet.steps())
    if not with_hosts:
        return []
    steps = [sid for sid in src.state.steps if sid in with_hosts]
    steps += [sid for sid in fleet.steps() if sid not in steps]
    hosts, grid = fleet.grid(steps)
    rows: list[list[Line]] = []
    for host, cells in zip(hosts, grid, strict=True):
        row: list[Line] = [[code(host)]]
        for step_id, cell in zip(steps, cells, strict=True):
            rec = fleet.get(step_id, host)
            word = STATUS_WORDS.get(cell, cell) if cell else "—"
            if rec is not None and rec.attempts > 1:
                word += f" ({rec.attempts} attempts)"
            row.append([plain(word)])
        rows.append(row)
    stopped = [
        [
            plain(
                f"The rollout of {r.get('step') or r.get('phase') or 'a step'} stopped: "
                f"{r.get('reason', '')}"
            )
        ]
        for r in fleet.stopped
    ]
    intro: list[Line] = [
        [
            plain(
                "Each step on a host group, host by host (the step's own status summarises them; "
                "each host's log is listed under the step logs)."
            ),
        ],
        *stopped,
    ]
    return [Section(2, [plain("Hosts × steps")], intro=intro, table=Table(["Host", *steps], rows))]


def _footer(src: RenderInput) -> list[Line]:
    return [
        [
            plain(
                f"Exported by {src.exported_by} with iact-tui {__version__} at {utc_time(src.exported_at)}. "
                "This document is a rendering of "
            ),
            code("report.toml"),
            plain(
                ", the run's record; its events are hash-chained and it is the file that is signed."
            ),
        ],
        [
            plain("Verify it with "),
            code(
                f"ssh-keygen -Y verify -f allowed_signers -I ID -n {NAMESPACE} -s report.toml.sig < report.toml"
            ),
            plain(" or "),
            code("iact-tui verify report.toml --allowed-signers allowed_signers"),
            plain("."),
        ],
    ]
