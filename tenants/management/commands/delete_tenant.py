"""Delete one tenant and everything of it (docs/tenant-archive.md, "Deleting a tenant")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from tenants.portability import ArchiveError, delete_tenant


class Command(BaseCommand):
    help = (
        "Delete a tenant: all its rows in every schema, its groups and grants, its audit log, and its users "
        "who belong to no other tenant. Irreversible: export_tenant first if the data may be needed."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("slug", help="the tenant's slug")
        parser.add_argument("--confirm", required=True, help="the slug again, to confirm")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["confirm"] != options["slug"]:
            raise CommandError(f"--confirm must repeat the slug {options['slug']!r}; nothing was deleted.")
        try:
            out = delete_tenant(options["slug"], using=options["database"])
        except ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        for table, count in out.rows.items():
            if count:
                self.stdout.write(f"  {table}: {count}")
        self.stdout.write(
            f"Deleted tenant {out.tenant!r}: {out.total} rows ({out.users_deleted} users deleted, "
            f"{out.users_kept} kept for their other tenants) in {out.seconds:.2f} s"
        )
