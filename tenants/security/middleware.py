"""Content-Security-Policy, idle-session sign-out, and the second-factor gate TenantMiddleware calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from tenants import audit
from tenants.models import Membership
from tenants.security import policy

# Session keys: when the session was last used, and the idle limit of the capacity it was used in.
LAST_SEEN_KEY = "security:last_seen"
IDLE_LIMIT_KEY = "security:idle_limit"
# The last-seen stamp is rewritten at most this often (seconds): not a session write per request.
TOUCH_INTERVAL = 10


class ContentSecurityPolicyMiddleware:
    """A strict policy on every response (no inline script or style); per-path exceptions from
    settings, for the API documentation pages whose vendored UIs need inline code."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.DEBUG and response.status_code in (404, 500):
            # DEBUG only (never in production or tests): Django's technical 404/500 pages style
            # themselves inline and would be unreadable under the policy.
            return response
        if "Content-Security-Policy" not in response:
            exceptions: dict[str, str] = settings.CONTENT_SECURITY_POLICY_EXCEPTIONS
            policy_text = exceptions.get(request.path_info, settings.CONTENT_SECURITY_POLICY)
            response["Content-Security-Policy"] = policy_text
        return response


def browser_redirect(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect htmx follows with a full page load (a plain 302 would be swapped into the page)."""
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def with_next(url: str, request: HttpRequest) -> str:
    # Only a GET can be repeated after the detour; a POST's form would be lost anyway.
    if request.method != "GET":
        return url
    return f"{url}?{urlencode({'next': request.get_full_path()})}"


class IdleSessionMiddleware:
    """Signs out a session that was idle longer than the limit of the capacity it last acted in.

    Runs for every signed-in browser request (API keys carry no session). The limit is stored in
    the session by TenantMiddleware (note_capacity) when a capacity is activated; before that the
    default applies.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        session = request.session
        now = time.time()
        last_seen = session.get(LAST_SEEN_KEY)
        limit = session.get(IDLE_LIMIT_KEY) or policy.idle_timeout(None).total_seconds()
        if isinstance(last_seen, int | float) and now - last_seen > limit:
            minutes = round(limit / 60)
            audit.record(
                None,
                "idle_timeout",
                object_type="auth.user",
                object_id=str(user.pk),
                actor=user,
                client_ip=request.META.get("REMOTE_ADDR"),
                detail={"idle_seconds": int(now - last_seen), "limit_seconds": int(limit)},
            )
            logout(request)
            messages.info(
                request,
                f"You were signed out after {minutes} minutes without activity. Sign in again to continue.",
            )
            return browser_redirect(request, with_next(reverse(settings.LOGIN_URL), request))
        if not isinstance(last_seen, int | float) or now - last_seen >= TOUCH_INTERVAL:
            session[LAST_SEEN_KEY] = now
        return self.get_response(request)


# --- Hooks for TenantMiddleware (called before it activates a membership) --------------------------


def note_capacity(request: HttpRequest, membership: Membership) -> None:
    """The session is now acting in this capacity: its idle limit applies from here on."""
    limit = policy.idle_timeout(membership.capacity).total_seconds()
    if request.session.get(IDLE_LIMIT_KEY) != limit:
        request.session[IDLE_LIMIT_KEY] = limit


def is_verified(request: HttpRequest) -> bool:
    check = getattr(request.user, "is_verified", None)
    return bool(check()) if callable(check) else False


def second_factor_missing(request: HttpRequest, membership: Membership) -> bool:
    return policy.requires_two_factor(membership.capacity) and not is_verified(request)


def second_factor_redirect(request: HttpRequest) -> HttpResponse:
    """To the second-factor page (which sends users without an authenticator to set one up)."""
    return browser_redirect(request, with_next(reverse("two-factor"), request))
