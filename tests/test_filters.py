"""The shared strict filters (tenants.filters) through the API: an instant is converted to UTC before it
reaches PostgreSQL (an offset PostgreSQL refuses is not a 500), an instant out of range, a bad boolean
and a bad choice are 400s with a message that never repeats the value sent, and an ``after`` filter
really narrows the list."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from clinical.models import PhysicianDecision
from management.filters.workforce import ProviderPageFilter
from management.models import Decision, Provider
from tenants.filters import InstantField, StrictBooleanField, choice_filter
from tests import factories as f
from tests.api_matrix import client_for, ids_of, issue_keys
from tests.worlds import World

DECISIONS = "/api/v1/physician-decisions/"
# What schemathesis sent: Python accepts a -16:17 offset, PostgreSQL (±15:59 at most) does not.
SCHEMATHESIS_OFFSET = "1343-04-21T05:52:16.173252-16:17"
UTC = dt.UTC


def plant_decisions(world: World, *instants: dt.datetime) -> list[PhysicianDecision]:
    """Decisions of the first PC (the one the physician's key holds) at the given instants."""
    physician = world.user("pc_physician")
    planted = []
    for instant in instants:
        draft = f.ConsentFormDraftFactory.create(tenant=world.tenant, pc=world.pcs[0], created_by=physician)
        planted.append(
            f.PhysicianDecisionFactory.create(
                tenant=world.tenant,
                pc=world.pcs[0],
                consent_form_draft=draft,
                content_hash=draft.content_hash,
                decided_by=physician,
                decided_at=instant,
            )
        )
    return planted


def refusal(response: Any, name: str, sent: str) -> str:
    """The 400's message for one filter, checked to name the filter and not to repeat what was sent."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert name in body, body
    assert sent not in json.dumps(body), body  # a refusal does not reflect its input
    return " ".join(body[name])


@pytest.fixture
def physician(world_a: World) -> APIClient:
    return client_for(issue_keys(world_a)["pc_physician"])


# --- instants ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_offset_postgres_refuses_is_converted_to_utc_not_a_500(
    world_a: World, physician: APIClient
) -> None:
    morning, evening = plant_decisions(
        world_a, dt.datetime(2025, 1, 1, 10, tzinfo=UTC), dt.datetime(2025, 1, 1, 20, tzinfo=UTC)
    )
    # The value schemathesis found: a 200, and nothing decided before 1343.
    found = physician.get(DECISIONS, {"decided_before": SCHEMATHESIS_OFFSET})
    assert found.status_code == 200, found.content
    assert found.json()["count"] == 0
    # The same offset, read right: 2025-01-01T00:00-16:17 is 16:17 UTC, between the two decisions.
    assert ids_of(physician.get(DECISIONS, {"decided_after": "2025-01-01T00:00:00-16:17"})) == {
        str(evening.pk)
    }
    assert ids_of(physician.get(DECISIONS, {"decided_before": "2025-01-01T00:00:00-16:17"})) == {
        str(morning.pk)
    }
    # A naive value is read in the current time zone (Pacific: 04:00 PST is 12:00 UTC).
    assert ids_of(physician.get(DECISIONS, {"decided_after": "2025-01-01T04:00:00"})) == {str(evening.pk)}


@pytest.mark.django_db
def test_an_after_filter_narrows_the_list(world_a: World, physician: APIClient) -> None:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    old, recent = plant_decisions(world_a, now - dt.timedelta(days=30), now - dt.timedelta(days=1))
    everything = physician.get(DECISIONS)
    assert everything.status_code == 200 and ids_of(everything) == {str(old.pk), str(recent.pk)}
    # A compliant bound earlier than both keeps both; a bound between them keeps the recent one only.
    wide = physician.get(DECISIONS, {"decided_after": (now - dt.timedelta(days=60)).isoformat()})
    assert ids_of(wide) == {str(old.pk), str(recent.pk)}
    narrow = physician.get(DECISIONS, {"decided_after": (now - dt.timedelta(days=7)).isoformat()})
    assert narrow.status_code == 200 and ids_of(narrow) == {str(recent.pk)}
    # The treatments' instants use the same filter: the chart's treatment 10 days ago, and one today.
    chart, location = world_a.charts[0], world_a.locations[0]
    f.TreatmentFactory.create(tenant=world_a.tenant, chart=chart, location=location)
    today = f.TreatmentFactory.create(tenant=world_a.tenant, chart=chart, location=location, performed_at=now)
    treatments = physician.get("/api/v1/treatments/")
    assert treatments.status_code == 200 and treatments.json()["count"] == 2
    after = physician.get(
        "/api/v1/treatments/", {"performed_after": (now - dt.timedelta(days=2)).isoformat()}
    )
    assert after.status_code == 200 and ids_of(after) == {str(today.pk)}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sent",
    [
        "0001-01-01T00:00:00+05:00",  # five hours before the earliest UTC instant Python holds
        "9999-12-31T23:00:00-05:00",  # four hours after the latest
        "9999-12-31T23:59:59",  # naive, Pacific: past the latest instant once in UTC
    ],
)
def test_an_instant_out_of_range_is_a_400_with_a_message(physician: APIClient, sent: str) -> None:
    message = refusal(physician.get(DECISIONS, {"decided_after": sent}), "decided_after", sent)
    assert "Out of range" in message and "UTC" in message


@pytest.mark.django_db
def test_the_range_edges_themselves_are_fine(world_a: World, physician: APIClient) -> None:
    plant_decisions(world_a, dt.datetime(2025, 1, 1, tzinfo=UTC))
    for bound in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00-05:00", "9999-12-31T23:59:59+05:00"):
        response = physician.get(DECISIONS, {"decided_after": bound})
        assert response.status_code == 200, (bound, response.content)
    assert physician.get(DECISIONS, {"decided_before": "9999-12-31T23:59:59Z"}).json()["count"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["soon", "2025-02-30T00:00:00Z", "2025-01-01T00:00:00+24:00"])
def test_a_malformed_instant_is_a_400_with_a_message(physician: APIClient, sent: str) -> None:
    message = refusal(physician.get(DECISIONS, {"decided_before": sent}), "decided_before", sent)
    assert "ISO 8601" in message


def test_instant_field_converts_to_utc_and_refuses_overflow_without_raising() -> None:
    field = InstantField(required=False)
    assert field.clean("") is None
    assert field.clean(SCHEMATHESIS_OFFSET) == dt.datetime(1343, 4, 21, 22, 9, 16, 173252, tzinfo=UTC)
    assert field.clean(SCHEMATHESIS_OFFSET).utcoffset() == dt.timedelta(0)
    with pytest.raises(Exception, match="Out of range"):
        field.clean("0001-01-01T00:00:00+00:01")


# --- booleans and choices ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_bad_boolean_is_a_400_asking_for_true_or_false(world_a: World) -> None:
    keys = issue_keys(world_a)
    for raw, path, name in (
        (keys["pc_physician"], "/api/v1/consent-form-versions/", "current"),
        (keys["pc_physician"], "/api/v1/treatments/", "uncharted"),
        (keys["mso_admin"], "/api/v1/locations/", "generates_sharps"),
        (keys["mso_admin"], "/api/v1/marketing-assets/", "awaiting_decision"),
        (keys["mso_admin"], "/api/v1/providers/", "active"),
    ):
        response = client_for(raw).get(path, {name: "perhaps"})
        assert refusal(response, name, "perhaps") == "Use true or false.", path
        for word in ("TRUE", "no", "on", "0"):
            assert client_for(raw).get(path, {name: word}).status_code == 200, (path, word)


def test_strict_boolean_words() -> None:
    field = StrictBooleanField(required=False)
    assert [field.clean(w) for w in ("true", "1", "Yes", "on")] == [True] * 4
    assert [field.clean(w) for w in ("false", "0", "NO", "off")] == [False] * 4
    assert field.clean("") is None


@pytest.mark.django_db
def test_a_bad_choice_is_a_400_listing_the_codes(world_a: World, physician: APIClient) -> None:
    message = refusal(physician.get(DECISIONS, {"decision": "wizard"}), "decision", "wizard")
    assert message.startswith("Not one of the choices: ") and "approved" in message
    admin = client_for(issue_keys(world_a)["mso_admin"])
    for path, name in (
        ("/api/v1/msas/", "fee_basis"),
        ("/api/v1/equipment/", "kind"),
        ("/api/v1/appointments/", "status"),  # several codes may be sent: each is checked
        ("/api/v1/providers/", "license_type"),
    ):
        assert refusal(admin.get(path, {name: "wizard"}), name, "wizard").startswith("Not one of the choices")


def test_choice_filter_takes_a_choices_class_or_pairs() -> None:
    by_class, by_pairs = choice_filter(Decision), choice_filter(Decision.choices)
    assert by_class.extra["choices"] == by_pairs.extra["choices"] == list(Decision.choices)
    # A list of pairs: the providers' page "expires within" filter.
    form = ProviderPageFilter(data={"expiring_within": "45"}, queryset=Provider.objects.none()).form
    assert not form.is_valid()
    assert form.errors["expiring_within"] == ["Not one of the choices: 30, 60, 90."]
