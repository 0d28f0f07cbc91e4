"""One HTML page: the release (read once, at start-up) and the products (a real query)."""

from pathlib import Path

from django.http import HttpRequest, HttpResponse

from catalog.models import Product

VERSION = (Path(__file__).resolve().parent.parent / "VERSION").read_text().strip()


def home(request: HttpRequest) -> HttpResponse:
    names = ", ".join(p.name for p in Product.objects.order_by("id"))
    return HttpResponse(f"<h1>Shop {VERSION}</h1><p>{Product.objects.count()} products: {names}</p>")
