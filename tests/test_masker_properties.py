"""Property-based tests of the masker (issue 10, "How it is checked"): random secrets embedded
in random output, encoded in every listed form, split at random read boundaries (and with a
small long-line limit, so that long lines are cut too): no form of a secret is ever found in the
log, the events, the tail, the report or the headless printer's output; and the output is
otherwise passed on unchanged."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iact_tui.engine import events as ev
from iact_tui.engine.checklist.masking import MASK, Redactor
from iact_tui.engine.executors import base as executors_base
from iact_tui.engine.executors.base import Expectations, LogWriter, OutputCollector
from iact_tui.headless.printer import Printer
from tests.test_masking import forms_of, leaked

# letters, digits, punctuation (a slash, a plus, a space, quotes, a backslash, a percent sign),
# non-ASCII and astral characters: what a password or a token may hold
SECRET_CHARS = st.sampled_from([*"abcxyzABCXYZ0189", *"/+ =-_.~:@\"'\\%&?#", "é", "ñ", "ü", "€", "→", "😀", "中"])
NOISE_CHARS = st.sampled_from([*"abc xyz 012 \n\n\t/+=%\\\"{}:,-_", "é", "😀"])

secrets = st.text(SECRET_CHARS, min_size=8, max_size=24).filter(lambda s: s.strip() == s and "\n" not in s)
noise = st.text(NOISE_CHARS, max_size=120)
form_names = st.sampled_from(sorted(forms_of("x" * 8)))

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Run:
    """One collector with its log, events and tail, as a step's output goes through them."""

    def __init__(self, folder: Path, secrets: list[str]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        self.values = type("V", (), {"redactor": Redactor(secrets)})()
        self.events: list[ev.Event] = []
        self.log = LogWriter(folder / "out.log")
        self.collector = OutputCollector("s", self.log, self.events.append, self.values, Expectations(),
                                         lambda n, v: None)  # type: ignore[arg-type]

    def feed(self, data: bytes, cuts: list[int]) -> dict[str, str]:
        last = 0
        for cut in [*sorted(set(cuts)), len(data)]:
            self.collector.feed(data[last:cut])
            last = cut
        self.collector.close()
        self.log.close()
        printed = io.StringIO()
        printer = Printer(printed, verbose=True)
        for event in self.events:
            printer(event)
        return {
            "log": self.log.path.read_text(),
            "events": "".join(e.text for e in self.events if isinstance(e, ev.StepOutput)),
            "tail": "\n".join(self.collector.tail),
            "printed": printed.getvalue(),
            "report": json.dumps({"output_tail": list(self.collector.tail)}, ensure_ascii=False),
        }


@pytest.fixture(autouse=True)
def small_long_line_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executors_base, "MAX_LINE", 200)  # long lines are cut, in small examples too


@SETTINGS
@given(secret=secrets, form=form_names, before=noise, after=noise, cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_a_secret_in_any_form_split_anywhere_is_never_found(
    tmp_path: Path, secret: str, form: str, before: str, after: str, cuts: list[int]
) -> None:
    shown = forms_of(secret)[form]
    text = before + shown + after
    data = text.encode()
    found = Run(tmp_path / "run", [secret]).feed(data, [c % (len(data) + 1) for c in cuts])
    for where, artefact in found.items():
        assert not leaked(artefact, secret), (where, leaked(artefact, secret), artefact)
    # nothing else changes: the log is the whole output masked at once (no newline added)
    assert found["log"] == Redactor([secret])(text.replace("\r\n", "\n"))
    assert found["events"] == found["log"]


@SETTINGS
@given(
    lines=st.lists(st.text(SECRET_CHARS, min_size=8, max_size=30).filter(lambda s: s.strip() == s), min_size=2, max_size=4),
    before=noise,
    after=noise,
    crlf=st.booleans(),
    cuts=st.lists(st.integers(0, 3000), max_size=10),
)
def test_a_multi_line_secret_split_anywhere_is_never_found(
    tmp_path: Path, lines: list[str], before: str, after: str, crlf: bool, cuts: list[int]
) -> None:
    secret = "\n".join(lines)
    text = before + "\n" + (secret.replace("\n", "\r\n") if crlf else secret) + "\n" + after
    data = text.encode()
    found = Run(tmp_path / "run", [secret]).feed(data, [c % (len(data) + 1) for c in cuts])
    for where, artefact in found.items():
        assert secret not in artefact, where
        assert not [line for line in lines if line in artefact], (where, artefact)
    assert found["events"] == found["log"]


@SETTINGS
@given(secret=secrets, user=st.text(st.sampled_from("abcuser:0123"), max_size=6), after=st.text(max_size=3))
def test_a_secret_inside_any_base64_is_masked(secret: str, user: str, after: str) -> None:
    import base64

    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode((user + secret + after).encode()).decode()
        masked = Redactor([secret])(f"Authorization: Basic {encoded}\n")
        assert MASK in masked and not leaked(masked, secret), (encoded, masked)


@SETTINGS
@given(secret=secrets, text=noise)
def test_masking_changes_nothing_without_a_secret_form(secret: str, text: str) -> None:
    if secret not in text and not leaked(text, secret):
        assert Redactor([secret])(text) == text
