"""Reads of protocols (with their signature status) and of the procedure scope table.

Neither holds patient data, so their reads are not logged (the row writes are, by the database).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from clinical.models import ProcedureScopeRule, Protocol, ProtocolSupervisee
from clinical.selectors.charts import get_in
from tenants.access import AccessContext, restrict
from tenants.capacities import VIEW

# Protocol states, worst first: what stops a protocol from being in force.
UNSIGNED = "unsigned"
EXPIRED = "expired"
NOT_YET = "not_yet_effective"
IN_FORCE = "in_force"
STATUS_LABELS = {
    UNSIGNED: "Not in force: awaiting signatures",
    EXPIRED: "Expired",
    NOT_YET: "Signed, not yet effective",
    IN_FORCE: "In force",
}
# For the OpenAPI enum (settings SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] may name it).
STATUS_CHOICES = list(STATUS_LABELS.items())


def protocols() -> QuerySet[Protocol]:
    """Protocols with their PC and supervisor joined and their supervisee counts (for the status)."""
    # An aggregate drops Meta.ordering (GROUP BY): the order is given again, with the pk as a tiebreak.
    return (
        Protocol.objects.select_related("pc", "supervisor", "supervisor_signed_by")
        .annotate(
            supervisee_count=Count("supervisees", distinct=True),
            unsigned_count=Count("supervisees", filter=Q(supervisees__signed_at__isnull=True), distinct=True),
        )
        .order_by("-effective_on", "title", "pk")
    )


def protocol_status(protocol: Protocol, on: dt.date | None = None) -> str:
    """UNSIGNED until the supervisor and every supervisee signed; then by the dates (DEL-002).

    Needs the ``unsigned_count`` annotation of ``protocols()``.
    """
    day = on or timezone.localdate()
    unsigned: int = protocol.unsigned_count  # type: ignore[attr-defined]
    if protocol.supervisor_signed_at is None or unsigned:
        return UNSIGNED
    if protocol.expires_on <= day:
        return EXPIRED
    if protocol.effective_on > day:
        return NOT_YET
    return IN_FORCE


def protocol_list(ctx: AccessContext) -> QuerySet[Protocol]:
    return restrict(protocols(), ctx)


def protocol_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> Protocol:
    """One protocol with its supervisees (and their providers) prefetched."""
    qs = protocols().prefetch_related(
        Prefetch("supervisees", queryset=ProtocolSupervisee.objects.select_related("provider"))
    )
    return get_in(qs, ctx, pk, action)


def protocol_supervisee_list(ctx: AccessContext) -> QuerySet[ProtocolSupervisee]:
    return restrict(ProtocolSupervisee.objects.select_related("protocol", "provider"), ctx)


def protocol_supervisee_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> ProtocolSupervisee:
    return get_in(ProtocolSupervisee.objects.select_related("protocol", "provider"), ctx, pk, action)


def scope_rule_list(ctx: AccessContext) -> QuerySet[ProcedureScopeRule]:
    return restrict(ProcedureScopeRule.objects.all(), ctx)


def scope_rule_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> ProcedureScopeRule:
    return get_in(ProcedureScopeRule.objects.all(), ctx, pk, action)


def scope_rule_for(
    ctx: AccessContext, *, state: str, procedure: str, license_type: str
) -> ProcedureScopeRule | None:
    """The tenant's rule for one license type and procedure in one state (None: no rule recorded)."""
    return scope_rule_list(ctx).filter(state=state, procedure=procedure, license_type=license_type).first()
