"""API-key authentication: the key resolves the tenant and the capacity (Sentry's convert_args)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from tenants.access import AccessContext, activate, gateway_for_api_key
from tenants.models import ApiKey

KEYWORD = "Api-Key"
LAST_USED_RESOLUTION = timedelta(minutes=1)


class KeyUser:
    """request.user for API calls: the person whose membership the key acts for."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.membership = key.membership
        self.pk = key.membership.user_id

    def __str__(self) -> str:
        return f"api key {self.key.key_prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[KeyUser, AccessContext] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        if keyword != KEYWORD or not raw.strip():
            raise exceptions.AuthenticationFailed(f"Use the header 'Authorization: {KEYWORD} <key>'.")
        digest = ApiKey.hash_secret(raw.strip())
        # The gateway role sees only the key row whose hash we present (RLS policy on app.api_key_hash),
        # and then the memberships of the tenant that key names: its membership comes in the same query.
        with gateway_for_api_key(digest):
            key = (
                ApiKey.objects.select_related("membership__tenant", "membership__user")
                .filter(key_hash=digest)
                .first()
            )
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown API key.")
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        membership = key.membership
        if not membership.is_current() or not membership.user.is_active:
            raise exceptions.AuthenticationFailed("The membership behind this API key is no longer active.")
        now = timezone.now()
        # A write (and a row lock held to commit) on every call would queue a key's requests behind
        # each other; "last used" to the minute is what a person revoking stale keys needs.
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        ctx = AccessContext.for_membership(membership, via="api", client_ip=request.META.get("REMOTE_ADDR"))
        activate(ctx)
        return KeyUser(key), ctx

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


def access_of(request: Any) -> AccessContext:
    return request.auth
