"""Exports (toml, md, html), the self-contained bundle, and `verify` against tampering: changed
bytes of the report and of the logs, removed / reordered / edited events, edited tables."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner, Result

from iact_tui.cli import main
from iact_tui.engine.record.store import RunLock, record_hash
from iact_tui.engine.report import bundle as export_module
from iact_tui.engine.report.bundle import export_run
from iact_tui.engine.report.signing import load_key_file
from iact_tui.engine.report.verify import verify as verify_bundle
from tests import runfactory

RUN_ID = runfactory.RUN_ID
EXPORTED_AT = "2025-11-17T15:00:00+00:00"


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@example.org", "-f", str(path)],
        check=True,
    )
    return path


@pytest.fixture
def allowed(key: Path, tmp_path: Path) -> Path:
    path = tmp_path / "allowed_signers"
    pub = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    path.write_text(f'alice@example.org namespaces="iact-tui-report" {pub}\n')
    return path


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    runs_dir = tmp_path / "runs"
    runfactory.staging_run(runs_dir)
    return runs_dir


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def export(runs: Path, *args: str) -> Result:
    return cli("export", RUN_ID, "--runs-dir", str(runs), *args)


def verify(target: Path, *args: str) -> Result:
    return cli("verify", str(target), *args)


def bundle(runs: Path, out: Path, *args: str) -> Path:
    result = export(runs, "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    return out


def rewrite_report(path: Path, change: Any) -> None:
    data = tomllib.loads(path.read_text())
    change(data)
    path.write_text(tomli_w.dumps(data))


# -- the bundle --------------------------------------------------------------------------------


def test_bundle_is_self_contained_and_verifies_alone(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = bundle(
        runs,
        tmp_path / "bundle",
        "--format",
        "toml",
        "--format",
        "md",
        "--format",
        "html",
        "--sign",
        str(key),
    )
    run_folder = runs / RUN_ID
    logs = sorted(p.name for p in (run_folder / "logs").iterdir())
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    expected = sorted(
        [
            "report.toml",
            "report.toml.sig",
            "report.md",
            "report.md.sig",
            "report.html",
            "report.html.sig",
            "export.toml",
            "export.toml.sig",
            "checklist.toml",
        ]
        + [f"logs/{n}" for n in logs]
    )
    assert names == expected
    # toml: the report as recorded, byte for byte; the checklist as pinned
    assert (out / "report.toml").read_bytes() == (run_folder / "report.toml").read_bytes()
    assert (out / "checklist.toml").read_bytes() == (run_folder / "checklist.toml").read_bytes()
    manifest = tomllib.loads((out / "export.toml").read_text())
    assert manifest["export"]["run_id"] == RUN_ID and manifest["export"]["run_finished"] is True
    assert [f["path"] for f in manifest["files"]] == [
        "report.toml",
        "checklist.toml",
        "report.md",
        "report.html",
    ]
    # moved elsewhere, with the run itself gone: verify needs nothing else
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(out, moved)
    shutil.rmtree(runs)
    result = verify(moved, "--allowed-signers", str(allowed))
    assert result.exit_code == 0, result.output
    assert f"{len(logs)} step logs match their recorded sha256" in result.output
    assert "verified: report.toml is intact and signed by alice@example.org" in result.output


def test_toml_report_carries_the_audit_facts(runs: Path, tmp_path: Path) -> None:
    out = bundle(runs, tmp_path / "bundle")
    assert (
        not (out / "report.md").exists() and not (out / "report.html").exists()
    )  # default: toml only
    report = tomllib.loads((out / "report.toml").read_text())
    run = report["run"]
    assert run["checklist_sha256"] == hashlib.sha256(runfactory.STAGING_MINI.encode()).hexdigest()
    assert run["operator"] == "alice"
    assert run["approvers"] == {"approval": "bob (tech-lead)"}
    assert run["hosts"][0]["fingerprint"] == runfactory.HOST_FINGERPRINT
    for row in report["steps"]:
        if "log_sha256" in row:
            assert hashlib.sha256((out / row["log"]).read_bytes()).hexdigest() == row["log_sha256"]
    assert [e["seq"] for e in report["events"]] == list(range(1, len(report["events"]) + 1))


def test_default_folder_is_inside_the_run_and_a_new_export_replaces_the_old(
    runs: Path, key: Path
) -> None:
    first = export(runs, "--format", "md", "--sign", str(key))
    target = runs / RUN_ID / "export"
    assert first.exit_code == 0, first.output
    assert f"to {target}" in first.output
    assert (target / "report.md.sig").exists()
    second = export(runs, "--format", "html")  # unsigned, another format
    assert second.exit_code == 0, second.output
    names = sorted(p.name for p in target.iterdir())
    assert names == ["checklist.toml", "export.toml", "logs", "report.html", "report.toml"]
    result = verify(target)  # consistent, but unsigned: not verified
    assert result.exit_code == 1, result.output
    assert "NOT VERIFIED: report.toml is not signed" in result.output
    assert "Its record is consistent" in result.output


def test_export_refuses_a_folder_that_is_not_its_own(runs: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = export(runs, "-o", str(foreign))
    assert result.exit_code == 2
    assert (
        f"{foreign} is not empty and holds no earlier export; choose an empty or new folder"
        in result.output
    )
    assert (foreign / "notes.txt").read_text() == "mine"
    itself = export(runs, "-o", str(runs / RUN_ID))
    assert itself.exit_code == 2
    assert "the export folder cannot be the run folder itself" in itself.output


def test_export_refuses_unknown_or_damaged_runs(runs: Path, tmp_path: Path) -> None:
    unknown = cli("export", "no-such-run", "--runs-dir", str(runs))
    assert unknown.exit_code == 2 and "no run 'no-such-run'" in unknown.output
    folder = runs / RUN_ID
    # a log changed after its step recorded its sha256: nothing is exported, nothing signed
    log = folder / "logs" / "migrate.log"
    original = log.read_bytes()
    log.write_bytes(original.replace(b"OK", b"KO"))
    changed = export(runs, "-o", str(tmp_path / "a"))
    assert changed.exit_code == 2
    assert "logs/migrate.log was changed after step 'migrate' recorded its sha256" in changed.output
    assert not (tmp_path / "a").exists()
    log.write_bytes(original)
    # a [[steps]] row edited by hand: the report no longer agrees with its events
    rewrite_report(folder / "report.toml", lambda d: row(d, "logs-check").update(status="passed"))
    edited = export(runs, "-o", str(tmp_path / "b"))
    assert edited.exit_code == 2
    assert (
        "the run's report does not agree with its own events: [[steps]] row 'logs-check': status is 'passed' but the events say 'failed'"
        in edited.output
    )
    (folder / "report.toml").write_text("this is not TOML [")
    broken = export(runs, "-o", str(tmp_path / "c"))
    assert broken.exit_code == 2 and "report.toml cannot be read" in broken.output


def test_an_unfinished_run_is_exported_and_marked(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    builder = runfactory.unfinished_staging_run(runs)
    try:
        assert RunLock.is_held(builder.folder)
        result = export(runs, "--format", "md", "--format", "html")
        assert result.exit_code == 0, result.output
        assert (
            f"note: run {RUN_ID} is not finished (status running, in use by another process)"
            in result.output
        )
        target = builder.folder / "export"
        md = (target / "report.md").read_text()
        assert (
            "> **Not finished:** this run's status is running (it was in use by a running iact-tui when exported); this export is a snapshot of it."
            in md
        )
        assert "| Status | **running — not finished** |" in md
        assert "Not finished:" in (target / "report.html").read_text()
        manifest = tomllib.loads((target / "export.toml").read_text())["export"]
        assert manifest["run_finished"] is False and manifest["run_in_use"] is True
        # the record still only in the journal is in the exported report
        events = tomllib.loads((target / "report.toml").read_text())["events"]
        assert events[-1]["type"] == "step_ticked" and events[-1]["step"] == "notify-rollback"
        checked = verify(target)  # consistent, not signed: not verified
        assert checked.exit_code == 1, checked.output
        assert "NOT VERIFIED: report.toml is not signed" in checked.output
        assert (
            "the run was not finished when this report was written (status running)"
            in checked.output
        )
        # the run folder itself: report.toml plus the journal
        live = verify(builder.folder)
        assert live.exit_code == 1, live.output
        assert "1 records in journal.jsonl are not yet in report.toml" in live.output
        assert "status running" in live.output and "NOT VERIFIED" in live.output
    finally:
        builder.store.lock.release()


# -- Markdown, line by line --------------------------------------------------------------------


def test_markdown_export_matches_the_run_line_by_line(
    runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "now", lambda: EXPORTED_AT)
    monkeypatch.setattr(export_module, "exporter_name", lambda: "auditor@example.org")
    out = bundle(runs, tmp_path / "bundle", "--format", "md")
    logs = runs / RUN_ID / "logs"
    sha = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in logs.iterdir()}
    size = {p.stem: p.stat().st_size for p in logs.iterdir()}
    checklist_sha = hashlib.sha256(runfactory.STAGING_MINI.encode()).hexdigest()

    def log(step: str) -> str:
        return f"  - Log: `logs/{step}.log` — {size[step]} bytes, sha256 `{sha[step]}`"

    def log_row(step: str) -> str:
        return f"| `{step}` | `logs/{step}.log` | {size[step]} | `{sha[step]}` |"

    expected = [
        "# Deploy a Staging — run report",
        "",
        "| Field | Value |",
        "|---|---|",
        "| Checklist | `PROCED-DEVOPS-001` Deploy a Staging, version 1.0.0 |",
        f"| Checklist file | `checklists/staging.toml`, sha256 `{checklist_sha}` |",
        f"| Run | `{RUN_ID}` |",
        "| Status | **rolled back** |",
        "| Operator | alice, on ops-laptop |",
        "| Started | 2025-11-17 14:00:01 UTC |",
        "| Finished | 2025-11-17 14:00:38 UTC |",
        "| Duration | 37.0 s |",
        "| Approvers | bob (tech-lead) for `approval` |",
        "| Alternatives chosen | Deployment: Option B: manual deployment |",
        "| Rollback | started: JWT_SECRET_KEY missing on staging; roll back and fix the env |",
        "| Variables | `base_url` = `https://staging.iact-project.com`, `branch` = `develop`, `db_name` = `iact_staging`, `smoke_user` = `testuser` |",
        "| Secret variables | `smoke_password` — values never recorded |",
        "| Steps | 14 passed, 1 failed, 1 skipped, 1 not applicable, 1 not run |",
        "| Mode | headless |",
        "",
        "## Deployment checklist",
        "",
        "### Pre-Deployment",
        "",
        "- [x] CI tests passing — `ci-green` passed (ticked by alice)",
        "- [x] Changelog reviewed — `changelog-review` passed",
        "- [ ] Team notified — `notify-start` skipped: The team channel is down; told the team by phone",
        "- [x] Backup de BD creado — `db-backup` passed",
        "- [x] Backup de config creado — `config-backup` passed",
        "",
        "### Deployment",
        "",
        "- [x] Code pulled/deployed — `ci-deploy` not applicable, `pull` passed",
        "- [x] Migrations executed — `migrate` passed",
        "- [x] Services restarted — `restart` passed",
        "",
        "### Post-Deployment",
        "",
        "- [x] Health checks passing — `health` passed",
        "- [x] Smoke tests passing — `smoke-login` passed",
        "- [ ] Logs sin errores críticos — `logs-check` failed",
        "- [ ] UI verificada manualmente — `ui-check` not run",
        "",
        "## Steps",
        "",
        "### Pre-deployment checks (PASO 1) — 4 of 5 passed",
        "",
        "- [x] **Staging is operational** (`staging-health`, http) — passed at 2025-11-17 14:00:03 UTC in 42 ms",
        "  - Command: `GET https://staging.iact-project.com/api/health`",
        '  - Evidence: HTTP 200 · 42.5 ms · https://staging.iact-project.com/api/health · body: {"status": "healthy", "version": "1.2.2"}',
        log("staging-health"),
        "- [x] **Tests green in CI** (`ci-green`, manual) — passed — ticked by alice at 2025-11-17 14:00:05 UTC (waited 1.0 s)",
        "  - Note: All five checks green on run #4812",
        "- [x] **Review the changelog** (`changelog-review`, local) — passed at 2025-11-17 14:00:07 UTC in 31 ms",
        "  - Command: `git log staging..develop --oneline`",
        log("changelog-review"),
        "- [x] **Tech Lead approval** (`approval`, manual) — passed — ticked by bob (tech-lead) at 2025-11-17 14:00:09 UTC (waited 1.0 s)",
        "  - Note: Approved: no downtime expected",
        "- [ ] **Notify the start of the deployment** (`notify-start`, notify) — skipped by alice at 2025-11-17 14:00:10 UTC",
        "  - Reason: The team channel is down; told the team by phone",
        "",
        "### Backup pre-deployment (PASO 2) — 2 of 2 passed",
        "",
        "- [x] **Back up the database** (`db-backup`, ssh) — passed at 2025-11-17 14:00:13 UTC in 3.2 s",
        "  - Command: `pg_dump -U postgres iact_staging > /backups/iact_staging_$(date +%Y%m%d_%H%M%S).sql`",
        f"  - Artifact: `/backups/iact_staging_20251117_140012.sql` — 28 bytes, sha256 `{runfactory.BACKUP_SHA256}`",
        log("db-backup"),
        "- [x] **Back up the configuration** (`config-backup`, ssh) — passed at 2025-11-17 14:00:15 UTC in 1.5 s",
        "  - Command: `<ssh config-backup>`",
        log("config-backup"),
        "",
        "### Deployment (PASO 3) — 3 of 3 passed",
        "",
        "#### Option A: CI/CD (`cicd`) — not chosen",
        "",
        "- [ ] **Run the deploy workflow** (`ci-deploy`, local) — not applicable",
        "  - Reason: alternative 'cicd' was not chosen",
        "",
        "#### Option B: manual deployment (`manual`) — chosen",
        "",
        "- [x] **Pull the latest code** (`pull`, ssh) — passed at 2025-11-17 14:00:19 UTC in 2.2 s",
        "  - Command: `<ssh pull>`",
        log("pull"),
        "- [x] **Run the migrations** (`migrate`, ssh) — passed at 2025-11-17 14:00:21 UTC in 4.0 s",
        "  - Command: `<ssh migrate>`",
        log("migrate"),
        "- [x] **Restart the services** (`restart`, ssh) — passed at 2025-11-17 14:00:23 UTC in 1.0 s",
        "  - Command: `sudo -n systemctl restart iact-gunicorn`",
        log("restart"),
        "",
        "### Post-deployment verification (PASO 4) — 2 of 4 passed",
        "",
        "- [x] **API health check** (`health`, http) — passed at 2025-11-17 14:00:25 UTC in 38 ms",
        "  - Command: `<http health>`",
        '  - Evidence: HTTP 200 · 38.1 ms · https://staging.iact-project.com/api/health · body: {"status": "healthy", "version": "1.2.3"}',
        log("health"),
        "- [x] **Smoke test: log in** (`smoke-login`, http) — passed at 2025-11-17 14:00:27 UTC in 120 ms",
        "  - Command: `<http smoke-login>`",
        '  - Evidence: HTTP 200 · 120 ms · https://staging.iact-project.com/api/auth/login · body: {"token": "\\*\\*\\*"}',
        "  - Captured: `token` (secret, not recorded)",
        log("smoke-login"),
        "- [ ] **No errors in the application logs** (`logs-check`, ssh) — failed at 2025-11-17 14:00:29 UTC in 800 ms",
        "  - Failure: the output has a line that must not be there: \"Nov 17 14:05:01 staging gunicorn\\[812\\]: ERROR KeyError: 'JWT_SECRET_KEY'\"",
        "  - Decision after the failure: rollback — JWT_SECRET_KEY missing on staging; roll back and fix the env",
        "  - Command: `<ssh logs-check>`",
        log("logs-check"),
        "  - Output (last lines):",
        "",
        "    ```text",
        "    Nov 17 14:05:01 staging gunicorn[812]: ERROR KeyError: 'JWT_SECRET_KEY'",
        "    ```",
        "- [ ] **Check the UI by hand** (`ui-check`, manual) — not run",
        "",
        "### Rollback (PASO 6) — started: JWT_SECRET_KEY missing on staging; roll back and fix the env — 3 of 3 passed",
        "",
        "- [x] **Revert to the previous commit** (`revert`, ssh) — passed at 2025-11-17 14:00:33 UTC in 900 ms",
        "  - Command: `<ssh revert>`",
        log("revert"),
        "- [x] **Health check after the rollback** (`reverify`, http) — passed at 2025-11-17 14:00:35 UTC in 50 ms",
        "  - Command: `<http reverify>`",
        "  - Evidence: HTTP 200 · 50 ms · https://staging.iact-project.com/api/health",
        log("reverify"),
        "- [x] **Notify the rollback** (`notify-rollback`, notify) — passed — ticked by alice at 2025-11-17 14:00:37 UTC (waited 1.0 s)",
        "  - Note: Sent by hand \\| in #deploys",
        "",
        "## Hosts",
        "",
        "| Host | Address | User | Host key |",
        "|---|---|---|---|",
        f"| staging | staging.iact-project.com | deploy | ssh-ed25519 `{runfactory.HOST_FINGERPRINT}` |",
        "",
        "## Step logs",
        "",
        "Each log's sha256 is recorded in the report's events; `iact-tui verify` re-hashes every one.",
        "",
        "| Step | Log | Bytes | sha256 |",
        "|---|---|---|---|",
        *[
            log_row(s)
            for s in (
                "staging-health",
                "changelog-review",
                "db-backup",
                "config-backup",
                "pull",
                "migrate",
                "restart",
                "health",
                "smoke-login",
                "logs-check",
                "revert",
                "reverify",
            )
        ],
        "",
        "---",
        "",
        "Exported by auditor@example.org with iact-tui 0.1.0 at 2025-11-17 15:00:00 UTC. This document is a rendering of "
        "`report.toml`, the run's record; its events are hash-chained and it is the file that is signed.",
        "",
        "Verify it with `ssh-keygen -Y verify -f allowed_signers -I ID -n iact-tui-report -s report.toml.sig < report.toml` "
        "or `iact-tui verify report.toml --allowed-signers allowed_signers`.",
    ]
    actual = (out / "report.md").read_text().splitlines()
    for number, (want, have) in enumerate(zip(expected, actual, strict=False), 1):
        assert have == want, f"line {number}"
    assert len(actual) == len(expected)


def test_markdown_and_html_escape_what_people_typed(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    b = runfactory.RunBuilder(runs)
    hostile = (
        '<script>alert("x")</script> & <b>bold</b> | *not emphasis* [link](http://evil.example)'
    )
    b.wait("ci-green")
    b.tick("ci-green", "alice", note=hostile + "\n- not a list item\n# not a heading")
    b.skip("notify-start", "eve <eve@example.org>", "`rm -rf /` was not needed")
    b.finish("aborted")
    result = cli(
        "export",
        RUN_ID,
        "--runs-dir",
        str(runs),
        "-o",
        str(tmp_path / "out"),
        "--format",
        "md",
        "--format",
        "html",
    )
    assert result.exit_code == 0, result.output
    md = (tmp_path / "out" / "report.md").read_text()
    assert "<script>" not in md and "<b>" not in md
    assert (
        '  - Note: \\<script\\>alert("x")\\</script\\> \\& \\<b\\>bold\\</b\\> \\| \\*not emphasis\\* '
        "\\[link\\](http://evil.example)\\\n    \\- not a list item\\\n    \\# not a heading"
    ) in md
    assert "skipped by eve \\<eve@example.org\\>" in md
    assert "  - Reason: \\`rm -rf /\\` was not needed" in md
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<script" not in page.lower() and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "skipped by eve &lt;eve@example.org&gt;" in page


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_one_self_contained_printable_file_with_the_same_content(
    runs: Path, tmp_path: Path
) -> None:
    out = bundle(runs, tmp_path / "bundle", "--format", "md", "--format", "html")
    page = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    parser = _Tags()
    parser.feed(page)
    tags = {t for t, _ in parser.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "a", "form", "input"}
    assert all(not ({"src", "href"} & set(attrs)) for _, attrs in parser.tags)
    assert not re.search(r"url\(|@import|https?://[^\s<\"]*\.(css|js)", page)
    assert "@media print" in page and "<style>" in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    text = "".join(parser.text)
    # the same content as the Markdown: every item, the same ticks, the same evidence
    assert page.count("☑") == md.count("- [x]") and page.count("☐") == md.count("- [ ]")
    state_items = re.findall(r"\(`([a-z0-9.-]+)`, (\w+)\) — ", md)
    assert len(state_items) == 18
    for step_id, kind in state_items:
        assert f"({step_id}, {kind}) — " in text
    for phrase in (
        "ticked by bob (tech-lead) at 2025-11-17 14:00:09 UTC",
        "HTTP 200 · 42.5 ms",
        f"sha256 {runfactory.BACKUP_SHA256}",
        runfactory.HOST_FINGERPRINT,
        "skipped by alice at 2025-11-17 14:00:10 UTC",
        "Decision after the failure: rollback",
    ):
        assert phrase in text
        assert phrase.replace("sha256 ", "sha256 `") in md


def test_secrets_appear_in_no_exported_file(runs: Path, key: Path, tmp_path: Path) -> None:
    out = bundle(
        runs,
        tmp_path / "bundle",
        "--format",
        "toml",
        "--format",
        "md",
        "--format",
        "html",
        "--sign",
        str(key),
    )
    # the secrets did go through the run: the smoke step's log holds them masked
    smoke_log = (out / "logs" / "smoke-login.log").read_text()
    assert '"password": "***"' in smoke_log and '{"token": "***"}' in smoke_log
    forms = []
    for secret in (runfactory.SMOKE_PASSWORD, runfactory.LOGIN_TOKEN):
        forms += [
            secret,
            urllib.parse.quote(secret, safe=""),
            urllib.parse.quote_plus(secret),
            json.dumps(secret)[1:-1],
        ]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 15
    for path in files:
        data = path.read_bytes()
        for form in forms:
            assert form.encode() not in data, f"{form!r} in {path}"


# -- verify against tampering ------------------------------------------------------------------


def positions(size: int, at_least: int = 30) -> list[int]:
    step = max(1, size // (at_least + 5))
    return list(range(0, size, step))


def test_any_changed_byte_of_a_signed_report_is_caught(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = bundle(runs, tmp_path / "bundle", "--sign", str(key))
    report = out / "report.toml"
    original = report.read_bytes()
    spots = positions(len(original))
    assert len(spots) >= 30
    for pos in spots:
        damaged = bytearray(original)
        damaged[pos] = (damaged[pos] + 1) % 256
        report.write_bytes(bytes(damaged))
        result = verify_bundle(out, allowed)
        assert not result.ok, pos
        assert any("report.toml was changed after it was signed" in p for p in result.problems), (
            pos,
            result.problems,
        )
    # and through the command line, at a sample of them
    for pos in spots[::7]:
        damaged = bytearray(original)
        damaged[pos] = (damaged[pos] + 1) % 256
        report.write_bytes(bytes(damaged))
        cli_result = verify(out, "--allowed-signers", str(allowed))
        assert cli_result.exit_code == 1, (pos, cli_result.output)
        assert "report.toml was changed after it was signed" in cli_result.output
    report.write_bytes(original)
    assert verify(out, "--allowed-signers", str(allowed)).exit_code == 0


def test_any_changed_byte_of_a_step_log_is_caught(runs: Path, tmp_path: Path) -> None:
    out = bundle(runs, tmp_path / "bundle")
    log = out / "logs" / "migrate.log"
    original = log.read_bytes()
    spots = positions(len(original))
    assert len(spots) >= 30
    for pos in spots:
        damaged = bytearray(original)
        damaged[pos] = (damaged[pos] + 1) % 256
        log.write_bytes(bytes(damaged))
        result = verify(out)
        assert result.exit_code == 1, (pos, result.output)
        assert (
            "logs/migrate.log does not match the sha256 recorded for step 'migrate'"
            in result.output
        )
    log.write_bytes(original + b"one more line\n")
    grown = verify(out)
    assert (
        grown.exit_code == 1
        and f"; {len(original) + 14} bytes, {len(original)} recorded" in grown.output
    )
    log.unlink()
    gone = verify(out)
    assert (
        gone.exit_code == 1
        and "logs/migrate.log is missing (step 'migrate' recorded its sha256)" in gone.output
    )


def row(data: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(r for r in data["steps"] if r["id"] == step_id)


def _event_index(data: dict[str, Any], type_: str, step: str | None = None) -> int:
    for i, e in enumerate(data["events"]):
        if e["type"] == type_ and (step is None or e.get("step") == step):
            return i
    raise AssertionError(type_)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["events"].pop(5),
            "event 6 has sequence number 7: an event was removed, added or reordered",
        ),
        (
            lambda d: d["events"].pop(0),
            "event 1 has sequence number 2: an event was removed, added or reordered",
        ),
        (
            lambda d: d["events"].pop(20),
            "event 21 has sequence number 22: an event was removed, added or reordered",
        ),
        (
            lambda d: d["events"].insert(3, d["events"].pop(4)),
            "event 4 has sequence number 5: an event was removed, added or reordered",
        ),
        (
            lambda d: d["events"].append(dict(d["events"][-1])),
            "event 39 has sequence number 38: an event was removed, added or reordered",
        ),
        (
            lambda d: d["events"][_event_index(d, "step_ticked", "approval")].update(by="mallory"),
            "event 9 (step_ticked) was changed after it was recorded (its hash does not match)",
        ),
        (
            lambda d: d["events"][_event_index(d, "step_finished", "logs-check")].update(
                status="passed"
            ),
            "event 29 (step_finished) was changed after it was recorded (its hash does not match)",
        ),
        (
            lambda d: d["events"][_event_index(d, "step_skipped")].update(reason="no reason"),
            "event 10 (step_skipped) was changed after it was recorded (its hash does not match)",
        ),
    ],
    ids=[
        "remove-middle",
        "remove-first",
        "remove-later",
        "reorder",
        "duplicate-last",
        "edit-tick",
        "edit-status",
        "edit-skip",
    ],
)
def test_removed_reordered_or_edited_events_are_caught(
    change: Any, expected: str, runs: Path, tmp_path: Path
) -> None:
    out = bundle(runs, tmp_path / "bundle")
    assert verify_bundle(out).consistent
    rewrite_report(out / "report.toml", change)
    result = verify(out)
    assert result.exit_code == 1, result.output
    assert f"report.toml: {expected}" in result.output
    assert not verify_bundle(out).consistent


def test_an_edited_event_with_its_hash_recomputed_breaks_the_next_link(
    runs: Path, tmp_path: Path
) -> None:
    out = bundle(runs, tmp_path / "bundle")

    def forge(d: dict[str, Any]) -> None:
        i = _event_index(d, "step_ticked", "approval")
        d["events"][i]["by"] = "mallory"
        d["events"][i]["hash"] = record_hash(d["events"][i])

    rewrite_report(out / "report.toml", forge)
    result = verify(out)
    assert result.exit_code == 1
    assert (
        "report.toml: event 10 (step_skipped) does not follow event 9: an event was removed, added or reordered"
        in result.output
    )


def test_removing_the_last_event_is_caught_by_the_tables(runs: Path, tmp_path: Path) -> None:
    out = bundle(runs, tmp_path / "bundle")
    rewrite_report(out / "report.toml", lambda d: d["events"].pop())
    result = verify(out)
    assert result.exit_code == 1
    assert "[run]: status is 'rolled_back' but the events say 'running'" in result.output


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: row(d, "logs-check").update(status="passed"),
            "[[steps]] row 'logs-check': status is 'passed' but the events say 'failed'",
        ),
        (
            lambda d: row(d, "approval").update(ticked_by="carol"),
            "[[steps]] row 'approval': ticked_by is 'carol' but the events say 'bob'",
        ),
        (
            lambda d: row(d, "db-backup").update(log_sha256="0" * 64),
            "[[steps]] row 'db-backup': log_sha256 is '0000",
        ),
        (
            lambda d: row(d, "notify-start").pop("skip_reason"),
            "[[steps]] row 'notify-start' has no skip_reason; the events say 'The team channel is down",
        ),
        (
            lambda d: d["steps"].append({"id": "extra", "status": "passed"}),
            "[[steps]] has a row 'extra' that the events do not give",
        ),
        (lambda d: d["steps"].reverse(), "the [[steps]] rows are not in the order of the events"),
        (
            lambda d: d["run"].update(operator="mallory"),
            "[run]: operator is 'mallory' but the events say 'alice'",
        ),
        (
            lambda d: d["run"]["approvers"].update(approval="mallory (tech-lead)"),
            "[run]: approvers is {'approval': 'mallory (tech-lead)'} but the events say {'approval': 'bob (tech-lead)'}",
        ),
        (
            lambda d: d.update(verdict="all good"),
            "report.toml has 'verdict', which its events do not give",
        ),
    ],
    ids=[
        "step-status",
        "step-ticker",
        "step-log-sha",
        "step-missing-key",
        "extra-row",
        "row-order",
        "run-operator",
        "run-approvers",
        "extra-table",
    ],
)
def test_edited_tables_are_caught(change: Any, expected: str, runs: Path, tmp_path: Path) -> None:
    out = bundle(runs, tmp_path / "bundle")
    rewrite_report(out / "report.toml", change)
    result = verify(out)
    assert result.exit_code == 1, result.output
    assert expected in result.output


def test_a_changed_checklist_or_exported_file_is_caught(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = bundle(runs, tmp_path / "bundle", "--format", "md", "--sign", str(key))
    md = out / "report.md"
    md.write_text(
        md.read_text().replace("- [ ] **Check the UI by hand**", "- [x] **Check the UI by hand**")
    )
    result = verify(out, "--allowed-signers", str(allowed))
    assert result.exit_code == 1
    assert (
        "report.md: the signature does not match the file: report.md was changed after it was signed"
        in result.output
    )
    assert (
        "report.md does not match the sha256 listed in export.toml: it was changed after the export"
        in result.output
    )
    named = verify(md, "--allowed-signers", str(allowed))  # naming the Markdown file itself
    assert named.exit_code == 1 and "report.md: the signature does not match" in named.output
    checklist = out / "checklist.toml"
    checklist.write_text(checklist.read_text().replace("pg_dump", "true || pg_dump"))
    changed = verify(out)
    assert changed.exit_code == 1
    assert "checklist.toml does not match the sha256 the report pins" in changed.output


def test_verify_bad_input_is_exit_2(runs: Path, tmp_path: Path) -> None:
    missing = verify(tmp_path / "nothing-here")
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    empty = tmp_path / "empty"
    empty.mkdir()
    no_report = verify(empty)
    assert no_report.exit_code == 2 and f"{empty} holds no report.toml" in no_report.output
    junk = tmp_path / "report.toml"
    junk.write_text("not = [ a report")
    unreadable = verify(junk)
    assert unreadable.exit_code == 2 and "cannot be read as a run report" in unreadable.output
    # a run id resolves through --runs-dir
    by_id = cli("verify", RUN_ID[-4:], "--runs-dir", str(runs))
    assert by_id.exit_code == 1, by_id.output  # found and read; an unsigned run is not verified
    assert f"run {RUN_ID}:" in by_id.output and "NOT VERIFIED: report.toml is not signed" in by_id.output


def test_export_through_python_dash_m(runs: Path, key: Path, allowed: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "iact_tui",
            "export",
            RUN_ID,
            "--runs-dir",
            str(runs),
            "-o",
            str(out),
            "--format",
            "md",
            "--sign",
            str(key),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert 'alice@example.org namespaces="iact-tui-report" ssh-ed25519 ' in proc.stdout
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "iact_tui",
            "verify",
            str(out / "report.toml"),
            "--allowed-signers",
            str(allowed),
            "-I",
            "alice@example.org",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "verified: report.toml is intact and signed by alice@example.org" in checked.stdout


def test_engine_api_for_front_ends(runs: Path, key: Path, allowed: Path, tmp_path: Path) -> None:
    """The TUI calls the engine directly: the same bundle, the same verdict, no click involved."""
    result = export_run(
        runs / RUN_ID, out_dir=tmp_path / "b", formats=("md",), signer=load_key_file(key)
    )
    assert result.signer is not None and len(result.signatures) == 3
    verdict = verify_bundle(tmp_path / "b", allowed, "alice@example.org")
    assert verdict.ok and verdict.report_signature is not None
    assert verdict.report_signature.principal == "alice@example.org"
    assert verdict.state is not None and verdict.state.status == "rolled_back"


def test_a_long_run_exports_and_verifies_whole(tmp_path: Path, key: Path, allowed: Path) -> None:
    folder = runfactory.big_run(tmp_path / "runs", 120)
    result = export_run(
        folder, out_dir=tmp_path / "b", formats=("md", "html"), signer=load_key_file(key)
    )
    assert result.logs == 90  # the 30 manual steps have no log
    md = (tmp_path / "b" / "report.md").read_text()
    assert md.count("- [x] **Step ") == 120
    assert "| Steps | 120 passed |" in md
    verdict = verify_bundle(tmp_path / "b", allowed)
    assert verdict.ok, verdict.problems
    assert any(c.text == "90 step logs match their recorded sha256" for c in verdict.checks)


DEPLOYMENT_CHECKLIST = {  # the procedure's own "Checklist de Deployment", item by item
    "Pre-Deployment": [
        "CI tests passing",
        "Changelog reviewed",
        "Team notified",
        "Backup de BD creado",
        "Backup de config creado",
    ],
    "Deployment": [
        "Code pulled/deployed",
        "Dependencies installed",
        "Migrations executed",
        "Static files collected",
        "Services restarted",
    ],
    "Post-Deployment": [
        "Health checks passing",
        "Smoke tests passing",
        "Logs sin errores críticos",
        "UI verificada manualmente",
        "Metrics normales",
        "CHANGELOG actualizado",
        "Team notificado éxito",
    ],
}


def test_a_run_of_the_staging_checklist_renders_the_procedures_own_checklist(
    tmp_path: Path,
) -> None:
    text = (Path(__file__).resolve().parent.parent / "checklists" / "staging.toml").read_text()
    b = runfactory.RunBuilder(tmp_path / "runs", text, run_id="20251117T140000Z-staging-0001")
    plan = runfactory.plan_of(text)
    manual_alternative = next(p["alternative"] for p in plan if p["id"] == "pull-code")
    b.choose("deploy", manual_alternative)
    for p in plan:
        step = b.store.state.steps[p["id"]]
        if p.get("rollback") or step.status == "not_applicable":
            continue
        if p["kind"] in ("manual", "notify"):
            b.wait(p["id"])
            b.tick(p["id"], "alice", note="done")
        else:
            b.run_step(p["id"], f"{p['id']} output\n", duration=0.25)
    folder = b.finish("succeeded")
    result = export_run(folder, out_dir=tmp_path / "b", formats=("md",))
    lines = (tmp_path / "b" / "report.md").read_text().splitlines()
    start, end = lines.index("## Deployment checklist"), lines.index("## Steps")
    summary = [ln for ln in lines[start:end] if ln]
    expected = ["## Deployment checklist"]
    for title, items in DEPLOYMENT_CHECKLIST.items():
        expected.append(f"### {title}")
        expected += [f"- [x] {item} — " for item in items]
    assert len(summary) == len(expected)
    for have, want in zip(summary, expected, strict=True):
        assert have.startswith(want), (have, want)
    assert "`pull-code` passed" in "\n".join(
        summary
    ) and "`workflow-dispatch` not applicable" in "\n".join(summary)
    # every phase that ran is complete; the rollback phases say they were not needed
    headings = [ln for ln in lines if ln.startswith("### ") and lines.index(ln) > end]
    assert any(h.endswith(" — not started") for h in headings)
    for h in headings:
        if not h.endswith(" — not started"):
            done, total = re.search(r"— (\d+) of (\d+) passed$", h).groups()  # type: ignore[union-attr]
            assert done == total, h
    assert result.notes == []
