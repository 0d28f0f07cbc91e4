"""Settings of the stack tests' Django app.

Everything that differs between deployments comes from the environment or from the app's
``.env`` file (KEY=VALUE lines), the environment winning, as on a real staging host.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


_ENV_FILE = _read_env_file(BASE_DIR / ".env")


def env(key: str, default: str = "") -> str:
    return os.environ.get(key, _ENV_FILE.get(key, default))


# Read once at start-up, on purpose: only a restart of gunicorn makes a new release's version
# visible, so /api/health tells whether the restart really happened.
APP_VERSION = (BASE_DIR / "VERSION").read_text(encoding="utf-8").strip()

SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    raise RuntimeError(f"DJANGO_SECRET_KEY is not set (environment or {BASE_DIR / '.env'})")
DEBUG = env("DJANGO_DEBUG", "false").lower() == "true"
ALLOWED_HOSTS = [
    h.strip() for h in env("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.staticfiles",
    "inventory",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "iact_site.urls"
WSGI_APPLICATION = "iact_site.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": env("DB_NAME", "iact_staging"),
        "USER": env("DB_USER", "postgres"),
        "PASSWORD": env("DB_PASSWORD"),
        "HOST": env("DB_HOST", "127.0.0.1"),
        "PORT": env("DB_PORT", "5432"),
        # a fresh connection per request: no idle session holds locks while the checklist
        # restores a backup into the live database
        "CONN_MAX_AGE": 0,
    }
}

# A file-based cache: shared by all gunicorn workers, like the Redis of the real staging host.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": env("CACHE_DIR", str(BASE_DIR / "var" / "cache")),
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", str(BASE_DIR / "staticfiles"))

# Errors go to stderr, which gunicorn writes to its error log: the checklist's app-logs step
# looks there for "ERROR", as it does in journalctl on the real host.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "[django] %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False}},
}
