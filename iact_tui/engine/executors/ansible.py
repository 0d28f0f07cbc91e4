"""``ansible``: a playbook, or one module ad hoc, on a host group, through ansible-runner.

For what outgrows one operator machine — hundreds of hosts, existing playbooks, later AWX or an
automation controller — the fleet engine is Ansible, not a home-made one. This kind runs it the
way Ansible's own controller does, through ``ansible-runner``, an optional extra
(``pip install 'iact-tui[ansible]'``), and keeps iact-tui's promises around it:

- the inventory is built from the checklist's ``[hosts]`` (address, user, port, identity, jump
  host) with host keys checked strictly against the same ``known_hosts`` the ``ssh`` kind uses —
  or it is the operator's own ``inventory = "FILE"``;
- every task result of every host (ok / changed / failed / unreachable) streams into the step's
  log and output, and into one record per (step, host) with its own log;
- the run's variables and secrets go to Ansible as extra vars, in a 0600 file of a private
  folder removed afterwards; everything Ansible prints is masked like any other output;
- a cancel or a timeout stops ansible and its workers (their whole process group);
- a host that failed fails the step (past ``max_fail``), and the step's failure policy applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.executors.base import Automatic, Outcome, StepContext

CANCEL_POLL = 0.1  # seconds between ansible-runner's looks at the cancel flag
DEFAULT_FORKS = 50
STOP_WAIT = 15.0  # seconds to wait for ansible-runner to return once it was told to stop

INSTALL_HINT = "the ansible step kind needs ansible-runner: pip install 'iact-tui[ansible]'"


class AnsibleMissing(Exception):
    """ansible-runner or ansible itself is not installed; the message says how to get it."""


def _runner_module() -> Any:
    try:
        import ansible_runner
    except ImportError:
        raise AnsibleMissing(INSTALL_HINT) from None
    if ansible_bin("ansible-playbook") is None:
        raise AnsibleMissing(
            "the ansible step kind needs ansible-core (ansible-playbook is not on PATH): "
            "pip install 'iact-tui[ansible]'"
        )
    return ansible_runner


def ansible_bin(name: str) -> str | None:
    """An ansible command: beside this Python first (a virtualenv's bin/ need not be on PATH)."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def _path_with_ansible() -> str:
    found = ansible_bin("ansible-playbook")
    path = os.environ.get("PATH", "/usr/bin:/bin")
    return f"{os.path.dirname(found)}:{path}" if found else path


# -- the inventory -------------------------------------------------------------------------------


_JINJA = re.compile(r"\{\{|\}\}")


def keep_jinja(text: str) -> str:
    """``{{ inventory_hostname }}`` is Ansible's (Jinja), not ours: it passes through as written,
    while ``{name}`` is filled like everywhere else."""
    return _JINJA.sub(lambda m: m.group(0) * 2, text)


def _filled(values: Values, text: Any, what: str, *, quoted: bool = False) -> str | None:
    if text is None:
        return None
    try:
        raw = keep_jinja(str(text))
        out = (values.command(raw) if quoted else values.text(raw)).strip()
    except template.MissingValue as exc:
        raise ValueError(f"the {what} uses {{{exc.name}}}, which has no value yet") from None
    return out or None


def build_inventory(
    hosts: dict[str, Any],
    group: str,
    values: Values,
    *,
    known_hosts: str | None = None,
    ssh_config: list[str] | None = None,
    client_keys: list[str] | None = None,
) -> dict[str, Any]:
    """An Ansible inventory (YAML/JSON form) for a checklist host or host group.

    Each member keeps its checklist name as inventory name, so per-host results, records and
    logs are named as everywhere else. Host keys: ``StrictHostKeyChecking=yes`` against the
    host's ``known_hosts`` (else ``--known-hosts``, else ``~/.ssh/known_hosts``); never "accept new"."""
    spec = hosts.get(group)
    members = list(spec.members) if spec is not None and spec.members else [group]
    inv_hosts: dict[str, dict[str, Any]] = {}
    for name in members:
        host = hosts.get(name)
        hv: dict[str, Any] = {}
        address = (
            _filled(values, getattr(host, "address", None), f"address of host {name}")
            if host
            else None
        )
        hv["ansible_host"] = address or name
        port = getattr(host, "port", None) if host else None
        if port is not None:
            port_text = _filled(values, port, f"port of host {name}")
            if port_text:
                if not port_text.isdigit():
                    raise ValueError(f"the port of host {name} is {port_text!r}, not a number")
                hv["ansible_port"] = int(port_text)
        user = (
            _filled(values, getattr(host, "user", None), f"user of host {name}") if host else None
        )
        if user:
            hv["ansible_user"] = user
        identity = (
            _filled(values, getattr(host, "identity", None), f"identity of host {name}")
            if host
            else None
        )
        if identity:
            hv["ansible_ssh_private_key_file"] = os.path.expanduser(identity)
        elif client_keys:
            hv["ansible_ssh_private_key_file"] = os.path.expanduser(client_keys[0])
        own_known = (
            _filled(values, getattr(host, "known_hosts", None), f"known_hosts of host {name}")
            if host
            else None
        )
        kh = os.path.expanduser(own_known or known_hosts or "~/.ssh/known_hosts")
        args = [
            "-o",
            f"UserKnownHostsFile={kh}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
        ]
        for cfg in ssh_config or []:
            args += ["-F", os.path.expanduser(cfg)]
        jump = (
            _filled(values, getattr(host, "proxy_jump", None), f"proxy_jump of host {name}")
            if host
            else None
        )
        if jump:
            args += ["-o", f"ProxyJump={_jump_spec(hosts, values, jump)}"]
        hv["ansible_ssh_common_args"] = shlex.join(args)
        inv_hosts[name] = hv
    inventory: dict[str, Any] = {"all": {"hosts": inv_hosts}}
    if spec is not None and spec.members:
        inventory["all"]["children"] = {group: {"hosts": {m: {} for m in members}}}
    return inventory


def _jump_spec(hosts: dict[str, Any], values: Values, jump: str) -> str:
    """``ssh -J`` syntax for a jump chain whose hops may be checklist hosts."""
    hops = []
    for hop in jump.split(","):
        hop = hop.strip()
        host = hosts.get(hop)
        if host is None:
            hops.append(hop)
            continue
        address = _filled(values, host.address, f"address of host {hop}") or hop
        user = _filled(values, host.user, f"user of host {hop}")
        port = _filled(values, host.port, f"port of host {hop}") if host.port is not None else None
        hops.append(f"{user + '@' if user else ''}{address}{':' + port if port else ''}")
    return ",".join(hops)


# -- per-host results ----------------------------------------------------------------------------


@dataclass
class HostResult:
    host: str
    tasks: int = 0
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    message: str = ""
    exit_status: int | None = None
    started: float = 0.0
    ended: float = 0.0

    @property
    def result(self) -> str:
        if self.unreachable:
            return "unreachable"
        if self.failed:
            return "failed"
        return "changed" if self.changed else "ok"

    @property
    def passed(self) -> bool:
        return not (self.failed or self.unreachable)


@dataclass
class _Collected:
    hosts: dict[str, HostResult] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def host(self, name: str) -> HostResult:
        if name not in self.hosts:
            self.hosts[name] = HostResult(name, started=time.monotonic())
            self.order.append(name)
        return self.hosts[name]


_TASK_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
    "runner_item_on_failed": None,  # the loop's summary event follows
}


def _result_message(res: dict[str, Any]) -> str:
    msg = res.get("msg") or res.get("stderr") or res.get("stdout") or ""
    if not isinstance(msg, str):
        msg = json.dumps(msg)[:300]
    line = next((part for part in msg.strip().splitlines() if part.strip()), "")
    return line[:300]


# -- the executor --------------------------------------------------------------------------------


class AnsibleExecutor(Automatic):
    kind: ClassVar[str] = "ansible"

    def describe(self, step: Any, values: Values) -> str:
        target = step.host or "all"
        where = f"{target} ({step.inventory})" if step.inventory else target
        hosts = values.checklist.hosts.get(step.host) if step.host else None
        if hosts is not None and hosts.members and not step.inventory:
            where = f"{step.host} ({', '.join(hosts.members)})"
        if step.playbook:
            what = f"ansible-playbook {values.display_text(keep_jinja(step.playbook))}"
        else:
            args = (
                f" -a {shlex.quote(values.display_command(keep_jinja(step.args)))}"
                if step.args
                else ""
            )
            what = f"ansible -m {step.module}{args}"
        batches = f" serial={step.serial}" if getattr(step, "serial", None) is not None else ""
        return f"{where}$ {what}{batches}"

    async def execute(self, ctx: StepContext) -> Outcome:
        try:
            runner_mod = _runner_module()
        except AnsibleMissing as exc:
            return Outcome(False, str(exc))
        step = ctx.step
        values = ctx.values
        try:
            job = self._job(ctx)
        except (ValueError, template.MissingValue) as exc:
            return Outcome(False, values.redactor(str(exc)))
        from iact_tui.engine.checklist.rollout import FailBudget, plan_batches

        hosts = job.hosts
        batches = plan_batches(hosts, getattr(step, "serial", None)) if hosts else [[]]
        budget = FailBudget(len(hosts), getattr(step, "max_fail", None))
        collected = _Collected()
        failure = ""
        try:
            for index, batch in enumerate(batches):
                failure = await self._run_once(ctx, runner_mod, job, batch, index, collected)
                if failure:
                    break
                results = {h: collected.hosts[h].passed for h in batch if h in collected.hosts}
                if budget.add(results) and index < len(batches) - 1:
                    ctx.log.line(
                        f"--- rollout stopped after batch {index + 1}: {budget.describe()}"
                    )
                    break
        finally:
            job.cleanup()
        per_host = {name: r.result for name, r in collected.hosts.items()}
        evidence = {"hosts": per_host} if per_host else {}
        if failure:
            return Outcome(False, failure, evidence=evidence)
        failed = [r for r in collected.hosts.values() if not r.passed]
        unseen = [h for h in hosts if h not in collected.hosts]
        if not collected.hosts and hosts:
            return Outcome(
                False,
                f"ansible reported no host result (hosts: {', '.join(hosts)})",
                exit_status=job.rc,
                evidence=evidence,
            )
        if failed and budget.exhausted:
            message = "; ".join(
                f"on {r.host}: {r.result}" + (f": {r.message}" if r.message else "") for r in failed
            )
            return Outcome(
                False, values.redactor(message), exit_status=job.rc or 2, evidence=evidence
            )
        if unseen and not failed:
            return Outcome(
                False,
                f"ansible did not reach {', '.join(unseen)}",
                exit_status=job.rc,
                evidence=evidence,
            )
        warning = ""
        if failed:
            warning = (
                f"{len(failed)} host(s) failed within max_fail: {', '.join(r.host for r in failed)}"
            )
        return Outcome(True, exit_status=0, evidence=evidence, warning=warning)

    # -- one ansible-runner invocation ---------------------------------------------------------

    def _job(self, ctx: StepContext) -> _Job:
        step = ctx.step
        values = ctx.values
        pool = getattr(ctx.services, "ssh", None)
        base = Path(tempfile.mkdtemp(prefix="iact-ansible-"))
        os.chmod(base, 0o700)
        job = _Job(base)
        try:
            if step.inventory:
                inventory_path = _filled(values, step.inventory, "inventory")
                assert inventory_path is not None
                job.inventory = str(Path(os.path.expanduser(inventory_path)).resolve())
                job.hosts = _inventory_hosts(job.inventory, step.host or "all")
                job.pattern = step.host or "all"
            else:
                inventory = build_inventory(
                    values.checklist.hosts,
                    step.host,
                    values,
                    known_hosts=getattr(pool, "known_hosts", None),
                    ssh_config=getattr(pool, "ssh_config", None),
                    client_keys=getattr(pool, "client_keys", None),
                )
                path = base / "inventory.json"
                path.write_text(json.dumps(inventory))
                job.inventory = str(path)
                job.hosts = list(inventory["all"]["hosts"])
                job.pattern = step.host
            if step.playbook:
                playbook = _filled(values, step.playbook, "playbook")
                assert playbook is not None
                path_ = Path(os.path.expanduser(playbook))
                if not path_.is_absolute():
                    path_ = _checklist_dir(ctx) / path_
                if not path_.is_file():
                    raise ValueError(f"the playbook {values.redactor(str(path_))} does not exist")
                job.playbook = str(path_.resolve())
            else:
                job.module = step.module
                job.module_args = _filled(values, step.args, "args", quoted=True) or ""
            extra = {k: v for k, v in values.values.items() if _is_var_name(k)}
            for name, text in (step.extra_vars or {}).items():
                extra[name] = _filled(values, text, f"extra var {name}") or ""
            job.extravars = extra
            job.forks = step.forks or DEFAULT_FORKS
            job.become = bool(step.sudo)
            job.timeout = step.timeout
        except Exception:
            job.cleanup()
            raise
        return job

    async def _run_once(
        self,
        ctx: StepContext,
        runner_mod: Any,
        job: _Job,
        batch: list[str],
        index: int,
        collected: _Collected,
    ) -> str:
        """Run ansible on one batch; '' or the sentence of a failure of ansible itself."""
        loop = asyncio.get_running_loop()
        out = ctx.output()
        stop = threading.Event()
        host_logs: dict[str, Any] = {}
        opened = getattr(ctx, "host_log", None)
        started = getattr(ctx, "host_started", None)
        finished = getattr(ctx, "host_finished", None)

        def on_event(event: dict[str, Any]) -> None:  # in the main loop
            kind = event.get("event", "")
            data = event.get("event_data") or {}
            host = data.get("host") or ""
            text = event.get("stdout") or ""
            if host and host not in collected.hosts and kind.startswith("runner_on"):
                collected.host(host)
                if started is not None:
                    started(host, batch=index)
                if opened is not None:
                    host_logs[host] = opened(host)
            if text:
                out.feed_text(text.rstrip("\n") + "\n")
                if host in host_logs:
                    host_logs[host].write(text.rstrip("\n") + "\n")
            if kind in _TASK_EVENTS and _TASK_EVENTS[kind] is not None and host:
                r = collected.host(host)
                res = data.get("res") or {}
                word = _TASK_EVENTS[kind]
                r.tasks += 1
                if word == "ok":
                    r.ok += 1
                    if res.get("changed"):
                        r.changed += 1
                elif word == "failed":
                    if data.get("ignore_errors"):
                        r.ok += 1
                    else:
                        r.failed += 1
                        r.message = ctx.values.redactor(_result_message(res))
                        if isinstance(res.get("rc"), int):
                            r.exit_status = res["rc"]
                elif word == "unreachable":
                    r.unreachable += 1
                    r.message = ctx.values.redactor(_result_message(res))
                elif word == "skipped":
                    r.skipped += 1
                r.ended = time.monotonic()
                if isinstance(res.get("rc"), int) and r.exit_status is None:
                    r.exit_status = res["rc"]

        def event_handler(event: dict[str, Any]) -> bool:  # in ansible-runner's thread
            loop.call_soon_threadsafe(on_event, event)
            return False  # ansible-runner need not keep it on disk

        kwargs = job.runner_kwargs(batch)
        kwargs.update(event_handler=event_handler, cancel_callback=stop.is_set, quiet=True)
        task = asyncio.ensure_future(asyncio.to_thread(runner_mod.run, **kwargs))
        timed_out = False
        try:
            async with asyncio.timeout(job.timeout):
                runner = await asyncio.shield(task)
        except TimeoutError:
            timed_out = True
            stop.set()
            runner = await _bounded(task)
        except asyncio.CancelledError:
            stop.set()
            with contextlib.suppress(BaseException):
                await asyncio.shield(_bounded(task))
            job.close_masters()
            _finish(ctx, collected, batch, finished, host_logs, out, "cancelled")
            raise
        await asyncio.sleep(0)  # the last events posted by the thread
        job.rc = getattr(runner, "rc", None)
        _finish(ctx, collected, batch, finished, host_logs, out, "timeout" if timed_out else "")
        if timed_out:
            job.close_masters()
            return f"ansible did not finish within {job.timeout:g} s and was stopped (with its workers)"
        status = getattr(runner, "status", "")
        if status in ("failed", "successful") or collected.hosts:
            return ""
        return (
            f"ansible did not run ({status or 'no status'}, exit status {job.rc}); see the step log"
        )


async def _bounded(task: asyncio.Future[Any]) -> Any:
    try:
        async with asyncio.timeout(STOP_WAIT):
            return await asyncio.shield(task)
    except TimeoutError:
        return None


def _finish(
    ctx: Any,
    collected: _Collected,
    batch: list[str],
    finished: Callable[..., None] | None,
    host_logs: dict[str, Any],
    out: Any,
    stopped: str,
) -> None:
    out.close()
    for host in batch:
        r = collected.hosts.get(host)
        if r is None:
            continue
        if stopped and r.passed:
            r.failed += 1
            r.message = "cancelled" if stopped == "cancelled" else "ansible was stopped (timeout)"
        if finished is not None:
            finished(
                host,
                ok=r.passed,
                result=r.result,
                changed=bool(r.changed),
                message=r.message,
                exit_status=r.exit_status,
                duration=round(max(0.0, (r.ended or time.monotonic()) - r.started), 3),
                log=host_logs.get(host),
            )
        elif host in host_logs:
            host_logs[host].close()


@dataclass
class _Job:
    base: Path
    inventory: str = ""
    pattern: str = "all"
    hosts: list[str] = field(default_factory=list)
    playbook: str = ""
    module: str = ""
    module_args: str = ""
    extravars: dict[str, Any] = field(default_factory=dict)
    forks: int = DEFAULT_FORKS
    become: bool = False
    timeout: float | None = None
    rc: int | None = None

    @property
    def control_dir(self) -> Path:
        path = self.base / "cp"
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def runner_kwargs(self, batch: list[str]) -> dict[str, Any]:
        data = self.base / "data"
        (data / "env").mkdir(parents=True, exist_ok=True, mode=0o700)
        # extra vars in a file only the operator can read, never on a command line
        extra = data / "env" / "extravars"
        fd = os.open(extra, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.extravars, f)
        envvars = {
            "PATH": _path_with_ansible(),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control_dir),
            "ANSIBLE_LOCAL_TEMP": str(self.base / "tmp"),
            "ANSIBLE_HOME": str(self.base / "home"),
            "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
            "ANSIBLE_SYSTEM_WARNINGS": "False",
        }
        kwargs: dict[str, Any] = {
            "private_data_dir": str(data),
            "inventory": self.inventory,
            "envvars": envvars,
            "forks": self.forks,
            "settings": {"pexpect_timeout": CANCEL_POLL, "suppress_ansible_output": True},
            "suppress_env_files": False,
            "rotate_artifacts": 1,
        }
        limit = ",".join(batch) if batch else None
        cmdline = ["--become"] if self.become else []
        if self.playbook:
            kwargs["playbook"] = os.path.basename(self.playbook)
            kwargs["project_dir"] = os.path.dirname(self.playbook)
            if limit:
                kwargs["limit"] = limit
        else:
            kwargs["module"] = self.module
            kwargs["module_args"] = self.module_args
            kwargs["host_pattern"] = limit or self.pattern
        if cmdline:
            kwargs["cmdline"] = " ".join(cmdline)
        return kwargs

    def close_masters(self) -> None:
        """Stop the SSH ControlMaster processes ansible left for reuse (bounded)."""
        for sock in glob.glob(str(self.base / "cp" / "*")):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"],
                    capture_output=True,
                    timeout=5,
                    check=False,
                )

    def cleanup(self) -> None:
        self.close_masters()
        shutil.rmtree(self.base, ignore_errors=True)


def _inventory_hosts(path: str, pattern: str) -> list[str]:
    """The hosts a pattern selects in an inventory file (``ansible-inventory --list``)."""
    if not os.path.exists(path):
        raise ValueError(f"the inventory {path} does not exist")
    try:
        proc = subprocess.run(
            [ansible_bin("ansible-inventory") or "ansible-inventory", "-i", path, "--list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ValueError(f"could not read the inventory {path}: {exc}") from None
    if proc.returncode != 0:
        raise ValueError(f"could not read the inventory {path}: {proc.stderr.strip()[:300]}")
    data = json.loads(proc.stdout or "{}")

    def members(group: str, seen: set[str]) -> list[str]:
        if group in seen:
            return []
        seen.add(group)
        entry = data.get(group) or {}
        out = list(entry.get("hosts", []))
        for child in entry.get("children", []):
            out += members(child, seen)
        return out

    every = list(
        dict.fromkeys(members("all", set()) + list((data.get("_meta") or {}).get("hostvars", {})))
    )
    if pattern in ("all", "*"):
        return every
    if pattern in data:
        return list(dict.fromkeys(members(pattern, set())))
    return [h for h in every if h == pattern]


def _checklist_dir(ctx: Any) -> Path:
    folder = getattr(ctx, "checklist_dir", None)
    return Path(folder) if folder else Path.cwd()


def _is_var_name(name: str) -> bool:
    return name.isidentifier() and not name.startswith("ansible_")


__all__ = ["AnsibleExecutor", "AnsibleMissing", "HostResult", "build_inventory"]
