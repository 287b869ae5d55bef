"""Corrections of closed periods: late bookings, the recomputed split, dry run, apply, correcting again."""

import io
import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from distributions.corrections import distribution_correct
from distributions.models import Allocation, Correction, CorrectionLine, Distribution
from distributors.models import RevenueEntry
from distributors.revenue import RevenueImportError, revenue_import
from metrics.models import CreditRequest, CreditSource
from metrics.services import CreditRefused, metric_credit
from obligations.models import AwardType, Obligation
from obligations.services import fulfillment_generate, obligations_transition
from tests.distributions.helpers import JAN_1, credit, run_engine, triggered

MID_JAN = JAN_1 + timedelta(days=14)


def late_credit(collaborator, distributor, points, when=MID_JAN, reason="CRM sync was late"):
    return credit(collaborator, distributor, points, when, late_reason=reason)


def owed(distribution) -> dict[int, int]:
    """Per collaborator: allocation + the adjustments of the period's corrections."""
    total: dict[int, int] = {}
    for collaborator_id, value in Allocation.objects.filter(distribution=distribution).values_list(
        "collaborator_id", "value"
    ):
        total[collaborator_id] = total.get(collaborator_id, 0) + value
    for collaborator_id, value in CorrectionLine.objects.filter(correction__distribution=distribution).values_list(
        "collaborator_id", "adjustment__value"
    ):
        total[collaborator_id] = total.get(collaborator_id, 0) + value
    return total


@pytest.fixture
def period(make_distributor, make_collaborators):
    """A triggered January of a fixed 1,000.00 USD pool split 1:1:1 among three collaborators, their obligations
    approved."""
    distributor = make_distributor(pool_amount=100_000, obligation_start_status="approved")
    a, b, c = make_collaborators(3)
    for collaborator in (a, b, c):
        credit(collaborator, distributor, 10, MID_JAN)
    run_engine("--now", "2026-02-01T00:00:00Z")
    (distribution,) = triggered(distributor)
    return distributor, distribution, (a, b, c)


def test_a_late_credit_is_refused_unless_booked_late_on_purpose(period):
    distributor, distribution, (a, _, _) = period
    with pytest.raises(CreditRefused) as refused:
        credit(a, distributor, 5, MID_JAN)
    assert refused.value.field == "credited_at"
    outcome = late_credit(a, distributor, 5)
    assert CreditRequest.objects.get(pk=outcome.request.pk).late_reason == "CRM sync was late"
    # Booking late changes nothing already distributed.
    assert sorted(v for _, v in Allocation.objects.filter(distribution=distribution).values_list("pk", "value")) == [
        33_333,
        33_333,
        33_334,
    ]


def test_the_dry_run_shows_the_difference_and_writes_nothing(period):
    distributor, distribution, (a, b, c) = period
    late_credit(a, distributor, 10)  # a: 20, b: 10, c: 10 of 40
    counts = (Obligation.objects.count(), Correction.objects.count())
    plan = distribution_correct(distribution=distribution)
    assert (Obligation.objects.count(), Correction.objects.count()) == counts
    assert plan.correction is None
    assert plan.corrected_pool == 100_000 and plan.value == 100_000 and plan.late_credits == 1
    by_collaborator = {line.collaborator_id: line for line in plan.lines}
    assert by_collaborator[a.pk].corrected_value == 50_000
    assert {by_collaborator[b.pk].corrected_value, by_collaborator[c.pk].corrected_value} == {25_000}
    assert plan.adjustment_total == 0  # the pool is the same: what a gains, b and c lose
    assert sum(line.difference for line in plan.lines) == 0


def test_apply_writes_adjustments_linked_to_the_allocations_and_leaves_the_period_untouched(period):
    distributor, distribution, (a, b, c) = period
    before = list(Obligation.objects.order_by("pk").values_list("pk", "value", "status", "modified_at"))
    distribution_before = Distribution.objects.filter(pk=distribution.pk).values().get()
    late_credit(a, distributor, 10)
    plan = distribution_correct(distribution=distribution, apply=True, reason="CRM sync", actor="staff:ann")
    correction = plan.correction
    assert correction is not None and correction.actor == "staff:ann"
    assert (
        list(
            Obligation.objects.filter(pk__in=[p for p, *_ in before])
            .order_by("pk")
            .values_list("pk", "value", "status", "modified_at")
        )
        == before
    )
    assert Distribution.objects.filter(pk=distribution.pk).values().get() == distribution_before
    lines = list(correction.lines.select_related("adjustment", "allocation"))
    assert len(lines) == 3
    for line in lines:
        assert line.allocation.collaborator_id == line.collaborator_id
        assert line.allocation.distribution_id == distribution.pk
        adjustment = line.adjustment
        assert adjustment.award_type == AwardType.ADJUSTMENT and adjustment.status == "approved"
        assert adjustment.adjusts_distribution_id == distribution.pk
        assert adjustment.value == line.difference and adjustment.units == "USD"
        assert "CRM sync" in adjustment.reason
    assert owed(distribution) == {a.pk: 50_000, b.pk: 25_000, c.pk: 25_000}
    assert sum(owed(distribution).values()) == correction.value == correction.pool


def test_correcting_again_writes_only_the_new_difference(period):
    distributor, distribution, (a, b, c) = period
    late_credit(a, distributor, 10)
    first = distribution_correct(distribution=distribution, apply=True, reason="first", actor="t").correction
    again = distribution_correct(distribution=distribution, apply=True, reason="nothing new", actor="t")
    assert again.correction is None and again.lines == []
    assert Correction.objects.count() == 1
    late_credit(b, distributor, 10, reason="second sync")  # a 20, b 20, c 10 of 50
    second = distribution_correct(distribution=distribution, apply=True, reason="second", actor="t").correction
    assert second.previous_value == first.value == 100_000
    assert owed(distribution) == {a.pk: 40_000, b.pk: 40_000, c.pk: 20_000}
    assert {line.collaborator_id: line.difference for line in second.lines.all()} == {
        a.pk: -10_000,
        b.pk: 15_000,
        c.pk: -5_000,
    }


def test_a_collaborator_the_period_missed_gets_an_adjustment_without_allocation(period, make_collaborators):
    distributor, distribution, (_a, _b, _c) = period
    (d,) = make_collaborators(1)
    late_credit(d, distributor, 10)  # 4 × 10: 25,000 each
    plan = distribution_correct(distribution=distribution, apply=True, reason="late joiner", actor="t")
    line = plan.correction.lines.get(collaborator=d)
    assert line.allocation is None and line.previous_value == 0 and line.corrected_value == 25_000
    assert sum(owed(distribution).values()) == 100_000


def test_the_corrected_split_uses_largest_remainder_and_the_tie_break(period, make_collaborators):
    distributor, distribution, (_a, _b, _c) = period
    (d,) = make_collaborators(1)
    # d ties with a, b, c at 10 points but with a later first credit: d is last in the tie-break order.
    late_credit(d, distributor, 10, when=JAN_1 + timedelta(days=30))
    late_credit(d, distributor, 1, when=JAN_1 + timedelta(days=30, hours=1))  # d 11, a/b/c 10: 41 points
    plan = distribution_correct(distribution=distribution)
    corrected = {line.collaborator_id: line.corrected_value for line in plan.lines}
    # 100,000 × 11/41 = 26,829.26..., 100,000 × 10/41 = 24,390.24...: floors sum to 99,999, one leftover unit
    # goes to the largest remainder (d's .26 against .24), so d gets 26,830.
    assert corrected[d.pk] == 26_830
    assert sum(owed_value for owed_value in corrected.values()) == 100_000


def test_a_collaborator_deactivated_since_the_trigger_still_counts(period):
    _distributor, distribution, (_a, _b, c) = period
    c.status = "inactive"
    c.save(update_fields=["status"])
    plan = distribution_correct(distribution=distribution)
    assert plan.lines == []


def _with_one_left_out(make_distributor, make_collaborators):
    """A triggered fixed 1,000.00 USD period (obligations approved) where a and d scored 10 each in time, d
    inactive when the trigger ran: a got it all, d stays inactive."""
    distributor = make_distributor(pool_amount=100_000, obligation_start_status="approved")
    a, d = make_collaborators(2)
    credit(a, distributor, 10, MID_JAN)
    credit(d, distributor, 10, MID_JAN)
    type(d).objects.filter(pk=d.pk).update(status="inactive")
    run_engine("--now", "2026-02-01T00:00:00Z")
    (distribution,) = triggered(distributor)
    return distributor, distribution, a, d


def test_an_in_time_credit_of_someone_the_trigger_left_out_does_not_count(make_distributor, make_collaborators):
    distributor, distribution, a, d = _with_one_left_out(make_distributor, make_collaborators)
    assert list(Allocation.objects.filter(distribution=distribution).values_list("collaborator_id", flat=True)) == [
        a.pk
    ]
    type(d).objects.filter(pk=d.pk).update(status="active")  # eligible again now
    assert distribution_correct(distribution=distribution).lines == []
    late_credit(d, distributor, 5)  # booked late on purpose: now d counts, with the late points only (5 of 15)
    plan = distribution_correct(distribution=distribution)
    assert {line.collaborator_id: line.corrected_value for line in plan.lines} == {a.pk: 66_667, d.pk: 33_333}
    assert plan.uncertain_eligibility == 0
    assert plan.late_credits == 1


def test_late_revenue_pays_the_scorers_of_a_period_whose_pool_was_zero(make_distributor, make_collaborators, org):
    distributor = make_distributor(
        pool_resolver="revenueShare", pool_percent_bp=1000, pool_amount=0, obligation_start_status="approved"
    )
    a, b = make_collaborators(2)
    credit(a, distributor, 2, MID_JAN)
    credit(b, distributor, 1, MID_JAN)
    run_engine("--now", "2026-02-01T00:00:00Z")
    (distribution,) = triggered(distributor)
    assert distribution.pool == 0 and not Allocation.objects.filter(distribution=distribution).exists()
    row = {"amount": "300.00", "units": "USD", "occurredAt": "2026-01-20T00:00:00Z", "reference": "late"}
    revenue_import(organization=org, rows=[(2, row)], late_reason="invoice found")
    plan = distribution_correct(distribution=distribution, apply=True, reason="late invoice", actor="t")
    # Both scored in time and were counted by the trigger (with nothing to share): 30.00 USD split 2:1.
    assert owed(distribution) == {a.pk: 2_000, b.pk: 1_000}
    assert plan.uncertain_eligibility == 0 and plan.unallocated == plan.carried_forward == 0


def _winner_takes_all(make_distributor):
    """A fixed 1,000.00 USD pool all to the first place (topN [100]), obligations approved."""
    return make_distributor(
        pool_amount=100_000, distribution_resolver="topN", top_n_weights=[100], obligation_start_status="approved"
    )


def test_a_scorer_beyond_the_top_places_moves_up_with_late_credits(make_distributor, make_collaborators):
    distributor = _winner_takes_all(make_distributor)
    a, b, c = make_collaborators(3)
    credit(a, distributor, 10, MID_JAN)
    credit(b, distributor, 5, MID_JAN)
    credit(c, distributor, 3, MID_JAN)
    type(c).objects.filter(pk=c.pk).update(status="inactive")  # left out by the trigger
    run_engine("--now", "2026-02-01T00:00:00Z")
    (distribution,) = triggered(distributor)
    assert distribution.scorer_count == 2  # a won; b counted with a zero share
    late_credit(b, distributor, 10)  # b 15 > a 10
    plan = distribution_correct(distribution=distribution)
    assert {line.collaborator_id: line.corrected_value for line in plan.lines} == {a.pk: 0, b.pk: 100_000}
    # b and c both scored in time without an allocation; the trigger counted one of them: the record cannot
    # tell which, so those eligible now count (b) and the plan says one is uncertain.
    assert plan.uncertain_eligibility == 1 and plan.scorer_count == 2
    type(c).objects.filter(pk=c.pk).update(status="active")
    plan = distribution_correct(distribution=distribution)
    assert plan.uncertain_eligibility == 1 and plan.scorer_count == 3  # c counts now too (3rd place: nothing)
    assert {line.collaborator_id: line.corrected_value for line in plan.lines} == {a.pk: 0, b.pk: 100_000}


def test_an_uncertain_correction_applies_only_when_its_lines_were_checked(make_distributor, make_collaborators):
    distributor = _winner_takes_all(make_distributor)
    a, b, c = make_collaborators(3)
    credit(a, distributor, 10, MID_JAN)
    credit(b, distributor, 5, MID_JAN)
    credit(c, distributor, 20, MID_JAN)
    type(c).objects.filter(pk=c.pk).update(status="inactive")  # left out by the trigger: b had the zero share
    run_engine("--now", "2026-02-01T00:00:00Z")
    (distribution,) = triggered(distributor)
    type(c).objects.filter(pk=c.pk).update(status="active")
    plan = distribution_correct(distribution=distribution)
    # Nothing was booked late, but b and c cannot be told apart: c (active now, 20 points) would take the pool.
    assert plan.late_credits == 0 and plan.uncertain_eligibility == 1 and plan.undecided == [b.pk, c.pk]
    assert {line.collaborator_id: line.corrected_value for line in plan.lines} == {a.pk: 0, c.pk: 100_000}
    with pytest.raises(ValidationError) as refused:
        distribution_correct(distribution=distribution, apply=True, reason="sync", actor="t")
    assert f"({b.pk}, {c.pk})" in refused.value.message_dict["accept_uncertain"][0]
    with pytest.raises(CommandError, match=r"^--accept-uncertain: 1 collaborator\(s\) who scored in time"):
        run(str(distribution.pk), "--apply", "--reason", "sync")
    with pytest.raises(CommandError, match=r"^--accept-uncertain: only with --apply"):
        run(str(distribution.pk), "--accept-uncertain")
    out, _ = run(str(distribution.pk))
    assert f"({b.pk}, {c.pk}; check them, then --accept-uncertain)" in out
    assert Correction.objects.count() == 0
    run(str(distribution.pk), "--apply", "--reason", "checked: c was on leave", "--accept-uncertain")
    assert owed(distribution) == {a.pk: 0, c.pk: 100_000}


def test_a_late_only_collaborator_keeps_counting_whatever_their_status(make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=2, obligation_start_status="approved")  # 2 units: rounding matters
    a, b, c = make_collaborators(3)
    credit(a, distributor, 3, MID_JAN)
    run_engine("--now", "2026-02-01T00:00:00Z")
    (distribution,) = triggered(distributor)
    late_credit(b, distributor, 1, when=JAN_1 + timedelta(days=9))
    late_credit(c, distributor, 1, when=JAN_1 + timedelta(days=19))
    first = distribution_correct(distribution=distribution, apply=True, reason="late", actor="t")
    # 2 × 3/5, 2 × 1/5, 2 × 1/5: floors 1, 0, 0; the leftover unit to b (the tie with c: b's earlier first credit).
    assert owed(distribution) == {a.pk: 1, b.pk: 1}
    assert first.scorer_count == 3
    type(c).objects.filter(pk=c.pk).update(status="inactive")  # c counted (with nothing), and still counts
    assert distribution_correct(distribution=distribution).lines == []


def test_the_triggers_unpaid_scorer_counts_even_if_deactivated_since(make_distributor, make_collaborators):
    distributor = _winner_takes_all(make_distributor)
    a, b = make_collaborators(2)
    credit(a, distributor, 10, MID_JAN)
    credit(b, distributor, 5, MID_JAN)
    run_engine("--now", "2026-02-01T00:00:00Z")
    (distribution,) = triggered(distributor)
    late_credit(b, distributor, 10)  # b 15 > a 10
    type(b).objects.filter(pk=b.pk).update(status="inactive")
    plan = distribution_correct(distribution=distribution)
    # b is exactly the trigger's one unpaid scorer: b counts like the allocated, whatever b's status now.
    assert {line.collaborator_id: line.corrected_value for line in plan.lines} == {a.pk: 0, b.pk: 100_000}
    assert plan.uncertain_eligibility == 0


def test_correcting_again_after_a_late_only_collaborator_changes_nothing(make_distributor, make_collaborators):
    distributor, distribution, a, d = _with_one_left_out(make_distributor, make_collaborators)
    type(d).objects.filter(pk=d.pk).update(status="active")
    late_credit(d, distributor, 5)
    first = distribution_correct(distribution=distribution, apply=True, reason="late", actor="t")
    assert {line.collaborator_id: line.corrected_value for line in first.lines} == {a.pk: 66_667, d.pk: 33_333}
    again = distribution_correct(distribution=distribution)
    assert again.lines == []  # d still counts with the late points only
    type(d).objects.filter(pk=d.pk).update(status="inactive")  # and keeps counting, taken in already
    assert distribution_correct(distribution=distribution).lines == []


def test_a_period_without_a_recorded_scorer_count_counts_the_eligible_and_says_so(make_distributor, make_collaborators):
    _distributor, distribution, a, d = _with_one_left_out(make_distributor, make_collaborators)
    Distribution.objects.filter(pk=distribution.pk).update(scorer_count=None)  # triggered before it was recorded
    distribution.refresh_from_db()
    assert distribution_correct(distribution=distribution).lines == []  # d is inactive: not counted
    type(d).objects.filter(pk=d.pk).update(status="active")
    plan = distribution_correct(distribution=distribution)
    # Without the count, d (in time, eligible now) cannot be told from a zero share of the trigger: d counts,
    # and the plan says so.
    assert plan.uncertain_eligibility == 1
    assert {line.collaborator_id: line.corrected_value for line in plan.lines} == {a.pk: 50_000, d.pk: 50_000}


def test_a_collaborator_whose_allocation_awaits_approval_gets_a_pending_adjustment(period):
    distributor, distribution, (a, b, c) = period
    waiting = Allocation.objects.get(distribution=distribution, collaborator=a).obligation
    Obligation.objects.filter(pk=waiting.pk).update(status="pending")  # e.g. still in its hold
    late_credit(b, distributor, 10)  # b gains, a and c lose
    correction = distribution_correct(distribution=distribution, apply=True, reason="sync", actor="t").correction
    lines = {line.collaborator_id: line for line in correction.lines.select_related("adjustment")}
    assert lines[a.pk].difference < 0 and lines[a.pk].adjustment.status == "pending"  # no clawback of the unpaid
    assert lines[b.pk].adjustment.status == lines[c.pk].adjustment.status == "approved"


@pytest.mark.parametrize("refusal", ["rejected", "cancelled"])
def test_a_collaborator_staff_refused_gets_a_pending_adjustment(period, refusal):
    distributor, distribution, (a, b, c) = period
    refused = Allocation.objects.get(distribution=distribution, collaborator=a).obligation
    obligations_transition(obligation_ids=[refused.pk], status=refusal, reason="fraud check", actor="staff:ann")
    late_credit(a, distributor, 10)  # a: 50,000 instead of 33,334; b and c lose
    correction = distribution_correct(distribution=distribution, apply=True, reason="sync", actor="t").correction
    statuses = {line.collaborator_id: line.adjustment.status for line in correction.lines.select_related("adjustment")}
    assert statuses == {a.pk: "pending", b.pk: "approved", c.pk: "approved"}
    # The period still adds up: every adjustment is written, whatever its status.
    assert sum(owed(distribution).values()) == 100_000
    # A later correction finds the refusal through the earlier adjustment too: staff rejected that one as well.
    (pending,) = Obligation.objects.filter(correction_line__correction=correction, status="pending")
    obligations_transition(obligation_ids=[pending.pk], status="rejected", reason="still", actor="staff:ann")
    Obligation.objects.filter(pk=refused.pk).update(status="approved")  # even with the allocation paid again
    late_credit(a, distributor, 20)
    again = distribution_correct(distribution=distribution, apply=True, reason="sync 2", actor="t").correction
    assert again.lines.get(collaborator=a).adjustment.status == "pending"


def test_pending_and_approved_adjustments_both_get_their_created_event(period):
    from events.models import Event
    from obligations.events import obligation_payload

    distributor, distribution, (a, _, _) = period
    refused = Allocation.objects.get(distribution=distribution, collaborator=a).obligation
    obligations_transition(obligation_ids=[refused.pk], status="rejected", reason="fraud", actor="staff:ann")
    late_credit(a, distributor, 10)
    correction = distribution_correct(distribution=distribution, apply=True, reason="sync", actor="t").correction
    adjustments = list(Obligation.objects.filter(correction_line__correction=correction).order_by("pk"))
    assert sorted(adjustment.status for adjustment in adjustments) == ["approved", "approved", "pending"]
    for adjustment in adjustments:
        (event,) = Event.objects.filter(type="obligation.created", object_key=f"obligation:{adjustment.pk}")
        assert event.payload == obligation_payload(adjustment)
        assert adjustment.created_at == adjustment.modified_at == event.occurred_at == correction.created_at


@pytest.mark.parametrize("rolled_over_then", [False, True])
def test_rollover_follows_the_period_record_not_todays_setting(make_distributor, make_collaborators, rolled_over_then):
    distributor = make_distributor(
        pool_amount=100_000, distribution_resolver="topN", top_n_weights=[60, 40], rollover_unearned=rolled_over_then
    )
    (a,) = make_collaborators(1)
    credit(a, distributor, 10, MID_JAN)
    run_engine("--now", "2026-02-01T00:00:00Z")
    (distribution,) = triggered(distributor)
    recorded = (distribution.unallocated, distribution.carried_forward)
    assert recorded == ((0, 40_000) if rolled_over_then else (40_000, 0))
    distributor.rollover_unearned = not rolled_over_then  # changed since the trigger
    distributor.save(update_fields=["rollover_unearned"])
    late_credit(a, distributor, 5)  # still the only scorer: 40,000 left over again
    plan = distribution_correct(distribution=distribution)
    assert (plan.unallocated, plan.carried_forward) == recorded and plan.lines == []


def test_apply_refuses_when_the_ledger_changed_since_the_review(period):
    distributor, distribution, (a, b, _) = period
    late_credit(a, distributor, 10)
    reviewed = distribution_correct(distribution=distribution)
    late_credit(b, distributor, 10)  # booked between the review and the confirmation
    with pytest.raises(ValidationError) as changed:
        distribution_correct(
            distribution=distribution, apply=True, reason="sync", actor="t", expect=reviewed.fingerprint
        )
    assert "review it again" in changed.value.message_dict["expect"][0]
    assert Correction.objects.count() == 0 and not Obligation.objects.filter(award_type=AwardType.ADJUSTMENT)
    current = distribution_correct(distribution=distribution)
    assert current.fingerprint != reviewed.fingerprint
    applied = distribution_correct(
        distribution=distribution, apply=True, reason="sync", actor="t", expect=current.fingerprint
    )
    assert applied.correction is not None and applied.fingerprint == current.fingerprint


def test_a_correction_writes_in_the_units_the_period_was_paid_in(period):
    distributor, distribution, (a, _, _) = period
    distributor.units = "EUR"  # changed since the trigger
    distributor.save(update_fields=["units"])
    late_credit(a, distributor, 10)
    plan = distribution_correct(distribution=distribution, apply=True, reason="sync", actor="t")
    assert plan.units == "USD"
    assert set(Obligation.objects.filter(award_type=AwardType.ADJUSTMENT).values_list("units", flat=True)) == {"USD"}


def test_late_credits_count_only_bookings_made_late_on_purpose(period):
    distributor, distribution, (a, _, _) = period
    assert distribution_correct(distribution=distribution).late_credits == 0
    late_credit(a, distributor, 10)
    credit(a, distributor, 10, JAN_1 + timedelta(days=40))  # the open period's: not late
    assert distribution_correct(distribution=distribution).late_credits == 1


def test_a_replay_with_another_late_reason_keeps_the_first(period):
    distributor, distribution, (a, _, _) = period
    first, again = (
        metric_credit(
            organization=a.organization,
            collaborator=a,
            quantity=10,
            distributor_id=distributor.pk,
            source=CreditSource.COMMAND,
            idempotency_key="sync-42",
            now=MID_JAN,
            late_reason=reason,
        )
        for reason in ("CRM sync", "another story")
    )
    assert again.replayed and again.request.pk == first.request.pk
    assert list(CreditRequest.objects.filter(idempotency_key="sync-42").values_list("late_reason", flat=True)) == [
        "CRM sync"
    ]
    assert distribution_correct(distribution=distribution).late_credits == 1


def test_late_revenue_raises_a_revenue_share_pool(make_distributor, make_collaborators, org):
    distributor = make_distributor(pool_resolver="revenueShare", pool_percent_bp=1000, pool_amount=0)
    a, b = make_collaborators(2)
    revenue_import(
        organization=org,
        rows=[(2, {"amount": "100.00", "units": "USD", "occurredAt": "2026-01-10T00:00:00Z", "reference": "r1"})],
    )
    credit(a, distributor, 1, MID_JAN)
    credit(b, distributor, 1, MID_JAN)
    run_engine("--now", "2026-02-01T00:00:00Z")
    (distribution,) = triggered(distributor)
    assert distribution.pool == 1_000
    late_row = [(2, {"amount": "50.00", "units": "USD", "occurredAt": "2026-01-20T00:00:00Z", "reference": "r2"})]
    with pytest.raises(RevenueImportError, match="already distributed"):
        revenue_import(organization=org, rows=late_row)
    revenue_import(organization=org, rows=late_row, late_reason="invoice found")
    assert RevenueEntry.objects.get(reference="r2").late_reason == "invoice found"
    plan = distribution_correct(distribution=distribution, apply=True, reason="late invoice", actor="t")
    assert plan.late_revenue_entries == 1 and plan.revenue_total == 15_000
    assert plan.correction.pool == 1_500 and plan.correction.adjustment_total == 500
    assert owed(distribution) == {a.pk: 750, b.pk: 750}


def test_a_pending_period_and_a_missing_reason_are_refused(period):
    distributor, distribution, _ = period
    pending = Distribution.objects.get(distributor=distributor, status="pending")
    with pytest.raises(ValidationError) as refused:
        distribution_correct(distribution=pending)
    assert "distribution" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        distribution_correct(distribution=distribution, apply=True, reason="  ")
    assert "reason" in refused.value.message_dict


def test_adjustments_net_in_the_next_fulfillment(period, org):
    distributor, distribution, (a, b, c) = period
    Obligation.objects.filter(allocation__distribution=distribution).update(status="approved")
    late_credit(a, distributor, 10)
    distribution_correct(distribution=distribution, apply=True, reason="sync", actor="t")
    fulfillment = fulfillment_generate(organization=org)
    amounts = dict(fulfillment.payouts.values_list("collaborator_id", "amount"))
    assert amounts == {a.pk: 50_000, b.pk: 25_000, c.pk: 25_000}


# --- the command ---------------------------------------------------------------------------------------------


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("correct_distribution", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_is_a_dry_run_by_default_and_applies_with_a_reason(period):
    distributor, distribution, (a, _, _) = period
    late_credit(a, distributor, 10)
    out, _ = run(str(distribution.pk))
    assert "dry run, nothing written" in out
    assert "333.34 USD        500.00 USD        166.66 USD" in out and out.count("-83.33 USD") == 2
    assert Correction.objects.count() == 0
    with pytest.raises(CommandError, match="--reason: required with --apply"):
        run(str(distribution.pk), "--apply")
    out, _ = run(str(distribution.pk), "--apply", "--reason", "CRM sync")
    correction = Correction.objects.get()
    assert f"correction {correction.pk} wrote 3 adjustment(s)" in out
    assert correction.actor.startswith("command:correct_distribution")
    out, err = run(str(distribution.pk), "--json")
    document = json.loads(out)
    assert document["lines"] == [] and document["applied"] is False and "nothing to correct" in err


def test_the_command_applies_only_the_reviewed_lines_with_expect(period):
    distributor, distribution, (a, b, _) = period
    late_credit(a, distributor, 10)
    out, _ = run(str(distribution.pk), "--json")
    fingerprint = json.loads(out)["fingerprint"]
    late_credit(b, distributor, 10)
    with pytest.raises(CommandError, match=r"^--expect: The ledger changed .* review it again"):
        run(str(distribution.pk), "--apply", "--reason", "sync", "--expect", fingerprint)
    assert Correction.objects.count() == 0
    out, _ = run(str(distribution.pk))
    fingerprint = out.split("--expect ")[1].split()[0]
    run(str(distribution.pk), "--apply", "--reason", "sync", "--expect", fingerprint)
    assert Correction.objects.count() == 1


def test_the_dry_run_shows_staffs_own_adjustments_of_the_period(period):
    from obligations.services import obligation_adjust

    distributor, distribution, (a, _, _) = period
    obligation_adjust(
        organization=a.organization,
        collaborator=a,
        value=5_000,
        units="USD",
        reason="made up for the CRM sync by hand",
        adjusts_distribution=distribution,
    )
    late_credit(a, distributor, 10)
    plan = distribution_correct(distribution=distribution)
    assert plan.staff_adjustments == (1, 5_000)
    out, _ = run(str(distribution.pk))
    assert "staff adjusted the period 1 time(s) by hand, 50.00 USD in all" in out
    applied = distribution_correct(distribution=distribution, apply=True, reason="sync", actor="t")
    assert distribution_correct(distribution=distribution).staff_adjustments == (1, 5_000)  # lines not counted
    assert applied.correction is not None


def test_the_command_refuses_expect_without_apply(period):
    _, distribution, _ = period
    with pytest.raises(CommandError, match=r"^--expect: only with --apply"):
        run(str(distribution.pk), "--expect", "abc")


def test_the_command_refuses_another_tenants_distribution(period, other_org):
    _, distribution, _ = period
    with pytest.raises(CommandError, match="no distribution"):
        run(str(distribution.pk), "--organization", other_org.slug)
    with pytest.raises(CommandError, match="no distribution"):
        run("abc")


def test_credit_metric_points_at_late_reason(period):
    _distributor, _, (a, _, _) = period
    with pytest.raises(CommandError, match="--late-reason"):
        call_command(
            "credit_metric", "--organization", "acme", "--collaborator", str(a.pk), "--at", "2026-01-10T00:00:00Z"
        )
    call_command(
        "credit_metric",
        "--organization",
        "acme",
        "--collaborator",
        str(a.pk),
        "--at",
        "2026-01-10T00:00:00Z",
        "--late-reason",
        "found in the CRM",
        stdout=io.StringIO(),
    )
    assert CreditRequest.objects.filter(late_reason="found in the CRM").count() == 1


# Constraints (correction_*): tests/test_constraints.py violates each by name.


# --- concurrency ---------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_corrections_at_once_write_the_difference_once(make_distributor, make_collaborators):
    from tests.races import run_together

    distributor = make_distributor(pool_amount=100_000)
    a, b = make_collaborators(2)
    credit(a, distributor, 10, MID_JAN)
    credit(b, distributor, 10, MID_JAN)
    run_engine("--now", "2026-02-01T00:00:00Z")
    (distribution,) = triggered(distributor)
    late_credit(a, distributor, 30)

    def correct(i):
        found = Distribution.objects.get(pk=distribution.pk)
        return distribution_correct(distribution=found, apply=True, reason=f"run {i}", actor="t").correction

    results = run_together(2, correct)
    assert sum(1 for correction in results if correction is not None) == 1
    assert Correction.objects.count() == 1
    assert owed(distribution) == {a.pk: 80_000, b.pk: 20_000}


def _approved_period(make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=100_000, obligation_start_status="approved")
    a, b = make_collaborators(2)
    credit(a, distributor, 10, MID_JAN)
    credit(b, distributor, 10, MID_JAN)
    run_engine("--now", "2026-02-01T00:00:00Z")
    (distribution,) = triggered(distributor)
    return distributor, distribution, a, b


def _corrected_once(make_distributor, make_collaborators):
    """An approved period corrected once (a booked late: a approved top-up), then a booked late again."""
    distributor, distribution, a, _b = _approved_period(make_distributor, make_collaborators)
    late_credit(a, distributor, 30)
    first = distribution_correct(distribution=distribution, apply=True, reason="first", actor="t").correction
    late_credit(a, distributor, 40)
    return distribution, a, first.lines.get(collaborator=a).adjustment_id


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("target", ["earlier adjustment", "allocation"])
def test_a_staff_move_waits_for_a_correction_being_applied(make_distributor, make_collaborators, target):
    """A rejection of what the correction plans on waits until the correction committed: the correction's decision
    (approved, from a's approved payments) and the rejection are then two decisions in order, never one slipping
    between the other's read and write. An earlier adjustment locks no distribution when moved (only the share
    lock holds it back); an allocation's obligation is moved with its distribution following (the lock order
    obligation, then distribution, which the correction takes too)."""
    from distributions.services import obligations_transition_and_follow
    from tests.races import Race

    distribution, a, earlier = _corrected_once(make_distributor, make_collaborators)
    moved = (
        earlier
        if target == "earlier adjustment"
        else Allocation.objects.get(distribution=distribution, collaborator=a).obligation_id
    )
    with Race(timeout=60) as race:
        correcting = race.hold(distribution_correct, distribution=distribution, apply=True, reason="sync", actor="t")
        rejecting = race.thread(
            obligations_transition_and_follow, obligation_ids=[moved], status="rejected", actor="staff:ann"
        )
        race.wait_until_blocked(rejecting)
        correcting.release()
    second = Correction.objects.order_by("-pk").first()
    assert second.lines.get(collaborator=a).adjustment.status == "approved"
    assert Obligation.objects.get(pk=moved).status == "rejected"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_correction_waits_for_a_staff_move_in_progress_and_plans_on_it(make_distributor, make_collaborators):
    from obligations.services import obligations_transition
    from tests.races import Race

    distribution, a, earlier = _corrected_once(make_distributor, make_collaborators)
    with Race(timeout=60) as race:
        rejecting = race.hold(obligations_transition, obligation_ids=[earlier], status="rejected", actor="staff:ann")
        correcting = race.thread(distribution_correct, distribution=distribution, apply=True, reason="s", actor="t")
        race.wait_until_blocked(correcting)
        rejecting.release()
    second = Correction.objects.order_by("-pk").first()
    assert second.lines.get(collaborator=a).adjustment.status == "pending"  # it saw the rejection


def test_each_adjustment_of_a_correction_has_its_created_event(period):
    from events.models import Event
    from obligations.events import obligation_payload

    distributor, distribution, (a, _, _) = period
    late_credit(a, distributor, 10)
    correction = distribution_correct(distribution=distribution, apply=True, reason="sync", actor="t").correction
    adjustments = list(Obligation.objects.filter(correction_line__correction=correction).order_by("pk"))
    assert len(adjustments) == 3
    for adjustment in adjustments:
        (event,) = Event.objects.filter(type="obligation.created", object_key=f"obligation:{adjustment.pk}")
        assert event.payload == obligation_payload(adjustment)
        assert adjustment.description == f"Correction {correction.pk} of distribution {distribution.pk}"
        assert adjustment.reason == f"Correction {correction.pk}: sync"
