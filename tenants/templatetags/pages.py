"""Template filters of the generic pages (tenants.pages), loaded as a builtin library."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def verbose_name(model: Any) -> str:
    """A model's (or instance's) human name: "management services agreement"."""
    return str(model._meta.verbose_name)
