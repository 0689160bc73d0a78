"""The second-factor pages: verify (TOTP or a recovery code), set up an authenticator, recovery codes.

These pages live outside /t/<slug>/, so they run in the gateway phase (no tenant, no capacity):
the device tables are granted to the gateway role only.

A refused code answers 200 with the form and a message, like the sign-in page: a 4xx would make
RequestTransactionMiddleware roll back the device's failure counter (its throttling) and the
audit entry of the failure.
"""

from __future__ import annotations

from base64 import b32encode
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import django_otp
import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants import audit
from tenants.middleware import client_ip
from tenants.models import User
from tenants.security import services
from tenants.security.forms import RecoveryCodeForm, TotpCodeForm
from tenants.security.middleware import is_verified
from tenants.security.models import RecoveryCodeDevice
from tenants.security.services import Verification


def safe_local_next(request: HttpRequest) -> str | None:
    """?next= only when it is a path on this site (no other host, no scheme, no dot segments)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(target)
    path = unquote(parts.path)
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//"):
        return None
    if "\\" in path or {".", ".."} & set(path.split("/")):
        return None
    return target


def url_with_next(name: str, next_url: str | None) -> str:
    url = reverse(name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def signed_in_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


def record(request: HttpRequest, action: str, **detail: Any) -> None:
    user = signed_in_user(request)
    audit.record(
        None,
        action,
        object_type="auth.user",
        object_id=str(user.pk),
        actor=user,
        client_ip=client_ip(request),
        detail=detail,
    )


def refusal(result: Verification, what: str) -> str:
    if not result.checked:
        return f"Too many wrong codes. Wait {result.wait_seconds} seconds, then try again."
    return f"That {what} is not valid. Try again" + (
        f" in {result.wait_seconds} seconds." if result.wait_seconds else "."
    )


def audit_refusal(request: HttpRequest, result: Verification | None, **detail: Any) -> None:
    if result is not None and not result.checked:
        record(request, "2fa_throttled", wait_seconds=result.wait_seconds, **detail)
    else:
        record(request, "2fa_failed", **detail)


def complete(request: HttpRequest, device: Any) -> None:
    """Mark the session as having passed the second factor, under a fresh session key."""
    django_otp.login(request, device)
    request.session.cycle_key()


@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    next_url = safe_local_next(request)
    device = services.totp_device_confirmed(user=user)
    if device is None:
        return redirect(url_with_next("two-factor-setup", next_url))
    done = next_url or reverse("tenant-picker")
    if request.method == "GET" and is_verified(request):
        return redirect(done)
    totp_form, recovery_form = TotpCodeForm(), RecoveryCodeForm()
    if request.method == "POST" and "recovery_code" in request.POST:
        recovery_form = RecoveryCodeForm(request.POST)
        codes = RecoveryCodeDevice.objects.filter(user=user, confirmed=True).first()
        result = None
        if recovery_form.is_valid():
            if codes is None:
                recovery_form.add_error(None, "You have no recovery codes. Use your authenticator app.")
            else:
                result = services.second_factor_verify(
                    user=user, device=codes, token=recovery_form.cleaned_data["recovery_code"]
                )
                if result.ok:
                    complete(request, result.device)
                    left = codes.remaining()
                    record(request, "2fa_recovery_code_used", remaining=left)
                    messages.warning(
                        request,
                        f"Recovery code accepted; it cannot be used again. {left} left. "
                        "If your authenticator is lost, set up a new one and get new codes.",
                    )
                    return redirect(done)
                recovery_form.add_error(None, refusal(result, "recovery code"))
        audit_refusal(request, result, method="recovery_code")
    elif request.method == "POST":
        totp_form = TotpCodeForm(request.POST)
        result = None
        if totp_form.is_valid():
            result = services.second_factor_verify(
                user=user, device=device, token=totp_form.cleaned_data["token"]
            )
            if result.ok:
                complete(request, result.device)
                record(request, "2fa_verified", method="totp")
                return redirect(done)
            totp_form.add_error("token", refusal(result, "code"))
        audit_refusal(request, result, method="totp")
    return render(
        request,
        "account/two_factor_verify.html",
        {"totp_form": totp_form, "recovery_form": recovery_form, "next": next_url or ""},
    )


def grouped(text: str, size: int = 4) -> str:
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Set up (or, once verified, replace) the authenticator app: secret and otpauth URI as text,
    the same as an offline QR code, and a first code to prove it works."""
    user = signed_in_user(request)
    next_url = safe_local_next(request)
    if services.totp_device_confirmed(user=user) is not None and not is_verified(request):
        # A password alone must not be enough to replace the authenticator.
        return redirect(url_with_next("two-factor", next_url))
    device = services.totp_device_pending(user=user)
    form = TotpCodeForm()
    if request.method == "POST":
        form = TotpCodeForm(request.POST)
        result = None
        if form.is_valid():
            result = services.second_factor_verify(user=user, device=device, token=form.cleaned_data["token"])
            if result.ok:
                codes = services.totp_device_confirm(user=user, device=device)
                complete(request, TOTPDevice.objects.get(pk=device.pk))
                record(request, "2fa_setup", method="totp")
                return recovery_codes_page(request, codes, next_url)
            form.add_error("token", refusal(result, "code"))
        audit_refusal(request, result, method="totp", stage="setup")
    uri = device.config_url
    response = render(
        request,
        "account/two_factor_setup.html",
        {
            "form": form,
            "next": next_url or "",
            "otpauth_uri": uri,
            "secret": grouped(b32encode(device.bin_key).decode()),
            "qr_data_uri": segno.make(uri, error="m").svg_data_uri(scale=4, border=2),
        },
    )
    response["Cache-Control"] = "no-store"  # the page shows the shared secret
    return response


def recovery_codes_page(request: HttpRequest, codes: list[str], next_url: str | None) -> HttpResponse:
    response = render(
        request,
        "account/recovery_codes.html",
        {"codes": codes, "remaining": len(codes), "next": next_url or reverse("tenant-picker")},
    )
    response["Cache-Control"] = "no-store"  # shown once, never cached
    return response


@login_required
@require_http_methods(["GET", "POST"])
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """How many codes are left; POST replaces them all with ten new ones (shown once)."""
    user = signed_in_user(request)
    here = reverse("two-factor-recovery-codes")
    if not is_verified(request):
        return redirect(url_with_next("two-factor", here))
    if request.method == "POST":
        codes = services.recovery_codes_issue(user=user)
        record(request, "2fa_recovery_codes_issued", count=len(codes))
        return recovery_codes_page(request, codes, safe_local_next(request))
    return render(
        request,
        "account/recovery_codes.html",
        {"codes": None, "remaining": services.recovery_codes_remaining(user=user), "next": ""},
    )
