import json
import secrets

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from inventory import health as health_checks
from inventory.models import ApiToken, Item


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    problems = health_checks.problems()
    if problems:
        return JsonResponse(
            {"status": "unhealthy", "version": settings.APP_VERSION, "problems": problems},
            status=503,
        )
    return JsonResponse({"status": "healthy", "version": settings.APP_VERSION})


@require_GET
def db_check(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database(), count(*) FROM inventory_item")
            database, items = cursor.fetchone()
    except DatabaseError as exc:
        return JsonResponse({"database": "unavailable", "error": str(exc).strip()}, status=503)
    return JsonResponse({"database": "connected", "name": database, "items": items})


@require_GET
def cache_check(request: HttpRequest) -> JsonResponse:
    probe = secrets.token_hex(8)
    cache.set("cache-check", probe, timeout=30)
    if cache.get("cache-check") != probe:
        return JsonResponse({"cache": "unavailable"}, status=503)
    return JsonResponse({"cache": "connected"})


@csrf_exempt
@require_POST
def login(request: HttpRequest) -> JsonResponse:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    user = authenticate(
        request, username=body.get("username", ""), password=body.get("password", "")
    )
    if user is None:
        return JsonResponse({"error": "invalid username or password"}, status=401)
    token = ApiToken.objects.create(key=secrets.token_urlsafe(32), user=user)
    return JsonResponse({"token": token.key})


def _bearer_user(request: HttpRequest):  # type: ignore[no-untyped-def]
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        return None
    token = ApiToken.objects.select_related("user").filter(key=key.strip()).first()
    return token.user if token else None


@require_GET
def me(request: HttpRequest) -> JsonResponse:
    user = _bearer_user(request)
    if user is None:
        return JsonResponse({"error": "authentication required"}, status=401)
    return JsonResponse({"username": user.get_username(), "email": user.email})


@require_GET
def items(request: HttpRequest) -> JsonResponse:
    # every column, so that a release that adds one shows it without touching this view
    return JsonResponse({"items": list(Item.objects.order_by("sku").values())})
