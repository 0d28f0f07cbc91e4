"""Signed approvals (engine/report/approvals.py, engine/checklist/approvers.py): SSHSIG over the approval payload, namespace
iact-tui-approval, checked against a role's allowed_signers — with real keys, ssh-keygen and a real
ssh-agent."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from iact_tui.engine.checklist.approvers import (
    APPROVAL_NAMESPACE,
    ApproversError,
    pin_approvers,
    principals,
)
from iact_tui.engine.record.state import reduce
from iact_tui.engine.record.store import read_records
from iact_tui.engine.report.approvals import (
    ApprovalError,
    Payload,
    agent_fingerprints,
    check_approval,
    payload_for,
    sign_payload,
)
from tests import runfactory


def keygen(folder: Path, name: str, kind: str = "ed25519") -> Path:
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", name, "-f", str(path)], check=True)
    return path


def signers_line(key: Path, principal: str, options: str = f'namespaces="{APPROVAL_NAMESPACE}"') -> str:
    public = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    return f"{principal} {options} {public}\n".replace("  ", " ")


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    return {name: keygen(tmp_path, name) for name in ("bea", "ana")}


PAYLOAD = Payload("20261201T000000Z-x-0001", "approval", "pass", "looks good", "", "a" * 64, "b" * 64)


def test_a_signed_approval_is_accepted_and_ssh_keygen_agrees(tmp_path: Path, keys: dict[str, Path]) -> None:
    allowed = signers_line(keys["bea"], "bea@example.com")
    signed = sign_payload(str(keys["bea"]), PAYLOAD)
    checked = check_approval(PAYLOAD, signed.signature, allowed, "tech-lead")
    assert (checked.signer, checked.fingerprint) == ("bea@example.com", signed.fingerprint)
    (tmp_path / "allowed").write_text(allowed)
    (tmp_path / "payload").write_bytes(PAYLOAD.to_bytes())
    (tmp_path / "payload.sig").write_text(signed.signature)
    done = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", str(tmp_path / "allowed"), "-I", "bea@example.com",
         "-n", APPROVAL_NAMESPACE, "-s", str(tmp_path / "payload.sig")],
        stdin=open(tmp_path / "payload", "rb"), capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "Good" in done.stdout


@pytest.mark.parametrize("field", ["run", "step", "result", "note", "reason", "checklist_sha256", "chain_head"])
def test_any_other_payload_is_refused(keys: dict[str, Path], field: str) -> None:
    allowed = signers_line(keys["bea"], "bea@example.com")
    signed = sign_payload(str(keys["bea"]), PAYLOAD)
    other = Payload(**{**PAYLOAD.__dict__, field: "fail" if field == "result" else "changed"})
    with pytest.raises(ApprovalError, match="does not sign this approval"):
        check_approval(other, signed.signature, allowed, "tech-lead")


def test_a_key_not_listed_for_the_role_is_refused(keys: dict[str, Path]) -> None:
    allowed = signers_line(keys["bea"], "bea@example.com")
    signed = sign_payload(str(keys["ana"]), PAYLOAD)
    with pytest.raises(ApprovalError, match="not listed for role 'tech-lead'"):
        check_approval(PAYLOAD, signed.signature, allowed, "tech-lead")


def test_an_entry_for_another_namespace_or_expired_is_refused(keys: dict[str, Path]) -> None:
    signed = sign_payload(str(keys["bea"]), PAYLOAD)
    reports_only = signers_line(keys["bea"], "bea@example.com", 'namespaces="iact-tui-report"')
    with pytest.raises(ApprovalError, match="does not let it sign approvals"):
        check_approval(PAYLOAD, signed.signature, reports_only, "tech-lead")
    expired = signers_line(keys["bea"], "bea@example.com", 'valid-before="20200101"')
    with pytest.raises(ApprovalError, match="does not let it sign approvals"):
        check_approval(PAYLOAD, signed.signature, expired, "tech-lead")


def test_a_report_signature_is_no_approval(tmp_path: Path, keys: dict[str, Path]) -> None:
    (tmp_path / "payload").write_bytes(PAYLOAD.to_bytes())
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(keys["bea"]), "-n", "iact-tui-report",
                    str(tmp_path / "payload")], check=True, capture_output=True)
    signature = (tmp_path / "payload.sig").read_text()
    with pytest.raises(ApprovalError, match="namespace 'iact-tui-report'"):
        check_approval(PAYLOAD, signature, signers_line(keys["bea"], "bea@example.com", ""), "tech-lead")
    with pytest.raises(ApprovalError, match="not a valid SSH signature"):
        check_approval(PAYLOAD, signature.replace("A", "B", 3), signers_line(keys["bea"], "bea"), "tech-lead")


def test_ssh_keygen_signatures_are_accepted(tmp_path: Path, keys: dict[str, Path]) -> None:
    (tmp_path / "payload").write_bytes(PAYLOAD.to_bytes())
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(keys["bea"]), "-n", APPROVAL_NAMESPACE,
                    str(tmp_path / "payload")], check=True, capture_output=True)
    checked = check_approval(PAYLOAD, (tmp_path / "payload.sig").read_text(),
                             signers_line(keys["bea"], "bea@example.com"), "tech-lead")
    assert checked.signer == "bea@example.com"


def test_a_key_in_ssh_agent_signs(tmp_path: Path, ssh_agent: Callable[[Path], str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    key = keygen(tmp_path, "carla", "ecdsa")
    socket = ssh_agent(key)
    monkeypatch.setenv("SSH_AUTH_SOCK", socket)
    signed = sign_payload("agent", PAYLOAD)
    checked = check_approval(PAYLOAD, signed.signature, signers_line(key, "carla@example.com"), "tech-lead")
    assert checked.fingerprint == signed.fingerprint
    assert agent_fingerprints() == [signed.fingerprint]


def test_a_missing_key_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(ApprovalError, match="no key file"):
        sign_payload(str(tmp_path / "nope"), PAYLOAD)


def test_the_payload_names_the_run_at_this_point_of_its_history(tmp_path: Path) -> None:
    b = runfactory.RunBuilder(tmp_path)
    b.wait("approval")
    state = reduce(read_records(b.folder))
    payload = payload_for(state, "approval", "pass", "ok")
    assert (payload.run, payload.chain_head, payload.checklist_sha256) == (
        state.run_id, state.last_hash, state.checklist_sha256)
    with pytest.raises(ApprovalError):
        payload_for(state, "approval", "approve")
    b.close()


def test_approvers_are_pinned_from_the_checklists_folder(tmp_path: Path, keys: dict[str, Path]) -> None:
    (tmp_path / "approvers").mkdir()
    (tmp_path / "approvers" / "tech-lead").write_text("# leads\n" + signers_line(keys["bea"], "bea@example.com"))
    pinned = pin_approvers({"tech-lead": "approvers/tech-lead"}, tmp_path / "c.toml")
    text = pinned["tech-lead"]["text"]
    fingerprint = sign_payload(str(keys["bea"]), PAYLOAD).fingerprint
    assert principals(text, fingerprint) == ["bea@example.com"]
    with pytest.raises(ApproversError, match="no allowed_signers file"):
        pin_approvers({"tech-lead": "approvers/missing"}, tmp_path / "c.toml")
    (tmp_path / "approvers" / "bad").write_text("bea@example.com ssh-ed25519 notakey\n")
    with pytest.raises(ApproversError, match="line 1 is not an allowed_signers entry"):
        pin_approvers({"tech-lead": "approvers/bad"}, tmp_path / "c.toml")


def test_a_signed_tick_on_a_step_without_a_role_says_so() -> None:
    from types import SimpleNamespace

    from iact_tui.engine.report.approvals import check_signed_tick

    state = SimpleNamespace(info={"approver_keys": {"tech-lead": {"text": ""}}}, run_id="r")
    step = SimpleNamespace(id="look", role=None)
    with pytest.raises(ApprovalError, match="'look' takes no signed approval: it has no role"):
        check_signed_tick(state, set(), step, "pass", "", "", "SIG", "")
