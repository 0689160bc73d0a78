"""Reads behind the location dashboard: business records only, aggregated in SQL.

Every read goes through ``restrict`` with the caller's context, so each panel shows exactly what the
capacity may see (a capacity that may view the location but not its PC gets no PC money figures).
Each function runs a fixed number of queries whatever the number of rows: the database groups and
sums (TruncWeek / TruncMonth / conditional counts), Python only fills in the empty buckets.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, DateField, Q, Sum
from django.db.models.functions import TruncMonth, TruncWeek
from django.http import Http404
from django.utils import timezone

from management.models import (
    Appointment,
    Location,
    ManagementFeeInvoice,
    PcCollection,
    ProfessionalCorporation,
    Provider,
)
from management.selectors.workforce import CREDENTIALS, EXPIRY_BANDS
from tenants.access import AccessContext, parse_id, restrict

WEEKS_BACK = 8  # the 8 weeks up to and including the current one
WEEKS_AHEAD = 4  # and the 4 after it
MONTHS_BACK = 12  # the 12 closed months before the current one (money is booked after month end)
HORIZONS = EXPIRY_BANDS  # days: credentials expiring within each

# Fees that were actually invoiced: drafts are not sent yet and void invoices were withdrawn.
INVOICED = (ManagementFeeInvoice.Status.ISSUED, ManagementFeeInvoice.Status.PAID)


def week_start(day: dt.date) -> dt.date:
    """Monday of the day's week (PostgreSQL's date_trunc('week') uses ISO weeks, Monday first)."""
    return day - dt.timedelta(days=day.weekday())


def month_start(day: dt.date, back: int = 0) -> dt.date:
    """First day of the month `back` months before the day's (negative: after)."""
    year, index = divmod(day.year * 12 + day.month - 1 - back, 12)
    return dt.date(year, index + 1, 1)


def appointment_weeks(today: dt.date) -> list[dt.date]:
    first = week_start(today) - dt.timedelta(weeks=WEEKS_BACK - 1)
    return [first + dt.timedelta(weeks=i) for i in range(WEEKS_BACK + WEEKS_AHEAD)]


def recent_months(today: dt.date) -> list[dt.date]:
    return [month_start(today, back) for back in range(MONTHS_BACK, 0, -1)]


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def appointments_by_week(
    ctx: AccessContext, location: Location, today: dt.date
) -> dict[dt.date, dict[str, int]]:
    """{week's Monday: {status: appointments}} for the dashboard's 12 weeks (one query).

    Weeks are cut in the project's time zone (Pacific), as the front desk sees them.
    """
    weeks = appointment_weeks(today)
    start, end = _local_midnight(weeks[0]), _local_midnight(weeks[-1] + dt.timedelta(weeks=1))
    rows = (
        restrict(Appointment.objects.all(), ctx)
        .filter(location=location, starts_at__gte=start, starts_at__lt=end)
        .annotate(week=TruncWeek("starts_at", output_field=DateField()))
        .values("week", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    table: dict[dt.date, dict[str, int]] = {week: {} for week in weeks}
    for row in rows:
        table[row["week"]][row["status"]] = row["n"]
    return table


def pc_visible(ctx: AccessContext, location: Location) -> bool:
    """Whether the capacity may see the location's PC (and with it the PC's money and providers)."""
    return restrict(ProfessionalCorporation.objects.all(), ctx).filter(pk=location.pc_id).exists()


def collections_by_month(ctx: AccessContext, pc_id: Any, today: dt.date) -> dict[dt.date, Decimal]:
    """{month: what the PC collected} for the last 12 months (one query; a PC's, not a location's)."""
    months = recent_months(today)
    rows = (
        restrict(PcCollection.objects.all(), ctx)
        .filter(pc_id=pc_id, month__gte=months[0], month__lte=months[-1])
        .annotate(bucket=TruncMonth("month", output_field=DateField()))
        .values("bucket")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    table = dict.fromkeys(months, Decimal("0"))
    for row in rows:
        table[row["bucket"]] = row["total"]
    return table


def fees_by_month(ctx: AccessContext, pc_id: Any, today: dt.date) -> dict[dt.date, Decimal]:
    """{month: management fees invoiced to the PC for periods starting that month} (one query)."""
    months = recent_months(today)
    rows = (
        restrict(ManagementFeeInvoice.objects.all(), ctx)
        .filter(
            msa__pc_id=pc_id,
            status__in=INVOICED,
            period_start__gte=months[0],
            period_start__lte=months[-1],
        )
        .annotate(bucket=TruncMonth("period_start", output_field=DateField()))
        .values("bucket")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    table = dict.fromkeys(months, Decimal("0"))
    for row in rows:
        table[row["bucket"]] = row["total"]
    return table


@dataclass(frozen=True)
class ExpiringCredential:
    provider: str
    license_type: str
    credential: str
    number: str
    expires_on: dt.date
    days_left: int  # negative: already lapsed

    @property
    def lapsed_days(self) -> int:
        return max(-self.days_left, 0)

    @property
    def band(self) -> str:
        """ "expired", or the first horizon (30/60/90) the expiry falls within."""
        if self.days_left < 0:
            return "expired"
        return str(next(h for h in HORIZONS if self.days_left <= h))


def _providers(ctx: AccessContext, pc_id: Any) -> Any:
    return restrict(Provider.objects.all(), ctx).filter(pc_id=pc_id, active=True)


def credential_counts(ctx: AccessContext, pc_id: Any, today: dt.date) -> dict[str, dict[str, int]]:
    """{credential code: {"expired"/"30"/"60"/"90": count}}, bands exclusive, in one aggregate query."""
    bounds = {h: today + dt.timedelta(days=h) for h in HORIZONS}
    aggregates: dict[str, Count] = {}
    for cred in CREDENTIALS:
        lower: dt.date | None = None
        aggregates[f"{cred.code}__expired"] = Count("pk", filter=Q(**{f"{cred.expires_field}__lt": today}))
        for h in HORIZONS:
            since = (
                {f"{cred.expires_field}__gte": today}
                if lower is None
                else {f"{cred.expires_field}__gt": lower}
            )
            aggregates[f"{cred.code}__{h}"] = Count(
                "pk", filter=Q(**since, **{f"{cred.expires_field}__lte": bounds[h]})
            )
            lower = bounds[h]
    totals = _providers(ctx, pc_id).aggregate(**aggregates)
    bands = ["expired", *(str(h) for h in HORIZONS)]
    return {cred.code: {band: totals[f"{cred.code}__{band}"] for band in bands} for cred in CREDENTIALS}


def expiring_credentials(ctx: AccessContext, pc_id: Any, today: dt.date) -> list[ExpiringCredential]:
    """Each credential of the PC's active providers lapsed or expiring within 90 days, soonest first."""
    horizon = today + dt.timedelta(days=HORIZONS[-1])
    soon = Q()
    for cred in CREDENTIALS:
        soon |= Q(**{f"{cred.expires_field}__lte": horizon})
    fields = ["full_name", "license_type"] + [c.expires_field for c in CREDENTIALS]
    fields += [c.number_field for c in CREDENTIALS if c.number_field]
    found: list[ExpiringCredential] = []
    for row in _providers(ctx, pc_id).filter(soon).values(*fields).order_by("full_name"):
        for cred in CREDENTIALS:
            expires = row[cred.expires_field]
            if expires is None or expires > horizon:
                continue
            found.append(
                ExpiringCredential(
                    provider=row["full_name"],
                    license_type=row["license_type"],
                    credential=cred.label,
                    number=row[cred.number_field] if cred.number_field else "",
                    expires_on=expires,
                    days_left=(expires - today).days,
                )
            )
    return sorted(found, key=lambda c: (c.expires_on, c.provider, c.credential))


def dashboard_location(ctx: AccessContext, pk: Any) -> Location:
    """The location (with its PC and managing entity) if the capacity may view it, else 404."""
    qs = restrict(Location.objects.select_related("pc", "managing_entity"), ctx)
    try:
        return qs.get(pk=parse_id(pk))
    except Location.DoesNotExist:
        raise Http404("No such object.") from None
