"""Test-only: a migration that runs until the test lets it finish.

It waits for PostgreSQL advisory lock 724242, which the test holds while it kills the runner or
sshd in the middle of `manage.py migrate`, and then releases. The wait is inside the migration's
transaction, as a long ALTER TABLE would be.
"""

from django.db import migrations

GATE_LOCK = 724242


class Migration(migrations.Migration):
    dependencies = [("inventory", "0003_item_location")]

    operations = [
        migrations.RunSQL(f"SELECT pg_advisory_xact_lock({GATE_LOCK})", migrations.RunSQL.noop),
    ]
