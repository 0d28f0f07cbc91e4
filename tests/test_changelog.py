"""The CHANGELOG entry of PASO 5.1, from a real git history with conventional commits: the draft
matches the expected entry exactly, the operator's edits are what gets written, and writing it
twice does not duplicate it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from iact_tui.engine.checklist.load import load_checklist
from iact_tui.engine.checklist.problems import ChecklistError
from iact_tui.engine.executors.changelog import Commit, classify, insert_entry
from tests.cicd_runs import checklist, run
from tests.helpers import ROOT, cli, first_line_run

pytestmark = pytest.mark.timeout(60)

EXPECTED_ENTRY = """\
## [1.2.3] - 2025-11-17 (Staging)

### Added
- Implement JWT authentication
- Add refresh token mechanism

### Changed
- Updated user permissions model
- Breaking: Drop the legacy session cache
- Breaking: Bump django to 5.0

### Fixed
- Bug in permission validation
- Token expiration timing

### Deployment Notes
- Requires new env var: JWT_SECRET_KEY
- Database migrations: 0042_add_refresh_token_field
"""

OLD_CHANGELOG = """\
# Changelog

All notable changes to this project are documented here.

## [1.2.2] - 2025-11-10 (Staging)

### Fixed
- Bug in the login form
"""


class Repo:
    """A git repository whose commits have fixed authors and increasing dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = 1_763_000_000
        path.mkdir()
        self.git("init", "-q", "-b", "staging")

    def git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Ana",
            "GIT_AUTHOR_EMAIL": "ana@example.org",
            "GIT_COMMITTER_NAME": "Ana",
            "GIT_COMMITTER_EMAIL": "ana@example.org",
            "GIT_AUTHOR_DATE": f"@{self.clock} +0000",
            "GIT_COMMITTER_DATE": f"@{self.clock} +0000",
            "GIT_CONFIG_GLOBAL": "/dev/null",
        }
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        self.clock += 3600
        for rel, text in (files or {f"notes/{self.clock}.txt": message}).items():
            target = self.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """staging: release 1.2.2; develop: the commits of 1.2.3, a merged side branch among them."""
    r = Repo(tmp_path / "project")
    r.commit(
        "chore: import the project",
        {"CHANGELOG.md": OLD_CHANGELOG, "app/migrations/0041_user_permissions.py": "#\n"},
    )
    r.git("checkout", "-q", "-b", "develop")
    r.commit("feat(auth): implement JWT authentication")
    r.commit(
        "feat(auth): add refresh token mechanism",
        {"app/migrations/0042_add_refresh_token_field.py": "#\n"},
    )
    r.commit("refactor(permissions): updated user permissions model")
    r.commit("docs: explain the token lifetime")
    r.commit("fix(permissions): bug in permission validation")
    r.git("checkout", "-q", "-b", "feature/expiry")
    r.commit("fix(auth): token expiration timing")
    r.git("checkout", "-q", "develop")
    r.commit("perf(cache)!: drop the legacy session cache")
    r.clock += 3600
    r.git(
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge branch 'feature/expiry' into develop",
        "feature/expiry",
    )
    r.commit("chore(deps): bump django to 5.0\n\nBREAKING CHANGE: Python 3.10 or later is required")
    r.commit("Update README")
    r.commit("chore(release): 1.2.3")
    r.git("checkout", "-q", "staging")  # the operator's checkout may be on any branch
    return r


STEPS = """
[[phases.steps]]
id = "changelog-draft"
kind = "changelog"
mode = "draft"
repo_dir = "{repo_dir}"
from_ref = "{prev_commit}"
to_ref = "develop"
version = "1.2.3"
date = "2025-11-17"
env_vars = "{new_env_vars}"
"""

WRITE = """
[[phases.steps]]
id = "changelog-write"
kind = "changelog"
mode = "write"
repo_dir = "{repo_dir}"
version = "1.2.3"
"""

MANUAL = """
[[phases.steps]]
id = "changelog-update"
kind = "manual"
instructions = "Edit {run_folder}/changelog-draft.md if needed, then tick."
"""

VARS = """
[vars.repo_dir]
default = "."
[vars.prev_commit]
default = ""
[vars.new_env_vars]
default = ""
"""


def values_for(repo: Repo) -> dict[str, str]:
    return {
        "repo_dir": str(repo.path),
        "prev_commit": repo.git("rev-parse", "staging"),
        "new_env_vars": "JWT_SECRET_KEY",
    }


async def test_draft_from_conventional_commits_matches_the_entry(
    tmp_path: Path, repo: Repo
) -> None:
    ran = await run(checklist(tmp_path, STEPS, VARS), tmp_path / "runs", values_for(repo))
    assert ran.status == "succeeded", ran.step("changelog-draft").message
    draft = ran.folder / "changelog-draft.md"
    assert draft.read_text() == EXPECTED_ENTRY
    assert ran.step("changelog-draft").message == (
        f"drafted the CHANGELOG entry for 1.2.3 (2 added, 3 changed, 2 fixed) in {draft}"
    )
    out = ran.output_of("changelog-draft")
    assert EXPECTED_ENTRY in out  # shown for the operator to read
    left_out = out.split("left out of the draft (not a feat, fix, refactor, perf or revert):\n")[1]
    assert [line.split(" ", 3)[-1] for line in left_out.splitlines()] == [
        "docs: explain the token lifetime",
        "Update README",
        "chore(release): 1.2.3",
    ]
    assert "Merge branch" not in out
    assert (repo.path / "CHANGELOG.md").read_text() == OLD_CHANGELOG  # a draft writes nothing else


async def test_write_goes_under_unreleased_and_twice_does_not_duplicate(
    tmp_path: Path, repo: Repo
) -> None:
    path = checklist(tmp_path, STEPS + WRITE, VARS)
    ran = await run(path, tmp_path / "runs", values_for(repo))
    assert ran.status == "succeeded", ran.step("changelog-write").message
    changelog = repo.path / "CHANGELOG.md"
    expected = (
        "# Changelog\n\nAll notable changes to this project are documented here.\n\n"
        "## [Unreleased]\n\n" + EXPECTED_ENTRY + "\n" + OLD_CHANGELOG.split("\n\n", 2)[2]
    )
    assert changelog.read_text() == expected
    assert ran.step("changelog-write").message == f"wrote the entry for 1.2.3 into {changelog}"
    assert ran.step("changelog-write").artifacts[0]["path"] == str(changelog)

    again = await run(path, tmp_path / "runs", values_for(repo))
    assert again.status == "succeeded"
    assert changelog.read_text() == expected
    assert (
        again.step("changelog-write").message
        == f"{changelog} already has an entry for 1.2.3; left as it is"
    )


async def test_a_missing_changelog_is_created(tmp_path: Path, repo: Repo) -> None:
    (repo.path / "CHANGELOG.md").unlink()
    ran = await run(checklist(tmp_path, STEPS + WRITE, VARS), tmp_path / "runs", values_for(repo))
    assert ran.status == "succeeded", ran.step("changelog-write").message
    assert (
        repo.path / "CHANGELOG.md"
    ).read_text() == "# Changelog\n\n## [Unreleased]\n\n" + EXPECTED_ENTRY


def test_the_operator_edits_the_draft_between_draft_and_write(tmp_path: Path, repo: Repo) -> None:
    path = checklist(tmp_path, STEPS + MANUAL + WRITE, VARS)
    runs = tmp_path / "runs"
    args = [f"--var={k}={v}" for k, v in values_for(repo).items()]
    first = cli("run", str(path), "--headless", "--runs-dir", str(runs), *args)
    assert first.returncode == 3, first.stdout + first.stderr  # waits for the person
    run_id, folder = first_line_run(first.stdout)
    draft = folder / "changelog-draft.md"
    assert draft.read_text() == EXPECTED_ENTRY
    draft.write_text(
        EXPECTED_ENTRY.replace("- Implement JWT authentication", "- JWT authentication system")
    )
    assert (
        cli("tick", run_id, "changelog-update", "--runs-dir", str(runs), "--as", "ana").returncode
        == 0
    )
    resumed = cli("resume", run_id, "--headless", "--runs-dir", str(runs))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    written = (repo.path / "CHANGELOG.md").read_text()
    assert (
        "## [1.2.3] - 2025-11-17 (Staging)\n\n### Added\n- JWT authentication system\n- Add refresh"
        in written
    )
    assert "Implement JWT authentication" not in written


async def test_an_entry_already_there_but_different_is_left_with_a_warning(
    tmp_path: Path, repo: Repo
) -> None:
    changelog = repo.path / "CHANGELOG.md"
    changelog.write_text(
        "# Changelog\n\n## [1.2.3] - 2025-11-16 (Staging)\n\n### Added\n- Written by hand\n"
    )
    ran = await run(checklist(tmp_path, STEPS + WRITE, VARS), tmp_path / "runs", values_for(repo))
    assert ran.status == "succeeded"
    assert changelog.read_text().count("## [1.2.3]") == 1
    finished = [
        e
        for e in ran.report["events"]
        if e["type"] == "step_finished" and e["step"] == "changelog-write"
    ]
    assert finished[-1]["warning"].startswith(
        f"the entry for 1.2.3 in {changelog} differs from the draft"
    )


async def test_problems_are_one_sentence(tmp_path: Path, repo: Repo) -> None:
    bad_ref = {**values_for(repo), "prev_commit": "v9.9.9"}
    ran = await run(checklist(tmp_path, STEPS, VARS), tmp_path / "r1", bad_ref)
    assert ran.step("changelog-draft").message == (
        f"there is no commit 'v9.9.9' in {repo.path}: fetch it, or check from_ref and to_ref"
    )
    (tmp_path / "plain").mkdir()
    not_git = {**values_for(repo), "repo_dir": str(tmp_path / "plain")}
    ran = await run(checklist(tmp_path, STEPS, VARS), tmp_path / "r2", not_git)
    message = ran.step("changelog-draft").message
    assert message.startswith(f"git rev-parse in {tmp_path / 'plain'} failed: not a git repository")
    ran = await run(checklist(tmp_path, WRITE, VARS), tmp_path / "r3", values_for(repo))
    assert ran.step("changelog-write").message.startswith("there is no draft at ")
    assert ran.step("changelog-write").message.endswith(
        "changelog-draft.md: run the draft step first, or edit CHANGELOG.md by hand and skip this step"
    )


def test_a_draft_step_needs_from_ref(tmp_path: Path) -> None:
    with pytest.raises(ChecklistError) as caught:
        load_checklist(checklist(tmp_path, STEPS.replace('from_ref = "{prev_commit}"\n', ""), VARS))
    text = str(caught.value)
    assert "a changelog step with mode = 'draft' needs 'from_ref'" in text
    assert (
        'hint: from_ref is the commit that was deployed before, e.g. from_ref = "{prev_commit}"'
        in text
    )


# -- the pieces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body", "placed"),
    [
        ("feat(auth): implement JWT authentication", "", ("Added", "Implement JWT authentication")),
        ("fix: token expiration timing", "", ("Fixed", "Token expiration timing")),
        ("refactor(core): simplify the loader", "", ("Changed", "Simplify the loader")),
        ("perf: cache the permissions", "", ("Changed", "Cache the permissions")),
        (
            "revert: feat(auth): refresh tokens",
            "",
            ("Changed", "Revert: feat(auth): refresh tokens"),
        ),
        ("feat(api)!: drop v1 endpoints", "", ("Added", "Breaking: Drop v1 endpoints")),
        ("chore!: require Python 3.11", "", ("Changed", "Breaking: Require Python 3.11")),
        ("build(deps): bump x", "BREAKING-CHANGE: y", ("Changed", "Breaking: Bump x")),
        ("chore(release): 1.2.3", "", None),
        ("docs: readme", "", None),
        ("ci: cache pip", "", None),
        ("Update README", "", None),
        ("feat:missing space", "", None),
    ],
)
def test_conventional_commit_types_map_to_sections(
    subject: str, body: str, placed: tuple[str, str] | None
) -> None:
    assert classify(Commit("0" * 40, subject, body)) == placed


ENTRY = "## [2.0.0] - 2025-12-01 (Staging)\n\n### Fixed\n- A bug\n"


def test_insert_keeps_what_unreleased_already_lists() -> None:
    text = "# Changelog\n\n## [Unreleased]\n\n### Added\n- Work in progress\n\n## [1.0.0] - 2025-01-01\n\n- First\n"
    new, changed = insert_entry(text, ENTRY)
    assert changed
    assert new == (
        "# Changelog\n\n## [Unreleased]\n\n### Added\n- Work in progress\n\n" + ENTRY + "\n"
        "## [1.0.0] - 2025-01-01\n\n- First\n"
    )
    assert insert_entry(new, ENTRY) == (new, False)


def test_insert_into_a_file_without_versions_or_title() -> None:
    assert insert_entry("", ENTRY)[0] == "# Changelog\n\n## [Unreleased]\n\n" + ENTRY
    assert insert_entry("# Changelog\nNotes.\n", ENTRY)[0] == (
        "# Changelog\nNotes.\n\n## [Unreleased]\n\n" + ENTRY
    )


def test_staging_drafts_from_the_live_commit_to_the_branch() -> None:
    staging = load_checklist(ROOT / "checklists" / "staging.toml").checklist
    ids = [s.id for s in staging.phase("document").steps]
    assert ids == ["changelog-draft", "changelog-update", "changelog-write", "notify-success"]
    draft, write = staging.step("changelog-draft"), staging.step("changelog-write")
    assert (draft.mode, draft.from_ref, draft.to_ref, draft.version) == (
        "draft",
        "{prev_commit}",
        "{branch}",
        "{release_version}",
    )
    assert draft.env_vars == "{new_env_vars}" and draft.repo_dir == write.repo_dir == "{repo_dir}"
    assert write.mode == "write" and write.changes and not draft.changes
    assert staging.step("changelog-update").kind == "manual"
