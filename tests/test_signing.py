"""Signed reports: interop with the real ssh-keygen both ways, keys in files (ed25519, ECDSA, RSA,
with a passphrase) and in a real ssh-agent, allowed_signers refusals, tampered signatures."""

from __future__ import annotations

import importlib.util
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from iact_tui.cli import main
from iact_tui.engine.report.signing import (
    NAMESPACE,
    FileSigner,
    check_signature,
    load_allowed_signers,
    load_key_file,
    parse_signature,
    sign_files,
)
from tests import runfactory

SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
SSH_AGENT = shutil.which("ssh-agent") or "/usr/bin/ssh-agent"
SSH_ADD = shutil.which("ssh-add") or "/usr/bin/ssh-add"
PASSPHRASE = "correct horse battery staple"
HAS_BCRYPT = importlib.util.find_spec("bcrypt") is not None
SIGNED_FILES = ["report.toml", "report.md", "report.html", "export.toml"]

KEY_SPECS = {
    "ed25519": ["-t", "ed25519"],
    "ecdsa": ["-t", "ecdsa", "-b", "256"],
    "rsa": ["-t", "rsa", "-b", "3072"],
}


def keygen(
    *args: str, stdin: bytes | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SSH_KEYGEN, *args],
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


def fingerprint(pub: Path) -> str:
    return keygen("-l", "-E", "sha256", "-f", str(pub), check=True).stdout.split()[1]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    out: dict[str, Path] = {}
    for name, args in KEY_SPECS.items():
        keygen(
            "-q", *args, "-N", "", "-C", f"{name}@example.org", "-f", str(folder / name), check=True
        )
        out[name] = folder / name
    # passphrase-protected: OpenSSH's own format (bcrypt KDF) and the PEM format (no bcrypt)
    keygen(
        "-q",
        "-t",
        "ed25519",
        "-N",
        PASSPHRASE,
        "-C",
        "pass@example.org",
        "-f",
        str(folder / "ed25519-pass"),
        check=True,
    )
    keygen(
        "-q",
        "-t",
        "ecdsa",
        "-m",
        "PEM",
        "-N",
        PASSPHRASE,
        "-C",
        "pem@example.org",
        "-f",
        str(folder / "ecdsa-pem-pass"),
        check=True,
    )
    out["ed25519-pass"] = folder / "ed25519-pass"
    out["ecdsa-pem-pass"] = folder / "ecdsa-pem-pass"
    keygen(
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "mallory@example.org",
        "-f",
        str(folder / "mallory"),
        check=True,
    )
    out["mallory"] = folder / "mallory"
    return out


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    runs_dir = tmp_path / "runs"
    runfactory.staging_run(runs_dir)
    return runs_dir


def public_line(key: Path) -> str:
    return " ".join(Path(f"{key}.pub").read_text().split()[:2])


def write_allowed(path: Path, lines: list[str]) -> Path:
    path.write_text("# who may sign iact-tui reports\n" + "\n".join(lines) + "\n")
    return path


def export(runs: Path, out: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        main, ["export", runfactory.RUN_ID, "--runs-dir", str(runs), "-o", str(out), *args], env=env
    )


def verify(target: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["verify", str(target), *args])


def keygen_verify(
    allowed: Path, identity: str, file: Path, namespace: str = NAMESPACE
) -> subprocess.CompletedProcess[str]:
    with open(file, "rb") as data:
        return subprocess.run(
            [
                SSH_KEYGEN,
                "-Y",
                "verify",
                "-f",
                str(allowed),
                "-I",
                identity,
                "-n",
                namespace,
                "-s",
                f"{file}.sig",
            ],
            stdin=data,
            capture_output=True,
            text=True,
            timeout=60,
        )


def keygen_sign(key: Path, file: Path, namespace: str = NAMESPACE) -> None:
    Path(f"{file}.sig").unlink(missing_ok=True)
    keygen("-Y", "sign", "-f", str(key), "-n", namespace, str(file), check=True)


# -- iact-tui signs, ssh-keygen verifies -------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_signed_by_iact_tui_verifies_with_ssh_keygen(
    kind: str, keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    result = export(runs, out, "--format", "md", "--format", "html", "--sign", str(keys[kind]))
    assert result.exit_code == 0, result.output
    fp = fingerprint(Path(f"{keys[kind]}.pub"))
    assert f"signed with {kind.upper()} key {fp}" in result.output
    allowed = write_allowed(
        tmp_path / "allowed_signers",
        [f'{kind}@example.org namespaces="{NAMESPACE}" {public_line(keys[kind])}'],
    )
    for name in SIGNED_FILES:
        proc = keygen_verify(allowed, f"{kind}@example.org", out / name)
        assert proc.returncode == 0, (name, proc.stderr)
        assert (
            f'Good "{NAMESPACE}" signature for {kind}@example.org with {kind.upper()} key {fp}'
            in proc.stdout
        )
    if kind == "rsa":  # RSA signs with rsa-sha2-512, as ssh-keygen does
        parsed = parse_signature((out / "report.toml.sig").read_bytes())
        assert parsed.signature[4:16] == b"rsa-sha2-512"
    # the same bundle verifies with iact-tui, naming the signer and the key
    checked = verify(out, "--allowed-signers", str(allowed))
    assert checked.exit_code == 0, checked.output
    assert f"verified: report.toml is intact and signed by {kind}@example.org" in checked.output
    assert f"signed by {kind}@example.org with {kind.upper()} key {fp}." in checked.output


def test_ed25519_signature_is_byte_identical_to_ssh_keygen(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    data = tmp_path / "report.toml"
    data.write_bytes(b'schema_version = 1\n[run]\nid = "x"\n')
    keygen_sign(keys["ed25519"], data)
    theirs = Path(f"{data}.sig").read_bytes()
    ours = sign_files(load_key_file(keys["ed25519"]), [data])[0].read_bytes()
    assert ours == theirs


# -- ssh-keygen signs, iact-tui verifies -------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_signed_by_ssh_keygen_verifies_with_iact_tui(
    kind: str, keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    assert export(runs, out, "--format", "md").exit_code == 0
    for name in ("report.toml", "report.md", "export.toml"):
        keygen_sign(keys[kind], out / name)
    principal = f"{kind}@example.org"
    allowed = write_allowed(
        tmp_path / "allowed_signers",
        [
            f"{keys['mallory'].name}@example.org {public_line(keys['mallory'])}",
            f'{principal} namespaces="{NAMESPACE}" {public_line(keys[kind])}',
        ],
    )
    fp = fingerprint(Path(f"{keys[kind]}.pub"))
    for args in ([], ["--identity", principal]):
        result = verify(out, "--allowed-signers", str(allowed), *args)
        assert result.exit_code == 0, result.output
        assert (
            f'report.toml: good "{NAMESPACE}" signature by {principal} with {kind.upper()} key {fp}'
            in result.output
        )
        assert f'report.md: good "{NAMESPACE}" signature by {principal}' in result.output
        assert f"verified: report.toml is intact and signed by {principal}" in result.output
    # the report file itself, named directly, verifies the same way
    direct = verify(out / "report.toml", "--allowed-signers", str(allowed))
    assert direct.exit_code == 0, direct.output


def test_signed_by_ssh_keygen_with_a_passphrase_key_verifies_with_iact_tui(
    keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    assert export(runs, out).exit_code == 0
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho '{PASSPHRASE}'\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
    subprocess.run(
        [
            SSH_KEYGEN,
            "-Y",
            "sign",
            "-f",
            str(keys["ed25519-pass"]),
            "-n",
            NAMESPACE,
            str(out / "report.toml"),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        start_new_session=True,
        check=True,
        timeout=60,
    )
    (out / "export.toml").unlink()  # signed by nobody: verify would name it as not covered
    allowed = write_allowed(
        tmp_path / "allowed", [f"pass@example.org {public_line(keys['ed25519-pass'])}"]
    )
    result = verify(out, "--allowed-signers", str(allowed))
    assert result.exit_code == 0, result.output
    assert "verified: report.toml is intact and signed by pass@example.org" in result.output


def test_signed_by_ssh_keygen_through_ssh_agent_verifies_with_iact_tui(
    agent: Path, keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    ssh_add(agent, keys["rsa"])
    out = tmp_path / "bundle"
    assert export(runs, out).exit_code == 0
    env = {**os.environ, "SSH_AUTH_SOCK": str(agent)}
    # given only the public key, ssh-keygen signs with the agent's private half
    subprocess.run(
        [
            SSH_KEYGEN,
            "-Y",
            "sign",
            "-f",
            f"{keys['rsa']}.pub",
            "-n",
            NAMESPACE,
            str(out / "report.toml"),
            str(out / "export.toml"),
        ],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    allowed = write_allowed(tmp_path / "allowed", [f"rsa@example.org {public_line(keys['rsa'])}"])
    result = verify(out, "--allowed-signers", str(allowed), "--identity", "rsa@example.org")
    assert result.exit_code == 0, result.output
    fp = fingerprint(Path(f"{keys['rsa']}.pub"))
    assert f"signed by rsa@example.org with RSA key {fp}." in result.output


def test_without_allowed_signers_the_key_is_shown_and_the_signer_left_unchecked(
    keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    assert export(runs, out, "--sign", str(keys["ecdsa"])).exit_code == 0
    result = verify(out)
    assert result.exit_code == 1, result.output  # a good signature by a key nobody vouched for
    fp = fingerprint(Path(f"{keys['ecdsa']}.pub"))
    assert f"made with ECDSA key {fp}; not checked against trusted signers" in result.output
    assert (
        "The signature was not checked against trusted signers: give --allowed-signers to do so."
        in result.output
    )
    assert "An SSH signature carries no time" in result.output
    assert (
        "NOT VERIFIED: signer not checked: report.toml, export.toml carry good signatures made "
        f"with ECDSA key {fp}, but nothing says whose key that is (give --allowed-signers)"
        in result.output
    )
    assert "verified:" not in result.output.replace("NOT VERIFIED:", "")


# -- passphrases -------------------------------------------------------------------------------

PASS_KEYS = [
    pytest.param(
        "ed25519-pass",
        marks=pytest.mark.skipif(
            not HAS_BCRYPT, reason="OpenSSH-format passphrases need bcrypt (asyncssh[bcrypt])"
        ),
    ),
    "ecdsa-pem-pass",
]


@pytest.mark.parametrize("name", PASS_KEYS)
def test_passphrase_from_an_environment_variable(
    name: str, keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    result = export(
        runs,
        out,
        "--sign",
        str(keys[name]),
        "--passphrase-env",
        "IACT_TEST_PASS",
        env={"IACT_TEST_PASS": PASSPHRASE},
    )
    assert result.exit_code == 0, result.output
    assert PASSPHRASE not in result.output
    principal = {"ed25519-pass": "pass@example.org", "ecdsa-pem-pass": "pem@example.org"}[name]
    allowed = write_allowed(tmp_path / "allowed", [f"{principal} {public_line(keys[name])}"])
    proc = keygen_verify(allowed, principal, out / "report.toml")
    assert proc.returncode == 0, proc.stderr
    assert not any(PASSPHRASE.encode() in p.read_bytes() for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", PASS_KEYS)
def test_a_wrong_or_missing_passphrase_is_refused_before_anything_is_written(
    name: str, keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    wrong = export(
        runs, out, "--sign", str(keys[name]), "--passphrase-env", "P", env={"P": "not it"}
    )
    assert wrong.exit_code == 2
    assert f"the passphrase for {keys[name]} is wrong" in wrong.output
    missing = export(runs, out, "--sign", str(keys[name]))  # no terminal here, no variable
    assert missing.exit_code == 2
    assert (
        "is protected by a passphrase; give it with --passphrase-env NAME or run on a terminal"
        in missing.output
    )
    unset = export(
        runs, out, "--sign", str(keys[name]), "--passphrase-env", "IACT_NOT_SET_ANYWHERE"
    )
    assert unset.exit_code == 2
    assert "IACT_NOT_SET_ANYWHERE: that environment variable is not set" in unset.output
    assert not out.exists()


def test_passphrase_is_asked_masked_on_a_terminal(
    keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    """A real pseudo-terminal: the prompt appears, the typed passphrase is not echoed."""
    out = tmp_path / "bundle"
    name = "ed25519-pass" if HAS_BCRYPT else "ecdsa-pem-pass"
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "iact_tui",
            "export",
            runfactory.RUN_ID,
            "--runs-dir",
            str(runs),
            "-o",
            str(out),
            "--sign",
            str(keys[name]),
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    sent = False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not sent and b"Passphrase for" in seen:
                os.write(master, PASSPHRASE.encode() + b"\n")
                sent = True
            if proc.poll() is not None and not ready:
                break
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert sent, seen.decode(errors="replace")
    assert rc == 0, seen.decode(errors="replace")
    assert PASSPHRASE.encode() not in seen
    assert (out / "report.toml.sig").exists()


# -- a key in a real ssh-agent -----------------------------------------------------------------


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Path]:
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(
        [SSH_AGENT, "-D", "-a", str(sock)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # it prints its environment once the socket listens: that line is the event to wait on
        first = proc.stdout.readline() if proc.stdout else ""
        assert "SSH_AUTH_SOCK" in first, first
        yield sock
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ssh_add(sock: Path, *keys: Path) -> None:
    env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
    for key in keys:
        subprocess.run(
            [SSH_ADD, "-q", str(key)], env=env, check=True, capture_output=True, timeout=30
        )


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_signing_with_a_key_in_ssh_agent(
    kind: str, agent: Path, keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    ssh_add(agent, keys[kind])
    out = tmp_path / "bundle"
    result = export(
        runs, out, "--format", "md", "--sign", "agent", env={"SSH_AUTH_SOCK": str(agent)}
    )
    assert result.exit_code == 0, result.output
    fp = fingerprint(Path(f"{keys[kind]}.pub"))
    assert f"signed with {kind.upper()} key {fp}" in result.output
    allowed = write_allowed(tmp_path / "allowed", [f"{kind}@example.org {public_line(keys[kind])}"])
    for name in ("report.toml", "report.md", "export.toml"):
        proc = keygen_verify(allowed, f"{kind}@example.org", out / name)
        assert proc.returncode == 0, proc.stderr
    if kind == "rsa":
        assert (
            parse_signature((out / "report.toml.sig").read_bytes()).signature[4:16]
            == b"rsa-sha2-512"
        )
    assert verify(out, "--allowed-signers", str(allowed)).exit_code == 0


def test_agent_with_several_keys_needs_a_fingerprint(
    agent: Path, keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    ssh_add(agent, keys["ed25519"], keys["ecdsa"])
    env = {"SSH_AUTH_SOCK": str(agent)}
    fp_ed, fp_ec = (
        fingerprint(Path(f"{keys['ed25519']}.pub")),
        fingerprint(Path(f"{keys['ecdsa']}.pub")),
    )
    ambiguous = export(runs, tmp_path / "a", "--sign", "agent", env=env)
    assert ambiguous.exit_code == 2
    assert (
        "ssh-agent holds 2 keys" in ambiguous.output
        and fp_ed in ambiguous.output
        and fp_ec in ambiguous.output
    )
    assert not (tmp_path / "a").exists()
    chosen = export(runs, tmp_path / "b", "--sign", f"agent:{fp_ec}", env=env)
    assert chosen.exit_code == 0, chosen.output
    assert (
        parse_signature((tmp_path / "b" / "report.toml.sig").read_bytes()).info.fingerprint == fp_ec
    )
    unknown = export(
        runs,
        tmp_path / "c",
        "--sign",
        "agent:SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        env=env,
    )
    assert unknown.exit_code == 2
    assert "ssh-agent holds no key SHA256:AAAA" in unknown.output


def test_no_agent_is_a_clear_error(runs: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    saved = os.environ.pop("SSH_AUTH_SOCK", None)
    try:
        none = CliRunner().invoke(
            main, ["export", runfactory.RUN_ID, "--runs-dir", str(runs), "--sign", "agent"], env=env
        )
    finally:
        if saved is not None:
            os.environ["SSH_AUTH_SOCK"] = saved
    assert none.exit_code == 2
    assert "no ssh-agent to sign with: SSH_AUTH_SOCK is not set" in none.output
    dead = export(
        runs,
        tmp_path / "x",
        "--sign",
        "agent",
        env={"SSH_AUTH_SOCK": str(tmp_path / "no-such.sock")},
    )
    assert dead.exit_code == 2
    assert "cannot reach ssh-agent at" in dead.output


# -- allowed_signers refusals (ssh-keygen refuses the same) ------------------------------------


@pytest.fixture
def signed_bundle(keys: dict[str, Path], runs: Path, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    assert export(runs, out, "--sign", str(keys["ed25519"])).exit_code == 0
    return out


def refused(bundle: Path, allowed: Path, identity: str, expected: str, *extra: str) -> None:
    result = verify(bundle, "--allowed-signers", str(allowed), "--identity", identity, *extra)
    assert result.exit_code == 1, result.output
    assert "NOT VERIFIED" in result.output
    assert expected in result.output, result.output
    assert keygen_verify(allowed, identity, bundle / "report.toml").returncode != 0


def test_a_signer_not_in_allowed_signers_is_refused(
    signed_bundle: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    allowed = write_allowed(
        tmp_path / "allowed", [f"mallory@example.org {public_line(keys['mallory'])}"]
    )
    fp = fingerprint(Path(f"{keys['ed25519']}.pub"))
    refused(
        signed_bundle,
        allowed,
        "mallory@example.org",
        f"ED25519 key {fp} is not in {allowed}: the signer is not trusted",
    )


def test_another_identity_is_refused(
    signed_bundle: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    allowed = write_allowed(
        tmp_path / "allowed", [f"alice@example.org {public_line(keys['ed25519'])}"]
    )
    refused(
        signed_bundle,
        allowed,
        "bob@example.org",
        "for alice@example.org, not for identity 'bob@example.org'",
    )


def test_a_signature_for_another_namespace_is_refused(
    keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    assert export(runs, out).exit_code == 0
    keygen_sign(keys["ed25519"], out / "report.toml", namespace="file")
    allowed = write_allowed(
        tmp_path / "allowed", [f"alice@example.org {public_line(keys['ed25519'])}"]
    )
    refused(
        out,
        allowed,
        "alice@example.org",
        "the signature was made for namespace 'file', not 'iact-tui-report'",
    )
    # without allowed_signers too: it is not a report signature at all
    assert verify(out).exit_code == 1


def test_an_entry_limited_to_other_namespaces_is_refused(
    signed_bundle: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    allowed = write_allowed(
        tmp_path / "allowed",
        [f'alice@example.org namespaces="git,file" {public_line(keys["ed25519"])}'],
    )
    refused(
        signed_bundle,
        allowed,
        "alice@example.org",
        "lets alice@example.org sign only for namespaces 'git,file', not 'iact-tui-report'",
    )


def test_an_expired_entry_is_refused(
    signed_bundle: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    allowed = write_allowed(
        tmp_path / "allowed",
        [
            f'alice@example.org namespaces="{NAMESPACE}",valid-before="20200101Z" {public_line(keys["ed25519"])}'
        ],
    )
    refused(
        signed_bundle,
        allowed,
        "alice@example.org",
        "the entry for alice@example.org expired at 2020-01-01 00:00:00 UTC (valid-before)",
    )


def test_an_entry_not_yet_valid_is_refused(
    signed_bundle: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    allowed = write_allowed(
        tmp_path / "allowed",
        [f'alice@example.org valid-after="20990101Z" {public_line(keys["ed25519"])}'],
    )
    refused(
        signed_bundle,
        allowed,
        "alice@example.org",
        "is valid only from 2099-01-01 00:00:00 UTC (valid-after)",
    )


def test_an_entry_within_its_validity_window_is_accepted(
    signed_bundle: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    allowed = write_allowed(
        tmp_path / "allowed",
        [
            f'alice@example.org,ops@example.org namespaces="{NAMESPACE}",valid-after="20200101Z",valid-before="20990101Z" {public_line(keys["ed25519"])}'
        ],
    )
    for identity in ("alice@example.org", "ops@example.org"):
        result = verify(signed_bundle, "--allowed-signers", str(allowed), "--identity", identity)
        assert result.exit_code == 0, result.output
        assert f"signed by {identity}" in result.output
        assert keygen_verify(allowed, identity, signed_bundle / "report.toml").returncode == 0


def test_bad_allowed_signers_or_arguments_are_bad_input(
    signed_bundle: Path, tmp_path: Path
) -> None:
    missing = verify(signed_bundle, "--allowed-signers", str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "no allowed_signers file" in missing.output
    junk = tmp_path / "junk"
    junk.write_text("this is not an allowed signers file\n")
    bad = verify(signed_bundle, "--allowed-signers", str(junk))
    assert bad.exit_code == 2 and "not an allowed_signers entry" in bad.output
    lonely = verify(signed_bundle, "--identity", "alice@example.org")
    assert lonely.exit_code == 2 and "--identity needs --allowed-signers" in lonely.output


def test_allowed_signers_without_a_signature_is_a_failure(
    keys: dict[str, Path], runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    assert export(runs, out).exit_code == 0
    allowed = write_allowed(
        tmp_path / "allowed", [f"alice@example.org {public_line(keys['ed25519'])}"]
    )
    result = verify(out, "--allowed-signers", str(allowed))
    assert result.exit_code == 1
    assert "report.toml is not signed: there is no report.toml.sig next to it" in result.output
    unsigned = verify(out)
    assert unsigned.exit_code == 1, unsigned.output
    assert (
        "NOT VERIFIED: report.toml is not signed: there is no report.toml.sig next to it. Its "
        "record is consistent (event chain, tables, step logs, checklist), which guards against "
        "accidental damage only: anyone who edits a run can recompute its hash chain"
        in unsigned.output
    )


# -- a changed byte anywhere in the signature --------------------------------------------------


def test_every_changed_byte_of_the_signature_is_refused(
    signed_bundle: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    sig_path = signed_bundle / "report.toml.sig"
    original = sig_path.read_bytes()
    data = (signed_bundle / "report.toml").read_bytes()
    allowed_path = write_allowed(
        tmp_path / "allowed", [f"alice@example.org {public_line(keys['ed25519'])}"]
    )
    allowed = load_allowed_signers(allowed_path)
    assert check_signature("report.toml", data, original, allowed, "alice@example.org").ok
    step = max(1, len(original) // 60)
    positions = sorted(set(range(0, len(original), step)) | {len(original) - 1})
    assert len(positions) >= 30
    for pos in positions:
        damaged = bytearray(original)
        damaged[pos] = (damaged[pos] + 1) % 256
        check = check_signature("report.toml", data, bytes(damaged), allowed, "alice@example.org")
        assert not check.ok, f"byte {pos} changed and still accepted"
        assert (
            check.problem.startswith(
                (
                    "the signature file is not a valid SSH signature",
                    "the signature does not match the file",
                )
            )
            or "is not in" in check.problem
            or "namespace" in check.problem
        ), (pos, check.problem)
    # through the command line, and ssh-keygen agrees, at a sample of the positions
    for pos in positions[:: max(1, len(positions) // 8)]:
        damaged = bytearray(original)
        damaged[pos] = (damaged[pos] + 1) % 256
        sig_path.write_bytes(bytes(damaged))
        result = verify(signed_bundle, "--allowed-signers", str(allowed_path))
        assert result.exit_code == 1, (pos, result.output)
        assert "report.toml:" in result.output and "NOT VERIFIED" in result.output
        assert (
            keygen_verify(
                allowed_path, "alice@example.org", signed_bundle / "report.toml"
            ).returncode
            != 0
        )
    sig_path.write_bytes(original)
    assert verify(signed_bundle, "--allowed-signers", str(allowed_path)).exit_code == 0


def test_a_signature_of_another_file_is_refused(signed_bundle: Path) -> None:
    shutil.copy(signed_bundle / "export.toml.sig", signed_bundle / "report.toml.sig")
    result = verify(signed_bundle)
    assert result.exit_code == 1
    assert (
        "the signature does not match the file: report.toml was changed after it was signed (or the signature belongs to another file)"
        in result.output
    )


def test_file_signer_reads_key_types_and_refuses_public_keys(keys: dict[str, Path]) -> None:
    for kind in KEY_SPECS:
        signer = load_key_file(keys[kind])
        assert isinstance(signer, FileSigner)
        assert signer.key.fingerprint == fingerprint(Path(f"{keys[kind]}.pub"))
    with pytest.raises(Exception, match="is a public key; --sign needs the private key file"):
        load_key_file(Path(f"{keys['ed25519']}.pub"))
    with pytest.raises(Exception, match="no key file"):
        load_key_file(keys["ed25519"].with_name("absent"))
