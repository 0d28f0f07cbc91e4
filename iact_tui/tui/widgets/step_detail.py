"""The selected step: title and state, instructions (Markdown), the resolved command or request
(secrets masked), expectations, captured values, evidence, and its live output."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static

from iact_tui.engine.status import StepStatus
from iact_tui.tui import format as fmt
from iact_tui.tui.run_model import RunView
from iact_tui.tui.widgets.host_table import host_table
from iact_tui.tui.widgets.manual_panel import ManualPanel
from iact_tui.tui.widgets.output_view import OutputView
from iact_tui.tui.widgets.theme import theme_style

QUIET = Style(dim=True)
# a step in one of these states says why (its message)
EXPLAINED = (StepStatus.FAILED, StepStatus.INTERRUPTED, StepStatus.NOT_APPLICABLE)


class StepDetail(Vertical):
    def __init__(self, view: RunView, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.step_id = ""
        self._instructions = ""
        self._shown: dict[str, tuple[str, tuple[Any, ...]]] = {}
        self._heights: dict[str, int | None] = {}  # lines of what is shown, when none wraps

    def compose(self) -> ComposeResult:
        yield Static("", id="step-heading")
        with VerticalScroll(id="step-info"):
            yield Markdown("", id="step-instructions")
            yield Static("", id="step-facts")
        yield ManualPanel(id="manual")
        yield OutputView(id="output")

    def on_mount(self) -> None:
        self.query_one("#manual", ManualPanel).display = False
        self.query_one("#step-info").can_focus = True

    # -- what is shown ----------------------------------------------------------------------------

    def show(self, step_id: str) -> None:
        """Show another step (or refresh the one shown), output included."""
        changed = step_id != self.step_id
        self.step_id = step_id
        if changed:  # the output first: whether it is shown depends on it
            self.query_one(OutputView).show(step_id, self.view.output_lines(step_id))
            rec = self.view.state.steps.get(step_id)
            running = rec is not None and rec.status == StepStatus.RUNNING
            self.output_count(step_id, self.view.lines_printed(step_id), running=running)
        self.refresh_facts()

    def refresh_facts(self) -> None:
        step_id = self.step_id
        rec = self.view.state.steps.get(step_id)
        step = self.view.step(step_id)
        self._update("#step-heading", self._heading(step_id, step, rec))
        instructions = (
            self.view.display(step.instructions) if step is not None and step.instructions else ""
        )
        if step is not None and step.kind == "notify":
            message = self.view.display(step.message)
            instructions = (
                (instructions + "\n\n" if instructions else "")
                + "**Message:**\n\n"
                + _quote(message)
            )
        if instructions != self._instructions:
            self._instructions = instructions
            md = self.query_one("#step-instructions", Markdown)
            md.update(instructions)
            md.display = bool(instructions)
        self._update("#step-facts", self._facts(step_id, step, rec))
        output = self.query_one(OutputView)
        # a manual step has no output; its room goes to the instructions and the answer panel
        self._show_output(
            not (step is not None and step.kind == "manual") or bool(output.line_count)
        )

    def _show_output(self, shown: bool) -> None:
        """Show the output pane, or give its room to the instructions. Inline styles of the
        two panes, not a class on this one: a class would style every widget in it again (tens
        of milliseconds, each time the selected step changes kind)."""
        output = self.query_one(OutputView)
        if output.display == shown:
            return
        output.display = shown
        info = self.query_one("#step-info")
        if shown:  # back to the stylesheet's (app.tcss #step-info)
            info.styles.clear_rule("height")
            info.styles.clear_rule("max_height")
            info.refresh(layout=True)
        else:
            info.styles.height = "1fr"
            info.styles.max_height = "100%"

    def _update(self, selector: str, text: Text) -> None:
        # only a real change is drawn, and only a change of height costs a layout (of the whole
        # screen: the step that starts must not hold up the reading of its output)
        key = (text.plain, tuple(text.spans))
        if self._shown.get(selector) == key:
            return
        widget = self.query_one(selector, Static)
        before = self._heights.get(selector)
        height = _height_unwrapped(text, widget.content_size.width)
        self._shown[selector] = key
        self._heights[selector] = height
        widget.update(text, layout=height is None or height != before)

    def _heading(self, step_id: str, step: Any, rec: Any) -> Text:
        if not step_id:
            return Text("Select a step in the tree to see it here.", QUIET)
        status = rec.status if rec is not None else StepStatus.PENDING
        title = self.view.display(step.display_title) if step is not None else step_id
        text = Text()
        text.append(
            f"{fmt.STEP_ICONS.get(status, '?')} {fmt.words(status)}",
            theme_style(self, fmt.STEP_COLOURS.get(status, "foreground"), bold=True),
        )
        text.append("  ")
        text.append(title, Style(bold=True))
        text.append("\n")
        kind = step.kind if step is not None else (rec.kind if rec is not None else "")
        meta = [step_id, kind]
        if step is not None and step.reference:
            meta.append(step.reference)
        if rec is not None and rec.attempts:
            meta.append(f"attempt {rec.attempts}")
        if rec is not None and rec.duration is not None:
            meta.append(fmt.duration(rec.duration))
        text.append(" · ".join(m for m in meta if m), QUIET)
        return text

    def _facts(self, step_id: str, step: Any, rec: Any) -> Text:
        text = Text()
        if not step_id:
            return text

        def line(label: str, value: str, style: Style | None = None) -> None:
            text.append(f"{label:<12}", QUIET)
            text.append(value, style or Style())
            text.append("\n")

        if rec is not None and rec.message and rec.status in EXPLAINED:
            line(
                "why",
                rec.message,
                theme_style(self, "error" if rec.status == StepStatus.FAILED else "warning"),
            )
        if step is not None and step.kind != "manual":
            command = self.view.describe(step_id)
            if command:
                text.append("command / request\n", QUIET)
                for cmd_line in command.splitlines():
                    text.append(f"  {cmd_line}\n", theme_style(self, "accent"))
        if step is not None:
            for label, value in expectations(step):
                line(label, value)
            for check in getattr(step, "checks", []) or []:
                line("check", f"☐ {self.view.display(check)}")
            names = list(getattr(step, "capture", {}) or {}) + list(
                getattr(step, "capture_json", {}) or {}
            )
            for name in names:
                captured = rec.captures.get(name) if rec is not None else None
                if self.view.values.is_secret(name):
                    shown = (
                        "*** (secret)"
                        if name in self.view.state.secret_captures
                        else "(not captured yet)"
                    )
                else:
                    shown = str(captured) if captured is not None else "(not captured yet)"
                line("capture", f"{name} = {shown}")
        if rec is not None:
            for key, value in rec.evidence.items():
                if key == "body_excerpt":
                    continue
                line("evidence", f"{key} = {value}")
            for artifact in rec.artifacts:
                size = artifact.get("size", "")
                digest = str(artifact.get("sha256", ""))[:16]
                line("artifact", f"{artifact.get('path', '')} ({size} bytes, sha256 {digest}…)")
            if rec.ticked_by:
                line("ticked by", f"{rec.ticked_by} at {fmt.local_time(rec.ticked_at)}")
            if rec.skip_reason:
                line("skipped", f"{rec.skip_reason} (by {rec.skipped_by})")
            if rec.decision:
                reason = f": {rec.decision_reason}" if rec.decision_reason else ""
                line("decision", f"{rec.decision}{reason}")
            if rec.note:
                for i, note_line in enumerate(rec.note.splitlines()):
                    line("note" if i == 0 else "", note_line)
            if rec.hints:
                line("hints", ", ".join(rec.hints), theme_style(self, "warning"))
        hosts = host_table(self.view, step_id, lambda name: theme_style(self, name))
        if hosts:  # a step on a host group: one line per host
            text.append("hosts\n", QUIET)
            text.append_text(hosts)
        return text

    # -- the output -------------------------------------------------------------------------------

    def add_output(self, step_id: str, lines: list[str]) -> None:
        if step_id == self.step_id:
            output = self.query_one(OutputView)
            output.add(lines)
            self._show_output(True)

    def output_count(self, step_id: str, printed: int, *, running: bool) -> None:
        """How many lines the step has printed, in the output's title: while it floods the
        screen, and when there are more than the view holds (all of them are in its log)."""
        if step_id != self.step_id:
            return
        output = self.query_one(OutputView)
        if running and printed > output.line_count:
            output.set_note(f"{printed:,} lines so far…")
        else:
            output.set_note(f"{printed:,} lines" if printed > (output.max_lines or 0) else "")

    # -- the manual answer ------------------------------------------------------------------------

    def ask_manual(self, step: Any, operator_name: str, tick_command: str = "") -> None:
        panel = self.query_one("#manual", ManualPanel)
        panel.ask(step, operator_name, tick_command)
        panel.display = True
        self.refresh_facts()

    def close_manual(self) -> None:
        self.query_one("#manual", ManualPanel).display = False
        self.refresh_facts()


def expectations(step: Any) -> list[tuple[str, str]]:
    """The step's checks and run options, in words."""
    out: list[tuple[str, str]] = []
    if step.kind in ("ssh", "local"):
        codes = " or ".join(str(c) for c in step.exit_codes)
        out.append(("expect", f"exit status {codes}"))
        if step.expect_output:
            out.append(("expect", f"a line matching {step.expect_output}"))
        if step.reject_output:
            out.append(("reject", f"no line matching {step.reject_output}"))
        if getattr(step, "host", None):
            out.append(("host", step.host + (" (sudo)" if getattr(step, "sudo", False) else "")))
    if step.kind == "http":
        statuses = " or ".join(str(s) for s in step.statuses)
        out.append(("expect", f"HTTP {statuses}"))
        for path, value in step.expect_json.items():
            out.append(("expect", f"JSON {path} = {value!r}"))
        if step.expect_body:
            out.append(("expect", f"body matching {step.expect_body}"))
        if step.max_latency_ms:
            out.append(("expect", f"latency under {step.max_latency_ms:g} ms"))
        if getattr(step, "host", None):
            out.append(("host", f"{step.host}: one request per host"))
    if step.timeout:
        out.append(("timeout", f"{step.timeout:g} s"))
    if step.retries:
        out.append(("retries", f"{step.retries}, {step.retry_delay:g} s apart"))
    if step.when:
        out.append(("when", f"{step.when} is true"))
    if step.confirm:
        out.append(("confirm", "asks before it runs"))
    if step.on_failure != "stop":
        out.append(("on failure", step.on_failure))
    if step.idempotent:
        out.append(("idempotent", "may be re-run after an interruption"))
    if step.changes:
        out.append(("changes", "the target"))
    role = getattr(step, "role", None)
    if role:
        out.append(("role", role + (" (four eyes)" if getattr(step, "four_eyes", False) else "")))
    return out


def _height_unwrapped(text: Text, width: int) -> int | None:
    """The lines ``text`` takes in ``width`` columns when none of them wraps, else None."""
    lines = text.plain.split("\n")
    if width <= 0 or any(cell_len(line) > width for line in lines):
        return None
    return len(lines)


def _quote(text: str) -> str:
    # a message is shown as written: a code block keeps its lines and never renders as Markdown
    fence = "````" if "```" in text else "```"
    return f"{fence}text\n{text}\n{fence}"
