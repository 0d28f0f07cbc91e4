"""Exports of a run with steps on a host group: the host × step grid in Markdown and HTML, each
host's log (``logs/<step>@<host>.log``) in the bundle, and ``verify`` re-hashing those logs
against ``[[host_steps]]`` — a changed or missing host log fails it, signed or not."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from iact_tui.engine.executors.base import LogWriter
from iact_tui.engine.report.bundle import ExportError, export_run
from iact_tui.engine.report.signing import load_key_file
from iact_tui.engine.report.verify import verify
from iact_tui.engine.status import StepStatus
from tests.tui.runs import new_run

CHECKLIST = """
schema_version = 1

[checklist]
id = "FLEET-EXPORT"
title = "Rolling restart"
version = "1.0.0"

[hosts.web1]
address = "10.0.1.11"
[hosts.web2]
address = "10.0.1.12"
[hosts.web3]
address = "10.0.1.13"
[hosts.web]
members = ["web1", "web2", "web3"]

[[phases]]
id = "restart"
title = "PASO 3.2 + PASO 4, host by host"
serial = 1

[[phases.steps]]
id = "restart-app"
kind = "ssh"
host = "web"
run = "sudo systemctl restart app"

[[phases.steps]]
id = "health"
kind = "ssh"
host = "web"
run = "curl -fsS localhost:8000/health"
expect_output = "^healthy$"
changes_target = false
"""


def fleet_run(tmp_path: Path) -> Path:
    """web1 passes both steps; web2 restarts, then fails its health check; web3 never starts."""
    s = new_run(tmp_path, CHECKLIST, "fleet.toml", "20260302T090000Z-fleet-export")
    logs = s.folder / "logs"

    def host(step: str, name: str, batch: int, ok: bool, line: str) -> None:
        s.append("host_started", step=step, host=name, attempt=1, batch=batch)
        log = LogWriter(logs / f"{step}@{name}.log", None)
        log.write(f"{line}\n")
        log.close()
        s.append("host_finished", step=step, host=name, attempt=1, status="passed" if ok else "failed",
                 exit_status=0, duration=0.2, message=None if ok else "no line matches '^healthy$'",
                 log_sha256=log.sha256, log_bytes=log.size)

    s.append("step_started", step="restart-app", attempt=1, command="sudo systemctl restart app")
    s.append("step_started", step="health", attempt=1, command="curl -fsS localhost:8000/health")
    host("restart-app", "web1", 0, True, "restarted")
    host("health", "web1", 0, True, "healthy")
    host("restart-app", "web2", 1, True, "restarted")
    host("health", "web2", 1, False, "unhealthy")
    s.append("rollout_stopped", step="health", failed=["web2"], limit=0, reason="1 host failed (max_fail 0)")
    s.append("step_finished", step="health", attempt=1, status="failed", duration=0.4,
             message="on web2: no line matches '^healthy$'")
    s.append("step_finished", step="restart-app", attempt=1, status="failed", duration=0.4,
             message="the rollout stopped")
    s.append("run_finished", status="failed", counts=s.state.counts())
    s.compact()
    s.lock.release()
    return s.folder


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return fleet_run(tmp_path)


def test_the_documents_show_the_host_by_step_grid(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    export_run(run, out_dir=out, formats=("toml", "md", "html"))
    md = (out / "report.md").read_text()
    assert "## Hosts × steps" in md
    grid = md[md.index("## Hosts × steps"):]
    assert "| Host | restart-app | health |" in grid
    rows = {line.split("|")[1].strip().strip("`"): [c.strip() for c in line.split("|")[2:4]]
            for line in grid.splitlines() if line.startswith("| `web")}
    assert rows == {"web1": ["passed", "passed"], "web2": ["passed", "failed"]}
    assert "stopped: 1 host failed (max_fail 0)" in grid
    html = (out / "report.html").read_text()
    assert "Hosts × steps" in html and "<td><code>web2</code></td>" in html
    # the host logs are listed with their sha256, like the step logs
    assert "`restart-app` on `web2`" in md and "`logs/health@web2.log`" in md


def test_the_bundle_copies_the_host_logs_and_verify_rehashes_them(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = export_run(run, out_dir=out, formats=("toml", "md"))
    names = sorted(p.name for p in (out / "logs").iterdir())
    assert names == ["health@web1.log", "health@web2.log", "restart-app@web1.log", "restart-app@web2.log"]
    assert result.logs == 4
    report = tomllib.loads((out / "report.toml").read_text())
    recorded = {(h["step"], h["host"]): h["log_sha256"] for h in report["host_steps"]}
    assert len(recorded) == 4
    checked = verify(out)
    assert checked.consistent, [c.text for c in checked.checks if not c.ok]
    assert any("4 host logs match" in c.text for c in checked.checks)

    (out / "logs" / "health@web2.log").write_text("healthy\n")  # the failure, rewritten
    checked = verify(out)
    assert not checked.consistent
    bad = [c.text for c in checked.checks if not c.ok]
    assert any("logs/health@web2.log does not match the sha256 recorded for host web2" in m for m in bad)

    (out / "logs" / "health@web2.log").unlink()
    bad = [c.text for c in verify(out).checks if not c.ok]
    assert any("logs/health@web2.log is missing" in m for m in bad)


def test_a_signed_bundle_covers_the_host_logs(run: Path, tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ana@example.org", "-f", str(key)],
                   check=True)
    allowed = tmp_path / "allowed_signers"
    pub = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    allowed.write_text(f'ana@example.org namespaces="iact-tui-report" {pub}\n')
    out = tmp_path / "bundle"
    export_run(run, out_dir=out, formats=("toml",), signer=load_key_file(key))
    checked = verify(out, allowed_signers=allowed)
    assert checked.ok, [c.text for c in checked.checks if not c.ok]


def test_export_refuses_a_host_log_changed_in_the_run_folder(run: Path, tmp_path: Path) -> None:
    (run / "logs" / "restart-app@web1.log").write_text("something else\n")
    with pytest.raises(ExportError, match=r"restart-app@web1.log was changed after host web1"):
        export_run(run, out_dir=tmp_path / "bundle")


def test_the_grid_is_the_states_host_by_step_view(tmp_path: Path) -> None:
    folder = fleet_run(tmp_path)
    from iact_tui.engine.record.state import reduce
    from iact_tui.engine.record.store import read_records

    state = reduce(read_records(folder))
    hosts, grid = state.fleet.grid(["restart-app", "health"])
    assert hosts == ["web1", "web2"]
    assert grid[1] == [StepStatus.PASSED, StepStatus.FAILED]
