"""A finding seen again is rewritten in place (a HOT update): no index on what a re-run writes, room
on the page for the new version.

A full run re-sees every open finding and writes ``last_seen_at`` and ``last_seen_run_id`` alone.
The index Django puts on the ``last_seen_run`` foreign key made every such update a new entry in all
eleven indexes of the table; nothing looks findings up by their last run alone. With the index gone
and half of each page kept free (``FINDING_FILLFACTOR``), PostgreSQL writes the new version on the
old one's page and no index entry at all. Measured on the benchmark tenant (bench/README.md): its
7,139 clinical findings re-seen in 380-400 ms before, 240 ms after, and the table stayed at 9.7 MB
over six re-runs instead of growing to 33 MB until a vacuum.

Raw SQL for the database, as management 0003/0004: the schema editor does not find the constraints
of a table in a schema of its own (``db_table`` names the schema), and its ``AlterField`` fails on
the foreign key it means to drop and re-create; the ``AlterField`` records the model's new state
only. The foreign key itself stays (runs are never deleted, so no delete has to look findings up by
it). The fillfactor applies to pages written from now on: a run moves the rows of the old, full
pages once.
"""

import django.db.models.deletion
from django.db import migrations, models

from compliance.models import FINDING_FILLFACTOR

INDEXES = {
    "compliance.business_finding": "compliance.business_finding_last_seen_run_id_21e773f8",
    "clinical.compliance_finding": "clinical.compliance_finding_last_seen_run_id_9bc4444a",
}


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0002_attestations"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name=model_name,
                    name="last_seen_run",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="compliance.auditrun",
                    ),
                )
                for model_name in ("businessfinding", "clinicalfinding")
            ],
            database_operations=[
                migrations.RunSQL(
                    [f"DROP INDEX IF EXISTS {index}" for index in INDEXES.values()]
                    + [f"ALTER TABLE {table} SET (fillfactor = {FINDING_FILLFACTOR})" for table in INDEXES],
                    [f"ALTER TABLE {table} RESET (fillfactor)" for table in INDEXES]
                    + [
                        f"CREATE INDEX IF NOT EXISTS {index.split('.')[1]} ON {table} (last_seen_run_id)"
                        for table, index in INDEXES.items()
                    ],
                ),
            ],
        ),
    ]
