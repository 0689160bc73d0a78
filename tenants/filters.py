"""The strict query filters every area's FilterSets share (django-filter).

A bad filter value is a 400 with a message, never a silently ignored filter, never a 500, and the
message never repeats what was sent (a refusal need not reflect its input back).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters.fields import IsoDateTimeField

Choices = type[models.Choices] | Iterable[tuple[Any, Any]]

# --- choices ---------------------------------------------------------------------------------------


def choice_pairs(choices: Choices) -> list[tuple[Any, Any]]:
    """(value, label) pairs of a models.Choices class or of a list of pairs."""
    if isinstance(choices, type) and issubclass(choices, models.Choices):
        return list(choices.choices)
    return list(choices)


def not_a_choice(pairs: list[tuple[Any, Any]]) -> str:
    """The refusal of an invalid choice: the accepted codes, never the value sent."""
    codes = ", ".join(str(value) for value, _ in pairs if value is not None)
    # "%" escaped: Django interpolates the message with the refused value as params.
    return f"Not one of the choices: {codes}.".replace("%", "%%")


def choice_filter(choices: Choices, **kwargs: Any) -> django_filters.ChoiceFilter:
    pairs = choice_pairs(choices)
    return django_filters.ChoiceFilter(
        choices=pairs, error_messages={"invalid_choice": not_a_choice(pairs)}, **kwargs
    )


def multiple_choice_filter(choices: Choices, **kwargs: Any) -> django_filters.MultipleChoiceFilter:
    """Several codes (?status=a&status=b), any of them matching; refused like choice_filter."""
    pairs = choice_pairs(choices)
    return django_filters.MultipleChoiceFilter(
        choices=pairs, error_messages={"invalid_choice": not_a_choice(pairs)}, **kwargs
    )


# --- booleans --------------------------------------------------------------------------------------

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


class StrictBooleanField(forms.Field):
    """true/false (1/0, yes/no, on/off; any case); anything else is refused, not read as "no filter"."""

    # A plain text input: NullBooleanSelect would turn an unknown word into None before to_python.
    widget = forms.TextInput

    def to_python(self, value: Any) -> bool | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValidationError("Use true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


# --- instants --------------------------------------------------------------------------------------

EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)
LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)


class InstantField(IsoDateTimeField):
    """An ISO 8601 date and time, answered as an aware datetime in UTC.

    Python accepts UTC offsets up to ±23:59 but PostgreSQL refuses offsets past ±15:59 (a 500 when
    sent as is), so the value reaches the query already converted to UTC. A naive value is read in the
    current time zone. Every UTC instant Python holds (years 1..9999) is inside PostgreSQL's
    timestamptz range; a value whose UTC reading leaves those years (0001-01-01 with a positive offset,
    late 9999-12-31 with a negative one) cannot be sent as UTC, so it is refused with a message (the
    conversion would raise OverflowError, a 500).
    """

    default_error_messages = {
        "invalid": "Enter a date and time in ISO 8601, e.g. 2025-01-31T09:30:00Z.",
        "out_of_range": (
            f"Out of range: the instant must fall between {EARLIEST:%Y-%m-%d %H:%M} and "
            f"{LATEST:%Y-%m-%d %H:%M} UTC."
        ),
    }

    def to_python(self, value: Any) -> dt.datetime | None:  # None: no filter
        if value in self.empty_values:
            return None
        if isinstance(value, dt.datetime):
            parsed: dt.datetime | None = value
        else:
            try:
                parsed = parse_datetime(str(value).strip())
            except ValueError:  # well formed but impossible: Feb 30, an offset of 24 hours or more
                parsed = None
        if parsed is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            if timezone.is_naive(parsed):
                # zoneinfo picks the earlier reading of a time that DST makes ambiguous or skips
                parsed = timezone.make_aware(parsed, timezone.get_current_timezone())
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["out_of_range"], code="out_of_range") from None


class InstantFilter(django_filters.IsoDateTimeFilter):
    """IsoDateTimeFilter whose value is validated into PostgreSQL's range and converted to UTC."""

    field_class = InstantField
