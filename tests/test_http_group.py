"""An ``http`` step on a host group (``host = "GROUP"``): one request per member under the rollout
(``serial``, ``max_fail``, resume host by host), ``{host}`` and ``{host_address}`` filled per
member, per-host records and logs, secrets masked in every per-host URL.

Real runs in-process (click's CliRunner) against a loopback HTTP server; the "hosts" are names
only: an http step connects to no host by SSH, its URL says where each member answers.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from click.testing import CliRunner, Result

from iact_tui.cli import main
from tests.fixtures_http import LoopbackServer, Request, http_server  # noqa: F401 - a fixture
from tests.helpers import HEADER, write_checklist

SERVERS = ["app1", "app2", "app3"]


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), env={"CI": "true", **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output, result.output
    return result


def checklist(
    folder: Path, base: str, *, step: str = "", hosts: str = "", extra_vars: str = ""
) -> Path:
    hosts = hosts or "".join(f'[hosts.{name}]\naddress = "127.0.0.1"\n' for name in SERVERS)
    step = step or 'url = "{base}/health?server={host}"\nserial = 1'
    return write_checklist(
        folder,
        HEADER
        + f"""
[vars.base]
default = "{base}"
{extra_vars}
{hosts}
[hosts.app]
members = {json.dumps(SERVERS)}

[[phases]]
id = "verify"
title = "PASO 4.1 on each server"

[[phases.steps]]
id = "app-health"
kind = "http"
host = "app"
expect_json = {{ status = "healthy" }}
{step}
""",
    )


def server_of(request: Request) -> str:
    return parse_qs(urlsplit(request.path).query)["server"][0]


def healthy_but(server: LoopbackServer, *sick: str) -> None:
    def health(request: Request) -> tuple[int, dict[str, str]]:
        name = server_of(request)
        return (
            (503, {"status": "unhealthy"})
            if name in sick
            else (200, {"status": "healthy", "server": name})
        )

    server.route("GET", "/health", health)


def the_run(runs: Path) -> Path:
    [folder] = [d for d in runs.iterdir() if d.is_dir()]
    return folder


def report(folder: Path) -> dict:
    return tomllib.loads((folder / "report.toml").read_text())


def host_steps(folder: Path) -> dict[str, dict]:
    return {h["host"]: h for h in report(folder).get("host_steps", []) if h["step"] == "app-health"}


def test_one_request_per_member_each_with_its_own_url_record_and_log(
    tmp_path: Path,
    http_server: LoopbackServer,  # noqa: F811
) -> None:
    healthy_but(http_server)
    runs = tmp_path / "runs"
    result = run(
        "run", str(checklist(tmp_path, http_server.url)), "--headless", "--runs-dir", str(runs)
    )
    assert result.exit_code == 0, result.output
    assert [server_of(r) for r in http_server.requests] == SERVERS  # serial = 1: in order
    folder = the_run(runs)
    hosts = host_steps(folder)
    assert sorted(hosts) == SERVERS and all(h["status"] == "passed" for h in hosts.values())
    assert [hosts[n]["batch"] for n in SERVERS] == [0, 1, 2]
    for name in SERVERS:
        own = (folder / "logs" / f"app-health@{name}.log").read_text()
        assert f"server={name}" in own and f'"server": "{name}"' in own
        assert all(f"server={other}" not in own for other in SERVERS if other != name)
    step_log = (folder / "logs" / "app-health.log").read_text()
    assert "[app2] > GET " in step_log and "[app2] < HTTP 200" in step_log  # every host, prefixed
    step = next(s for s in report(folder)["steps"] if s["id"] == "app-health")
    assert step["status"] == "passed"
    assert step["evidence"]["hosts"]["app2"]["http_status"] == 200
    # the headless printer: one line per host state change
    assert "  app2 app-health: passed: HTTP 200 in " in result.output


def test_host_address_is_each_members_address_and_the_dry_run_shows_every_url(
    tmp_path: Path,
    http_server: LoopbackServer,  # noqa: F811
) -> None:
    healthy_but(http_server)
    port = urlsplit(http_server.url).port
    hosts = (
        '[hosts.app1]\naddress = "127.0.0.1"\n'
        '[hosts.app2]\naddress = "{loopback}"\n'  # a placeholder, filled
        '[hosts.app3]\naddress = "127.0.0.1"\n'
    )
    # {host_address} written in a variable's value (as a vars file would): filled per host too
    extra = f'[vars.loopback]\ndefault = "127.0.0.1"\n[vars.host_health_url]\ndefault = "http://{{host_address}}:{port}/health?server={{host}}"\n'
    path = checklist(
        tmp_path,
        http_server.url,
        hosts=hosts,
        extra_vars=extra,
        step='url = "{host_health_url}"\nserial = 1',
    )
    dry = run("run", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    for name in SERVERS:
        assert f"{name}: GET http://127.0.0.1:{port}/health?server={name}" in dry.output
    runs = tmp_path / "runs"
    result = run("run", str(path), "--headless", "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    assert [server_of(r) for r in http_server.requests] == SERVERS
    # a member without an address: its name (as for ssh)
    unnamed = checklist(
        tmp_path,
        http_server.url,
        hosts=hosts.replace('address = "{loopback}"\n', ""),
        extra_vars=extra,
        step='url = "{host_health_url}"',
    )
    dry = run("run", str(unnamed), "--dry-run")
    assert f"app2: GET http://app2:{port}/health?server=app2" in dry.output, dry.output


def test_a_failing_member_stops_the_rollout_under_serial_1(
    tmp_path: Path,
    http_server: LoopbackServer,  # noqa: F811
) -> None:
    healthy_but(http_server, "app2")
    runs = tmp_path / "runs"
    result = run(
        "run", str(checklist(tmp_path, http_server.url)), "--headless", "--runs-dir", str(runs)
    )
    assert result.exit_code == 1, result.output
    assert [server_of(r) for r in http_server.requests] == ["app1", "app2"]  # app3 never asked
    folder = the_run(runs)
    hosts = host_steps(folder)
    assert {n: h["status"] for n, h in hosts.items()} == {"app1": "passed", "app2": "failed"}
    assert "HTTP 503" in hosts["app2"]["message"]
    step = next(s for s in report(folder)["steps"] if s["id"] == "app-health")
    assert step["status"] == "failed"
    assert "on app2: " in step["message"] and "not started on app3" in step["message"]
    stopped = [e for e in report(folder)["events"] if e["type"] == "rollout_stopped"]
    assert [e["failed"] for e in stopped] == [["app2"]]
    assert "  app2 app-health: failed: GET " in result.output


def test_max_fail_tolerates_a_member_and_the_rollout_goes_on(
    tmp_path: Path,
    http_server: LoopbackServer,  # noqa: F811
) -> None:
    healthy_but(http_server, "app2")
    runs = tmp_path / "runs"
    path = checklist(
        tmp_path,
        http_server.url,
        step='url = "{base}/health?server={host}"\nserial = 1\nmax_fail = 1',
    )
    result = run("run", str(path), "--headless", "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    assert [server_of(r) for r in http_server.requests] == SERVERS
    assert {n: h["status"] for n, h in host_steps(the_run(runs)).items()} == {
        "app1": "passed",
        "app2": "failed",
        "app3": "passed",
    }


def test_resume_does_not_check_a_finished_host_again(
    tmp_path: Path,
    http_server: LoopbackServer,  # noqa: F811
) -> None:
    healthy_but(http_server, "app2")
    runs = tmp_path / "runs"
    first = run(
        "run", str(checklist(tmp_path, http_server.url)), "--headless", "--runs-dir", str(runs)
    )
    assert first.exit_code == 1, first.output
    http_server.requests.clear()
    healthy_but(http_server)  # app2 is fixed
    folder = the_run(runs)
    again = run("resume", str(folder), "--headless", "--runs-dir", str(runs))
    assert again.exit_code == 0, again.output
    assert [server_of(r) for r in http_server.requests] == ["app2", "app3"]  # app1 passed before
    hosts = host_steps(folder)
    assert all(h["status"] == "passed" for h in hosts.values()) and sorted(hosts) == SERVERS


def test_a_secret_in_the_per_host_url_is_masked_everywhere(
    tmp_path: Path,
    http_server: LoopbackServer,  # noqa: F811
) -> None:
    secret = "pa/ss word-7713"  # percent-encoded in the query: pa%2Fss%20word-7713
    healthy_but(http_server)
    extra = '[vars.probe_token]\nsecret = true\nenv = "PROBE_TOKEN"\n'
    path = checklist(
        tmp_path,
        http_server.url,
        extra_vars=extra,
        step='url = "{base}/health?server={host}&token={probe_token}"\nserial = 1',
    )
    runs = tmp_path / "runs"
    result = run(
        "run", str(path), "--headless", "-v", "--runs-dir", str(runs), env={"PROBE_TOKEN": secret}
    )
    assert result.exit_code == 0, result.output
    sent = [parse_qs(urlsplit(r.path).query)["token"][0] for r in http_server.requests]
    assert sent == [secret] * 3  # the real value was sent, to every member
    folder = the_run(runs)
    written = [result.output, (folder / "report.toml").read_text()]
    written += [p.read_text() for p in (folder / "logs").iterdir()]
    written.append(
        (folder / "journal.jsonl").read_text() if (folder / "journal.jsonl").exists() else ""
    )
    encoded = "pa%2Fss%20word-7713"
    for text in written:
        assert secret not in text and encoded not in text and "word-7713" not in text
    assert "token=***" in (folder / "logs" / "app-health@app3.log").read_text()
    assert "server=app3&token=***" in result.output


def test_check_refuses_an_unknown_host_and_host_placeholders_without_host(tmp_path: Path) -> None:
    path = checklist(tmp_path, "http://127.0.0.1:9", step='url = "{base}/health"').read_text()
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(path.replace('host = "app"', 'host = "apps"'))
    result = run("check", str(unknown))
    assert result.exit_code == 2
    assert "phases[0].steps[0].host: unknown host 'apps'" in result.output
    assert "did you mean 'app'" in result.output
    hostless = tmp_path / "hostless.toml"
    hostless.write_text(
        path.replace('host = "app"\n', "").replace("/health", "/health?s={host_address}")
    )
    result = run("check", str(hostless))
    assert result.exit_code == 2
    assert (
        "phases[0].steps[0].url: '{host_address}' is the host an http step checks" in result.output
    )
    fine = tmp_path / "fine.toml"
    fine.write_text(path)
    result = run("check", str(fine))
    assert result.exit_code == 0, result.output
    assert "(on each host of app)" in result.output


def test_show_sees_the_group_a_vars_file_made(
    tmp_path: Path,
    http_server: LoopbackServer,  # noqa: F811
) -> None:
    """The checklist names one host; the environment's vars file makes it a group: the run and
    `show` of a step not run yet use the group (recorded in the run)."""
    healthy_but(http_server, "app2")
    text = checklist(tmp_path, http_server.url).read_text()
    single = text.replace(
        f"[hosts.app]\nmembers = {json.dumps(SERVERS)}\n", '[hosts.app]\naddress = "127.0.0.1"\n'
    )
    single += '\n[[phases.steps]]\nid = "app-version"\nkind = "http"\nhost = "app"\nurl = "{base}/version?server={host}"\n'
    path = tmp_path / "single.toml"
    path.write_text(single)
    vars_file = tmp_path / "group.vars.toml"
    vars_file.write_text(f"[hosts.app]\nmembers = {json.dumps(SERVERS)}\n")
    runs = tmp_path / "runs"
    result = run("run", str(path), "--headless", "--runs-dir", str(runs), "--vars", str(vars_file))
    assert result.exit_code == 1, result.output
    assert [server_of(r) for r in http_server.requests] == ["app1", "app2"]
    folder = the_run(runs)
    shown = run("show", str(folder), "app-version", "--runs-dir", str(runs))
    assert shown.exit_code == 0, shown.output
    for name in SERVERS:
        assert f"{name}: GET {http_server.url}/version?server={name}" in shown.output, shown.output
