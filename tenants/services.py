"""Writes for tenants, users, memberships, object grants and API keys (HackSoft services)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from tenants.access import AccessContext
from tenants.capacities import CAPACITIES, Side
from tenants.models import ApiKey, Membership, Tenant, User


@transaction.atomic
def tenant_create(*, slug: str, name: str, home_state: str = "CA") -> Tenant:
    return Tenant.objects.create(slug=slug, name=name, home_state=home_state)


@transaction.atomic
def user_create(*, email: str, full_name: str, password: str | None) -> User:
    return User.objects.create_user(email=email, password=password, full_name=full_name)


@transaction.atomic
def membership_create(
    *,
    tenant: Tenant,
    user: User,
    capacity: str,
    license_type: str = "",
    expires_at: datetime | None = None,
) -> Membership:
    """Give `user` a capacity in `tenant`; object grants go to the membership's own group."""
    spec = CAPACITIES.get(capacity)
    if spec is None:
        raise ValidationError({"capacity": f"Unknown capacity {capacity!r}."})
    if spec.requires_license and not license_type:
        raise ValidationError({"license_type": "A clinical capacity needs the license type."})
    if capacity == "auditor" and (expires_at is None or expires_at <= timezone.now()):
        raise ValidationError({"expires_at": "Auditor access must expire in the future."})
    membership = Membership(
        tenant=tenant, user=user, capacity=capacity, license_type=license_type, expires_at=expires_at
    )
    membership.group = Group.objects.create(name=f"membership:{membership.pk}")
    membership.save()
    return membership


def _direct_perm_model(obj: models.Model) -> type[models.Model]:
    from management.models import (
        Location,
        LocationGroupObjectPermission,
        PcGroupObjectPermission,
        ProfessionalCorporation,
    )

    if isinstance(obj, Location):
        return LocationGroupObjectPermission
    if isinstance(obj, ProfessionalCorporation):
        return PcGroupObjectPermission
    raise ValidationError(f"Object permissions are not kept for {type(obj).__name__}.")


@transaction.atomic
def object_access_grant(*, membership: Membership, obj: Any, perms: list[str]) -> None:
    """Grant a membership permissions (codenames) on one PC or location.

    Rows go into django-guardian's direct foreign-key group permission models, which carry the
    tenant column RLS needs; guardian's own assign_perm does not know that column, so we create the
    rows here, and guardian's get_objects_for_group reads them back.
    """
    if obj.tenant_id != membership.tenant_id:
        raise ValidationError("Cannot grant access to another tenant's object.")
    perm_model = _direct_perm_model(obj)
    content_type = ContentType.objects.get_for_model(obj)
    for codename in perms:
        permission = Permission.objects.get(content_type=content_type, codename=codename)
        perm_model._default_manager.get_or_create(
            tenant_id=obj.tenant_id, group=membership.group, permission=permission, content_object=obj
        )


@transaction.atomic
def api_key_create(*, ctx: AccessContext, name: str) -> tuple[ApiKey, str]:
    """A key acting in the creating membership's capacity. The raw key is returned once, never stored."""
    if ctx.membership is None:
        raise ValidationError("Only a person acting in a capacity can create an API key.")
    if not name.strip():
        raise ValidationError({"name": "Give the key a name."})
    raw, prefix, digest = ApiKey.generate()
    key = ApiKey.objects.create(
        tenant=ctx.tenant, membership=ctx.membership, name=name.strip(), key_prefix=prefix, key_hash=digest
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def side_of(membership: Membership) -> Side:
    return membership.capacity_spec.side
