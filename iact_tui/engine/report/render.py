"""The human checklist of a run, as Markdown (pastes into a pull request or a change ticket) and
as one self-contained printable HTML file.

Both come from one document model built from the run's state (the projection of its events),
so they always say the same thing. The shape follows the procedure's closing "Checklist de
Deployment": phases, ``[x]`` / ``[ ]`` items, who ticked each and when, durations, notes, skip
reasons, failures and the rollback, the evidence (HTTP status and latency, artifacts' size and
sha256), host key fingerprints, the checklist's sha256 and the approvers. When the checklist has
a ``[[summary]]``, it is rendered first with each item mapped onto its steps' statuses.

Everything rendered comes from the report, which never holds a secret value.
"""

from __future__ import annotations

import html
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from iact_tui import __version__
from iact_tui.engine.report.names import NAMESPACE
from iact_tui.engine.record.state import FINAL_RUN_STATES, RunState, StepRecord

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


# -- formatting of values ---------------------------------------------------------------------


def fmt_time(value: str | datetime | None) -> str:
    if not value:
        return ""
    t = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def fmt_bytes(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit} ({size:,} bytes)"


def fmt_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _seconds_between(start: str, end: str) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


STATUS_WORDS = {
    "passed": "passed",
    "failed": "failed",
    "skipped": "skipped",
    "not_applicable": "not applicable",
    "pending": "not run",
    "running": "running (not finished)",
    "waiting": "waiting for a person",
    "interrupted": "interrupted",
}

RUN_WORDS = {
    "succeeded": "succeeded",
    "failed": "failed",
    "rolled_back": "rolled back",
    "aborted": "aborted",
    "running": "running",
    "paused": "paused",
}


# -- the document -----------------------------------------------------------------------------


@dataclass
class PhaseOutline:
    title: str
    reference: str
    alternatives: dict[str, str]  # id -> title


@dataclass
class Outline:
    """What the documents take from the pinned checklist: titles and the closing summary.

    Read straight from its TOML: the checklist was validated when the run started, and a
    full validation of a long checklist would cost more than the whole rendering."""

    phases: dict[str, PhaseOutline]
    summary: list[tuple[str, list[tuple[str, list[str]]]]]


def checklist_outline(raw: bytes) -> Outline | None:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
        phases = {
            str(p["id"]): PhaseOutline(
                str(p.get("title", p["id"])),
                str(p.get("reference", "")),
                {str(a["id"]): str(a.get("title", a["id"])) for a in p.get("alternatives", [])},
            )
            for p in data.get("phases", [])
        }
        summary = [
            (
                str(sec["title"]),
                [
                    (str(i["text"]), [str(x) for x in i.get("steps", [])])
                    for i in sec.get("items", [])
                ],
            )
            for sec in data.get("summary", [])
        ]
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        return None
    return Outline(phases, summary)


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
    facts.append(("Started", [plain(fmt_time(state.started_at))]))
    if state.finished_at:
        facts.append(("Finished", [plain(fmt_time(state.finished_at))]))
        elapsed = _seconds_between(state.started_at, state.finished_at)
        if elapsed is not None:
            facts.append(("Duration", [plain(fmt_duration(elapsed))]))
    if state.approvers:
        line: Line = []
        for i, (step_id, who) in enumerate(state.approvers.items()):
            if i:
                line.append(plain("; "))
            line += [plain(f"{who} for "), code(step_id)]
        facts.append(("Approvers", line))
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
    if state.pause_reason and state.status == "paused":
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
        "passed",
        "failed",
        "skipped",
        "not_applicable",
        "interrupted",
        "running",
        "waiting",
        "pending",
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
    return p.alternatives.get(alt_id, alt_id) if p else alt_id


def _status_word(s: StepRecord) -> str:
    word = STATUS_WORDS.get(s.status, s.status.replace("_", " "))
    if s.status == "passed" and s.ticked_by:
        word += f" (ticked by {s.ticked_by})"
    if s.status == "skipped" and s.skip_reason:
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
                and all(st in ("passed", "not_applicable") for st in statuses)
                and "passed" in statuses
            )
            head: Line = [plain(text), plain(" — ")]
            if not present:
                head.append(plain("not in this run"))
            for i, s in enumerate(present):
                if i:
                    head.append(plain(", "))
                head += [code(s.id), plain(" " + _status_word(s))]
            state = (
                "passed"
                if checked
                else next((st for st in statuses if st != "not_applicable"), "pending")
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
        relevant = [s for s in steps if s.status != "not_applicable"]
        passed = sum(1 for s in relevant if s.status == "passed")
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
    if s.status in ("passed", "failed") and s.ticked_by:
        who = state.approvers.get(s.id) if s.status == "passed" else None
        head.append(
            plain(f"{s.status} — ticked by {who or s.ticked_by} at {fmt_time(s.ticked_at)}")
        )
        if s.duration is not None:
            head.append(plain(f" (waited {fmt_duration(s.duration)})"))
    elif s.status in ("passed", "failed"):
        head.append(plain(f"{s.status} at {fmt_time(s.finished_at)}"))
        if s.duration is not None:
            head.append(plain(f" in {fmt_duration(s.duration)}"))
        head.append(plain(attempts))
    elif s.status == "skipped":
        who = f" by {s.skipped_by}" if s.skipped_by else ""
        head.append(plain(f"skipped{who} at {fmt_time(s.finished_at)}"))
        if s.approval_skipped:
            head.append(strong(" — an approval (four eyes) was skipped"))
    elif s.status == "waiting":
        head.append(plain(f"waiting for a person since {fmt_time(s.started_at)}"))
    elif s.status == "running":
        head.append(plain(f"running since {fmt_time(s.started_at)} (not finished)"))
    else:
        head.append(plain(STATUS_WORDS.get(s.status, s.status)))
    if s.status == "skipped":
        details.append([plain("Reason: " + (s.skip_reason or "none given"))])
    if s.ticked_ahead_at:
        details.append([plain(f"Answered ahead of the run (tick --ahead) at {fmt_time(s.ticked_ahead_at)}")])
    if s.message and s.status in ("failed", "not_applicable", "interrupted"):
        label = {"failed": "Failure", "not_applicable": "Reason", "interrupted": "Interrupted"}[
            s.status
        ]
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
            line.append(plain(f" — {fmt_bytes(int(art['size']))}"))
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
                plain(f" — {fmt_bytes(s.log_bytes or 0)}, sha256 "),
                code(s.log_sha256),
            ]
        )
    output = list(s.output_tail[-TAIL_IN_EXPORT:]) if s.status == "failed" else []
    return Item(s.status == "passed", head, details, output, s.status)


def _evidence(evidence: dict[str, Any]) -> str:
    parts: list[str] = []
    rest = dict(evidence)
    for key in ("http_status", "status"):
        if key in rest:
            parts.append(f"HTTP {rest.pop(key)}")
            break
    for key in ("latency_ms", "elapsed_ms"):
        if key in rest:
            parts.append(f"{fmt_number(rest.pop(key))} ms")
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
            else fmt_number(value)
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
    logged = [s for s in state.steps.values() if s.log_sha256]
    if logged:
        rows = [
            [[code(s.id)], [code(s.log)], [plain(f"{s.log_bytes or 0:,}")], [code(s.log_sha256)]]
            for s in logged
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


def _footer(src: RenderInput) -> list[Line]:
    return [
        [
            plain(
                f"Exported by {src.exported_by} with iact-tui {__version__} at {fmt_time(src.exported_at)}. "
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


# -- Markdown ---------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~&])")
# an underscore inside a word never starts emphasis (GFM): JWT_SECRET_KEY stays readable
_MD_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_MD_LINE_START = re.compile(r"^(\s*)([-+#>=]|\d+[.)])")


def _md_plain(text: str, in_table: bool) -> str:
    text = _MD_UNDERSCORE.sub(r"\\_", _MD_SPECIAL.sub(r"\\\1", text))
    if in_table:
        return " / ".join(part.strip() for part in text.splitlines()) if "\n" in text else text
    lines = text.split("\n")
    out = [lines[0]] + [_MD_LINE_START.sub(r"\1\\\2", ln) for ln in lines[1:]]
    return "\\\n    ".join(out)  # a hard line break, continuing the list item


def _md_code(text: str, in_table: bool) -> str:
    text = " ↵ ".join(text.splitlines()) if "\n" in text else text
    if in_table:
        text = text.replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_line(line: Line, in_table: bool = False) -> str:
    out = []
    for style, text in line:
        if style == "code":
            out.append(_md_code(text, in_table))
        elif style == "strong":
            out.append(f"**{_md_plain(text, in_table)}**")
        else:
            out.append(_md_plain(text, in_table))
    return "".join(out)


def render_markdown(doc: Document) -> str:
    out: list[str] = [f"# {_md_plain(doc.title, False)}", ""]
    if doc.banner:
        out += [f"> {md_line(doc.banner)}", ""]
    out += ["| Field | Value |", "|---|---|"]
    out += [f"| {_md_plain(k, True)} | {md_line(v, True)} |" for k, v in doc.facts]
    out.append("")
    for section in doc.sections:
        _md_section(section, out)
    out.append("---")
    out.append("")
    for line in doc.footer:
        out += [md_line(line), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _md_section(section: Section, out: list[str]) -> None:
    out += [f"{'#' * section.level} {md_line(section.title)}", ""]
    for line in section.intro:
        out += [md_line(line), ""]
    if section.items:
        for item in section.items:
            out.append(f"- [{'x' if item.checked else ' '}] {md_line(item.head)}")
            for d in item.details:
                out.append(f"  - {md_line(d)}")
            if item.output:
                body = "\n".join(item.output)
                longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=2)
                fence = "`" * (longest + 1)
                out.append("  - Output (last lines):")
                out.append("")
                out.append(f"    {fence}text")
                out += [f"    {ln}" for ln in item.output]
                out.append(f"    {fence}")
        out.append("")
    if section.table:
        t = section.table
        out.append("| " + " | ".join(t.header) + " |")
        out.append("|" + "---|" * len(t.header))
        for row in t.rows:
            out.append("| " + " | ".join(md_line(cell, True) for cell in row) + " |")
        out.append("")
    for child in section.children:
        _md_section(child, out)


# -- HTML -------------------------------------------------------------------------------------

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f23;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .5rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
h4 { font-size: .95rem; margin: 1rem 0 .3rem; color: #444; }
code, pre { font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code { background: #f3f4f6; padding: 0 .25em; border-radius: 3px; overflow-wrap: anywhere; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: .5rem; white-space: pre-wrap;
      overflow-wrap: anywhere; margin: .3rem 0; }
table { border-collapse: collapse; margin: .5rem 0 1rem; width: 100%; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
table.facts th { width: 11rem; }
.banner { background: #fff8c5; border: 1px solid #d4a72c; padding: .5rem .75rem; }
ul.checklist { list-style: none; padding-left: 0; margin: .3rem 0; }
ul.checklist > li { margin: .35rem 0; page-break-inside: avoid; break-inside: avoid; }
ul.details { margin: .15rem 0 .15rem 1.6rem; padding-left: 1rem; color: #333; }
.box { display: inline-block; width: 1.3em; font-size: 1.1em; }
li.passed > .box { color: #1a7f37; }
li.failed > .box, li.interrupted > .box { color: #cf222e; }
li.skipped > .box, li.waiting > .box, li.running > .box { color: #9a6700; }
li.not_applicable, li.pending { color: #57606a; }
footer { margin-top: 2rem; border-top: 1px solid #d0d7de; padding-top: .5rem; color: #57606a; font-size: 12px; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  h2 { page-break-after: avoid; break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
@page { margin: 15mm; }
"""


def html_line(line: Line) -> str:
    out = []
    for style, text in line:
        escaped = html.escape(text, quote=True)
        if style == "code":
            out.append(f"<code>{escaped}</code>")
        elif style == "strong":
            out.append(f"<strong>{escaped.replace(chr(10), '<br>')}</strong>")
        else:
            out.append(escaped.replace("\n", "<br>"))
    return "".join(out)


def render_html(doc: Document) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # nothing may load from anywhere: the file is its own whole record
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(doc.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(doc.title)}</h1>",
    ]
    if doc.banner:
        out.append(f'<p class="banner">{html_line(doc.banner)}</p>')
    out.append('<table class="facts">')
    for key, value in doc.facts:
        out.append(f"<tr><th>{html.escape(key)}</th><td>{html_line(value)}</td></tr>")
    out.append("</table>")
    for section in doc.sections:
        _html_section(section, out)
    out.append("<footer>")
    out += [f"<p>{html_line(line)}</p>" for line in doc.footer]
    out += ["</footer>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _html_section(section: Section, out: list[str]) -> None:
    level = min(section.level, 6)
    out.append(f"<h{level}>{html_line(section.title)}</h{level}>")
    for line in section.intro:
        out.append(f"<p>{html_line(line)}</p>")
    if section.items:
        out.append('<ul class="checklist">')
        for item in section.items:
            box = "☑" if item.checked else "☐"
            label = "done" if item.checked else "not done"
            state = html.escape(item.state or ("passed" if item.checked else "pending"))
            out.append(
                f'<li class="{state}"><span class="box" aria-label="{label}">{box}</span>{html_line(item.head)}'
            )
            if item.details:
                out.append('<ul class="details">')
                out += [f"<li>{html_line(d)}</li>" for d in item.details]
                out.append("</ul>")
            if item.output:
                out.append("<pre>" + html.escape("\n".join(item.output)) + "</pre>")
            out.append("</li>")
        out.append("</ul>")
    if section.table:
        t = section.table
        out.append("<table>")
        out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in t.header) + "</tr>")
        for row in t.rows:
            out.append("<tr>" + "".join(f"<td>{html_line(c)}</td>" for c in row) + "</tr>")
        out.append("</table>")
    for child in section.children:
        _html_section(child, out)
