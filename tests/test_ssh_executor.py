"""The ``ssh`` step kind against an in-process asyncssh server (real SSH, real host keys)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import warnings
from pathlib import Path

import asyncssh
import pytest

from iact_tui.engine.executors import executor_for
from iact_tui.engine.executors.ssh import SshExecutor
from iact_tui.engine.executors.ssh_pool import SshError
from tests.fixtures_ssh import StepRun, host_entry
from tests.sshd import InProcessSshServer, known_hosts_line, processes_matching, write_key

pytestmark = pytest.mark.timeout(30)


async def run_one(tmp_path: Path, server: InProcessSshServer, step: dict, **options) -> tuple:
    run = StepRun(
        tmp_path,
        {"staging": host_entry(server)},
        [{"id": "s", "host": "staging", **step}],
        **options,
    )
    try:
        outcome, ctx = await run.run("s")
    finally:
        await run.close()
    return outcome, ctx, run


def fingerprint(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


# -- output, exit status, expectations ----------------------------------------------------------


async def test_output_streams_in_order_with_stderr_and_no_pid_line(tmp_path, asyncssh_server):
    outcome, ctx, _ = await run_one(
        tmp_path,
        asyncssh_server,
        {"run": "echo one; echo two >&2; echo three; printf 'no newline'"},
    )
    assert outcome.ok, outcome.message
    assert outcome.exit_status == 0
    # stderr is merged on the host (2>&1), so the order is the command's own
    assert ctx.output_text == "one\ntwo\nthree\nno newline"  # nothing added (issue 10, item 6)
    assert "__IACT_PID" not in ctx.log.path.read_text()
    assert ctx.log.path.read_text() == ctx.output_text


async def test_large_output_arrives_whole(tmp_path, asyncssh_server):
    outcome, ctx, _ = await run_one(tmp_path, asyncssh_server, {"run": "seq 1 200000"})
    assert outcome.ok, outcome.message
    lines = ctx.log.path.read_text().splitlines()
    assert len(lines) == 200000
    assert lines[0] == "1" and lines[-1] == "200000"


async def test_exit_status_must_match(tmp_path, asyncssh_server):
    outcome, _, _ = await run_one(tmp_path, asyncssh_server, {"run": "echo failing; exit 3"})
    assert not outcome.ok
    assert outcome.exit_status == 3
    assert outcome.message == "the command exited with status 3 (expected 0)"

    outcome, _, _ = await run_one(
        tmp_path, asyncssh_server, {"run": "exit 3", "expect_exit": [0, 3]}
    )
    assert outcome.ok and outcome.exit_status == 3


async def test_expect_reject_and_capture(tmp_path, asyncssh_server):
    command = "echo 'backup: /backups/iact_20251117.sql'; echo 'status: healthy'"
    outcome, ctx, run = await run_one(
        tmp_path,
        asyncssh_server,
        {
            "run": command,
            "expect_output": "status: healthy",
            "reject_output": "ERROR",
            "capture": {"backup_file": r"backup: (\S+)"},
        },
    )
    assert outcome.ok, outcome.message
    assert ctx.captured == {"backup_file": "/backups/iact_20251117.sql"}
    assert run.values.values["backup_file"] == "/backups/iact_20251117.sql"

    outcome, _, _ = await run_one(
        tmp_path,
        asyncssh_server,
        {"run": "echo 'ERROR: disk full'; echo ok", "reject_output": "ERROR"},
    )
    assert not outcome.ok
    assert "ERROR: disk full" in outcome.message

    outcome, _, _ = await run_one(
        tmp_path, asyncssh_server, {"run": "echo starting", "expect_output": "healthy"}
    )
    assert not outcome.ok
    assert "healthy" in outcome.message


async def test_values_are_quoted_and_secrets_masked(tmp_path, asyncssh_server):
    run = StepRun(
        tmp_path,
        {"staging": host_entry(asyncssh_server)},
        [{"id": "s", "host": "staging", "run": "echo token={token} name={name}"}],
        variables={"token": {"secret": True}, "name": {"default": "a b; touch pwned"}},
        overrides={"token": "hunter2-secret"},
    )
    executor = SshExecutor()
    shown = executor.describe(run.checklist.step("s"), run.values)
    assert shown == "staging$ echo token=*** name='a b; touch pwned'"
    outcome, ctx = await run.run("s")
    await run.close()
    assert outcome.ok, outcome.message
    assert ctx.output_text == "token=*** name=a b; touch pwned\n"
    assert "hunter2" not in ctx.log.path.read_text()
    assert not (asyncssh_server.workdir / "pwned").exists()


def test_describe_sudo_and_host_group(tmp_path):
    run = StepRun(
        tmp_path,
        {
            "web1": {"address": "10.0.0.1"},
            "web2": {"address": "10.0.0.2"},
            "web": {"members": ["web1", "web2"]},
        },
        [
            {"id": "dump", "host": "web1", "run": "pg_dump {db}", "sudo": True},
            {"id": "all", "host": "web", "run": "uptime"},
        ],
        variables={"db": {"default": "iact"}},
    )
    executor = executor_for("ssh")
    assert executor.describe(run.checklist.step("dump"), run.values) == (
        "web1$ sudo -n sh -c 'pg_dump iact'"
    )
    assert executor.describe(run.checklist.step("all"), run.values) == "web (web1, web2)$ uptime"
    assert run.pool.members("web") == ["web1", "web2"]
    assert run.pool.members("web1") == ["web1"]


# -- artifacts ------------------------------------------------------------------------------------


async def test_artifact_size_and_sha256_are_recorded(tmp_path, asyncssh_server):
    workdir = asyncssh_server.workdir
    run = StepRun(
        tmp_path,
        {"staging": host_entry(asyncssh_server)},
        [
            {
                "id": "backup",
                "host": "staging",
                "run": "f=dump_$(date +%s).sql; printf 'CREATE TABLE x;' > $f; echo wrote $f",
                "capture": {"backup_file": r"wrote (\S+)"},
                "artifact": f"{workdir}/{{backup_file}}",
            },
            {
                "id": "empty",
                "host": "staging",
                "run": "true > empty.sql",
                "artifact": f"{workdir}/empty.sql",
            },
            {
                "id": "missing",
                "host": "staging",
                "run": "true",
                "artifact": f"{workdir}/nothing.sql",
            },
        ],
    )
    try:
        outcome, ctx = await run.run("backup")
        assert outcome.ok, outcome.message
        [artifact] = outcome.artifacts
        name = ctx.captured["backup_file"]
        assert artifact == {
            "path": f"{workdir}/{name}",
            "size": len(b"CREATE TABLE x;"),
            "sha256": hashlib.sha256(b"CREATE TABLE x;").hexdigest(),
            "host": "staging",
        }

        outcome, _ = await run.run("empty")
        assert not outcome.ok
        assert outcome.message == f"the artifact {workdir}/empty.sql on staging is empty (0 bytes)"

        outcome, _ = await run.run("missing")
        assert not outcome.ok
        assert outcome.message == f"the artifact {workdir}/nothing.sql was not found on staging"
    finally:
        await run.close()


# -- host groups ------------------------------------------------------------------------------


async def test_host_group_runs_everywhere_in_parallel_and_prefixes_lines(tmp_path):
    servers = [await InProcessSshServer(tmp_path / f"server{i}").start() for i in (1, 2)]
    try:
        for number, server in enumerate(servers, start=1):
            server.fake_tool("host-number", f"echo {number}")
        servers[0].fake_tool("check-app", "echo app ok; exit 0")
        servers[1].fake_tool("check-app", "echo app down; exit 1")
        meeting = tmp_path / "meeting"
        meeting.mkdir()
        os.mkfifo(meeting / "to1")
        os.mkfifo(meeting / "to2")
        hosts = {
            "web1": host_entry(servers[0]),
            "web2": host_entry(servers[1]),
            "web": {"members": ["web1", "web2"]},
        }
        run = StepRun(
            tmp_path,
            hosts,
            [
                # each member writes to the other's FIFO and reads its own: a FIFO blocks until
                # both ends are open, so this only finishes when the members run at once
                {
                    "id": "meet",
                    "host": "web",
                    "run": "me=$(host-number); echo hello from $me > {meeting}/to$((3 - me)) & "
                    "cat {meeting}/to$me; wait",
                    "timeout": 5,
                },
                {"id": "check", "host": "web", "run": "check-app"},
            ],
            variables={"meeting": {"default": str(meeting)}},
        )
        try:
            outcome, ctx = await run.run("meet")
            assert outcome.ok, outcome.message
            lines = sorted(ctx.output_text.splitlines())
            assert lines == ["[web1] hello from 2", "[web2] hello from 1"]

            outcome, ctx = await run.run("check")
            assert not outcome.ok
            assert outcome.message == "on web2: the command exited with status 1 (expected 0)"
            assert outcome.exit_status == 1
            assert sorted(ctx.output_text.splitlines()) == ["[web1] app ok", "[web2] app down"]
        finally:
            await run.close()
    finally:
        for server in servers:
            await server.stop()


# -- sudo -------------------------------------------------------------------------------------------


async def test_sudo_wraps_the_command(tmp_path, asyncssh_server):
    # a stand-in for sudo that allows everything: drops -n and runs the rest
    asyncssh_server.fake_tool("sudo", '[ "$1" = -n ] && shift; echo "(as root)"; exec "$@"')
    outcome, ctx, _ = await run_one(
        tmp_path, asyncssh_server, {"run": "echo restarted", "sudo": True}
    )
    assert outcome.ok, outcome.message
    assert ctx.output_text == "(as root)\nrestarted\n"
    assert "sudo -n sh -c" in asyncssh_server.commands[0]


async def test_sudo_asking_for_a_password_is_explained(tmp_path, asyncssh_server):
    asyncssh_server.fake_tool("sudo", 'echo "sudo: a password is required" >&2; exit 1')
    outcome, ctx, _ = await run_one(
        tmp_path, asyncssh_server, {"run": "systemctl restart gunicorn", "sudo": True}
    )
    assert not outcome.ok
    assert "sudo on staging needs a password" in outcome.message
    assert "NOPASSWD" in outcome.message
    assert "sudo: a password is required" in ctx.output_text

    # also when the checklist writes sudo into the command itself
    outcome, _, _ = await run_one(
        tmp_path, asyncssh_server, {"run": "sudo -n systemctl restart gunicorn"}
    )
    assert not outcome.ok
    assert "NOPASSWD" in outcome.message


# -- timeouts, cancel, lost connections -------------------------------------------------------------


async def test_timeout_stops_the_remote_command(tmp_path, asyncssh_server):
    outcome, ctx, _ = await run_one(
        tmp_path, asyncssh_server, {"run": "echo started; sleep 4329", "timeout": 0.5}
    )
    assert not outcome.ok
    assert outcome.message == "the command did not finish within 0.5 s and was stopped on staging"
    assert ctx.output_text == "started\n"
    # the in-process server runs commands as local processes: none may be left
    assert processes_matching("sleep 4329") == []
    # the second channel carried the kill
    assert any("kill -s TERM" in c for c in asyncssh_server.commands)


async def test_a_command_that_ignores_term_is_killed(tmp_path, asyncssh_server):
    outcome, ctx, _ = await run_one(
        tmp_path,
        asyncssh_server,
        {"run": "trap '' TERM; echo started; sleep 4326", "timeout": 0.3},
    )
    assert not outcome.ok
    assert "did not finish within 0.3 s" in outcome.message
    assert ctx.output_text == "started\n"
    assert processes_matching("sleep 4326") == []


async def test_cancel_stops_the_remote_command(tmp_path, asyncssh_server):
    run = StepRun(
        tmp_path,
        {"staging": host_entry(asyncssh_server)},
        [{"id": "s", "host": "staging", "run": "echo started; sleep 4328"}],
    )
    ctx = run.context("s")
    task = asyncio.create_task(SshExecutor().execute(ctx))
    await ctx.wait_for_output("started")
    assert processes_matching("sleep 4328") != []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_matching("sleep 4328") == []
    ctx.log.close()
    await run.close()


async def test_lost_connection_is_a_plain_sentence_and_the_pool_reconnects(
    tmp_path, asyncssh_server
):
    run = StepRun(
        tmp_path,
        {"staging": host_entry(asyncssh_server)},
        [
            {"id": "long", "host": "staging", "run": "echo started; sleep 4327"},
            {"id": "again", "host": "staging", "run": "echo back"},
        ],
    )
    try:
        ctx = run.context("long")
        task = asyncio.create_task(SshExecutor().execute(ctx))
        await ctx.wait_for_output("started")
        asyncssh_server.drop_connections()
        outcome = await task
        ctx.log.close()
        assert not outcome.ok
        assert outcome.message == "lost the connection to staging while the command was running"
        outcome, ctx = await run.run("again")
        assert outcome.ok, outcome.message
        assert ctx.output_text == "back\n"
        assert run.pool.connects == 2
    finally:
        await run.close()


# -- connections: reuse, host keys, errors ---------------------------------------------------------


async def test_one_connection_per_host_and_its_fingerprint_recorded(tmp_path, asyncssh_server):
    steps = [{"id": f"s{i}", "host": "staging", "run": f"echo {i}"} for i in range(10)]
    run = StepRun(tmp_path, {"staging": host_entry(asyncssh_server)}, steps)
    try:
        for i in range(10):
            outcome, ctx = await run.run(f"s{i}")
            assert outcome.ok and ctx.output_text == f"{i}\n"
    finally:
        await run.close()
    assert len(asyncssh_server.connections) == 1
    assert run.pool.connects == 1
    [info] = run.host_keys
    assert info.host == "staging"
    assert (info.address, info.port, info.user) == ("127.0.0.1", asyncssh_server.port, "deploy")
    assert info.fingerprint == fingerprint(asyncssh_server.host_key)
    assert info.key_type == "ssh-ed25519"


async def test_unknown_host_key_is_refused_with_its_fingerprint(tmp_path, asyncssh_server):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    # the host's own known_hosts field wins over the pool's default
    outcome, _, _ = await run_one(
        tmp_path, asyncssh_server, {"run": "true"}, known_hosts=str(empty)
    )
    assert outcome.ok, outcome.message
    # without one, the pool's default (here: empty) decides
    entry = host_entry(asyncssh_server)
    del entry["known_hosts"]
    run = StepRun(
        tmp_path,
        {"staging": entry},
        [{"id": "s", "host": "staging", "run": "touch ran-unknown"}],
        known_hosts=str(empty),
    )
    outcome, _ = await run.run("s")
    await run.close()
    assert not outcome.ok
    message = outcome.message
    assert "is not in" in message and str(empty) in message
    assert fingerprint(asyncssh_server.host_key) in message
    assert f"ssh-keyscan -t ed25519 -p {asyncssh_server.port} 127.0.0.1" in message
    assert "ssh-keygen -lf" in message
    assert not (asyncssh_server.workdir / "ran-unknown").exists()
    assert run.host_keys == []


async def test_changed_host_key_is_refused_as_a_possible_attack(tmp_path, asyncssh_server):
    impostor = asyncssh.generate_private_key("ssh-ed25519")
    known = tmp_path / "known_hosts_old"
    known.write_text(known_hosts_line("127.0.0.1", asyncssh_server.port, impostor))
    run = StepRun(
        tmp_path,
        {"staging": host_entry(asyncssh_server, known_hosts=str(known))},
        [{"id": "s", "host": "staging", "run": "touch ran"}],
    )
    outcome, _ = await run.run("s")
    await run.close()
    assert not outcome.ok
    message = outcome.message
    assert message.startswith("WARNING: the host key of staging")
    assert "CHANGED" in message and "man-in-the-middle" in message
    assert fingerprint(asyncssh_server.host_key) in message  # the key offered now
    assert fingerprint(impostor) in message  # the key known_hosts has
    assert f"ssh-keygen -R '[127.0.0.1]:{asyncssh_server.port}'" in message
    assert not (asyncssh_server.workdir / "ran").exists()


async def test_missing_known_hosts_file_trusts_nothing(tmp_path, asyncssh_server):
    run = StepRun(
        tmp_path,
        {"staging": host_entry(asyncssh_server, known_hosts=str(tmp_path / "absent"))},
        [{"id": "s", "host": "staging", "run": "true"}],
    )
    outcome, _ = await run.run("s")
    await run.close()
    assert not outcome.ok
    assert "is not in" in outcome.message


async def test_connection_refused(tmp_path):
    # a bound socket that does not listen: the kernel refuses connections, and no one can take it
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        run = StepRun(
            tmp_path,
            {"staging": {"address": "127.0.0.1", "port": port, "user": "deploy"}},
            [{"id": "s", "host": "staging", "run": "true"}],
        )
        outcome, _ = await run.run("s")
        await run.close()
    assert not outcome.ok
    assert outcome.message == f"could not connect to staging (127.0.0.1:{port}): connection refused"


async def test_a_host_that_never_answers_times_out(tmp_path):
    # listening but never accepting: TCP connects, the SSH greeting never comes
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        run = StepRun(
            tmp_path,
            {"staging": {"address": "127.0.0.1", "port": port, "user": "deploy"}},
            [{"id": "s", "host": "staging", "run": "true"}],
            connect_timeout=0.5,
        )
        outcome, _ = await run.run("s")
        await run.close()
    assert outcome.message == (
        f"could not connect to staging (127.0.0.1:{port}): no answer within 0.5 s"
    )


async def test_unknown_name_is_a_dns_failure(tmp_path):
    run = StepRun(
        tmp_path,
        {"staging": {"address": "no-such-host.invalid", "user": "deploy"}},
        [{"id": "s", "host": "staging", "run": "true"}],
        connect_timeout=5,
    )
    with pytest.raises(SshError) as raised:
        await run.pool.connection("staging")
    await run.close()
    assert str(raised.value) == (
        "could not connect to staging (no-such-host.invalid:22): the name no-such-host.invalid "
        "does not resolve (DNS lookup failed)"
    )


async def test_a_key_the_host_does_not_accept(tmp_path, asyncssh_server):
    other = write_key(tmp_path / "other_key", asyncssh.generate_private_key("ssh-ed25519"))
    run = StepRun(
        tmp_path,
        {"staging": host_entry(asyncssh_server, identity=str(other))},
        [{"id": "s", "host": "staging", "run": "true"}],
    )
    outcome, _ = await run.run("s")
    await run.close()
    assert not outcome.ok
    assert outcome.message.startswith(f"deploy@staging (127.0.0.1:{asyncssh_server.port}) refused")
    assert "permission denied" in outcome.message


async def test_placeholders_in_host_fields_and_ssh_config_alias(tmp_path, asyncssh_server):
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host box\n    HostName 127.0.0.1\n    User {asyncssh_server.user}\n"
        f"    IdentityFile {asyncssh_server.client_key_path}\n"
    )
    run = StepRun(
        tmp_path,
        # address defaults to the host's name: "box", an alias of the ssh config; the port
        # comes from a variable, the empty user means "not set" (the config's User applies)
        {
            "box": {
                "port": "{ssh_port}",
                "user": "{login}",
                "known_hosts": str(asyncssh_server.known_hosts),
            }
        },
        [{"id": "s", "host": "box", "run": "echo via alias"}],
        variables={"ssh_port": {"default": asyncssh_server.port}, "login": {"default": ""}},
        ssh_config=[str(config)],
    )
    outcome, ctx = await run.run("s")
    await run.close()
    assert outcome.ok, outcome.message
    assert ctx.output_text == "via alias\n"
    [info] = run.host_keys
    assert (info.host, info.address, info.user) == ("box", "127.0.0.1", "deploy")


async def test_bad_port_value_is_explained(tmp_path):
    run = StepRun(
        tmp_path,
        {"staging": {"address": "127.0.0.1", "port": "{ssh_port}"}},
        [{"id": "s", "host": "staging", "run": "true"}],
        variables={"ssh_port": {"default": "twenty-two"}},
    )
    outcome, _ = await run.run("s")
    await run.close()
    assert outcome.message == "the port of host staging is 'twenty-two', not a number"


async def test_ssh_agent_keys_work(tmp_path, asyncssh_server, ssh_agent):
    socket_path = ssh_agent(asyncssh_server.client_key_path)
    entry = host_entry(asyncssh_server)
    del entry["identity"]
    # no key file is named: the agent's key logs in (the default ~/.ssh/id_* are not
    # authorized on this server)
    run = StepRun(
        tmp_path,
        {"staging": entry},
        [{"id": "s", "host": "staging", "run": "echo agent"}],
        agent_path=socket_path,
    )
    outcome, ctx = await run.run("s")
    await run.close()
    assert outcome.ok, outcome.message
    assert ctx.output_text == "agent\n"

    # a passphrase-protected key file whose key is in the agent: the agent signs
    key = asyncssh.read_private_key(asyncssh_server.client_key_path)
    locked = tmp_path / "locked_key"
    with warnings.catch_warnings():  # one KDF round: a test key, and the test stays fast
        warnings.simplefilter("ignore", UserWarning)
        locked.write_bytes(
            key.export_private_key("openssh", passphrase="not typed by anyone", rounds=1)
        )
    locked.chmod(0o600)
    run = StepRun(
        tmp_path,
        {"staging": {**entry, "identity": str(locked)}},
        [{"id": "s", "host": "staging", "run": "echo agent"}],
        agent_path=socket_path,
    )
    outcome, _ = await run.run("s")
    await run.close()
    assert outcome.ok, outcome.message

    run = StepRun(
        tmp_path,
        {"staging": entry},
        [{"id": "s", "host": "staging", "run": "echo agent"}],
        agent_path="",
    )
    outcome, _ = await run.run("s")
    await run.close()
    assert not outcome.ok
    assert "permission denied" in outcome.message


async def test_jump_cycle_is_refused(tmp_path):
    run = StepRun(
        tmp_path,
        {
            "a": {"address": "127.0.0.1", "proxy_jump": "b"},
            "b": {"address": "127.0.0.1", "proxy_jump": "a"},
        },
        [{"id": "s", "host": "a", "run": "true"}],
    )
    outcome, _ = await run.run("s")
    await run.close()
    assert outcome.message == "the jump hosts of a go round in a circle (a -> b -> a)"
