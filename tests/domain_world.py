"""Fill a test world with one or two of every domain object, scoped like the rest of the world.

Objects hang off both PCs (and their locations), so object-scoped capacities, granted only the first
PC and location, can be shown the second ones stay hidden. Every name carries the world's slug and a
random part: the leak checks look for one world's names in another world's responses.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from django.db.models import Model
from django.utils import timezone

from management.models import BankAccount, ConsentFormDraft, Decision, ReviewState
from management.procedures import LicenseType
from management.services.marketing import images_digest
from tests import compliance_world
from tests import factories as f
from tests.worlds import World


def mark(world: World, what: str) -> str:
    return f"{world.tenant.slug}-{what}-{uuid.uuid4().hex[:8]}"


def approve_as_owner(draft: Any, physician: Any, *, submitter: Any) -> Any:
    """Put a draft through submission and a physician's approval without the services (test setup).

    Runs as the connection's owner role, which the reviewed-content trigger lets write decisions.
    """
    type(draft).objects.filter(pk=draft.pk).update(
        state=ReviewState.SUBMITTED, submitted_by=submitter, submitted_at=timezone.now()
    )
    draft.refresh_from_db()
    type(draft).objects.filter(pk=draft.pk).update(
        decision=Decision.APPROVED,
        decision_hash=draft.content_hash,
        decided_at=timezone.now(),
        decided_by=physician,
    )
    draft.refresh_from_db()
    return draft


def populate(world: World) -> World:
    t = world.tenant
    objs: dict[type[Model], list[Any]] = {}

    def add(obj: Any) -> Any:
        objs.setdefault(type(obj), []).append(obj)
        return obj

    physician_user = world.user("pc_physician")
    staff_user = world.user("mso_staff")
    add(f.BankAccountFactory.create(tenant=t, mso_entity=world.entity, purpose=BankAccount.Purpose.OPERATING))
    vendor = add(f.VendorFactory.create(tenant=t, name=mark(world, "vendor")))
    add(f.BusinessAssociateAgreementFactory.create(tenant=t, vendor=vendor))
    staff = add(f.StaffMemberFactory.create(tenant=t, employer=world.entity, full_name=mark(world, "staff")))
    add(f.TrainingRecordFactory.create(tenant=t, staff_member=staff))
    add(f.ProcedureScopeRuleFactory.create(tenant=t))

    for index, (pc, location, chart) in enumerate(zip(world.pcs, world.locations, world.charts, strict=True)):
        add(f.ShareholderFactory.create(tenant=t, pc=pc, name=mark(world, "owner")))
        add(f.FictitiousNamePermitFactory.create(tenant=t, pc=pc, fictitious_name=mark(world, "dba")))
        deposits = add(
            f.BankAccountFactory.create(tenant=t, pc=pc, purpose=BankAccount.Purpose.PATIENT_DEPOSITS)
        )
        add(f.LeaseFactory.create(tenant=t, location=location, landlord=mark(world, "landlord")))
        device = add(f.EquipmentFactory.create(tenant=t, location=location))
        add(f.EquipmentServiceFactory.create(tenant=t, equipment=device))
        add(f.MedicalWasteRegistrationFactory.create(tenant=t, location=location))
        msa = add(f.MsaFactory.create(tenant=t, mso_entity=world.entity, pc=pc, title=mark(world, "msa")))
        add(f.PerformanceStandardFactory.create(tenant=t, msa=msa))
        add(f.MsaAmendmentFactory.create(tenant=t, msa=msa, number=1))
        invoice = add(f.ManagementFeeInvoiceFactory.create(tenant=t, msa=msa, number=mark(world, "inv")))
        # Partly paid, so a payment can still be recorded against it.
        add(f.FeePaymentFactory.create(tenant=t, invoice=invoice, amount=Decimal("40000.00")))
        add(f.AgreementDocumentFactory.create(tenant=t, msa=msa, filename=mark(world, "signed") + ".pdf"))
        add(f.PcCollectionFactory.create(tenant=t, pc=pc))
        # The first PC's providers are the world's physician and clinician memberships.
        md = add(
            f.ProviderFactory.create(
                tenant=t,
                pc=pc,
                full_name=mark(world, "md"),
                license_type=LicenseType.MD,
                membership=world.members["pc_physician"] if index == 0 else None,
            )
        )
        rn = add(
            f.ProviderFactory.create(
                tenant=t,
                pc=pc,
                full_name=mark(world, "rn"),
                license_type=LicenseType.RN,
                membership=world.members["clinician"] if index == 0 else None,
            )
        )
        client = add(
            f.ClientFactory.create(tenant=t, home_location=location, full_name=mark(world, "client"))
        )
        add(f.AppointmentFactory.create(tenant=t, location=location, client=client, provider=rn))
        add(f.PatientPaymentFactory.create(tenant=t, location=location, client=client, deposited_to=deposits))
        asset = add(
            f.MarketingAssetFactory.create(tenant=t, pc=pc, title=mark(world, "ad"), created_by=staff_user)
        )
        add(f.MarketingImageFactory.create(tenant=t, asset=asset, description=mark(world, "image")))
        # Approved (publishable, with a certificate), images included in the approved content.
        asset.images_digest = images_digest(list(asset.images.all()))
        asset.save(update_fields=["images_digest"])
        approve_as_owner(asset, physician_user, submitter=staff_user)
        if index == 0:
            # Waiting in the first PC's queue: a target for decisions (not in objs: decisions change it).
            f.MarketingAssetFactory.create(
                tenant=t,
                pc=pc,
                title=mark(world, "queued-ad"),
                created_by=staff_user,
                state=ReviewState.SUBMITTED,
                submitted_by=staff_user,
                submitted_at=timezone.now(),
            )
        draft: ConsentFormDraft = add(
            f.ConsentFormDraftFactory.create(
                tenant=t, pc=pc, title=mark(world, "consent"), created_by=staff_user
            )
        )
        approve_as_owner(draft, physician_user, submitter=staff_user)

        # Clinical side.
        chart.client = client
        chart.save(update_fields=["client"])
        exam = add(f.GoodFaithExamFactory.create(tenant=t, chart=chart, examiner=md))
        decision = add(
            f.PhysicianDecisionFactory.create(
                tenant=t,
                pc=pc,
                consent_form_draft=draft,
                content_hash=draft.content_hash,
                snapshot={"title": draft.title, "body": draft.body, "procedure": draft.procedure},
                decided_by=physician_user,
            )
        )
        version = add(
            f.ConsentFormVersionFactory.create(
                tenant=t, pc=pc, draft=draft, decision=decision, title=mark(world, "consent-v1")
            )
        )
        consent = add(
            f.SignedConsentFactory.create(
                tenant=t, chart=chart, form_version=version, witnessed_by=physician_user
            )
        )
        protocol = add(
            f.ProtocolFactory.create(tenant=t, pc=pc, supervisor=md, title=mark(world, "protocol"))
        )
        protocol.supervisor_signed_at = timezone.now() - dt.timedelta(days=99)
        protocol.supervisor_signed_by = physician_user
        protocol.save(update_fields=["supervisor_signed_at", "supervisor_signed_by"])
        add(
            f.ProtocolSuperviseeFactory.create(
                tenant=t, protocol=protocol, provider=rn, signed_at=timezone.now()
            )
        )
        treatment = add(
            f.TreatmentFactory.create(
                tenant=t,
                chart=chart,
                location=location,
                performer=rn,
                supervisor=md,
                good_faith_exam=exam,
                consent=consent,
            )
        )
        add(f.TreatmentProductFactory.create(tenant=t, treatment=treatment))
        authorization = add(f.PhotoAuthorizationFactory.create(tenant=t, chart=chart))
        add(f.TreatmentPhotoFactory.create(tenant=t, treatment=treatment, authorization=authorization))
        add(f.ChartReviewFactory.create(tenant=t, chart=chart, reviewer=md))
        add(f.AdverseEventFactory.create(tenant=t, chart=chart, treatment=treatment))

    world.objs = objs
    return compliance_world.populate(world)  # audit runs and findings of both sides
