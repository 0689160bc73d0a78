"""API behaviour beyond the matrix: mass assignment, references across tenants, filtering, paging,
query counts and the audit trail of chart reads."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinical.models import PatientChart
from management.models import Location, MsoEntity, ProfessionalCorporation
from tenants.audit import reads_naming, record_clinical_reads
from tenants.models import ApiKey, AuditLogEntry
from tenants.services import object_access_grant
from tests import factories
from tests.api_matrix import call, client_for, ids_of, issue_keys
from tests.worlds import World

pytestmark = pytest.mark.django_db


def location_payload(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Harbor Med Spa",
        "address": "1 Harbor Dr",
        "city": "San Diego",
        "state": "CA",
        "managing_entity": str(world.entity.pk),
        "pc": str(world.pcs[0].pk),
        **overrides,
    }


def chart_payload(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "pc": str(world.pcs[0].pk),
        "home_location": str(world.locations[0].pk),
        "medical_record_number": "NEW-0001",
        "patient_name": "Robin Example",
        "date_of_birth": "1985-06-30",
        **overrides,
    }


def counts(*worlds: World) -> list[int]:
    return [
        m.objects.filter(tenant=w.tenant).count()
        for w in worlds
        for m in (MsoEntity, ProfessionalCorporation, Location, PatientChart)
    ]


# --- the tenant comes from the key, never from the body -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "capacity", "payload", "model"),
    [
        ("/api/v1/mso-entities/", "mso_admin", lambda w: {"legal_name": "Own LLC"}, MsoEntity),
        ("/api/v1/pcs/", "mso_admin", lambda w: {"legal_name": "Dr. Own MC"}, ProfessionalCorporation),
        ("/api/v1/locations/", "mso_admin", location_payload, Location),
        ("/api/v1/patient-charts/", "pc_physician", chart_payload, PatientChart),
    ],
)
def test_tenant_and_id_in_the_body_are_ignored_on_create(
    path: str,
    capacity: str,
    payload: Callable[[World], dict[str, Any]],
    model: type[Any],
    world_a: World,
    world_b: World,
) -> None:
    forged = uuid.uuid4()
    body = {**payload(world_a), "tenant": str(world_b.tenant.pk), "tenant_id": str(world_b.tenant.pk)}
    body["id"] = str(forged)
    before_b = counts(world_b)
    response = call(client_for(issue_keys(world_a)[capacity]), "POST", path, body)
    assert response.status_code == 201, response.content
    created = model.objects.get(pk=response.json()["id"])
    assert created.tenant_id == world_a.tenant.pk
    assert created.pk != forged and not model.objects.filter(pk=forged).exists()
    assert counts(world_b) == before_b


def test_tenant_in_the_body_is_ignored_on_update(world_a: World, world_b: World) -> None:
    loc = world_a.locations[0]
    body = {"city": "Irvine", "tenant": str(world_b.tenant.pk), "tenant_id": str(world_b.tenant.pk)}
    body["id"] = str(world_b.locations[0].pk)
    response = call(
        client_for(issue_keys(world_a)["mso_admin"]), "PATCH", f"/api/v1/locations/{loc.pk}/", body
    )
    assert response.status_code == 200
    loc.refresh_from_db()
    assert (loc.tenant_id, loc.city, response.json()["id"]) == (world_a.tenant.pk, "Irvine", str(loc.pk))
    world_b.locations[0].refresh_from_db()
    assert world_b.locations[0].city == "San Diego"


# --- references must be the caller's tenant's and inside its scope ------------------------------------


@pytest.mark.parametrize(
    ("path", "capacity", "body", "field"),
    [
        ("/api/v1/locations/", "mso_admin", lambda a, b: location_payload(a, pc=str(b.pcs[0].pk)), "pc"),
        (
            "/api/v1/locations/",
            "mso_admin",
            lambda a, b: location_payload(a, managing_entity=str(b.entity.pk)),
            "managing_entity",
        ),
        ("/api/v1/locations/", "mso_admin", lambda a, b: location_payload(a, pc="abc"), "pc"),
        ("/api/v1/locations/", "mso_admin", lambda a, b: location_payload(a, pc=str(uuid.uuid4())), "pc"),
        ("/api/v1/locations/", "mso_admin", lambda a, b: location_payload(a, pc=None), "pc"),
        # mso_staff holds the first PC only: the second, of its own tenant, is unknown to it
        ("/api/v1/locations/", "mso_staff", lambda a, b: location_payload(a, pc=str(a.pcs[1].pk)), "pc"),
        ("/api/v1/patient-charts/", "pc_physician", lambda a, b: chart_payload(a, pc=str(b.pcs[0].pk)), "pc"),
        (
            "/api/v1/patient-charts/",
            "pc_physician",
            lambda a, b: chart_payload(a, home_location=str(b.locations[0].pk)),
            "home_location",
        ),
        # the physician is granted the first PC only
        ("/api/v1/patient-charts/", "pc_physician", lambda a, b: chart_payload(a, pc=str(a.pcs[1].pk)), "pc"),
        (
            "/api/v1/patient-charts/",
            "pc_physician",
            lambda a, b: chart_payload(a, medical_record_number=a.charts[1].medical_record_number),
            "medical_record_number",
        ),
        (
            "/api/v1/patient-charts/",
            "pc_physician",
            lambda a, b: chart_payload(a, date_of_birth="2999-01-01"),
            "date_of_birth",
        ),
        ("/api/v1/mso-entities/", "mso_admin", lambda a, b: {"legal_name": "X LLC", "state": "C1"}, "state"),
        ("/api/v1/pcs/", "mso_admin", lambda a, b: {"legal_name": "", "state": "CA"}, "legal_name"),
    ],
)
def test_bad_input_is_400_with_a_message_and_writes_nothing(
    path: str,
    capacity: str,
    body: Callable[[World, World], dict[str, Any]],
    field: str,
    world_a: World,
    world_b: World,
) -> None:
    client = client_for(issue_keys(world_a)[capacity])
    before = counts(world_a, world_b)
    entries = AuditLogEntry.objects.count()
    response = call(client, "POST", path, body(world_a, world_b))
    assert response.status_code == 400, response.content
    assert response.json()[field], response.json()
    assert counts(world_a, world_b) == before
    assert AuditLogEntry.objects.count() == entries  # the request's writes were rolled back


def test_update_to_another_tenants_pc_is_400_and_changes_nothing(world_a: World, world_b: World) -> None:
    loc = world_a.locations[0]
    client = client_for(issue_keys(world_a)["mso_admin"])
    response = call(
        client, "PATCH", f"/api/v1/locations/{loc.pk}/", {"pc": str(world_b.pcs[0].pk), "city": "X"}
    )
    assert response.status_code == 400
    assert "pc" in response.json()
    loc.refresh_from_db()
    assert (loc.pc_id, loc.city) == (world_a.pcs[0].pk, "San Diego")


def test_staff_may_rename_its_location_but_not_move_it_to_a_pc_it_cannot_see(world_a: World) -> None:
    loc = world_a.locations[0]
    client = client_for(issue_keys(world_a)["mso_staff"])
    same_pc = call(client, "PUT", f"/api/v1/locations/{loc.pk}/", location_payload(world_a, name="Renamed"))
    assert same_pc.status_code == 200, same_pc.content  # an unchanged reference is not re-checked
    moved = call(client, "PATCH", f"/api/v1/locations/{loc.pk}/", {"pc": str(world_a.pcs[1].pk)})
    assert moved.status_code == 400
    loc.refresh_from_db()
    assert (loc.name, loc.pc_id) == ("Renamed", world_a.pcs[0].pk)


def test_chart_home_location_must_be_served_by_the_charts_pc(world_a: World) -> None:
    # let the physician see the second location (served by the second PC) so only the PC check remains
    object_access_grant(
        membership=world_a.members["pc_physician"], obj=world_a.locations[1], perms=["view_location"]
    )
    body = chart_payload(world_a, home_location=str(world_a.locations[1].pk))
    response = call(client_for(issue_keys(world_a)["pc_physician"]), "POST", "/api/v1/patient-charts/", body)
    assert response.status_code == 400
    assert response.json() == {"home_location": ["This location's clinical services come from another PC."]}


def test_writes_go_through_the_service(world_a: World) -> None:
    client = client_for(issue_keys(world_a)["mso_admin"])
    response = call(client, "POST", "/api/v1/mso-entities/", {"legal_name": "  Spaced LLC ", "state": "ca"})
    assert response.status_code == 201
    assert (response.json()["legal_name"], response.json()["state"]) == ("Spaced LLC", "CA")


# --- filtering, ordering, paging ------------------------------------------------------------------------


def test_location_filters(world_a: World, world_b: World) -> None:
    client = client_for(issue_keys(world_a)["mso_admin"])
    a0, a1 = world_a.locations
    Location.objects.filter(pk=a1.pk).update(city="Irvine")
    assert ids_of(client.get("/api/v1/locations/", {"pc": str(world_a.pcs[0].pk)})) == {str(a0.pk)}
    assert ids_of(client.get("/api/v1/locations/", {"pc": str(world_a.pcs[1].pk)})) == {str(a1.pk)}
    assert ids_of(client.get("/api/v1/locations/", {"city": "irvine"})) == {str(a1.pk)}
    assert ids_of(client.get("/api/v1/locations/", {"managing_entity": str(world_a.entity.pk)})) == {
        str(a0.pk),
        str(a1.pk),
    }
    # another tenant's PC filters to nothing rather than reaching its locations
    assert ids_of(client.get("/api/v1/locations/", {"pc": str(world_b.pcs[0].pk)})) == set()
    bad = client.get("/api/v1/locations/", {"pc": "abc"})
    assert bad.status_code == 400 and bad.json()["pc"]


def test_chart_filters_apply_after_scoping(world_a: World) -> None:
    client = client_for(issue_keys(world_a)["pc_physician"])
    c0 = world_a.charts[0]
    assert ids_of(client.get("/api/v1/patient-charts/", {"pc": str(world_a.pcs[0].pk)})) == {str(c0.pk)}
    assert ids_of(client.get("/api/v1/patient-charts/", {"home_location": str(world_a.locations[0].pk)})) == {
        str(c0.pk)
    }
    # the physician's grant covers the first PC only: filtering for the second finds nothing
    assert ids_of(client.get("/api/v1/patient-charts/", {"pc": str(world_a.pcs[1].pk)})) == set()
    mrn = client.get("/api/v1/patient-charts/", {"medical_record_number": c0.medical_record_number.lower()})
    assert ids_of(mrn) == {str(c0.pk)}


def test_pagination_and_ordering(world_a: World) -> None:
    for _ in range(7):
        factories.LocationFactory(tenant=world_a.tenant, managing_entity=world_a.entity, pc=world_a.pcs[0])
    client = client_for(issue_keys(world_a)["mso_admin"])
    first = client.get("/api/v1/locations/", {"page_size": 3}).json()
    assert (first["count"], len(first["results"]), first["previous"]) == (9, 3, None)
    assert "page=2" in first["next"]
    last = client.get("/api/v1/locations/", {"page_size": 3, "page": 3}).json()
    assert len(last["results"]) == 3 and last["next"] is None
    seen = {
        r["id"]
        for p in (1, 2, 3)
        for r in client.get("/api/v1/locations/", {"page_size": 3, "page": p}).json()["results"]
    }
    assert len(seen) == 9
    assert client.get("/api/v1/locations/", {"page_size": 3, "page": 4}).status_code == 404
    names = [r["name"] for r in client.get("/api/v1/locations/", {"ordering": "-name"}).json()["results"]]
    assert names == sorted(names, reverse=True)
    # ordering by a field that is not offered is ignored, not an error (nor a way to probe tenant_id)
    assert client.get("/api/v1/locations/", {"ordering": "tenant"}).status_code == 200


# --- query counts do not grow with the rows returned ---------------------------------------------------


def add_rows(world: World, name: str, n: int) -> None:
    for _ in range(n):
        if name == "mso-entities":
            factories.MsoEntityFactory(tenant=world.tenant)
        elif name == "pcs":
            factories.ProfessionalCorporationFactory(tenant=world.tenant)
        elif name == "locations":
            factories.LocationFactory(tenant=world.tenant, managing_entity=world.entity, pc=world.pcs[0])
        elif name == "patient-charts":
            factories.PatientChartFactory(
                tenant=world.tenant, pc=world.pcs[0], home_location=world.locations[0]
            )


def list_queries(raw: str, path: str) -> tuple[int, int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client_for(raw).get(path, {"page_size": 100})
    assert response.status_code == 200
    return (
        response.json()["count"],
        len(captured.captured_queries),
        [q["sql"] for q in captured.captured_queries],
    )


@pytest.mark.parametrize(
    ("name", "capacity"),
    [
        ("mso-entities", "mso_admin"),
        ("pcs", "mso_admin"),
        ("locations", "mso_admin"),
        ("locations", "mso_staff"),
        ("patient-charts", "pc_physician"),
        ("patient-charts", "clinician"),
        ("api-keys", "mso_admin"),
    ],
)
def test_list_query_count_is_flat_from_5_to_50_rows(name: str, capacity: str, world_a: World) -> None:
    raw = issue_keys(world_a)[capacity]
    path = f"/api/v1/{name}/"
    grow: Callable[[int], None]
    if name == "api-keys":
        membership = world_a.members[capacity]

        def grow(n: int) -> None:
            from tenants.access import AccessContext
            from tenants.services import api_key_create

            for i in range(n):
                api_key_create(ctx=AccessContext.for_membership(membership, via="api"), name=f"k{i}")
    else:

        def grow(n: int) -> None:
            add_rows(world_a, name, n)

    have = client_for(raw).get(path).json()["count"]
    grow(5 - have)
    small_count, small, small_sql = list_queries(raw, path)
    grow(45)
    large_count, large, large_sql = list_queries(raw, path)
    if capacity in {"mso_staff"}:
        assert small_count == large_count == 1  # scoped: sees its granted location only
    else:
        assert (small_count, large_count) == (5, 50)
    assert small == large, "queries grew with rows:\n" + "\n".join(
        q for q in large_sql if large_sql.count(q) > small_sql.count(q)
    )


# --- every chart the API returns is in the audit log ----------------------------------------------------


def read_entries(chart: PatientChart) -> list[AuditLogEntry]:
    return list(reads_naming(chart.pk))


def test_a_list_response_is_one_read_entry_naming_every_chart_written_last(world_a: World) -> None:
    w = world_a
    more = [
        factories.PatientChartFactory.create(tenant=w.tenant, pc=w.pcs[0], home_location=w.locations[0])
        for _ in range(3)
    ]
    shown = {str(c.pk) for c in [w.charts[0], *more]}
    client = client_for(issue_keys(w)["clinician"])
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/patient-charts/")
    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == shown
    (entry,) = AuditLogEntry.objects.filter(action="read", object_type="clinical.patient_chart")
    assert set(entry.detail["ids"]) == shown and len(entry.detail["ids"]) == 4
    assert entry.object_id == ""  # several records: they are in detail["ids"]
    assert (entry.via, entry.capacity, entry.actor_id) == ("api", "clinician", w.user("clinician").pk)
    for chart in [w.charts[0], *more]:
        assert read_entries(chart) == [entry]
    assert read_entries(w.charts[1]) == []  # the other PC's chart: not granted, not shown, not logged
    # The read log is the request's last statement: the tenant's chain lock it takes is held to
    # COMMIT, so it is taken after the reads and the rendering, not before them.
    sql = [q["sql"] for q in captured.captured_queries]
    last_insert = max(i for i, q in enumerate(sql) if q.startswith('INSERT INTO "tenants_auditlogentry"'))
    assert not [q for q in sql[last_insert + 1 :] if " FROM " in q]  # only the role reset follows
    assert any(q.startswith('SELECT "clinical"."patient_chart"') for q in sql[:last_insert])


def test_reads_outside_a_request_are_logged_at_once(world_a: World) -> None:
    w = world_a
    record_clinical_reads(w.ctx("clinician"), [w.charts[0], w.charts[0]])
    (entry,) = read_entries(w.charts[0])
    assert (entry.object_id, entry.detail["ids"]) == (str(w.charts[0].pk), [str(w.charts[0].pk)])


def test_chart_reads_via_api_are_audit_logged(world_a: World) -> None:
    raw = issue_keys(world_a)["pc_physician"]
    client = client_for(raw)
    chart = world_a.charts[0]
    assert read_entries(chart) == []
    assert client.get("/api/v1/patient-charts/").status_code == 200
    assert client.get(f"/api/v1/patient-charts/{chart.pk}/").status_code == 200
    entries = read_entries(chart)
    assert len(entries) == 2
    for e in entries:
        assert (e.via, e.capacity, e.actor_id, e.tenant_id) == (
            "api",
            "pc_physician",
            world_a.user("pc_physician").pk,
            world_a.tenant.pk,
        )
        assert e.object_type == "clinical.patient_chart"
        assert e.client_ip == "127.0.0.1"
    # charts outside the grant are neither returned nor logged
    assert read_entries(world_a.charts[1]) == []


def test_created_chart_is_logged_as_written_and_read(world_a: World) -> None:
    response = call(
        client_for(issue_keys(world_a)["pc_physician"]),
        "POST",
        "/api/v1/patient-charts/",
        chart_payload(world_a),
    )
    assert response.status_code == 201
    entries = AuditLogEntry.objects.filter(object_id=response.json()["id"])
    assert {(e.action, e.via, e.capacity) for e in entries} == {
        ("insert", "api", "pc_physician"),
        ("read", "api", "pc_physician"),
    }


def test_refused_chart_requests_log_no_read(world_a: World, world_b: World) -> None:
    keys = issue_keys(world_a)
    chart = world_a.charts[0]
    for capacity in ("mso_admin", "mso_staff", "mso_compliance", "auditor"):
        assert client_for(keys[capacity]).get(f"/api/v1/patient-charts/{chart.pk}/").status_code == 404
    assert (
        client_for(keys["clinician"]).get(f"/api/v1/patient-charts/{world_b.charts[0].pk}/").status_code
        == 404
    )
    assert read_entries(chart) == [] and read_entries(world_b.charts[0]) == []


def test_business_key_on_charts_never_reaches_the_clinical_schema(world_a: World) -> None:
    raw = issue_keys(world_a)["mso_admin"]
    with CaptureQueriesContext(connection) as captured:
        client_for(raw).get("/api/v1/patient-charts/")
        client_for(raw).get(f"/api/v1/patient-charts/{world_a.charts[0].pk}/")
        call(client_for(raw), "POST", "/api/v1/patient-charts/", chart_payload(world_a))
    assert captured.captured_queries, "the requests ran"
    assert not [q["sql"] for q in captured.captured_queries if '"clinical"' in q["sql"]]
    assert ApiKey.objects.filter(key_hash=ApiKey.hash_secret(raw)).exists()


def test_options_describe_only_the_writes_the_key_may_attempt(world_a: World) -> None:
    keys = issue_keys(world_a)

    def actions(capacity: str, path: str) -> set[str]:
        response = client_for(keys[capacity]).options(path)
        assert response.status_code == 200, (capacity, path)
        return set(response.json().get("actions", {}))

    loc = f"/api/v1/locations/{world_a.locations[0].pk}/"
    assert actions("mso_admin", "/api/v1/locations/") == {"POST"}
    assert actions("mso_admin", loc) == {"PUT"}
    assert actions("mso_staff", loc) == {"PUT"}  # staff may change its granted location
    hidden = client_for(keys["mso_staff"]).options(f"/api/v1/locations/{world_a.locations[1].pk}/")
    assert hidden.status_code == 404
    assert actions("clinician", "/api/v1/locations/") == set()
    assert actions("auditor", "/api/v1/api-keys/") == set()
    assert actions("pc_physician", "/api/v1/patient-charts/") == {"POST"}
    assert client_for(keys["mso_admin"]).options("/api/v1/patient-charts/").status_code == 404


def test_a_chart_read_from_a_blank_client_address_is_logged_without_one(world_a: World) -> None:
    # A WSGI server bound to a unix socket passes REMOTE_ADDR as "": the read is still logged.
    client = client_for(issue_keys(world_a)["pc_physician"])
    chart = world_a.charts[0]
    assert client.get(f"/api/v1/patient-charts/{chart.pk}/", REMOTE_ADDR="").status_code == 200
    (entry,) = read_entries(chart)
    assert entry.client_ip is None and entry.via == "api"
    record_clinical_reads(dataclasses.replace(world_a.ctx("clinician"), client_ip=""), [world_a.charts[0]])
    assert [e.client_ip for e in read_entries(chart)] == [None, None]
