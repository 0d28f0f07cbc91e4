"""The start of a run: who runs it, and the values to confirm or fill (secrets masked).

The questions come from the engine (``value_questions``); this form only collects the answers.
``submit`` starts the run and returns None, or returns why it cannot (shown on the form).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from iact_tui.engine.run.launch import ValueQuestion


@dataclass
class SetupAnswers:
    operator: str
    values: dict[str, str] = field(default_factory=dict)  # only what the person gave


class SetupScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s", "start", "Start", id="setup-start", tooltip="Start the run with these values"
        ),
        Binding("escape", "cancel", "Cancel", id="setup-cancel", tooltip="Do not start"),
    ]

    def __init__(
        self,
        heading: str,
        detail: str,
        operator: str,
        questions: list[ValueQuestion],
        submit: Callable[[SetupAnswers], str | None],
        cancel: Callable[[], None],
        *,
        operator_editable: bool = True,
        start_label: str = "Start run",
        banner: str = "",
    ) -> None:
        super().__init__()
        self.heading = heading
        self.detail = detail
        self.operator = operator
        self.questions = questions
        self.submit = submit
        self.cancel = cancel
        self.operator_editable = operator_editable
        self.start_label = start_label
        self.banner = banner  # the demo names its sandbox from the first screen on

    def compose(self) -> ComposeResult:
        yield Header()
        if self.banner:
            with VerticalScroll(id="banner-box"):
                yield Static(self.banner.strip(), id="banner", markup=False)
        with VerticalScroll(id="setup-form"):
            yield Label(self.heading, id="setup-heading", markup=False)
            if self.detail:
                yield Label(self.detail, id="setup-detail", markup=False)
            with Vertical(classes="setup-field"):
                yield Label(
                    "Operator: who runs this (recorded with every action)", classes="setup-label"
                )
                yield Input(
                    value=self.operator, id="setup-operator", disabled=not self.operator_editable
                )
            for q in self.questions:
                with Vertical(classes="setup-field"):
                    label = q.prompt if q.prompt != q.name else q.name
                    marks = (
                        [q.name]
                        + (["secret: typed masked, never recorded"] if q.secret else [])
                        + (["required"] if q.required else [])
                    )
                    yield Label(
                        f"{label}  ({', '.join(marks)})", classes="setup-label", markup=False
                    )
                    if q.description:
                        yield Label(q.description, classes="setup-description", markup=False)
                    if q.choices:
                        yield Select(
                            [(c, c) for c in q.choices],
                            value=q.default if q.default in q.choices else Select.BLANK,
                            id=f"var-{q.name}",
                            allow_blank=not q.default,
                        )
                    else:
                        yield Input(
                            value=q.default or "",
                            password=q.secret,
                            id=f"var-{q.name}",
                            placeholder="(keep the current value)"
                            if q.secret and not q.required
                            else "",
                        )
            yield Label("", id="setup-error", markup=False)
            with Horizontal(id="setup-buttons"):
                yield Button("Cancel", id="setup-cancel-button")
                yield Button(self.start_label, id="setup-start-button", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "New run" if self.operator_editable else "Resume"
        self.query_one("#setup-error", Label).display = False
        first = next(iter(self.query("#setup-form Input, #setup-form Select").results()), None)
        if first is not None:
            first.focus()

    def _error(self, text: str) -> None:
        label = self.query_one("#setup-error", Label)
        label.update(text)
        label.display = bool(text)

    def answers(self) -> SetupAnswers | str:
        operator = self.query_one("#setup-operator", Input).value.strip()
        if not operator:
            return "The operator's name is needed: every action is recorded with it."
        answers = SetupAnswers(operator)
        for q in self.questions:
            widget = self.query_one(f"#var-{q.name}")
            if isinstance(widget, Input):
                value = (
                    widget.value if q.secret else widget.value.strip()
                )  # a secret is taken as typed
            else:
                selected = widget.value  # type: ignore[attr-defined]
                value = "" if selected is Select.BLANK else str(selected)
            if value:
                answers.values[q.name] = value
            elif q.required:
                return f"“{q.prompt}” ({q.name}) needs a value."
        return answers

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        # Enter moves to the next field; on the last one it starts the run
        fields = list(self.query("#setup-form Input, #setup-form Select").results())
        index = fields.index(event.input) if event.input in fields else -1
        if 0 <= index < len(fields) - 1:
            fields[index + 1].focus()
        else:
            self.action_start()

    @on(Button.Pressed, "#setup-start-button")
    def action_start(self) -> None:
        answers = self.answers()
        if isinstance(answers, str):
            self._error(answers)
            return
        problem = self.submit(answers)
        if problem:
            self._error(problem)

    @on(Button.Pressed, "#setup-cancel-button")
    def action_cancel(self) -> None:
        self.cancel()
