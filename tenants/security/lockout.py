"""Failed sign-in lockout (django-axes): the backend, the username it counts, and the lockout page.

Attempts are counted in the database per (email, client address). The request transaction rolls
back on any status >= 400, so the sign-in view answers a failed attempt with 200 (the attempt
commits) and axes' middleware, which sits outside the transaction, turns the response of a
locked-out attempt into the 429 page below only after that commit.
"""

from __future__ import annotations

import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

LOCKOUT_MESSAGE = (
    "Too many failed sign-in attempts for this account from your network. "
    "Sign-in is blocked for {minutes} minutes; try again later or ask an administrator."
)


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a locked-out (email, address) pair before any password is checked.

    Only HTTP sign-ins are counted: they always pass the request. A credential check made by code
    without a request (a management command, a test of the demo logins) has no client address to
    lock, so this backend abstains and the next backend decides; views must pass the request.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def attempted_email(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The identifier attempts are counted under: the email as the user model stores it (lower case),
    so 'Admin@x' and 'admin@x' share one counter."""
    raw = (credentials or {}).get("username")
    if raw is None:
        raw = request.POST.get("username")
    return str(raw).strip().lower()[:254] if raw else None


def cool_off_minutes(request: HttpRequest | None = None) -> int:
    delta = get_cool_off(request)
    return max(1, math.ceil(delta.total_seconds() / 60)) if delta else 0


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """429 with Retry-After and a page that says why and for how long.

    Rendered without the request: this runs after the request transaction has ended, so it must
    not touch the database (no context processors, no session, no user).
    """
    minutes = cool_off_minutes(request)
    message = LOCKOUT_MESSAGE.format(minutes=minutes)
    body = render_to_string("registration/locked_out.html", {"message": message})
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(minutes * 60)
    response["Cache-Control"] = "no-store"
    return response
