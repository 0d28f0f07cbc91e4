from django.conf import settings
from django.db import models


class Item(models.Model):
    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    quantity = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class ApiToken(models.Model):
    """A bearer token issued by /api/auth/login, in the style of DRF's authtoken."""

    key = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    created = models.DateTimeField(auto_now_add=True)
