"""API-key authentication: the key resolves the tenant and the capacity (Sentry's convert_args)."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any, cast

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from mso_platform.db.prepared import execute_prepared
from tenants.access import AccessContext, activate, gateway_for_api_key
from tenants.models import ApiKey, Membership, Tenant, User

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


# The key, its membership, and the membership's tenant and user: one row of one join.
_JOINED: tuple[tuple[str, type[models.Model]], ...] = (
    ("k", ApiKey),
    ("m", Membership),
    ("t", Tenant),
    ("u", User),
)


@functools.cache
def _key_lookup_sql() -> str:
    qn = connection.ops.quote_name
    for _, model in _JOINED:  # the row is turned into instances as is: nothing may need converting
        if any(hasattr(f, "from_db_value") for f in model._meta.concrete_fields):
            raise ImproperlyConfigured(f"{model.__name__} has a field that needs a converter")
    select = ", ".join(
        f"{alias}.{qn(str(f.column))}" for alias, model in _JOINED for f in model._meta.concrete_fields
    )
    table = {alias: qn(model._meta.db_table) for alias, model in _JOINED}
    return (
        f"SELECT {select} FROM {table['k']} k "
        f"JOIN {table['m']} m ON m.id = k.membership_id "
        f"JOIN {table['t']} t ON t.id = m.tenant_id "
        f"JOIN {table['u']} u ON u.id = m.user_id "
        "WHERE k.key_hash = %s"
    )


def key_with_membership(digest: str) -> ApiKey | None:
    """The key with this hash, its membership, tenant and user loaded, or None.

    What ``ApiKey.objects.select_related("membership__tenant", "membership__user").get(...)`` does,
    written as SQL: this runs on every API request, and the ORM spent longer building that query
    than the database spent answering it; prepared once per connection, because planning the join
    took the database four times as long as running it (bench/README.md).
    """
    with connection.cursor() as cur:
        execute_prepared(cur, _key_lookup_sql(), [digest])
        row = cur.fetchone()
    if row is None:
        return None
    loaded: list[Any] = []
    start = 0
    for _, model in _JOINED:
        fields = model._meta.concrete_fields
        values = row[start : start + len(fields)]
        loaded.append(model.from_db(connection.alias, [f.attname for f in fields], values))
        start += len(fields)
    key, membership, tenant, user = loaded
    membership.tenant, membership.user = tenant, user
    key.membership = membership
    return cast(ApiKey, key)


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
            key = key_with_membership(digest)
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
