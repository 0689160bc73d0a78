"""Front-desk pages (list / detail / create / edit each, tenants.pages): clients, appointments and
patient payments; and the client CSV import.

Reads go through management.selectors.frontdesk, writes through management.services.frontdesk. A
client's page lists the appointments and payments the capacity may see (a location-scoped capacity
sees those of its own locations only).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponseBase
from django.urls import URLPattern, path
from django.views.decorators.http import require_http_methods

from management.filters.frontdesk import AppointmentPageFilter, ClientPageFilter, PatientPaymentPageFilter
from management.importers.clients import ClientImporter
from management.models import Appointment, Client, PatientPayment
from management.selectors import frontdesk as selectors
from management.services import frontdesk as services
from management.views.workforce import add_link, form_for, import_page
from tenants.access import AccessContext
from tenants.pages import Column, ObjectPages, ServiceForm
from tenants.views import page_of, tenant_page

TEMPLATES = "management/frontdesk"

# --- Clients ---------------------------------------------------------------------------------------


def client_context(ctx: AccessContext, client: Client) -> dict[str, Any]:
    initial = {"client": client.pk, "location": client.home_location_id}
    return {
        "appointments": selectors.client_appointments(ctx, client),
        "payments": selectors.client_payments(ctx, client),
        "add_appointment_url": add_link(APPOINTMENT_PAGES, ctx, **initial),
        "add_payment_url": add_link(PAYMENT_PAGES, ctx, **initial),
    }


CLIENT_FIELDS = [
    "home_location",
    "full_name",
    "email",
    "phone",
    "date_of_birth",
    "lead_source",
    "marketing_opt_in",
]
CLIENT_PAGES = ObjectPages(
    model=Client,
    name="client",
    path="clients",
    title="Clients",
    help_text="Leads and clients of the front desk. Clinical records about them are the PC's and never "
    "shown here.",
    list_selector=selectors.client_list,
    get_selector=selectors.client_get,
    columns=[
        Column("Name", "full_name", link=True),
        Column("Home location", "home_location.name"),
        Column("Email", "email"),
        Column("Phone", "phone"),
        Column("Lead source", "lead_source"),
        Column("Marketing opt-in", "marketing_opt_in"),
    ],
    detail_fields=[
        Column("Full name", "full_name"),
        Column("Home location", "home_location.name"),
        Column("Email", "email"),
        Column("Phone", "phone"),
        Column("Date of birth", "date_of_birth"),
        Column("Lead source", "lead_source"),
        Column("Marketing opt-in", "marketing_opt_in"),
        Column("In the CRM since", "created_at"),
    ],
    fields=CLIENT_FIELDS,
    form_class=form_for(Client, CLIENT_FIELDS),
    create_service=services.client_create,
    update_service=services.client_update,
    update_kwarg="client",
    filterset_class=ClientPageFilter,
    list_template=f"{TEMPLATES}/client_list.html",
    detail_template=f"{TEMPLATES}/client_detail.html",
    detail_context=client_context,
)


# --- Appointments ----------------------------------------------------------------------------------


class AppointmentForm(ServiceForm):
    """Times in the browser's date-time picker format (the generic widget renders a space, which
    datetime-local inputs do not accept as an initial value)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("starts_at", "ends_at"):
            self.fields[name].widget = forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            )


APPOINTMENT_FIELDS = ["client", "location", "service", "provider", "starts_at", "ends_at", "status"]
APPOINTMENT_PAGES = ObjectPages(
    model=Appointment,
    name="appointment",
    path="appointments",
    title="Appointments",
    help_text="The schedule: a provider cannot be booked twice at the same time.",
    list_selector=selectors.appointment_list,
    get_selector=selectors.appointment_get,
    columns=[
        Column("Starts", "starts_at", link=True),
        Column("Ends", "ends_at"),
        Column("Client", "client.full_name"),
        Column("Service", "service"),
        Column("Provider", "provider.full_name"),
        Column("Location", "location.name"),
        Column("Status", "status"),
    ],
    detail_fields=[
        Column("Client", "client.full_name"),
        Column("Location", "location.name"),
        Column("Service", "service"),
        Column("Provider", "provider.full_name"),
        Column("Starts", "starts_at"),
        Column("Ends", "ends_at"),
        Column("Status", "status"),
    ],
    fields=APPOINTMENT_FIELDS,
    form_class=form_for(Appointment, APPOINTMENT_FIELDS, base=AppointmentForm),
    create_service=services.appointment_create,
    update_service=services.appointment_update,
    update_kwarg="appointment",
    filterset_class=AppointmentPageFilter,
)


# --- Patient payments ------------------------------------------------------------------------------

PAYMENT_FIELDS = [
    "location",
    "client",
    "appointment",
    "received_on",
    "amount",
    "currency",
    "kind",
    "method",
    "deposited_to",
]
PAYMENT_PAGES = ObjectPages(
    model=PatientPayment,
    name="patient-payment",
    path="patient-payments",
    title="Patient payments",
    help_text="What clients paid and the account it was deposited to: payments for medical services "
    "belong in the PC's account (SEP-002).",
    list_selector=selectors.patient_payment_list,
    get_selector=selectors.patient_payment_get,
    columns=[
        Column("Received", "received_on", link=True),
        Column("Client", "client.full_name"),
        Column("Location", "location.name"),
        Column("Amount", "amount"),
        Column("Currency", "currency"),
        Column("Kind", "kind"),
        Column("Method", "method"),
        Column("Deposited to", "deposited_to"),
        Column("Account owner", "deposited_to.owner"),
    ],
    detail_fields=[
        Column("Client", "client.full_name"),
        Column("Location", "location.name"),
        Column("Appointment", "appointment"),
        Column("Received", "received_on"),
        Column("Amount", "amount"),
        Column("Currency", "currency"),
        Column("Kind", "kind"),
        Column("Method", "method"),
        Column("Deposited to", "deposited_to"),
        Column("Account owner", "deposited_to.owner"),
    ],
    fields=PAYMENT_FIELDS,
    form_class=form_for(PatientPayment, PAYMENT_FIELDS),
    create_service=services.patient_payment_create,
    update_service=services.patient_payment_update,
    update_kwarg="payment",
    filterset_class=PatientPaymentPageFilter,
)


# --- CSV import ------------------------------------------------------------------------------------


@tenant_page
@page_of(Client)
@require_http_methods(["GET", "POST"])
def client_import(request: HttpRequest, ctx: AccessContext) -> HttpResponseBase:
    return import_page(request, ctx, importer=ClientImporter(), model=Client, slug="clients")


ALL_PAGES = [CLIENT_PAGES, APPOINTMENT_PAGES, PAYMENT_PAGES]

urlpatterns: list[URLPattern] = [
    # Before the client pages: "clients/import/" would otherwise be read as a client's id.
    path("clients/import/", client_import, name="client-import"),
    *(pattern for pages in ALL_PAGES for pattern in pages.urls()),
]
