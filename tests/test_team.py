"""Team operation end to end (issue 12): a headless run that waits for its ticks, signed
approvals with four eyes by key, and verify re-checking them — real processes, real keys."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import IO

import pytest

from iact_tui.engine.checklist.approvers import APPROVAL_NAMESPACE
from iact_tui.engine.record.state import reduce
from iact_tui.engine.record.store import read_records
from iact_tui.engine.report.approvals import Payload, sign_payload
from tests import runfactory
from tests.helpers import ROOT, cli, write_checklist

WAIT = 60.0

CHECKLIST = """
schema_version = 1

[checklist]
id = "TEAM-1"
title = "Team deploy"
version = "1.0.0"
roles = ["devops", "tech-lead"]

[checklist.approvers]
tech-lead = "approvers"

[[phases]]
id = "pre"
title = "Before"

[[phases.steps]]
id = "ui-check"
title = "Look at the page"
kind = "manual"
instructions = "Open the staging site and log in."
checks = ["The home page loads", "Login works"]

[[phases.steps]]
id = "approval"
title = "Tech Lead approval"
kind = "manual"
role = "tech-lead"
four_eyes = true
instructions = "Approve the deploy."

[[phases]]
id = "deploy"
title = "Deploy"

[[phases.steps]]
id = "restart"
title = "Restart the service"
kind = "local"
run = "echo restarted"
confirm = true
"""


def keygen(folder: Path, name: str) -> Path:
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path


def allowed_line(key: Path, principal: str) -> str:
    public = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    return f'{principal} namespaces="{APPROVAL_NAMESPACE}" {public}\n'


class Lines:
    """A process's output lines, read on a thread; tests wait (bounded) for the line they need."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, text: str, within: float = WAIT) -> str:
        deadline = time.monotonic() + within
        with self._cond:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                assert left > 0, f"no line with {text!r} in:\n" + "\n".join(self.lines)
                self._cond.wait(left)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_") and k != "SSH_AUTH_SOCK"}
    env["CI"] = "true"
    env.update(extra)
    return env


@pytest.fixture
def team(tmp_path: Path) -> dict[str, Path]:
    keys = {name: keygen(tmp_path, name) for name in ("bea", "ana")}
    (tmp_path / "approvers").write_text(allowed_line(keys["bea"], "bea@example.com")
                                        + allowed_line(keys["ana"], "ana@example.com"))
    checklist = write_checklist(tmp_path, CHECKLIST)
    return {"checklist": checklist, "runs": tmp_path / "runs", **keys}


def _approvals_run(allowed: str) -> tuple[str, dict[str, object]]:
    """The mini staging checklist with tech-lead approvers, and a first record pinning ``allowed``."""
    import hashlib

    text = runfactory.STAGING_MINI.replace('roles = ["devops", "tech-lead", "developer"]',
                                           'roles = ["devops", "tech-lead", "developer"]\n\n'
                                           '[checklist.approvers]\ntech-lead = "approvers"')
    created = {
        "checklist_id": "PROCED-DEVOPS-001", "checklist_title": "Deploy a Staging", "checklist_version": "1.0.0",
        "checklist_sha256": hashlib.sha256(text.encode()).hexdigest(), "operator": "alice", "mode": "headless",
        "variables": {}, "plan": runfactory.plan_of(text),
        "approver_keys": {"tech-lead": {"file": "approvers", "sha256": hashlib.sha256(allowed.encode()).hexdigest(),
                                        "text": allowed}},
    }
    return text, created


def _run_waiting(team: dict[str, Path]) -> tuple[subprocess.Popen[str], Lines]:
    """``run --headless --wait`` of the team checklist by ana, and its output's lines."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "iact_tui", "run", str(team["checklist"]), "--headless", "--wait",
         "--runs-dir", str(team["runs"]), "--operator", "ana"],
        cwd=ROOT, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    return proc, Lines(proc.stdout)


def test_a_whole_headless_deploy_is_one_run_plus_the_ticks(team: dict[str, Path]) -> None:
    runs = team["runs"]
    proc, out = _run_waiting(team)
    try:
        run_id = out.wait_for("run ").split()[1]
        tick_line = out.wait_for(f"tick it: iact-tui tick {run_id} ui-check")
        out.wait_for("Open the staging site and log in.")
        out.wait_for("- [ ] The home page loads")
        assert "--fail" in tick_line
        done = cli("tick", run_id, "ui-check", "--as", "luis", "--note", "looks fine", "--runs-dir", str(runs))
        assert done.returncode == 0, done.stderr
        # the approval: its role lists approvers, so it must be signed, and four eyes by key
        out.wait_for(f"tick it: iact-tui tick {run_id} approval --runs-dir {runs} --sign KEY|agent")
        done = cli("tick", run_id, "approval", "--as", "bea", "--runs-dir", str(runs))
        assert done.returncode == 2 and "--sign" in done.stderr, done.stderr
        done = cli("tick", run_id, "approval", "--sign", str(team["ana"]), "--runs-dir", str(runs))
        assert done.returncode == 2 and "four eyes" in done.stderr, done.stderr  # ana runs it
        done = cli("tick", run_id, "approval", "--sign", str(team["bea"]), "--note", "go", "--runs-dir", str(runs))
        assert done.returncode == 0, done.stderr
        assert "bea@example.com" in done.stdout
        # the confirmation: the resolved command is printed, a tick runs it
        out.wait_for("echo restarted")
        out.wait_for(f"tick it: iact-tui tick {run_id} restart")
        done = cli("tick", run_id, "restart", "--as", "luis", "--runs-dir", str(runs))
        assert done.returncode == 0, done.stderr
        assert proc.wait(timeout=WAIT) == 0, "\n".join(out.lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    folder = runs / run_id
    report = tomllib.loads((folder / "report.toml").read_text())
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["approval"]["ticked_by"] == "bea@example.com"
    assert steps["approval"]["approval_fingerprint"].startswith("SHA256:")
    assert steps["restart"]["status"] == "passed"
    assert report["run"]["status"] == "succeeded"
    assert not any(r["type"] == "run_paused" for r in report["events"])  # never paused: one run
    # the export names the signer and the key, and verify re-checks the approval
    sig_key = team["bea"]
    (team["runs"].parent / "report_signers").write_text(
        allowed_line(sig_key, "bea@example.com").replace(APPROVAL_NAMESPACE, "iact-tui-report"))
    done = cli("export", str(folder), "--format", "md", "--sign", str(sig_key), "-o", str(runs.parent / "out"))
    assert done.returncode == 0, done.stderr
    md = next((runs.parent / "out").glob("*.md")).read_text()
    assert "bea@example.com" in md and steps["approval"]["approval_fingerprint"] in md
    import hashlib  # and the approvers list the run pinned, to compare with the team's own

    assert "Approvers' keys" in md
    assert hashlib.sha256((team["runs"].parent / "approvers").read_bytes()).hexdigest() in md
    done = cli("verify", str(runs.parent / "out"), "--allowed-signers", str(runs.parent / "report_signers"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "approval" in done.stdout and "bea@example.com" in done.stdout


def test_verify_fails_an_approval_whose_signature_does_not_hold(tmp_path: Path) -> None:

    from iact_tui.engine.record.store import RunStore

    bea = keygen(tmp_path, "bea")
    allowed = allowed_line(bea, "bea@example.com")
    text, created = _approvals_run(allowed)
    store = RunStore.create(tmp_path / "runs", "20261201T000000Z-team-0001", text, created)
    store.append("step_waiting", step="approval")
    state = store.state
    head = state.last_hash
    other = Payload(state.run_id, "approval", "pass", "something else", "", state.checklist_sha256, head)
    signed = sign_payload(str(bea), other)  # signs another note than the one recorded
    store.append("step_ticked", step="approval", result="passed", by="bea@example.com", note="ok", role="tech-lead",
                 signed={"role": "tech-lead", "signer": "bea@example.com", "fingerprint": signed.fingerprint,
                           "key_type": signed.key_type, "chain_head": head,
                           "checklist_sha256": state.checklist_sha256, "signature": signed.signature})
    store.append("run_finished", status="succeeded")
    store.close()
    done = cli("verify", str(store.folder))
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "approval" in said and "does not sign this approval" in said
    assert reduce(read_records(store.folder)).steps["approval"].ticked_by == "bea@example.com"


def _line(text: str, part: str) -> str:
    """The (stripped) line of ``text`` that holds ``part``; '' when none does."""
    return next((line.strip() for line in text.splitlines() if part in line), "")


def _signed_run(tmp_path: Path, allowed: str, *, sign_with: Path | None, at_start: str = "",
                pinned: bool = True) -> Path:
    """A finished run whose tech-lead approval is answered: signed with ``sign_with`` (over the
    right payload), or, when None, ticked without a signature (as a tampered record would be);
    ``pinned=False``: its first record without the approvers list (as a forger would drop it)."""
    from iact_tui.engine.record import store as store_module
    from iact_tui.engine.record.store import RunStore

    text, created = _approvals_run(allowed)
    if not pinned:
        del created["approver_keys"]
    saved = store_module.now
    if at_start:  # the records are written at this time
        store_module.now = lambda: at_start
    try:
        store = RunStore.create(tmp_path / "runs", "20261201T000000Z-team-0002", text, created)
        store.append("step_waiting", step="approval")
        state = store.state
        head = state.last_hash
        if sign_with is None:
            store.append("step_ticked", step="approval", result="passed", by="bea@example.com", note="ok",
                         role="tech-lead")
        else:
            signed = sign_payload(str(sign_with), Payload(state.run_id, "approval", "pass", "ok", "",
                                                          state.checklist_sha256, head))
            store.append("step_ticked", step="approval", result="passed", by="bea@example.com", note="ok",
                         role="tech-lead",
                         signed={"role": "tech-lead", "signer": "bea@example.com", "fingerprint": signed.fingerprint,
                                 "key_type": signed.key_type, "chain_head": head,
                                 "checklist_sha256": state.checklist_sha256, "signature": signed.signature})
        store.append("run_finished", status="succeeded")
        store.close()
    finally:
        store_module.now = saved
    return store.folder


def test_verify_fails_an_answer_without_signature_where_the_role_takes_signed_ones(tmp_path: Path) -> None:
    """A report whose approval record lost its signature (or never had one) is no signed approval."""
    bea = keygen(tmp_path, "bea")
    folder = _signed_run(tmp_path, allowed_line(bea, "bea@example.com"), sign_with=None)
    done = cli("verify", str(folder))
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "step 'approval'" in said and "without a signature" in said and "tech-lead" in said


def test_verify_fails_a_run_that_dropped_its_approvers_and_the_signature(tmp_path: Path) -> None:
    """The pinned checklist (its sha256 checked apart) says the role takes signed approvals: a
    report whose first record lost the list, and whose approval lost its signature, is no signed
    approval either."""
    bea = keygen(tmp_path, "bea")
    folder = _signed_run(tmp_path, allowed_line(bea, "bea@example.com"), sign_with=None, pinned=False)
    done = cli("verify", str(folder))
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "takes signed approvals for role 'tech-lead'" in said and "pinned no list" in said, said
    assert "without a signature" in said, said


def test_an_approval_made_before_its_key_was_retired_still_verifies(tmp_path: Path) -> None:
    """valid-before is checked at the approval's own time (its record's), as ssh-keygen's
    -Overify-time does: retiring a key later does not unmake what it signed while valid."""
    bea = keygen(tmp_path, "bea")
    public = " ".join(bea.with_suffix(".pub").read_text().split()[:2])
    allowed = f'bea@example.com namespaces="{APPROVAL_NAMESPACE}",valid-before="20260101" {public}\n'
    folder = _signed_run(tmp_path, allowed, sign_with=bea, at_start="2025-12-31T12:00:00.000+00:00")
    done = cli("verify", str(folder))
    said = done.stdout + done.stderr
    assert _line(said, "step 'approval': passed signed by bea@example.com").startswith("ok"), said
    later = _signed_run(tmp_path / "later", allowed, sign_with=bea, at_start="2026-01-02T12:00:00.000+00:00")
    done = cli("verify", str(later))
    said = done.stdout + done.stderr
    assert done.returncode == 1
    assert "does not let it sign approvals at 2026-01-02 12:00:00 UTC" in said, said


def test_verify_checks_approvals_against_the_auditors_own_list(tmp_path: Path) -> None:
    """--approvers ROLE=FILE: the run pinned the operator's list; the auditor's says who really
    approves. A list that names another key for the signer fails the approval."""
    bea, mal = keygen(tmp_path, "bea"), keygen(tmp_path, "mal")
    pinned = allowed_line(mal, "bea@example.com")  # the operator pinned their own key as "bea"
    folder = _signed_run(tmp_path, pinned, sign_with=mal)
    done = cli("verify", str(folder))
    assert _line(done.stdout, "step 'approval': passed signed by").startswith("ok"), done.stdout
    assert "give --approvers" in done.stdout
    (tmp_path / "team_leads").write_text(allowed_line(bea, "bea@example.com"))
    done = cli("verify", str(folder), "--approvers", f"tech-lead={tmp_path / 'team_leads'}")
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "not the file you gave" in said
    assert "by the approvers you gave" in said and "is not listed for role 'tech-lead'" in said
    (tmp_path / "renamed").write_text(allowed_line(mal, "zed@example.com"))  # mal's key, as zed
    done = cli("verify", str(folder), "--approvers", f"tech-lead={tmp_path / 'renamed'}")
    assert done.returncode == 1 and "name its key as zed@example.com" in done.stdout, done.stdout
    (tmp_path / "same").write_text(pinned)
    done = cli("verify", str(folder), "--approvers", f"tech-lead={tmp_path / 'same'}")
    assert "the same file as yours" in done.stdout, done.stdout
    assert _line(done.stdout, "step 'approval': passed signed by").startswith("ok"), done.stdout
    for bad, message in ((["--approvers", "tech-lead"], "ROLE=FILE"),
                         (["--approvers", f"tech-lead={tmp_path / 'missing'}"], "no allowed_signers file"),
                         (["--approvers", f"developer={tmp_path / 'same'}"], "took no signed approvals")):
        done = cli("verify", str(folder), *bad)
        assert done.returncode in (1, 2) and message in done.stdout + done.stderr, done.stdout + done.stderr


def test_a_paused_run_with_approvers_beside_its_checklist_is_ticked_shown_and_resumed(
        team: dict[str, Path]) -> None:
    """The approvers file is named relative to the checklist; the run's copy of the checklist lives
    in the run's folder, where no such file is: tick, show, watch and resume read the pinned list."""
    from iact_tui.tui.run_model import RunView

    runs = team["runs"]
    done = cli("run", str(team["checklist"]), "--headless", "--runs-dir", str(runs), "--operator", "ana")
    assert done.returncode == 3, done.stdout + done.stderr  # paused: ui-check waits for a person
    folder = next(d for d in runs.iterdir() if d.is_dir())
    done = cli("tick", folder.name, "ui-check", "--as", "luis", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    done = cli("show", folder.name, "approval", "--json", "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    import json

    shown = json.loads(done.stdout)
    assert shown["role"] == "tech-lead" and shown["four_eyes"] is True
    assert RunView.from_folder(folder).step("approval").role == "tech-lead"  # what watch reads
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--operator", "ana")
    assert done.returncode == 3, done.stdout + done.stderr  # paused at the approval
    # every printed command for it works as printed: the role's answers are signed
    assert f"tick {folder.name} approval --runs-dir {runs} --sign KEY|agent" in done.stdout + done.stderr
    shown = cli("show", folder.name, "--runs-dir", str(runs)).stdout
    assert f"tick {folder.name} approval --runs-dir {runs} --sign KEY|agent" in shown, shown
    shown = cli("show", folder.name, "approval", "--runs-dir", str(runs)).stdout
    assert "--sign KEY|agent" in _line(shown, "Tick it:"), shown
    unsigned = cli("tick", folder.name, "approval", "--as", "bea", "--runs-dir", str(runs))
    assert unsigned.returncode == 2 and "give the same tick with --sign KEY|agent" in unsigned.stderr
    done = cli("tick", folder.name, "approval", "--sign", str(team["bea"]), "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--operator", "ana", "--yes")
    assert done.returncode in (0, 3), done.stdout + done.stderr
    if done.returncode == 3:  # the confirm step asks for its tick
        assert cli("tick", folder.name, "restart", "--as", "luis", "--runs-dir", str(runs)).returncode == 0
        done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--operator", "ana")
    assert done.returncode == 0, done.stdout + done.stderr


def _documented_approval_check() -> str:
    """The Python part of docs/team.md's "Checking an approval by hand", as written there."""
    doc = (ROOT / "docs" / "team.md").read_text()
    start = doc.index("python3 - report.toml approval <<'EOF'\n") + len("python3 - report.toml approval <<'EOF'\n")
    return doc[start:doc.index("\nEOF\n", start)]


def test_an_approval_checks_by_hand_as_documented(team: dict[str, Path]) -> None:
    """docs/team.md's recipe, run as written, rebuilds the payload ssh-keygen verifies the
    approval's signature over (at the approval's time, against the approvers list)."""
    runs = team["runs"]
    proc, out = _run_waiting(team)
    try:
        run_id = out.wait_for("run ").split()[1]
        out.wait_for(f"tick it: iact-tui tick {run_id} ui-check")
        assert cli("tick", run_id, "ui-check", "--as", "luis", "--runs-dir", str(runs)).returncode == 0
        out.wait_for(f"tick it: iact-tui tick {run_id} approval")
        done = cli("tick", run_id, "approval", "--sign", str(team["bea"]), "--note", "go — ok ✓",
                   "--runs-dir", str(runs))
        assert done.returncode == 0, done.stderr
        out.wait_for(f"tick it: iact-tui tick {run_id} restart")
        assert cli("tick", run_id, "restart", "--as", "luis", "--runs-dir", str(runs)).returncode == 0
        assert proc.wait(timeout=WAIT) == 0, "\n".join(out.lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    work = runs.parent / "audit"
    work.mkdir()
    done = subprocess.run([sys.executable, "-", str(runs / run_id / "report.toml"), "approval"],
                          input=_documented_approval_check(), capture_output=True, text=True, cwd=work, timeout=60)
    assert done.returncode == 0, done.stderr
    signer, at = done.stdout.split()
    assert signer == "bea@example.com"
    checked = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", str(runs.parent / "approvers"), "-I", signer, "-n", APPROVAL_NAMESPACE,
         "-s", "approval.sig", f"-Overify-time={at}"],
        stdin=(work / "approval.payload").open("rb"), capture_output=True, text=True, cwd=work, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Good" in checked.stdout + checked.stderr
    (work / "approval.payload").write_bytes((work / "approval.payload").read_bytes().replace(b"ok", b"OK"))
    changed = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", str(runs.parent / "approvers"), "-I", signer, "-n", APPROVAL_NAMESPACE,
         "-s", "approval.sig", f"-Overify-time={at}"],
        stdin=(work / "approval.payload").open("rb"), capture_output=True, text=True, cwd=work, timeout=60)
    assert changed.returncode != 0  # the check can fail: another note is not what bea signed


def _approvers_changed(team: dict[str, Path], *, added: bool) -> tuple[Path, str, Path]:
    """A run started on the team checklist (``added``: without its approvers section), paused at
    the approval; then the checklist file gets the approvers section (``added``) or another list
    (only ana), and the run is resumed with --checklist-changed use-new."""
    runs, checklist = team["runs"], team["checklist"]
    if added:
        checklist.write_text(CHECKLIST.replace('[checklist.approvers]\ntech-lead = "approvers"\n', ""))
    done = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--operator", "ana")
    assert done.returncode == 3, done.stdout + done.stderr
    folder = next(d for d in runs.iterdir() if d.is_dir())
    assert cli("tick", folder.name, "ui-check", "--as", "luis", "--runs-dir", str(runs)).returncode == 0
    if added:
        checklist.write_text(CHECKLIST)
    else:
        (checklist.parent / "approvers-ana").write_text(allowed_line(team["ana"], "ana@example.com"))
        checklist.write_text(CHECKLIST.replace('tech-lead = "approvers"', 'tech-lead = "approvers-ana"'))
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--operator", "ana",
               "--checklist-changed", "use-new")
    return folder, done.stdout + done.stderr, runs


def test_a_new_checklist_that_adds_approvers_pins_them_on_use_new(team: dict[str, Path]) -> None:
    """Resumed on a checklist that now takes signed approvals: its lists are pinned with the
    decision, the approval must be signed by a listed key, and verify checks it against them."""
    folder, said, runs = _approvers_changed(team, added=True)
    assert "--sign KEY|agent" in _line(said, f"tick {folder.name} approval"), said
    unsigned = cli("tick", folder.name, "approval", "--as", "bea", "--runs-dir", str(runs))
    assert unsigned.returncode == 2 and "--sign" in unsigned.stderr, unsigned.stdout + unsigned.stderr
    done = cli("tick", folder.name, "approval", "--sign", str(team["bea"]), "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--operator", "ana", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    done = cli("verify", str(folder))
    assert _line(done.stdout, "step 'approval': passed signed by bea@example.com").startswith("ok"), done.stdout
    assert [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("FAIL")] == [
        "FAIL  signature  report.toml is not signed: no report.toml.sig next to it"], done.stdout


def test_a_new_checklist_with_another_approvers_list_takes_over_from_its_decision(
        team: dict[str, Path]) -> None:
    """The new checklist's list replaces the pinned one from the decision on: bea (listed before,
    not now) is refused, ana's signature is not hers to give (four eyes: she operates the run) —
    so bea's key is refused by the new list, and verify holds the new list to the approval."""
    folder, said, runs = _approvers_changed(team, added=False)
    assert "--sign KEY|agent" in _line(said, f"tick {folder.name} approval"), said
    done = cli("tick", folder.name, "approval", "--sign", str(team["bea"]), "--runs-dir", str(runs))
    assert done.returncode == 2 and "not listed for role 'tech-lead'" in done.stderr, done.stdout + done.stderr
    state = reduce(read_records(folder))
    assert set(state.info["approver_keys"]) == {"tech-lead"}
    assert state.info["approver_keys"]["tech-lead"]["file"] == "approvers-ana"


def _started_without_approvers(team: dict[str, Path]) -> tuple[Path, Path, Path]:
    """A run started on the team checklist without its approvers section, paused at ui-check."""
    runs, checklist = team["runs"], team["checklist"]
    checklist.write_text(CHECKLIST.replace('[checklist.approvers]\ntech-lead = "approvers"\n', ""))
    done = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--operator", "ana")
    assert done.returncode == 3, done.stdout + done.stderr
    return next(d for d in runs.iterdir() if d.is_dir()), runs, checklist


def _use_new(folder: Path, runs: Path, *extra: str) -> str:
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--operator", "ana",
               "--checklist-changed", "use-new", *extra)
    return done.stdout + done.stderr


def test_an_answer_ticked_ahead_is_not_used_once_its_role_takes_signed_answers(
        team: dict[str, Path]) -> None:
    """Unsigned ahead, then a use-new that lists the role's approvers: the step asks again (the
    answer is dropped, saying why), and the signed answer it then gets verifies."""
    folder, runs, checklist = _started_without_approvers(team)
    assert cli("tick", folder.name, "approval", "--ahead", "--as", "bea", "--runs-dir", str(runs)).returncode == 0
    assert cli("tick", folder.name, "ui-check", "--as", "luis", "--runs-dir", str(runs)).returncode == 0
    checklist.write_text(CHECKLIST)
    said = _use_new(folder, runs)
    assert "not used: role 'tech-lead' takes signed answers since the checklist changed" in said, said
    assert "--sign KEY|agent" in _line(said, f"tick {folder.name} approval"), said
    state = reduce(read_records(folder))
    assert state.steps["approval"].status == "waiting"
    assert cli("tick", folder.name, "approval", "--sign", str(team["bea"]), "--runs-dir", str(runs)).returncode == 0
    done = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--operator", "ana", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    verified = cli("verify", str(folder)).stdout
    assert [line.strip() for line in verified.splitlines() if line.strip().startswith("FAIL")] == [
        "FAIL  signature  report.toml is not signed: no report.toml.sig next to it"], verified


def test_an_answer_signed_ahead_is_asked_again_after_the_checklist_changes(team: dict[str, Path]) -> None:
    """Signed ahead by bea under list A; a use-new to a list without bea: the answer was signed for
    another version of the checklist (and bea is no longer listed), so the step asks again."""
    runs, checklist = team["runs"], team["checklist"]
    done = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--operator", "ana")
    assert done.returncode == 3
    folder = next(d for d in runs.iterdir() if d.is_dir())
    done = cli("tick", folder.name, "approval", "--ahead", "--sign", str(team["bea"]), "--runs-dir", str(runs))
    assert done.returncode == 0, done.stderr
    assert cli("tick", folder.name, "ui-check", "--as", "luis", "--runs-dir", str(runs)).returncode == 0
    (checklist.parent / "approvers-ana").write_text(allowed_line(team["ana"], "ana@example.com"))
    checklist.write_text(CHECKLIST.replace('tech-lead = "approvers"', 'tech-lead = "approvers-ana"'))
    said = _use_new(folder, runs)
    assert "not used: it was signed for another version of the checklist" in said, said
    assert reduce(read_records(folder)).steps["approval"].status == "waiting"


def test_verify_takes_an_unsigned_answer_given_before_approvers_were_listed(team: dict[str, Path]) -> None:
    """Approved without a signature while the checklist listed no approvers; a use-new then lists
    them: that answer was right at its time, and verify says so."""
    folder, runs, checklist = _started_without_approvers(team)
    assert cli("tick", folder.name, "ui-check", "--as", "luis", "--runs-dir", str(runs)).returncode == 0
    assert cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--operator", "ana").returncode == 3
    assert cli("tick", folder.name, "approval", "--as", "bea", "--runs-dir", str(runs)).returncode == 0
    checklist.write_text(CHECKLIST)
    _use_new(folder, runs, "--yes")
    changed = next(r for r in read_records(folder) if r["type"] == "checklist_changed")
    assert "approvers of role 'tech-lead' added (approvers): its answers are signed" in changed["changes"]
    verified = cli("verify", str(folder)).stdout
    assert [line.strip() for line in verified.splitlines() if line.strip().startswith("FAIL")] == [
        "FAIL  signature  report.toml is not signed: no report.toml.sig next to it"], verified


def test_show_asks_for_a_signature_after_a_use_new_drops_the_approvers_section(
        team: dict[str, Path]) -> None:
    """The run pinned the role's list; the checklist it now holds names none: the role's answers
    are still signed, and show's tick command says --sign (from the report, not the checklist)."""
    runs, checklist = team["runs"], team["checklist"]
    assert cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--operator", "ana").returncode == 3
    folder = next(d for d in runs.iterdir() if d.is_dir())
    assert cli("tick", folder.name, "ui-check", "--as", "luis", "--runs-dir", str(runs)).returncode == 0
    checklist.write_text(CHECKLIST.replace('[checklist.approvers]\ntech-lead = "approvers"\n', ""))
    asked = cli("resume", folder.name, "--headless", "--runs-dir", str(runs), "--operator", "ana")
    assert asked.returncode == 3, asked.stdout + asked.stderr  # the changes it lists, to decide
    assert "approvers of role 'tech-lead' removed (approvers): the run keeps the list it pinned" in asked.stderr
    said = _use_new(folder, runs)
    assert "--sign KEY|agent" in _line(said, f"tick {folder.name} approval"), said
    import json

    shown = json.loads(cli("show", folder.name, "approval", "--json", "--runs-dir", str(runs)).stdout)
    assert shown["tick"].endswith("--sign KEY|agent"), shown["tick"]
    listing = cli("show", folder.name, "--runs-dir", str(runs)).stdout
    assert f"tick {folder.name} approval --runs-dir {runs} --sign KEY|agent" in listing, listing


def test_an_approvers_file_that_never_ends_is_refused_with_a_sentence(team: dict[str, Path]) -> None:
    runs, checklist = team["runs"], team["checklist"]
    checklist.write_text(CHECKLIST.replace('tech-lead = "approvers"', 'tech-lead = "/dev/zero"'))
    done = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--operator", "ana")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "/dev/zero is over" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_damaged_approvers_list_in_a_record_is_no_list() -> None:
    from iact_tui.engine.record.state import approvers_after

    pinned = {"tech-lead": {"file": "a", "sha256": "x", "text": "t"}}
    assert approvers_after(pinned, {"approver_keys": {"tech-lead": "junk", "dev": ["x"]}}) == pinned
    assert approvers_after(None, {"approver_keys": "junk"}) is None
    new = {"dev": {"file": "b", "sha256": "y", "text": "u"}}
    assert approvers_after(pinned, {"approver_keys": new}) == {**pinned, **new}


def test_verify_says_a_damaged_approvers_list_is_damaged(tmp_path: Path) -> None:
    """A record whose list of a role is no table: said as damaged, not as an --approvers mistake."""
    from iact_tui.engine.report.verify import Verification, _say_pinned_approvers

    result = Verification(tmp_path, tmp_path / "report.toml")
    _say_pinned_approvers(result, {"tech-lead": "junk"}, {})
    assert [c.text for c in result.checks if not c.ok] == [
        "the run's record of role 'tech-lead' approvers list is damaged (not a list)"]
