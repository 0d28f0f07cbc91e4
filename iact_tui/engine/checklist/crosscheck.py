"""Cross-references of a well-shaped checklist: names and ids that must exist (variables,
captures and where they are known, hosts, roles, alternatives, steps), and values that every run
would refuse. Errors and warnings are ``Problem``s with the line where each can be found."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.locator import Loc, Locator
from iact_tui.engine.checklist.model import (
    BUILTIN_VARS,
    Alternative,
    Checklist,
    CommandStep,
    Host,
    HttpStep,
    ManualStep,
    Phase,
    SshStep,
)
from iact_tui.engine.checklist.problems import Problem, _sorted, did_you_mean, format_path
from iact_tui.engine.checklist.prose import check_prose


@dataclass
class _Capture:
    step: str
    phase: str
    alternative: str | None
    rollback: bool
    order: int  # position of the step in the file


def _captures_of(step: Any) -> list[str]:
    return [
        *(getattr(step, "capture", None) or {}),
        *(getattr(step, "capture_json", None) or {}),
        *(getattr(step, "capture_run", None) or {}),
    ]


class CrossCheck:
    """Names and ids that must exist: variables, captures, hosts, roles, alternatives, steps."""

    def __init__(
        self, checklist: Checklist, filename: str, locator: Locator, *, pinned: bool = False
    ) -> None:
        self.c = checklist
        self.pinned = pinned  # a started run's checklist: its approvers files are not read again
        self.filename = filename
        self.locator = locator
        self.problems: list[Problem] = []
        self.base_names = set(checklist.vars) | set(BUILTIN_VARS)
        self.used_vars: set[str] = set()
        self.captures: dict[str, list[_Capture]] = {}
        self.step_order: dict[str, int] = {}

    def problem(self, loc: Loc, message: str, hint: str = "", warning: bool = False) -> None:
        self.problems.append(
            Problem(
                self.filename, format_path(loc), message, self.locator.line_of(loc), hint, warning
            )
        )

    def run(self) -> list[Problem]:
        self._collect_captures()
        self._vars()
        self._hosts()
        self._roles()
        self._phases()
        self._troubleshooting_and_summary()
        self._unused_vars()
        self._builtin_shadows()
        self._host_cycles()
        self._exit_codes()
        self._unsafe_defaults()
        self._secret_defaults()
        check_prose(self.c, self.problem, self._step_loc)  # stale prose (prose.py)
        return _sorted(self.problems)

    # -- the parts -----------------------------------------------------------------------------

    def _collect_captures(self) -> None:
        for order, (phase, alt, step) in enumerate(self.c.iter_steps()):
            self.step_order.setdefault(step.id, order)
            for name in _captures_of(step):
                cap = _Capture(step.id, phase.id, alt.id if alt else None, phase.rollback, order)
                self.captures.setdefault(name, []).append(cap)

    def _vars(self) -> None:
        for name, var in self.c.vars.items():
            loc: Loc = ("vars", name)
            if (
                var.choices is not None
                and var.default is not None
                and str(var.default) not in var.choices
            ):
                self.problem(
                    (*loc, "default"),
                    f"default {var.default!r} is not one of the choices",
                    did_you_mean(str(var.default), var.choices),
                )
        for name in self.captures:
            spec = self.c.vars.get(name)
            first = self.captures[name][0].step
            loc = (*self._step_loc(first), "capture")
            if name in BUILTIN_VARS:
                self.problem(
                    loc,
                    f"capture '{name}' has the name of a built-in variable",
                    "choose another name; built-ins are " + ", ".join(BUILTIN_VARS),
                )
            elif spec is not None and spec.command:
                self.problem(
                    loc,
                    f"capture '{name}' would fill the command variable '{name}', "
                    "which is inserted unquoted; a captured value must never run as a command",
                    "capture into another name",
                )

    def _hosts(self) -> None:
        all_captures = set(self.captures)
        known = self.base_names | all_captures
        for name, host in self.c.hosts.items():
            loc: Loc = ("hosts", name)
            for member in host.members or []:
                if member not in self.c.hosts:
                    self.problem(
                        (*loc, "members"),
                        f"unknown host '{member}'",
                        did_you_mean(member, self.c.hosts),
                    )
                elif member == name:
                    self.problem((*loc, "members"), f"host group '{name}' names itself")
            for fname in Host.templated:
                value = getattr(host, fname)
                for ref in template.names_in(value) if isinstance(value, str) else []:
                    self.used_vars.add(ref)
                    if ref not in known:
                        self.problem(
                            (*loc, fname),
                            f"unknown variable '{{{ref}}}'",
                            did_you_mean(ref, known) or f"declare [vars.{ref}]",
                        )

    def _roles(self) -> None:
        roles = self.c.checklist.roles
        for role in self.c.checklist.responsibilities:
            if role not in roles:
                self.problem(
                    ("checklist", "responsibilities", role),
                    f"unknown role '{role}'",
                    did_you_mean(role, roles) or "add it to roles",
                )
        for role, file in self.c.checklist.approvers.items():
            if role not in roles:
                self.problem(
                    ("checklist", "approvers", role),
                    f"unknown role '{role}'",
                    did_you_mean(role, roles) or "add it to roles",
                )
                continue
            self._approvers_file(role, file)

    def _approvers_file(self, role: str, file: str) -> None:
        """A role's allowed_signers file must be there and usable (read again when a run starts)."""
        from pathlib import Path

        from iact_tui.engine.checklist.approvers import ApproversError, pin_approvers

        path = Path(self.filename)
        if self.pinned or not path.is_file():
            return  # a run's (pinned at its start), or one given as text: checked when a run starts
        try:
            pin_approvers({role: file}, path)
        except ApproversError as exc:
            self.problem(
                ("checklist", "approvers", role),
                str(exc).removeprefix(f"[checklist.approvers] {role}: "),
                "an OpenSSH allowed_signers file: one line per person, "
                'e.g. bea@example.com namespaces="iact-tui-approval" ssh-ed25519 AAAA…',
            )

    def _phases(self) -> None:
        c = self.c
        if not any(not p.rollback for p in c.phases):
            self.problem(
                ("phases",),
                "every phase is a rollback phase: nothing would run",
                "a rollback phase runs only after a forward step fails",
            )
        has_rollback = any(p.rollback for p in c.phases)
        forward_captures = {
            n for n, caps in self.captures.items() if any(not x.rollback for x in caps)
        }
        seen_phases: dict[str, int] = {}
        seen_steps: dict[str, Loc] = {}
        known_forward: set[str] = set()  # captures known after the forward phases so far
        known_rollback: set[str] = set()
        for pi, phase in enumerate(c.phases):
            ploc: Loc = ("phases", pi)
            if phase.id in seen_phases:
                self.problem(
                    (*ploc, "id"),
                    f"duplicate phase id '{phase.id}' (first at phases[{seen_phases[phase.id]}])",
                    "phase ids are unique: --choose and the report name phases by id",
                )
            seen_phases.setdefault(phase.id, pi)
            self._alternatives(phase, ploc)
            start = self.base_names | (
                forward_captures | known_rollback if phase.rollback else known_forward
            )
            made: list[set[str]] = []
            groups: list[tuple[Loc, Alternative | None, list[Any]]]
            if phase.alternatives:
                groups = [
                    ((*ploc, "alternatives", ai), alt, list(alt.steps))
                    for ai, alt in enumerate(phase.alternatives)
                ]
            else:
                groups = [(ploc, None, list(phase.steps))]
            for gloc, alt, steps in groups:
                known = set(start)
                for si, step in enumerate(steps):
                    sloc: Loc = (*gloc, "steps", si)
                    if step.id in seen_steps:
                        self.problem(
                            (*sloc, "id"),
                            f"duplicate step id '{step.id}' (first at {format_path(seen_steps[step.id])})",
                            "step ids are unique in the whole checklist: `tick` names steps by id",
                        )
                    else:
                        seen_steps[step.id] = sloc
                    self._step(step, sloc, known, alt, has_rollback)
                    known |= set(_captures_of(step))
                made.append(known - start)
            # After a choice between alternatives only what every alternative captures is sure.
            new = set.intersection(*made) if made else set()
            if phase.rollback:
                known_rollback |= new
            else:
                known_forward |= new

    def _alternatives(self, phase: Phase, ploc: Loc) -> None:
        ids = [a.id for a in phase.alternatives]
        for ai, alt_id in enumerate(ids):
            if alt_id in ids[:ai]:
                self.problem(
                    (*ploc, "alternatives", ai, "id"), f"duplicate alternative id '{alt_id}'"
                )
        for d in phase.defaults:
            if phase.alternatives and d not in ids:
                self.problem(
                    (*ploc, "default"),
                    f"unknown alternative '{d}'",
                    did_you_mean(d, ids) or "the alternatives are " + ", ".join(ids),
                )
        if phase.default is not None and not phase.alternatives:
            self.problem((*ploc, "default"), "'default' only applies to a phase with alternatives")
        if phase.multiple and not phase.alternatives:
            self.problem(
                (*ploc, "multiple"), "'multiple' only applies to a phase with alternatives"
            )

    def _step(
        self, step: Any, sloc: Loc, known: set[str], alt: Alternative | None, has_rollback: bool
    ) -> None:
        for fname in type(step).templated:
            value = getattr(step, fname, None)
            if value in (None, "", {}, []):
                continue
            key = "json" if fname == "json_body" else fname
            # The artifact is looked at after the command, so it may name the step's own captures.
            names_here = known | set(_captures_of(step)) if fname == "artifact" else known
            for name in template.names_in(value):
                self._use(name, step, (*sloc, key), names_here)
        if step.when is not None:
            self._use(step.when, step, (*sloc, "when"), known, placeholder=False)
        for name in step.unless_names:
            self._use(name, step, (*sloc, "unless"), known, placeholder=False)
        self._service_keys(step, sloc)
        needs_host = (
            isinstance(step, SshStep)
            or (step.kind == "ansible" and not step.inventory)
            or (isinstance(step, HttpStep) and step.host is not None)
        )
        if needs_host and step.host not in self.c.hosts:
            self.problem(
                (*sloc, "host"),
                f"unknown host '{step.host}'",
                did_you_mean(step.host, self.c.hosts) or f"declare [hosts.{step.host}]",
            )
        if isinstance(step, HttpStep) and step.host is None:
            self._hostless_http(step, sloc)
        if isinstance(step, CommandStep):
            for text in quoted_placeholders(step.run):
                self.problem(
                    (*sloc, "run"),
                    f"'{text}' is inside quotes: values are shell-quoted already, and quoting them again breaks values with spaces or quotes",
                    "write the placeholder without quotes around it",
                    warning=True,
                )
        if (
            isinstance(step, ManualStep)
            and step.role is not None
            and step.role not in self.c.checklist.roles
        ):
            roles = self.c.checklist.roles
            self.problem(
                (*sloc, "role"),
                f"unknown role '{step.role}'",
                did_you_mean(step.role, roles)
                or (
                    "the roles are " + ", ".join(roles)
                    if roles
                    else "declare roles = [...] in [checklist]"
                ),
            )
        if step.on_failure == "rollback" and not has_rollback:
            self.problem(
                (*sloc, "on_failure"),
                "on_failure = 'rollback' but the checklist has no rollback phase",
                "add a [[phases]] table with rollback = true",
            )

    def _hostless_http(self, step: HttpStep, sloc: Loc) -> None:
        """``{host}``, ``{host_address}``, ``serial`` … belong to an http step that names a host."""
        for key in ("url", "headers", "json", "body"):
            value = getattr(step, "json_body" if key == "json" else key, None)
            used = [n for n in template.names_in(value) if n in ("host", "host_address")]
            if value not in (None, "", {}) and used:
                self.problem(
                    (*sloc, key),
                    f"'{{{used[0]}}}' is the host an http step checks, and this step names none",
                    'add host = "NAME" (a [hosts] host or group: one request per member)',
                )
        for key in ("serial", "max_fail", "once"):
            if getattr(step, key) not in (None, False):
                self.problem(
                    (*sloc, key),
                    f"'{key}' applies to an http step on a host group, and this step names no host",
                    'add host = "GROUP", or remove it',
                )

    def _service_keys(self, step: Any, sloc: Loc) -> None:
        """Tokens only from secret variables, URLs that are URLs, no secret in a team notice."""
        token = getattr(step, "token", None)
        if isinstance(token, str) and token.strip():
            literal = template.render(token, lambda _name: "").strip()
            secret = self.c.secret_names()
            known = set(self.c.vars) | set(BUILTIN_VARS) | set(self.captures)
            not_secret = [n for n in template.names(token) if n in known and n not in secret]
            if literal or not_secret:
                if not_secret:
                    what = f"'{{{not_secret[0]}}}' is not a secret variable"
                else:
                    what = "it is written in the checklist"
                example = "github_token" if step.kind.startswith("github") else "jenkins_token"
                self.problem(
                    (*sloc, "token"),
                    f"a token must come from a secret variable: {what}",
                    f'write token = "{{{example}}}" and declare [vars.{example}] with '
                    "secret = true (and env = ... to read it from the environment)",
                )
        for key in ("api_url", "url"):
            value = getattr(step, key, None)
            if (
                step.kind != "http"
                and isinstance(value, str)
                and value
                and not template.names(value)
                and not re.match(r"https?://[^/\s]+", value)
            ):
                self.problem(
                    (*sloc, key),
                    f"'{value}' is not an http:// or https:// URL",
                    "write the service's base URL, e.g. https://api.github.com",
                )
        repo = getattr(step, "repo", None)
        if (
            step.kind.startswith("github")
            and isinstance(repo, str)
            and not template.names(repo)
            and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo)
        ):
            self.problem(
                (*sloc, "repo"),
                f"'{repo}' is not a GitHub repository name",
                "write it as owner/name, e.g. iact-org/iact-project",
            )
        if step.kind == "notify":
            secrets = [n for n in template.names(step.message) if n in self.c.secret_names()]
            if secrets:
                self.problem(
                    (*sloc, "message"),
                    f"a team notice must not contain the secret '{{{secrets[0]}}}'",
                    "the message is posted to a channel; leave the secret out",
                )

    def _use(
        self, name: str, step: Any, loc: Loc, known: set[str], placeholder: bool = True
    ) -> None:
        if name in self.c.vars:
            self.used_vars.add(name)
        if name in known:
            return
        shown = f"{{{name}}}" if placeholder else name
        caps = self.captures.get(name, [])
        here = self.step_order.get(step.id, 0)
        phase, _ = self.c.phase_of(step.id)
        forward = [cap for cap in caps if not cap.rollback]
        if any(cap.step == step.id for cap in caps):
            message = (
                f"'{shown}' is captured by this same step; a capture is known only after its step"
            )
            hint = "use it in a later step"
        elif caps and not forward and not phase.rollback:
            message = f"'{shown}' is captured only by rollback step '{caps[0].step}'"
            hint = "forward steps cannot use captures of rollback steps"
        elif alts := [c for c in caps if c.alternative and (c.phase == phase.id or c.order < here)]:
            where = ", ".join(sorted({f"'{c.alternative}' of phase '{c.phase}'" for c in alts}))
            message = f"'{shown}' is captured only in alternative {where}, so it may not exist here"
            hint = "capture it in every alternative of that phase, or use it inside that alternative only"
        elif later := [c for c in caps if c.order > here]:
            message = f"'{shown}' is captured by step '{later[0].step}', which comes later"
            hint = "a capture is known only after the step that captures it"
        else:
            message = f"unknown variable or capture '{shown}'"
            hint = (
                did_you_mean(name, known)
                or f"declare [vars.{name}] or capture it in an earlier step"
            )
        self.problem(loc, message, hint)

    def _troubleshooting_and_summary(self) -> None:
        ids = self.c.step_ids
        known = set(ids)
        seen: set[str] = set()
        for ti, t in enumerate(self.c.troubleshooting):
            if t.id in seen:
                self.problem(
                    ("troubleshooting", ti, "id"), f"duplicate troubleshooting id '{t.id}'"
                )
            seen.add(t.id)
            for sid in t.steps or []:
                if sid not in known:
                    self.problem(
                        ("troubleshooting", ti, "steps"),
                        f"unknown step '{sid}'",
                        did_you_mean(sid, ids),
                    )
        for si, section in enumerate(self.c.summary):
            for ii, item in enumerate(section.items):
                for sid in item.steps:
                    if sid not in known:
                        self.problem(
                            ("summary", si, "items", ii, "steps"),
                            f"unknown step '{sid}'",
                            did_you_mean(sid, ids),
                        )

    def _unused_vars(self) -> None:
        for name in self.c.vars:
            if name not in self.used_vars and name not in self.captures:
                self.problem(
                    ("vars", name),
                    f"variable '{name}' is never used",
                    "remove it, or use it as {" + name + "}",
                    warning=True,
                )

    def _builtin_shadows(self) -> None:
        """A variable named like a built-in would be silently replaced by iact-tui's value."""
        for name in self.c.vars:
            if name in BUILTIN_VARS:
                self.problem(
                    ("vars", name),
                    f"variable '{name}' has the name of a built-in ({BUILTIN_VARS[name]}), "
                    "which iact-tui sets itself",
                    "rename the variable; the built-ins are " + ", ".join(BUILTIN_VARS),
                )

    def _host_cycles(self) -> None:
        """Host groups: a member is a single host; a group inside a group (or a circle of
        groups) is refused, since a step on a group runs on its members as single hosts."""
        hosts = self.c.hosts
        circles: set[frozenset[str]] = set()
        for name, host in hosts.items():
            for member in host.members or []:
                inner = hosts.get(member)
                if member == name or inner is None or not inner.members:
                    continue
                cycle = self._group_cycle(name)
                if cycle and frozenset(cycle) in circles:
                    break  # that circle is reported once, at its first group
                if cycle:
                    circles.add(frozenset(cycle))
                    message = "circular host groups: " + " -> ".join(cycle)
                    hint = "a group's members are single hosts; remove the group from the members"
                else:
                    message = f"member '{member}' is itself a host group; groups are not nested"
                    hint = f"list the hosts of '{member}' in the members of '{name}' instead"
                self.problem(("hosts", name, "members"), message, hint)

    def _group_cycle(self, start: str) -> list[str]:
        """The names along a circle of host groups through ``start`` (empty when there is none)."""
        hosts = self.c.hosts
        path = [start]
        stack: list[tuple[str, list[str]]] = [(start, list(hosts[start].members or []))]
        seen: set[str] = set()
        while stack:  # depth-first, each host at most once: bounded by the number of hosts
            _node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                continue
            member = todo.pop(0)
            if member == start:
                return [*path, start]
            inner = hosts.get(member)
            if member in seen or inner is None or not inner.members:
                continue
            seen.add(member)
            path.append(member)
            stack.append((member, list(inner.members)))
        return []

    def _exit_codes(self) -> None:
        """An exit status is 0 to 255: a command can never end with another."""
        for _phase, _alt, step in self.c.iter_steps():
            if not isinstance(step, CommandStep):
                continue
            codes = step.exit_codes
            for i, code in enumerate(codes):
                if not 0 <= code <= 255:
                    loc = (*self._step_loc(step.id), "expect_exit")
                    if isinstance(step.expect_exit, list):
                        loc = (*loc, i)
                    self.problem(
                        loc,
                        f"expect_exit {code} is out of range: an exit status is 0 to 255",
                        "a command killed by a signal N ends with 128 + N, e.g. 143 for SIGTERM",
                    )

    def _secret_defaults(self) -> None:
        """A secret's value is never written anywhere, but a default is part of the checklist,
        which is pinned into every run folder and export bundle. An empty default ("not set")
        gives nothing away and is allowed."""
        for name, var in self.c.vars.items():
            if var.secret and var.default is not None and str(var.default) != "":
                self.problem(
                    ("vars", name, "default"),
                    f"the secret '{name}' has a default: it would be copied, unmasked, into the "
                    "checklist pinned in every run folder and every export",
                    f'remove the default; give the value with env = "..." in [vars.{name}], '
                    f"--var {name}=..., or at the prompt",
                )

    def _unsafe_defaults(self) -> None:
        """Defaults that every run would refuse at start (values.injection_problems): a value
        starting with '-' in a command, a line break in an HTTP header."""
        reported: set[str] = set()
        for _phase, _alt, step in self.c.iter_steps():
            sloc = self._step_loc(step.id)
            if isinstance(step, CommandStep):
                for name in template.names(step.run):
                    spec = self.c.vars.get(name)
                    if spec is None or spec.option or spec.command or name in reported:
                        continue
                    default = spec.default
                    if (
                        default is not None
                        and not isinstance(default, bool)
                        and str(default).startswith("-")
                    ):
                        reported.add(name)
                        self.problem(
                            ("vars", name, "default"),
                            f"the default of '{name}' starts with '-' and fills the command of "
                            f"step '{step.id}', where it could be taken as an option; such a "
                            "value is refused when a run starts",
                            f"declare option = true in [vars.{name}] if it may be an option",
                        )
            headers = getattr(step, "headers", None)
            if step.kind != "http" or not isinstance(headers, dict):
                continue
            for key, text in headers.items():
                if any(ch in f"{key}{text}" for ch in "\r\n"):
                    self.problem(
                        (*sloc, "headers", key),
                        f"header {key!r} has a line break (CR or LF): it would add or "
                        "split HTTP headers",
                        "write the header on one line",
                    )
                for name in template.names(f"{key} {text}"):
                    spec = self.c.vars.get(name)
                    default = spec.default if spec is not None else None
                    if name in reported:
                        continue
                    if isinstance(default, str) and ("\r" in default or "\n" in default):
                        reported.add(name)
                        self.problem(
                            ("vars", name, "default"),
                            f"the default of '{name}' has a line break and fills header "
                            f"{key.strip()!r} of step '{step.id}'",
                            "remove the line break",
                        )

    def _step_loc(self, step_id: str) -> Loc:
        for pi, phase in enumerate(self.c.phases):
            for si, s in enumerate(phase.steps):
                if s.id == step_id:
                    return ("phases", pi, "steps", si)
            for ai, alt in enumerate(phase.alternatives):
                for si, s in enumerate(alt.steps):
                    if s.id == step_id:
                        return ("phases", pi, "alternatives", ai, "steps", si)
        return ()


# -- placeholders inside shell quotes ---------------------------------------------------------


def quoted_placeholders(command: str) -> list[str]:
    """Placeholders written inside '...' or "..." in a shell command.

    Such a value would be quoted twice (``"{dir}"`` becomes ``"'my dir'"``), so the loader warns.
    Follows the shell's quoting: ``$( ... )`` inside double quotes starts an unquoted context
    again; a ``#`` that begins a word starts a comment.
    """
    tokens = {m.start(): m for m in template._TOKEN.finditer(command)}
    found: list[str] = []
    stack = ["u"]  # u: unquoted, s: $( ... ), ': single quotes, ": double quotes
    i, n = 0, len(command)
    while i < n:
        top = stack[-1]
        token = tokens.get(i)
        if token is not None:
            if token.group(1) and top in ("'", '"'):
                found.append(token.group(0))
            i = token.end()
            continue
        c = command[i]
        if top == "'":
            if c == "'":
                stack.pop()
        elif top == '"':
            if c == "\\":
                i += 2
                continue
            if c == '"':
                stack.pop()
            elif command.startswith("$(", i):
                stack.append("s")
                i += 2
                continue
        else:
            if c == "\\":
                i += 2
                continue
            if c in ("'", '"'):
                stack.append(c)
            elif command.startswith("$(", i):
                stack.append("s")
                i += 2
                continue
            elif c == ")" and top == "s":
                stack.pop()
            elif c == "#" and (i == 0 or command[i - 1] in " \t\n;&|("):
                end = command.find("\n", i)
                i = n if end < 0 else end
                continue
        i += 1
    return found
