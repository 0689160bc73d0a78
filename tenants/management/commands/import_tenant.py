"""Restore a tenant archive into this database, which must be migrated and must not hold the tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from tenants.audit import chain_verify
from tenants.portability import ArchiveError, import_tenant


class Command(BaseCommand):
    help = (
        "Restore a tenant archive (export_tenant) in one transaction: verifies hashes and the migration "
        "state first, keeps the audit chain as it was, writes nothing on any error."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("archive", help="path of the .zip written by export_tenant")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            out = import_tenant(Path(options["archive"]), using=options["database"])
        except ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        for table, count in out.rows.items():
            if count:
                self.stdout.write(f"  {table}: {count}")
        for note in out.notes:
            self.stdout.write(f"  note: {note}")
        self.stdout.write(f"Restored tenant {out.tenant!r}: {out.total} rows in {out.seconds:.2f} s")
        if options["database"] == DEFAULT_DB_ALIAS:
            from tenants.models import Tenant

            tenant = Tenant.objects.get(slug=out.tenant)
            checked, fault = chain_verify(tenant.pk)
            state = "intact" if fault is None else f"BROKEN at seq {fault.seq}"
            self.stdout.write(f"Audit chain of {out.tenant}: {checked} entries, {state}")
