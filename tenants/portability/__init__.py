"""Tenant data portability: export to a documented archive, restore, delete (docs/tenant-archive.md)."""

from tenants.portability.archive import ArchiveError, Outcome, export_tenant, import_tenant
from tenants.portability.plan import Kind, Plan, Table, build_plan
from tenants.portability.purge import Deletion, delete_tenant

__all__ = [
    "ArchiveError",
    "Deletion",
    "Kind",
    "Outcome",
    "Plan",
    "Table",
    "build_plan",
    "delete_tenant",
    "export_tenant",
    "import_tenant",
]
