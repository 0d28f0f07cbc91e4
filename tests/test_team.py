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


def test_a_whole_headless_deploy_is_one_run_plus_the_ticks(team: dict[str, Path]) -> None:
    runs = team["runs"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "iact_tui", "run", str(team["checklist"]), "--headless", "--wait",
         "--runs-dir", str(runs), "--operator", "ana"],
        cwd=ROOT, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    out = Lines(proc.stdout)
    try:
        run_id = out.wait_for("run ").split()[1]
        tick_line = out.wait_for(f"tick it: iact-tui tick {run_id} ui-check")
        out.wait_for("Open the staging site and log in.")
        out.wait_for("- [ ] The home page loads")
        assert "--fail" in tick_line
        done = cli("tick", run_id, "ui-check", "--as", "luis", "--note", "looks fine", "--runs-dir", str(runs))
        assert done.returncode == 0, done.stderr
        # the approval: its role lists approvers, so it must be signed, and four eyes by key
        out.wait_for(f"tick it: iact-tui tick {run_id} approval --sign KEY|agent")
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
    done = cli("verify", str(runs.parent / "out"), "--allowed-signers", str(runs.parent / "report_signers"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "approval" in done.stdout and "bea@example.com" in done.stdout


def test_verify_fails_an_approval_whose_signature_does_not_hold(tmp_path: Path) -> None:
    import hashlib

    from iact_tui.engine.record.store import RunStore

    bea = keygen(tmp_path, "bea")
    text = runfactory.STAGING_MINI.replace('roles = ["devops", "tech-lead", "developer"]',
                                           'roles = ["devops", "tech-lead", "developer"]\n\n'
                                           '[checklist.approvers]\ntech-lead = "approvers"')
    allowed = allowed_line(bea, "bea@example.com")
    created = {
        "checklist_id": "PROCED-DEVOPS-001", "checklist_title": "Deploy a Staging", "checklist_version": "1.0.0",
        "checklist_sha256": hashlib.sha256(text.encode()).hexdigest(), "operator": "alice", "mode": "headless",
        "variables": {}, "plan": runfactory.plan_of(text),
        "approver_keys": {"tech-lead": {"file": "approvers", "sha256": hashlib.sha256(allowed.encode()).hexdigest(),
                                        "text": allowed}},
    }
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
