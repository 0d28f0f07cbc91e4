"""Signed approvals: a tick signed with the person's own SSH key (``tick --sign KEY|agent``).

What is signed (the *payload*) is one line of canonical JSON naming exactly what the person
answers and when in the run's history they answered it::

    {"checklist_sha256":…,"chain_head":…,"namespace":"iact-tui-approval","note":…,
     "reason":…,"result":"pass|fail|skip","run":…,"step":…,"version":1}

``chain_head`` is the hash of the run's newest record when the person signed: the signature
belongs to this run at this point of its history and cannot be replayed into another run or an
earlier point of this one. The signature is SSHSIG (what ``ssh-keygen -Y sign -n
iact-tui-approval`` writes), made with a key file or a key held in ssh-agent, through
``engine/report/signing.py``.

A checklist requires signed approvals for a role with::

    [checklist.approvers]
    tech-lead = "approvers/allowed_signers"   # OpenSSH allowed_signers; principals are people

The file (relative to the checklist; ``engine/checklist/approvers.py``) is read when the run starts
and pinned in its first record (``approver_keys``), so the run is checked against the list it started with, and ``verify``
re-checks every approval against the same list. An approval is accepted when its signature is
good, made for ``iact-tui-approval``, by a key the role's list names (the principal it names is
who approved: typed names do not count), over this run's payload. Four eyes then compares keys:
the approving key is not one of the operators' (``operator_keys``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from iact_tui.engine.checklist.approvers import APPROVAL_NAMESPACE, ApproversError, entries
from iact_tui.engine.errors import IactError

PAYLOAD_VERSION = 1
RESULTS = ("pass", "fail", "skip")


class ApprovalError(IactError):
    """An approval that cannot be made or is not accepted; the message says why."""


# -- the payload --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    run: str
    step: str
    result: str  # pass | fail | skip (the tick's action)
    note: str
    reason: str
    checklist_sha256: str
    chain_head: str

    def to_bytes(self) -> bytes:
        body = {
            "checklist_sha256": self.checklist_sha256,
            "chain_head": self.chain_head,
            "namespace": APPROVAL_NAMESPACE,
            "note": self.note,
            "reason": self.reason,
            "result": self.result,
            "run": self.run,
            "step": self.step,
            "version": PAYLOAD_VERSION,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def payload_for(state: Any, step: str, result: str, note: str = "", reason: str = "") -> Payload:
    """The payload a person signs now, for a run in ``state`` (its newest record is the head)."""
    if result not in RESULTS:
        raise ApprovalError(f"unknown tick action '{result}'")
    return Payload(
        str(state.run_id),
        step,
        result,
        note,
        reason,
        str(state.checklist_sha256),
        str(state.last_hash),
    )


def payload_of_record(
    rec: dict[str, Any], run_id: str, checklist_sha256: str, chain_head: str
) -> Payload:
    """The payload a recorded answer's signature signs (docs/team.md, checking one by hand)."""
    return Payload(
        run_id,
        str(rec.get("step", "")),
        result_of_record(rec),
        str(rec.get("note", "") or ""),
        str(rec.get("reason", "") or ""),
        checklist_sha256,
        chain_head,
    )


def result_of_record(rec: dict[str, Any]) -> str:
    """The tick action a step_ticked / step_skipped record answers."""
    if rec.get("type") == "step_skipped":
        return "skip"
    if rec.get("type") == "step_ticked_ahead":
        return str(rec.get("action", ""))
    return "fail" if rec.get("result") == "failed" else "pass"


# -- signing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    signature: str  # armored SSHSIG
    fingerprint: str  # SHA256:…
    key_type: str  # ssh-ed25519 …
    public_line: str  # "ssh-ed25519 AAAA…"


def sign_payload(spec: str, payload: Payload, passphrase: Any = None) -> Signed:
    """Sign with ``--sign``'s key: ``agent``, ``agent:FINGERPRINT`` or a private key file.
    Raises ApprovalError with the reason (no key, wrong passphrase, no agent …)."""
    from iact_tui.engine.report import signing

    try:
        signer = signing.make_signer(spec, passphrase)
        armored = _sign(signer, payload.to_bytes())
    except signing.SigningError as exc:
        raise ApprovalError(str(exc)) from None
    key = signer.key
    return Signed(armored.decode("ascii"), key.fingerprint, key.algorithm, key.public_line)


def _sign(signer: Any, data: bytes) -> bytes:
    from asyncssh.sshsig import create_sshsig

    from iact_tui.engine.report import signing

    if isinstance(signer, signing.FileSigner):
        return bytes(
            create_sshsig(
                signer.private_key, data, namespace=APPROVAL_NAMESPACE, hash_name=signing.HASH_NAME
            )
        )
    if isinstance(signer, signing.AgentSigner):
        import asyncio

        async def sign(agent_key: Any) -> bytes:
            signature = await agent_key.sign_async(signing._signed_data(data, APPROVAL_NAMESPACE))
            return bytes(signing._armor(agent_key.public_data, signature, APPROVAL_NAMESPACE))

        result: bytes = asyncio.run(signer._with_key(sign))
        return result
    raise ApprovalError(f"cannot sign approvals with {type(signer).__name__}")


def agent_fingerprints(agent_path: str = "") -> list[str]:
    """The SHA256 fingerprints of the keys ssh-agent holds ([] without an agent): the operator's
    keys, recorded when a run with signed approvals starts or resumes (four eyes). Safe to call
    from inside an event loop: the agent is asked on a thread of its own (bounded, 10 s)."""
    import os
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as Late

    path = agent_path or os.environ.get("SSH_AUTH_SOCK", "")
    if not path:
        return []
    with ThreadPoolExecutor(1) as pool:
        try:
            return pool.submit(_agent_listing, path).result(timeout=10)
        except (Late, OSError, RuntimeError):
            return []


def _agent_listing(path: str) -> list[str]:
    import asyncio

    import asyncssh
    from asyncssh.public_key import decode_ssh_public_key

    async def listing() -> list[str]:
        try:
            agent = await asyncio.wait_for(asyncssh.connect_agent(path), 5)
        except (OSError, asyncssh.Error, TimeoutError):
            return []
        try:
            keys = await asyncio.wait_for(agent.get_keys(), 5)
            return [
                decode_ssh_public_key(k.public_data).get_fingerprint("sha256")
                for k in keys
                if not k.has_cert
            ]
        except (OSError, asyncssh.Error, ValueError, TimeoutError):
            return []
        finally:
            agent.close()
            await agent.wait_closed()

    return asyncio.run(listing())


# -- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    signer: str  # the principal the allowed_signers list names for the key
    fingerprint: str
    key_type: str


def check_approval(
    payload: Payload, signature: str, allowed_text: str, role: str, *, at: float | None = None
) -> Checked:
    """Accept a signed approval or raise ApprovalError with the reason: a damaged signature,
    another namespace, bytes other than these, a key the role's list does not name (or names only
    for another namespace, or not at the time). ``at``: when the approval was made (a recorded
    one: its record's time, so that a key retired since, by ``valid-before``, still vouches for
    what it signed while it was valid, as ``ssh-keygen -Y verify -Overify-time=`` checks it);
    None: now."""
    import time

    from iact_tui.engine.report import signing

    data = payload.to_bytes()
    sig = signature.encode("ascii", errors="replace")
    try:
        parsed = signing.parse_signature(sig)
    except signing.MalformedSignature as exc:
        raise ApprovalError(
            f"the approval's signature is not a valid SSH signature: {exc}"
        ) from None
    info = parsed.info
    if parsed.certificate is not None:
        raise ApprovalError(
            "the approval is signed with a certificate; approvals are signed with a plain key"
        )
    if parsed.namespace != APPROVAL_NAMESPACE:
        raise ApprovalError(
            f"the signature was made for namespace '{parsed.namespace}', not '{APPROVAL_NAMESPACE}'"
        )
    if not signing._signed_by_key(data, parsed):
        raise ApprovalError(
            f"the signature ({info.describe()}) does not sign this approval: run, step, result, note, "
            "checklist or the run's history at signing differ"
        )
    try:
        listed_all = entries(allowed_text)
    except ApproversError as exc:
        raise ApprovalError(f"the approvers of role '{role}' cannot be read: {exc}") from None
    listed = [
        (no, names, e)
        for no, names, e in listed_all
        if e.key.public_data == parsed.key.public_data and "cert-authority" not in e.options
    ]
    if not listed:
        raise ApprovalError(
            f"{info.describe()} is not listed for role '{role}': only its approvers may approve"
        )
    when = time.time() if at is None else at
    reasons = []
    for no, names, entry in listed:
        for principal in names:  # the signature is good (above): the entry must allow it then
            if _entry_allows(entry, principal, when):
                return Checked(principal, info.fingerprint, info.algorithm)
        reasons.append(
            f"line {no} does not let it sign approvals {'now' if at is None else 'at ' + _utc(at)} "
            "(namespaces, valid-after or valid-before)"
        )
    raise ApprovalError(f"{info.describe()} is listed for role '{role}' but " + "; ".join(reasons))


def _entry_allows(entry: Any, principal: str, when: float) -> bool:
    """An allowed_signers entry lets ``principal`` sign approvals at ``when`` (its namespaces,
    valid-after and valid-before options, as asyncssh's ``match_options`` reads them for now)."""
    if not entry.principals.matches(principal):
        return False
    namespaces = entry.options.get("namespaces")
    if namespaces is not None and not namespaces.matches(APPROVAL_NAMESPACE):
        return False
    after = entry.options.get("valid-after")
    before = entry.options.get("valid-before")
    return not (after is not None and when < after) and not (before is not None and when >= before)


def _utc(at: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def record_time(rec: dict[str, Any]) -> float | None:
    """When a record was written (its ``at``), None when it has none that reads."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(rec.get("at", ""))).timestamp()
    except ValueError:
        return None


def check_recorded(
    rec: dict[str, Any],
    run_id: str,
    approver_keys: dict[str, Any],
    role: str,
    hashes_before: set[str],
    checklist_sha256: str,
) -> Checked:
    """Re-check a recorded approval (``verify``): its signature over the payload its record
    names, against the allowed_signers the run pinned for the role. Raises ApprovalError."""
    approval = rec.get("signed")
    if not isinstance(approval, dict):
        raise ApprovalError("the record holds no approval")
    pinned = approver_keys.get(role) if isinstance(approver_keys, dict) else None
    if not isinstance(pinned, dict) or not isinstance(pinned.get("text"), str):
        raise ApprovalError(f"the run pinned no approvers for role '{role}'")
    head = str(approval.get("chain_head", ""))
    if head not in hashes_before:
        raise ApprovalError(
            "it was signed over a history this run does not have before it (chain_head)"
        )
    if str(approval.get("checklist_sha256", "")) != checklist_sha256:
        raise ApprovalError("it was signed for another version of the checklist")
    payload = payload_of_record(rec, run_id, checklist_sha256, head)
    at = record_time(rec)
    if at is None:
        raise ApprovalError("its record has no time to check the approver's key at")
    checked = check_approval(
        payload, str(approval.get("signature", "")), pinned["text"], role, at=at
    )
    if checked.fingerprint != approval.get("fingerprint") or checked.signer != approval.get(
        "signer"
    ):
        raise ApprovalError("its recorded signer or key fingerprint is not the one that signed it")
    if rec.get("by") != checked.signer:
        raise ApprovalError(f"it is recorded as by {rec.get('by')}, but {checked.signer} signed it")
    return checked


# -- a tick that answers a step of a role with approvers ----------------------------------------


def role_needs_signature(state: Any, role: str | None) -> bool:
    keys = state.info.get("approver_keys") if isinstance(state.info, dict) else None
    return bool(role and isinstance(keys, dict) and role in keys)


def check_signed_tick(
    state: Any,
    hashes: set[str],
    step: Any,
    action: str,
    note: str,
    reason: str,
    signature: str,
    chain_head: str,
) -> dict[str, str] | None:
    """The ``approval`` to record with a tick, None when the step's role needs no signature and the
    tick has none; raises ApprovalError when the tick is not accepted (the message says why).

    ``hashes``: the hashes of the run's records so far (the signed chain head must be one)."""
    role = getattr(step, "role", None) or ""
    if not role_needs_signature(state, role):
        if signature:
            whose = (
                f"the checklist lists no approvers for role '{role}' ([checklist.approvers])"
                if role
                else "it has no role, and only a role's approvers sign ([checklist.approvers])"
            )
            raise ApprovalError(
                f"step '{getattr(step, 'id', '')}' takes no signed approval: {whose}; tick it "
                "without --sign"
            )
        return None
    step_id = str(getattr(step, "id", ""))
    if not signature:
        raise ApprovalError(
            f"step '{step_id}' needs an answer signed by a {role} approver: give the same tick "
            "with --sign KEY|agent (a key file, or the key in your ssh-agent)"
        )
    if chain_head not in hashes:
        raise ApprovalError(
            "the approval was signed over a history this run does not have (chain head); sign it again"
        )
    pinned = state.info["approver_keys"][role]
    payload = Payload(
        str(state.run_id), step_id, action, note, reason, str(state.checklist_sha256), chain_head
    )
    checked = check_approval(payload, signature, str(pinned.get("text", "")), role)
    if getattr(step, "four_eyes", False) and action != "fail":
        from iact_tui.engine.record.identity import same_person

        if checked.fingerprint in operator_keys(state):
            raise ApprovalError(
                f"step '{step_id}' needs four eyes: {checked.fingerprint} is a key of an operator of the run, so "
                f"another {role} approver must answer it"
            )
        for operator in state.operators or [state.operator]:
            if operator and (
                same_person(checked.signer, operator)
                or same_person(checked.signer.split("@", 1)[0], operator)
            ):
                raise ApprovalError(
                    f"step '{step_id}' needs four eyes: the key's owner {checked.signer} is an operator of the "
                    f"run ({operator}), so another {role} approver must answer it"
                )
    return {
        "role": role,
        "signer": checked.signer,
        "fingerprint": checked.fingerprint,
        "key_type": checked.key_type,
        "chain_head": chain_head,
        "checklist_sha256": str(state.checklist_sha256),
        "signature": signature,
    }


def operator_keys(state: Any) -> set[str]:
    """The fingerprints of the operators' keys (recorded when they started or resumed the run)."""
    keys = getattr(state, "operator_keys", None)
    if keys is None:
        keys = state.info.get("operator_keys", []) if isinstance(state.info, dict) else []
    return {str(k) for k in keys}


def check_tick_signature(
    state: Any, hashes: set[str], step: Any, tick: Any
) -> dict[str, str] | None:
    """``ticks.record_tick``'s ``check_approval``: a tick's signature, checked as above."""
    return check_signed_tick(
        state, hashes, step, tick.action, tick.note, tick.reason, tick.signature, tick.chain_head
    )
