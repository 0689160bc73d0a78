"""The location dashboard: appointments, PC collections, management fees and expiring credentials.

Charts are SVG drawn on the server (bars with presentation attributes: the strict CSP allows no
script and no style attributes, and nothing is loaded from a CDN). Every figure comes from
management.selectors.dashboard, which aggregates in SQL through the one permission path.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from management.models import Appointment, Location
from management.selectors import dashboard as reads
from tenants.access import AccessContext
from tenants.views import page_of, tenant_page

# Geometry of every chart's viewBox (the SVG scales to its container).
WIDTH, HEIGHT = 520, 260
LEFT, RIGHT, TOP, BOTTOM = 54, 6, 12, 40
GRID_STEPS = 4

STATUS_COLOURS = {
    Appointment.Status.BOOKED: "#9fb3c8",
    Appointment.Status.CONFIRMED: "#2b5c8a",
    Appointment.Status.CHECKED_IN: "#6b9ac4",
    Appointment.Status.COMPLETED: "#1f7a4d",
    Appointment.Status.CANCELLED: "#d92d20",
    Appointment.Status.NO_SHOW: "#b54708",
}
CREDENTIAL_COLOURS = ("#2b5c8a", "#6b9ac4", "#2f7d5b", "#b54708", "#7a5af8")
BAND_LABELS = {"expired": "Lapsed", "30": "≤30 days", "60": "31-60 days", "90": "61-90 days"}
COLLECTIONS_COLOUR = "#1f7a4d"
FEES_COLOUR = "#2b5c8a"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    fill: str
    value: str  # exact value, for the tooltip and tests
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str
    sub: str = ""  # a second line under the label (the year of a month, say)
    emphasis: bool = False


@dataclass(frozen=True)
class GridLine:
    y: float
    label: str


@dataclass(frozen=True)
class Series:
    name: str
    fill: str
    values: Sequence[Decimal | int]


@dataclass(frozen=True)
class BarChart:
    caption: str
    categories: list[str]
    series: list[Series]
    bars: list[Bar]
    ticks: list[Tick]
    gridlines: list[GridLine]
    divider_x: float | None  # a line between past and future (weeks chart)
    money: bool
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def left(self) -> int:
        return LEFT

    @property
    def right(self) -> int:
        return WIDTH - RIGHT

    @property
    def baseline(self) -> int:
        return HEIGHT - BOTTOM

    @property
    def table(self) -> list[tuple[str, list[str], str]]:
        """The chart's numbers as rows (category, value per series, total) for the data table."""
        rows = []
        for i, category in enumerate(self.categories):
            values = [s.values[i] for s in self.series]
            rows.append((category, [fmt(v, self.money) for v in values], fmt(sum(values), self.money)))
        return rows

    @property
    def is_empty(self) -> bool:
        return not any(v for s in self.series for v in s.values)


def fmt(value: Decimal | int, money: bool) -> str:
    return f"${value:,.2f}" if money else f"{value:,}"


def compact(value: float, money: bool) -> str:
    """Axis labels: 182000 → $182k."""
    prefix = "$" if money else ""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if abs(value) >= size:
            number = value / size
            return f"{prefix}{number:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{prefix}{value:g}"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times 10^k at or above value (so gridlines fall on round numbers)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def stacked_bars(
    caption: str,
    categories: list[str],
    series: list[Series],
    *,
    money: bool,
    emphasis: int | None = None,
    divider_after: int | None = None,
) -> BarChart:
    """Bars per category, the series stacked bottom-up; geometry in viewBox units."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(categories), 1)
    bar_width = slot * 0.7
    totals = [float(sum(s.values[i] for s in series)) for i in range(len(categories))]
    top = nice_ceiling(max(totals, default=0))
    if not money:
        top = max(top, float(GRID_STEPS))  # whole-number gridlines for counts
    baseline = HEIGHT - BOTTOM
    bars: list[Bar] = []
    for i, category in enumerate(categories):
        x = LEFT + i * slot + (slot - bar_width) / 2
        stacked = 0.0
        for s in series:
            value = s.values[i]
            if not value:
                continue
            height = float(value) / top * plot_height
            y = baseline - stacked - height
            stacked += height
            label = f"{category}: {fmt(value, money)}" + (f" {s.name.lower()}" if len(series) > 1 else "")
            bars.append(
                Bar(
                    round(x, 2), round(y, 2), round(bar_width, 2), round(height, 2), s.fill, str(value), label
                )
            )
    ticks = []
    for i, category in enumerate(categories):
        label, _, sub = category.partition(" ")
        ticks.append(Tick(round(LEFT + i * slot + slot / 2, 2), label, sub, emphasis=i == emphasis))
    gridlines = [
        GridLine(
            round(baseline - step / GRID_STEPS * plot_height, 2), compact(top * step / GRID_STEPS, money)
        )
        for step in range(GRID_STEPS + 1)
    ]
    divider = round(LEFT + (divider_after + 1) * slot, 2) if divider_after is not None else None
    return BarChart(caption, categories, series, bars, ticks, gridlines, divider, money)


def appointments_chart(table: dict[dt.date, dict[str, int]], today: dt.date) -> BarChart:
    weeks = list(table)
    current = weeks.index(reads.week_start(today))
    series = [
        Series(str(status.label), STATUS_COLOURS[status], [table[w].get(status, 0) for w in weeks])
        for status in Appointment.Status
    ]
    return stacked_bars(
        "Appointments per week, by status",
        [f"{w:%b} {w.day}" for w in weeks],
        series,
        money=False,
        emphasis=current,
        divider_after=current,
    )


def money_chart(caption: str, table: dict[dt.date, Decimal], name: str, fill: str) -> BarChart:
    months = list(table)
    return stacked_bars(
        caption,
        [f"{m:%b} '{m:%y}" for m in months],
        [Series(name, fill, [table[m] for m in months])],
        money=True,
        emphasis=len(months) - 1,
    )


def credentials_chart(counts: dict[str, dict[str, int]]) -> BarChart:
    bands = list(BAND_LABELS)
    series = [
        Series(cred.label, colour, [counts[cred.code][band] for band in bands])
        for cred, colour in zip(reads.CREDENTIALS, CREDENTIAL_COLOURS, strict=True)
    ]
    return stacked_bars(
        "Provider credentials lapsed or expiring", [BAND_LABELS[b] for b in bands], series, money=False
    )


def fee_share(
    collections: dict[dt.date, Decimal], fees: dict[dt.date, Decimal]
) -> list[tuple[str, str, str, str]]:
    """Per month: collections, fees and fees as a share of collections (a fixed fee tracking
    collections shows up as a flat share; the audit engine judges, this only shows)."""
    rows = []
    for month, collected in collections.items():
        fee = fees.get(month, Decimal("0"))
        share = f"{fee / collected * 100:.1f}%" if collected else "—"
        rows.append((f"{month:%b %Y}", fmt(collected, True), fmt(fee, True), share))
    return rows


@tenant_page
@page_of(Location)
def location_dashboard(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    """Whoever may view the location sees its dashboard; each panel shows what restrict() lets the
    capacity see (no PC grant: no PC money or credentials). Only business tables are read."""
    location = reads.dashboard_location(ctx, pk)
    today = timezone.localdate()
    context: dict[str, object] = {
        "location": location,
        "today": today,
        "appointments": appointments_chart(reads.appointments_by_week(ctx, location, today), today),
        "pc_visible": reads.pc_visible(ctx, location),
    }
    if context["pc_visible"]:
        collections = reads.collections_by_month(ctx, location.pc_id, today)
        fees = reads.fees_by_month(ctx, location.pc_id, today)
        counts = reads.credential_counts(ctx, location.pc_id, today)
        context.update(
            collections=money_chart(
                "PC collections per month", collections, "Collections", COLLECTIONS_COLOUR
            ),
            fees=money_chart("Management fees invoiced per month", fees, "Fees invoiced", FEES_COLOUR),
            fee_share=fee_share(collections, fees),
            credentials=credentials_chart(counts),
            credential_totals=[
                (band, label, sum(counts[c.code][band] for c in reads.CREDENTIALS))
                for band, label in BAND_LABELS.items()
            ],
            expiring=reads.expiring_credentials(ctx, location.pc_id, today),
        )
    return render(request, "management/dashboard/location.html", context)
