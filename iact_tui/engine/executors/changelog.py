"""``changelog``: the CHANGELOG entry of PASO 5.1, drafted from the commits, written once.

``mode = "draft"`` reads the conventional commits between the previously deployed commit and the
deployed one (``git log from_ref..to_ref``) and writes the entry, in the procedure's format, to
a draft file in the run folder, showing it in the step's output::

    ## [1.2.3] - 2025-11-17 (Staging)

    ### Added            feat
    ### Changed          refactor, perf, revert, and any type marked breaking (type! / BREAKING CHANGE)
    ### Fixed            fix
    ### Deployment Notes new environment variables (env_vars), migrations the commits add

docs, style, test, ci, build, chore and messages that are not conventional commits are left out
of the draft and listed in the output, for the person who reviews the draft. The operator may edit
the draft (a manual step between the two), then ``mode = "write"`` inserts it into the project's
CHANGELOG.md right under ``## [Unreleased]`` (creating the file or the heading when missing).
Writing is idempotent on the version: when CHANGELOG.md already has ``## [VERSION]`` nothing is
written again.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from iact_tui.engine.checklist.values import Values
from iact_tui.engine.errors import IactError
from iact_tui.engine.executors.base import Automatic, Outcome, StepContext

GIT_TIMEOUT = 60.0

SECTIONS = ("Added", "Changed", "Fixed")
SECTION_OF_TYPE = {
    "feat": "Added",
    "fix": "Fixed",
    "refactor": "Changed",
    "perf": "Changed",
    "revert": "Changed",
}
CONVENTIONAL = re.compile(
    r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()]*)\))?(?P<bang>!)?:[ \t]+(?P<description>\S.*)$"
)
MIGRATION_FILE = re.compile(r"(?:^|/)migrations/(?P<name>\d[^/]*)\.py$")
VERSION_HEADING = re.compile(r"^## \[(?P<version>[^\]]+)\]", re.MULTILINE)
UNRELEASED = re.compile(r"^## \[Unreleased\][^\n]*$", re.MULTILINE | re.IGNORECASE)
ANY_HEADING2 = re.compile(r"^## ", re.MULTILINE)
NEW_FILE = "# Changelog\n\n"


class GitError(IactError):
    pass


@dataclass
class Commit:
    sha: str
    subject: str
    body: str = ""


@dataclass
class Entry:
    version: str
    date: str
    label: str = ""
    sections: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SECTIONS})
    env_vars: list[str] = field(default_factory=list)
    migrations: list[str] = field(default_factory=list)
    left_out: list[Commit] = field(default_factory=list)

    def text(self) -> str:
        label = f" ({self.label})" if self.label else ""
        out = [f"## [{self.version}] - {self.date}{label}", ""]
        for section in SECTIONS:
            if self.sections[section]:
                out += [f"### {section}", *(f"- {line}" for line in self.sections[section]), ""]
        notes = [f"- Requires new env var: {name}" for name in self.env_vars]
        if self.migrations:
            notes.append(f"- Database migrations: {', '.join(self.migrations)}")
        if notes:
            out += ["### Deployment Notes", *notes, ""]
        return "\n".join(out).rstrip("\n") + "\n"


def classify(commit: Commit) -> tuple[str, str] | None:
    """(section, line) for a conventional commit that belongs in the changelog, else None."""
    m = CONVENTIONAL.match(commit.subject.strip())
    if m is None:
        return None
    kind = m["type"].lower()
    breaking = bool(m["bang"]) or bool(
        re.search(r"^BREAKING[ -]CHANGE:", commit.body, re.MULTILINE)
    )
    section = SECTION_OF_TYPE.get(kind) or ("Changed" if breaking else None)
    if section is None:
        return None
    description = m["description"].strip()
    line = description[:1].upper() + description[1:]
    if kind == "revert":
        line = f"Revert: {description}"
    if breaking:
        line = f"Breaking: {line}"
    return section, line


def build_entry(
    commits: list[Commit],
    *,
    version: str,
    date: str,
    label: str,
    env_vars: list[str],
    migrations: list[str],
) -> Entry:
    entry = Entry(version, date, label, env_vars=env_vars, migrations=migrations)
    for commit in commits:
        placed = classify(commit)
        if placed is None:
            entry.left_out.append(commit)
        else:
            entry.sections[placed[0]].append(placed[1])
    return entry


def split_names(text: str) -> list[str]:
    return list(dict.fromkeys(n for n in re.split(r"[\s,;]+", text) if n))


def insert_entry(existing: str | None, entry: str) -> tuple[str, bool]:
    """CHANGELOG.md's text with the entry right under ``## [Unreleased]``; False when the file
    already has the entry's version (nothing changes then)."""
    m = VERSION_HEADING.search(entry)
    version = m["version"] if m else ""
    text = existing if existing is not None and existing.strip() else NEW_FILE
    if version and re.search(rf"^## \[{re.escape(version)}\]", text, re.MULTILINE):
        return text, False
    entry = entry.strip("\n") + "\n"
    unreleased = UNRELEASED.search(text)
    if unreleased is None:
        # the heading goes before the first version, after the title and any preamble
        first = ANY_HEADING2.search(text)
        at = first.start() if first else len(text)
        head, tail = text[:at], text[at:]
        head = head.rstrip("\n") + "\n\n" if head.strip() else ""
        text = head + "## [Unreleased]\n" + ("\n" + tail if tail else "")
        unreleased = UNRELEASED.search(text)
        assert unreleased is not None
    # after the Unreleased section's own lines, before the next version heading
    following = ANY_HEADING2.search(text, unreleased.end())
    at = following.start() if following else len(text)
    before, after = text[:at].rstrip("\n") + "\n\n", text[at:]
    return before + entry + ("\n" + after if after else ""), True


def entry_block(text: str, version: str) -> str:
    """The entry of one version in a CHANGELOG, heading included, without surrounding blanks."""
    m = re.search(rf"^## \[{re.escape(version)}\][^\n]*$", text, re.MULTILINE)
    if m is None:
        return ""
    following = ANY_HEADING2.search(text, m.end())
    return text[m.start() : following.start() if following else len(text)].strip("\n")


async def git(repo: Path, *args: str, limit: float) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(repo),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    try:
        async with asyncio.timeout(limit):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise GitError(f"git {args[0]} did not finish within {limit:g} s") from None
    if proc.returncode != 0:
        said = err.decode("utf-8", "replace").strip().splitlines()
        reason = said[-1] if said else f"exit status {proc.returncode}"
        raise GitError(f"git {args[0]} in {repo} failed: {reason.removeprefix('fatal: ')}")
    return out.decode("utf-8", "replace")


async def read_commits(repo: Path, from_ref: str, to_ref: str, limit: float) -> list[Commit]:
    await git(repo, "rev-parse", "--git-dir", limit=limit)  # "not a git repository" first
    for ref in (from_ref, to_ref):
        if not ref or ref.startswith("-"):
            raise GitError(f"'{ref}' is not a commit name (from_ref, to_ref)")
        try:
            await git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", limit=limit)
        except GitError:
            raise GitError(
                f"there is no commit '{ref}' in {repo}: fetch it, or check from_ref and to_ref"
            ) from None
    raw = await git(
        repo,
        "log",
        "--no-merges",
        "--reverse",
        "--format=%H%x1f%s%x1f%b%x1e",
        f"{from_ref}..{to_ref}",
        "--",
        limit=limit,
    )
    commits = []
    for record in raw.split("\x1e"):
        parts = record.strip("\n").split("\x1f")
        if len(parts) == 3 and parts[0]:
            commits.append(Commit(parts[0], parts[1], parts[2]))
    return commits


async def added_migrations(repo: Path, from_ref: str, to_ref: str, limit: float) -> list[str]:
    names = await git(
        repo, "diff", "--name-only", "--diff-filter=A", from_ref, to_ref, "--", limit=limit
    )
    found = [m["name"] for line in names.splitlines() if (m := MIGRATION_FILE.search(line.strip()))]
    return sorted(dict.fromkeys(found))


def local_path(text: str) -> Path:
    return Path(text).expanduser()


def is_dir(path: Path) -> bool:
    return path.is_dir()


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ChangelogExecutor(Automatic):
    kind: ClassVar[str] = "changelog"

    def describe(self, step: Any, values: Values) -> str:
        # masked by value too: a plain variable may hold a secret's value
        return values.redactor(self._describe(step, values))

    def _describe(self, step: Any, values: Values) -> str:
        repo = values.display_text(step.repo_dir)
        if step.mode == "draft":
            return (
                f"draft the CHANGELOG entry {values.display_text(step.version)} from "
                f"git log {values.display_text(step.from_ref)}..{values.display_text(step.to_ref)} "
                f"in {repo} into {values.display_text(step.draft)}"
            )
        return (
            f"insert {values.display_text(step.draft)} into {repo}/{values.display_text(step.path)} "
            "under ## [Unreleased] (once per version)"
        )

    async def execute(self, ctx: StepContext) -> Outcome:
        out = ctx.output()
        try:
            if ctx.step.mode == "draft":
                return await self._draft(ctx, out)
            return self._write(ctx, out)
        except GitError as exc:
            return Outcome(False, ctx.values.redactor(str(exc)))
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            return Outcome(
                False, f"could not read or write the changelog{where}: {exc.strerror or exc}"
            )
        finally:
            out.close()

    async def _draft(self, ctx: StepContext, out: Any) -> Outcome:
        step, values = ctx.step, ctx.values
        repo = local_path(values.text(step.repo_dir))
        from_ref, to_ref = values.text(step.from_ref).strip(), values.text(step.to_ref).strip()
        limit = step.timeout or GIT_TIMEOUT
        if not is_dir(repo):
            return Outcome(False, f"the project folder {repo} does not exist (repo_dir)")
        commits = await read_commits(repo, from_ref, to_ref, limit)
        if step.migrations is None:
            migrations = await added_migrations(repo, from_ref, to_ref, limit)
        else:
            migrations = split_names(values.text(step.migrations))
        entry = build_entry(
            commits,
            version=values.text(step.version).strip(),
            date=values.text(step.date).strip(),
            label=values.text(step.label).strip(),
            env_vars=split_names(values.text(step.env_vars)),
            migrations=migrations,
        )
        text = entry.text()
        draft = local_path(values.text(step.draft))
        write_atomically(draft, text)
        out.feed_text(f"{len(commits)} commits in {from_ref}..{to_ref}; the draft ({draft}):\n\n")
        out.feed_text(text)
        if entry.left_out:
            out.feed_text("\nleft out of the draft (not a feat, fix, refactor, perf or revert):\n")
            out.feed_text("".join(f"  {c.sha[:7]} {c.subject}\n" for c in entry.left_out))
        counts = ", ".join(f"{len(entry.sections[s])} {s.lower()}" for s in SECTIONS)
        return Outcome(
            True,
            f"drafted the CHANGELOG entry for {entry.version} ({counts}) in {draft}",
            evidence={
                "draft": str(draft),
                "commits": len(commits),
                "left_out": len(entry.left_out),
            },
        )

    def _write(self, ctx: StepContext, out: Any) -> Outcome:
        step, values = ctx.step, ctx.values
        draft = Path(values.text(step.draft)).expanduser()
        if not draft.is_file():
            return Outcome(
                False,
                f"there is no draft at {draft}: run the draft step first, or edit CHANGELOG.md by "
                "hand and skip this step",
            )
        entry = draft.read_text(encoding="utf-8")
        m = VERSION_HEADING.search(entry)
        if m is None or entry.lstrip().find("## [") != 0:
            return Outcome(
                False,
                f"the draft {draft} must start with its heading, e.g. '## [1.2.3] - 2025-11-17 (Staging)'",
            )
        version = m["version"]
        target = Path(values.text(step.repo_dir)).expanduser() / values.text(step.path)
        existing = target.read_text(encoding="utf-8") if target.exists() else None
        text, changed = insert_entry(existing, entry)
        if not changed:
            same = entry_block(text, version) == entry.strip("\n")
            out.feed_text(f"{target} already has the entry for {version}; nothing written\n")
            return Outcome(
                True,
                f"{target} already has an entry for {version}; left as it is",
                warning=""
                if same
                else f"the entry for {version} in {target} differs from the draft {draft}; "
                "it was left as it is",
                artifacts=[_artifact(target)],
            )
        write_atomically(target, text)
        lines = entry.strip("\n").count("\n") + 1
        out.feed_text(
            f"wrote the entry for {version} ({lines} lines) into {target} under ## [Unreleased]\n"
        )
        return Outcome(
            True,
            f"wrote the entry for {version} into {target}",
            artifacts=[_artifact(target)],
        )


def _artifact(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {
        "path": str(path),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "host": "local",
    }
