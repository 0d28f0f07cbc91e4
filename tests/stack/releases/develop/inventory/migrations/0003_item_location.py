"""Release 1.1.0: items know where they are stored. Adds a column and fills it for the stock."""

from django.db import migrations, models

LOCATIONS = {"SKU-001": "estante-a", "SKU-002": "estante-b", "SKU-003": "deposito"}


def assign_locations(apps, schema_editor):
    Item = apps.get_model("inventory", "Item")
    for sku, location in LOCATIONS.items():
        Item.objects.filter(sku=sku).update(location=location)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_seed_items")]

    operations = [
        migrations.AddField(
            model_name="item",
            name="location",
            field=models.CharField(default="almacen-central", max_length=64),
        ),
        # reversing drops the column, so there is nothing to undo here
        migrations.RunPython(assign_locations, migrations.RunPython.noop),
    ]
