"""`verify` vouches only for signed bytes (issue 10, items 1 and 2).

- A signed report is read alone: journal records beside it never change the status or the events
  it prints, and any file its signatures do not cover (journal records, an added or edited
  rendering whose `.sig` and `export.toml` were removed, any extra file) fails it, by name.
- Exit 0 means one thing: every file is covered by signatures made by keys that the given
  allowed_signers lists. An unsigned record is only *consistent* (its chain is an unkeyed sha256
  chain that anyone can recompute): exit 1, saying so. A good signature by a key nobody vouched
  for (no --allowed-signers) is exit 1 too. Input that cannot be read is exit 2.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner, Result

from iact_tui.cli import main
from iact_tui.engine.record.state import reduce
from iact_tui.engine.record.store import GENESIS, build_report, record_hash
from iact_tui.engine.report.bundle import export_run
from iact_tui.engine.report.signing import load_key_file
from iact_tui.engine.report.verify import verify as verify_bundle
from tests import runfactory

RUN_ID = runfactory.RUN_ID
PRINCIPAL = "alice@example.org"


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", PRINCIPAL, "-f", str(path)],
        check=True,
        timeout=60,
    )
    return path


@pytest.fixture
def allowed(key: Path, tmp_path: Path) -> Path:
    path = tmp_path / "allowed_signers"
    pub = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    path.write_text(f'{PRINCIPAL} namespaces="iact-tui-report" {pub}\n')
    return path


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    runs_dir = tmp_path / "runs"
    runfactory.staging_run(runs_dir)
    return runs_dir


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def signed_bundle(runs: Path, out: Path, key: Path, *formats: str) -> Path:
    args = [a for f in formats for a in ("--format", f)]
    result = cli(
        "export", RUN_ID, "--runs-dir", str(runs), "-o", str(out), "--sign", str(key), *args
    )
    assert result.exit_code == 0, result.output
    return out


def verify(target: Path, *args: str) -> Result:
    return cli("verify", str(target), *args)


def keygen_verify(allowed: Path, file: Path) -> int:
    with open(file, "rb") as data:
        return subprocess.run(
            [
                "ssh-keygen",
                "-Y",
                "verify",
                "-f",
                str(allowed),
                "-I",
                PRINCIPAL,
                "-n",
                "iact-tui-report",
                "-s",
                f"{file}.sig",
            ],
            stdin=data,
            capture_output=True,
            timeout=60,
        ).returncode


def chained(after: dict[str, Any], *records: dict[str, Any]) -> list[dict[str, Any]]:
    """Records that continue the chain after AFTER, hashed the way the store hashes them."""
    out = []
    prev, seq = after["hash"], after["seq"]
    for body in records:
        seq += 1
        rec = {"seq": seq, "at": "2025-11-17T15:30:00+00:00", **body, "prev": prev}
        rec["hash"] = record_hash(rec)
        out.append(rec)
        prev = rec["hash"]
    return out


# -- item 1: a signed report is read alone --------------------------------------------------


def test_journal_records_beside_a_signed_report_change_nothing_and_fail_it(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed_bundle(runs, tmp_path / "bundle", key, "md", "html")
    good = verify(out, "--allowed-signers", str(allowed))
    assert good.exit_code == 0, good.output
    assert "status rolled_back" in good.output
    events = tomllib.loads((out / "report.toml").read_text())["events"]
    # records that chain on to the signed events and turn the rolled-back run into a success
    forged = chained(
        events[-1],
        {"type": "run_resumed", "by": "mallory"},
        {"type": "run_finished", "status": "succeeded"},
    )
    (out / "journal.jsonl").write_text("".join(json.dumps(r) + "\n" for r in forged))

    result = verify(out, "--allowed-signers", str(allowed))
    assert result.exit_code == 1, result.output
    assert "status rolled_back" in result.output  # the summary is the signed file's
    assert "succeeded" not in result.output and "mallory" not in result.output
    assert (
        "journal.jsonl holds 2 records that no signature covers: a signed report's status, "
        "steps and events come from report.toml alone" in result.output
    )
    assert "verified:" not in result.output.replace("NOT VERIFIED:", "")
    checked = verify_bundle(out, allowed)
    assert not checked.ok
    assert checked.state is not None and checked.state.status == "rolled_back"
    assert checked.state.last_seq == len(events)
    # the signed bytes themselves are untouched: OpenSSH still accepts them
    assert keygen_verify(allowed, out / "report.toml") == 0
    (out / "journal.jsonl").unlink()
    assert verify(out, "--allowed-signers", str(allowed)).exit_code == 0


def test_an_edited_rendering_whose_signature_and_manifest_were_removed_fails(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed_bundle(runs, tmp_path / "bundle", key, "html")
    html = out / "report.html"
    html.write_text(html.read_text().replace("rolled_back", "succeeded"))
    for name in ("report.html.sig", "export.toml", "export.toml.sig"):
        (out / name).unlink()
    result = verify(out, "--allowed-signers", str(allowed))
    assert result.exit_code == 1, result.output
    assert (
        "report.html is not covered by any signature (no report.html.sig, and no signed "
        "export.toml lists it)" in result.output
    )
    # named directly, the same
    direct = verify(html, "--allowed-signers", str(allowed))
    assert direct.exit_code == 1 and "report.html" in direct.output


def test_an_added_rendering_or_an_unsigned_manifest_fails(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed_bundle(runs, tmp_path / "bundle", key)  # toml only
    (out / "report.md").write_text("# Deploy a Staging\n\nstatus: **succeeded**\n")
    added = verify(out, "--allowed-signers", str(allowed))
    assert added.exit_code == 1, added.output
    assert "report.md is not covered by any signature" in added.output
    (out / "report.md").unlink()
    (out / "export.toml.sig").unlink()
    manifest = verify(out, "--allowed-signers", str(allowed))
    assert manifest.exit_code == 1, manifest.output
    assert (
        "export.toml is not covered by any signature (no export.toml.sig): its claims and file "
        "list are not vouched for" in manifest.output
    )


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (
            lambda out: (out / "notes.txt").write_text("approved by the CTO\n"),
            "notes.txt is not covered",
        ),
        (lambda out: (out / ".hidden").write_text("x"), ".hidden is not covered"),
        (
            lambda out: (out / "logs" / "extra.log").write_text("deployed v2\n"),
            "logs/extra.log is not covered",
        ),
        (
            lambda out: shutil.copy(out / "report.toml.sig", out / "report.html.sig"),
            "report.html.sig signs no file here: there is no report.html next to it",
        ),
        (
            lambda out: (out / "evidence").symlink_to(out.parent),
            "evidence is a symbolic link to a folder",
        ),
    ],
    ids=["extra-file", "hidden-file", "extra-log", "orphan-signature", "linked-folder"],
)
def test_any_extra_file_beside_a_signed_report_fails_by_name(
    make: Any, named: str, runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed_bundle(runs, tmp_path / "bundle", key, "md")
    assert verify(out, "--allowed-signers", str(allowed)).exit_code == 0
    make(out)
    result = verify(out, "--allowed-signers", str(allowed))
    assert result.exit_code == 1, result.output
    assert named in result.output, result.output


def test_an_extra_file_with_a_trusted_signature_of_its_own_is_covered(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed_bundle(runs, tmp_path / "bundle", key)
    (out / "approval.txt").write_text("approved\n")
    subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "sign",
            "-f",
            str(key),
            "-n",
            "iact-tui-report",
            str(out / "approval.txt"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    result = verify(out, "--allowed-signers", str(allowed))
    assert result.exit_code == 0, result.output
    assert 'approval.txt: good "iact-tui-report" signature by alice@example.org' in result.output


def test_a_signed_export_of_an_unfinished_run_covers_the_log_still_being_written(
    tmp_path: Path, key: Path, allowed: Path
) -> None:
    runs = tmp_path / "runs"
    builder = runfactory.unfinished_staging_run(runs)
    try:
        # a step that ran before runs again: its log is being written, its last sha256 stale
        builder.start("reverify")
        with open(builder.store.log_path("reverify"), "a") as log:
            log.write("attempt 2: GET /api/health\n")
        out = tmp_path / "bundle"
        export_run(builder.folder, out_dir=out, formats=("md",), signer=load_key_file(key))
    finally:
        builder.store.lock.release()
    listed = [f["path"] for f in tomllib.loads((out / "export.toml").read_text())["files"]]
    assert "logs/reverify.log" in listed  # the signed export.toml covers it
    result = verify(out, "--allowed-signers", str(allowed))
    assert result.exit_code == 0, result.output
    assert "the run was not finished when this report was written" in result.output


# -- item 2: an unsigned record is not "verified" --------------------------------------------


def forge_unsigned(report: Path) -> None:
    """What anyone who edits a run can do: turn the failed step into passed, drop the trailing
    events, recompute the whole chain and rebuild the tables."""
    data = tomllib.loads(report.read_text())
    events = data["events"]
    cut = next(
        i
        for i, e in enumerate(events)
        if e["type"] == "step_finished" and e.get("status") == "failed"
    )
    kept = [dict(e) for e in events[: cut + 1]]
    kept[cut]["status"] = "passed"
    kept.append({"seq": 0, "at": kept[-1]["at"], "type": "run_finished", "status": "succeeded"})
    prev = GENESIS
    for i, rec in enumerate(kept, 1):
        rec["seq"], rec["prev"] = i, prev
        rec.pop("hash", None)
        rec["hash"] = record_hash(rec)
        prev = rec["hash"]
    report.write_text(tomli_w.dumps(build_report(kept, reduce(kept)), multiline_strings=False))


def test_an_unsigned_report_rewritten_with_its_chain_recomputed_is_not_verified(
    runs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    assert cli("export", RUN_ID, "--runs-dir", str(runs), "-o", str(out)).exit_code == 0
    (out / "export.toml").unlink()  # it lists the old report's sha256
    forge_unsigned(out / "report.toml")
    checked = verify_bundle(out)
    assert checked.consistent  # the chain cannot tell: it is unkeyed
    assert not checked.ok and checked.exit_code == 1
    result = verify(out)
    assert result.exit_code == 1, result.output
    assert "status succeeded" in result.output  # what the file says, shown as such …
    assert (  # … and what that is worth
        "NOT VERIFIED: report.toml is not signed: there is no report.toml.sig next to it. Its "
        "record is consistent (event chain, tables, step logs, checklist), which guards against "
        "accidental damage only: anyone who edits a run can recompute its hash chain"
        in result.output
    )
    assert "verified:" not in result.output.replace("NOT VERIFIED:", "")


def test_a_good_signature_without_allowed_signers_is_signer_not_checked(
    runs: Path, key: Path, tmp_path: Path
) -> None:
    out = signed_bundle(runs, tmp_path / "bundle", key, "md")
    result = verify(out)
    assert result.exit_code == 1, result.output
    assert "NOT VERIFIED: signer not checked: report.toml, report.md, export.toml" in result.output
    checked = verify_bundle(out)
    assert checked.consistent and not checked.ok


def test_a_signed_report_with_an_untrusted_signature_on_another_file_is_refused(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    other = tmp_path / "mallory"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "m@example.org", "-f", str(other)],
        check=True,
        timeout=60,
    )
    out = signed_bundle(runs, tmp_path / "bundle", key, "md")
    (out / "report.md.sig").unlink()
    subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "sign",
            "-f",
            str(other),
            "-n",
            "iact-tui-report",
            str(out / "report.md"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    result = verify(out, "--allowed-signers", str(allowed))
    assert result.exit_code == 1, result.output
    assert "report.md:" in result.output and "is not in" in result.output


def test_unreadable_input_is_exit_2(runs: Path, key: Path, allowed: Path, tmp_path: Path) -> None:
    out = signed_bundle(runs, tmp_path / "bundle", key)
    folder_as_signers = verify(out, "--allowed-signers", str(tmp_path))
    assert folder_as_signers.exit_code == 2, folder_as_signers.output
    assert "Traceback" not in folder_as_signers.output
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "report.toml").unlink()
    (broken / "report.toml").mkdir()
    as_folder = verify(broken, "--allowed-signers", str(allowed))
    assert as_folder.exit_code == 2, as_folder.output
    assert "cannot read" in as_folder.output and "Traceback" not in as_folder.output
    garbage = tmp_path / "garbage"
    shutil.copytree(out, garbage)
    (garbage / "report.toml").write_bytes(b"\xff\xfe not a report")
    (garbage / "report.toml.sig").unlink()
    unreadable = verify(garbage)
    assert unreadable.exit_code == 2 and "cannot be read as a run report" in unreadable.output


def test_damaged_members_of_a_signed_bundle_are_named_not_tracebacks(
    runs: Path, key: Path, allowed: Path, tmp_path: Path
) -> None:
    out = signed_bundle(runs, tmp_path / "bundle", key, "md")
    (out / "checklist.toml").unlink()
    (out / "checklist.toml").mkdir()
    (out / "export.toml").unlink()
    (out / "export.toml").mkdir()
    result = verify(out, "--allowed-signers", str(allowed))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "checklist.toml" in result.output and "export.toml" in result.output
