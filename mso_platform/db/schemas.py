"""Which PostgreSQL schema each app's tables live in.

Django core, tenants, guardian and the audit log stay in ``public``; the three domain apps get a
schema of their own so that PostgreSQL privileges (not Python) keep the business role out of
clinical data. Tables are named schema-qualified (``"clinical"."patient_chart"``), so a role without
USAGE on the schema gets "permission denied" instead of silently resolving another table.
"""

from __future__ import annotations

import re

from django.db.models.signals import class_prepared

APP_SCHEMAS: dict[str, str] = {
    "management": "management",
    "clinical": "clinical",
    "compliance": "compliance",
}

# Models kept outside their app's schema, by label. Clinical findings belong to the compliance app
# (one abstract model with the business ones) but are clinical data: in schema clinical, PostgreSQL
# refuses them to the business role exactly as it refuses charts.
MODEL_SCHEMAS: dict[str, str] = {"compliance.ClinicalFinding": "clinical"}


def schema_of(label: str, app_label: str) -> str:
    """The schema a model's table lives in (``label`` is "app_label.ModelName")."""
    return MODEL_SCHEMAS.get(label, APP_SCHEMAS.get(app_label, "public"))


def qualified_table(app_label: str, table: str) -> str:
    schema = APP_SCHEMAS[app_label]
    bare = table.removeprefix(f"{app_label}_")
    return f'"{schema}"."{bare}"'


def split_table(db_table: str) -> tuple[str, str]:
    """('clinical', 'patient_chart') for '"clinical"."patient_chart"'; ('public', t) otherwise."""
    if db_table.startswith('"') and '"."' in db_table:
        schema, table = db_table.strip('"').split('"."', 1)
        return schema, table
    return "public", db_table


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _place(sender: type, **kwargs: object) -> None:
    meta = sender._meta  # type: ignore[attr-defined]
    if meta.app_label in APP_SCHEMAS and not meta.db_table.startswith('"'):
        # Default names become readable ("clinical"."patient_chart"); explicit ones keep their name.
        table = meta.db_table if "db_table" in meta.original_attrs else snake_case(meta.object_name)
        if meta.label in MODEL_SCHEMAS:
            meta.db_table = f'"{MODEL_SCHEMAS[meta.label]}"."{table}"'
        else:
            meta.db_table = qualified_table(meta.app_label, table)


def install_schema_placement() -> None:
    class_prepared.connect(_place, dispatch_uid="mso_platform.schema_placement")
