"""Signing a test client in the way a person does: password session, then the second factor.

`client.force_login` alone no longer reaches the pages of capacities that need two-factor
(tenants/security/policy.py): TenantMiddleware sends such sessions to /account/2fa/. sign_in()
completes that step for real: it gives the user a confirmed TOTP device (as setup would) and posts
the current code, computed from the device key like an authenticator app, to the verify page.
"""

from __future__ import annotations

import time

from django.test import Client
from django.urls import reverse
from django_otp.oath import hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.models import User


def authenticator(user: User) -> TOTPDevice:
    """The user's confirmed authenticator, created as a finished setup would leave it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Test authenticator", confirmed=True)
    return device


def totp_code(device: TOTPDevice, *, fresh: bool = True) -> str:
    """The code an authenticator app shows now for this device.

    fresh: a device refuses a time step it has already accepted (replay protection), so when the
    current step is used up take the next one, which the device's tolerance (±1 step) accepts.
    """
    device.refresh_from_db()
    step = (int(time.time()) - device.t0) // device.step
    if fresh and step <= device.last_t:
        step = device.last_t + 1
        if step > (int(time.time()) - device.t0) // device.step + device.drift + device.tolerance:
            raise RuntimeError("no unused TOTP step left for this device; sign in fewer times per 30 s")
    return f"{hotp(device.bin_key, step, digits=device.digits):0{device.digits}d}"


def verify_second_factor(client: Client, user: User) -> None:
    code = totp_code(authenticator(user))
    response = client.post(reverse("two-factor"), {"token": code})
    assert response.status_code == 302, response.content.decode()[:2000]


def sign_in(client: Client, user: User, *, verified: bool = True) -> Client:
    """Log `user` in; with verified=True also pass the second factor through the verify page."""
    client.force_login(user)
    if verified:
        verify_second_factor(client, user)
    return client
