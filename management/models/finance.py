"""Money between the MSO and the PC: management-fee invoices and payments, PC collections."""

from __future__ import annotations

from django.db import models

from management.models.agreements import ManagementServicesAgreement
from management.models.parties import ProfessionalCorporation
from tenants.capacities import Side
from tenants.models import AccessPolicy, TenantOwnedModel


class ManagementFeeInvoice(TenantOwnedModel):
    """The MSO entity's invoice to the PC for one period of an MSA (FEE-001/002/003 read these)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    msa = models.ForeignKey(ManagementServicesAgreement, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=40)
    period_start = models.DateField()
    period_end = models.DateField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    issued_on = models.DateField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="msa__pc")

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "number"],
                name="unique_invoice_number",
                violation_error_message="An invoice with this number already exists.",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="invoice_period_ordered",
                violation_error_message="The period must end on or after its start.",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0),
                name="invoice_amount_not_negative",
                violation_error_message="An invoice amount cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.number}"


class FeePayment(TenantOwnedModel):
    invoice = models.ForeignKey(ManagementFeeInvoice, on_delete=models.PROTECT, related_name="payments")
    paid_on = models.DateField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    reference = models.CharField(max_length=80, blank=True)

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="invoice__msa__pc")

    class Meta:
        ordering = ["-paid_on"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0),
                name="fee_payment_positive",
                violation_error_message="A payment is a positive amount.",
            )
        ]

    def __str__(self) -> str:
        return f"Payment of {self.amount} on {self.paid_on}"


class PcCollection(TenantOwnedModel):
    """What a PC collected for its services in one month (entered or imported; FEE-002 compares)."""

    class Source(models.TextChoices):
        ENTERED = "entered", "Entered"
        IMPORTED = "imported", "Imported"

    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.PROTECT, related_name="collections")
    month = models.DateField(help_text="First day of the month.")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ENTERED)

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="pc")

    class Meta:
        ordering = ["-month"]
        constraints = [
            models.UniqueConstraint(
                fields=["pc", "month"],
                name="unique_collection_month",
                violation_error_message="This PC already has collections for that month.",
            ),
            models.CheckConstraint(
                condition=models.Q(month__day=1),
                name="collection_month_first_day",
                violation_error_message="Give the month as its first day.",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0),
                name="collection_not_negative",
                violation_error_message="Collections cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.amount}"
