"""Tenants, users, memberships (capacities), API keys and the append-only audit log."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import Group, PermissionsMixin
from django.db import models
from django.utils import timezone

from tenants.capacities import CAPACITIES, CAPACITY_CHOICES, Capacity, Side

if TYPE_CHECKING:
    from tenants.access import AccessContext


class Tenant(models.Model):
    """One customer organization of the SaaS: an MSO business with its PCs and locations."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    home_state = models.CharField(max_length=2, default="CA")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """A person. What they may do depends on the membership (capacity) they act in, not on the user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    objects = UserManager()

    def __str__(self) -> str:
        return self.full_name or self.email


class LicenseType(models.TextChoices):
    MD = "MD", "Physician (MD)"
    DO = "DO", "Physician (DO)"
    NP = "NP", "Nurse practitioner"
    PA = "PA", "Physician assistant"
    RN = "RN", "Registered nurse"
    LVN = "LVN", "Licensed vocational nurse"
    ESTHETICIAN = "EST", "Esthetician"


class Membership(models.Model):
    """A user's capacity in a tenant. A person with two capacities has two memberships."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    capacity = models.CharField(max_length=32, choices=CAPACITY_CHOICES)
    license_type = models.CharField(max_length=8, choices=LicenseType.choices, blank=True)
    # Object permissions (guardian) are granted to this group, so they follow the capacity.
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="membership")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Required for auditors.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "capacity"], name="one_membership_per_capacity"
            ),
            models.CheckConstraint(
                condition=~models.Q(capacity="auditor") | models.Q(expires_at__isnull=False),
                name="auditor_membership_expires",
            ),
            models.CheckConstraint(
                condition=~models.Q(capacity__in=["pc_physician", "clinician"]) | ~models.Q(license_type=""),
                name="clinical_membership_has_license_type",
            ),
        ]
        ordering = ["capacity"]

    def __str__(self) -> str:
        return f"{self.user} as {self.capacity_spec.label} in {self.tenant}"

    @property
    def capacity_spec(self) -> Capacity:
        return CAPACITIES[self.capacity]

    def is_current(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.is_active and (self.expires_at is None or self.expires_at > now)


class ApiKey(models.Model):
    """A tenant-scoped API key acting in the capacity of the membership that created it.

    Only a SHA-256 of the secret is stored. The scope (business or clinical) is the capacity's side,
    so an MSO key can never reach clinical endpoints.
    """

    PREFIX = "msok"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def scope(self) -> Side:
        return self.membership.capacity_spec.side

    @staticmethod
    def hash_secret(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        """(raw key shown once, prefix kept for display, hash kept for lookup)."""
        raw = f"{cls.PREFIX}_{secrets.token_urlsafe(32)}"
        return raw, raw[:12], cls.hash_secret(raw)


def time_ordered_uuid() -> uuid.UUID:
    """A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits.

    The audit log's key: each entry is inserted next to the previous ones in the primary-key index,
    where a random (version 4) key lands on a random leaf of an index of millions of entries. After
    each checkpoint PostgreSQL writes a whole 8 kB image of every page it first touches, so a random
    key cost each insert ~5 kB more write-ahead log and ~0.2 ms (bench/README.md)."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 of them used
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | rand & (2**62 - 1)
    return uuid.UUID(int=value)


class AuditLogEntry(models.Model):
    """Who did what to which record, in which capacity and tenant, when and from where.

    Row writes are inserted by a database trigger on every tenant-owned table (so bulk updates and
    raw SQL are logged too); reads of clinical records and logins are inserted by the app.
    UPDATE and DELETE are refused by a trigger and by privileges.
    """

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    # No index of its own: (tenant, seq) and (tenant, at) lead with it, and every entry (each audited
    # row write, each read) pays for every index of this table.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.DO_NOTHING, null=True, db_constraint=False, db_index=False
    )
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(User, on_delete=models.DO_NOTHING, null=True, db_constraint=False)
    capacity = models.CharField(max_length=32)
    action = models.CharField(max_length=32)  # insert/update/delete (trigger), read, login, ...
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    client_ip = models.GenericIPAddressField(blank=True, null=True)
    via = models.CharField(max_length=16, default="system")  # browser, api, task, system
    # Hash chain per tenant, filled by a BEFORE INSERT trigger (values given by the app are ignored):
    # hash = sha256(prev_hash | seq | every column). Verified by `manage.py verify_audit_chain`.
    seq = models.BigIntegerField(default=0, editable=False)
    prev_hash = models.CharField(max_length=64, default="", editable=False)
    hash = models.CharField(max_length=64, default="", editable=False)

    class Meta:
        ordering = ["tenant", "seq"]
        indexes = [models.Index(fields=["tenant", "at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "seq"], nulls_distinct=False, name="one_audit_seq_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.at:%Y-%m-%d %H:%M:%S} {self.capacity} {self.action} {self.object_type} {self.object_id}"
        )


# --- Base for every tenant-owned domain model ------------------------------------------------------


@dataclass(frozen=True)
class AccessPolicy:
    """How the permission layer scopes a model.

    side: which side of the CPOM boundary the data belongs to.
    scope_path: ORM path from this model to the Location or PC whose guardian grant admits a row
    for capacities that are not tenant-wide ("" for the Location/PC model itself, None when the
    model is tenant-wide for every capacity that may see it).
    scope_model: "location" or "pc".
    """

    side: Side
    scope_model: str | None = None
    scope_path: str | None = None


class RestrictedQuerySet(models.QuerySet[Any]):
    def restrict(self, ctx: AccessContext, action: str = "view") -> RestrictedQuerySet:
        """The rows `ctx` may perform `action` on; ``none()`` when it may not at all."""
        from tenants.access import restrict

        return restrict(self, ctx, action)  # type: ignore[return-value]


class TenantOwnedModel(models.Model):
    """UUID primary key (sequence ids would leak activity across tenants), tenant FK, RLS'd table."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = RestrictedQuerySet.as_manager()
    access: ClassVar[AccessPolicy] = AccessPolicy(side=Side.BUSINESS)

    class Meta:
        abstract = True
