"""Signing behaviour that mutation testing (issue 10) found untested: every refusal says exactly
why, agent keys are chosen by any spelling of their fingerprint or by comment, certificates need
a trusted authority and a named identity, and each allowed_signers entry is judged on its own."""

from __future__ import annotations

import base64
import os
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import asyncssh
import pytest
from asyncssh.packet import String, UInt32
from asyncssh.sshsig import create_sshsig

from iact_tui.engine.report import signing
from iact_tui.engine.report.signing import (
    NAMESPACE,
    AgentSigner,
    PassphraseNeeded,
    SigningError,
    check_signature,
    load_allowed_signers,
    load_key_file,
    make_signer,
    sign_files,
)
from tests import test_signing
from tests.test_signing import PASSPHRASE, fingerprint, keygen, public_line, ssh_add, write_allowed

# the key files and the real ssh-agent of test_signing, as fixtures here too
keys = test_signing.keys
agent = test_signing.agent

DATA = b'schema_version = 1\n[run]\nid = "x"\n'


def allowed_file(tmp_path: Path, *lines: str) -> signing.AllowedSigners:
    return load_allowed_signers(write_allowed(tmp_path / "allowed_signers", list(lines)))


def signature_by(key: Path, data: bytes = DATA) -> bytes:
    return load_key_file(key).sign_all([data])[0]


# -- error messages of key files ---------------------------------------------------------------


def test_an_unreadable_key_file_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(SigningError) as caught:
        load_key_file(folder)
    assert str(caught.value) == f"cannot read the key file {folder}: Is a directory"


def test_a_file_that_is_no_key_is_named_even_when_a_passphrase_is_given(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_text("hello\n")
    for passphrase in (None, "something"):
        with pytest.raises(SigningError) as caught:
            load_key_file(junk, passphrase)
        text = str(caught.value)
        assert text.startswith(f"{junk} is not a private key asyncssh can read ("), text
        assert not isinstance(caught.value, PassphraseNeeded)


@pytest.mark.parametrize(
    "public",
    [
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA== x",
        "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t x",
        "\n\n  ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== x",
    ],
    ids=["ecdsa", "security-key", "after-blank-lines"],
)
def test_every_kind_of_public_key_is_recognised_as_one(public: str, tmp_path: Path) -> None:
    path = tmp_path / "id.pub"
    path.write_text(public + "\n")
    with pytest.raises(SigningError) as caught:
        load_key_file(path)
    assert str(caught.value) == f"{path} is a public key; --sign needs the private key file"


def test_an_encrypted_key_without_passphrase_asks_for_one(keys: dict[str, Path]) -> None:
    path = keys["ecdsa-pem-pass"]
    with pytest.raises(PassphraseNeeded) as caught:
        load_key_file(path)
    assert str(caught.value) == f"{path} is protected by a passphrase"


def test_an_openssh_passphrase_key_without_bcrypt_says_what_to_install(
    keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asyncssh.public_key, "_bcrypt_available", False)
    path = keys["ed25519-pass"]
    with pytest.raises(SigningError) as caught:
        load_key_file(path, PASSPHRASE)
    assert str(caught.value) == (
        f"{path} is protected by a passphrase in OpenSSH's format, which needs the 'bcrypt' "
        "package (pip install 'asyncssh[bcrypt]'); or add the key to ssh-agent and use --sign agent"
    )


def test_a_key_encrypted_with_an_unknown_cipher_says_so(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    text = keys["ed25519-pass"].read_text().splitlines()
    blob = base64.b64decode("".join(text[1:-1]))
    assert b"\x00\x00\x00\naes256-ctr" in blob
    blob = blob.replace(b"\x00\x00\x00\naes256-ctr", b"\x00\x00\x00\naes999-ctr", 1)
    body = base64.b64encode(blob).decode()
    path = tmp_path / "odd-cipher"
    path.write_text(
        "\n".join([text[0], *(body[i : i + 70] for i in range(0, len(body), 70)), text[-1]]) + "\n"
    )
    with pytest.raises(SigningError) as caught:
        load_key_file(path, "whatever")
    assert str(caught.value) == f"cannot decrypt {path}: Unknown cipher: aes999-ctr"


def test_a_loaded_key_remembers_its_file(keys: dict[str, Path]) -> None:
    assert load_key_file(keys["ed25519"]).path == str(keys["ed25519"])


def test_the_passphrase_is_asked_for_the_key_named(keys: dict[str, Path]) -> None:
    spec = str(keys["ecdsa-pem-pass"])
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return PASSPHRASE

    signer = make_signer(spec, ask)
    assert prompts == [f"Passphrase for {spec}"]
    assert signer.key.fingerprint == fingerprint(Path(f"{spec}.pub"))


def test_an_encrypted_key_with_no_way_to_ask_is_refused(keys: dict[str, Path]) -> None:
    spec = str(keys["ecdsa-pem-pass"])
    with pytest.raises(SigningError) as caught:
        make_signer(spec, None)
    assert str(caught.value) == (
        f"{spec} is protected by a passphrase; give it with --passphrase-env NAME or run on a terminal"
    )


class _ShortSigner:
    """A signer that returns fewer signatures than it was given files."""

    def __init__(self, key: signing.KeyInfo) -> None:
        self.key = key

    def sign_all(self, blobs: Sequence[bytes]) -> list[bytes]:
        return [b"sig\n"] * (len(blobs) - 1)


def test_a_signer_that_loses_a_signature_is_an_error(keys: dict[str, Path], tmp_path: Path) -> None:
    files = [tmp_path / "a", tmp_path / "b"]
    for f in files:
        f.write_bytes(DATA)
    with pytest.raises(ValueError):
        sign_files(_ShortSigner(load_key_file(keys["ed25519"]).key), files)


# -- keys in ssh-agent -------------------------------------------------------------------------


def test_agent_signature_is_byte_identical_to_ssh_keygen(
    agent: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    ssh_add(agent, keys["ed25519"])
    data = tmp_path / "report.toml"
    data.write_bytes(DATA)
    keygen("-Y", "sign", "-f", str(keys["ed25519"]), "-n", NAMESPACE, str(data), check=True)
    theirs = Path(f"{data}.sig").read_bytes()
    signer = AgentSigner(agent_path=str(agent))
    assert signer.sign_all([DATA]) == [theirs]  # ed25519 signatures are deterministic


def test_agent_key_is_chosen_by_any_spelling_of_its_fingerprint_or_by_comment(
    agent: Path, keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ssh_add(agent, keys["ed25519"], keys["ecdsa"])
    # the path given wins over $SSH_AUTH_SOCK
    monkeypatch.setenv("SSH_AUTH_SOCK", str(agent.with_name("not-an-agent.sock")))
    fp = fingerprint(Path(f"{keys['ecdsa']}.pub"))
    for selector in (fp, "sha256:" + fp[7:], fp + "=", f"  {fp}  ", "ecdsa@example.org"):
        signer = AgentSigner(selector=selector, agent_path=str(agent))
        assert signer.key.fingerprint == fp, selector
        assert signer.key.comment == "ecdsa@example.org"
        assert signer.key.public_line == public_line(keys["ecdsa"])


def test_a_fingerprint_keeps_its_own_characters_and_loses_only_padding() -> None:
    assert signing._normalise_fingerprint("SHA256:abcX=") == "SHA256:abcX"
    assert signing._normalise_fingerprint(" sha256:=abc== ") == "SHA256:=abc"


def test_agent_errors_say_exactly_what_is_wrong(
    agent: Path, keys: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(SigningError) as caught:
        AgentSigner()
    assert str(caught.value) == "no ssh-agent to sign with: SSH_AUTH_SOCK is not set"

    dead = tmp_path / "no-such.sock"
    with pytest.raises(SigningError) as caught:
        AgentSigner(agent_path=str(dead))
    assert str(caught.value) == f"cannot reach ssh-agent at {dead}: No such file or directory"

    too_long = "/tmp/" + "x" * 200  # an OSError without an errno: its own text is the reason
    with pytest.raises(SigningError) as caught:
        AgentSigner(agent_path=too_long)
    assert str(caught.value) == f"cannot reach ssh-agent at {too_long}: AF_UNIX path too long"

    with pytest.raises(SigningError) as caught:
        AgentSigner(agent_path=str(agent))
    assert str(caught.value) == "ssh-agent holds no key to sign with (ssh-add lists none)"

    ssh_add(agent, keys["ed25519"], keys["ecdsa"])
    fp_ed = fingerprint(Path(f"{keys['ed25519']}.pub"))
    fp_ec = fingerprint(Path(f"{keys['ecdsa']}.pub"))
    with pytest.raises(SigningError) as caught:
        AgentSigner(agent_path=str(agent))
    listing = {f"{fp_ed}, {fp_ec}", f"{fp_ec}, {fp_ed}"}
    assert str(caught.value) in {
        f"ssh-agent holds 2 keys ({text}); choose one with --sign agent:FINGERPRINT"
        for text in listing
    }
    with pytest.raises(SigningError) as caught:
        AgentSigner(selector="nobody@example.org", agent_path=str(agent))
    assert str(caught.value) in {
        f"ssh-agent holds no key nobody@example.org (it holds {text})" for text in listing
    }


class FakeAgent:
    """A stand-in ssh-agent on a Unix socket: it lists KEY_BLOB (or hangs up at once) and
    refuses every signing request, as an agent does for a key it may not use."""

    def __init__(
        self,
        path: Path,
        key_blob: bytes | None,
        comment: bytes = b"",
        *,
        read: bool = True,
        connections: int = 1,
    ) -> None:
        self.path = path
        self.key_blob = key_blob
        self.comment = comment
        self.read = read  # hang up after reading the request (False: before, unread)
        self.connections = connections  # each AgentSigner call opens one
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(4)
        self.server.settimeout(20)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        for _ in range(self.connections):
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(20)
                if self.key_blob is None:
                    conn.recv(1, socket.MSG_PEEK)  # the request has arrived
                    if self.read:
                        head = self._read(conn, 4)
                        if head is not None:
                            self._read(conn, struct.unpack(">I", head)[0])
                    continue  # hang up: no answer at all
                for _ in range(8):
                    head = self._read(conn, 4)
                    if head is None:
                        break
                    body = self._read(conn, struct.unpack(">I", head)[0])
                    if body is None:
                        break
                    if body[0] == 11:  # REQUEST_IDENTITIES
                        blob, comment = self.key_blob, self.comment
                        answer = (
                            bytes([12])
                            + struct.pack(">I", 1)
                            + struct.pack(">I", len(blob))
                            + blob
                            + struct.pack(">I", len(comment))
                            + comment
                        )
                    else:
                        answer = bytes([5])  # SSH_AGENT_FAILURE
                    conn.sendall(struct.pack(">I", len(answer)) + answer)

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def close(self) -> None:
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes an accept() still waiting
        except OSError:
            pass
        self.server.close()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # AF_UNIX paths are short: tmp_path can be too deep

    with tempfile.TemporaryDirectory(prefix="fa") as d:
        yield Path(d)


def test_an_agent_that_hangs_up_did_not_list_its_keys(short_dir: Path) -> None:
    fake = FakeAgent(short_dir / "a.sock", None)
    try:
        with pytest.raises(SigningError) as caught:
            AgentSigner(agent_path=str(fake.path))
    finally:
        fake.close()
    assert str(caught.value).startswith(f"ssh-agent at {fake.path} did not list its keys: ")


def test_an_agent_that_resets_the_connection_is_a_signing_error(short_dir: Path) -> None:
    fake = FakeAgent(short_dir / "a.sock", None, read=False)
    try:
        with pytest.raises(SigningError) as caught:
            AgentSigner(agent_path=str(fake.path))
    finally:
        fake.close()
    assert str(caught.value).startswith(f"ssh-agent at {fake.path} did not list its keys: ")


def test_an_agent_that_refuses_to_sign_names_the_key(
    keys: dict[str, Path], short_dir: Path
) -> None:
    blob = base64.b64decode(public_line(keys["ed25519"]).split()[1])
    fake = FakeAgent(short_dir / "a.sock", blob, b"fake@example.org", connections=2)
    try:
        signer = AgentSigner(agent_path=str(fake.path))
        fp = fingerprint(Path(f"{keys['ed25519']}.pub"))
        assert signer.key.fingerprint == fp and signer.key.comment == "fake@example.org"
        with pytest.raises(SigningError) as caught:
            signer.sign_all([DATA])
    finally:
        fake.close()
    assert str(caught.value).startswith(f"ssh-agent refused to sign with {fp}: ")


def test_an_agent_key_without_comment_has_an_empty_comment(
    keys: dict[str, Path], short_dir: Path
) -> None:
    blob = base64.b64decode(public_line(keys["ecdsa"]).split()[1])
    fake = FakeAgent(short_dir / "a.sock", blob, b"")
    try:
        signer = AgentSigner(agent_path=str(fake.path))
    finally:
        fake.close()
    assert signer.key.comment == ""
    assert signer.key.fingerprint == fingerprint(Path(f"{keys['ecdsa']}.pub"))


# -- allowed_signers: each entry on its own ----------------------------------------------------


def test_one_good_entry_after_refused_ones_is_accepted(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    pub = public_line(keys["ed25519"])
    allowed = allowed_file(
        tmp_path,
        f'alice@example.org namespaces="git" {pub}',
        f'alice@example.org valid-before="20200101Z" {pub}',
        f'alice@example.org valid-after="20990101Z" {pub}',
        f"alice@example.org {pub}",
    )
    check = check_signature("report.toml", DATA, signature_by(keys["ed25519"]), allowed)
    assert check.ok and check.trusted, check.problem
    assert check.entry_line == 5  # the first line is the comment


def test_all_the_reasons_are_given_when_every_entry_refuses(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    pub = public_line(keys["ed25519"])
    allowed = allowed_file(
        tmp_path,
        f'alice@example.org namespaces="git" {pub}',
        f'alice@example.org valid-before="20200101Z" {pub}',
    )
    check = check_signature("report.toml", DATA, signature_by(keys["ed25519"]), allowed)
    where = tmp_path / "allowed_signers"
    assert not check.ok
    assert check.problem == (
        f"{where}:2 lets alice@example.org sign only for namespaces 'git', not '{NAMESPACE}'; "
        f"{where}:3: the entry for alice@example.org expired at 2020-01-01 00:00:00 UTC (valid-before)"
    )


@pytest.mark.parametrize(("written", "shown"), [("namespaces=git", "git"), ('namespaces=""', "")])
def test_the_namespaces_of_an_entry_are_quoted_as_written(
    written: str, shown: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    allowed = allowed_file(tmp_path, f"alice@example.org {written} {public_line(keys['ed25519'])}")
    check = check_signature("report.toml", DATA, signature_by(keys["ed25519"]), allowed)
    assert not check.ok
    assert check.problem.endswith(
        f"lets alice@example.org sign only for namespaces '{shown}', not '{NAMESPACE}'"
    )


def test_validity_is_judged_to_the_second(keys: dict[str, Path], tmp_path: Path) -> None:
    pub = public_line(keys["ed25519"])
    signature = signature_by(keys["ed25519"])
    start = 1577836800  # 2020-01-01 00:00:00 UTC
    expiring = allowed_file(tmp_path, f'alice@example.org valid-before="20200101Z" {pub}')
    at_end = check_signature("report.toml", DATA, signature, expiring, now=start)
    assert not at_end.ok and "expired at 2020-01-01 00:00:00 UTC" in at_end.problem
    starting = allowed_file(tmp_path, f'alice@example.org valid-after="20200101Z" {pub}')
    at_start = check_signature("report.toml", DATA, signature, starting, now=start)
    assert at_start.ok, at_start.problem


def test_validity_times_are_shown_in_utc_whatever_the_local_zone(
    keys: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = allowed_file(
        tmp_path, f'alice@example.org valid-before="20200101Z" {public_line(keys["ed25519"])}'
    )
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        check = check_signature("report.toml", DATA, signature_by(keys["ed25519"]), allowed)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert "expired at 2020-01-01 00:00:00 UTC" in check.problem, check.problem


def test_several_identities_are_named_when_none_matches(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    pub = public_line(keys["ed25519"])
    allowed = allowed_file(tmp_path, f"bob@example.org {pub}", f"alice@example.org {pub}")
    check = check_signature(
        "report.toml", DATA, signature_by(keys["ed25519"]), allowed, "carol@example.org"
    )
    assert check.problem.endswith(
        "lists ED25519 key "
        f"{fingerprint(Path(str(keys['ed25519']) + '.pub'))} for alice@example.org, "
        "bob@example.org, not for identity 'carol@example.org'"
    )


@pytest.mark.parametrize(
    "principals", ["alice@example.org,ops@example.org", "!bob@example.org,alice@example.org"]
)
def test_an_entry_for_several_principals_verifies_without_an_identity(
    principals: str, keys: dict[str, Path], tmp_path: Path
) -> None:
    allowed = allowed_file(tmp_path, f"{principals} {public_line(keys['ed25519'])}")
    check = check_signature("report.toml", DATA, signature_by(keys["ed25519"]), allowed)
    assert check.ok and check.trusted, check.problem
    assert check.principal == principals


# -- certificates ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A user key certified for alice@example.org by CA, and an unrelated OTHER-CA."""
    folder = tmp_path_factory.mktemp("certs")
    for name in ("ca", "other-ca", "user"):
        keygen("-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(folder / name), check=True)
    keygen(
        "-q",
        "-s",
        str(folder / "ca"),
        "-I",
        "alice",
        "-n",
        "alice@example.org",
        str(folder / "user.pub"),
        check=True,
    )
    return {name: folder / name for name in ("ca", "other-ca", "user")}


def cert_signature(certified: dict[str, Path], data: bytes = DATA) -> bytes:
    user = certified["user"]
    pair = asyncssh.load_keypairs([(str(user), f"{user}-cert.pub")])[0]
    return create_sshsig(pair, data, namespace=NAMESPACE)


def test_a_certificate_signature_verifies_for_the_named_identity(
    certified: dict[str, Path], tmp_path: Path
) -> None:
    allowed = allowed_file(
        tmp_path,
        f"alice@example.org cert-authority {public_line(certified['other-ca'])}",
        f"alice@example.org cert-authority {public_line(certified['ca'])}",
    )
    signature = cert_signature(certified)
    check = check_signature("report.toml", DATA, signature, allowed, "alice@example.org")
    assert check.ok and check.trusted and check.entry_line == 3, check.problem
    unnamed = check_signature("report.toml", DATA, signature, allowed)
    assert not unnamed.ok
    assert unnamed.problem == (
        "the signature was made with a certificate: name the signer with --identity"
    )
    # ssh-keygen agrees on the identity
    data = tmp_path / "report.toml"
    data.write_bytes(DATA)
    Path(f"{data}.sig").write_bytes(signature)
    with open(data, "rb") as stdin:
        proc = subprocess.run(
            [
                "ssh-keygen",
                "-Y",
                "verify",
                "-f",
                str(tmp_path / "allowed_signers"),
                "-I",
                "alice@example.org",
                "-n",
                NAMESPACE,
                "-s",
                f"{data}.sig",
            ],
            stdin=stdin,
            capture_output=True,
            timeout=60,
            env={**os.environ},
        )
    assert proc.returncode == 0, proc.stderr


def test_a_certificate_needs_its_own_authority_in_allowed_signers(
    certified: dict[str, Path], tmp_path: Path
) -> None:
    user_fp = fingerprint(Path(f"{certified['user']}.pub"))
    for lines in (
        [f"alice@example.org cert-authority {public_line(certified['other-ca'])}"],
        [f"alice@example.org {public_line(certified['ca'])}"],  # the CA, not as an authority
        [f"alice@example.org {public_line(certified['user'])}"],  # the key, not an authority
    ):
        allowed = allowed_file(tmp_path, *lines)
        check = check_signature(
            "report.toml", DATA, cert_signature(certified), allowed, "alice@example.org"
        )
        assert not check.ok
        assert check.problem == (
            f"the certificate authority of ED25519 key {user_fp} is not in "
            f"{tmp_path / 'allowed_signers'}: the signer is not trusted"
        ), lines


# -- the signature file itself -----------------------------------------------------------------


def armor(blob: bytes, width: int = 70) -> bytes:
    body = base64.b64encode(blob)
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    return (
        b"\n".join([b"-----BEGIN SSH SIGNATURE-----", *lines, b"-----END SSH SIGNATURE-----"])
        + b"\n"
    )


def sshsig(
    public_data: bytes,
    *,
    magic: bytes = b"SSHSIG",
    version: int = 1,
    namespace: bytes = NAMESPACE.encode(),
    hash_name: bytes = b"sha512",
    signature: bytes = b"",
) -> bytes:
    return (
        magic
        + UInt32(version)
        + String(public_data)
        + String(namespace)
        + String(b"")
        + String(hash_name)
        + String(signature)
    )


def public_data_of(key: Path) -> bytes:
    return base64.b64decode(public_line(key).split()[1])


def refusal(signature_text: bytes) -> str:
    check = check_signature("report.toml", DATA, signature_text)
    assert not check.ok
    return check.problem


NOT_VALID = "the signature file is not a valid SSH signature: "


def test_a_signature_without_its_final_newline_or_on_one_long_line_is_accepted(
    keys: dict[str, Path],
) -> None:
    good = signature_by(keys["ed25519"])
    assert check_signature("report.toml", DATA, good.rstrip(b"\n")).ok
    lines = good.decode().splitlines()
    one_line = "\n".join([lines[0], "".join(lines[1:-1]), lines[-1]]).encode()
    assert check_signature("report.toml", DATA, one_line).ok


def test_each_kind_of_damaged_signature_file_is_named(keys: dict[str, Path]) -> None:
    pub = public_data_of(keys["ed25519"])
    begin, end = b"-----BEGIN SSH SIGNATURE-----", b"-----END SSH SIGNATURE-----"
    cases = {
        begin
        + b"\n"
        + end
        + b"\n": "it is not an armored SSH signature (BEGIN/END SSH SIGNATURE lines)",
        begin + b"\nQUJD*\n" + end + b"\n": "its base64 text is damaged",
        begin + b"\nQUI=\nQUJD\n" + end + b"\n": "its base64 text is damaged",  # padding inside
        begin + b"\nQUJ=\n" + end + b"\n": "its base64 text is damaged",  # spare bits set
        armor(b"NOTSIG" + sshsig(pub)[6:]): "it does not start with SSHSIG",
        armor(sshsig(pub, version=2)): "it has SSHSIG version 2, not 1",
        armor(sshsig(pub)[:-3]): "its SSHSIG structure is damaged",
        armor(sshsig(String(b"ssh-ed25519") + String(b"short"))): (
            "the public key inside it cannot be read"
        ),
        armor(sshsig(pub, hash_name=b"md5")): "it uses the unknown hash 'md5'",
    }
    for text, reason in cases.items():
        assert refusal(text) == NOT_VALID + reason, text


def test_a_signature_for_another_namespace_says_it_signs_no_report(
    keys: dict[str, Path],
) -> None:
    signer = load_key_file(keys["ed25519"])
    text = create_sshsig(signer.private_key, DATA, namespace="file")
    check = check_signature("report.toml", DATA, text)
    assert not check.ok and check.namespace == "file"
    assert check.problem == (
        f"the signature was made for namespace 'file', not '{NAMESPACE}': "
        "it does not sign an iact-tui report"
    )


def test_a_sha256_signature_is_accepted(keys: dict[str, Path], tmp_path: Path) -> None:
    signer = load_key_file(keys["ecdsa"])
    text = create_sshsig(signer.private_key, DATA, namespace=NAMESPACE, hash_name="sha256")
    allowed = allowed_file(tmp_path, f"ecdsa@example.org {public_line(keys['ecdsa'])}")
    check = check_signature("report.toml", DATA, text, allowed)
    assert check.ok and check.trusted, check.problem


def test_trusted_says_whether_allowed_signers_accepted_refused_or_was_not_asked(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    signature = signature_by(keys["ed25519"])
    assert check_signature("report.toml", DATA, signature).trusted is None
    stranger = allowed_file(tmp_path, f"mallory@example.org {public_line(keys['mallory'])}")
    refused = check_signature("report.toml", DATA, signature, stranger)
    assert not refused.ok and refused.trusted is False
    friend = allowed_file(tmp_path, f"alice@example.org {public_line(keys['ed25519'])}")
    assert check_signature("report.toml", DATA, signature, friend).trusted is True


def test_validity_is_judged_at_the_time_given(keys: dict[str, Path], tmp_path: Path) -> None:
    allowed = allowed_file(
        tmp_path, f'alice@example.org valid-before="20990101Z" {public_line(keys["ed25519"])}'
    )
    signature = signature_by(keys["ed25519"])
    assert check_signature("report.toml", DATA, signature, allowed).ok
    later = check_signature("report.toml", DATA, signature, allowed, now=4102444800)  # 2100
    assert not later.ok
    assert "expired at 2099-01-01 00:00:00 UTC (valid-before)" in later.problem


def test_a_certificate_for_someone_else_is_refused_by_the_final_check(
    certified: dict[str, Path], tmp_path: Path
) -> None:
    allowed = allowed_file(
        tmp_path, f"bob@example.org cert-authority {public_line(certified['ca'])}"
    )
    check = check_signature(
        "report.toml", DATA, cert_signature(certified), allowed, "bob@example.org"
    )
    user_fp = fingerprint(Path(f"{certified['user']}.pub"))
    assert not check.ok
    assert check.problem == (
        f"{tmp_path / 'allowed_signers'} does not accept ED25519 key {user_fp} for 'bob@example.org'"
    )


# -- the allowed_signers file ------------------------------------------------------------------


def test_allowed_signers_problems_are_named_with_file_and_line(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(signing.AllowedSignersError) as caught:
        load_allowed_signers(folder)
    assert str(caught.value).startswith(f"cannot read the allowed_signers file {folder}: ")

    comments = tmp_path / "comments"
    comments.write_text("# nobody yet\n\n")
    with pytest.raises(signing.AllowedSignersError) as caught:
        load_allowed_signers(comments)
    assert str(caught.value) == f"{comments} lists no signer"

    bad = tmp_path / "bad"
    bad.write_text(f"# ops\nalice@example.org {public_line(keys['ed25519'])}\nnot a key line\n")
    with pytest.raises(signing.AllowedSignersError) as caught:
        load_allowed_signers(bad)
    assert str(caught.value).startswith(f"{bad}:3: not an allowed_signers entry (")


def test_a_certificate_without_identity_still_hears_every_entrys_reason(
    certified: dict[str, Path], tmp_path: Path
) -> None:
    ca = public_line(certified["ca"])
    allowed = allowed_file(
        tmp_path,
        f"alice@example.org cert-authority {ca}",
        f'alice@example.org cert-authority,namespaces="git" {ca}',
    )
    check = check_signature("report.toml", DATA, cert_signature(certified), allowed)
    assert not check.ok
    assert check.problem == (
        "the signature was made with a certificate: name the signer with --identity; "
        f"{tmp_path / 'allowed_signers'}:3 lets alice@example.org sign only for namespaces "
        f"'git', not '{NAMESPACE}'"
    )


def test_a_key_file_gives_its_comment_and_its_bare_public_line(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    info = load_key_file(keys["ed25519"]).key
    assert info.comment == "ed25519@example.org"
    assert info.public_line == public_line(keys["ed25519"])  # type and key, no comment
    assert info.allowed_signers_line("alice@example.org") == (
        f'alice@example.org namespaces="{NAMESPACE}" {public_line(keys["ed25519"])}'
    )
    bare = tmp_path / "bare"
    keygen("-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(bare), check=True)
    assert load_key_file(bare).key.comment == ""


def test_a_security_key_file_is_refused_with_the_way_to_use_it(tmp_path: Path) -> None:
    """An sk-ssh-ed25519 key file (its private half lives on the FIDO device)."""
    kind = b"sk-ssh-ed25519@openssh.com"
    pk, application, check = b"\x01" * 32, b"ssh:", b"\x02\x03\x04\x05"
    public = String(kind) + String(pk) + String(application)
    private = (
        check
        + check
        + String(kind)
        + String(pk)
        + String(application)
        + b"\x01"  # flags
        + String(b"key handle")
        + String(b"")  # reserved
        + String(b"fido@example.org")
    )
    private += bytes(range(1, 1 + (-len(private) % 8)))  # padding
    blob = (
        b"openssh-key-v1\0"
        + String(b"none")
        + String(b"none")
        + String(b"")
        + UInt32(1)
        + String(public)
        + String(private)
    )
    body = base64.b64encode(blob).decode()
    path = tmp_path / "id_ed25519_sk"
    path.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + "\n".join(body[i : i + 70] for i in range(0, len(body), 70))
        + "\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    with pytest.raises(SigningError) as caught:
        load_key_file(path)
    assert str(caught.value) == (
        f"{path} is a security-key (FIDO) key; sign with it through ssh-agent"
    )
