"""Authentication and sessions (issue 5): two-factor per capacity with recovery codes, login lockout,
API rate limits per key, idle sign-out per capacity, Content-Security-Policy, Argon2, check --deploy."""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher, check_password, identify_hasher, make_password
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from mso_platform.db import boundary
from mso_platform.settings.base import cache_redis_url
from tenants.api.authentication import KeyUser
from tenants.api.throttling import ApiKeyRateThrottle, _window_script, window_key
from tenants.capacities import CAPACITIES
from tenants.models import ApiKey, AuditLogEntry
from tenants.security import policy, services
from tenants.security.middleware import IDLE_LIMIT_KEY, LAST_SEEN_KEY
from tenants.security.models import RecoveryCode, RecoveryCodeDevice
from tenants.services import api_key_create, membership_create, object_access_grant
from tests.api_matrix import client_for
from tests.sessions import authenticator, sign_in, totp_code
from tests.worlds import PASSWORD, World, build_world

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
TWO_FACTOR = reverse("two-factor")
SETUP = reverse("two-factor-setup")
RECOVERY = reverse("two-factor-recovery-codes")


def redis_client() -> Any:
    """The Redis client of the rate limiter's window script (to look at a key's window)."""
    return _window_script().registered_client


def dashboard(world: World) -> str:
    return reverse("dashboard", kwargs={"tenant_slug": world.tenant.slug})


def audit_actions(user: Any) -> list[str]:
    return list(
        AuditLogEntry.objects.filter(actor=user, action__startswith="2fa")
        .order_by("seq")
        .values_list("action", flat=True)
    )


def body(response: Any) -> str:
    return str(response.content.decode())


# --- Two-factor: who needs it ------------------------------------------------------------------------


def test_two_factor_capacities_are_admin_physician_and_clinician() -> None:
    assert {"mso_admin", "pc_physician", "clinician"} == policy.TWO_FACTOR_CAPACITIES
    assert set(CAPACITIES) >= policy.TWO_FACTOR_CAPACITIES


@pytest.mark.parametrize("capacity", sorted(CAPACITIES))
def test_tenant_pages_ask_for_the_second_factor_only_where_the_capacity_needs_it(
    client: Client, world_a: World, capacity: str
) -> None:
    client.force_login(world_a.user(capacity))  # password only
    response = client.get(dashboard(world_a))
    if capacity in policy.TWO_FACTOR_CAPACITIES:
        assert response.status_code == 302
        assert response["Location"] == f"{TWO_FACTOR}?{urlencode({'next': dashboard(world_a)})}"
        # no device yet: the 2FA page sends the user on to set one up, keeping next
        onward = client.get(response["Location"])
        assert onward.status_code == 302
        assert onward["Location"] == f"{SETUP}?{urlencode({'next': dashboard(world_a)})}"
    else:
        assert response.status_code == 200


def test_unverified_session_gets_no_tenant_data_and_htmx_is_sent_by_hx_redirect(
    client: Client, world_a: World
) -> None:
    authenticator(world_a.user("pc_physician"))
    client.force_login(world_a.user("pc_physician"))
    chart = world_a.charts[0]
    url = reverse("chart-detail", kwargs={"tenant_slug": "alpha", "pk": chart.pk})
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(TWO_FACTOR)
    assert chart.patient_name not in body(response)
    assert not AuditLogEntry.objects.filter(action="read").exists()  # nothing was read
    hx = client.get(url, headers={"HX-Request": "true"})
    assert hx.status_code == 204
    assert hx["HX-Redirect"] == f"{TWO_FACTOR}?{urlencode({'next': url})}"


def test_unverified_person_may_still_switch_to_a_capacity_without_second_factor(
    client: Client, world_a: World
) -> None:
    staff = world_a.members["mso_staff"]
    rn = membership_create(tenant=world_a.tenant, user=staff.user, capacity="clinician", license_type="RN")
    object_access_grant(membership=rn, obj=world_a.pcs[0], perms=["view_professionalcorporation"])
    client.force_login(staff.user)
    switch = reverse("capacity-switch", kwargs={"tenant_slug": "alpha"})
    assert client.post(switch, {"membership": str(rn.pk)}).status_code == 302
    assert client.get(dashboard(world_a))["Location"].startswith(TWO_FACTOR)
    assert client.get(switch).status_code == 200  # the switch stays reachable, nothing activated
    assert client.post(switch, {"membership": str(staff.pk)}).status_code == 302
    assert client.get(dashboard(world_a)).status_code == 200


def test_api_keys_need_no_second_factor(world_a: World) -> None:
    _, raw = api_key_create(ctx=world_a.ctx("clinician", via="api"), name="Charting device")
    response = client_for(raw).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["capacity"]["code"] == "clinician"


# --- Two-factor: setup, verification, throttling ---------------------------------------------------


def test_setup_shows_the_secret_and_uri_and_a_right_code_turns_it_on(client: Client, world_a: World) -> None:
    user = world_a.user("mso_admin")
    client.force_login(user)
    page = client.get(f"{SETUP}?next=/t/alpha/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    pending = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = page.context["secret"].replace(" ", "")
    assert secret == base64.b32encode(pending.bin_key).decode()
    html = body(page)
    assert page.context["otpauth_uri"].startswith("otpauth://totp/MSO%20Platform%3A")
    assert f"secret={secret}" in page.context["otpauth_uri"]
    assert 'src="data:image/svg+xml' in html  # the QR code, rendered offline as SVG

    wrong = client.post(SETUP, {"token": "000000" if totp_code(pending) != "000000" else "111111"})
    assert wrong.status_code == 200
    assert "not valid" in body(wrong)
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    pending.throttling_failure_timestamp = None  # skip the wait after the wrong code
    pending.save()

    done = client.post(SETUP, {"token": totp_code(pending), "next": "/t/alpha/"})
    assert done.status_code == 200
    assert done["Cache-Control"] == "no-store"
    codes = done.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(code in body(done) for code in codes)
    assert TOTPDevice.objects.get(user=user).confirmed
    assert client.get(dashboard(world_a)).status_code == 200  # verified by the setup itself
    assert audit_actions(user) == ["2fa_failed", "2fa_setup"]
    failed = AuditLogEntry.objects.get(actor=user, action="2fa_failed")
    assert failed.detail == {"method": "totp", "stage": "setup"} and failed.client_ip == "127.0.0.1"


def test_recovery_codes_are_stored_hashed_only(world_a: World) -> None:
    user = world_a.user("clinician")
    codes = services.recovery_codes_issue(user=user)
    stored = list(RecoveryCode.objects.filter(device__user=user))
    assert len(stored) == 10
    for code, row in zip(codes, stored, strict=True):
        assert code.replace("-", "") not in row.code_hash
        # the project's password hasher (Argon2 in production, MD5 here for speed), salted per code
        assert identify_hasher(row.code_hash).algorithm == identify_hasher(make_password("x")).algorithm
        assert check_password(code.replace("-", ""), row.code_hash)
    with connection.cursor() as cur:
        cur.execute("SELECT string_agg(code_hash, ' ') FROM public.security_recoverycode")
        dump = cur.fetchone()[0]
    assert not any(code.replace("-", "") in dump or code in dump for code in codes)


def test_a_password_alone_cannot_replace_the_authenticator(client: Client, world_a: World) -> None:
    user = world_a.user("mso_admin")
    authenticator(user)
    client.force_login(user)
    response = client.get(SETUP)
    assert response.status_code == 302 and response["Location"] == TWO_FACTOR
    assert not TOTPDevice.objects.filter(user=user, confirmed=False).exists()


def test_wrong_code_is_refused_audited_and_throttled(client: Client, world_a: World) -> None:
    user = world_a.user("pc_physician")
    device = authenticator(user)
    client.force_login(user)
    right = totp_code(device)
    wrong = str((int(right) + 1) % 1_000_000).zfill(6)
    with override_settings(OTP_TOTP_THROTTLE_FACTOR=60):  # a wait no slow CI run can sleep through
        refused = client.post(TWO_FACTOR, {"token": wrong})
        assert refused.status_code == 200
        assert "That code is not valid" in body(refused)
        assert client.get(dashboard(world_a))["Location"].startswith(TWO_FACTOR)
        # right after a wrong code even the right one is not checked
        throttled = client.post(TWO_FACTOR, {"token": right})
        assert throttled.status_code == 200
        assert "Too many wrong codes. Wait" in body(throttled)
        assert client.get(dashboard(world_a))["Location"].startswith(TWO_FACTOR)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # the failure was committed with the 200
    malformed = client.post(TWO_FACTOR, {"token": "12ab"})
    assert "Enter the 6-digit code" in body(malformed)
    assert audit_actions(user) == ["2fa_failed", "2fa_throttled", "2fa_failed"]

    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - dt.timedelta(minutes=5)
    )
    key_before = client.session.session_key
    ok = client.post(TWO_FACTOR, {"token": right, "next": dashboard(world_a)})
    assert ok.status_code == 302 and ok["Location"] == dashboard(world_a)
    assert client.session.session_key != key_before  # a fresh session key once verified
    assert client.get(dashboard(world_a)).status_code == 200
    assert audit_actions(user)[-1] == "2fa_verified"
    # the same code (time step) cannot be replayed in another session
    other = Client()
    other.force_login(user)
    assert "not valid" in body(other.post(TWO_FACTOR, {"token": right}))


def test_verification_redirects_only_to_local_paths(client: Client, world_a: World) -> None:
    user = world_a.user("clinician")
    device = authenticator(user)
    for target in ("https://evil.example/", "//evil.example/", "/t/alpha/../x/"):
        TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
        client.force_login(user)
        response = client.post(TWO_FACTOR, {"token": totp_code(device), "next": target})
        assert response["Location"] == reverse("tenant-picker"), target
        client.logout()


# --- Recovery codes ---------------------------------------------------------------------------------


def test_recovery_code_works_once_instead_of_a_totp_code(client: Client, world_a: World) -> None:
    user = world_a.user("clinician")
    authenticator(user)
    codes = services.recovery_codes_issue(user=user)
    client.force_login(user)
    used = client.post(TWO_FACTOR, {"recovery_code": codes[0].upper(), "next": dashboard(world_a)})
    assert used.status_code == 302 and used["Location"] == dashboard(world_a)
    assert client.get(dashboard(world_a)).status_code == 200
    assert RecoveryCode.objects.filter(device__user=user, used_at__isnull=False).count() == 1
    entry = AuditLogEntry.objects.get(actor=user, action="2fa_recovery_code_used")
    assert entry.detail == {"remaining": 9}

    client.logout()
    client.force_login(user)
    again = client.post(TWO_FACTOR, {"recovery_code": codes[0]})
    assert again.status_code == 200
    assert "That recovery code is not valid" in body(again)
    assert client.get(dashboard(world_a))["Location"].startswith(TWO_FACTOR)
    RecoveryCodeDevice.objects.filter(user=user).update(throttling_failure_timestamp=None)
    second = client.post(TWO_FACTOR, {"recovery_code": codes[1].replace("-", " ")})
    assert second.status_code == 302
    assert services.recovery_codes_remaining(user=user) == 8
    assert audit_actions(user) == ["2fa_recovery_code_used", "2fa_failed", "2fa_recovery_code_used"]


def test_recovery_codes_can_be_regenerated_by_a_verified_session_only(client: Client, world_a: World) -> None:
    user = world_a.user("mso_admin")
    authenticator(user)
    old = services.recovery_codes_issue(user=user)
    client.force_login(user)
    unverified = client.post(RECOVERY)
    assert unverified.status_code == 302 and unverified["Location"].startswith(TWO_FACTOR)
    assert services.recovery_codes_remaining(user=user) == 10
    first_stored = RecoveryCode.objects.filter(device__user=user)[0].code_hash
    assert check_password(old[0].replace("-", ""), first_stored)

    sign_in(client, user)
    page = client.get(RECOVERY)
    assert page.status_code == 200 and page.context["remaining"] == 10
    fresh = client.post(RECOVERY)
    assert fresh.status_code == 200 and fresh["Cache-Control"] == "no-store"
    new = fresh.context["codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert audit_actions(user)[-1] == "2fa_recovery_codes_issued"

    client.logout()
    client.force_login(user)
    assert "not valid" in body(client.post(TWO_FACTOR, {"recovery_code": old[2]}))
    RecoveryCodeDevice.objects.filter(user=user).update(throttling_failure_timestamp=None)
    assert client.post(TWO_FACTOR, {"recovery_code": new[2]}).status_code == 302


def test_no_tenant_role_can_read_second_factor_secrets() -> None:
    with connection.cursor() as cur:
        for table in ("otp_totp_totpdevice", "security_recoverycodedevice", "security_recoverycode"):
            for role in boundary.TENANT_ROLES:
                cur.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", [role, f"public.{table}"])
                assert cur.fetchone()[0] is False, (role, table)
            gateway = boundary.GATEWAY_ROLE
            cur.execute("SELECT has_table_privilege(%s, %s, 'UPDATE')", [gateway, f"public.{table}"])
            assert cur.fetchone()[0] is True, table


# --- Failed sign-in lockout (real commits: the request transaction is the outermost one) -----------


def login(client: Client, email: str, password: str, ip: str = "127.0.0.1") -> Any:
    return client.post(reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db(transaction=True)
def test_five_failed_sign_ins_lock_the_email_from_that_address() -> None:
    world = build_world("alpha")
    email = world.user("mso_staff").email
    client = Client()
    for attempt in range(1, 5):
        response = login(client, email if attempt % 2 else email.upper(), "wrong-password!")
        assert response.status_code == 200, attempt
        assert "do not match an active account" in body(response)
    fifth = login(client, email, "wrong-password!")
    assert fifth.status_code == 429
    assert "Too many failed sign-in attempts" in body(fifth) and "15 minutes" in body(fifth)
    assert fifth["Retry-After"] == "900"

    right = login(client, email, PASSWORD)
    assert right.status_code == 429
    assert "Too many failed sign-in attempts" in body(right)
    assert client.get(reverse("tenant-picker")).status_code == 302  # not signed in

    # Counted in the database although the lockout page is a 429 (committed before it was made).
    attempt_row = AccessAttempt.objects.get(username=email, ip_address="127.0.0.1")
    assert attempt_row.failures_since_start == 5
    assert AuditLogEntry.objects.filter(action="login_failed").count() == 6

    # Locked by email and address together: the same person elsewhere still signs in.
    elsewhere = Client()
    assert login(elsewhere, email, PASSWORD, ip="198.51.100.7").status_code == 302
    assert elsewhere.get(reverse("tenant-picker")).status_code == 200

    # After the cool-off the right password works again, and the counter is cleared.
    AccessAttempt.objects.filter(pk=attempt_row.pk).update(
        attempt_time=timezone.now() - dt.timedelta(minutes=16)
    )
    assert login(client, email, PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username=email, ip_address="127.0.0.1").exists()


def test_lockout_settings() -> None:
    assert settings.AXES_FAILURE_LIMIT == 5
    assert dt.timedelta(minutes=15) == settings.AXES_COOLOFF_TIME
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.MIDDLEWARE.index("axes.middleware.AxesMiddleware") < settings.MIDDLEWARE.index(
        "tenants.middleware.RequestTransactionMiddleware"
    )


# --- API rate limit per key ---------------------------------------------------------------------


def test_api_rate_limit_is_per_key_with_429_and_retry_after(world_a: World) -> None:
    busy_key, first = api_key_create(ctx=world_a.ctx("mso_admin", via="api"), name="Busy sync")
    key_b, second = api_key_create(ctx=world_a.ctx("mso_compliance", via="api"), name="Quiet sync")
    rates = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "3/min"}}
    with override_settings(REST_FRAMEWORK=rates):
        busy = client_for(first)
        assert [busy.get("/api/v1/locations/").status_code for _ in range(3)] == [200, 200, 200]
        over = busy.get("/api/v1/locations/")
        assert over.status_code == 429
        assert 1 <= int(over["Retry-After"]) <= 60
        assert "throttled" in over.json()["detail"].lower()
        assert client_for(second).get("/api/v1/locations/").status_code == 200  # another key: own budget
        # the window lives in the cache's Redis, keyed by the key's id; the refused request is not in it
        assert redis_client().zcard(window_key("api_key", key_b.pk)) == 1
        assert redis_client().zcard(window_key("api_key", busy_key.pk)) == 3


def test_api_requests_are_refused_with_503_while_the_rate_limiter_is_unreachable(world_a: World) -> None:
    """A limit that cannot be checked is not waived: 503 with a JSON message, nothing read, no 500."""
    _, raw = api_key_create(ctx=world_a.ctx("mso_admin", via="api"), name="Redis down")
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/1"
    caches = {"default": {**settings.CACHES["default"], "LOCATION": dead}}
    with override_settings(CACHES=caches):
        response = client_for(raw).get("/api/v1/locations/")
    assert response.status_code == 503
    assert response.json() == {"detail": "The API rate limiter is unavailable; try again shortly."}
    assert client_for(raw).get("/api/v1/locations/").status_code == 200  # the limiter is back


def test_api_rate_limit_holds_under_concurrent_requests_of_one_key(world_a: World) -> None:
    """Twelve requests of one key at once against a budget of 5: exactly 5 pass (the check and
    the count are one atomic step in Redis; a read-then-write counter lets them all through)."""
    key, _ = api_key_create(ctx=world_a.ctx("mso_admin", via="api"), name="Burst")
    view = SimpleNamespace(throttle_scope=None)
    request = SimpleNamespace(user=KeyUser(key))
    start = threading.Barrier(12)

    def attempt() -> bool:
        throttle = ApiKeyRateThrottle()
        start.wait()
        return throttle.allow_request(request, view)  # type: ignore[arg-type]

    rates = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "5/min"}}
    with override_settings(REST_FRAMEWORK=rates), ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(lambda _: attempt(), range(12)))
    assert outcomes.count(True) == 5
    assert redis_client().zcard(window_key("api_key", key.pk)) == 5
    refused = ApiKeyRateThrottle()
    with override_settings(REST_FRAMEWORK=rates):
        assert refused.allow_request(request, view) is False  # type: ignore[arg-type]
    wait = refused.wait()
    assert wait is not None and 1 <= wait <= 60


def test_cache_is_redis_and_socket_urls_are_converted() -> None:
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    cache.set("security-probe", "ok", 5)
    assert cache.get("security-probe") == "ok"
    assert cache_redis_url("redis+socket:///tmp/mso/redis.sock", 1) == "unix:///tmp/mso/redis.sock?db=1"
    assert cache_redis_url("redis://:pw@redis:6379/0", 1) == "redis://:pw@redis:6379/1"
    assert cache_redis_url("redis://redis:6379", 2) == "redis://redis:6379/2"


# --- Idle sessions -----------------------------------------------------------------------------------


def idle_for(client: Client, minutes: float) -> None:
    session = client.session
    session[LAST_SEEN_KEY] = time.time() - minutes * 60
    session.save()


@pytest.mark.parametrize(
    ("capacity", "idle_minutes", "signed_out"),
    [
        ("clinician", 14, False),
        ("clinician", 16, True),
        ("pc_physician", 16, True),
        ("mso_staff", 16, False),
        ("mso_staff", 31, True),
        ("mso_admin", 29, False),
    ],
)
def test_idle_sessions_are_signed_out_per_capacity(
    client: Client, world_a: World, capacity: str, idle_minutes: int, signed_out: bool
) -> None:
    sign_in(client, world_a.user(capacity), verified=policy.requires_two_factor(capacity))
    assert client.get(dashboard(world_a)).status_code == 200
    assert client.session[IDLE_LIMIT_KEY] == policy.idle_timeout(capacity).total_seconds()
    idle_for(client, idle_minutes)
    response = client.get(dashboard(world_a))
    if not signed_out:
        assert response.status_code == 200
        return
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?{urlencode({'next': dashboard(world_a)})}"
    limit = round(policy.idle_timeout(capacity).total_seconds() / 60)
    login_page = client.get(response["Location"])
    assert f"You were signed out after {limit} minutes without activity" in body(login_page)
    assert client.get(reverse("tenant-picker")).status_code == 302  # the session is gone
    entry = AuditLogEntry.objects.get(action="idle_timeout")
    assert entry.actor_id == world_a.user(capacity).pk
    assert AuditLogEntry.objects.filter(action="logout", actor=world_a.user(capacity)).exists()


def test_idle_limits_default_to_15_minutes_clinical_and_30_business() -> None:
    assert policy.idle_timeout("pc_physician") == dt.timedelta(minutes=15)
    assert policy.idle_timeout("clinician") == dt.timedelta(minutes=15)
    for code in ("mso_admin", "mso_staff", "mso_compliance", "auditor", None):
        assert policy.idle_timeout(code) == dt.timedelta(minutes=30)


def test_idle_htmx_request_gets_a_full_page_redirect(client: Client, world_a: World) -> None:
    sign_in(client, world_a.user("clinician"))
    client.get(dashboard(world_a))
    idle_for(client, 20)
    response = client.get(dashboard(world_a), headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("login"))


# --- Content-Security-Policy, cookies, hashing ------------------------------------------------------


def test_pages_carry_a_strict_csp_without_unsafe_inline(client: Client, world_a: World) -> None:
    user = world_a.user("mso_admin")
    anonymous = [client.get(reverse("login"))]
    sign_in(client, user)
    pages = [
        *anonymous,
        client.get(reverse("tenant-picker")),
        client.get(dashboard(world_a)),
        client.get(reverse("location-list", kwargs={"tenant_slug": "alpha"})),
        client.get(RECOVERY),
        client.get("/t/alpha/no-such-page/"),
        client.get("/api/v1/schema/"),
    ]
    for response in pages:
        csp = response["Content-Security-Policy"]
        assert csp == settings.CONTENT_SECURITY_POLICY
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert directives["img-src"] == "'self' data:"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["base-uri"] == "'self'" and directives["form-action"] == "'self'"


def test_only_the_api_doc_pages_get_the_inline_exception(client: Client) -> None:
    for path in ("/api/v1/docs/", "/api/v1/redoc/"):
        response = client.get(path)
        assert response.status_code == 200
        assert "'unsafe-inline'" in response["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert set(settings.CONTENT_SECURITY_POLICY_EXCEPTIONS) == {"/api/v1/docs/", "/api/v1/redoc/"}


def test_debug_mode_spares_only_the_technical_error_pages(client: Client) -> None:
    with override_settings(DEBUG=True):
        assert "Content-Security-Policy" not in client.get("/no-such-page/")
        assert client.get(reverse("login"))["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY


def test_templates_hold_no_inline_script_or_style() -> None:
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.IGNORECASE)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "templates").rglob("*.html")
        if inline.search(path.read_text())
    ]
    assert offenders == []


def test_forms_refuse_a_post_without_the_csrf_token(world_a: World) -> None:
    """Django's test client skips CSRF checks unless told to enforce them, as a browser meets them."""
    strict = Client(enforce_csrf_checks=True)
    email = world_a.user("mso_admin").email
    # The sign-in form, posted from another site (no token): refused, nobody signed in.
    refused = strict.post(reverse("login"), {"username": email, "password": PASSWORD})
    assert refused.status_code == 403
    assert "_auth_user_id" not in strict.session
    # A signed-in session, its CSRF cookie set as a browser holds it (a cross-site form sends the
    # cookies along, not the token): refused without the token or with a forged one.
    browser = Client()
    sign_in(browser, world_a.user("mso_admin"))
    strict.cookies = browser.cookies
    keys = reverse("api-keys", kwargs={"tenant_slug": world_a.tenant.slug})
    assert strict.get(keys).status_code == 200
    token = strict.cookies[settings.CSRF_COOKIE_NAME].value
    before = ApiKey.objects.filter(tenant=world_a.tenant).count()
    assert strict.post(keys, {"name": "Cross-site"}).status_code == 403
    assert strict.post(keys, {"name": "Forged", "csrfmiddlewaretoken": "x" * len(token)}).status_code == 403
    assert ApiKey.objects.filter(tenant=world_a.tenant).count() == before
    # The same post with the token the page's form carries goes through.
    assert strict.post(keys, {"name": "Same-site", "csrfmiddlewaretoken": token}).status_code == 201
    assert ApiKey.objects.filter(tenant=world_a.tenant).count() == before + 1


def test_session_cookie_is_httponly_and_passwords_use_argon2_first() -> None:
    assert settings.SESSION_COOKIE_HTTPONLY and settings.CSRF_COOKIE_HTTPONLY
    from mso_platform.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    encoded = Argon2PasswordHasher().encode("correct-horse-battery", "somesalt0123")
    assert encoded.startswith("argon2$argon2id$")
    assert Argon2PasswordHasher().verify("correct-horse-battery", encoded)


def production_env() -> dict[str, str]:
    env = dict(os.environ)
    # Set by tests/browser/conftest.py for Playwright's event loop; never part of a deployment.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(
        DJANGO_SETTINGS_MODULE="mso_platform.settings.production",
        SECRET_KEY="prod-test-" + "k3y-" * 12 + "Zq9!xW2@vR7#",
        ALLOWED_HOSTS="mso.example.com",
    )
    return env


def test_production_settings_pass_check_deploy_and_harden_cookies() -> None:
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "System check identified no issues" in check.stdout
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.PASSWORD_HASHERS[0], s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_NAME, s.DEBUG)"
    )
    shown = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert shown.stdout.split() == [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "True",
        "True",
        "True",
        "__Host-sessionid",
        "False",
    ]
