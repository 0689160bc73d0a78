"""Verify every tenant's audit hash chain and report the first broken link of each."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenants.audit import chain_verify
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Check the audit log hash chains (per tenant and tenant-less); exit 1 at the first broken link."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="slug of one tenant to check (default: all, and tenant-less)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"Unknown tenant {options['tenant']!r}.")
            chains: list[tuple[str, Any]] = [(tenant.slug, tenant.pk)]
        else:
            chains = [("(tenant-less)", None), *((t.slug, t.pk) for t in Tenant.objects.order_by("slug"))]
        broken = 0
        for label, tenant_id in chains:
            checked, fault = chain_verify(tenant_id)
            if fault is None:
                self.stdout.write(f"{label}: {checked} entries, chain intact")
            else:
                broken += 1
                self.stdout.write(
                    f"{label}: BROKEN at seq {fault.seq} (entry {fault.entry_id}): {fault.problem} "
                    f"[{checked} entries checked]"
                )
        if broken:
            raise CommandError(f"{broken} audit chain(s) broken.", returncode=1)
