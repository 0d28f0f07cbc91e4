"""Values that would change what a step does (issue #10, items 15 and 16): a value starting with
'-' where a command would read it as an option, a value that would move an HTTP request to
another path or query, a line break in an HTTP header."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from iact_tui.cli import main
from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.load import parse_checklist
from iact_tui.engine.checklist.values import UnsafeSubstitution, Values, injection_problems
from tests.fixtures_http import LoopbackServer
from tests.helpers import HEADER, state_of, write_checklist


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env={"CI": "true"})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output, result.output
    return result


def folders(runs: Path) -> list[Path]:
    return [d for d in runs.iterdir() if d.is_dir()] if runs.is_dir() else []


# -- item 15: option injection through a quoted value -----------------------------------------

GIT = HEADER + """
[vars.repo]
[vars.git_remote]
default = "origin"

[[phases]]
id = "deploy"
title = "Deploy"

[[phases.steps]]
id = "pull-code"
kind = "local"
run = "cd {repo} && git fetch {git_remote}"
"""


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_option_like_value_is_refused_before_git_can_run_it(tmp_path: Path) -> None:
    """The issue's own case: `git fetch {git_remote}` with --upload-pack=... ran a command."""
    upstream, clone = tmp_path / "upstream", tmp_path / "clone"
    subprocess.run(["git", "init", "-q", str(upstream)], check=True)
    subprocess.run(["git", "clone", "-q", str(upstream), str(clone)], check=True, capture_output=True)
    marker = tmp_path / "pwned"
    checklist = write_checklist(tmp_path, GIT)
    runs = tmp_path / "runs"
    hostile = f"--upload-pack=touch {marker};"
    result = run("run", str(checklist), "--headless", "--runs-dir", str(runs),
                 "--var", f"repo={clone}", "--var", f"git_remote={hostile}")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("iact-tui: ")]
    assert len(lines) == 1, result.output
    assert "variable 'git_remote'" in lines[0] and "starts with '-'" in lines[0]
    assert "step 'pull-code'" in lines[0] and "option = true" in lines[0]
    assert not marker.exists(), "the option reached git"
    assert folders(runs) == [], "refused before a run was recorded"
    dry = run("run", str(checklist), "--dry-run", "--var", f"repo={clone}", "--var", f"git_remote={hostile}")
    assert dry.exit_code == 2 and "variable 'git_remote'" in dry.output
    ok = run("run", str(checklist), "--headless", "--runs-dir", str(runs), "--var", f"repo={clone}")
    assert ok.exit_code == 0, ok.output


OPTIONS = HEADER + """
[vars.flags]
default = "-n"
option = true

[vars.word]
default = "a-b"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "make"
kind = "local"
run = "echo 'val=--output=pwned'"
capture = { val = 'val=(\\S+)' }

[[phases.steps]]
id = "echo-flags"
kind = "local"
run = "echo {flags} {word} x"

[[phases.steps]]
id = "use"
kind = "local"
run = "touch {marker} && echo {val}"
"""


def test_option_true_allows_it_and_a_captured_option_fails_its_step(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, OPTIONS.replace("{marker}", str(tmp_path / "ran")))
    runs = tmp_path / "runs"
    result = run("run", str(checklist), "--headless", "--runs-dir", str(runs))
    assert result.exit_code == 1, result.output
    (folder,) = folders(runs)
    state = state_of(folder)
    assert state.steps["echo-flags"].status == "passed"  # option = true: '-n' is fine
    use = state.steps["use"]
    assert use.status == "failed"
    assert "variable 'val'" in use.message and "starts with '-'" in use.message, use.message
    assert "internal error" not in use.message
    assert not (tmp_path / "ran").exists(), "nothing of the step ran"
    log = (folder / "logs" / "use.log").read_text()
    assert "Traceback" not in log


def test_injection_problems_and_the_command_check_in_the_engine() -> None:
    loaded = parse_checklist(OPTIONS.replace("{marker}", "/nonexistent").encode())
    c = loaded.checklist
    values = Values.resolve(c, {"word": "-rf"}, environ={})
    problems = injection_problems(values)
    assert len(problems) == 1 and "variable 'word'" in problems[0] and "step 'echo-flags'" in problems[0]
    assert injection_problems(Values.resolve(c, {"word": "x-", "flags": "--all"}, environ={})) == []
    values.set("val", "--output=/etc/passwd")
    with pytest.raises(UnsafeSubstitution, match="variable 'val'"):
        values.command(c.step("use").run)
    # display never raises: the dry run and the TUI show the command as it would be
    assert values.display_command(c.step("use").run).endswith("echo --output=/etc/passwd")
    secret = Values.resolve(c, {}, environ={})
    secret.set("val", "-secret-token-value", secret=True)
    with pytest.raises(UnsafeSubstitution) as exc:
        secret.command(c.step("use").run)
    assert "secret-token-value" not in str(exc.value)


def test_staging_checklist_separates_options_from_values() -> None:
    from tests.test_check import STAGING

    c = parse_checklist(STAGING.read_bytes()).checklist
    values = Values.resolve(c, {}, environ={})
    assert "git fetch -- origin" in values.command(c.step("pull-code").run)
    assert "git pull -- origin develop" in values.command(c.step("pull-code").run)
    assert "cp -- .env .env.backup" in values.command(c.step("env-backup").run)
    assert "-U postgres -- iact_staging" in values.command(c.step("db-backup").run)
    hostile = Values.resolve(c, {"git_remote": "--upload-pack=x"}, environ={})
    assert any("git_remote" in p for p in injection_problems(hostile))


# -- item 16: URLs and headers ------------------------------------------------------------------

HTTP = HEADER + """
[vars.base_url]
[vars.user]
default = "ana"
[vars.term]
default = "x"
[vars.tag]
default = "ok"

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "lookup"
kind = "http"
url = "{base_url}/api/users/{user}/?q={term}&v=1"
headers = { X-Tag = "{tag}" }
expect_status = [200, 404]
"""


def test_values_in_a_url_path_or_query_cannot_change_the_request(tmp_path: Path, http_server: LoopbackServer) -> None:
    checklist = write_checklist(tmp_path, HTTP)
    runs = tmp_path / "runs"
    result = run("run", str(checklist), "--headless", "--runs-dir", str(runs),
                 "--var", f"base_url={http_server.url}", "--var", "user=../../admin?x=1#frag",
                 "--var", "term=a&admin=1#z")
    assert result.exit_code == 0, result.output
    (req,) = http_server.requests
    assert req.path == "/api/users/..%2F..%2Fadmin%3Fx%3D1%23frag/?q=a%26admin%3D1%23z&v=1"
    dots = run("run", str(checklist), "--headless", "--runs-dir", str(runs),
               "--var", f"base_url={http_server.url}/base", "--var", "user=..")
    assert dots.exit_code == 0, dots.output
    assert http_server.requests[-1].path == "/base/api/users/%2E%2E/?q=x&v=1"


def test_url_parts_are_decided_by_the_template() -> None:
    values = {"base": "https://h.example:8443/root", "host": "h.example", "v": "a/b?c#d", "dots": ".."}
    fill = values.__getitem__
    assert template.render_url("{base}/x/{v}", fill) == "https://h.example:8443/root/x/a%2Fb%3Fc%23d"
    assert template.render_url("https://{host}/x/{dots}?q={v}#{v}", fill) == (
        "https://h.example/x/%2E%2E?q=a%2Fb%3Fc%23d#a%2Fb%3Fc%23d"
    )
    assert template.render_url("{base}", fill) == values["base"]
    assert template.render_url("{base}?{{x}}={v}", fill) == "https://h.example:8443/root?{x}=a%2Fb%3Fc%23d"


def test_a_header_value_with_a_line_break_is_refused_at_start(tmp_path: Path, http_server: LoopbackServer) -> None:
    checklist = write_checklist(tmp_path, HTTP)
    runs = tmp_path / "runs"
    result = run("run", str(checklist), "--headless", "--runs-dir", str(runs),
                 "--var", f"base_url={http_server.url}", "--var", "tag=ok\r\nX-Injected: yes")
    assert result.exit_code == 2, result.output
    assert "variable 'tag'" in result.output and "line break" in result.output
    assert "X-Injected" not in result.output
    assert http_server.requests == [] and folders(runs) == []


CAPTURED_HEADER = HEADER + """
[vars.base_url]

[[phases]]
id = "one"
title = "One"

[[phases.steps]]
id = "login"
kind = "http"
url = "{base_url}/login"
capture_json = { session = "session" }

[[phases.steps]]
id = "me"
kind = "http"
url = "{base_url}/me"
headers = { X-Session = "{session}" }
"""


def test_a_captured_header_value_with_a_line_break_fails_before_it_is_logged(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route("GET", "/login", (200, {"session": "abc\r\nX-Evil: 1"}))
    http_server.route("GET", "/me", (200, {"ok": True}))
    checklist = write_checklist(tmp_path, CAPTURED_HEADER)
    runs = tmp_path / "runs"
    result = run("run", str(checklist), "--headless", "--runs-dir", str(runs), "--var", f"base_url={http_server.url}")
    assert result.exit_code == 1, result.output
    (folder,) = folders(runs)
    me = state_of(folder).steps["me"]
    assert me.status == "failed" and "line break" in me.message and "nothing was sent" in me.message
    assert [r.path for r in http_server.requests] == ["/login"]
    log = (folder / "logs" / "me.log").read_text()
    assert "X-Evil" not in log and "> GET" not in log
