"""Audit entries get time-ordered keys (UUID version 7): the app's default, and the row-write trigger's
function (mso_platform/db/boundary.py, which every migrate also refreshes: tenants/apps.py)."""

from django.db import migrations, models

import tenants.models
from mso_platform.db import boundary


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0004_audit_tenant_index'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditlogentry',
            name='id',
            field=models.UUIDField(
                default=tenants.models.time_ordered_uuid, editable=False, primary_key=True, serialize=False
            ),
        ),
        # Unapplied, the trigger keeps the new function: any UUID is a valid key.
        migrations.RunSQL(boundary.AUDIT_FUNCTIONS_SQL, migrations.RunSQL.noop),
    ]
