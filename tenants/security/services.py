"""Writes of the second-factor flow: authenticator setup, recovery codes, verification."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

import django_otp
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.models import User
from tenants.security.models import (
    RECOVERY_ALPHABET,
    RECOVERY_CODE_LENGTH,
    RecoveryCode,
    RecoveryCodeDevice,
    normalize_recovery_code,
)

RECOVERY_CODE_COUNT = 10


def totp_device_confirmed(*, user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()


@transaction.atomic
def totp_device_pending(*, user: User) -> TOTPDevice:
    """The authenticator being set up (unconfirmed until the user proves it with a code)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def recovery_code_generate() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


@transaction.atomic
def recovery_codes_issue(*, user: User) -> list[str]:
    """Replace the user's recovery codes with ten new ones; only their hashes are stored.

    Returns the codes in clear text, to be shown once.
    """
    device, _ = RecoveryCodeDevice.objects.get_or_create(
        user=user, defaults={"name": "Recovery codes", "confirmed": True}
    )
    device.codes.all().delete()
    codes = [recovery_code_generate() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(device=device, code_hash=make_password(normalize_recovery_code(c))) for c in codes]
    )
    device.throttle_reset(commit=True)
    return codes


def recovery_codes_remaining(*, user: User) -> int:
    device = RecoveryCodeDevice.objects.filter(user=user).first()
    return device.remaining() if device else 0


@transaction.atomic
def totp_device_confirm(*, user: User, device: TOTPDevice) -> list[str]:
    """Make the proven authenticator the user's only one and issue fresh recovery codes."""
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return recovery_codes_issue(user=user)


@dataclass(frozen=True)
class Verification:
    """Outcome of one code: the device that accepted it, or a refusal and the wait before the next try.

    checked=False: the device was still in its wait after an earlier wrong code; this code was not
    even compared (and does not count as a new failure).
    """

    device: Any = None
    checked: bool = True
    wait_seconds: int = 0

    @property
    def ok(self) -> bool:
        return self.device is not None


def throttle_wait(device: Any) -> int:
    """Seconds until the device accepts another try (0: now)."""
    allowed, info = device.verify_is_allowed()
    if allowed or not info or "locked_until" not in info:
        return 0
    return max(1, math.ceil((info["locked_until"] - timezone.now()).total_seconds()))


def second_factor_verify(*, user: User, device: Any, token: str) -> Verification:
    """Check one code against one device, under django-otp's row lock and throttling.

    A wrong code raises the device's wait (2, 4, 8 … s); tries during the wait are refused unchecked.
    """
    wait = throttle_wait(device)
    if wait:
        return Verification(checked=False, wait_seconds=wait)
    accepted = django_otp.verify_token(user, device.persistent_id, token)
    if accepted is not None:
        return Verification(device=accepted)
    refreshed = type(device).objects.get(pk=device.pk)
    return Verification(wait_seconds=throttle_wait(refreshed))
