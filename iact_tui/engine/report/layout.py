"""The names and paths of a run's export bundle, shared by export (bundle.py), verify and
signing; kept free of asyncssh, so that an unsigned export or verify never pays for importing it."""

from __future__ import annotations

from pathlib import PurePosixPath

from iact_tui.engine.record.store import PINNED, REPORT
from iact_tui.engine.status import StepStatus

NAMESPACE = "iact-tui-report"  # the SSHSIG namespace of every report signature
SIG_SUFFIX = ".sig"  # FILE.sig next to FILE, as ssh-keygen -Y sign writes it

FORMATS = ("toml", "md", "html")
FORMAT_FILES = {"toml": REPORT, "md": "report.md", "html": "report.html"}
MANIFEST = "export.toml"
EXPORT_DIR = "export"
LOGS = "logs"
# the files an export owns in its folder (a new export replaces them all)
BUNDLE_FILES = (REPORT, "report.md", "report.html", MANIFEST, PINNED)
# a step in one of these may still be writing its log
NOT_FINAL = {StepStatus.PENDING, StepStatus.RUNNING, StepStatus.WAITING, StepStatus.INTERRUPTED}

# the reader of report.toml: the same parser as tomllib, compiled when it is
# installed, which reads a long report about twice as fast
try:
    from tomli import loads as toml_loads  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on what is installed
    from tomllib import loads as toml_loads  # noqa: F401


def is_inside(relative: str) -> bool:
    """A path from a report that stays inside its folder (no absolute path, no '..')."""
    parts = PurePosixPath(relative).parts
    return (
        bool(parts)
        and not relative.startswith(("/", "\\"))
        and ".." not in parts
        and "\\" not in relative
    )
