"""Recovery codes as a django-otp device, stored as password hashes (never in plain text).

django-otp's own static-token plugin keeps its tokens readable in the database; a leaked dump
would then be a second factor for everyone. Here each code is hashed with the project's password
hashers (Argon2 in production) and can be used once.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import models
from django.utils import timezone
from django_otp.models import Device, DeviceManager, ThrottlingMixin

# Unambiguous lower-case letters and digits (no 0/o, 1/l/i) so codes survive being typed from paper.
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
RECOVERY_CODE_LENGTH = 10


def normalize_recovery_code(raw: str) -> str:
    """What the user typed, without spaces, dashes or case: 'ABCDE-FGHJK' == 'abcdefghjk'."""
    return "".join(ch for ch in raw.lower() if ch in RECOVERY_ALPHABET)


class RecoveryCodeDevice(ThrottlingMixin, Device):
    """A user's current set of single-use recovery codes; verifying one consumes it."""

    class Meta(Device.Meta):
        verbose_name = "recovery code set"

    objects = DeviceManager()
    # For django-stubs only (django-otp is untyped): the manager type behind user.recoverycodedevice_set.
    _default_manager: ClassVar[models.Manager[RecoveryCodeDevice]]
    codes: models.Manager[RecoveryCode]

    def get_throttle_factor(self) -> int:
        return int(getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1))

    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()

    def verify_token(self, token: Any) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        candidate = normalize_recovery_code(str(token))
        match = None
        if len(candidate) == RECOVERY_CODE_LENGTH:
            # At most ten unused codes, each salted: compare against every one.
            for code in self.codes.filter(used_at__isnull=True):
                if check_password(candidate, code.code_hash):
                    match = code
                    break
        if match is None:
            self.throttle_increment(commit=True)
            return False
        match.used_at = timezone.now()
        match.save(update_fields=["used_at"])
        self.throttle_reset(commit=True)
        return True


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=256)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"recovery code of {self.device.user_id} ({'used' if self.used_at else 'unused'})"
