"""Attestations: what an MSO administrator or compliance officer states for the readiness checklist
where the data cannot show the answer (is healthcare counsel engaged? are the MSO's systems in place?).

An attestation is never edited: answering again adds a row, and the newest row of a question is the
answer (``compliance.readiness``), so the checklist keeps who said what and when. The model is
registered with the app through ``compliance.models``, which imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from tenants.capacities import Side
from tenants.models import AccessPolicy, TenantOwnedModel, User

NOTE_MAX = 2000
# Attesting states a fact for the tenant: the people who answer for its compliance, no one else.
ATTESTERS = frozenset({"mso_admin", "mso_compliance"})


@dataclass(frozen=True)
class Question:
    """One question of the readiness checklist (RULES.md "Readiness checklist")."""

    key: str
    text: str
    help: str


QUESTIONS: tuple[Question, ...] = (
    Question(
        "pc_ownership",
        "Is each PC owned by a licensed professional?",
        "California-licensed physicians hold at least 51% of the shares, the other licensees the rest "
        "(CPOM-001), and every owner's license is active (CPOM-002).",
    ),
    Question(
        "mso_infrastructure",
        "Is the MSO infrastructure in place (staff, systems)?",
        "An MSO entity runs the locations with its own staff, bank account and systems "
        "(scheduling, billing, payroll, HIPAA security).",
    ),
    Question(
        "compensation",
        "Is the compensation model compliant?",
        "The management fee is fixed, cost-plus or per unit of service, or a percentage with a current "
        "FMV opinion and counsel review (MSA-003, MSA-004); invoices follow the MSA (FEE-001 to FEE-004).",
    ),
    Question(
        "msa",
        "Is each MSA detailed and state-specific?",
        "Every PC has a signed MSA in force (MSA-001) with scope, fee terms, FMV basis, non-clinical "
        "role, dispute resolution, term and termination, performance standards and the PC's state as "
        "governing law (MSA-002).",
    ),
    Question(
        "counsel",
        "Is healthcare counsel engaged?",
        "A healthcare lawyer reviews the structure and the MSAs (recorded on each MSA as its counsel "
        "review date).",
    ),
)
QUESTION_KEYS = tuple(q.key for q in QUESTIONS)
QUESTION_CHOICES = [(q.key, q.text) for q in QUESTIONS]


class Attestation(TenantOwnedModel):
    """A yes/no answer to one readiness question, with what it rests on, by whom and when."""

    question = models.CharField(max_length=40, choices=QUESTION_CHOICES)
    answer = models.BooleanField()
    note = models.TextField(max_length=NOTE_MAX)
    answered_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    answered_at = models.DateTimeField(default=timezone.now)

    access: ClassVar[AccessPolicy] = AccessPolicy(side=Side.BUSINESS)

    class Meta:
        ordering = ["-answered_at"]
        indexes = [models.Index(fields=["tenant", "question", "-answered_at"], name="attestation_latest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(question__in=QUESTION_KEYS), name="attestation_known_question"
            ),
            models.CheckConstraint(condition=~Q(note=""), name="attestation_has_note"),
        ]

    def __str__(self) -> str:
        return f"{self.question}: {'yes' if self.answer else 'no'} ({self.answered_at:%Y-%m-%d})"


def _clean_answer(value: Any) -> bool:
    """Yes or no, as a form or an API sends it; anything else is refused, never guessed."""
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in {"yes", "true", "1"}:
        return True
    if text in {"no", "false", "0"}:
        return False
    raise ValidationError({"answer": "Answer yes or no."})


@transaction.atomic
def attestation_record(*, ctx: Any, question: Any, answer: Any, note: Any) -> Attestation:
    """Record `ctx`'s answer to a readiness question (a new row: earlier answers stay on record).

    Only an MSO administrator or compliance officer attests (anyone else: PermissionDenied, answered
    404); the question must be one of the checklist's, the answer yes or no, and the note must say
    what the answer rests on.
    """
    if ctx.capacity.code not in ATTESTERS or ctx.user is None:
        raise PermissionDenied("No such object.")
    errors: dict[str, str] = {}
    key = str(question or "").strip()
    if key not in QUESTION_KEYS:
        errors["question"] = "Choose one of the checklist's questions."
    try:
        value = _clean_answer(answer)
    except ValidationError as exc:
        errors.update({k: str(v[0]) for k, v in exc.message_dict.items()})
        value = False
    text = str(note or "").strip()
    if not text:
        errors["note"] = "Say what the answer rests on (a document, a meeting, a person)."
    elif len(text) > NOTE_MAX:
        errors["note"] = f"At most {NOTE_MAX} characters."
    if errors:
        raise ValidationError(errors)
    attestation = Attestation(tenant=ctx.tenant, question=key, answer=value, note=text, answered_by=ctx.user)
    attestation.full_clean()
    attestation.save()
    return attestation
