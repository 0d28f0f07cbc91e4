from django.db import migrations, models


def stock(apps, schema_editor):
    Product = apps.get_model("catalog", "Product")
    Product.objects.bulk_create([Product(name="kettle"), Product(name="teapot")])


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Product",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
            ],
        ),
        migrations.RunPython(stock, migrations.RunPython.noop),
    ]
