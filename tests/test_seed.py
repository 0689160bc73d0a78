"""The demo tenant seed: idempotent, a login for every capacity, grants that scope what people see."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from clinical.models import PatientChart
from management.models import (
    Location,
    LocationGroupObjectPermission,
    MsoEntity,
    PcGroupObjectPermission,
    ProfessionalCorporation,
)
from tenants.access import AccessContext, restrict
from tenants.capacities import CAPACITIES
from tenants.demo import DEMO_NAME, DEMO_PASSWORD, DEMO_SLUG, PEOPLE, seed_demo
from tenants.models import AuditLogEntry, Membership, Tenant, User

pytestmark = pytest.mark.django_db


def _counts(tenant: Tenant) -> dict[str, int]:
    """Row counts of everything the seed writes, read with RLS pointed at the demo tenant."""
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])
    counts = {
        "tenants": Tenant.objects.filter(slug=DEMO_SLUG).count(),
        "users": User.objects.filter(email__endswith="@goldencoast.example").count(),
        "memberships": Membership.objects.filter(tenant=tenant).count(),
        "entities": MsoEntity.objects.filter(tenant=tenant).count(),
        "pcs": ProfessionalCorporation.objects.filter(tenant=tenant).count(),
        "locations": Location.objects.filter(tenant=tenant).count(),
        "charts": PatientChart.objects.filter(tenant=tenant).count(),
        "location_grants": LocationGroupObjectPermission.objects.filter(tenant=tenant).count(),
        "pc_grants": PcGroupObjectPermission.objects.filter(tenant=tenant).count(),
        "audit_entries": AuditLogEntry.objects.filter(tenant=tenant).count(),
    }
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', '', true)")
    return counts


def _member(email: str, capacity: str) -> Membership:
    return Membership.objects.select_related("tenant", "user").get(
        tenant__slug=DEMO_SLUG, user__email=email, capacity=capacity
    )


def test_seeding_twice_gives_the_same_rows_and_logins() -> None:
    first = seed_demo()
    after_first = _counts(first.tenant)
    second = seed_demo()
    after_second = _counts(second.tenant)

    assert first.created is True
    assert second.created is False
    assert second.tenant.pk == first.tenant.pk
    assert after_second == after_first  # not a row more, not even an audit entry
    assert after_first["tenants"] == 1
    assert after_first["entities"] == 1
    assert after_first["pcs"] == 2
    assert after_first["locations"] == 3
    assert after_first["charts"] == 5
    assert after_first["users"] == len(PEOPLE) == 8
    assert after_first["memberships"] == 9  # eight people, one of them in two capacities
    assert after_first["audit_entries"] > 0  # the database trigger logged the seed's writes
    assert second.logins == first.logins
    assert first.tenant.name == DEMO_NAME


def test_three_locations_two_with_the_first_pc() -> None:
    tenant = seed_demo().tenant
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])
    by_pc = {
        pc.legal_name: Location.objects.filter(pc=pc).count()
        for pc in ProfessionalCorporation.objects.filter(tenant=tenant)
    }
    assert by_pc == {"Elena Vasquez, M.D., Inc.": 2, "Okafor Medical Corporation": 1}


def test_every_capacity_has_a_login_that_signs_in() -> None:
    result = seed_demo()
    printed = {login.email for login in result.logins}
    for code in CAPACITIES:
        members = Membership.objects.filter(tenant=result.tenant, capacity=code).select_related("user")
        assert members, f"no demo login for {code}"
        for member in members:
            assert member.user.email in printed
            user = authenticate(None, username=member.user.email, password=DEMO_PASSWORD)
            assert user is not None and user.pk == member.user.pk, f"{member.user.email} cannot sign in"
    assert authenticate(None, username="admin@goldencoast.example", password="wrong-password-0") is None


def test_the_rn_who_co_owns_the_mso_has_two_memberships() -> None:
    result = seed_demo()
    rosa = User.objects.get(email="rosa.delgado@goldencoast.example")
    memberships = {m.capacity: m for m in Membership.objects.filter(tenant=result.tenant, user=rosa)}
    assert set(memberships) == {"mso_admin", "clinician"}
    assert memberships["clinician"].license_type == "RN"
    login = next(login for login in result.logins if login.email == rosa.email)
    assert login.capacities == ["MSO administrator", "Clinician, RN"]


def test_auditor_access_expires_in_ninety_days() -> None:
    seed_demo()
    auditor = _member("auditor@goldencoast.example", "auditor")
    assert auditor.expires_at is not None
    days = (auditor.expires_at - timezone.now()) / dt.timedelta(days=1)
    assert 89.9 < days <= 90
    assert auditor.is_current()


def test_object_grants_scope_what_each_capacity_sees(
    as_ctx: Callable[[AccessContext], AbstractContextManager[None]],
) -> None:
    seed_demo()

    def sees(email: str, capacity: str, model: type[Location] | type[PatientChart]) -> set[str]:
        ctx = AccessContext.for_membership(_member(email, capacity), via="browser")
        with as_ctx(ctx):  # the capacity's PostgreSQL role and the tenant's RLS setting
            field = "patient_name" if model is PatientChart else "name"
            return set(restrict(model._default_manager.all(), ctx).values_list(field, flat=True))

    la_jolla, del_mar, laguna = (
        "Golden Coast Med Spa La Jolla",
        "Golden Coast Med Spa Del Mar",
        "Golden Coast Med Spa Laguna Beach",
    )
    pc1_patients = {"Avery Lindqvist", "Jordan Matsuda", "Camila Ferreira"}
    pc2_patients = {"Noah Whitaker", "Leila Haddad"}

    assert sees("admin@goldencoast.example", "mso_admin", Location) == {la_jolla, del_mar, laguna}
    assert sees("staff@goldencoast.example", "mso_staff", Location) == {la_jolla}
    assert sees("dr.vasquez@goldencoast.example", "pc_physician", Location) == {la_jolla, del_mar}
    assert sees("dr.vasquez@goldencoast.example", "pc_physician", PatientChart) == pc1_patients
    assert sees("dr.okafor@goldencoast.example", "pc_physician", PatientChart) == pc2_patients
    assert sees("nurse@goldencoast.example", "clinician", PatientChart) == pc1_patients
    # The same person sees charts as a clinician of PC 2 and none as an MSO administrator.
    assert sees("rosa.delgado@goldencoast.example", "clinician", PatientChart) == pc2_patients
    assert sees("rosa.delgado@goldencoast.example", "mso_admin", PatientChart) == set()
    assert sees("auditor@goldencoast.example", "auditor", PatientChart) == set()


def test_command_prints_every_login_and_the_password() -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert "created." in text
    assert "already present" in text
    assert DEMO_PASSWORD in text
    for person in PEOPLE:
        assert text.count(person.email) == 2
    assert Tenant.objects.filter(slug=DEMO_SLUG).count() == 1
