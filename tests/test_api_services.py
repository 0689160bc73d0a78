"""The write services behind the API, called directly (views and tasks will call them the same way)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from clinical.models import PatientChart
from clinical.services import patient_chart_create
from management.models import Location, MsoEntity
from management.services import location_create, location_update, mso_entity_create, pc_update
from tenants.access import AccessContext
from tests.worlds import World

ActAs = Callable[[AccessContext], AbstractContextManager[None]]

pytestmark = pytest.mark.django_db


def test_location_create_refuses_another_tenants_pc_and_entity(
    world_a: World, world_b: World, as_ctx
) -> None:
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        for entity, pc, field in (
            (world_a.entity, world_b.pcs[0], "pc"),
            (world_b.entity, world_a.pcs[0], "managing_entity"),
        ):
            with pytest.raises(ValidationError) as refused:
                location_create(
                    ctx=ctx, name="Spa", address="1 Main St", city="Fresno", managing_entity=entity, pc=pc
                )
            assert field in refused.value.message_dict
        assert Location.objects.filter(tenant=world_a.tenant).count() == 2
        made = location_create(
            ctx=ctx,
            name=" Spa ",
            address="1 Main St",
            city="Fresno",
            managing_entity=world_a.entity,
            pc=world_a.pcs[1],
            state="ca",
        )
    assert (made.tenant_id, made.name, made.state) == (world_a.tenant.pk, "Spa", "CA")


def test_services_refuse_capacities_that_may_not_write_the_model(world_a: World, as_ctx: ActAs) -> None:
    for capacity in ("pc_physician", "clinician", "auditor"):
        ctx = world_a.ctx(capacity)
        with as_ctx(ctx), pytest.raises(PermissionDenied):
            mso_entity_create(ctx=ctx, legal_name="Nope LLC")
    assert MsoEntity.objects.filter(tenant=world_a.tenant).count() == 1
    for capacity in ("mso_admin", "mso_compliance", "auditor"):
        # refused before any SQL: the business role could not even read the clinical schema
        with pytest.raises(PermissionDenied):
            patient_chart_create(
                ctx=world_a.ctx(capacity),
                pc=world_a.pcs[0],
                home_location=world_a.locations[0],
                medical_record_number="X1",
                patient_name="Nobody",
                date_of_birth=dt.date(1990, 1, 1),
            )


def test_update_services_leave_unset_fields_and_refuse_bad_state(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    pc = world_a.pcs[0]
    name = pc.legal_name
    with as_ctx(ctx):
        pc_update(ctx=ctx, pc=pc, state="nv")
        with pytest.raises(ValidationError):
            pc_update(ctx=ctx, pc=pc, state="Nevada")
        loc = location_update(ctx=ctx, location=world_a.locations[0], city=" Irvine ")
    pc.refresh_from_db()
    assert (pc.legal_name, pc.state) == (name, "NV")
    assert (loc.city, loc.pc_id) == ("Irvine", world_a.pcs[0].pk)


def test_chart_create_checks_the_pc_against_what_the_clinician_may_view(
    world_a: World, as_ctx: ActAs
) -> None:
    ctx = world_a.ctx("pc_physician")
    with as_ctx(ctx):
        with pytest.raises(ValidationError) as refused:
            patient_chart_create(
                ctx=ctx,
                pc=world_a.pcs[1],  # not granted to this physician
                home_location=world_a.locations[1],
                medical_record_number="X2",
                patient_name="Someone",
                date_of_birth=dt.date(1990, 1, 1),
            )
        assert "pc" in refused.value.message_dict
        chart = patient_chart_create(
            ctx=ctx,
            pc=world_a.pcs[0],
            home_location=world_a.locations[0],
            medical_record_number=" X3 ",
            patient_name="Someone",
            date_of_birth=dt.date(1990, 1, 1),
        )
        assert PatientChart.objects.get(pk=chart.pk).medical_record_number == "X3"
