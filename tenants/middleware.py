"""Request transaction, gateway role, tenant resolution from /t/<slug>/ and the chosen capacity."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from tenants import audit
from tenants.access import AccessContext, activate, carried_settings, enter_gateway, reset_identity
from tenants.models import Membership, Tenant
from tenants.security import middleware as security

# Only slug characters: anything else (a NUL byte, say) is no tenant path and ends in a plain 404.
TENANT_PATH = re.compile(r"^/t/(?P<slug>[-a-zA-Z0-9_]+)/")
SESSION_CAPACITY_KEY = "capacity:{tenant_id}"


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


class RequestSizeLimitMiddleware:
    """413 for any request whose body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE, before anything reads it.

    Django applies that limit to form fields and JSON but not to uploaded files, which it would
    spool to disk whatever their size. WSGI reads a body only up to Content-Length (a chunked
    body without one reads as empty), so the header is the body's size.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponse("Malformed Content-Length.", status=400, content_type="text/plain")
        if limit is not None and length > limit:
            message = f"The request body is larger than the {limit} bytes this service accepts."
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": message}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain")
        return self.get_response(request)


READ_ONLY_METHODS = ("GET", "HEAD", "OPTIONS")


class RequestTransactionMiddleware:
    """One transaction per request, started under the gateway role (DESIGN: layer 1).

    Any response with status >= 400 rolls the whole transaction back: bad input writes nothing.
    The clinical reads the request made are logged last: a writing request's just before its commit,
    in its transaction; a read-only request's (GET, HEAD, OPTIONS) just after it, in one statement
    that is a transaction of its own, before the response leaves (``audit.flush_alone``: the tenant's
    chain lock is then not held across the application's COMMIT round trip).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Only in tests is a request served inside an outer transaction; there SET LOCAL would
        # outlive the request, so the caller's role and settings are put back afterwards.
        nested = connection.in_atomic_block
        # A request that writes nothing (GET, HEAD) logs its clinical reads after its transaction,
        # in a transaction of their own, before the response leaves (audit.flush_alone).
        after = not nested and request.method in READ_ONLY_METHODS
        with transaction.atomic(), audit.reads_at_commit() as reads:
            # Every role switch rides with the statement after it, the gateway's first: no
            # statement of the request runs under the login role (bench/README.md).
            with carried_settings():
                enter_gateway()
                response = self.get_response(request)
            if response.status_code >= 400:
                transaction.set_rollback(True)
            elif not after:
                reads.flush()
        if nested:
            reset_identity()
        elif after and response.status_code < 400:
            reads.flush_alone()
        return response


def current_memberships(user: Any, tenant: Tenant) -> list[Membership]:
    now = timezone.now()
    return [
        m
        for m in Membership.objects.filter(tenant=tenant, user=user, is_active=True).select_related("group")
        if m.is_current(now)
    ]


def error_page(request: HttpRequest, status: int, message: str) -> HttpResponse:
    return render(request, "error.html", {"status": status, "message": message}, status=status)


class TenantMiddleware:
    """For /t/<slug>/…: resolve the tenant and the capacity, then switch role and tenant (fail closed)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.access = None  # type: ignore[attr-defined]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            enter_gateway(user_id=user.pk)  # lets the tenant picker see the user's own memberships
        match = TENANT_PATH.match(request.path_info)
        if not match:
            return self.get_response(request)
        if user is None or not user.is_authenticated:
            return HttpResponseRedirect(f"{reverse(settings.LOGIN_URL)}?next={request.path}")
        tenant = Tenant.objects.filter(slug=match["slug"]).first()
        memberships = current_memberships(user, tenant) if tenant else []
        if tenant is None or not memberships:
            # Same answer for a tenant that does not exist and one the user does not belong to.
            return error_page(request, 404, "Unknown organization.")
        request.tenant = tenant  # type: ignore[attr-defined]
        request.memberships = memberships  # type: ignore[attr-defined]
        chosen_id = request.session.get(SESSION_CAPACITY_KEY.format(tenant_id=tenant.pk))
        chosen = next((m for m in memberships if str(m.pk) == chosen_id), None)
        if chosen is None and len(memberships) == 1:
            chosen = memberships[0]
        capacity_url = reverse("capacity-switch", kwargs={"tenant_slug": tenant.slug})
        if chosen is None:
            if request.path_info != capacity_url:
                return HttpResponseRedirect(f"{capacity_url}?next={request.path}")
            return self.get_response(request)
        if security.second_factor_missing(request, chosen):
            if request.path_info == capacity_url:
                # Still free to pick another capacity (one that needs no second factor); nothing activated.
                return self.get_response(request)
            return security.second_factor_redirect(request)
        security.note_capacity(request, chosen)
        ctx = AccessContext.for_membership(chosen, via="browser", client_ip=client_ip(request))
        activate(ctx)
        request.access = ctx  # type: ignore[attr-defined]
        return self.get_response(request)
