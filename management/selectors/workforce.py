"""Reads of the workforce area, always through the permission layer.

Every ``*_list`` runs a fixed number of queries whatever the row count: what a list shows of related
rows (a vendor's BAA, a staff member's last training, a provider's PC) is joined or annotated here.
Credential expiry (LIC-002) is worked out from the provider row itself, without a query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, CharField, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Least
from django.utils import timezone

from management.models import BusinessAssociateAgreement, Provider, StaffMember, TrainingRecord, Vendor
from tenants.access import AccessContext, get_for_action, restrict
from tenants.capacities import VIEW

# LIC-002 reports credentials expiring within 90, 60 and 30 days; pages show the same bands.
# LIC-002's bands: days before an expiry at which a credential is flagged (the dashboard uses them too).
EXPIRY_BANDS = (30, 60, 90)


@dataclass(frozen=True)
class CredentialKind:
    """One kind of provider credential the MSO tracks: its expiry column and the number shown with it."""

    code: str
    label: str
    expires_field: str
    number_field: str


CREDENTIALS = (
    CredentialKind("license", "License", "license_expires_on", "license_number"),
    CredentialKind("dea", "DEA registration", "dea_expires_on", "dea_number"),
    CredentialKind(
        "np_furnishing", "NP furnishing number", "np_furnishing_expires_on", "np_furnishing_number"
    ),
    CredentialKind("pa_agreement", "PA practice agreement", "pa_practice_agreement_expires_on", ""),
    CredentialKind("cures", "CURES registration", "cures_expires_on", ""),
)
CREDENTIAL_EXPIRIES = tuple((c.expires_field, c.label) for c in CREDENTIALS)

# --- Vendors and BAAs ---------------------------------------------------------------------------


def _current_baa(today: dt.date) -> Exists:
    return Exists(
        BusinessAssociateAgreement.objects.filter(vendor=OuterRef("pk"), signed_on__lte=today).filter(
            Q(expires_on__isnull=True) | Q(expires_on__gte=today)
        )
    )


def vendor_queryset() -> QuerySet[Vendor]:
    """Vendors, each with ``has_current_baa`` (a signed BAA in force today, BAA-001); unscoped."""
    return Vendor.objects.annotate(has_current_baa=_current_baa(timezone.localdate()))


def vendor_list(ctx: AccessContext) -> QuerySet[Vendor]:
    return restrict(vendor_queryset(), ctx)


def vendor_has_current_baa(vendor: Vendor) -> bool:
    """``has_current_baa`` of one vendor that was not read through vendor_queryset() (one query)."""
    annotated = getattr(vendor, "has_current_baa", None)
    if annotated is not None:
        return bool(annotated)
    today = timezone.localdate()
    return (
        BusinessAssociateAgreement.objects.filter(vendor=vendor, signed_on__lte=today)
        .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=today))
        .exists()
    )


def vendor_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> Vendor:
    return get_for_action(Vendor, ctx, pk, action)


def baa_list(ctx: AccessContext) -> QuerySet[BusinessAssociateAgreement]:
    return restrict(BusinessAssociateAgreement.objects.select_related("vendor"), ctx)


def baa_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> BusinessAssociateAgreement:
    return get_for_action(BusinessAssociateAgreement, ctx, pk, action)


# --- Staff and training -------------------------------------------------------------------------


def _last_training(kind: str) -> Subquery:
    return Subquery(
        TrainingRecord.objects.filter(staff_member=OuterRef("pk"), kind=kind)
        .order_by("-completed_on")
        .values("completed_on")[:1]
    )


def staff_member_queryset() -> QuerySet[StaffMember]:
    """Staff with their employer and location, and the date of their last HIPAA and bloodborne-
    pathogen trainings (``last_hipaa_training``, ``last_bbp_training``); unscoped."""
    return StaffMember.objects.select_related("employer", "location").annotate(
        last_hipaa_training=_last_training(TrainingRecord.Kind.HIPAA),
        last_bbp_training=_last_training(TrainingRecord.Kind.BLOODBORNE_PATHOGENS),
    )


def staff_member_list(ctx: AccessContext) -> QuerySet[StaffMember]:
    return restrict(staff_member_queryset(), ctx)


def staff_member_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> StaffMember:
    return get_for_action(StaffMember, ctx, pk, action)


def training_record_list(ctx: AccessContext) -> QuerySet[TrainingRecord]:
    return restrict(TrainingRecord.objects.select_related("staff_member"), ctx)


def training_record_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> TrainingRecord:
    return get_for_action(TrainingRecord, ctx, pk, action)


# --- Providers ----------------------------------------------------------------------------------


def provider_queryset() -> QuerySet[Provider]:
    """Providers with their PC and linked sign-in; unscoped. Annotated with

    - ``next_expiry``: the soonest credential expiry (PostgreSQL's LEAST skips the credentials a
      provider does not hold) and ``next_expiry_credential``, which credential that is;
    - ``expiry_band``: "expired", "within-30", "within-60", "within-90" or "" (LIC-002's bands).
    """
    today = timezone.localdate()
    bands = [When(next_expiry__lt=today, then=Value("expired"))]
    bands += [
        When(next_expiry__lte=today + dt.timedelta(days=days), then=Value(f"within-{days}"))
        for days in EXPIRY_BANDS
    ]
    return (
        Provider.objects.select_related("pc", "membership__user")
        .annotate(next_expiry=Least(*(name for name, _ in CREDENTIAL_EXPIRIES)))
        .annotate(
            expiry_band=Case(*bands, default=Value(""), output_field=CharField()),
            next_expiry_credential=Case(
                *(When(**{name: F("next_expiry")}, then=Value(label)) for name, label in CREDENTIAL_EXPIRIES),
                default=Value(""),
                output_field=CharField(),
            ),
        )
    )


def provider_list(ctx: AccessContext) -> QuerySet[Provider]:
    return restrict(provider_queryset(), ctx)


def provider_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> Provider:
    return get_for_action(Provider, ctx, pk, action)


def expiring_before(qs: QuerySet[Provider], day: dt.date) -> QuerySet[Provider]:
    """Providers holding any credential that expires before `day` (already expired ones included)."""
    q = Q()
    for name, _ in CREDENTIAL_EXPIRIES:
        q |= Q(**{f"{name}__lt": day})
    return qs.filter(q)


def providers_expiring(ctx: AccessContext, within_days: int) -> QuerySet[Provider]:
    """Active providers with a credential expiring within `within_days` of today (LIC-002)."""
    day = timezone.localdate() + dt.timedelta(days=within_days + 1)
    return expiring_before(provider_list(ctx).filter(active=True), day).order_by(
        F("next_expiry").asc(), "full_name"
    )


@dataclass(frozen=True)
class Credential:
    label: str
    number: str
    expires_on: dt.date | None
    badge: ExpiryBadge | None


# The badge class of each band (static/css/app.css).
BAND_CSS = {
    "expired": "badge-danger",
    "within-30": "badge-danger",
    "within-60": "badge-warn",
    "within-90": "badge-info",
}
BAND_LABELS = {
    "expired": "Expired",
    "within-30": "≤ 30 days",
    "within-60": "≤ 60 days",
    "within-90": "≤ 90 days",
}


@dataclass(frozen=True)
class ExpiryBadge:
    """How close an expiry is: "expired", or within 30, 60 or 90 days (a CSS class and a label)."""

    days: int
    band: str

    @property
    def css(self) -> str:
        return BAND_CSS[self.band]

    @property
    def label(self) -> str:
        if self.days < 0:
            return f"expired {-self.days} day{'s' if self.days != -1 else ''} ago"
        if self.days == 0:
            return "expires today"
        return f"expires in {self.days} day{'s' if self.days != 1 else ''}"


def expiry_badge(day: dt.date | None, today: dt.date | None = None) -> ExpiryBadge | None:
    """The badge for an expiry date: None when it is further away than 90 days (or absent)."""
    if day is None:
        return None
    days = (day - (today or timezone.localdate())).days
    if days < 0:
        return ExpiryBadge(days, "expired")
    for band in EXPIRY_BANDS:
        if days <= band:
            return ExpiryBadge(days, f"within-{band}")
    return None


def provider_credentials(provider: Provider, today: dt.date | None = None) -> list[Credential]:
    """The credentials on file for a provider, each with its expiry badge (no query)."""
    today = today or timezone.localdate()
    numbers = {
        "license_expires_on": f"{provider.license_state} {provider.license_type} {provider.license_number}",
        "dea_expires_on": provider.dea_number,
        "cures_expires_on": "",
        "np_furnishing_expires_on": provider.np_furnishing_number,
        "pa_practice_agreement_expires_on": "",
    }
    found = []
    for name, label in CREDENTIAL_EXPIRIES:
        day = getattr(provider, name)
        if day is None and name != "license_expires_on" and not numbers[name]:
            continue
        found.append(Credential(label, numbers[name], day, expiry_badge(day, today)))
    return found


def next_expiry(provider: Provider) -> dt.date | None:
    """The soonest credential expiry of a provider (computed from the row when not annotated)."""
    annotated = getattr(provider, "next_expiry", None)
    if annotated is not None:
        return annotated
    days = [getattr(provider, name) for name, _ in CREDENTIAL_EXPIRIES]
    return min((d for d in days if d is not None), default=None)
