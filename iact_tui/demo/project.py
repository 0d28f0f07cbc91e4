"""The small IACT Django project the sandbox deploys: its files at each version, its migrations,
and its git history (staging at 1.2.2; develop at 1.2.3, a few commits ahead), pushed to the
host's bare origin and cloned as the deployed working copy."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from pathlib import Path

from iact_tui.demo.layout import Layout

APP = "app_name"  # the seed's own placeholder for the Django app whose migrations roll back
DB_NAME = "iact_staging"
STAGING_VERSION = "1.2.2"
RELEASE_VERSION = "1.2.3"


# -- the project's files ------------------------------------------------------------------------

MANAGE_PY = '''#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

[sandbox] In the iact-tui demo there is no Django: the commands come from the sandbox stand-in,
which reads this project's migration files and keeps the database in a file.
"""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iact.settings")
    sandbox = os.environ.get("IACT_SANDBOX")
    if not sandbox:
        raise SystemExit("[sandbox] manage.py runs only inside the iact-tui demo sandbox")
    sys.path.insert(0, os.path.join(sandbox, "usr/local/lib/iact-sandbox"))
    from standins.django_manage import manage  # where a real project imports django.core.management

    sys.exit(manage(os.path.dirname(os.path.abspath(__file__)), sys.argv[1:]))


if __name__ == "__main__":
    main()
'''

SETTINGS_PY = '''"""IACT settings (the parts the sandbox shows)."""
import os

SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = ["staging.iact-project.com", "127.0.0.1"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "rest_framework", "app_name"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "iact_staging"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": os.environ.get("REDIS_URL", "redis://localhost:6379/0")}}
STATIC_ROOT = "staticfiles"
'''

JWT_PY = '''"""JWT authentication for the API (added in 1.2.3)."""
import os

import jwt

JWT_SECRET_KEY = os.environ["JWT_SECRET_KEY"]
ACCESS_TOKEN_MINUTES = 15
REFRESH_TOKEN_DAYS = 7


def issue(user_id):
    return jwt.encode({"sub": user_id}, JWT_SECRET_KEY, algorithm="HS256")
'''

MIGRATION = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [{dependencies}]

    operations = [
{operations}
    ]
"""

INITIAL_OPERATIONS = """        migrations.CreateModel(
            name="Profile",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                ("user", models.ForeignKey(on_delete=models.CASCADE, to="auth.user")),
                ("display_name", models.CharField(max_length=120)),
            ],
        ),
        migrations.CreateModel(
            name="AuthToken",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                ("user", models.ForeignKey(on_delete=models.CASCADE, to="auth.user")),
                ("key", models.CharField(max_length=64)),
                ("created", models.DateTimeField(auto_now_add=True)),
            ],
        ),"""

# 0002..0040: the ordinary history of a project (field tweaks that change no table)
HISTORY_NAMES = [
    "profile_timezone",
    "alter_profile_display_name",
    "authtoken_index",
    "profile_avatar",
    "alter_profile_avatar",
    "auto_20240212_1015",
    "profile_locale",
    "auto_20240305_0931",
    "alter_authtoken_key",
    "auto_20240402_1644",
]


def _history_migration(number: int) -> tuple[str, str]:
    label = HISTORY_NAMES[(number - 2) % len(HISTORY_NAMES)]
    name = (
        f"{number:04d}_{label}"
        if (number - 2) < len(HISTORY_NAMES)
        else f"{number:04d}_auto_2024{(number % 12) + 1:02d}{(number % 27) + 1:02d}_1200"
    )
    ops = """        migrations.AlterField(
            model_name="profile",
            name="display_name",
            field=models.CharField(max_length=120),
        ),"""
    return name, ops


PERMISSIONS_OPERATIONS = """        migrations.AddField(
            model_name="profile",
            name="permissions",
            field=models.JSONField(default=dict),
        ),"""

REFRESH_TOKEN_OPERATIONS = """        migrations.AddField(
            model_name="authtoken",
            name="refresh_token",
            field=models.CharField(max_length=255, null=True),
        ),"""

# The "migration" fault: the field goes onto a model whose CreateModel was never committed
BROKEN_REFRESH_TOKEN_OPERATIONS = """        migrations.AddField(
            model_name="refreshtoken",
            name="token",
            field=models.CharField(max_length=255, null=True),
        ),"""


def _migration_text(dependency: str | None, operations: str) -> str:
    deps = (
        f'("{APP}", "{dependency}")'
        if dependency
        else '("auth", "0012_alter_user_first_name_max_length")'
    )
    return MIGRATION.format(dependencies=deps, operations=operations)


def _base_files(version: str) -> dict[str, str]:
    files: dict[str, str] = {
        "VERSION": version + "\n",
        "manage.py": MANAGE_PY,
        ".gitignore": "venv/\n.env\n.env.backup.*\nstaticfiles/\nnode_modules/\nfrontend/dist/\n__pycache__/\n",
        "README.md": "# IACT project\n\nDjango API and front end. Deployed to staging with PROCED-DEVOPS-001.\n"
        "(This copy is the iact-tui demo's sandbox project.)\n",
        "requirements.txt": "Django==4.2.16\ndjangorestframework==3.15.2\npsycopg2-binary==2.9.9\n"
        "gunicorn==21.2.0\ncelery==5.3.6\nredis==5.0.8\n",
        "package.json": json.dumps(
            {
                "name": "iact-frontend",
                "version": version,
                "private": True,
                "scripts": {"build": "vite build", "dev": "vite"},
                "dependencies": {"axios": "^1.7.7"},
                "devDependencies": {"vite": "^5.4.8"},
            },
            indent=2,
        )
        + "\n",
        "iact/__init__.py": "",
        "iact/settings.py": SETTINGS_PY,
        "iact/urls.py": 'from django.urls import include, path\n\nurlpatterns = [path("api/", include("app_name.urls"))]\n',
        "iact/wsgi.py": "import os\n\nfrom django.core.wsgi import get_wsgi_application\n\n"
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iact.settings")\napplication = get_wsgi_application()\n',
        f"{APP}/__init__.py": "",
        f"{APP}/migrations/__init__.py": "",
        f"{APP}/urls.py": "from django.urls import path\n\nfrom . import views\n\nurlpatterns = [\n"
        '    path("health", views.health),\n    path("auth/login", views.login),\n'
        '    path("users/me", views.me),\n]\n',
        f"{APP}/views.py": '"""API views."""\n\nfrom django.conf import settings\n\n\ndef health(request):\n'
        '    return {"status": "healthy", "version": settings.VERSION}\n',
        f"{APP}/static/{APP}/css/app.css": "body { font-family: system-ui, sans-serif; }\n",
        f"{APP}/static/{APP}/img/logo.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"/>\n',
        "frontend/index.html": '<!doctype html>\n<html><body><div id="app"></div>'
        '<script type="module" src="/src/main.js"></script></body></html>\n',
        "frontend/src/main.js": 'import { login } from "./session.js";\n\ndocument.querySelector("#app").textContent = "IACT";\n'
        "export { login };\n",
        "frontend/src/session.js": "export async function login(username, password) {\n"
        '  const r = await fetch("/api/auth/login", { method: "POST", body: JSON.stringify({ username, password }) });\n'
        "  return (await r.json()).token;\n}\n",
        "CHANGELOG.md": "# Changelog\n\n## [1.2.2] - Staging\n\n### Fixed\n- Bug in permission validation\n",
    }
    files[f"{APP}/migrations/0001_initial.py"] = _migration_text(None, INITIAL_OPERATIONS)
    previous = "0001_initial"
    for number in range(2, 41):
        name, ops = _history_migration(number)
        files[f"{APP}/migrations/{name}.py"] = _migration_text(previous, ops)
        previous = name
    return files


LAST_HISTORY = _history_migration(40)[0]
PREVIOUS_MIGRATION = "0041_user_permissions"
NEW_MIGRATION = "0042_add_refresh_token_field"


# -- git ----------------------------------------------------------------------------------------


class _Git:
    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.clock = int(time.time()) - 6 * 86400  # the history starts six days ago

    def __call__(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd or self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def commit(
        self, message: str, files: dict[str, str], author: str, remove: tuple[str, ...] = ()
    ) -> None:
        for rel, text in files.items():
            path = self.cwd / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for rel in remove:
            (self.cwd / rel).unlink()
        self.clock += 7 * 3600 + secrets.randbelow(3600)
        name, email = author.split("|")
        env = {
            **self.env,
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
            "GIT_AUTHOR_DATE": f"@{self.clock} +0000",
            "GIT_COMMITTER_DATE": f"@{self.clock} +0000",
        }
        subprocess.run(["git", "add", "-A"], cwd=self.cwd, env=env, check=True, capture_output=True)
        subprocess.run(
            ["git", "commit", "-q", "-m", message],
            cwd=self.cwd,
            env=env,
            check=True,
            capture_output=True,
        )


DEVS = {
    "ana": "Ana Torres|ana.torres@iact-project.example",
    "luis": "Luis Pérez|luis.perez@iact-project.example",
    "marta": "Marta Díaz|marta.diaz@iact-project.example",
}


def build_history(layout: Layout, env: dict[str, str], faults: frozenset[str]) -> None:
    """The operator's checkout with staging (1.2.2) and develop (1.2.3, a few commits ahead)."""
    repo = layout.repo_dir
    repo.mkdir(parents=True)
    git = _Git(repo, env)
    git("init", "-q", "-b", "staging")
    git("config", "user.name", "IACT developer")
    git("config", "user.email", "dev@iact-project.example")
    git.commit("chore: import IACT project", _base_files("1.2.1"), DEVS["marta"])
    git.commit(
        "feat(permissions): object permissions on profiles",
        {
            f"{APP}/migrations/{PREVIOUS_MIGRATION}.py": _migration_text(
                LAST_HISTORY, PERMISSIONS_OPERATIONS
            ),
        },
        DEVS["luis"],
    )
    git.commit(
        "fix(permissions): validate permissions before update",
        {
            f"{APP}/views.py": _base_files("1.2.2")[f"{APP}/views.py"]
            + "\n\ndef can_update(user, profile):\n"
            '    return user.pk == profile.user_id or "admin" in profile.permissions\n',
        },
        DEVS["luis"],
    )
    git.commit(
        f"chore(release): {STAGING_VERSION}",
        {
            "VERSION": STAGING_VERSION + "\n",
            "package.json": _base_files(STAGING_VERSION)["package.json"],
        },
        DEVS["marta"],
    )
    git("checkout", "-q", "-b", "develop")
    requirements = _base_files(RELEASE_VERSION)["requirements.txt"] + "PyJWT==2.8.0\n"
    git.commit(
        "feat(auth): implement JWT authentication",
        {
            f"{APP}/auth/__init__.py": "",
            f"{APP}/auth/jwt.py": JWT_PY,
            "requirements.txt": requirements,
        },
        DEVS["ana"],
    )
    refresh_ops = (
        BROKEN_REFRESH_TOKEN_OPERATIONS if "migration" in faults else REFRESH_TOKEN_OPERATIONS
    )
    git.commit(
        "feat(auth): add refresh token field",
        {
            f"{APP}/migrations/{NEW_MIGRATION}.py": _migration_text(
                PREVIOUS_MIGRATION, refresh_ops
            ),
        },
        DEVS["ana"],
    )
    git.commit(
        "feat(frontend): refresh the session before the token expires",
        {
            "frontend/src/session.js": "export async function login(username, password) {\n"
            '  const r = await fetch("/api/auth/login", { method: "POST", body: JSON.stringify({ username, password }) });\n'
            "  const body = await r.json();\n  scheduleRefresh(body.token);\n  return body.token;\n}\n\n"
            'function scheduleRefresh(token) {\n  setTimeout(() => fetch("/api/auth/refresh", '
            '{ method: "POST", headers: { Authorization: `Bearer ${token}` } }), 14 * 60 * 1000);\n}\n',
        },
        DEVS["ana"],
    )
    git.commit(
        "fix(auth): token expiration timing",
        {
            f"{APP}/auth/jwt.py": JWT_PY.replace(
                "ACCESS_TOKEN_MINUTES = 15", "ACCESS_TOKEN_MINUTES = 14"
            ),
        },
        DEVS["luis"],
    )
    git.commit(
        f"chore(release): {RELEASE_VERSION}",
        {
            "VERSION": RELEASE_VERSION + "\n",
            "package.json": _base_files(RELEASE_VERSION)["package.json"],
            "CHANGELOG.md": _base_files(RELEASE_VERSION)["CHANGELOG.md"].replace(
                "# Changelog\n",
                f"# Changelog\n\n## [{RELEASE_VERSION}] - Staging\n\n### Added\n- JWT authentication system\n"
                "- Refresh token mechanism\n\n### Deployment Notes\n- Requires new env var: JWT_SECRET_KEY\n"
                f"- Database migrations: {NEW_MIGRATION}\n",
            ),
        },
        DEVS["marta"],
    )
    git("checkout", "-q", "staging")
    layout.origin.parent.mkdir(parents=True)
    git("init", "-q", "--bare", "-b", "staging", str(layout.origin), cwd=layout.root)
    git("remote", "add", "origin", str(layout.origin))
    git("push", "-q", "origin", "staging", "develop")
    git("branch", "-q", "--set-upstream-to=origin/staging", "staging")
    git("branch", "-q", "--set-upstream-to=origin/develop", "develop")
    # the deployed working copy: a clone of origin, on staging (what is live)
    layout.app_dir.parent.mkdir(parents=True)
    git(
        "clone",
        "-q",
        "--branch",
        "staging",
        str(layout.origin),
        str(layout.app_dir),
        cwd=layout.root,
    )
    git("config", "pull.ff", "only", cwd=layout.app_dir)
    git("config", "advice.detachedHead", "false", cwd=layout.app_dir)
