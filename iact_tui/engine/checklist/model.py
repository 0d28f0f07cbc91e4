"""The checklist format: pydantic models of a checklist file (docs/checklist-format.md).

Every model forbids unknown keys, so a typo is reported instead of silently ignored, and
validates strictly: TOML has types, so ``timeout = "600"`` is a mistake to report, not a
string to convert. Cross-references (variables, captures, hosts, ids) are checked in
``crosscheck.py`` once the shape is valid.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
STEP_ID = r"^[a-z0-9][a-z0-9._-]*$"

Scalar = str | int | float | bool

# the variables iact-tui sets itself; a checklist uses them as {name} without declaring them
BUILTIN_VARS = {
    "run_id": "the run's id",
    "operator": "the operator's name",
    "checklist_id": "the checklist's id",
    "checklist_version": "the checklist's version",
    "date": "the run's start date, YYYY-MM-DD",
    "elapsed_minutes": "minutes since the run started (whole minutes)",
    "rollback_reason": "why the rollback was started (empty before)",
    "run_folder": "the run's folder",
    "host": "the host an ssh, ansible or http step with `host` runs on (a group's member, one by one)",
    "host_address": "that host's address (its `address`, else its name)",
}


def truthy(value: str) -> bool:
    """How ``when`` and ``unless`` read a variable's value."""
    return value.strip().lower() not in ("", "0", "false", "no", "off", "none")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            with warnings.catch_warnings():
                # "Possible nested set" and the like: Python's notes on future regex syntax
                # would reach the operator's terminal as a raw warning; the regex works today.
                warnings.simplefilter("ignore")
                re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


def _check_identifiers(what: str, names: dict[str, Any]) -> None:
    for name in names:
        if not re.match(IDENT, name):
            raise ValueError(
                f"{what} name {name!r} is not an identifier (letters, digits and '_', "
                "not starting with a digit)"
            )


class ChecklistInfo(Strict):
    id: str
    title: str
    version: str
    roles: list[str] = []
    description: str = ""  # Markdown: the document's objective
    scope: str = ""  # Markdown: what the procedure covers and what it does not
    prerequisites: list[str] = []
    responsibilities: dict[str, str] = {}  # role -> what that role does
    # role -> an OpenSSH allowed_signers file (relative to the checklist) of the people whose signed
    # approvals the role's steps take (`tick --sign`; docs/team.md)
    approvers: dict[str, str] = {}
    references: list[str] = []  # related documents, links
    owner: str = ""
    source: str = ""  # the document the checklist encodes


class Var(Strict):
    default: Scalar | None = None
    prompt: str | None = None  # asked at start in the TUI / on a terminal
    secret: bool = False  # never written anywhere; redacted by value from every output
    env: str | None = None  # environment variable that supplies the value
    description: str = ""
    choices: list[str] | None = None
    # The value is a shell fragment inserted verbatim (e.g. the restart command of a service).
    # Only for variables the checklist author declares so; every other value is shell-quoted.
    command: bool = False
    # The value may start with '-' (an option for the command it fills, e.g. extra flags).
    # Every other value substituted into a command is refused when it starts with '-'.
    option: bool = False
    # The value is a URL path ("/api/health"): in a URL's path its '/' are kept; every other
    # character is still percent-encoded, and a '.' or '..' segment has its dots encoded.
    url_path: bool = False


class Host(Strict):
    address: str | None = None  # name, IP, or ~/.ssh/config alias; defaults to the host's key
    user: str | None = None
    port: int | str | None = None  # may be a placeholder, e.g. "{ssh_port}"
    identity: str | None = None  # private key file
    known_hosts: str | None = None  # known_hosts file (default: ~/.ssh/known_hosts)
    proxy_jump: str | None = None
    members: list[str] | None = None  # a host group: the names of other hosts
    description: str = ""

    templated: ClassVar[tuple[str, ...]] = (
        "address",
        "user",
        "port",
        "identity",
        "known_hosts",
        "proxy_jump",
    )

    @field_validator("port")
    @classmethod
    def _port(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and not 0 < value < 65536:
            raise ValueError(f"port {value} is out of range (1-65535)")
        return value


class Hint(Strict):
    pattern: str
    advice: str
    title: str = ""

    _v = field_validator("pattern")(_check_regex)


class Troubleshooting(Strict):
    """A known problem (the seed's "Problemas comunes"): shown when a failure matches it."""

    id: str
    title: str
    pattern: str  # regex searched in the failing step's output and message
    advice: str  # Markdown; commands of the fix, shown as written
    steps: list[str] | None = None  # only for these step ids (default: any step)
    error: str = ""  # the error text as the document gives it
    reference: str = ""  # where in the document, e.g. "Problema 1"

    _v = field_validator("pattern")(_check_regex)


class Targets(Strict):
    """DORA metric targets (the seed's "Métricas de Deployment")."""

    deployment_frequency_per_week: float | None = Field(default=None, ge=0)  # at least
    change_failure_rate: float | None = Field(default=None, ge=0, le=1)  # below; 0.10 = 10 %
    mttr_minutes: float | None = Field(default=None, gt=0)  # below
    lead_time_hours: float | None = Field(default=None, gt=0)  # below


class SummaryItem(Strict):
    text: str
    steps: list[str] = Field(min_length=1)


class SummarySection(Strict):
    """A section of the document's closing checklist, mapped onto step ids (for exports)."""

    title: str
    items: list[SummaryItem] = Field(min_length=1)


class StepBase(Strict):
    id: Annotated[str, Field(pattern=STEP_ID)]
    title: str = ""
    instructions: str = ""  # Markdown, shown in the TUI; placeholders are filled
    when: str | None = None  # variable name; the step runs only when it is truthy
    # variable name(s); the step does not apply when any of them is truthy (the manual fallback
    # of an automatic step: ``when = "github_repo"`` on one, ``unless = "github_repo"`` on the other)
    unless: str | list[str] | None = None
    confirm: bool = False  # ask before running (destructive steps)
    on_failure: Literal["stop", "rollback", "continue"] = "stop"
    idempotent: bool = False  # may be re-run after an interruption without asking
    changes_target: bool | None = None  # None: the kind's default (see ``changes``)
    hints: list[Hint] = []
    timeout: float | None = Field(default=None, gt=0)
    retries: int = Field(default=0, ge=0, le=100)
    retry_delay: float = Field(default=0, ge=0, le=3600)
    reference: str = ""  # where in the document this step comes from, e.g. "PASO 2.1"

    # The fields whose ``{name}`` placeholders are filled (load.py checks the names exist).
    templated: ClassVar[tuple[str, ...]] = ("title", "instructions")

    @property
    def changes(self) -> bool:
        if self.changes_target is not None:
            return self.changes_target
        return self._default_changes()

    def _default_changes(self) -> bool:
        return False

    @property
    def display_title(self) -> str:
        return self.title or self.id

    @property
    def unless_names(self) -> list[str]:
        if self.unless is None:
            return []
        return [self.unless] if isinstance(self.unless, str) else list(self.unless)

    def not_applicable_reason(self, values: Mapping[str, str]) -> str:
        """Why ``when`` / ``unless`` make the step not applicable with these values ('' if it applies)."""
        if self.when is not None:
            value = values.get(self.when, "")
            if not truthy(value):
                return f"'{self.when}' is {value or 'empty'}"
        for name in self.unless_names:
            value = values.get(name, "")
            if truthy(value):
                return f"'{name}' is set, so this step is not needed"
        return ""


class CommandStep(StepBase):
    run: str = Field(min_length=1)
    expect_exit: int | list[int] = 0
    expect_output: str | None = None  # regex; some line must match
    reject_output: str | None = None  # regex; no line may match
    capture: dict[str, str] = {}  # name -> regex with one group, first matching line wins
    artifact: str | None = None  # a file the step makes: its size (> 0) and sha256 are recorded

    templated: ClassVar[tuple[str, ...]] = (*StepBase.templated, "run", "artifact")

    _v = field_validator("expect_output", "reject_output")(_check_regex)

    @field_validator("capture")
    @classmethod
    def _captures(cls, value: dict[str, str]) -> dict[str, str]:
        _check_identifiers("capture", value)
        for name, pattern in value.items():
            try:
                _check_regex(pattern)
            except ValueError as exc:
                raise ValueError(f"capture {name!r}: {exc}") from None
            if re.compile(pattern).groups < 1:
                raise ValueError(f"capture {name!r}: the regex needs one group, e.g. '(\\S+)'")
        return value

    def _default_changes(self) -> bool:
        return True

    @property
    def exit_codes(self) -> list[int]:
        return [self.expect_exit] if isinstance(self.expect_exit, int) else list(self.expect_exit)


def _check_rollout(serial: Any, max_fail: Any) -> None:
    from iact_tui.engine.checklist.rollout import RolloutError, check_serial, parse_size

    try:
        check_serial(serial)
        if max_fail is not None:
            parse_size(max_fail, "max_fail")
    except RolloutError as exc:
        raise ValueError(str(exc)) from None


RolloutSize = int | str  # a number of hosts, or a percentage "25%" (docs/fleets.md)


class Rolling(Strict):
    """``serial`` and ``max_fail``: rolling batches over a host group (docs/fleets.md)."""

    serial: RolloutSize | list[RolloutSize] | None = None
    max_fail: RolloutSize | None = None

    @model_validator(mode="after")
    def _rollout(self) -> Any:
        _check_rollout(self.serial, self.max_fail)
        return self


class SshStep(Rolling, CommandStep):
    kind: Literal["ssh"]
    host: str
    sudo: bool = False
    # on a host group: run on the group's first member only, once per run (what every member
    # shares: the database's backup, migrations, restore)
    once: bool = False


class LocalStep(CommandStep):
    kind: Literal["local"]
    cwd: str | None = None
    env: dict[str, str] = {}

    templated: ClassVar[tuple[str, ...]] = (*CommandStep.templated, "cwd", "env")


class HttpStep(Rolling, StepBase):
    kind: Literal["http"]
    url: str = Field(min_length=1)  # {host} and {host_address}: the host the request is for
    # a [hosts] host or group the check is about: on a group, one request per member under the
    # rollout (serial, max_fail, a rolling phase's batches), each recorded per host; unset: once
    host: str | None = None
    once: bool = False  # on a host group: the first member only
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, str] = {}
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    expect_status: int | list[int] = 200
    expect_json: dict[str, Scalar] = {}  # dotted path -> expected value
    expect_body: str | None = None  # regex searched in the body
    max_latency_ms: float | None = Field(default=None, gt=0)
    capture_json: dict[str, str] = {}  # name -> dotted path in the JSON response
    verify_tls: bool = True
    follow_redirects: bool = False

    templated: ClassVar[tuple[str, ...]] = (
        *StepBase.templated,
        "url",
        "headers",
        "json_body",
        "body",
        "expect_json",  # a path (key) or expected value may be a variable; an empty path: not checked
        "capture_json",  # a path may be a variable; an empty path: nothing captured
    )

    _v = field_validator("expect_body")(_check_regex)

    @field_validator("capture_json")
    @classmethod
    def _capture_names(cls, value: dict[str, str]) -> dict[str, str]:
        _check_identifiers("capture", value)
        return value

    @model_validator(mode="after")
    def _one_body(self) -> HttpStep:
        if self.json_body is not None and self.body is not None:
            raise ValueError("an http step has either 'json' or 'body', not both")
        return self

    def _default_changes(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")

    @property
    def statuses(self) -> list[int]:
        s = self.expect_status
        return [s] if isinstance(s, int) else list(s)


class ManualStep(StepBase):
    kind: Literal["manual"]
    role: str | None = None
    four_eyes: bool = False  # the approver must be someone other than the operator
    checks: list[str] = []  # the items to look at (the document's ✅ lists)
    evidence: bool = False  # ask for a link or note as evidence

    templated: ClassVar[tuple[str, ...]] = (*StepBase.templated, "checks")


class NotifyStep(StepBase):
    kind: Literal["notify"]
    message: str = Field(min_length=1)
    webhook: str | None = None  # usually "{webhook_url}" (a secret variable); empty: tick "sent"
    format: Literal["slack", "mattermost", "teams", "text"] = "slack"
    required: bool = False  # a failed post fails the step (default: it only warns)
    channel: str = ""
    attempts: int = Field(default=3, ge=1, le=10)  # posts tried before giving up
    backoff: float = Field(default=1.0, ge=0, le=60)  # seconds before the 2nd try, doubling

    templated: ClassVar[tuple[str, ...]] = (*StepBase.templated, "message", "webhook", "channel")


# -- CI/CD services: GitHub REST API, Jenkins JSON API -------------------------------------------


class ServiceStep(StepBase):
    """What the steps that talk to a CI/CD service share: polling, TLS, a time limit."""

    poll_interval: float = Field(default=10.0, gt=0, le=600)  # seconds between two looks
    verify_tls: bool = True

    # Used when the step sets no ``timeout``: how long the polling may go on, in seconds.
    default_timeout: ClassVar[float] = 900.0

    @property
    def time_limit(self) -> float:
        return self.timeout if self.timeout is not None else self.default_timeout


class GitHubStep(ServiceStep):
    repo: str = Field(min_length=1)  # owner/name, usually "{github_repo}"
    api_url: str = "https://api.github.com"  # GitHub Enterprise: https://HOST/api/v3
    token: str = ""  # "{github_token}": a secret variable (load.py refuses anything else)

    templated: ClassVar[tuple[str, ...]] = (*StepBase.templated, "repo", "api_url", "token")


class GitHubChecksStep(GitHubStep):
    """PASO 1.2 on GitHub: every required check run / commit status of the commit succeeded."""

    kind: Literal["github_checks"]
    ref: str = Field(min_length=1)  # a branch, tag or commit sha, e.g. "{branch}"
    required: list[str] = []  # check names (case-insensitive, * and ? as wildcards); []: all

    templated: ClassVar[tuple[str, ...]] = (*GitHubStep.templated, "ref", "required")


class GitHubWorkflowStep(GitHubStep):
    """PASO 3.1 Opción A: dispatch a workflow, find its run, follow it to its conclusion."""

    kind: Literal["github_workflow"]
    workflow: str = Field(default="deploy-staging.yml", min_length=1)  # file name or id
    ref: str = Field(default="develop", min_length=1)
    inputs: dict[str, str] = {}  # the workflow_dispatch inputs
    capture_run: dict[str, str] = {}  # name -> dotted path in the run's JSON (e.g. head_sha)
    find_timeout: float = Field(default=120, gt=0, le=3600)  # seconds to find the started run

    templated: ClassVar[tuple[str, ...]] = (*GitHubStep.templated, "workflow", "ref", "inputs")
    default_timeout: ClassVar[float] = 3600.0

    @field_validator("capture_run")
    @classmethod
    def _capture_names(cls, value: dict[str, str]) -> dict[str, str]:
        _check_identifiers("capture", value)
        return value

    def _default_changes(self) -> bool:
        return True


class JenkinsStep(ServiceStep):
    url: str = Field(min_length=1)  # the Jenkins base URL, usually "{jenkins_url}"
    job: str = Field(min_length=1)  # the job's name; in folders "folder/job"
    user: str = ""  # basic auth user (with token)
    token: str = ""  # "{jenkins_token}": the user's API token, a secret variable

    templated: ClassVar[tuple[str, ...]] = (*StepBase.templated, "url", "job", "user", "token")


class JenkinsStatusStep(JenkinsStep):
    """PASO 1.2 on Jenkins: the job's last build of the commit (or branch) succeeded."""

    kind: Literal["jenkins_status"]
    poll_interval: float = Field(default=5.0, gt=0, le=600)
    commit: str = ""  # a commit sha (or its first 7+ characters)
    branch: str = ""  # else the last build of this branch; neither: the job's last build

    templated: ClassVar[tuple[str, ...]] = (*JenkinsStep.templated, "commit", "branch")


class JenkinsBuildStep(JenkinsStep):
    """PASO 3.1 on Jenkins: trigger a parameterised job, follow it, stream its console."""

    kind: Literal["jenkins_build"]
    poll_interval: float = Field(default=2.0, gt=0, le=600)
    parameters: dict[str, str] = {}  # buildWithParameters; none: a plain build

    templated: ClassVar[tuple[str, ...]] = (*JenkinsStep.templated, "parameters")
    default_timeout: ClassVar[float] = 3600.0

    def _default_changes(self) -> bool:
        return True


class ChangelogStep(StepBase):
    """PASO 5.1: draft the CHANGELOG entry from conventional commits, or write the draft in."""

    kind: Literal["changelog"]
    mode: Literal["draft", "write"]
    version: str = Field(min_length=1)  # the entry's heading: ## [VERSION] - DATE (LABEL)
    repo_dir: str = "."  # the project's git checkout
    from_ref: str = ""  # draft: the previously deployed commit (excluded)
    to_ref: str = "HEAD"  # draft: the deployed commit (included)
    date: str = "{date}"
    label: str = "Staging"  # empty: no "(...)" after the date
    path: str = "CHANGELOG.md"  # relative to repo_dir
    draft: str = "{run_folder}/changelog-draft.md"  # where the draft is kept between the modes
    env_vars: str = ""  # new environment variables, e.g. "{new_env_vars}" (commas or spaces)
    migrations: str | None = None  # migration names; unset: the migration files the commits add

    templated: ClassVar[tuple[str, ...]] = (
        *StepBase.templated,
        "version",
        "repo_dir",
        "from_ref",
        "to_ref",
        "date",
        "label",
        "path",
        "draft",
        "env_vars",
        "migrations",
    )

    @model_validator(mode="after")
    def _draft_needs_range(self) -> ChangelogStep:
        if self.mode == "draft" and not self.from_ref.strip():
            raise ValueError("a changelog step with mode = 'draft' needs 'from_ref'")
        return self

    def _default_changes(self) -> bool:
        return self.mode == "write"  # the draft only reads git and writes into the run folder


class AnsibleStep(Rolling, StepBase):
    """A playbook, or a module ad hoc, through ansible-runner (docs/fleets.md)."""

    kind: Literal["ansible"]
    host: str | None = None  # a [hosts] host or group; with `inventory`, a pattern of it
    inventory: str | None = None  # an inventory of the operator's own
    playbook: str | None = None  # relative to the checklist's folder
    module: str | None = None  # ad hoc
    args: str | None = None  # the module's arguments; values are shell-quoted
    extra_vars: dict[str, str] = {}
    forks: int | None = Field(default=None, ge=1, le=500)
    sudo: bool = False  # --become

    templated: ClassVar[tuple[str, ...]] = (
        *StepBase.templated,
        "inventory",
        "playbook",
        "args",
        "extra_vars",
    )

    @model_validator(mode="after")
    def _what_and_where(self) -> AnsibleStep:
        if bool(self.playbook) == bool(self.module):
            raise ValueError("an ansible step has either 'playbook' or 'module'")
        if self.args is not None and not self.module:
            raise ValueError("'args' goes with 'module'")
        if not self.host and not self.inventory:
            raise ValueError(
                "an ansible step needs 'host' (a [hosts] host or group) or 'inventory'"
            )
        return self

    def _default_changes(self) -> bool:
        return True


Step = Annotated[
    Union[  # noqa: UP007 - a discriminated union
        SshStep,
        AnsibleStep,
        LocalStep,
        HttpStep,
        ManualStep,
        NotifyStep,
        GitHubChecksStep,
        GitHubWorkflowStep,
        JenkinsStatusStep,
        JenkinsBuildStep,
        ChangelogStep,
    ],
    Field(discriminator="kind"),
]

STEP_CLASSES: dict[str, type[StepBase]] = {
    "ssh": SshStep,
    "local": LocalStep,
    "http": HttpStep,
    "manual": ManualStep,
    "notify": NotifyStep,
    "github_checks": GitHubChecksStep,
    "github_workflow": GitHubWorkflowStep,
    "jenkins_status": JenkinsStatusStep,
    "jenkins_build": JenkinsBuildStep,
    "changelog": ChangelogStep,
    "ansible": AnsibleStep,
}
STEP_KINDS = list(STEP_CLASSES)


class Alternative(Strict):
    id: Annotated[str, Field(pattern=STEP_ID)]
    title: str
    description: str = ""
    reference: str = ""
    steps: list[Step] = Field(min_length=1)


class Phase(Strict):
    id: Annotated[str, Field(pattern=STEP_ID)]
    title: str
    description: str = ""
    reference: str = ""
    rollback: bool = False  # runs only when a rollback is started
    steps: list[Step] = []
    alternatives: list[Alternative] = []
    default: str | list[str] | None = None  # default alternative(s) for headless runs
    multiple: bool = False  # more than one alternative may be chosen (run in file order)
    # rolling batches over the host group its steps run on (docs/fleets.md): "phase" runs the
    # whole phase on a batch before the next batch starts (the rolling restart); "step" rolls
    # each step over every batch before the next step
    serial: RolloutSize | list[RolloutSize] | None = None
    max_fail: RolloutSize | None = None
    batch: Literal["phase", "step"] = "phase"

    @model_validator(mode="after")
    def _steps_or_alternatives(self) -> Phase:
        _check_rollout(self.serial, self.max_fail)
        if self.steps and self.alternatives:
            raise ValueError("a phase has either 'steps' or 'alternatives', not both")
        if not self.steps and not self.alternatives:
            raise ValueError("a phase needs 'steps' or 'alternatives'")
        if isinstance(self.default, list) and not self.multiple:
            raise ValueError("a list of defaults needs 'multiple = true'")
        return self

    @property
    def defaults(self) -> list[str]:
        if self.default is None:
            return []
        return [self.default] if isinstance(self.default, str) else list(self.default)

    def all_steps(self) -> list[tuple[Alternative | None, Any]]:
        if self.steps:
            return [(None, s) for s in self.steps]
        return [(alt, s) for alt in self.alternatives for s in alt.steps]


class Checklist(Strict):
    schema_version: Literal[1] = 1
    checklist: ChecklistInfo
    vars: dict[str, Var] = {}
    hosts: dict[str, Host] = {}
    phases: list[Phase] = Field(min_length=1)
    troubleshooting: list[Troubleshooting] = []
    targets: Targets = Targets()
    summary: list[SummarySection] = []

    @field_validator("vars")
    @classmethod
    def _var_names(cls, value: dict[str, Var]) -> dict[str, Var]:
        _check_identifiers("variable", value)
        return value

    # -- navigation -------------------------------------------------------------------------

    def iter_steps(self) -> list[tuple[Phase, Alternative | None, Any]]:
        return [(p, alt, s) for p in self.phases for alt, s in p.all_steps()]

    def step(self, step_id: str) -> Any:
        for _, _, s in self.iter_steps():
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def phase_of(self, step_id: str) -> tuple[Phase, Alternative | None]:
        for p, alt, s in self.iter_steps():
            if s.id == step_id:
                return p, alt
        raise KeyError(step_id)

    def phase(self, phase_id: str) -> Phase:
        for p in self.phases:
            if p.id == phase_id:
                return p
        raise KeyError(phase_id)

    @property
    def step_ids(self) -> list[str]:
        return [s.id for _, _, s in self.iter_steps()]

    def secret_names(self) -> set[str]:
        return {name for name, v in self.vars.items() if v.secret}
