"""Exports of a run made by the real runner, with secrets in it (issue 10, test audit).

The other export secret test exports a run whose output the test factory had already masked.
Here the real headless runner runs a checklist against a real HTTP server on 127.0.0.1: a
`local` step prints a secret variable's value (from the environment and substituted into the
command), an `http` step logs in with it and captures the login token into a secret, a `local`
step prints the token and an `http` step sends it. The run is exported in every format, into
the run folder and into a bundle, signed and unsigned; no byte of any exported file (nor of the
run folder, nor of what the commands print) holds either secret, in any of the spellings a
renderer could give it. A non-secret value printed beside them is found, so the scan sees the
bytes it searches.
"""

from __future__ import annotations

import html
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from iact_tui.cli import main
from tests.fixtures_http import LoopbackServer
from tests.helpers import HEADER, cli, only_run, state_of, write_checklist

PASSWORD = "Pa55-w0rd&<smoke>/x7Q"  # HTML, TOML and JSON would each spell some of it differently
TOKEN = "tok-8f3Kq2Zr7Wm4Lp9Xv1Cn"
VISIBLE = "visible-marker-5172"

CHECKLIST = (
    HEADER
    + """
[vars.base_url]
default = "http://127.0.0.1:9"
[vars.visible]
default = "visible-marker-5172"
[vars.pw]
secret = true
env = "T_EXPORT_PW"
[vars.token]
secret = true

[[phases]]
id = "secrets"
title = "Secrets through every channel"

[[phases.steps]]
id = "print-env"
kind = "local"
title = "Print the password from the environment and from the command"
run = "printenv T_EXPORT_PW; echo 'from the command:' {pw}; echo {visible}"

[[phases.steps]]
id = "login"
kind = "http"
method = "POST"
url = "{base_url}/api/auth/login"
json = { username = "testuser", password = "{pw}" }
capture_json = { token = "token" }

[[phases.steps]]
id = "print-token"
kind = "local"
run = "echo token={token}; echo header: Bearer {token}"

[[phases.steps]]
id = "me"
kind = "http"
url = "{base_url}/api/users/me"
headers = { Authorization = "Bearer {token}" }
expect_json = { user = "testuser" }

[[phases.steps]]
id = "sign-off"
kind = "manual"
role = "tech-lead"
instructions = "Check the smoke user {visible}"
"""
)


def spellings(secret: str) -> set[bytes]:
    """The secret as a file could hold it: raw, HTML-escaped, JSON/TOML-escaped."""
    forms = {
        secret,
        html.escape(secret),
        html.escape(secret, quote=False),
        json.dumps(secret)[1:-1],
    }
    return {f.encode() for f in forms}


def leaks(data: bytes) -> list[str]:
    return [
        f"{name} as {form!r}"
        for name, secret in (("password", PASSWORD), ("token", TOKEN))
        for form in spellings(secret)
        if form in data
    ]


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@example.org", "-f", str(path)],
        check=True,
        timeout=60,
    )
    return path


def test_exports_of_a_real_run_hold_no_secret(
    tmp_path: Path, key: Path, http_server: LoopbackServer
) -> None:
    http_server.route(
        "POST",
        "/api/auth/login",
        lambda r: (200, {"token": TOKEN}) if r.json()["password"] == PASSWORD else (401, {}),
    )
    http_server.route(
        "GET",
        "/api/users/me",
        lambda r: (
            (200, {"user": "testuser", "echo": r.headers.get("authorization")})
            if r.headers.get("authorization") == f"Bearer {TOKEN}"
            else (401, {})
        ),
    )
    checklist = write_checklist(tmp_path, CHECKLIST)
    runs = tmp_path / "runs"
    env = {"T_EXPORT_PW": PASSWORD}
    run = cli(
        "run", str(checklist), "--headless", "-v", "--runs-dir", str(runs),
        "--var", f"base_url={http_server.url}", "--operator", "alice", env=env,
    )  # fmt: skip
    assert run.returncode == 3, run.stdout + run.stderr  # waits for the sign-off
    folder = only_run(runs)
    tick = cli("tick", folder.name, "sign-off", "--runs-dir", str(runs), "--as", "bob", env=env)
    assert tick.returncode == 0, tick.stdout + tick.stderr
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = [run.stdout, run.stderr, tick.stdout, tick.stderr, done.stdout, done.stderr]

    # the secrets really went through the run: the server saw them, the outputs were masked
    assert http_server.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
    state = state_of(folder)
    assert state.status == "succeeded" and state.secret_captures == {"token"}
    env_log = (folder / "logs" / "print-env.log").read_bytes()
    assert env_log.count(b"***") >= 2 and VISIBLE.encode() in env_log
    assert b"token=***" in (folder / "logs" / "print-token.log").read_bytes()

    formats = ["--format", "toml", "--format", "md", "--format", "html"]
    exports = {
        "default": [],
        "default-signed": ["--sign", str(key)],
        "bundle": ["-o", str(tmp_path / "bundle")],
        "bundle-signed": ["-o", str(tmp_path / "bundle-signed"), "--sign", str(key)],
    }
    scanned = 0
    for name, extra in exports.items():
        result = CliRunner().invoke(
            main, ["export", folder.name, "--runs-dir", str(runs), *formats, *extra]
        )
        assert result.exit_code == 0, (name, result.output)
        outputs.append(result.output)
        target = Path(extra[1]) if extra[:1] == ["-o"] else folder / "export"
        names = {p.name for p in files_under(target)}
        assert {"report.toml", "report.md", "report.html", "export.toml"} <= names, (name, names)
        assert ("report.toml.sig" in names) == ("--sign" in extra), (name, names)
        exported = b"".join(p.read_bytes() for p in files_under(target))
        assert VISIBLE.encode() in exported, name  # the scan sees what was printed
        for path in files_under(target):
            assert not leaks(path.read_bytes()), (name, path, leaks(path.read_bytes()))
            scanned += 1
        for fmt in ("report.toml", "report.md", "report.html"):
            assert b"***" in (target / fmt).read_bytes() or fmt == "report.toml", (name, fmt)

    # the signed bundle verifies, and the run folder itself never held a secret either
    allowed = tmp_path / "allowed_signers"
    pub = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    allowed.write_text(f'ops@example.org namespaces="iact-tui-report" {pub}\n')
    checked = CliRunner().invoke(
        main, ["verify", str(tmp_path / "bundle-signed"), "--allowed-signers", str(allowed)]
    )
    assert checked.exit_code == 0, checked.output
    outputs.append(checked.output)
    for path in files_under(folder):
        assert not leaks(path.read_bytes()), (path, leaks(path.read_bytes()))
    for text in outputs:
        assert not leaks(text.encode()), leaks(text.encode())
    assert scanned >= 4 * 9
