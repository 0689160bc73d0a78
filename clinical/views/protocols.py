"""PC pages of protocols / standardized procedures (with their signature status and the signing page)
and of the per-state procedure scope table. Clinical capacities only.

Signing: ``protocol-sign`` shows what is signed and as whom (GET), and signs (POST) — the supervising
physician with the PC's ``sign_protocol`` permission, or a supervisee for themselves. The scope table
is read by every clinical capacity; its create and edit pages are the PC physicians' (others: 404).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods

from clinical import selectors, services
from clinical.filters import ProcedureScopeRuleFilter, ProtocolFilter
from clinical.models import ProcedureScopeRule, Protocol
from clinical.selectors.protocols import STATUS_LABELS
from clinical.services import protocols as protocol_services
from clinical.services.charts import PHYSICIAN_LICENSES
from clinical.services.scope import EDITOR_CAPACITY
from clinical.views.charts import ClinicalForm
from management.models import Provider
from management.procedures import Procedure
from tenants.access import AccessContext
from tenants.capacities import CHANGE
from tenants.pages import Column, ObjectPages, html5_widgets
from tenants.views import page_of, tenant_page

TEMPLATES = "clinical/protocols"


class ProtocolForm(ClinicalForm):
    FIXED = "pc"  # a protocol stays with its PC
    procedures = forms.MultipleChoiceField(choices=Procedure.choices, widget=forms.CheckboxSelectMultiple)
    supervisees = forms.ModelMultipleChoiceField(
        queryset=Provider.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The clinicians working under it; each signs for themselves.",
    )

    class Meta:
        model = Protocol
        fields = [
            "pc",
            "kind",
            "title",
            "supervisor",
            "procedures",
            "body",
            "effective_on",
            "expires_on",
            "reviewed_on",
            "covers_patient_selection",
            "covers_education_and_consent",
            "covers_topical_agents",
            "covers_complications",
            "covers_supervision_and_training",
            "supervisees",
        ]
        formfield_callback = html5_widgets
        help_texts = {
            "supervisor": "A physician of the PC; in force once they and every supervisee have signed.",
            "body": "Changing the content after signatures voids them: everyone signs again.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        supervisor = self.fields["supervisor"]
        supervisor.queryset = supervisor.queryset.filter(license_type__in=PHYSICIAN_LICENSES)  # type: ignore[attr-defined]
        if self.editing:
            self.initial["supervisees"] = [s.provider_id for s in self.instance.supervisees.all()]


class ScopeRuleForm(ClinicalForm):
    class Meta:
        model = ProcedureScopeRule
        fields = [
            "state",
            "procedure",
            "license_type",
            "allowed",
            "supervision",
            "requires_good_faith_exam",
            "citation",
            "note",
        ]
        help_texts = {"citation": "The statute or guidance, as counsel reads it (kept as data)."}


def protocol_context(ctx: AccessContext, protocol: Protocol) -> dict[str, Any]:
    status = selectors.protocol_status(protocol)
    return {
        "status": status,
        "status_label": STATUS_LABELS[status],
        "signatures": list(protocol.supervisees.all()),  # prefetched by protocol_get
        "sign_url": reverse("protocol-sign", kwargs={"tenant_slug": ctx.tenant.slug, "pk": protocol.pk}),
        "signer": signer(ctx, protocol),
    }


def signer(ctx: AccessContext, protocol: Protocol) -> dict[str, Any]:
    """As whom ctx signs this protocol (None: not a party to it) and whether it already did."""
    if protocol_services.may_sign_as_supervisor(ctx, protocol):
        return {"role": "supervisor", "signed_at": protocol.supervisor_signed_at}
    row = protocol_services.own_supervisee_row(ctx, protocol)
    if row is not None:
        return {"role": "supervisee", "signed_at": row.signed_at}
    return {"role": None, "signed_at": None}


class ScopeRulePages(ObjectPages):
    """The table is read by every clinical capacity and changed by PC physicians only."""

    def can_create(self, ctx: AccessContext) -> bool:
        return ctx.capacity.code == EDITOR_CAPACITY and super().can_create(ctx)

    def can_edit(self, ctx: AccessContext, obj: Any) -> bool:
        return ctx.capacity.code == EDITOR_CAPACITY and super().can_edit(ctx, obj)


PROTOCOL_PAGES = ObjectPages(
    model=Protocol,
    name="protocol",
    path="protocols",
    title="Protocols",
    help_text="Standardized procedures, laser protocols and PA practice agreements: in force only once "
    "the supervising physician and every supervisee have signed (DEL-002).",
    list_selector=selectors.protocol_list,
    get_selector=selectors.protocol_get,
    filterset_class=ProtocolFilter,
    columns=[
        Column("Title", "title", link=True),
        Column("Kind", "kind"),
        Column("PC", "pc.legal_name"),
        Column("Supervisor", "supervisor.full_name"),
        Column("Effective", "effective_on"),
        Column("Expires", "expires_on"),
        Column("Supervisor signed", "supervisor_signed_at"),
        Column("Supervisees yet to sign", "unsigned_count"),
    ],
    detail_fields=[
        Column("Kind", "kind"),
        Column("Professional corporation", "pc.legal_name"),
        Column("Supervising physician", "supervisor"),
        Column("Procedures", "procedures"),
        Column("Effective on", "effective_on"),
        Column("Expires on", "expires_on"),
        Column("Last reviewed on", "reviewed_on"),
        Column("Covers patient selection", "covers_patient_selection"),
        Column("Covers education and consent", "covers_education_and_consent"),
        Column("Covers topical agents", "covers_topical_agents"),
        Column("Covers complications and emergencies", "covers_complications"),
        Column("Covers supervision and training", "covers_supervision_and_training"),
    ],
    fields=ProtocolForm.Meta.fields,
    form_class=ProtocolForm,
    create_service=services.protocol_create,
    update_service=services.protocol_update,
    detail_template=f"{TEMPLATES}/protocol_detail.html",
    detail_context=protocol_context,
)

SCOPE_RULE_PAGES = ScopeRulePages(
    model=ProcedureScopeRule,
    name="scope-rule",
    path="scope-rules",
    title="Scope of practice",
    help_text="Who may perform which procedure, per state (DEL-001). PC physicians adjust it; "
    "citations are data, for counsel to correct. Not legal advice.",
    list_selector=selectors.scope_rule_list,
    get_selector=selectors.scope_rule_get,
    filterset_class=ProcedureScopeRuleFilter,
    columns=[
        Column("Procedure", "procedure", link=True),
        Column("License", "license_type"),
        Column("State", "state"),
        Column("Allowed", "allowed"),
        Column("Supervision", "supervision"),
        Column("Good-faith exam first", "requires_good_faith_exam"),
        Column("Citation", "citation"),
    ],
    detail_fields=[
        Column("State", "state"),
        Column("Procedure", "procedure"),
        Column("License", "license_type"),
        Column("Allowed", "allowed"),
        Column("Supervision", "supervision"),
        Column("Good-faith exam first", "requires_good_faith_exam"),
        Column("Citation", "citation"),
        Column("Note", "note"),
    ],
    fields=ScopeRuleForm.Meta.fields,
    form_class=ScopeRuleForm,
    create_service=services.scope_rule_create,
    update_service=services.scope_rule_update,
    update_kwarg="rule",
)


@tenant_page
@page_of(Protocol)
@require_http_methods(["GET", "POST"])
def protocol_sign(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponseBase:
    """What is signed and as whom (GET); the signature (POST). A refusal is a 400 with the reason."""
    protocol = selectors.protocol_get(ctx, pk, CHANGE)
    error = ""
    if request.method == "POST":
        already = signer(ctx, protocol)["signed_at"]
        try:
            services.protocol_sign(ctx=ctx, protocol=protocol)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            done = f"You signed it on {already:%Y-%m-%d %H:%M}." if already else "Your signature is recorded."
            messages.success(request, done)
            return redirect(PROTOCOL_PAGES.url(ctx, "detail", protocol))
    context = {
        "protocol": protocol,
        "detail_url": PROTOCOL_PAGES.url(ctx, "detail", protocol),
        "list_url": PROTOCOL_PAGES.url(ctx, "list"),
        "signer": signer(ctx, protocol),
        "status_label": STATUS_LABELS[selectors.protocol_status(protocol)],
        "signatures": list(protocol.supervisees.all()),
        "error": error,
    }
    return render(request, f"{TEMPLATES}/protocol_sign.html", context, status=400 if error else 200)


urlpatterns: list[URLPattern] = [
    *PROTOCOL_PAGES.urls(),
    path("protocols/<str:pk>/sign/", protocol_sign, name="protocol-sign"),
    *SCOPE_RULE_PAGES.urls(),
]
