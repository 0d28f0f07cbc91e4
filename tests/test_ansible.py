"""The ``ansible`` step kind: inventory from the checklist, per-host results, masking, cancel.

The real tests run ansible-runner against loopback OpenSSH servers (tests/fleet.py) as the plain
user, with host keys checked strictly; they are marked ``sshd`` (CI runs them).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from iact_tui.engine.checklist.model import Checklist
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.executors.ansible import AnsibleExecutor, build_inventory, keep_jinja
from iact_tui.engine.executors.base import LogWriter, OutputCollector, compile_expectations

ansible_runner = pytest.importorskip("ansible_runner", reason="pip install 'iact-tui[ansible]'")

SECRET = "s3cr3t-ansible-value"


def checklist(hosts_toml: str = "", extra_vars: str = "") -> Checklist:
    import tomllib

    text = f"""
[checklist]
id = "fleet"
title = "Fleet"
version = "1"

[vars.app_dir]
default = "/srv/app"
[vars.token]
secret = true

{hosts_toml}

[[phases]]
id = "p"
title = "P"
[[phases.steps]]
id = "x"
kind = "manual"
"""
    return Checklist.model_validate(tomllib.loads(text))


def step(**kw: Any) -> SimpleNamespace:
    base = dict(id="fleet-step", kind="ansible", host="web", inventory=None, playbook=None,
                module="command", args=None, extra_vars={}, forks=None, sudo=False, timeout=120.0,
                serial=None, max_fail=None)
    base.update(kw)
    return SimpleNamespace(**base)


class Ctx:
    """What the runner hands an executor, with the per-host hooks recorded for the asserts."""

    def __init__(self, st: Any, values: Values, folder: Path, known_hosts: Path | None = None) -> None:
        self.step = st
        self.attempt = 1
        self.values = values
        self.folder = folder
        self.log = LogWriter(folder / f"{st.id}.log", values.redactor)
        self.events: list[Any] = []
        self.emit = self.events.append
        self.services = SimpleNamespace(ssh=SimpleNamespace(known_hosts=str(known_hosts) if known_hosts else None,
                                                            ssh_config=[], client_keys=None))
        self.started: list[tuple[str, int | None]] = []
        self.finished: dict[str, dict[str, Any]] = {}
        self.first_output = asyncio.Event()

    def output(self, prefix: str = "") -> OutputCollector:
        def emit(event: Any) -> None:
            self.events.append(event)
            self.first_output.set()

        return OutputCollector(self.step.id, self.log, emit, self.values, compile_expectations(self.step),
                               lambda n, v: None, prefix)

    def host_started(self, host: str, batch: int | None = None) -> None:
        self.started.append((host, batch))

    def host_log(self, host: str) -> LogWriter:
        return LogWriter(self.folder / f"{self.step.id}@{host}.log", self.values.redactor)

    def host_finished(self, host: str, *, ok: bool, log: Any = None, **kw: Any) -> None:
        if log is not None:
            log.close()
        self.finished[host] = {"ok": ok, **kw}


# -- no server needed ---------------------------------------------------------------------------


def test_inventory_is_built_from_the_checklist_hosts_with_strict_host_keys(tmp_path: Path) -> None:
    c = checklist("""
[hosts.web1]
address = "10.0.0.1"
user = "deploy"
port = "{app_dir}"
[hosts.web2]
address = "web2.example"
identity = "~/.ssh/k"
known_hosts = "/etc/kh"
proxy_jump = "bastion"
[hosts.bastion]
address = "b.example"
user = "jump"
[hosts.web]
members = ["web1", "web2"]
""")
    values = Values.resolve(c, {"app_dir": "2222"})
    inv = build_inventory(c.hosts, "web", values, known_hosts="/tmp/kh")
    h1, h2 = inv["all"]["hosts"]["web1"], inv["all"]["hosts"]["web2"]
    assert h1["ansible_host"] == "10.0.0.1" and h1["ansible_port"] == 2222 and h1["ansible_user"] == "deploy"
    assert "UserKnownHostsFile=/tmp/kh" in h1["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in h1["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/etc/kh" in h2["ansible_ssh_common_args"]  # the host's own wins
    assert "ProxyJump=jump@b.example" in h2["ansible_ssh_common_args"]
    assert h2["ansible_ssh_private_key_file"].endswith("/.ssh/k") and not h2["ansible_ssh_private_key_file"].startswith("~")
    assert inv["all"]["children"] == {"web": {"hosts": {"web1": {}, "web2": {}}}}
    with pytest.raises(ValueError, match="not a number"):
        build_inventory(c.hosts, "web", Values.resolve(c, {"app_dir": "x"}))


def test_jinja_passes_through_while_placeholders_are_filled() -> None:
    c = checklist()
    values = Values.resolve(c, {})
    assert values.text(keep_jinja("{app_dir}/{{ inventory_hostname }}")) == "/srv/app/{{ inventory_hostname }}"
    assert values.command(keep_jinja("ls {app_dir}")) == "ls /srv/app"


def test_describe_names_group_module_and_masks(tmp_path: Path) -> None:
    c = checklist("[hosts.a]\n[hosts.b]\n[hosts.web]\nmembers = [\"a\", \"b\"]\n")
    values = Values.resolve(c, {"token": SECRET})
    text = AnsibleExecutor().describe(step(args="echo {token}", serial=1), values)
    assert text.startswith("web (a, b)$ ansible -m command") and SECRET not in text and "serial=1" in text


async def test_missing_playbook_fails_the_step_with_a_sentence(tmp_path: Path) -> None:
    c = checklist("[hosts.a]\n[hosts.web]\nmembers = [\"a\"]\n")
    ctx = Ctx(step(playbook="nope.yml", module=None), Values.resolve(c, {}), tmp_path)
    outcome = await AnsibleExecutor().execute(ctx)
    assert not outcome.ok and "does not exist" in outcome.message


# -- real servers -------------------------------------------------------------------------------


@pytest.fixture
def fleet3():
    from tests.fleet import Fleet
    from tests.sshd import sshd_missing_reason

    reason = sshd_missing_reason()
    if reason:
        pytest.skip(reason)
    with Fleet(3, servers=3) as f:
        yield f


def _values(fleet: Any, **extra: str) -> Values:
    c = checklist(fleet.hosts_toml("web"))
    return Values.resolve(c, {"token": SECRET, **extra})


@pytest.mark.sshd
async def test_ad_hoc_module_on_a_group_gives_per_host_results_and_masks_secrets(fleet3: Any, tmp_path: Path) -> None:
    fail = fleet3.host("web02").app_dir / "fail"
    fail.write_text("")
    values = _values(fleet3)
    st = step(module="shell",
              args="echo token={{ token }} on {{ inventory_hostname }}; test ! -e " + str(fleet3.base) + "/apps/{{ inventory_hostname }}/fail",
              max_fail=0)
    ctx = Ctx(st, values, tmp_path)
    outcome = await AnsibleExecutor().execute(ctx)
    assert not outcome.ok
    assert "on web02: failed" in outcome.message
    assert outcome.evidence["hosts"] == {"web01": "changed", "web02": "failed", "web03": "changed"}
    assert sorted(h for h, _ in ctx.started) == ["web01", "web02", "web03"]
    assert ctx.finished["web02"]["ok"] is False and ctx.finished["web02"]["exit_status"] == 1
    assert ctx.finished["web01"]["ok"] is True and ctx.finished["web01"]["result"] == "changed"
    ctx.log.close()
    log = (tmp_path / "fleet-step.log").read_text()
    per_host = (tmp_path / "fleet-step@web01.log").read_text()
    assert "web02" in log and "web01" in per_host and "web02" not in per_host
    # the secret went to ansible as an extra var (the remote echo printed it) and was masked
    assert "token=***" in log
    for path in tmp_path.iterdir():  # noqa: ASYNC240
        assert SECRET not in path.read_text(errors="replace"), path
    assert not any(SECRET in str(getattr(e, "text", "")) for e in ctx.events)


@pytest.mark.sshd
async def test_max_fail_tolerates_a_host_and_serial_runs_batches(fleet3: Any, tmp_path: Path) -> None:
    (fleet3.host("web01").app_dir / "fail").write_text("")
    st = step(module="shell", args="test ! -e " + str(fleet3.base) + "/apps/{{ inventory_hostname }}/fail",
              serial=1, max_fail=1)
    ctx = Ctx(st, _values(fleet3), tmp_path)
    outcome = await AnsibleExecutor().execute(ctx)
    assert outcome.ok, outcome.message
    assert "web01" in outcome.warning
    assert ctx.started == [("web01", 0), ("web02", 1), ("web03", 2)]


@pytest.mark.sshd
async def test_serial_stops_the_rollout_at_the_failed_batch(fleet3: Any, tmp_path: Path) -> None:
    (fleet3.host("web02").app_dir / "fail").write_text("")
    st = step(module="shell", args="test ! -e " + str(fleet3.base) + "/apps/{{ inventory_hostname }}/fail",
              serial=1)
    ctx = Ctx(st, _values(fleet3), tmp_path)
    outcome = await AnsibleExecutor().execute(ctx)
    assert not outcome.ok
    assert [h for h, _ in ctx.started] == ["web01", "web02"]  # web03 never touched


@pytest.mark.sshd
async def test_playbook_relative_to_the_checklist_and_unknown_host_key_refused(fleet3: Any, tmp_path: Path) -> None:
    playbook = tmp_path / "site.yml"
    playbook.write_text("""
- hosts: all
  gather_facts: false
  tasks:
    - name: write the release
      copy:
        dest: "{{ release_dir }}/{{ inventory_hostname }}/RELEASE"
        content: "{{ release }}\\n"
""")
    values = _values(fleet3)
    values.values["release"] = "1.2.3"
    st = step(playbook=str(playbook), module=None, extra_vars={"release_dir": str(fleet3.base / "apps")})
    ctx = Ctx(st, values, tmp_path)
    outcome = await AnsibleExecutor().execute(ctx)
    assert outcome.ok, outcome.message
    for h in fleet3.hosts:
        assert (h.app_dir / "RELEASE").read_text() == "1.2.3\n"
    # the same again: every host "ok", nothing changed
    (tmp_path / "again").mkdir()
    ctx2 = Ctx(st, values, tmp_path / "again")
    outcome = await AnsibleExecutor().execute(ctx2)
    assert outcome.ok and set(outcome.evidence["hosts"].values()) == {"ok"}
    # a known_hosts without the servers' keys: unreachable, never trusted
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    hosts = fleet3.hosts_toml("web").replace(str(fleet3.known_hosts), str(empty))
    c = checklist(hosts)
    (tmp_path / "third").mkdir()
    ctx3 = Ctx(step(module="ping"), Values.resolve(c, {"token": SECRET}), tmp_path / "third")
    outcome = await AnsibleExecutor().execute(ctx3)
    assert not outcome.ok and "unreachable" in outcome.message
    assert fleet3.connections() == 6  # two playbook runs, three hosts each; the third logged in nowhere


@pytest.mark.sshd
async def test_cancel_stops_ansible_its_workers_and_the_remote_commands(fleet3: Any, tmp_path: Path) -> None:
    marker = f"iact-ansible-cancel-{time.time_ns()}"
    st = step(module="shell", args=f"echo started; exec sleep 300 # {marker}")
    ctx = Ctx(st, _values(fleet3), tmp_path)
    task = asyncio.ensure_future(AnsibleExecutor().execute(ctx))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _pgrep(marker):  # noqa: ASYNC110 - another process
        await asyncio.sleep(0.1)
    assert _pgrep(marker), "the remote command never started"
    assert [p for p in _pgrep(marker) if "bin/ansible" in p and "ssh" not in p]  # told apart
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - t0 < 10
    # this step's ansible and its workers (their command lines carry the marker) are gone at once
    assert not [p for p in _pgrep(marker) if "bin/ansible" in p and "ssh" not in p]
    # the remote shell commands die with their (pipelined) sessions once ssh is gone
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _pgrep(marker):  # noqa: ASYNC110 - another process
        await asyncio.sleep(0.2)
    assert not _pgrep(marker), _pgrep(marker)


def _pgrep(pattern: str) -> list[str]:
    if shutil.which("pgrep") is None:
        pytest.skip("pgrep is missing")
    out = subprocess.run(["pgrep", "-a", "-f", pattern], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]
