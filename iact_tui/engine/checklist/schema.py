"""The checklist format as a JSON Schema, for editors that validate TOML while one types.

Generated from the pydantic models (``model.py``), so it can never drift from what ``check``
accepts; then adjusted for TOML and for the editors that read it (Taplo, Even Better TOML):

- JSON Schema draft-07 (``definitions``, ``#/definitions/...``): the draft every TOML editor
  supports;
- no ``null``: TOML has none, so "may be absent" is all an optional key means;
- no generated titles ("Retry Delay"), and a description on the keys an author looks up most,
  which editors show on hover and in completion;
- the names of variables and captures must be identifiers, as ``check`` requires.

What a schema cannot say (a variable that does not exist, a regex that does not compile, a step
id used twice) ``iact-tui check`` still says, with the line. A checklist opts in with a first
line ``#:schema ./checklist.schema.json`` (see docs/checklist-format.md, "Editor support").
"""

from __future__ import annotations

import copy
import json
from typing import Any

from iact_tui.engine.checklist.model import IDENT, Checklist

SCHEMA_FILENAME = "checklist.schema.json"
SCHEMA_ID = "https://iact-tui.invalid/schema/checklist-1.json"  # a name, not a place to fetch
DIRECTIVE = f"#:schema ./{SCHEMA_FILENAME}"

# Shown by editors on hover and in completion. Keyed by property name (every table that has the
# key), or "Model.key" for one table.
DESCRIPTIONS: dict[str, str] = {
    "schema_version": "The format's version; this iact-tui reads 1.",
    "checklist": "Who and what: id, title, version, roles.",
    "vars": "Variables: [vars.NAME] with default, prompt, secret, env. Used as {NAME}.",
    "hosts": "SSH hosts: [hosts.NAME] with address, user, port, identity, known_hosts.",
    "phases": "The phases in order; each has steps, or alternatives the operator chooses between.",
    "troubleshooting": "Known problems: shown when a failing step's output matches `pattern`.",
    "targets": "DORA metric targets for `iact-tui metrics`.",
    "summary": "The closing checklist of the document, each item mapped onto step ids (exports).",
    "id": "Unique id: lower-case letters, digits, '.', '_' and '-'. `tick` and the report use it.",
    "title": "Shown in the TUI, the report and the exports.",
    "kind": "ssh, local, http, manual, notify, github_checks, github_workflow, jenkins_status, jenkins_build or changelog.",
    "instructions": "Markdown shown with the step; {placeholders} are filled. `check` flags placeholders nobody provides.",
    "when": "A variable's name: the step runs only when its value is truthy (not '', 0, false, no, off, none).",
    "unless": "Variable name(s): the step does not apply when any of them is truthy.",
    "confirm": "Ask before running (destructive steps); headless: --yes.",
    "on_failure": "stop (default), rollback (offer the rollback at once) or continue.",
    "idempotent": "May be re-run after an interruption without asking.",
    "changes_target": "Whether the step changes the target (dry run, rollback); default by kind.",
    "timeout": "Seconds.",
    "retries": "Extra attempts after a failure (0-100).",
    "retry_delay": "Seconds between attempts.",
    "reference": "Where in the source document this comes from, e.g. 'PASO 2.1'.",
    "hints": "Advice shown when the step fails and its output matches `pattern`.",
    "run": "The shell command; {values} are shell-quoted (command = true variables go in as written).",
    "host": "A [hosts.NAME] (or a host group) to run on.",
    "HttpStep.host": "A [hosts.NAME] or host group the check is about: one request per member (under serial, max_fail), {host} and {host_address} filled. Unset: one request.",
    "once": "On a host group: the first member only (what the members share).",
    "serial": "Rolling batches over a host group: a count, a percentage or a list of them (docs/fleets.md).",
    "max_fail": "Failed hosts a rollout tolerates: a count or a percentage (default 0).",
    "sudo": "Run the command with sudo -n.",
    "expect_exit": "Exit status(es) that count as success (default 0).",
    "expect_output": "Regex: some line of the output must match.",
    "reject_output": "Regex: no line of the output may match.",
    "capture": "NAME = regex with one group: the first matching line sets {NAME} for later steps.",
    "artifact": "A file the step makes: its size (> 0) and sha256 go into the report.",
    "cwd": "Working folder of a local command.",
    "env": "Environment variable(s).",
    "url": "The URL; a value in its path or query is percent-encoded.",
    "method": "HTTP method (default GET).",
    "headers": "HTTP headers; values may hold {placeholders}.",
    "json": "A JSON body (a table); strings may hold {placeholders}.",
    "body": "A text body.",
    "expect_status": "HTTP status(es) that count as success (default 200).",
    "expect_json": "Dotted JSON path = expected value. A key or path that renders empty is not checked.",
    "expect_body": "Regex searched in the response body.",
    "max_latency_ms": "Longest acceptable answer time, in milliseconds.",
    "capture_json": "NAME = dotted JSON path: sets {NAME} for later steps. A path that renders empty captures nothing.",
    "verify_tls": "Verify the TLS certificate (default true).",
    "follow_redirects": "Follow HTTP redirects (default false).",
    "role": "The role that ticks this step (one of [checklist].roles).",
    "four_eyes": "The approver must be someone other than the operator.",
    "checks": "The items to look at, shown as a list.",
    "evidence": "Ask for a link or note as evidence.",
    "message": "The team notice; {placeholders} are filled, secrets are refused.",
    "webhook": "Usually \"{webhook_url}\" (a secret); empty: the notice is ticked 'sent' by a person.",
    "rollback": "This phase runs only when a rollback is started.",
    "alternatives": "The operator (or --choose PHASE=ALT) picks one (or several with multiple = true).",
    "steps": "The steps, in order.",
    "default": "Var: the value when none is given. Phase: the alternative(s) chosen headless.",
    "multiple": "More than one alternative may be chosen (they run in file order).",
    "Var.prompt": "Asked at start (TUI, or a terminal) with this question.",
    "Var.secret": "Never written anywhere; masked by value in every output. Give it by env, a prompt or --var.",
    "Var.env": "The environment variable that supplies the value.",
    "Var.command": "The value is a shell fragment inserted as written (e.g. a restart command).",
    "Var.option": "The value may start with '-' (an option for the command it fills).",
    "Var.choices": "The allowed values.",
    "Var.default": "The value when none is given (--vars FILE, env, --var and a prompt override it).",
    "Phase.default": "The alternative(s) chosen when nobody chooses (headless).",
    "Host.address": 'Name, IP or ~/.ssh/config alias; may be "{variable}".',
    "Host.members": "A host group: the names of other hosts; a step on it runs on each.",
    "Troubleshooting.pattern": "Regex searched in a failing step's output and message.",
    "Troubleshooting.advice": "Markdown: the fix, shown as written.",
}


def checklist_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of a checklist file."""
    schema = Checklist.model_json_schema(by_alias=True, ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs", {})
    schema = _clean(schema, "Checklist")
    schema["definitions"] = {name: _clean(d, name) for name, d in sorted(definitions.items())}
    _identifier_keys(schema)
    head: dict[str, Any] = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "iact-tui checklist",
        "description": "A deployment checklist for iact-tui (docs/checklist-format.md). "
        "`iact-tui check FILE` validates what a schema cannot: names, regexes, ids.",
    }
    return {**head, **schema}


def schema_text() -> str:
    """The schema as the file ``iact-tui schema`` prints and ``new`` writes (stable order)."""
    return json.dumps(checklist_schema(), indent=2, ensure_ascii=False) + "\n"


def _clean(node: Any, model: str) -> Any:
    if isinstance(node, list):
        return [_clean(item, model) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue  # generated from the field name: noise in an editor
        if key == "discriminator":
            continue  # OpenAPI, not JSON Schema; oneOf on the `kind` const does the work
        if key == "default" and value is None:
            continue
        if key == "properties" and isinstance(value, dict):
            props = {}
            for name, prop in value.items():
                prop = _clean(prop, model)
                text = DESCRIPTIONS.get(f"{model}.{name}") or DESCRIPTIONS.get(name)
                if text and "description" not in prop:
                    prop = {"description": text, **prop}
                props[name] = prop
            out[key] = props
            continue
        out[key] = _clean(value, model)
    for combinator in ("anyOf", "oneOf"):
        options = out.get(combinator)
        if isinstance(options, list):
            options = [o for o in options if o != {"type": "null"}]
            if len(options) == 1:
                del out[combinator]
                out = {**options[0], **out}
            else:
                out[combinator] = options
    return out


def _identifier_keys(schema: dict[str, Any]) -> None:
    """Variable and capture names are identifiers: say so, so an editor flags `my-var`."""
    names = {"type": "string", "pattern": IDENT}
    defs = schema["definitions"]
    schema["properties"]["vars"]["propertyNames"] = names
    for model, keys in {
        "SshStep": ("capture",),
        "LocalStep": ("capture",),
        "HttpStep": ("capture_json",),
        "GitHubWorkflowStep": ("capture_run",),
    }.items():
        for key in keys:
            prop = defs.get(model, {}).get("properties", {}).get(key)
            if isinstance(prop, dict):
                prop["propertyNames"] = names


def validate(data: Any) -> list[str]:
    """Schema errors of parsed TOML (for tests and tools; needs the `jsonschema` package)."""
    import jsonschema

    validator = jsonschema.Draft7Validator(copy.deepcopy(checklist_schema()))
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '(top)'}: {err.message}"
        for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path)))
    ]
