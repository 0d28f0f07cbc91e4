"""Export (signed) and verify from the TUI: the export dialog at the end of a run and from the
runs screen, a passphrase-protected key, and the verify view, on real files."""

from __future__ import annotations

from pathlib import Path

import asyncssh
from textual.widgets import Input, Label, SelectionList

from iact_tui.tui.dialogs.export import ExportDialog
from iact_tui.tui.dialogs.message import MessageDialog
from iact_tui.tui.screens.runs import RunsScreen
from iact_tui.tui.screens.verify import VerifyScreen
from tests.tui.harness import Recorder, make_app, question, write_checklist
from tests.tui.runs import recorded_run
from tests.tui.test_screens import SIMPLE
from tests.tui.test_sessions import finished, start_from_form

PRINCIPAL = "ana@example.org"


def make_key(folder: Path, passphrase: str | None) -> tuple[Path, Path]:
    """An ed25519 key file (encrypted when a passphrase is given) and an allowed_signers file."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment=PRINCIPAL)
    path = folder / "id_ed25519"
    key.write_private_key(str(path), passphrase=passphrase)
    allowed = folder / "allowed_signers"
    public = key.export_public_key("openssh").decode().strip()
    allowed.write_text(f'{PRINCIPAL} namespaces="iact-tui-report" {public}\n')
    return path, allowed


async def test_export_signed_at_the_end_of_a_run_then_verify(
    tmp_path: Path, recorder: Recorder
) -> None:
    key, allowed = make_key(tmp_path, "s3cret pass")
    checklist = write_checklist(tmp_path, SIMPLE)
    app = make_app(tmp_path, checklist)
    async with app.run_test(size=(110, 36), message_hook=recorder) as pilot:
        await start_from_form(pilot, recorder)
        await recorder.wait(question("pace", "hello"))
        assert app.screen.check_action("export", ()) is False  # not while the run goes on
        await pilot.press("r")
        await finished(pilot, recorder)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ExportDialog)
        await pilot.press("down", "space")  # Markdown too
        app.screen.query_one("#export-key", Input).value = str(key)  # no passphrase typed yet
        await pilot.click("#export")
        await app.workers.wait_for_complete()
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ExportDialog)  # back, saying why
        assert "passphrase" in str(dialog.query_one("#export-error", Label).render())
        assert set(dialog.query_one("#export-formats", SelectionList).selected) == {"toml", "md"}
        dialog.query_one("#export-passphrase", Input).value = "s3cret pass"
        await pilot.click("#export")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MessageDialog)
        shown = "\n".join(app.screen.lines)
        assert "Signed with ED25519 key SHA256:" in shown
        assert f"-I {PRINCIPAL} -n iact-tui-report" in shown
        await pilot.click("#verify")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        screen.query_one("#verify-allowed", Input).value = str(allowed)
        screen.query_one("#verify-identity", Input).value = PRINCIPAL
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        verdict = str(screen.query_one("#verify-verdict", Label).render())
        assert verdict == f"Verified: report.toml is intact and signed by {PRINCIPAL}."
    assert app.run_view is not None
    bundle = app.run_view.folder / "export"
    for name in ("report.toml", "report.toml.sig", "report.md", "report.md.sig", "export.toml.sig"):
        assert (bundle / name).is_file(), name
    assert "s3cret pass" not in "".join(
        p.read_text(errors="replace") for p in bundle.glob("*") if p.is_file()
    )


async def test_export_from_the_runs_screen_and_a_tampered_report_fails_verification(
    tmp_path: Path, recorder: Recorder
) -> None:
    folder = recorded_run(tmp_path, "20260301T070000Z-done", "succeeded")
    app = make_app(tmp_path)
    async with app.run_test(size=(110, 36), message_hook=recorder) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ExportDialog)
        out = tmp_path / "bundle"
        app.screen.query_one("#export-folder", Input).value = str(out)
        await pilot.click("#export")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MessageDialog)
        assert any(line.startswith("Not signed") for line in app.screen.lines)
        await pilot.press("escape")
        await pilot.pause()
        # someone edits the exported report: one byte of one step's status
        report = out / "report.toml"
        report.write_text(report.read_text().replace('status = "passed"', 'status = "skipped"', 1))
        await pilot.press("escape")  # back to the start screen: verify from there
        await pilot.pause()
        await pilot.press("v")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        screen.query_one("#verify-target", Input).value = str(out)
        await pilot.click("#verify-button")
        await app.workers.wait_for_complete()
        await pilot.pause()
        verdict = str(screen.query_one("#verify-verdict", Label).render())
        assert verdict.startswith("NOT VERIFIED")
        checks = str(screen.query_one("#verify-checks").render())
        assert "FAIL" in checks
    assert (folder / "report.toml").is_file()  # the run itself is untouched


def test_the_verify_view_gives_the_command_line_verdict(tmp_path: Path) -> None:
    """Unsigned: consistent, not verified. Signed, no allowed_signers: signer not checked. Signed
    and trusted: verified. A journal beside a signed report: named, and the run's status is the
    signed one."""
    from iact_tui.engine.report.bundle import export_run
    from iact_tui.engine.report.signing import load_key_file
    from iact_tui.tui.exporting import run_verify
    from tests import runfactory

    key, allowed = make_key(tmp_path, None)
    runs = tmp_path / "runs"
    folder = runfactory.staging_run(runs)
    export_run(folder, out_dir=tmp_path / "plain")
    unsigned = run_verify(str(tmp_path / "plain"))
    assert not unsigned.ok
    assert unsigned.verdict.startswith("NOT VERIFIED: report.toml is not signed")
    assert "guards against accidental damage only" in unsigned.verdict
    export_run(folder, out_dir=tmp_path / "signed", signer=load_key_file(key))
    unchecked = run_verify(str(tmp_path / "signed"))
    assert not unchecked.ok and unchecked.verdict.startswith("NOT VERIFIED: signer not checked")
    trusted = run_verify(str(tmp_path / "signed"), str(allowed), PRINCIPAL)
    assert (
        trusted.ok
        and trusted.verdict == f"Verified: report.toml is intact and signed by {PRINCIPAL}."
    )
    (tmp_path / "signed" / "journal.jsonl").write_text('{"seq": 39, "type": "run_finished"}\n')
    journal = run_verify(str(tmp_path / "signed"), str(allowed), PRINCIPAL)
    assert (
        not journal.ok
        and "journal.jsonl holds 1 record that no signature covers" in journal.verdict
    )
    assert any("status rolled_back" in text for _ok, text in journal.lines)
