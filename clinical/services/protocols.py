"""Writes of protocols / standardized procedures and their signatures (DEL-002, PRT-001).

A protocol is in force only once its supervising physician and every supervisee have signed it, from
its effective date until it expires. The signatures bind to what was signed: changing the content
(procedures, body, dates, supervisor, what it covers) voids them, and everyone signs again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import get_objects_for_group

from clinical.models import Protocol, ProtocolSupervisee
from clinical.services.charts import (
    PHYSICIAN_LICENSES,
    UNSET,
    Maybe,
    changes_of,
    clean_procedures,
    not_future_date,
    require_provider_of,
    set_fields,
    text,
)
from management.models import ProfessionalCorporation, Provider
from tenants import audit
from tenants.access import AccessContext
from tenants.capacities import ADD, CHANGE
from tenants.writes import require_in_scope, require_may, save_validated

SIGN_PERMISSION = "management.sign_protocol"
# What a signature covers: a change to any of these voids every signature.
SIGNED_CONTENT = (
    "kind",
    "title",
    "supervisor",
    "procedures",
    "body",
    "effective_on",
    "expires_on",
    "covers_patient_selection",
    "covers_education_and_consent",
    "covers_topical_agents",
    "covers_complications",
    "covers_supervision_and_training",
)


def _check_protocol(protocol: Protocol) -> None:
    if protocol.expires_on <= protocol.effective_on:
        raise ValidationError({"expires_on": "The protocol must expire after it takes effect."})
    if protocol.reviewed_on is not None:
        not_future_date(protocol.reviewed_on, "reviewed_on")


def _check_supervisees(
    ctx: AccessContext, protocol: Protocol, providers: Sequence[Provider]
) -> list[Provider]:
    found: list[Provider] = []
    for provider in providers:
        require_provider_of(ctx, provider, protocol.pc_id, "supervisees")
        if provider.pk == protocol.supervisor_id:
            raise ValidationError({"supervisees": "The supervising physician is not their own supervisee."})
        if provider.pk in {p.pk for p in found}:
            raise ValidationError({"supervisees": f"{provider.full_name} is named twice."})
        found.append(provider)
    return found


@transaction.atomic
def protocol_create(
    *,
    ctx: AccessContext,
    pc: ProfessionalCorporation,
    kind: str,
    title: str,
    supervisor: Provider,
    procedures: Sequence[str],
    body: str,
    effective_on: dt.date,
    expires_on: dt.date,
    reviewed_on: dt.date | None = None,
    covers_patient_selection: bool = False,
    covers_education_and_consent: bool = False,
    covers_topical_agents: bool = False,
    covers_complications: bool = False,
    covers_supervision_and_training: bool = False,
    supervisees: Sequence[Provider] = (),
) -> Protocol:
    """Write a protocol of `pc`, supervised by one of its physicians, naming its supervisees.

    It is unsigned, hence not in force, until the supervisor and every supervisee sign it.
    """
    require_may(ctx, Protocol, ADD)
    require_in_scope(ctx, pc, "pc")
    require_provider_of(ctx, supervisor, pc.pk, "supervisor", PHYSICIAN_LICENSES)
    protocol = Protocol(
        tenant=ctx.tenant,
        pc=pc,
        kind=kind,
        title=text(title, "title"),
        supervisor=supervisor,
        procedures=clean_procedures(procedures, "procedures"),
        body=text(body, "body"),
        effective_on=effective_on,
        expires_on=expires_on,
        reviewed_on=reviewed_on,
        covers_patient_selection=covers_patient_selection,
        covers_education_and_consent=covers_education_and_consent,
        covers_topical_agents=covers_topical_agents,
        covers_complications=covers_complications,
        covers_supervision_and_training=covers_supervision_and_training,
    )
    _check_protocol(protocol)
    people = _check_supervisees(ctx, protocol, supervisees)
    save_validated(protocol)
    for provider in people:
        save_validated(ProtocolSupervisee(tenant=ctx.tenant, protocol=protocol, provider=provider))
    return protocol


@transaction.atomic
def protocol_update(
    *,
    ctx: AccessContext,
    protocol: Protocol,
    kind: Maybe[str] = UNSET,
    title: Maybe[str] = UNSET,
    supervisor: Maybe[Provider] = UNSET,
    procedures: Maybe[Sequence[str]] = UNSET,
    body: Maybe[str] = UNSET,
    effective_on: Maybe[dt.date] = UNSET,
    expires_on: Maybe[dt.date] = UNSET,
    reviewed_on: Maybe[dt.date | None] = UNSET,
    covers_patient_selection: Maybe[bool] = UNSET,
    covers_education_and_consent: Maybe[bool] = UNSET,
    covers_topical_agents: Maybe[bool] = UNSET,
    covers_complications: Maybe[bool] = UNSET,
    covers_supervision_and_training: Maybe[bool] = UNSET,
    supervisees: Maybe[Sequence[Provider]] = UNSET,
) -> Protocol:
    """Change a protocol. A change of its content voids every signature; `supervisees` is the new
    list (people added sign it before it is in force again; people removed leave it)."""
    require_may(ctx, Protocol, CHANGE)
    values = changes_of(
        {
            "kind": kind,
            "title": title,
            "supervisor": supervisor,
            "procedures": procedures,
            "body": body,
            "effective_on": effective_on,
            "expires_on": expires_on,
            "reviewed_on": reviewed_on,
            "covers_patient_selection": covers_patient_selection,
            "covers_education_and_consent": covers_education_and_consent,
            "covers_topical_agents": covers_topical_agents,
            "covers_complications": covers_complications,
            "covers_supervision_and_training": covers_supervision_and_training,
        }
    )
    if "supervisor" in values:
        require_provider_of(ctx, values["supervisor"], protocol.pc_id, "supervisor", PHYSICIAN_LICENSES)
    for name in ("title", "body"):
        if name in values:
            values[name] = text(values[name], name)
    if "procedures" in values:
        values["procedures"] = clean_procedures(values["procedures"], "procedures")
        if set(values["procedures"]) == set(protocol.procedures):
            del values["procedures"]  # the same procedures in another order are the same protocol
    changed = set_fields(protocol, values)
    _check_protocol(protocol)
    if set(changed) & set(SIGNED_CONTENT):
        if protocol.supervisor_signed_at is not None:
            protocol.supervisor_signed_at = None
            protocol.supervisor_signed_by = None
            changed += ["supervisor_signed_at", "supervisor_signed_by"]
        ProtocolSupervisee.objects.filter(protocol=protocol, signed_at__isnull=False).update(signed_at=None)
    if changed:
        save_validated(protocol, changed)
    if supervisees is not UNSET:
        wanted = _check_supervisees(ctx, protocol, supervisees)
        current = {s.provider_id: s for s in ProtocolSupervisee.objects.filter(protocol=protocol)}
        for provider in wanted:
            if provider.pk not in current:
                save_validated(ProtocolSupervisee(tenant=ctx.tenant, protocol=protocol, provider=provider))
        keep = {p.pk for p in wanted}
        ProtocolSupervisee.objects.filter(protocol=protocol).exclude(provider_id__in=keep).delete()
    return protocol


def may_sign_as_supervisor(ctx: AccessContext, protocol: Protocol) -> bool:
    """ctx is the supervising Provider's own membership and holds sign_protocol on the PC."""
    membership = ctx.membership
    if membership is None or protocol.supervisor.membership_id != membership.pk:
        return False
    pcs = ProfessionalCorporation.objects.filter(tenant=ctx.tenant, pk=protocol.pc_id)
    return get_objects_for_group(membership.group, SIGN_PERMISSION, pcs, accept_global_perms=False).exists()


def own_supervisee_row(ctx: AccessContext, protocol: Protocol) -> ProtocolSupervisee | None:
    """The supervisee line of ctx's own Provider in this protocol, if any."""
    if ctx.membership is None:
        return None
    return (
        ProtocolSupervisee.objects.filter(protocol=protocol, provider__membership=ctx.membership)
        .select_related("provider")
        .first()
    )


@transaction.atomic
def protocol_sign(*, ctx: AccessContext, protocol: Protocol) -> Protocol:
    """Sign a protocol as whoever ctx is in it: its supervising physician (their own membership,
    holding ``sign_protocol`` on the PC) or one of its supervisees (for their own Provider only).

    Nobody signs for someone else or a protocol that has expired. Signing again is a no-op: the
    first signature, and its time, stay.
    """
    require_may(ctx, Protocol, CHANGE)
    require_in_scope(ctx, protocol, "protocol")
    now = timezone.now()
    if protocol.expires_on <= timezone.localdate(now):
        raise ValidationError({"detail": f"This protocol expired on {protocol.expires_on:%Y-%m-%d}."})
    if may_sign_as_supervisor(ctx, protocol):
        if protocol.supervisor_signed_at is not None:
            return protocol
        protocol.supervisor_signed_at = now
        protocol.supervisor_signed_by = ctx.user
        save_validated(protocol, ["supervisor_signed_at", "supervisor_signed_by"])
        audit.record(ctx, "sign", obj=protocol, detail={"as": "supervisor"})
        return protocol
    row = own_supervisee_row(ctx, protocol)
    if row is None:
        raise ValidationError(
            {
                "detail": "Only this protocol's supervising physician (with the PC's permission to sign "
                "protocols) and its supervisees sign it, each for themselves."
            }
        )
    if row.signed_at is not None:
        return protocol
    row.signed_at = now
    save_validated(row, ["signed_at"])
    audit.record(ctx, "sign", obj=protocol, detail={"as": "supervisee", "provider": str(row.provider_id)})
    return protocol
