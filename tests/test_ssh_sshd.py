"""The ``ssh`` step kind against a real OpenSSH sshd on 127.0.0.1.

What only a real sshd can show: a timed-out or cancelled command leaves no process on the host,
for a plain user and for root (whose sessions ignore SSH signal requests), with and without
sudo; ProxyJump through a second sshd; one connection serving many commands.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from iact_tui.engine.executors.ssh import SshExecutor
from tests.fixtures_ssh import StepRun, host_entry
from tests.sshd import PLAIN_USER, processes_matching

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(60)]

LOGINS = [PLAIN_USER, "root"]


@pytest.mark.parametrize("login", LOGINS)
async def test_timeout_leaves_no_process_on_the_host(tmp_path, sshd_factory, login):
    server = sshd_factory(users=(login,))
    marker = f"sleep {4321 if login == PLAIN_USER else 4323}"
    run = StepRun(
        tmp_path,
        {"staging": host_entry(server)},
        [{"id": "s", "host": "staging", "run": f"echo started; {marker}", "timeout": 1}],
    )
    try:
        outcome, ctx = await run.run("s")
    finally:
        await run.close()
    assert not outcome.ok
    assert outcome.message == "the command did not finish within 1 s and was stopped on staging"
    assert ctx.output_text == "started\n"
    assert processes_matching(marker) == []


@pytest.mark.parametrize("login", LOGINS)
async def test_cancel_leaves_no_process_on_the_host(tmp_path, sshd_factory, login):
    server = sshd_factory(users=(login,))
    marker = f"sleep {4322 if login == PLAIN_USER else 4324}"
    run = StepRun(
        tmp_path,
        {"staging": host_entry(server)},
        [
            {"id": "s", "host": "staging", "run": f"echo started; {marker}"},
            {"id": "after", "host": "staging", "run": "echo still here"},
        ],
    )
    try:
        ctx = run.context("s")
        task = asyncio.create_task(SshExecutor().execute(ctx))
        await ctx.wait_for_output("started")
        assert processes_matching(marker, user=login) != []  # it did run, as that user
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        ctx.log.close()
        assert processes_matching(marker) == []
        # the connection is still good for the next step
        outcome, ctx = await run.run("after")
        assert outcome.ok, outcome.message
        assert ctx.output_text == "still here\n"
        assert run.pool.connects == 1
    finally:
        await run.close()


async def test_timeout_under_sudo_leaves_no_process(tmp_path, sshd_factory):
    # As root, sudo needs no sudoers entry; Debian's `Defaults use_pty` applies to it.
    server = sshd_factory(users=("root",))
    run = StepRun(
        tmp_path,
        {"staging": host_entry(server)},
        [
            {
                "id": "s",
                "host": "staging",
                "run": "echo started as $(id -un); sleep 4325",
                "sudo": True,
                "timeout": 1,
            }
        ],
    )
    try:
        outcome, ctx = await run.run("s")
    finally:
        await run.close()
    assert not outcome.ok
    assert "did not finish within 1 s" in outcome.message
    assert ctx.output_text == "started as root\n"
    assert processes_matching("sleep 4325") == []


async def test_sudo_without_rights_is_explained(tmp_path, sshd_server):
    # iactdeploy is in no sudoers file: sudo -n answers that a password would be required
    run = StepRun(
        tmp_path,
        {"staging": host_entry(sshd_server)},
        [{"id": "s", "host": "staging", "run": "systemctl restart gunicorn", "sudo": True}],
    )
    try:
        outcome, _ = await run.run("s")
    finally:
        await run.close()
    assert not outcome.ok
    assert outcome.message.startswith("sudo on staging needs a password")
    assert "NOPASSWD" in outcome.message


async def test_one_connection_serves_many_commands(tmp_path, sshd_server):
    steps = [{"id": f"s{i}", "host": "staging", "run": f"echo $((6 * {i}))"} for i in range(25)]
    run = StepRun(tmp_path, {"staging": host_entry(sshd_server)}, steps)
    try:
        for i in range(25):
            outcome, ctx = await run.run(f"s{i}")
            assert outcome.ok, outcome.message
            assert ctx.output_text == f"{6 * i}\n"
    finally:
        await run.close()
    assert sshd_server.accepted_logins() == 1
    assert run.pool.connects == 1
    [info] = run.host_keys
    assert info.user == PLAIN_USER
    assert info.fingerprint == sshd_server.host_key.get_fingerprint("sha256")


async def test_ssh_config_alias_with_proxy_jump(tmp_path, sshd_factory):
    jump = sshd_factory(alias="jump")
    target = sshd_factory(alias="target")
    config = tmp_path / "ssh_config"
    config.write_text(
        jump.ssh_config.read_text() + "\n" + target.ssh_config.read_text() + "    ProxyJump jump\n"
    )
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(jump.known_hosts.read_text() + target.known_hosts.read_text())
    run = StepRun(
        tmp_path,
        {"target": {}},  # everything comes from the ssh config: HostName, Port, User, key, jump
        [{"id": "s", "host": "target", "run": "echo via $(echo $SSH_CONNECTION | cut -d' ' -f3-)"}],
        ssh_config=[str(config)],
        known_hosts=str(known_hosts),
    )
    try:
        outcome, ctx = await run.run("s")
    finally:
        await run.close()
    assert outcome.ok, outcome.message
    assert ctx.output_text == f"via 127.0.0.1 {target.port}\n"
    # one login on each: the target was reached through the jump host
    assert jump.accepted_logins() == 1
    assert target.accepted_logins() == 1
    hosts = {info.host: info for info in run.host_keys}
    assert set(hosts) == {"jump (jump host for target)", "target"}
    assert hosts["jump (jump host for target)"].fingerprint == jump.host_key.get_fingerprint(
        "sha256"
    )
    assert hosts["target"].fingerprint == target.host_key.get_fingerprint("sha256")


async def test_proxy_jump_field_reuses_the_checklist_host(tmp_path, sshd_factory):
    bastion = sshd_factory(alias="bastion")
    app = sshd_factory(alias="app")
    run = StepRun(
        tmp_path,
        {"bastion": host_entry(bastion), "app": host_entry(app, proxy_jump="bastion")},
        [
            {"id": "on-app", "host": "app", "run": "echo app"},
            {"id": "on-bastion", "host": "bastion", "run": "echo bastion"},
        ],
    )
    try:
        outcome, ctx = await run.run("on-app")
        assert outcome.ok, outcome.message
        assert ctx.output_text == "app\n"
        outcome, ctx = await run.run("on-bastion")
        assert outcome.ok, outcome.message
        assert ctx.output_text == "bastion\n"
    finally:
        await run.close()
    assert run.pool.connects == 2  # the jump connection is the bastion's own, reused
    assert bastion.accepted_logins() == 1
    assert app.accepted_logins() == 1


# -- a command that ignores TERM: only the executor's own KILL follow-up stops it ------------------
# (the in-process test server kills the process group itself, so it cannot tell; a real sshd can)


def _term_only_kill_script(pids: list[int]) -> str:
    return "; ".join(f"kill -s TERM -- -{pid} 2>/dev/null" for pid in pids) + "; exit 0"


async def _no_stop(self, proc, markers, reader):  # type: ignore[no-untyped-def]
    return None


def _kill_leftovers(marker: str) -> None:
    import os
    import signal

    for line in processes_matching(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.split()[0]), signal.SIGKILL)


async def _time_out_ignoring_term(tmp_path, server, marker: str):  # type: ignore[no-untyped-def]
    run = StepRun(
        tmp_path,
        {"staging": host_entry(server)},
        [{"id": "s", "host": "staging", "run": f"trap '' TERM; echo started; {marker}", "timeout": 1}],
    )
    try:
        outcome, _ = await run.run("s")
    finally:
        await run.close()
    return outcome


async def _cancel_ignoring_term(tmp_path, server, marker: str) -> None:  # type: ignore[no-untyped-def]
    run = StepRun(
        tmp_path,
        {"staging": host_entry(server)},
        [{"id": "s", "host": "staging", "run": f"trap '' TERM; echo started; {marker}"}],
    )
    try:
        ctx = run.context("s")
        task = asyncio.create_task(SshExecutor().execute(ctx))
        await ctx.wait_for_output("started")
        assert processes_matching(marker, user=server.user) != []
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        ctx.log.close()
    finally:
        await run.close()


async def test_timeout_of_a_command_that_ignores_term_leaves_nothing(tmp_path, sshd_server):
    outcome = await _time_out_ignoring_term(tmp_path, sshd_server, "sleep 4331")
    assert outcome.message == "the command did not finish within 1 s and was stopped on staging"
    assert processes_matching("sleep 4331") == []


async def test_cancel_of_a_command_that_ignores_term_leaves_nothing(tmp_path, sshd_server):
    await _cancel_ignoring_term(tmp_path, sshd_server, "sleep 4332")
    assert processes_matching("sleep 4332") == []


@pytest.mark.parametrize("broken", ["no-op stop", "no KILL"])
async def test_the_ignoring_term_checks_fail_without_the_stop(tmp_path, sshd_server, monkeypatch, broken):
    """The two tests above can fail: with the executor's stop made a no-op, or without its KILL
    follow-up, the command is still running on the host afterwards."""
    from iact_tui.engine.executors import ssh as ssh_executor

    monkeypatch.setattr(ssh_executor, "STOP_TIMEOUT", 1.0)  # the stop gives up waiting sooner
    if broken == "no-op stop":
        monkeypatch.setattr(ssh_executor.RemoteCommand, "_stop", _no_stop)
    else:
        monkeypatch.setattr(ssh_executor, "_kill_script", _term_only_kill_script)
    try:
        await _time_out_ignoring_term(tmp_path / "t", sshd_server, "sleep 4333")
        assert processes_matching("sleep 4333", user=sshd_server.user) != []
        await _cancel_ignoring_term(tmp_path / "c", sshd_server, "sleep 4334")
        assert processes_matching("sleep 4334", user=sshd_server.user) != []
    finally:
        _kill_leftovers("sleep 4333")
        _kill_leftovers("sleep 4334")
