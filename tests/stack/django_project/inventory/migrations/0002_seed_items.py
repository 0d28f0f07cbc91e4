"""Staging's stock: the rows the broken-release test expects back after a rollback."""

from django.db import migrations

SEED = [
    ("SKU-001", "Cable HDMI 2 m", 40),
    ("SKU-002", "Teclado USB", 12),
    ("SKU-003", "Monitor 24 pulgadas", 5),
]


def add_items(apps, schema_editor):
    Item = apps.get_model("inventory", "Item")
    for sku, name, quantity in SEED:
        Item.objects.create(sku=sku, name=name, quantity=quantity)


def remove_items(apps, schema_editor):
    Item = apps.get_model("inventory", "Item")
    Item.objects.filter(sku__in=[sku for sku, _, _ in SEED]).delete()


class Migration(migrations.Migration):
    dependencies = [("inventory", "0001_initial")]

    operations = [migrations.RunPython(add_items, remove_items)]
