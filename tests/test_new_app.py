"""Issue 14, "Your own app in minutes": `new`, the schema, the vars file, stale prose, the
generalised staging checklist's switches, shell completion. The real-stack deployment of a plain
Django app is tests/stack/test_plain_django.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest

from iact_tui.engine.checklist.load import load_checklist, parse_checklist
from iact_tui.engine.checklist.needed import unneeded_vars
from iact_tui.engine.checklist.problems import ChecklistError
from iact_tui.engine.checklist.schema import DIRECTIVE, checklist_schema, schema_text, validate
from iact_tui.engine.checklist.template import render_url
from iact_tui.engine.checklist.values import Values
from iact_tui.engine.checklist.varsfile import VarsFileError, read_vars_file
from tests.helpers import ROOT, cli, only_run, report_of, write_checklist

pytestmark = pytest.mark.timeout(180)

STAGING = ROOT / "checklists" / "staging.toml"
TEMPLATES = ROOT / "iact_tui" / "templates"
NEW_ARGS = ["--host", "staging.shop.example", "--user", "deploy", "--app-dir", "/srv/shop",
            "--base-url", "https://staging.shop.example"]


def scaffold(tmp_path: Path, template: str, *extra: str) -> Path:
    target = tmp_path / "checklists" / f"{template}.toml"
    done = cli("new", template, str(target), *NEW_ARGS, *extra)
    assert done.returncode == 0, done.stderr
    return target


# -- the schema -----------------------------------------------------------------------------------


def test_schema_validates_staging_every_template_and_a_scaffold(tmp_path: Path) -> None:
    schema = checklist_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    files = [STAGING, *sorted(TEMPLATES.glob("*.toml")), scaffold(tmp_path, "django"), scaffold(tmp_path, "generic")]
    assert len(files) == 5
    for path in files:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(data)]
        assert errors == [], path


def test_schema_flags_what_an_editor_should_flag() -> None:
    data = tomllib.loads(STAGING.read_text(encoding="utf-8"))
    data["phases"][0]["steps"][0]["timeout"] = "10"  # a string where a number goes
    data["vars"]["my-var"] = {"default": "x"}  # not an identifier
    data["phases"][1]["steps"][0]["kind"] = "shh"  # no such kind
    data["hosts"]["staging"]["adress"] = "x"  # a typo
    errors = validate(data)
    assert any(e.startswith("vars:") and "my-var" in e for e in errors)
    assert any(e.startswith("phases/0/steps/0") for e in errors)
    assert any(e.startswith("phases/1/steps/0") for e in errors)
    assert any(e.startswith("hosts/staging") and "adress" in e for e in errors)


def test_shipped_schema_is_the_generated_one_and_every_template_points_at_it() -> None:
    shipped = ROOT / "iact_tui" / "checklists" / "checklist.schema.json"
    assert shipped.read_text(encoding="utf-8") == schema_text(), "regenerate: iact-tui schema -o iact_tui/checklists/"
    assert (ROOT / "checklists" / "checklist.schema.json").read_text(encoding="utf-8") == schema_text()
    for path in [STAGING, *TEMPLATES.glob("*.toml")]:
        assert path.read_text(encoding="utf-8").splitlines()[0] == DIRECTIVE, path
        assert (path.parent / "checklist.schema.json").is_file()
    schema = json.loads(schema_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "$defs" not in json.dumps(schema) and '"null"' not in json.dumps(schema)
    http = schema["definitions"]["HttpStep"]["properties"]
    assert "json" in http and "description" in http["expect_json"]


def test_schema_command_prints_and_writes(tmp_path: Path) -> None:
    done = cli("schema")
    assert done.returncode == 0 and done.stdout == schema_text()
    done = cli("schema", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "checklist.schema.json").read_text() == schema_text()


# -- new --------------------------------------------------------------------------------------------


def test_new_django_passes_check_with_the_values_given(tmp_path: Path) -> None:
    target = scaffold(tmp_path, "django", "--id", "SHOP-DEPLOY", "--title", "Deploy the shop")
    assert (target.parent / "checklist.schema.json").read_text() == schema_text()
    done = cli("check", str(target))
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stdout + done.stderr
    assert done.stdout.startswith("SHOP-DEPLOY 1.0.0: Deploy the shop")
    c = load_checklist(target).checklist
    assert c.vars["staging_host"].default == "staging.shop.example"
    assert c.vars["app_dir"].default == "/srv/shop"
    assert c.vars["base_url"].default == "https://staging.shop.example"
    # the rest is the staging procedure itself, unchanged
    assert [s.id for _, _, s in c.iter_steps()] == load_checklist(STAGING).checklist.step_ids


def test_new_generic_passes_check(tmp_path: Path) -> None:
    target = scaffold(tmp_path, "generic")
    done = cli("check", str(target))
    assert done.returncode == 0 and "warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert load_checklist(target).checklist.vars["ssh_user"].default == "deploy"


def test_new_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    target = scaffold(tmp_path, "generic")
    done = cli("new", "generic", str(target), *NEW_ARGS)
    assert done.returncode == 2 and "exists" in done.stderr and "--force" in done.stderr
    done = cli("new", "generic", str(tmp_path / "x.toml"))  # no terminal to ask on
    assert done.returncode == 2
    assert "--host, --user, --app-dir, --base-url" in done.stderr
    args = [a if a != "/srv/shop" else "srv/shop" for a in NEW_ARGS]
    done = cli("new", "django", str(tmp_path / "y.toml"), *args)
    assert done.returncode == 2 and "--app-dir 'srv/shop'" in done.stderr
    done = cli("new", "rails", str(tmp_path / "z.toml"), *NEW_ARGS)
    assert done.returncode == 2 and "django" in done.stderr
    for out in (done.stdout, done.stderr):
        assert "Traceback" not in out


def test_new_django_runs_as_is_against_the_demo_sandbox(tmp_path: Path) -> None:
    """`new django`, then the demo's sandbox values: the whole procedure succeeds headless."""
    from iact_tui.cli.demo import demo_launch
    from iact_tui.cli.run import run_headless
    from iact_tui.demo import BackgroundSandbox

    target = scaffold(tmp_path, "django")
    declared = set(load_checklist(target).checklist.vars)
    out = io.StringIO()
    with BackgroundSandbox() as sandbox:
        launch = demo_launch(
            sandbox, checklist=str(target), declared=declared, runs_dir=tmp_path / "runs",
            operator="ana", headless=True, auto_tick=True, faults=[],
        )
        code = run_headless(launch, out=out)
    assert code == 0, out.getvalue()[-3000:]
    report = report_of(only_run(tmp_path / "runs"))
    assert report["run"]["status"] == "succeeded"
    assert report["run"]["checklist_path"] == str(target.resolve())


# -- the generalised staging checklist ------------------------------------------------------------

PLAIN_APP = {  # a plain Django app: no JSON health, no DB/cache endpoints, no JSON login
    "health_path": "/",
    "health_json_field": "",
    "version_json_field": "",
    "db_check_path": "",
    "cache_check_path": "",
    "smoke_login_path": "",
    "reload_web_cmd": "",
    "restart_worker_cmd": "",
}


def test_switched_off_checks_need_no_values_and_apply_not() -> None:
    c = load_checklist(STAGING).checklist
    seed = Values.resolve(c, {}, environ={}).values
    assert "smoke_password" not in unneeded_vars(c, seed)
    plain = Values.resolve(c, PLAIN_APP, environ={}).values
    assert "smoke_password" in unneeded_vars(c, plain)
    off = {s.id for _, _, s in c.iter_steps() if s.not_applicable_reason(plain)}
    assert {"db-check", "cache-check", "smoke-login", "smoke-me", "reload-web", "restart-worker",
            "rollback-db-check", "rollback-cache-check", "rollback-smoke-login", "rollback-smoke-me",
            "rollback-restart-worker"} <= off
    assert not {"health", "staging-health", "rollback-health", "db-backup", "migrate"} & off


def test_plain_app_dry_run_asks_for_no_smoke_password(tmp_path: Path) -> None:
    vars_file = tmp_path / "plain.toml"
    vars_file.write_text("".join(f'{k} = "{v}"\n' for k, v in PLAIN_APP.items()))
    done = cli("run", str(STAGING), "--dry-run", "--vars", str(vars_file), "--choose", "deploy=manual")
    assert done.returncode == 0, done.stderr
    assert "staging-health: GET https://staging.iact-project.com/\n" in done.stdout
    assert "values still needed" not in done.stdout


def test_path_variables_keep_their_slashes_and_nothing_else() -> None:
    def url(path: str) -> str:
        return render_url("{base_url}{p}", {"base_url": "http://h:1", "p": path}.__getitem__, paths={"p"})

    assert url("/api/health") == "http://h:1/api/health"
    assert url("/a b?x=1#f") == "http://h:1/a%20b%3Fx%3D1%23f"
    assert url("/../admin") == "http://h:1/%2E%2E/admin"
    assert render_url("{base_url}{p}", {"base_url": "http://h:1", "p": "/a/b"}.__getitem__) == "http://h:1%2Fa%2Fb"


# -- stale prose ------------------------------------------------------------------------------------

PROSE = """
schema_version = 1
[checklist]
id = "p"
title = "p"
version = "1"
[vars.base_url]
default = "http://127.0.0.1:9"
[vars.health_path]
default = "/health"
url_path = true
[[phases]]
id = "pre"
title = "{phase_name}"
[[phases.steps]]
id = "health"
kind = "http"
instructions = "Check it: `curl -f {base_url}/api/health`."
url = "{base_url}{health_path}"
[[phases.steps]]
id = "backup"
kind = "local"
instructions = "Run `pg_dump -U postgres shop` into `/var/backups`."
run = "pg_dump --clean -U postgres shop > /tmp/shop.sql"
"""


def test_prose_placeholder_nobody_provides_is_an_error_with_its_line() -> None:
    with pytest.raises(ChecklistError) as caught:
        parse_checklist(PROSE.encode(), "prose.toml")
    (problem,) = caught.value.problems
    assert problem.path == "phases[0].title" and problem.line == 14
    assert "{phase_name}" in problem.message


def test_prose_urls_and_paths_the_step_does_not_use_are_warnings() -> None:
    loaded = parse_checklist(PROSE.replace("{phase_name}", "Before").encode(), "prose.toml")
    warnings = [str(w) for w in loaded.warnings]
    assert any("health" in w and "{base_url}/api/health" in w and "{base_url}{health_path}" in w for w in warnings)
    assert any("pg_dump -U postgres shop" in w for w in warnings)
    assert any("/var/backups" in w for w in warnings)
    assert len(warnings) == 3, warnings
    fixed = PROSE.replace("{phase_name}", "Before").replace("{base_url}/api/health", "{base_url}{health_path}")
    fixed = fixed.replace("Run `pg_dump -U postgres shop` into `/var/backups`.", "Backup to `/tmp/shop.sql`.")
    assert parse_checklist(fixed.encode(), "prose.toml").warnings == []


# -- the vars file -----------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_vars_file_values_and_env_references(tmp_path: Path) -> None:
    f = read_vars_file(write(tmp_path / "v.toml", 'base_url = "https://x.example"\nhas_frontend = false\n'
                             'eta_minutes = 20\nsmoke_password = { env = "SHOP_PW" }\n'))
    assert f.values == {"base_url": "https://x.example", "has_frontend": "false", "eta_minutes": "20"}
    assert f.env_refs == {"smoke_password": "SHOP_PW"}
    c = load_checklist(STAGING).checklist
    f.check(c)
    layer = f.layer(c, {"SHOP_PW": "pw-from-env"})
    assert layer["smoke_password"] == "pw-from-env" and layer["base_url"] == "https://x.example"
    # the variable's own env ranks above the file
    assert f.layer(c, {"IACT_SMOKE_PASSWORD": "own", "SHOP_PW": "file"}).get("smoke_password") is None


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ('base_url = "x"\nsmoke_password = "hunter22"\n', 2, "'smoke_password' is a secret"),
        ('branch = "main"\nbase_ulr = "x"\n', 2, "did you mean 'base_url'?"),
        ('branch = "main"\n\n[deploy]\nx = 1\n', 3, "'deploy' is a table"),
        ('config_paths = ["/etc/a", "/etc/b"]\n', 1, "is an array"),
        ('branch = "main\n', 1, "TOML syntax error"),
    ],
)
def test_vars_file_problems_name_the_file_and_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    path = write(tmp_path / "v.toml", text)
    with pytest.raises(VarsFileError) as caught:
        read_vars_file(path).check(load_checklist(STAGING).checklist)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: ") and needle in message, message


def test_run_with_a_vars_file_records_it_and_ranks_it_below_var_and_env(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, """
        schema_version = 1
        [checklist]
        id = "V-1"
        title = "vars"
        version = "1"
        [vars.a]
        default = "from-default"
        [vars.b]
        default = "from-default"
        [vars.c]
        default = "from-default"
        env = "V_C"
        [vars.d]
        default = "from-default"
        [[phases]]
        id = "p"
        title = "p"
        [[phases.steps]]
        id = "show"
        kind = "local"
        run = "echo a={a} b={b} c={c} d={d}"
        """)
    vars_file = write(tmp_path / "env.vars.toml", 'a = "from-file"\nb = "from-file"\nc = "from-file"\n')
    runs = tmp_path / "runs"
    done = cli("run", str(checklist), "--headless", "-v", "--runs-dir", str(runs), "--vars", str(vars_file),
               "--var", "b=from-var", env={"V_C": "from-env"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "a=from-file b=from-var c=from-env d=from-default" in done.stdout
    report = report_of(only_run(runs))
    import hashlib

    assert report["run"]["vars_file"] == {
        "path": str(vars_file.resolve()),
        "sha256": hashlib.sha256(vars_file.read_bytes()).hexdigest(),
    }
    bad = write(tmp_path / "bad.toml", 'a = "x"\nzz = "y"\n')
    done = cli("run", str(checklist), "--headless", "--runs-dir", str(runs), "--vars", str(bad))
    assert done.returncode == 2 and f"{bad}:2:" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# -- shell completion ----------------------------------------------------------------------------------


def complete(words: str, runs: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_")}
    env.update({"_IACT_TUI_COMPLETE": "bash_complete", "COMP_WORDS": words,
                "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
                "IACT_RUNS_DIR": str(runs)})
    done = subprocess.run([sys.executable, "-c", "from iact_tui.cli import main; main(prog_name='iact-tui')"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if "," in line]


def test_completion_of_commands_run_ids_and_step_ids(tmp_path: Path) -> None:
    checklist = write_checklist(tmp_path, """
        schema_version = 1
        [checklist]
        id = "C-1"
        title = "c"
        version = "1"
        [[phases]]
        id = "p"
        title = "p"
        [[phases.steps]]
        id = "approve"
        kind = "manual"
        [[phases.steps]]
        id = "announce"
        kind = "manual"
        """)
    runs = tmp_path / "runs"
    done = cli("run", str(checklist), "--headless", "--runs-dir", str(runs))
    assert done.returncode == 3, done.stderr
    run_id = only_run(runs).name
    assert {"new", "schema", "run", "tick"} <= set(complete("iact-tui ", runs))
    assert "--vars" in complete("iact-tui run --v", runs)
    assert complete("iact-tui tick ", runs) == [run_id]
    assert complete(f"iact-tui tick {run_id} a", runs) == ["approve", "announce"]
    assert complete(f"iact-tui resume {run_id} --rerun ap", runs) == ["approve"]
    assert complete("iact-tui new ", runs) == ["django", "generic"]
