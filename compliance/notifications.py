"""Compliance email: new critical findings after a run, and provider credentials about to expire.

Who is told what:

- a critical *business* finding goes to the tenant's MSO administrators and compliance officers;
- a critical *clinical* finding goes only to the physicians of the PC it concerns (a pc_physician
  membership holding that PC), and the mail names the rule, never the patient or the evidence: the
  details stay behind the clinical sign-in. It is read under the clinical database role, never the
  business one;
- credentials (license, DEA, NP furnishing number, PA practice agreement, CURES) of active providers
  that expire within ``CREDENTIAL_DAYS`` go to the MSO administrators and compliance officers, who
  keep credentials as a service (RULES.md LIC-002).

Nothing is sent twice: before a mail goes out, its subjects (finding ids, credential expiries) are
claimed in ``SentNotification`` with one ``INSERT … ON CONFLICT DO NOTHING``, in the same
transaction as the send. A second run that sees the same finding, a retried task, or two workers at
once find the claim taken and send nothing. (A send that succeeds and then fails to commit is the
one case of a repeat: mail cannot be rolled back.)

``notify_after_run(run)`` is what the audit tasks call when a run ends; ``notify_all_tenants`` is the
nightly beat task (credentials, plus any critical finding a missed call left untold).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from celery import shared_task
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.mail import EmailMessage, get_connection
from django.db import connection, models
from django.db.models import Q
from django.utils import timezone

from tenants.access import AccessContext, activate, enter_gateway
from tenants.capacities import Side
from tenants.models import AccessPolicy, Membership, Tenant, TenantOwnedModel
from tenants.taskbase import SYSTEM_CAPACITIES, TenantTask, enqueue_on_commit, task_transaction

if TYPE_CHECKING:
    from compliance.models import AuditRun

log = logging.getLogger(__name__)

CREDENTIAL_DAYS = 30
# The people who answer for the tenant's compliance (tenant-wide business capacities that act).
MSO_RECIPIENTS = ("mso_admin", "mso_compliance")
PHYSICIAN = "pc_physician"


class SentNotification(TenantOwnedModel):
    """One subject (a finding, a credential's expiry) that has been mailed, to whom and when.

    ``key`` is a finding id or "<provider id>:<credential>:<expiry date>": never evidence or a
    name, since the business role may read this table whatever the subject's side.
    """

    class Kind(models.TextChoices):
        BUSINESS_FINDING = "business_finding", "Critical business finding"
        CLINICAL_FINDING = "clinical_finding", "Critical clinical finding"
        CREDENTIAL = "credential", "Credential expiring"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=200)
    recipients = ArrayField(models.CharField(max_length=254), default=list, blank=True)
    subject = models.CharField(max_length=300)
    sent_at = models.DateTimeField(default=timezone.now)

    access: ClassVar[AccessPolicy] = AccessPolicy(side=Side.BUSINESS)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            # The claim's ON CONFLICT target: a subject is mailed once.
            models.UniqueConstraint(fields=["tenant", "kind", "key"], name="notify_once_per_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.sent_at:%Y-%m-%d})"


def system_context(tenant: Tenant, side: Side) -> AccessContext:
    return AccessContext(tenant, None, SYSTEM_CAPACITIES[side], via="task")


# --- recipients ----------------------------------------------------------------------------------


def _current(prefix: str = "") -> Q:
    """Active, unexpired memberships of active users (`prefix`: the path to the membership)."""
    return (
        Q(**{f"{prefix}is_active": True, f"{prefix}user__is_active": True})
        & (Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gt": timezone.now()}))
        & ~Q(**{f"{prefix}user__email": ""})
    )


def mso_recipients(tenant: Tenant) -> list[str]:
    """Emails of the tenant's current MSO administrators and compliance officers (one query)."""
    emails = (
        Membership.objects.filter(_current(), tenant=tenant, capacity__in=MSO_RECIPIENTS)
        .order_by()
        .values_list("user__email", flat=True)
        .distinct()
    )
    return sorted(emails)


def physician_recipients(tenant: Tenant, pc_ids: Iterable[Any]) -> dict[Any, list[str]]:
    """{pc id: emails of the physicians holding that PC} (one query through the PC grants)."""
    from management.models import PcGroupObjectPermission

    rows = (
        PcGroupObjectPermission.objects.filter(
            _current("group__membership__"),
            tenant=tenant,
            content_object_id__in=list(pc_ids),
            permission__codename="view_professionalcorporation",
            group__membership__capacity=PHYSICIAN,
            group__membership__tenant=tenant,
        )
        .order_by()
        .values_list("content_object_id", "group__membership__user__email")
        .distinct()
    )
    found: dict[Any, set[str]] = defaultdict(set)
    for pc_id, email in rows:
        found[pc_id].add(email)
    return {pc_id: sorted(emails) for pc_id, emails in found.items()}


def all_physicians(tenant: Tenant) -> list[str]:
    emails = (
        Membership.objects.filter(_current(), tenant=tenant, capacity=PHYSICIAN)
        .order_by()
        .values_list("user__email", flat=True)
        .distinct()
    )
    return sorted(emails)


# --- claiming and sending ------------------------------------------------------------------------

CLAIM_SQL = """
INSERT INTO {table} (id, tenant_id, kind, key, recipients, subject, sent_at)
SELECT gen_random_uuid(), %s::uuid, %s, k, %s::varchar[], %s, %s
FROM unnest(%s::varchar[]) AS k
ON CONFLICT (tenant_id, kind, key) DO NOTHING
RETURNING key
"""


def claim(
    tenant: Tenant, kind: str, keys: Sequence[str], recipients: Sequence[str], subject: str
) -> set[str]:
    """The `keys` nobody has mailed yet, now recorded as mailed (in the caller's transaction)."""
    if not keys:
        return set()
    with connection.cursor() as cur:
        cur.execute(
            CLAIM_SQL.format(table=SentNotification._meta.db_table),
            [str(tenant.pk), kind, list(recipients), subject[:300], timezone.now(), list(keys)],
        )
        return {row[0] for row in cur.fetchall()}


def send(recipients: Sequence[str], subject: str, body: str) -> int:
    """One message per recipient (nobody learns who else was told); returns the messages sent."""
    messages = [
        EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
        for to in recipients
    ]
    with get_connection() as mail:
        return int(mail.send_messages(messages) or 0)


FOOTER = (
    "\n\nSign in to the MSO platform and open Compliance to read the findings.\nThis is not legal advice."
)


def _finding_filter(run: AuditRun | None) -> Q:
    from compliance.models import FindingStatus
    from compliance.registry import Severity

    q = Q(severity=Severity.CRITICAL) & ~Q(status=FindingStatus.RESOLVED)
    return q & Q(last_seen_run=run) if run is not None else q


def _untold(kind: str) -> Any:
    """SQL: the finding has no SentNotification of `kind` yet (checked again, atomically, by claim)."""
    from django.db.models import Exists, OuterRef
    from django.db.models.functions import Cast

    return ~Exists(
        SentNotification.objects.filter(
            tenant_id=OuterRef("tenant_id"), kind=kind, key=Cast(OuterRef("id"), models.CharField())
        )
    )


def _rule_titles(rule_ids: Iterable[str]) -> dict[str, str]:
    from compliance.engine import rules_by_id

    return {r.id: r.title for r in rules_by_id(sorted(set(rule_ids)))}


def notify_business_findings(tenant: Tenant, run: AuditRun | None = None) -> int:
    """Mail the critical business findings (of `run`, or any still untold) to the MSO's admins and
    compliance officers; returns the messages sent."""
    from compliance.models import BusinessFinding

    kind = SentNotification.Kind.BUSINESS_FINDING
    with task_transaction():
        activate(system_context(tenant, Side.BUSINESS))
        rows = list(
            BusinessFinding.objects.filter(_finding_filter(run), tenant=tenant)
            .filter(_untold(kind))
            .order_by("rule_id", "pc__legal_name", "location__name")
            .values("id", "rule_id", "pc__legal_name", "location__name")
        )
        if not rows:
            return 0
        recipients = mso_recipients(tenant)
        if not recipients:
            log.warning("tenant %s has critical findings and nobody to tell", tenant.pk)
            return 0
        subject = f"{tenant.name}: new critical compliance findings"
        taken = claim(tenant, kind, [str(r["id"]) for r in rows], recipients, subject)
        told = [r for r in rows if str(r["id"]) in taken]
        if not told:
            return 0
        titles = _rule_titles(r["rule_id"] for r in told)
        lines = [
            f"- {r['rule_id']} {titles.get(r['rule_id'], '')}".rstrip()
            + "".join(f" · {part}" for part in (r["pc__legal_name"], r["location__name"]) if part)
            for r in told
        ]
        body = (
            f"The compliance audit of {tenant.name} found {len(told)} new critical "
            f"finding{'s' if len(told) != 1 else ''} (likely illegal now):\n\n" + "\n".join(lines) + FOOTER
        )
        return send(recipients, subject, body)


def notify_clinical_findings(tenant: Tenant, run: AuditRun | None = None) -> int:
    """Mail each PC's physicians the critical clinical findings about that PC (rule and count, no
    details), under the clinical role; returns the messages sent."""
    from compliance.models import ClinicalFinding

    kind = SentNotification.Kind.CLINICAL_FINDING
    sent = 0
    with task_transaction():
        activate(system_context(tenant, Side.CLINICAL))
        rows = list(
            ClinicalFinding.objects.filter(_finding_filter(run), tenant=tenant)
            .filter(_untold(kind))
            .order_by("pc_id", "rule_id")
            .values("id", "rule_id", "pc_id", "pc__legal_name")
        )
        if not rows:
            return 0
        by_pc: dict[Any, list[Any]] = defaultdict(list)
        for row in rows:
            by_pc[row["pc_id"]].append(row)
        physicians = physician_recipients(tenant, [pc for pc in by_pc if pc is not None])
        titles = _rule_titles(r["rule_id"] for r in rows)
        for pc_id, findings in by_pc.items():
            # A finding about no PC in particular concerns every physician of the tenant.
            recipients = physicians.get(pc_id, []) if pc_id is not None else all_physicians(tenant)
            if not recipients:
                log.warning("tenant %s: no physician to tell of clinical findings of PC %s", tenant.pk, pc_id)
                continue
            pc_name = findings[0]["pc__legal_name"] or tenant.name
            subject = f"{pc_name}: new critical clinical findings"
            taken = claim(tenant, kind, [str(r["id"]) for r in findings], recipients, subject)
            told = [r for r in findings if str(r["id"]) in taken]
            if not told:
                continue
            per_rule: dict[str, int] = defaultdict(int)
            for r in told:
                per_rule[r["rule_id"]] += 1
            lines = [f"- {rule_id} {titles.get(rule_id, '')}: {n}" for rule_id, n in sorted(per_rule.items())]
            body = (
                f"The compliance audit found {len(told)} new critical clinical "
                f"finding{'s' if len(told) != 1 else ''} for {pc_name}:\n\n"
                + "\n".join(lines)
                + "\n\nThe details are shown only in a clinical capacity."
                + FOOTER
            )
            sent += send(recipients, subject, body)
    return sent


def notify_after_run(run: AuditRun) -> int:
    """Tell the right people about the critical findings `run` saw that nobody was told about yet.
    Safe to call again for the same run (nothing is sent twice); returns the messages sent."""
    tenant = run.tenant
    return notify_business_findings(tenant, run) + notify_clinical_findings(tenant, run)


def notify_expiring_credentials(tenant: Tenant, today: dt.date | None = None) -> int:
    """Mail the MSO's admins and compliance officers each active provider credential expiring within
    ``CREDENTIAL_DAYS`` that they have not been told about (a renewal, with its new date, is a new
    subject); returns the messages sent."""
    from management.models import Provider
    from management.selectors.dashboard import CREDENTIALS

    day = today or timezone.localdate()
    horizon = day + dt.timedelta(days=CREDENTIAL_DAYS)
    kind = SentNotification.Kind.CREDENTIAL
    with task_transaction():
        activate(system_context(tenant, Side.BUSINESS))
        window = Q()
        for cred in CREDENTIALS:
            window |= Q(**{f"{cred.expires_field}__gte": day, f"{cred.expires_field}__lte": horizon})
        fields = ["id", "full_name", "license_type", "pc__legal_name"] + [
            c.expires_field for c in CREDENTIALS
        ]
        expiring: list[tuple[str, str]] = []  # (key, line)
        for row in (
            Provider.objects.filter(window, tenant=tenant, active=True).order_by("full_name").values(*fields)
        ):
            for cred in CREDENTIALS:
                expires = row[cred.expires_field]
                if expires is None or not day <= expires <= horizon:
                    continue
                key = f"{row['id']}:{cred.code}:{expires.isoformat()}"
                days = (expires - day).days
                line = (
                    f"- {row['full_name']} ({row['license_type']}, {row['pc__legal_name']}): {cred.label} "
                    f"expires {expires:%Y-%m-%d}, in {days} day{'s' if days != 1 else ''}"
                )
                expiring.append((key, line))
        if not expiring:
            return 0
        recipients = mso_recipients(tenant)
        if not recipients:
            log.warning("tenant %s has expiring credentials and nobody to tell", tenant.pk)
            return 0
        subject = f"{tenant.name}: provider credentials expiring within {CREDENTIAL_DAYS} days"
        taken = claim(tenant, kind, [key for key, _ in expiring], recipients, subject)
        lines = [line for key, line in expiring if key in taken]
        if not lines:
            return 0
        body = (
            f"These provider credentials of {tenant.name} expire within {CREDENTIAL_DAYS} days. "
            "A provider may not treat on a lapsed credential (LIC-001, LIC-003).\n\n"
            + "\n".join(lines)
            + FOOTER
        )
        return send(recipients, subject, body)


# --- tasks ---------------------------------------------------------------------------------------


class NotifyTask(TenantTask):
    """Idempotent (every subject is claimed once) and one transaction per step, like the audits."""

    idempotent = True
    default_side = Side.BUSINESS
    one_transaction = False


@shared_task(base=NotifyTask)
def notify_tenant(ctx: AccessContext, *, as_of: str | None = None) -> int:
    """The nightly mail of one tenant: expiring credentials, and critical findings still untold."""
    day = dt.date.fromisoformat(as_of) if as_of else timezone.localdate()
    tenant = ctx.tenant
    return (
        notify_expiring_credentials(tenant, day)
        + notify_business_findings(tenant)
        + notify_clinical_findings(tenant)
    )


@shared_task(acks_late=True, reject_on_worker_lost=True)
def notify_all_tenants() -> int:
    """Nightly (beat): one ``notify_tenant`` per tenant, queued once this listing commits."""
    day = timezone.localdate().isoformat()
    with task_transaction():
        enter_gateway()
        tenant_ids = [str(pk) for pk in Tenant.objects.order_by("pk").values_list("pk", flat=True)]
        for tenant_id in tenant_ids:
            enqueue_on_commit(notify_tenant, tenant_id=tenant_id, as_of=day)
    return len(tenant_ids)
