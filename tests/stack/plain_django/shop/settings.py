"""A plain Django project, as `django-admin startproject` makes it, with its settings read from
the environment or the checkout's `.env` (DB_NAME, DB_USER, DB_HOST, DB_PORT, SECRET_KEY,
STATIC_ROOT, ALLOWED_HOSTS). It has nothing of the IACT app: no /api/health, no JSON login, no
cache, no Celery; its admin and one HTML page. tests/stack/test_plain_django.py deploys it with
the shipped staging checklist and a vars file."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _dotenv() -> dict[str, str]:
    path = BASE_DIR / ".env"
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                values[key.strip()] = value.strip()
    return values


ENV = {**_dotenv(), **os.environ}

SECRET_KEY = ENV.get("SECRET_KEY", "only-for-local-development")
DEBUG = False
ALLOWED_HOSTS = ENV.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "catalog",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "shop.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "shop.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": ENV.get("DB_NAME", "shop"),
        "USER": ENV.get("DB_USER", "shop"),
        "PASSWORD": ENV.get("DB_PASSWORD", ""),
        "HOST": ENV.get("DB_HOST", ""),
        "PORT": ENV.get("DB_PORT", ""),
    }
}
STATIC_URL = "static/"
STATIC_ROOT = ENV.get("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
