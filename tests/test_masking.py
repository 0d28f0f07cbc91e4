"""Secrets are masked by value everywhere (issue 10, items 4-6): in the forms a secret is written
in (JSON, percent-encoding, base64), in failure messages and tracebacks, in multi-line values
and in output that arrives in pieces; and nothing else in the output is changed."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from iact_tui.engine import events as ev
from iact_tui.engine.checklist.masking import Redactor
from iact_tui.engine.executors import base as executors_base
from iact_tui.engine.executors.base import Expectations, LogWriter, OutputCollector
from tests.helpers import HEADER, cli, only_run, state_of, write_checklist

TOKEN = "tók/en+8Zq2 Wm4~"  # a slash, a plus, a space, a non-ASCII letter


def b64(data: bytes, url: bool = False, pad: bool = True) -> str:
    text = (base64.urlsafe_b64encode if url else base64.b64encode)(data).decode()
    return text if pad else text.rstrip("=")


def u_escaped(secret: str) -> str:
    """Every character as JSON's \\uXXXX (a surrogate pair beyond the BMP)."""
    units = secret.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2))


def forms_of(secret: str) -> dict[str, str]:
    """Every listed form of a secret (issue 10, item 4), as a program would print it."""
    data = secret.encode()
    return {
        "raw": secret,
        "json ensure_ascii": json.dumps(secret)[1:-1],
        "json not ascii": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json escaped slashes (PHP)": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "json \\u for every character": u_escaped(secret),
        "json \\u upper case": u_escaped(secret).upper().replace("\\U", "\\u"),
        "quote (keeps /)": urllib.parse.quote(secret),
        "quote safe=''": urllib.parse.quote(secret, safe=""),
        "quote lower-case hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(secret)),
        "quote safe='~ /+'": urllib.parse.quote(secret, safe="~ /+"),
        "quote_plus": urllib.parse.quote_plus(secret),
        "base64": b64(data),
        "base64 no padding": b64(data, pad=False),
        "base64url": b64(data, url=True),
        "base64url no padding": b64(data, url=True, pad=False),
    }


def decodes_to_secret(text: str, secret: str) -> bool:
    """Whether any base64 or base64url run in the text, read from any of its first four
    characters, holds the secret's bytes."""
    data = secret.encode()
    for run in re.findall(r"[A-Za-z0-9+/_-]{8,}", text):
        for shift in range(4):
            piece = run[shift:]
            piece = piece[: len(piece) - len(piece) % 4]
            for alt in (b"+/", b"-_"):
                try:
                    if data in base64.b64decode(piece, altchars=alt, validate=True):
                        return True
                except ValueError:
                    continue
    return False


def leaked(text: str, secret: str) -> list[str]:
    found = [name for name, form in forms_of(secret).items() if form in text]
    if decodes_to_secret(text, secret):
        found.append("base64 inside a longer text")
    return found


# -- item 4: the forms ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(forms_of(TOKEN)))
def test_every_form_of_a_secret_is_masked(name: str) -> None:
    form = forms_of(TOKEN)[name]
    masked = Redactor([TOKEN])(f'{{"token": "{form}", "next": 1}}')
    assert masked == '{"token": "***", "next": 1}', (name, masked)


@pytest.mark.parametrize("user", ["", "a", "ab", "user", "admin:x"])
def test_a_secret_inside_base64_of_a_longer_text_is_masked_at_every_alignment(user: str) -> None:
    """HTTP basic auth: base64("user:password"); the secret starts at any of the three byte
    alignments. The characters that encode only the secret are masked."""
    secret = "p4ss-w0rd/Long"
    for url in (False, True):
        for after in ("", "!", "!?"):
            header = "Authorization: Basic " + b64(f"{user}:{secret}{after}".encode(), url=url)
            masked = Redactor([secret])(header)
            assert "***" in masked and not decodes_to_secret(masked, secret), (user, after, masked)


def test_short_secrets_are_not_masked_as_base64_and_plain_text_is_untouched() -> None:
    r = Redactor(["s3cr3t7", "hunter22-long"])
    text = "a normal line: 100% done, path C:\\tmp\\x, url /a%20b?q=1+2 and base64 aGVsbG8gd29ybGQ=\n"
    assert r(text) == text
    assert r(b64(b"s3cr3t7")) == b64(b"s3cr3t7")  # 7 characters: too short for base64
    assert r("s3cr3t7") == "***"


def test_a_json_body_with_a_captured_token_in_every_form(tmp_path: Path) -> None:
    """The login token, captured at run time: every form of it in the output of later steps is
    masked on the terminal, in the logs, the report, the journal and the exports."""
    script = (
        "import base64, json, sys, urllib.parse as u\n"
        "t = sys.argv[1]\n"
        "print(json.dumps({'token': t})); print(json.dumps({'token': t}).replace('/', '\\\\/'))\n"
        "print(''.join('\\\\u%04x' % ord(c) for c in t)); print(u.quote(t)); print(u.quote_plus(t))\n"
        "print(u.quote(t, safe='').lower())\n"
        "for e in (base64.b64encode, base64.urlsafe_b64encode):\n"
        "    print(e(t.encode()).decode()); print(e(t.encode()).decode().rstrip('='))\n"
        "    print('Basic', e(b'ana:' + t.encode()).decode())\n"
        "print('visible-marker-4242')\n"
    )
    (tmp_path / "forms.py").write_text(script)
    checklist = write_checklist(tmp_path, HEADER + f"""
[vars.py]
default = "{sys.executable}"
[vars.token]
secret = true

[[phases]]
id = "p"
title = "P"

[[phases.steps]]
id = "login"
kind = "local"
run = "printenv T_LOGIN_ANSWER"  # the server's answer: the token exists only at run time
capture = {{ token = "token=(.+)$" }}

[[phases.steps]]
id = "forms"
kind = "local"
run = "{{py}} {tmp_path / 'forms.py'} {{token}}"
""")
    runs = tmp_path / "runs"
    run = cli("run", str(checklist), "--headless", "-v", "--runs-dir", str(runs),
              env={"T_LOGIN_ANSWER": f"session: token={TOKEN}"})
    assert run.returncode == 0, run.stdout + run.stderr
    folder = only_run(runs)
    assert state_of(folder).secret_captures == {"token"}
    forms_log = (folder / "logs" / "forms.log").read_text()
    assert "visible-marker-4242" in forms_log and forms_log.count("***") >= 12
    export = cli("export", folder.name, "--runs-dir", str(runs), "--format", "md", "--format", "html")
    assert export.returncode == 0, export.stdout + export.stderr
    texts = {"stdout": run.stdout, "stderr": run.stderr}
    texts |= {str(p): p.read_text() for p in folder.rglob("*") if p.is_file()}
    for where, text in texts.items():
        assert not leaked(text, TOKEN), (where, leaked(text, TOKEN))


# -- item 5: failure messages, tracebacks: every text that leaves the engine ---------------------


SECRET = "pw-9f8e7d6c5b"


def in_process_run(tmp_path: Path, body: str, overrides: dict[str, str]) -> tuple[Any, str, list[ev.Event]]:
    from iact_tui.engine.run.launch import SessionSpec, new_session
    from iact_tui.engine.run.operator import RunOptions
    from iact_tui.headless.operator import HeadlessOperator
    from iact_tui.headless.printer import Printer

    out = io.StringIO()
    printer = Printer(out, verbose=True)
    seen: list[ev.Event] = []

    def emit(event: ev.Event) -> None:
        seen.append(event)
        printer(event)

    checklist = write_checklist(tmp_path, HEADER + body)
    spec = SessionSpec(tmp_path / "runs", "ana", overrides, RunOptions(mode="headless"))
    runner = new_session(checklist, spec, HeadlessOperator("ana"), emit, None, prompt_all=False)
    try:
        asyncio.run(runner.run())
    finally:
        runner.store.lock.release()
    return runner, out.getvalue(), seen


def artefacts(folder: Path) -> dict[str, str]:
    return {str(p): p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()}


def test_a_secret_in_a_failure_message_is_masked_on_the_terminal_log_and_report(tmp_path: Path) -> None:
    body = f"""
[vars.pw]
secret = true

[[phases]]
id = "p"
title = "P"

[[phases.steps]]
id = "in-folder"
kind = "local"
cwd = "{tmp_path}/no-such-{{pw}}"
run = "true"
on_failure = "continue"

[[phases.steps]]
id = "fetch"
kind = "http"
url = "http://127.0.0.1:9/api?key={{pw}}"
timeout = 5
"""
    runner, printed, events = in_process_run(tmp_path, body, {"pw": SECRET})
    folder = runner.store.folder
    assert "failed in-folder" in printed and "does not exist" in printed
    assert "--- failed: the working folder" in (folder / "logs" / "in-folder.log").read_text()
    for where, text in {"terminal": printed, "events": repr(events), **artefacts(folder)}.items():
        assert SECRET not in text, where
        assert urllib.parse.quote(SECRET) not in text, where


def test_an_internal_error_traceback_is_masked_in_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from iact_tui.engine import executors

    class Broken:
        kind = "local"

        def describe(self, step: Any, values: Any) -> str:
            return "broken"

        def needs_person(self, step: Any, values: Any = None) -> bool:
            return False

        async def execute(self, ctx: Any) -> Any:
            ctx.log.write(f"about to use {ctx.values.lookup('pw')}\n")
            raise RuntimeError(f"cannot parse {ctx.values.lookup('pw')!r} in {json.dumps(ctx.values.lookup('pw'))}")

    monkeypatch.setitem(executors._cache, "local", Broken())
    body = """
[vars.pw]
secret = true

[[phases]]
id = "p"
title = "P"

[[phases.steps]]
id = "boom"
kind = "local"
run = "true"
"""
    runner, printed, events = in_process_run(tmp_path, body, {"pw": SECRET})
    folder = runner.store.folder
    log = (folder / "logs" / "boom.log").read_text()
    assert "Traceback" in log and "RuntimeError: cannot parse '***' in \"***\"" in log
    assert "internal error: RuntimeError" in printed
    for where, text in {"terminal": printed, "events": repr(events), **artefacts(folder)}.items():
        assert SECRET not in text, where


def test_every_write_to_a_step_log_is_masked(tmp_path: Path) -> None:
    log = LogWriter(tmp_path / "x.log", Redactor([SECRET]))
    log.write(f"a {SECRET} b\n")
    log.write(json.dumps({"k": SECRET}) + "\n")
    log.line(f"--- failed: {SECRET}")
    log.close()
    assert (tmp_path / "x.log").read_text() == 'a *** b\n{"k": "***"}\n--- failed: ***\n'


def test_events_are_masked_when_they_leave_the_runner(tmp_path: Path) -> None:
    from iact_tui.engine.run.runner import Runner

    class Fake:
        values = type("V", (), {"redactor": Redactor([SECRET])})()
        _emit = staticmethod(lambda e: got.append(e))

    got: list[ev.Event] = []
    Runner.emit(Fake(), ev.Notice(f"posted to https://x/{SECRET}", "warning"))  # type: ignore[arg-type]
    Runner.emit(Fake(), ev.StepFinished("step-1", "failed", 1, f"cannot open {SECRET}", 0.1))  # type: ignore[arg-type]
    Runner.emit(Fake(), ev.StepOutput("step-1", f"{SECRET}\n"))  # type: ignore[arg-type]
    assert got == [
        ev.Notice("posted to https://x/***", "warning"),
        ev.StepFinished("step-1", "failed", 1, "cannot open ***", 0.1),
        ev.StepOutput("step-1", "***\n"),
    ]


# -- item 6: multi-line secrets, read boundaries, long lines, nothing added ---------------------


KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDa2V5LWZvci10ZXN0cy1vbmx5LW5vdC1hLXJlYWwta2V5AAAAAAAAAA\n"
    "Zw==\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


class Collected:
    def __init__(self, tmp_path: Path, secrets: list[str], prefix: str = "") -> None:
        self.values = type("V", (), {"redactor": Redactor(secrets)})()
        self.events: list[ev.Event] = []
        self.log = LogWriter(tmp_path / "out.log")
        self.collector = OutputCollector("s", self.log, self.events.append, self.values, Expectations(),
                                         lambda n, v: None, prefix)  # type: ignore[arg-type]

    def feed(self, data: bytes, cuts: list[int]) -> str:
        last = 0
        for cut in [*sorted(cuts), len(data)]:
            self.collector.feed(data[last:cut])
            last = cut
        self.collector.close()
        self.log.close()
        text = self.log.path.read_text()
        assert "".join(e.text for e in self.events if isinstance(e, ev.StepOutput)) == text
        return text


def key_lines() -> list[str]:
    return [line for line in KEY.splitlines() if len(line) >= 4]


def test_a_multi_line_secret_is_masked_on_every_line_whatever_the_read_boundaries(tmp_path: Path) -> None:
    text = f"before\n{KEY}\nafter: no newline at the end"
    data = text.encode()
    for cut in range(len(data)):
        folder = tmp_path / str(cut)
        folder.mkdir()
        out = Collected(folder, [KEY]).feed(data, [cut, min(cut + 3, len(data))])
        assert out == "before\n***\nafter: no newline at the end", (cut, out)


def test_each_line_of_a_key_is_masked_when_it_is_printed_differently(tmp_path: Path) -> None:
    r = Redactor([KEY])
    indented = "".join(f"    {line}\n" for line in KEY.splitlines())
    crlf = KEY.replace("\n", "\r\n")
    for text in (indented, crlf, KEY.splitlines()[1] + "\n", json.dumps({"key": KEY})):
        masked = r(text)
        assert not [line for line in key_lines() if len(line) >= 8 and line in masked], masked
    assert r(crlf) == "***"


def test_a_secret_in_a_line_over_one_mib_is_masked_and_nothing_is_added(tmp_path: Path) -> None:
    secret = "s3cr3t-in-a-huge-line"
    start = executors_base.MAX_LINE - 5  # across the place where the long line is cut
    text = "x" * start + secret + "y" * 300_000 + "\nshort\n" + "z" * (executors_base.MAX_LINE + 10) + secret
    data = text.encode()
    cuts = list(range(65536, len(data), 65536))
    out = Collected(tmp_path, [secret]).feed(data, cuts)
    assert secret not in out
    assert out == text.replace(secret, "***")


def test_output_passed_on_in_pieces_keeps_the_prefix_once_per_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executors_base, "MAX_LINE", 40)
    text = "a" * 100 + "\nb\n" + "c" * 90
    out = Collected(tmp_path, ["unrelated-secret"], prefix="[web1] ").feed(text.encode(), [13, 50, 97, 150])
    assert out == "[web1] " + "a" * 100 + "\n[web1] b\n[web1] " + "c" * 90


def test_a_log_marker_starts_on_a_line_of_its_own(tmp_path: Path) -> None:
    log = LogWriter(tmp_path / "x.log")
    log.write_masked("no newline")
    log.line("--- failed: the command exited with status 1")
    log.close()
    again = LogWriter(tmp_path / "y.log")
    again.write("partial")
    again.close()
    reopened = LogWriter(tmp_path / "y.log")
    reopened.line("--- s attempt 2")
    reopened.close()
    assert (tmp_path / "x.log").read_text() == "no newline\n--- failed: the command exited with status 1\n"
    assert (tmp_path / "y.log").read_text() == "partial\n--- s attempt 2\n"
