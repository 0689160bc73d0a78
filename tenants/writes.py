"""Building blocks every write service uses (``<app>/services/``): refuse, validate references, save.

Callers (API viewsets, views) fetch the object through the permission layer first; services refuse,
again, a capacity that may not write the model at all, check that every reference is an object of
the caller's tenant inside the caller's scope, and save with full validation so a constraint breach
is a 400 with a message, never an IntegrityError (500). Row writes are audit-logged by the database.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models

from tenants.access import AccessContext, may, restrict
from tenants.capacities import VIEW


def require_may(ctx: AccessContext, model: type[models.Model], action: str) -> None:
    """Refuse a capacity that may not attempt `action` on `model` (answered as 404 by views and API)."""
    if not may(ctx, model, action):
        raise PermissionDenied("No such object.")


def require_in_scope(ctx: AccessContext, obj: models.Model, field: str) -> None:
    """A reference must be one of ctx's tenant's objects that ctx may view, else a 400 on `field`.

    Same message for another tenant's object, an unpermitted one and an absent one.
    """
    model = type(obj)
    visible = restrict(model._default_manager.filter(pk=obj.pk), ctx, VIEW)
    if getattr(obj, "tenant_id", None) != ctx.tenant.pk or not visible.exists():
        raise ValidationError({field: f"Unknown {model._meta.verbose_name}: not one you may use here."})


def clean_state(state: str, field: str = "state") -> str:
    state = state.strip().upper()
    if len(state) != 2 or not state.isalpha():
        raise ValidationError({field: "Use the two-letter state code, e.g. CA."})
    return state


def save_validated(obj: models.Model, update_fields: list[str] | None = None) -> None:
    # The tenant is fixed by the service, never by input; full_clean() turns constraint breaches
    # into 400s instead of IntegrityErrors (500s).
    obj.full_clean()
    obj.save(update_fields=update_fields)


def apply_changes(obj: models.Model, changes: dict[str, Any]) -> list[str]:
    """Set the fields whose value differs (None leaves a field as it is); returns the changed names."""
    changed = []
    for name, value in changes.items():
        if value is None:
            continue
        # Compare foreign keys by id: reading the current related object would cost a query.
        current = getattr(obj, getattr(obj._meta.get_field(name), "attname", name))
        if current != (value.pk if isinstance(value, models.Model) else value):
            setattr(obj, name, value)
            changed.append(name)
    return changed
