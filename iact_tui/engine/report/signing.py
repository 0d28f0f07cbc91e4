"""Detached SSH signatures over exported reports, in the SSHSIG format that ``ssh-keygen -Y sign``
writes, and their check against an OpenSSH ``allowed_signers`` file.

Built on ``asyncssh.sshsig`` (``create_sshsig``, ``validate_sshsig``, its allowed-signers parser):
no other dependency. Signing takes a private key file (ed25519, ECDSA, RSA; RSA signs with
``rsa-sha2-512`` as ssh-keygen does) or a key held in ssh-agent.

Verifying does more than ``validate_sshsig``'s yes/no so that a refusal can say *why*: the
signature file is malformed, it was made for another namespace, the bytes were changed after
signing, the key is not listed, it is listed for another identity or namespace, or its entry
has expired. ``validate_sshsig`` still has the last word on every signature we accept.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncssh
from asyncssh.misc import wrap_base64
from asyncssh.packet import PacketDecodeError, SSHPacket, String, UInt32
from asyncssh.public_key import (
    KeyImportError,
    SSHKey,
    decode_ssh_certificate,
    decode_ssh_public_key,
)
from asyncssh.sshsig import (
    SSHAllowedSigners,
    SSHAllowedSignersEntry,
    create_sshsig,
    import_allowed_signers,
    validate_sshsig,
)

from iact_tui.engine.errors import IactError
from iact_tui.engine.formatting import utc_time
from iact_tui.engine.report.layout import NAMESPACE, SIG_SUFFIX

HASH_NAME = "sha512"  # what ssh-keygen -Y sign uses
_MAGIC = b"SSHSIG"
_VERSION = 1
_ARMOR_BEGIN = b"-----BEGIN SSH SIGNATURE-----"
_ARMOR_END = b"-----END SSH SIGNATURE-----"


class SigningError(IactError):
    """A key or signer that cannot be used; the message says why in one sentence."""


class PassphraseNeeded(SigningError):
    pass


class AllowedSignersError(IactError):
    """An allowed_signers file that cannot be used (bad input)."""


# -- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyInfo:
    """What identifies a signing key to a person: its type and SHA256 fingerprint."""

    algorithm: str  # ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa …
    fingerprint: str  # SHA256:…
    comment: str
    public_line: str  # "ssh-ed25519 AAAA…" (without comment), for an allowed_signers line

    @property
    def kind(self) -> str:
        """The short name ssh-keygen prints: ED25519, ECDSA, RSA."""
        a = self.algorithm
        if "ed25519" in a:
            return "ED25519"
        if "ecdsa" in a:
            return "ECDSA"
        if "rsa" in a:
            return "RSA"
        return a.upper()

    def describe(self) -> str:
        return f"{self.kind} key {self.fingerprint}"

    def allowed_signers_line(self, principal: str) -> str:
        return f'{principal} namespaces="{NAMESPACE}" {self.public_line}'


def key_info(key: SSHKey) -> KeyInfo:
    public = key.convert_to_public() if hasattr(key, "convert_to_public") else key
    line = public.export_public_key("openssh").decode().strip().split()
    comment = key.get_comment() or ""
    return KeyInfo(
        algorithm=key.get_algorithm(),
        fingerprint=key.get_fingerprint("sha256"),
        comment=comment,
        public_line=" ".join(line[:2]),
    )


def _normalise_fingerprint(text: str) -> str:
    text = text.strip()
    if text.upper().startswith("SHA256:"):
        text = text[7:]
    return "SHA256:" + text.rstrip("=")


# -- signers ---------------------------------------------------------------------------------


class Signer(Protocol):
    """Signs blobs of bytes; returns armored SSHSIG signatures in the same order."""

    key: KeyInfo

    def sign_all(self, blobs: Sequence[bytes]) -> list[bytes]: ...


@dataclass
class FileSigner:
    """A private key read from a file (already decrypted)."""

    private_key: SSHKey
    path: str
    key: KeyInfo = field(init=False)

    def __post_init__(self) -> None:
        self.key = key_info(self.private_key)

    def sign_all(self, blobs: Sequence[bytes]) -> list[bytes]:
        return [
            create_sshsig(self.private_key, blob, namespace=NAMESPACE, hash_name=HASH_NAME)
            for blob in blobs
        ]


def _signed_data(data: bytes, namespace: str) -> bytes:
    """The blob a key signs for SSHSIG (PROTOCOL.sshsig: magic, namespace, reserved, hash)."""
    digest = hashlib.sha512(data).digest()
    return _MAGIC + String(namespace) + String(b"") + String(HASH_NAME) + String(digest)


def _armor(public_data: bytes, signature: bytes, namespace: str) -> bytes:
    blob = (
        _MAGIC
        + UInt32(_VERSION)
        + String(public_data)
        + String(namespace)
        + String(b"")
        + String(HASH_NAME)
        + String(signature)
    )
    return wrap_base64(blob, b"SSH SIGNATURE")


@dataclass
class AgentSigner:
    """A key held in ssh-agent, chosen by fingerprint (or the only key the agent holds).

    Signing is asynchronous underneath; ``sign_all`` runs its own event loop, so an async
    caller (the TUI) must call it from a worker thread."""

    selector: str = ""  # "" or a SHA256 fingerprint or a key comment
    agent_path: str = ""  # default: $SSH_AUTH_SOCK
    key: KeyInfo = field(init=False)

    def __post_init__(self) -> None:
        self.key = asyncio.run(self._with_key(lambda agent_key: _agent_key_info(agent_key)))

    def sign_all(self, blobs: Sequence[bytes]) -> list[bytes]:
        async def sign(agent_key: Any) -> list[bytes]:
            out = []
            for blob in blobs:
                signature = await agent_key.sign_async(_signed_data(blob, NAMESPACE))
                out.append(_armor(agent_key.public_data, signature, NAMESPACE))
            return out

        result: list[bytes] = asyncio.run(self._with_key(sign))
        return result

    async def _with_key(self, use: Callable[[Any], Any]) -> Any:
        path = self.agent_path or os.environ.get("SSH_AUTH_SOCK", "")
        if not path:
            raise SigningError("no ssh-agent to sign with: SSH_AUTH_SOCK is not set")
        try:
            agent = await asyncssh.connect_agent(path)
        except (OSError, asyncssh.Error) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise SigningError(f"cannot reach ssh-agent at {path}: {reason}") from None
        try:
            try:
                keys = list(await agent.get_keys())
            except (OSError, asyncssh.Error, ValueError) as exc:
                raise SigningError(f"ssh-agent at {path} did not list its keys: {exc}") from None
            agent_key = self._choose(keys)
            if agent_key.algorithm == b"ssh-rsa":
                agent_key.set_sig_algorithm(b"rsa-sha2-512")
            try:
                result = use(agent_key)
                if asyncio.iscoroutine(result):
                    result = await result
            except (OSError, asyncssh.Error, ValueError) as exc:
                raise SigningError(
                    f"ssh-agent refused to sign with {_agent_key_info(agent_key).fingerprint}: {exc}"
                ) from None
            return result
        finally:
            agent.close()
            with contextlib.suppress(OSError):  # a reset connection is already closed
                await agent.wait_closed()

    def _choose(self, keys: list[Any]) -> Any:
        usable = [k for k in keys if not k.has_cert]
        if not usable:
            raise SigningError("ssh-agent holds no key to sign with (ssh-add lists none)")
        if not self.selector:
            if len(usable) == 1:
                return usable[0]
            listing = ", ".join(_agent_key_info(k).fingerprint for k in usable)
            raise SigningError(
                f"ssh-agent holds {len(usable)} keys ({listing}); choose one with --sign agent:FINGERPRINT"
            )
        want = _normalise_fingerprint(self.selector)
        for k in usable:
            info = _agent_key_info(k)
            if info.fingerprint == want or (info.comment and info.comment == self.selector):
                return k
        listing = ", ".join(_agent_key_info(k).fingerprint for k in usable)
        raise SigningError(f"ssh-agent holds no key {self.selector} (it holds {listing})")


def _agent_key_info(agent_key: Any) -> KeyInfo:
    public = decode_ssh_public_key(agent_key.public_data)
    comment = agent_key.get_comment() or ""
    info = key_info(public)
    return KeyInfo(info.algorithm, info.fingerprint, comment, info.public_line)


def load_key_file(path: str | Path, passphrase: str | None = None) -> FileSigner:
    """Read a private key file. Raises PassphraseNeeded when it is encrypted and none was given."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningError(f"no key file {path}") from None
    except OSError as exc:
        raise SigningError(f"cannot read the key file {path}: {exc.strerror}") from None
    try:
        key = asyncssh.import_private_key(data, passphrase)
    except asyncssh.KeyEncryptionError as exc:
        text = str(exc)
        if "bcrypt" in text:
            raise SigningError(
                f"{path} is protected by a passphrase in OpenSSH's format, which needs the 'bcrypt' "
                "package (pip install 'asyncssh[bcrypt]'); or add the key to ssh-agent and use --sign agent"
            ) from None
        if "passphrase" in text.lower():
            raise SigningError(f"the passphrase for {path} is wrong") from None
        raise SigningError(f"cannot decrypt {path}: {text}") from None
    except KeyImportError as exc:
        text = str(exc)
        if passphrase is not None and "decrypt" in text.lower():  # PEM / PKCS#8 say it this way
            raise SigningError(f"the passphrase for {path} is wrong") from None
        if "passphrase" in text.lower():
            raise PassphraseNeeded(f"{path} is protected by a passphrase") from None
        if data.lstrip().startswith((b"ssh-", b"ecdsa-", b"sk-")):
            raise SigningError(
                f"{path} is a public key; --sign needs the private key file"
            ) from None
        raise SigningError(f"{path} is not a private key asyncssh can read ({text})") from None
    except ValueError as exc:
        raise SigningError(f"{path} cannot be used as a signing key: {exc}") from None
    if key.get_algorithm().startswith("sk-"):
        raise SigningError(f"{path} is a security-key (FIDO) key; sign with it through ssh-agent")
    return FileSigner(key, str(path))


def make_signer(spec: str, passphrase: Callable[[str], str | None] | None = None) -> Signer:
    """A signer from ``--sign``: ``agent``, ``agent:FINGERPRINT`` or a private key file.

    ``passphrase(prompt)`` is asked only when the key file is encrypted; it returns None when
    no passphrase can be had (no terminal, no variable)."""
    if spec == "agent" or spec.startswith("agent:"):
        return AgentSigner(selector=spec.partition(":")[2])
    try:
        return load_key_file(spec)
    except PassphraseNeeded:
        secret = passphrase(f"Passphrase for {spec}") if passphrase else None
        if secret is None:
            raise SigningError(
                f"{spec} is protected by a passphrase; give it with --passphrase-env NAME or run on a terminal"
            ) from None
        return load_key_file(spec, secret)


def sign_files(signer: Signer, files: Sequence[Path]) -> list[Path]:
    """Write FILE.sig next to each file. Returns the signature paths."""
    signatures = signer.sign_all([f.read_bytes() for f in files])
    out = []
    for f, sig in zip(files, signatures, strict=True):
        target = f.with_name(f.name + SIG_SUFFIX)
        target.write_bytes(sig)
        out.append(target)
    return out


# -- allowed signers -------------------------------------------------------------------------


@dataclass
class AllowedEntry:
    line_no: int
    principals: str  # as written, e.g. "alice@example.org,ops@example.org"
    entry: SSHAllowedSignersEntry
    line: str

    def option_text(self, option: str) -> str:
        """An option's value as written (for messages)."""
        m = re.search(rf'(?:^|[\s,]){re.escape(option)}=(?:"([^"]*)"|([^,\s]*))', self.line)
        return (m.group(1) if m and m.group(1) is not None else m.group(2) if m else "") or ""

    @property
    def is_ca(self) -> bool:
        return "cert-authority" in self.entry.options

    def principal_names(self) -> list[str]:
        return [p for p in self.principals.split(",") if p and not p.startswith("!")]


@dataclass
class AllowedSigners:
    path: Path
    entries: list[AllowedEntry]
    checker: SSHAllowedSigners  # asyncssh's own, the final word on acceptance


def load_allowed_signers(path: str | Path) -> AllowedSigners:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AllowedSignersError(f"no allowed_signers file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AllowedSignersError(f"cannot read the allowed_signers file {path}: {exc}") from None
    entries: list[AllowedEntry] = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        principals = line.split(None, 1)[0]
        try:
            entries.append(AllowedEntry(no, principals, SSHAllowedSignersEntry(line), line))
        except (KeyImportError, ValueError) as exc:
            raise AllowedSignersError(
                f"{path}:{no}: not an allowed_signers entry ({exc})"
            ) from None
    if not entries:
        raise AllowedSignersError(f"{path} lists no signer")
    try:
        checker = import_allowed_signers(text)
    except ValueError as exc:
        raise AllowedSignersError(f"{path} cannot be used: {exc}") from None
    return AllowedSigners(path, entries, checker)


# -- verifying -------------------------------------------------------------------------------


@dataclass
class ParsedSignature:
    public_data: bytes
    key: SSHKey
    certificate: Any | None
    namespace: str
    hash_name: str
    signature: bytes
    blob: bytes  # the raw (de-armored) signature

    @property
    def info(self) -> KeyInfo:
        return key_info(self.key)


class MalformedSignature(IactError):
    pass


_BASE64_LINE = re.compile(rb"^[A-Za-z0-9+/]+={0,2}$")


def parse_signature(text: bytes) -> ParsedSignature:
    """Parse an armored SSHSIG strictly: any byte out of place is a damaged signature."""
    lines = text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline
    if len(lines) < 3 or lines[0] != _ARMOR_BEGIN or lines[-1] != _ARMOR_END:
        raise MalformedSignature(
            "it is not an armored SSH signature (BEGIN/END SSH SIGNATURE lines)"
        )
    body = lines[1:-1]
    if not all(_BASE64_LINE.match(line) for line in body):
        raise MalformedSignature("its base64 text is damaged")
    encoded = b"".join(body)
    try:
        blob = binascii.a2b_base64(encoded, strict_mode=True)
    except binascii.Error:
        raise MalformedSignature("its base64 text is damaged") from None
    # base64 has spare bits in its last characters: only the canonical text is accepted
    if binascii.b2a_base64(blob, newline=False) != encoded:
        raise MalformedSignature("its base64 text is damaged")
    try:
        packet = SSHPacket(blob)
        if packet.get_bytes(6) != _MAGIC:
            raise MalformedSignature("it does not start with SSHSIG")
        version = packet.get_uint32()
        if version != _VERSION:
            raise MalformedSignature(f"it has SSHSIG version {version}, not {_VERSION}")
        public_data = packet.get_string()
        namespace = packet.get_string().decode("utf-8")
        packet.get_string()  # reserved
        hash_name = packet.get_string().decode("ascii")
        signature = packet.get_string()
        packet.check_end()
    except (PacketDecodeError, UnicodeDecodeError):
        raise MalformedSignature("its SSHSIG structure is damaged") from None
    certificate = None
    try:
        certificate = decode_ssh_certificate(public_data)
        key = certificate.key
    except (KeyImportError, ValueError):
        try:
            key = decode_ssh_public_key(public_data)
        except (KeyImportError, ValueError):
            raise MalformedSignature("the public key inside it cannot be read") from None
    if hash_name not in ("sha256", "sha512"):
        raise MalformedSignature(f"it uses the unknown hash {hash_name!r}")
    return ParsedSignature(public_data, key, certificate, namespace, hash_name, signature, blob)


@dataclass
class SignatureCheck:
    """The verdict on one FILE.sig."""

    file: str  # the signed file's name, as shown
    ok: bool
    problem: str = ""  # one sentence when not ok
    key: KeyInfo | None = None
    namespace: str = ""
    principal: str = ""  # who, per allowed_signers ("" when not checked against it)
    trusted: bool | None = None  # None: no allowed_signers given; True: accepted by it
    entry_line: int | None = None

    def describe(self) -> str:
        if not self.ok:
            return f"{self.file}: {self.problem}"
        key = self.key.describe() if self.key else "an unknown key"
        if self.trusted:
            return f'{self.file}: good "{self.namespace}" signature by {self.principal} with {key}'
        return (
            f'{self.file}: the "{self.namespace}" signature matches, made with {key}; '
            "not checked against trusted signers (give --allowed-signers)"
        )


def _signed_by_key(data: bytes, parsed: ParsedSignature) -> bool:
    digest = hashlib.new(parsed.hash_name, data).digest()
    signed = (
        _MAGIC + String(parsed.namespace) + String(b"") + String(parsed.hash_name) + String(digest)
    )
    try:
        return bool(parsed.key.verify(signed, parsed.signature))
    except (ValueError, PacketDecodeError):
        return False


def _when(timestamp: int) -> str:
    return utc_time(datetime.fromtimestamp(timestamp, UTC))


def check_signature(
    name: str,
    data: bytes,
    signature_text: bytes,
    allowed: AllowedSigners | None = None,
    identity: str | None = None,
    *,
    now: float | None = None,
) -> SignatureCheck:
    """Check ``signature_text`` over ``data`` the way ``ssh-keygen -Y verify -n iact-tui-report``
    does, with the reason for any refusal."""
    try:
        parsed = parse_signature(signature_text)
    except MalformedSignature as exc:
        return SignatureCheck(
            name, False, f"the signature file is not a valid SSH signature: {exc}"
        )
    info = parsed.info
    check = SignatureCheck(name, False, key=info, namespace=parsed.namespace)
    if parsed.namespace != NAMESPACE:
        check.problem = (
            f"the signature was made for namespace '{parsed.namespace}', not '{NAMESPACE}': "
            "it does not sign an iact-tui report"
        )
        return check
    if not _signed_by_key(data, parsed):
        check.problem = (
            f"the signature does not match the file: {name} was changed after it was signed "
            f"(or the signature belongs to another file); signed with {info.describe()}"
        )
        return check
    if allowed is None:
        check.ok = True
        return check
    check.trusted = False
    refusal, entry = _allowed_entry(parsed, allowed, identity, time.time() if now is None else now)
    if refusal:
        check.problem = refusal
        return check
    assert entry is not None
    principal = identity or (entry.principal_names() or [entry.principals])[0]
    # asyncssh has the last word: the same decision ssh-keygen makes
    if not validate_sshsig(data, signature_text, principal, allowed.checker):
        check.problem = f"{allowed.path} does not accept {info.describe()} for '{principal}'"
        return check
    check.ok = True
    check.trusted = True
    check.principal = identity or entry.principals
    check.entry_line = entry.line_no
    return check


def _allowed_entry(
    parsed: ParsedSignature, allowed: AllowedSigners, identity: str | None, now: float
) -> tuple[str, AllowedEntry | None]:
    """The entry that accepts this signature, or the sentence saying why none does."""
    info = parsed.info
    where = str(allowed.path)
    if parsed.certificate is not None:
        entries = [
            e
            for e in allowed.entries
            if e.is_ca and e.entry.key.public_data == parsed.certificate.signing_key.public_data
        ]
        what = f"the certificate authority of {info.describe()}"
    else:
        entries = [
            e
            for e in allowed.entries
            if not e.is_ca and e.entry.key.public_data == parsed.key.public_data
        ]
        what = info.describe()
    if not entries:
        return f"{what} is not in {where}: the signer is not trusted", None
    if identity is not None:
        named = [e for e in entries if e.entry.principals.matches(identity)]
        if not named:
            listed = ", ".join(sorted({e.principals for e in entries}))
            return f"{where} lists {what} for {listed}, not for identity '{identity}'", None
        entries = named
    reasons = []
    for e in entries:
        options: dict[str, Any] = e.entry.options
        namespaces = options.get("namespaces")
        if namespaces is not None and not namespaces.matches(NAMESPACE):
            reasons.append(
                f"{where}:{e.line_no} lets {e.principals} sign only for namespaces "
                f"'{e.option_text('namespaces')}', not '{NAMESPACE}'"
            )
            continue
        before = options.get("valid-before")
        if before is not None and now >= int(before):
            reasons.append(
                f"{where}:{e.line_no}: the entry for {e.principals} expired at {_when(int(before))} (valid-before)"
            )
            continue
        after = options.get("valid-after")
        if after is not None and now < int(after):
            reasons.append(
                f"{where}:{e.line_no}: the entry for {e.principals} is valid only from {_when(int(after))} (valid-after)"
            )
            continue
        if parsed.certificate is not None and identity is None:
            reasons.append(
                "the signature was made with a certificate: name the signer with --identity"
            )
            continue
        return "", e
    return "; ".join(reasons), None
