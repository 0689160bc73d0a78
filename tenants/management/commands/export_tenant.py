"""Write all of one tenant's data to an archive (format: docs/tenant-archive.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from tenants.portability import ArchiveError, export_tenant


class Command(BaseCommand):
    help = "Export every row of one tenant to a .zip archive, from one consistent snapshot."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("slug", help="the tenant's slug")
        parser.add_argument("archive", help="path of the .zip to write (replaced if it exists)")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            out = export_tenant(options["slug"], Path(options["archive"]), using=options["database"])
        except ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        for table, count in out.rows.items():
            if count:
                self.stdout.write(f"  {table}: {count}")
        self.stdout.write(
            f"Exported tenant {out.tenant!r}: {out.total} rows, {out.size} bytes to {out.archive} "
            f"in {out.seconds:.2f} s (sha256 {out.sha256})"
        )
