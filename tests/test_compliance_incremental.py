"""Change runs narrowed to the changed rows (``Rule.narrows``, ``RuleInput.object_ids``).

A change run is given the written rows of one model. A rule that narrows by that model re-checks the
findings of those rows' objects alone: it finds a new violation in a changed row, resolves the finding
of a changed row whose cause is gone, and leaves every other finding as it was (even one whose cause
is gone too: the next full run resolves that). A rule that cannot narrow re-checks the rows' PCs.
Real rules on the ``clinic`` world (compliant with every clinical rule, see test_rules_clinical).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from clinical.models import ChartReview, Treatment, TreatmentProduct
from compliance.engine import Written
from compliance.models import AuditRun, ClinicalFinding, Finding, FindingStatus
from compliance.registry import QUOTED_NAME, REGISTRY, WHOLE_ROW, KeysOf, Rule, rule_sql_forms
from compliance.tasks import audit_after_change, written_rows
from tests import factories as f
from tests.compliance_world import CLINICAL_RULE
from tests.test_rules_clinical import L, at, clinic, in_month, month_start, provider, today, treatment, update
from tests.worlds import World

pytestmark = pytest.mark.django_db

__all__ = ["clinic"]  # the fixture, shared with the clinical rule tests

TREATMENT = "clinical.Treatment"


def change_run(w: World, label: str, changed: Iterable[Any], pc_ids: Iterable[Any] | None = None) -> AuditRun:
    """``audit_after_change`` for the written rows `changed` of `label` (as its worker runs it)."""
    summary = audit_after_change(
        tenant_id=str(w.tenant.pk),
        model_label=label,
        pc_ids=[str(pk) for pk in pc_ids] if pc_ids is not None else None,
        object_ids=[str(pk) for pk in changed],
    )
    assert summary is not None and summary["status"] == "done", summary
    return AuditRun.objects.get(pk=summary["run_id"])


def open_findings(model: type[Finding], w: World, rule_id: str) -> dict[Any, Finding]:
    return {
        x.object_id: x
        for x in model.objects.filter(tenant=w.tenant, rule_id=rule_id).exclude(status=FindingStatus.RESOLVED)
    }


def late(t: Treatment) -> None:
    """Charted 73 hours after the treatment: a CHT-001 violation (72 hours by default)."""
    update(t, charted_at=t.performed_at + dt.timedelta(hours=73))


def on_time(t: Treatment) -> None:
    update(t, charted_at=t.performed_at + dt.timedelta(hours=2))


def test_every_narrowing_names_a_trigger_and_a_field_of_the_changed_model() -> None:
    narrowing = [r for r in REGISTRY.all() if r.narrows]
    assert {"GFE-001", "CHT-001", "CON-001", "DEL-001", "DEL-002", "DEL-003", "LIC-001", "SEP-002"} <= {
        r.id for r in narrowing
    }
    for item in narrowing:
        for label, via in item.narrows:
            assert label in item.triggers, (item.id, label)
            model = apps.get_model(label)
            if isinstance(via, KeysOf):
                assert callable(via.keys), (item.id, label)
                continue
            assert via == "pk" or model._meta.get_field(via).is_relation, (item.id, label, via)
    assert isinstance(REGISTRY.get("CHT-002").narrowing(TREATMENT), KeysOf)


def test_a_change_run_finds_a_new_violation_in_a_changed_row_and_nothing_outside_it(clinic: World) -> None:
    t0, t1 = treatment(clinic, 0), treatment(clinic, 1)
    late(t0)
    late(t1)  # a violation too, but not among the changed rows
    planted = open_findings(ClinicalFinding, clinic, CLINICAL_RULE)  # compliance_world's, on charts

    run = change_run(clinic, TREATMENT, [t0.pk], pc_ids=[t0.chart.pc_id])

    assert (run.trigger, run.change_label, run.pc_ids) == ("change", TREATMENT, [t0.chart.pc_id])
    assert "CHT-001" in run.rule_ids and run.stats["CHT-001"]["ms"] >= 0
    found = open_findings(ClinicalFinding, clinic, "CHT-001")
    assert set(found) == {t0.pk} | set(planted)
    assert (found[t0.pk].object_type, found[t0.pk].first_seen_run_id) == (TREATMENT, run.pk)
    # The findings the change did not concern were not re-checked: neither seen again nor resolved.
    for object_id, finding in planted.items():
        assert (found[object_id].status, found[object_id].last_seen_run_id) == (
            FindingStatus.OPEN,
            finding.last_seen_run_id,
        )


def test_a_change_run_resolves_a_changed_rows_finding_and_leaves_the_others_alone(clinic: World) -> None:
    t0, t1 = treatment(clinic, 0), treatment(clinic, 1)
    late(t0)
    late(t1)
    both = change_run(clinic, TREATMENT, [t0.pk, t1.pk])
    assert {t0.pk, t1.pk} <= set(open_findings(ClinicalFinding, clinic, "CHT-001"))
    planted = set(open_findings(ClinicalFinding, clinic, CLINICAL_RULE)) - {t0.pk, t1.pk}

    on_time(t0)
    on_time(t1)  # its cause is gone as well, but this change run is not about it
    fixed = change_run(clinic, TREATMENT, [t0.pk])

    findings = {
        x.object_id: x for x in ClinicalFinding.objects.filter(tenant=clinic.tenant, rule_id="CHT-001")
    }
    assert (findings[t0.pk].status, findings[t0.pk].resolved_by_run_id) == (FindingStatus.RESOLVED, fixed.pk)
    assert (findings[t1.pk].status, findings[t1.pk].last_seen_run_id) == (FindingStatus.OPEN, both.pk)
    assert set(open_findings(ClinicalFinding, clinic, "CHT-001")) == {t1.pk} | planted

    again = change_run(clinic, TREATMENT, [t1.pk])
    findings[t1.pk].refresh_from_db()
    assert (findings[t1.pk].status, findings[t1.pk].resolved_by_run_id) == (FindingStatus.RESOLVED, again.pk)
    assert set(open_findings(ClinicalFinding, clinic, "CHT-001")) == planted


def test_a_deleted_row_of_the_change_has_its_finding_resolved(clinic: World) -> None:
    chart = clinic.charts[0]
    t = f.TreatmentFactory.create(tenant=clinic.tenant, chart=chart, location=chart.home_location, notes="")
    change_run(clinic, TREATMENT, [t.pk])
    assert t.pk in open_findings(ClinicalFinding, clinic, "CHT-001")
    Treatment.objects.filter(pk=t.pk).delete()
    gone = change_run(clinic, TREATMENT, [t.pk])
    finding = ClinicalFinding.objects.get(tenant=clinic.tenant, rule_id="CHT-001", object_id=t.pk)
    assert (finding.status, finding.resolved_by_run_id) == (FindingStatus.RESOLVED, gone.pk)


def test_a_rule_that_cannot_narrow_re_checks_the_pcs_of_the_change(
    clinic: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same query without ``narrows``: the change run re-checks (and resolves within) the PCs."""
    t0, t1 = treatment(clinic, 0), treatment(clinic, 1)
    assert t0.chart.pc_id != t1.chart.pc_id
    by_pc: Rule = dataclasses.replace(REGISTRY.get("CHT-001"), id="ZZ-CHT-PC", narrows=())
    monkeypatch.setitem(REGISTRY.rules, by_pc.id, by_pc)
    late(t0)
    late(t1)

    run = change_run(clinic, TREATMENT, [t0.pk], pc_ids=[t1.chart.pc_id])

    assert by_pc.id in run.rule_ids
    assert set(open_findings(ClinicalFinding, clinic, by_pc.id)) == {t1.pk}  # the PC's, not the row's
    assert set(open_findings(ClinicalFinding, clinic, "CHT-001")) - {t0.pk, t1.pk} == set(
        open_findings(ClinicalFinding, clinic, CLINICAL_RULE)
    ) - {t0.pk, t1.pk}
    assert t0.pk in open_findings(ClinicalFinding, clinic, "CHT-001")  # narrowed: the changed row


def test_a_change_of_products_re_checks_their_treatments(clinic: World) -> None:
    """CHT-001 narrows a change of treatment products to the products' treatments (its objects)."""
    products = {p.treatment_id: p for p in TreatmentProduct.objects.filter(tenant=clinic.tenant)}
    t0, t1 = treatment(clinic, 0), treatment(clinic, 1)
    for t in (t0, t1):
        update(products[t.pk], lot_number=" ")

    run = change_run(clinic, "clinical.TreatmentProduct", [products[t0.pk].pk])

    assert "CHT-001" in run.rule_ids
    found = open_findings(ClinicalFinding, clinic, "CHT-001")
    assert t0.pk in found and t1.pk not in found
    assert found[t0.pk].evidence["product_and_lot_recorded"] is False


# --- CHT-002: findings are PC-months; a change re-checks the PC-months of the changed treatments ---


def month_key(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def treated_in(w: World, month: dt.date, index: int = 0) -> list[Treatment]:
    """The treatments of PC `index` performed in `month` (local dates)."""
    end = month_start(month, -1)
    return list(
        Treatment.objects.filter(
            tenant=w.tenant,
            chart__pc=w.pcs[index],
            performed_at__gte=at(month, 0),
            performed_at__lt=at(end, 0),
        )
    )


def review_months(w: World) -> dict[tuple[Any, str], ClinicalFinding]:
    """CHT-002's unresolved findings by (PC, month)."""
    return {
        (x.object_id, x.discriminator): x
        for x in ClinicalFinding.objects.filter(tenant=w.tenant, rule_id="CHT-002").exclude(
            status=FindingStatus.RESOLVED
        )
    }


def review_all(w: World, month: dt.date, index: int = 0) -> None:
    """A physician of the PC reviews every chart it treated in `month`: the cause is gone."""
    for t in treated_in(w, month, index):
        ChartReview.objects.create(
            tenant=w.tenant, chart_id=t.chart_id, reviewer=provider(w, L.MD, index), reviewed_on=month
        )


def test_cht002_change_run_finds_a_new_shortfall_in_the_changed_month_only(clinic: World) -> None:
    two, three = month_start(today(), 2), month_start(today(), 3)
    in_month(clinic, two, charts=11, reviewed=1)
    in_month(clinic, three, charts=11, reviewed=0)  # a shortfall too, in a month no change concerns
    pc = clinic.pcs[0].pk

    run = change_run(clinic, TREATMENT, [treated_in(clinic, two)[0].pk])

    assert "CHT-002" in run.rule_ids
    found = review_months(clinic)
    assert set(found) == {(pc, month_key(two))}
    assert (
        found[(pc, month_key(two))].first_seen_run_id,
        found[(pc, month_key(two))].evidence["charts_treated"],
    ) == (
        run.pk,
        11,
    )


def test_cht002_change_run_leaves_an_unchanged_months_finding_alone(clinic: World) -> None:
    two, three = month_start(today(), 2), month_start(today(), 3)
    in_month(clinic, two, charts=2, reviewed=0)
    in_month(clinic, three, charts=2, reviewed=0)
    pc = clinic.pcs[0].pk
    both = change_run(clinic, TREATMENT, [treated_in(clinic, two)[0].pk, treated_in(clinic, three)[0].pk])
    assert set(review_months(clinic)) == {(pc, month_key(two)), (pc, month_key(three))}

    review_all(clinic, three)  # the cause is gone in both months, but the change concerns month two
    review_all(clinic, two)
    in_month(clinic, two, charts=30, reviewed=0)  # 2 of 32 reviewed: still a finding, seen again
    again = change_run(clinic, TREATMENT, [treated_in(clinic, two)[-1].pk])

    found = review_months(clinic)
    assert set(found) == {(pc, month_key(two)), (pc, month_key(three))}
    assert found[(pc, month_key(two))].last_seen_run_id == again.pk
    assert found[(pc, month_key(two))].evidence["charts_reviewed"] == 2
    # Month three was not re-checked: neither seen again nor resolved (the nightly run will).
    assert (found[(pc, month_key(three))].status, found[(pc, month_key(three))].last_seen_run_id) == (
        FindingStatus.OPEN,
        both.pk,
    )


def test_cht002_change_run_resolves_the_changed_months_finding_when_its_cause_is_gone(clinic: World) -> None:
    two, three = month_start(today(), 2), month_start(today(), 3)
    in_month(clinic, two, charts=2, reviewed=0)
    in_month(clinic, three, charts=2, reviewed=0)
    in_month(clinic, two, charts=1, reviewed=0, index=1)  # the other PC's same month
    pc, other = clinic.pcs[0].pk, clinic.pcs[1].pk
    first = change_run(
        clinic,
        TREATMENT,
        [treated_in(clinic, two)[0].pk, treated_in(clinic, three)[0].pk, treated_in(clinic, two, 1)[0].pk],
    )
    assert set(review_months(clinic)) == {
        (pc, month_key(two)),
        (pc, month_key(three)),
        (other, month_key(two)),
    }

    for month, index in ((two, 0), (three, 0), (two, 1)):
        review_all(clinic, month, index)
    fixed = change_run(clinic, TREATMENT, [treated_in(clinic, two)[0].pk])

    findings = {
        (x.object_id, x.discriminator): x
        for x in ClinicalFinding.objects.filter(tenant=clinic.tenant, rule_id="CHT-002")
    }
    assert (findings[(pc, month_key(two))].status, findings[(pc, month_key(two))].resolved_by_run_id) == (
        FindingStatus.RESOLVED,
        fixed.pk,
    )
    # The same month of another PC, and another month of this PC: other findings, not re-checked.
    for key in ((pc, month_key(three)), (other, month_key(two))):
        assert (findings[key].status, findings[key].last_seen_run_id) == (FindingStatus.OPEN, first.pk), key


def test_cht002_a_change_of_the_current_month_re_checks_nothing(clinic: World) -> None:
    two = month_start(today(), 2)
    in_month(clinic, two, charts=2, reviewed=0)
    in_month(clinic, month_start(today(), 0), charts=3, reviewed=0)  # not judged yet
    pc = clinic.pcs[0].pk
    seen = change_run(clinic, TREATMENT, [treated_in(clinic, two)[0].pk])
    review_all(clinic, two)  # cause gone, but the next change is about this month's visits only

    now = change_run(clinic, TREATMENT, [t.pk for t in treated_in(clinic, month_start(today(), 0))])

    assert "CHT-002" in now.done_rule_ids
    [finding] = review_months(clinic).values()
    assert (finding.object_id, finding.discriminator, finding.last_seen_run_id) == (
        pc,
        month_key(two),
        seen.pk,
    )
    assert finding.status == FindingStatus.OPEN


def test_cht002_keys_of_the_changed_treatments_are_their_pc_and_local_month(clinic: World) -> None:
    """treated_pc_months: a treatment's PC and local month, within the checked months only."""
    from compliance.registry import RuleInput
    from compliance.rules.clinical import treated_pc_months

    two = month_start(today(), 2)
    in_month(clinic, two, charts=1, reviewed=0)
    in_month(clinic, month_start(today(), 14), charts=1, reviewed=0, index=1)  # beyond the 12 months
    changed = [
        *treated_in(clinic, two),
        *treated_in(clinic, month_start(today(), 14), 1),
        treatment(clinic, 0),
    ]
    rule = REGISTRY.get("CHT-002")
    q = RuleInput(tenant_id=clinic.tenant.pk, today=today(), params=rule.defaults())
    keys = set(treated_pc_months(q, tuple(str(t.pk) for t in changed)))
    world_month = timezone.localdate(treatment(clinic, 0).performed_at).replace(day=1)
    expected = {(clinic.pcs[0].pk, month_key(two))}
    if month_start(today(), 12) <= world_month < month_start(today(), 0):
        expected.add((treatment(clinic, 0).chart.pc_id, month_key(world_month)))
    assert keys == expected


# --- what a write changed: a rule is re-run only for rows changed in a column it reads ------------


def changed_in(w: World, updated: dict[Any, list[str]], created: Iterable[Any] = ()) -> dict[str, Any] | None:
    """``audit_after_change`` for treatments `created` and `updated` (id -> the fields changed)."""
    return audit_after_change(
        tenant_id=str(w.tenant.pk),
        model_label=TREATMENT,
        object_ids=[str(pk) for pk in created],
        updated={str(pk): fields for pk, fields in updated.items()},
    )


def test_what_a_rule_reads_of_a_changed_table_comes_from_its_sql() -> None:
    con = REGISTRY.get("CON-001").reads(TREATMENT)
    cht = REGISTRY.get("CHT-001").reads(TREATMENT)
    assert con is not None and cht is not None
    # CON-001 judges a treatment's procedure, time and chart; CHT-001 its charting.
    assert {"procedure", "performed_at", "chart_id", "tenant_id"} <= con
    assert not {"notes", "charted_at"} & con
    assert {"notes", "charted_at", "performed_at", "procedure"} <= cht
    products = REGISTRY.get("CHT-001").reads("clinical.TreatmentProduct")
    assert products is not None and {"lot_number", "product_name"} <= products
    # A rule reads only columns of the table; when its SQL does not name the table, every column
    # counts: ADV-001 reads an image through its asset's content hash (kept by a database trigger).
    unnamed = set()
    for item in REGISTRY.all():
        for label in item.triggers:
            read = item.reads(label)
            if read is None:
                unnamed.add((item.id, label))
                continue
            assert read <= {f.column for f in apps.get_model(label)._meta.concrete_fields}, (item.id, label)
    assert unnamed == {("ADV-001", "management.MarketingImage")}
    assert Written.of(updated={str(uuid.uuid4()): {"description"}}).affecting(
        REGISTRY.get("ADV-001"), "management.MarketingImage"
    )


def test_a_rule_reads_the_same_columns_at_every_threshold_and_date() -> None:
    """``columns_read`` compiles a rule at its default thresholds and one date: what it reads must
    not depend on them (checked at each threshold's bounds, alone and together, and other dates)."""

    def names(forms: tuple[str, ...]) -> list[set[str]]:
        return [set(QUOTED_NAME.findall(sql)) for sql in forms]

    days = (dt.date(2024, 2, 29), dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    for item in REGISTRY.all():
        default = names(rule_sql_forms(item))
        for day in days:
            assert names(rule_sql_forms(item, None, day)) == default, (item.id, day)
        defaults = item.defaults()
        for bound in ("minimum", "maximum"):
            together = tuple(sorted((t.name, getattr(t, bound)) for t in item.thresholds))
            assert names(rule_sql_forms(item, together)) == default, (item.id, bound)
            for threshold in item.thresholds:
                alone = tuple(sorted({**defaults, threshold.name: getattr(threshold, bound)}.items()))
                assert names(rule_sql_forms(item, alone)) == default, (item.id, threshold.name, bound)


def test_fields_are_named_as_the_model_names_them_and_read_as_columns() -> None:
    pk = str(uuid.uuid4())
    msa = written_rows("management.ManagementServicesAgreement", None, {pk: ["pc", "fee_amount"]})
    assert msa is not None and msa.groups == ((frozenset({"pc_id", "fee_amount"}), (pk,)),)
    # A change of the PC alone re-runs the rules that read the agreement's PC column.
    fee = REGISTRY.get("FEE-001")
    assert msa.affecting(fee, "management.ManagementServicesAgreement") == (pk,)
    by_attname = written_rows(TREATMENT, None, {pk: ["chart_id"]})
    assert by_attname is not None and by_attname.groups == ((frozenset({"chart_id"}), (pk,)),)
    assert written_rows(TREATMENT, None, None) is None


def test_whole_row_reads_count_as_every_column() -> None:
    for sql in (
        'SELECT "t".* FROM x',
        "SELECT U0.* FROM x",
        'SELECT * FROM "clinical"."treatment"',
        'SELECT to_jsonb("t") FROM x',
        "SELECT row_to_json(t) FROM x",
    ):
        assert WHOLE_ROW.search(sql), sql
    # Django's wrapper of a union reads the columns its parts name.
    assert WHOLE_ROW.search("SELECT to_jsonb(U0) FROM x") and WHOLE_ROW.search("SELECT ROW(U0.*) FROM x")
    assert not WHOLE_ROW.search('SELECT "a" FROM (SELECT * FROM (SELECT "t"."a" FROM "t") s) w')


def test_written_rows_count_an_update_only_for_the_rules_reading_a_column_it_changed() -> None:
    created, notes, procedure = (str(uuid.uuid4()) for _ in range(3))
    written = Written.of(created=[created], updated={notes: {"notes"}, procedure: {"procedure", "notes"}})
    assert set(written.ids) == {created, notes, procedure}
    assert written.affecting(REGISTRY.get("CON-001"), TREATMENT) == (created, procedure)
    assert set(written.affecting(REGISTRY.get("CHT-001"), TREATMENT)) == {created, notes, procedure}
    assert (
        Written.of(updated={notes: {"good_faith_exam_id"}}).affecting(REGISTRY.get("CHT-001"), TREATMENT)
        == ()
    )


def test_an_update_re_runs_only_the_rules_that_read_what_it_changed(clinic: World) -> None:
    t0, t1 = treatment(clinic, 0), treatment(clinic, 1)
    late(t0)  # a CHT-001 violation
    # Only CHT-001 reads charted_at: one rule re-run, and it finds the violation.
    summary = changed_in(clinic, {t0.pk: ["charted_at"]})
    assert summary is not None
    run = AuditRun.objects.get(pk=summary["run_id"])
    assert run.rule_ids == ["CHT-001"]
    assert t0.pk in open_findings(ClinicalFinding, clinic, "CHT-001")
    # The compliant twin: an on-time chart updated the same way is not a finding.
    on_time(t1)
    changed_in(clinic, {t1.pk: ["charted_at"]})
    assert t1.pk not in open_findings(ClinicalFinding, clinic, "CHT-001")
    # A new row is judged by every treatment rule.
    summary = changed_in(clinic, {}, created=[t1.pk])
    assert summary is not None
    assert set(AuditRun.objects.get(pk=summary["run_id"]).rule_ids) == {
        r.id for r in REGISTRY.triggered_by(TREATMENT)
    }


def test_an_update_of_a_column_no_rule_reads_re_runs_nothing(clinic: World) -> None:
    t0 = treatment(clinic, 0)
    late(t0)
    changed_in(clinic, {}, created=[t0.pk])
    assert t0.pk in open_findings(ClinicalFinding, clinic, "CHT-001")
    runs = AuditRun.objects.filter(tenant=clinic.tenant).count()
    on_time(t0)  # its cause is gone, but the caller says only the exam link changed
    assert changed_in(clinic, {t0.pk: ["good_faith_exam"]}) is None
    assert AuditRun.objects.filter(tenant=clinic.tenant).count() == runs
    # No rule reads that column, so no rule could have seen a difference: the finding stands until
    # a run that re-checks it (here the write that really fixed it).
    assert t0.pk in open_findings(ClinicalFinding, clinic, "CHT-001")
    changed_in(clinic, {t0.pk: ["charted_at"]})
    assert t0.pk not in open_findings(ClinicalFinding, clinic, "CHT-001")


def test_a_field_the_model_does_not_have_is_refused(clinic: World) -> None:
    t0 = treatment(clinic, 0)
    with pytest.raises(ValueError, match="has no field 'nope'"):
        changed_in(clinic, {t0.pk: ["nope"]})
    with pytest.raises(ValueError, match="is not a column"):
        changed_in(clinic, {t0.pk: ["products"]})
    assert not AuditRun.objects.filter(tenant=clinic.tenant, trigger="change").exists()


def test_a_worker_process_compiles_what_the_rules_read_when_it_starts() -> None:
    from celery.signals import worker_process_init

    from compliance.registry import columns_read
    from compliance.tasks import learn_what_rules_read

    assert learn_what_rules_read in [ref() for _, ref in worker_process_init.receivers]
    columns_read.cache_clear()
    learn_what_rules_read()
    expected = sum(len(r.triggers) for r in REGISTRY.all())
    assert columns_read.cache_info().currsize == expected
