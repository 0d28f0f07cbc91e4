"""A checklist's approvers: ``[checklist.approvers] ROLE = "FILE"``, an OpenSSH allowed_signers
file (relative to the checklist) naming the people whose signed approvals the role's steps take.

Read when a run starts and pinned in its first record (``approver_keys``); ``iact-tui check``
reads them too. Signing and checking approvals: ``engine/report/approvals.py``; docs/team.md.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from iact_tui.engine.errors import IactError

APPROVAL_NAMESPACE = "iact-tui-approval"  # the SSHSIG namespace of a signed approval
MAX_ALLOWED_SIGNERS_BYTES = 256 * 1024


class ApproversError(IactError):
    """An approvers file that cannot be used; the message names it and says why."""


def pin_approvers(
    approvers: dict[str, str], checklist_path: Path | None
) -> dict[str, dict[str, str]]:
    """Read each role's allowed_signers file (relative to the checklist): what the run records
    in ``approver_keys``. Raises ApproversError naming the file and what is wrong with it."""
    base = checklist_path.parent if checklist_path is not None else Path.cwd()
    out: dict[str, dict[str, str]] = {}
    for role, file in approvers.items():
        given = Path(file).expanduser()
        path = given if given.is_absolute() else base / given
        try:
            data, text = read_allowed_signers(path)
        except ApproversError as exc:
            raise ApproversError(f"[checklist.approvers] {role}: {exc}") from None
        out[role] = {"file": file, "sha256": hashlib.sha256(data).hexdigest(), "text": text}
    return out


def read_allowed_signers(path: Path) -> tuple[bytes, str]:
    """A role's allowed_signers file: its bytes and text. Raises ApproversError naming the file
    and what is wrong with it (missing, unreadable, too large, not UTF-8, no usable entry)."""
    try:
        with path.open("rb") as f:  # bounded: a device such as /dev/zero never ends
            data = f.read(MAX_ALLOWED_SIGNERS_BYTES + 1)
    except FileNotFoundError:
        raise ApproversError(f"no allowed_signers file {path}") from None
    except OSError as exc:
        raise ApproversError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_ALLOWED_SIGNERS_BYTES:
        raise ApproversError(f"{path} is over {MAX_ALLOWED_SIGNERS_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApproversError(f"{path} is not UTF-8 text") from None
    problem = allowed_signers_problem(text)
    if problem:
        raise ApproversError(f"{path}: {problem}")
    return data, text


def entries(text: str) -> list[tuple[int, list[str], Any]]:
    """(line number, the people it names, the parsed entry) for each entry of the text."""
    from asyncssh.public_key import KeyImportError
    from asyncssh.sshsig import SSHAllowedSignersEntry

    found = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            entry = SSHAllowedSignersEntry(line)
        except (KeyImportError, ValueError) as exc:
            raise ApproversError(f"line {no} is not an allowed_signers entry ({exc})") from None
        names = [p for p in line.split(None, 1)[0].split(",") if p and not p.startswith("!")]
        found.append((no, names, entry))
    return found


def allowed_signers_problem(text: str) -> str:
    """Why ``text`` cannot serve as a role's approvers ('' when it can)."""
    try:
        listed = entries(text)
    except ApproversError as exc:
        return str(exc)
    if not listed:
        return "it lists no signer"
    return ""


def principals(text: str, fingerprint: str) -> list[str]:
    """The people an allowed_signers text lists for the key with this fingerprint."""
    out: list[str] = []
    for _, names, entry in entries(text):
        if entry.key.get_fingerprint("sha256") == fingerprint:
            out += [p for p in names if p not in out]
    return out
