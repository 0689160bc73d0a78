"""An index for LIC-001 (compliance): a provider's kept appointments from a given instant on.

The rule probes each provider's appointments from the day after the licence expired, or from today:
a range on ``(provider_id, starts_at)``. Raw SQL rather than ``Appointment.Meta.indexes``: it serves
the compliance engine's query, and the model's state stays as it is.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("management", "0002_business_domain"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS appointment_provider_starts_idx "
            'ON "management"."appointment" (provider_id, starts_at)',
            'DROP INDEX IF EXISTS "management"."appointment_provider_starts_idx"',
        ),
    ]
