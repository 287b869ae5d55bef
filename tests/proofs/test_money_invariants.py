"""Property-based battery over the money paths (issue 13 item 6): a Hypothesis state machine drives random
sequences of triggers, staff moves, held releases, adjustments, fulfillments, payouts paid / unpaid, failed
fulfillments, credits (on time and late), corrections and minimum payouts through the project's own service
functions, and checks the ledger after every step.

Setup of each example: one organization, three active collaborators and three monthly distributors from
2020-01-01 UTC (in the past, so every credit instant is allowed): ``usd`` (fixed 100.00 USD, proportional,
obligations start approved), ``held`` (fixed 50.00 USD, topN [60, 40], ``hold_days`` 3, obligations start
pending, rollover of what nobody earned) and ``eur`` (fixed 70.00 EUR, proportional, obligations start pending,
staff approve). A ``MinimumPayout`` in USD is drawn per example (0 = none); the one of either units can change
between steps.

Refusals (``ValidationError``, ``IllegalTransition`` being one) are expected from random moves; every refusal
must leave the organization's rows exactly as they were (obligations, payouts, fulfillments, distributions,
corrections), which each rule asserts.

Invariants (checked on the database after every step):

1. No payout has a negative amount (``payout_amount_nonneg`` is also a database constraint:
   ``test_payout_amount_constraint``).
2. Payouts contain their obligations exactly: an obligation has one payout foreign key, so it is in at most one
   payout; for every payout of a live or complete fulfillment Σ values of its obligations = its amount, all of
   the payout's collaborator and units, ``fulfilled`` when the payout is paid and ``approved`` when unpaid. A
   failed fulfillment's payouts are unpaid and hold no obligation (they were released to be batched again).
3. Per (collaborator, units): Σ amounts of paid payouts = Σ values of fulfilled obligations.
4. Conservation of what is owed (carried debts included). Per (collaborator, units) let

   - ``owed``    = Σ values of obligations whose status is ``approved`` or ``fulfilled`` (approved at some
     point and neither rejected nor cancelled since: an approved obligation can still be rejected or
     cancelled while in no payout, a pending one was never approved, ``fulfilled`` is reached only from
     ``approved``);
   - ``carried`` = Σ values of approved obligations in no payout (balances held back as net debt, net zero,
     below the minimum, the obligations of failed fulfillments and everything not batched yet);
   - ``paid``    = Σ amounts of paid payouts;
   - ``batched`` = Σ amounts of unpaid payouts of ``pending`` / ``processing`` fulfillments.

   Then ``carried + paid + batched = owed``: nothing owed is lost or counted twice across batching, paying,
   taking back a payment and failing a fulfillment; unpaid payouts of failed fulfillments count nowhere.
   Right after ``fulfillment_generate`` every carried balance of the organization is held for a reason
   (negative, zero, or below the minimum of its units): nothing payable is left behind.
5. Every triggered distribution: pool = value + unallocated + carried_forward, Σ allocations = value, each
   allocation's obligation has the allocation's value, collaborator and the distributor's units, and the next
   period's ``rolled_over`` is this one's ``carried_forward``; a pending distribution has no allocation.
6. Corrections (``distributions.corrections.distribution_correct``): for every corrected distribution, Σ of its
   allocations' values + Σ of its correction lines' adjustment values = the latest correction's corrected pool
   minus what the corrected split leaves unallocated or carried (= its ``value``); each correction line's
   adjustment has the line's difference as value, in the period's units (the distributor's: they never change
   here). Right after a correction is
   applied, planning it again finds no difference; the apply confirms the dry run's fingerprint, and an
   adjustment is written ``pending`` exactly for the collaborators with an allocation or earlier adjustment of
   the period neither approved nor fulfilled (``approved`` for everyone else).
7. A triggered distribution follows its obligations: ``processing`` while one of its allocations' obligations
   is pending or approved, else ``complete`` (whatever moved them: staff, a held release, paying, taking back).

8. The status history is complete: for every obligation, payout, fulfillment and distribution of the
   organization its ``StatusChange`` rows chain (each row's ``from`` is the previous row's ``to``), the first
   starts at the status the object was created in, and the last ends at its status now. So whatever path a
   random sequence took (staff moves, hold releases, triggers, paying, taking back, failing), none moved a
   status without recording it.

Run with ``-s`` to see how many examples ran and how many states were checked (setup + each step).
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from distributions.corrections import distribution_correct
from distributions.heartbeat import heartbeat_run
from distributions.models import Allocation, Correction, CorrectionLine, Distribution, DistributionStatus
from distributions.services import (
    distribution_open_first,
    obligations_transition_and_follow,
    payouts_mark_paid_and_follow,
    payouts_mark_unpaid_and_follow,
)
from distributors.models import Distributor
from obligations.balances import hold_reason
from obligations.models import (
    OPEN_OBLIGATION_STATUSES,
    AwardType,
    Fulfillment,
    FulfillmentStatus,
    MinimumPayout,
    Obligation,
    ObligationStatus,
    Payout,
    PayoutStatus,
)
from obligations.services import (
    fulfillment_generate,
    fulfillment_mark_failed,
    obligation_adjust,
    obligations_release_held,
)
from tests.distributions.helpers import credit
from tests.factories import CollaboratorFactory, DistributorFactory, FulfillmentFactory, OrganizationFactory

START = datetime(2020, 1, 1, tzinfo=UTC)
HOLD_DAYS = 3
LIVE_FULFILLMENTS = (FulfillmentStatus.PENDING, FulfillmentStatus.PROCESSING)
OWED_STATUSES = (ObligationStatus.APPROVED, ObligationStatus.FULFILLED)

picks = st.integers(min_value=0, max_value=10_000)
SETTLED = (ObligationStatus.APPROVED, ObligationStatus.FULFILLED)  # a payment staff (or a hold) let through
RUNS = {
    "examples": 0,
    "states_checked": 0,
    "refusals": 0,
    "triggers": 0,
    "fulfillments": 0,
    "corrections": 0,
    "pending_adjustments": 0,
}


def _pick(items: list, index: int):
    return items[index % len(items)]


class MoneyMachine(RuleBasedStateMachine):
    """One organization's money paths under random staff and engine moves (see the module docstring)."""

    def __init__(self):
        super().__init__()
        # Each example runs in a savepoint of the test's transaction, rolled back in ``teardown``.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        RUNS["examples"] += 1
        self.org = OrganizationFactory(timezone="UTC")
        self.collaborators = [CollaboratorFactory(organization=self.org) for _ in range(3)]

        def distributor(name: str, units: str, pool_amount: int, **rules) -> Distributor:
            return DistributorFactory(
                organization=self.org, name=name, units=units, pool_amount=pool_amount, starts_at=START, **rules
            )

        self.distributors = [
            distributor("usd", "USD", 10_000, obligation_start_status="approved"),
            distributor(
                "held",
                "USD",
                5_000,
                distribution_resolver="topN",
                top_n_weights=[60, 40],
                rollover_unearned=True,
                obligation_start_status="pending",
                hold_days=HOLD_DAYS,
            ),
            distributor("eur", "EUR", 7_000, obligation_start_status="pending"),
        ]
        for distributor in self.distributors:
            distribution_open_first(distributor=distributor)
        self.just_fulfilled = False

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # ------------------------------------------------------------------------------------------- helpers

    def _snapshot(self) -> tuple:
        org = self.org
        return (
            sorted(Obligation.objects.filter(organization=org).values_list("pk", "status", "payout_id", "value")),
            sorted(Payout.objects.filter(organization=org).values_list("pk", "status", "amount", "paid_at")),
            sorted(Fulfillment.objects.filter(organization=org).values_list("pk", "status")),
            sorted(Distribution.objects.filter(organization=org).values_list("pk", "status", "pool")),
            Correction.objects.filter(organization=org).count(),
            CorrectionLine.objects.filter(correction__organization=org).count(),
        )

    def _refusable(self, call) -> bool:
        """Run ``call``; a refusal must leave everything as it was. True when it went through."""
        before = self._snapshot()
        try:
            call()
        except ValidationError:
            RUNS["refusals"] += 1
            assert self._snapshot() == before, "a refused call changed the ledger"
            return False
        return True

    def _obligation_ids(self) -> list[int]:
        return list(Obligation.objects.filter(organization=self.org).order_by("pk").values_list("pk", flat=True))

    def _payout_ids(self) -> list[int]:
        return list(Payout.objects.filter(organization=self.org).order_by("pk").values_list("pk", flat=True))

    def _triggered(self) -> list[Distribution]:
        return list(Distribution.objects.filter(organization=self.org, triggered_at__isnull=False).order_by("pk"))

    def _pending_of(self, distributor) -> Distribution:
        return Distribution.objects.get(distributor=distributor, status=DistributionStatus.PENDING)

    # --------------------------------------------------------------------------------------------- rules

    @initialize(minimum=st.sampled_from([0, 1, 2_500, 6_000, 20_000]))
    def minimum_payout(self, minimum):
        if minimum:
            MinimumPayout.objects.create(organization=self.org, units="USD", amount=minimum)

    @rule(units=st.sampled_from(["USD", "EUR"]), minimum=st.sampled_from([0, 1_000, 8_000]))
    def set_minimum(self, units, minimum):
        MinimumPayout.objects.update_or_create(organization=self.org, units=units, defaults={"amount": minimum})
        self.just_fulfilled = False

    @rule(who=picks, which=picks, points=st.integers(min_value=1, max_value=50), at=st.floats(0.01, 1.0))
    def credit(self, who, which, points, at):
        """Credit points in a distributor's open period (between triggers)."""
        distributor = _pick(self.distributors, which)
        period = self._pending_of(distributor)
        span = (period.trigger_date - period.period_start).total_seconds()
        when = period.period_start + timedelta(seconds=max(1, int(span * at)))
        credit(_pick(self.collaborators, who), distributor, points, when)

    @precondition(lambda self: Distribution.objects.filter(organization=self.org, triggered_at__isnull=False).exists())
    @rule(who=picks, which=picks, points=st.integers(min_value=1, max_value=50))
    def late_credit(self, who, which, points):
        """Book a credit late into a triggered period (what a correction then pays)."""
        distribution = _pick(self._triggered(), which)
        credit(
            _pick(self.collaborators, who),
            distribution.distributor,
            points,
            distribution.trigger_date - timedelta(seconds=1),
            late_reason="found in the audit",
        )

    @rule(which=picks, credits=st.lists(st.tuples(picks, st.integers(min_value=1, max_value=50)), max_size=3))
    def trigger(self, which, credits):
        """Credit the open period (0 to 3 credits), then the heartbeat as of its due date triggers that one period
        (and opens the next)."""
        distributor = _pick(self.distributors, which)
        due = self._pending_of(distributor)
        for who, points in credits:
            credit(_pick(self.collaborators, who), distributor, points, due.trigger_date - timedelta(hours=1))
        report = heartbeat_run(as_of=due.trigger_date, distributor=distributor)
        assert not report.errors, report.errors
        due.refresh_from_db()
        assert due.status != DistributionStatus.PENDING
        RUNS["triggers"] += 1
        self.just_fulfilled = False

    @rule(credits=st.lists(st.tuples(picks, st.integers(min_value=1, max_value=50)), min_size=1, max_size=3))
    def trigger_usd(self, credits):
        """``trigger`` on the distributor whose obligations start approved (so that more money flows)."""
        self.trigger(0, credits)

    @precondition(
        lambda self: Obligation.objects.filter(organization=self.org, status=ObligationStatus.PENDING).exists()
    )
    @rule()
    def approve_all_pending(self):
        """Staff approve every pending obligation at once."""
        ids = list(
            Obligation.objects.filter(organization=self.org, status=ObligationStatus.PENDING).values_list(
                "pk", flat=True
            )
        )
        obligations_transition_and_follow(obligation_ids=ids, status=ObligationStatus.APPROVED)
        assert not Obligation.objects.filter(organization=self.org, status=ObligationStatus.PENDING).exists()
        self.just_fulfilled = False

    @precondition(lambda self: Obligation.objects.filter(organization=self.org).exists())
    @rule(
        pick=picks,
        other=st.none() | picks,
        status=st.sampled_from([ObligationStatus.APPROVED, ObligationStatus.REJECTED, ObligationStatus.CANCELLED]),
    )
    def staff_move(self, pick, other, status):
        """Approve, reject or cancel one or two obligations (all or none)."""
        ids = self._obligation_ids()
        chosen = {_pick(ids, pick)} | ({_pick(ids, other)} if other is not None else set())
        if self._refusable(lambda: obligations_transition_and_follow(obligation_ids=chosen, status=status)):
            assert set(Obligation.objects.filter(pk__in=chosen).values_list("status", flat=True)) == {status}
        self.just_fulfilled = False

    @rule(late=st.booleans())
    def release_held(self, late):
        """The holding period ends (or not yet): pending held obligations due are approved."""
        now = timezone.now()
        as_of = now + timedelta(days=HOLD_DAYS, hours=1) if late else now
        due = set(
            Obligation.objects.filter(
                organization=self.org, status=ObligationStatus.PENDING, release_at__lte=as_of
            ).values_list("pk", flat=True)
        )
        released = obligations_release_held(as_of=as_of, organization_id=self.org.pk)
        assert released == len(due)
        assert set(Obligation.objects.filter(pk__in=due).values_list("status", flat=True)) <= {
            ObligationStatus.APPROVED
        }
        if not late:
            assert released == 0  # the hold counts from the trigger's real write instant
        self.just_fulfilled = False

    @precondition(lambda self: Obligation.objects.filter(organization=self.org).exists())
    @rule(pick=picks, value=st.integers(min_value=-9_000, max_value=9_000).filter(bool))
    def adjust_obligation(self, pick, value):
        """A positive adjustment or a clawback of one obligation (fulfilled ones included)."""
        target = Obligation.objects.get(pk=_pick(self._obligation_ids(), pick))
        adjustment = obligation_adjust(
            organization=self.org,
            collaborator=target.collaborator,
            value=value,
            reason="property test",
            adjusts_obligation=target,
        )
        assert adjustment.status == ObligationStatus.APPROVED and adjustment.units == target.units
        self.just_fulfilled = False

    @rule(which=picks, who=picks, value=st.integers(min_value=-9_000, max_value=9_000).filter(bool))
    def adjust_distribution(self, which, who, value):
        """Adjust a distribution: refused (nothing written) while it is still pending."""
        distribution = _pick(list(Distribution.objects.filter(organization=self.org).order_by("pk")), which)
        went = self._refusable(
            lambda: obligation_adjust(
                organization=self.org,
                collaborator=_pick(self.collaborators, who),
                value=value,
                reason="property test",
                adjusts_distribution=distribution,
            )
        )
        assert went == (distribution.triggered_at is not None)
        self.just_fulfilled = False

    @rule(who=picks)
    def adjust_refused(self, who):
        """An adjustment naming nothing it corrects is refused and writes nothing."""
        went = self._refusable(
            lambda: obligation_adjust(
                organization=self.org, collaborator=_pick(self.collaborators, who), value=100, reason="x"
            )
        )
        assert not went

    @rule()
    def fulfil(self):
        before = Fulfillment.objects.filter(organization=self.org).count()
        fulfillment = fulfillment_generate(organization=self.org)
        after = Fulfillment.objects.filter(organization=self.org).count()
        assert after == before + (fulfillment is not None)
        if fulfillment is not None:
            RUNS["fulfillments"] += 1
            assert fulfillment.payouts.exists()
            for held in fulfillment.held_back:
                RUNS[f"held_{held['reason']}"] = RUNS.get(f"held_{held['reason']}", 0) + 1
        self.just_fulfilled = True

    @rule(count=st.integers(min_value=0, max_value=3))
    def fulfil_and_pay(self, count):
        """Generate a fulfillment, then mark up to ``count`` of its payouts paid at once (all or none)."""
        fulfillment = fulfillment_generate(organization=self.org)
        self.just_fulfilled = True
        if fulfillment is None:
            return
        RUNS["fulfillments"] += 1
        ids = list(fulfillment.payouts.order_by("pk").values_list("pk", flat=True))[:count]
        if ids:
            payouts_mark_paid_and_follow(payouts=ids)
            assert set(Payout.objects.filter(pk__in=ids).values_list("status", flat=True)) == {PayoutStatus.PAID}

    @precondition(lambda self: Payout.objects.filter(organization=self.org).exists())
    @rule(pick=picks)
    def mark_paid(self, pick):
        payout = Payout.objects.select_related("fulfillment").get(pk=_pick(self._payout_ids(), pick))
        went = self._refusable(lambda: payouts_mark_paid_and_follow(payouts=[payout.pk]))
        assert went == (payout.status == PayoutStatus.UNPAID and payout.fulfillment.status != FulfillmentStatus.FAILED)
        self.just_fulfilled = False

    @precondition(lambda self: Payout.objects.filter(organization=self.org).exists())
    @rule(pick=picks)
    def mark_unpaid(self, pick):
        payout = Payout.objects.select_related("fulfillment").get(pk=_pick(self._payout_ids(), pick))
        went = self._refusable(lambda: payouts_mark_unpaid_and_follow(payouts=[payout.pk]))
        assert went == (payout.status == PayoutStatus.PAID)
        self.just_fulfilled = False

    @precondition(lambda self: Fulfillment.objects.filter(organization=self.org).exists())
    @rule(pick=picks)
    def fail_fulfillment(self, pick):
        ids = list(Fulfillment.objects.filter(organization=self.org).order_by("pk").values_list("pk", flat=True))
        fulfillment = Fulfillment.objects.get(pk=_pick(ids, pick))
        has_paid = fulfillment.payouts.filter(status=PayoutStatus.PAID).exists()
        went = self._refusable(lambda: fulfillment_mark_failed(fulfillment=fulfillment.pk))
        assert went == (fulfillment.status in LIVE_FULFILLMENTS and not has_paid)
        if went:
            assert not Obligation.objects.filter(payout__fulfillment=fulfillment).exists()
        self.just_fulfilled = False

    @precondition(lambda self: Distribution.objects.filter(organization=self.org, triggered_at__isnull=False).exists())
    @rule(which=picks, late=st.none() | st.tuples(picks, st.integers(min_value=1, max_value=50)))
    def correct(self, which, late):
        """Correct a triggered period from the ledger as it is now (late credits count; ``late``: book one
        first)."""
        distribution = _pick(self._triggered(), which)
        if late is not None:
            who, points = late
            credit(
                _pick(self.collaborators, who),
                distribution.distributor,
                points,
                distribution.trigger_date - timedelta(minutes=1),
                late_reason="found in the audit",
            )
        # Who has a payment of the period not let through, as the obligations' rows say before the correction.
        of_period = Obligation.objects.filter(allocation__distribution=distribution) | Obligation.objects.filter(
            correction_line__correction__distribution=distribution
        )
        unsettled = set(of_period.exclude(status__in=SETTLED).values_list("collaborator_id", flat=True))
        preview = distribution_correct(distribution=distribution, apply=False)
        plan = distribution_correct(
            distribution=distribution,
            apply=True,
            reason="property test",
            actor="battery",
            expect=preview.fingerprint,
        )
        assert plan.corrected_pool == preview.corrected_pool
        assert [(line.collaborator_id, line.difference) for line in plan.lines] == [
            (line.collaborator_id, line.difference) for line in preview.lines
        ]
        assert (plan.correction is None) == (not plan.lines)
        if plan.correction is not None:
            RUNS["corrections"] += 1
            # A payment of the period not let through (pending, rejected, cancelled): the correction pays those
            # collaborators nothing, nor claws back, without staff approving it.
            for collaborator_id, status in plan.correction.lines.values_list("collaborator_id", "adjustment__status"):
                expected = ObligationStatus.PENDING if collaborator_id in unsettled else ObligationStatus.APPROVED
                assert status == expected, (collaborator_id, status, unsettled)
                RUNS["pending_adjustments"] += status == ObligationStatus.PENDING
            again = distribution_correct(distribution=distribution, apply=False)
            assert again.lines == [], "correcting twice must find nothing new"
        self.just_fulfilled = False

    # ---------------------------------------------------------------------------------------- invariants

    @invariant()
    def count_step(self):
        RUNS["states_checked"] += 1  # after the setup and after each step

    @invariant()
    def no_negative_payout(self):
        assert not Payout.objects.filter(organization=self.org, amount__lt=0).exists()

    @invariant()
    def payouts_hold_their_obligations(self):
        sums = defaultdict(int)
        for payout_id, value, collaborator_id, units, status in Obligation.objects.filter(
            organization=self.org, payout__isnull=False
        ).values_list("payout_id", "value", "collaborator_id", "units", "status"):
            sums[payout_id] += value
            payout = Payout.objects.get(pk=payout_id)
            assert (collaborator_id, units) == (payout.collaborator_id, payout.units)
            expected = ObligationStatus.FULFILLED if payout.status == PayoutStatus.PAID else ObligationStatus.APPROVED
            assert status == expected, (payout_id, payout.status, status)
        for payout in Payout.objects.filter(organization=self.org).select_related("fulfillment"):
            if payout.fulfillment.status == FulfillmentStatus.FAILED:
                assert payout.status == PayoutStatus.UNPAID and payout.pk not in sums, payout.pk
            else:
                assert sums.get(payout.pk, 0) == payout.amount, (payout.pk, sums.get(payout.pk), payout.amount)
            if payout.fulfillment.status == FulfillmentStatus.COMPLETE:
                assert payout.status == PayoutStatus.PAID
        assert not Obligation.objects.filter(
            organization=self.org, status=ObligationStatus.FULFILLED, payout__isnull=True
        ).exists()

    @invariant()
    def paid_equals_fulfilled(self):
        paid = _sums(Payout.objects.filter(organization=self.org, status=PayoutStatus.PAID), "amount")
        fulfilled = _sums(Obligation.objects.filter(organization=self.org, status=ObligationStatus.FULFILLED), "value")
        assert _nonzero(paid) == _nonzero(fulfilled), (paid, fulfilled)

    @invariant()
    def owed_is_conserved(self):
        org = self.org
        owed = _sums(Obligation.objects.filter(organization=org, status__in=OWED_STATUSES), "value")
        carried = _sums(
            Obligation.objects.filter(organization=org, status=ObligationStatus.APPROVED, payout__isnull=True), "value"
        )
        paid = _sums(Payout.objects.filter(organization=org, status=PayoutStatus.PAID), "amount")
        batched = _sums(
            Payout.objects.filter(
                organization=org, status=PayoutStatus.UNPAID, fulfillment__status__in=LIVE_FULFILLMENTS
            ),
            "amount",
        )
        keys = set(owed) | set(carried) | set(paid) | set(batched)
        for key in keys:
            assert carried.get(key, 0) + paid.get(key, 0) + batched.get(key, 0) == owed.get(key, 0), (
                key,
                carried.get(key, 0),
                paid.get(key, 0),
                batched.get(key, 0),
                owed.get(key, 0),
            )
        if self.just_fulfilled:
            minimums = dict(MinimumPayout.objects.filter(organization=org).values_list("units", "amount"))
            for (collaborator_id, units), balance in carried.items():
                assert hold_reason(balance, minimums.get(units, 0)) is not None, (collaborator_id, units, balance)

    @invariant()
    def distributions_add_up(self):
        distributions = list(Distribution.objects.filter(organization=self.org).select_related("distributor"))
        by_start = {(d.distributor_id, d.period_start): d for d in distributions}
        allocations_of = defaultdict(list)
        for distribution_id, *allocation in Allocation.objects.filter(organization=self.org).values_list(
            "distribution_id",
            "value",
            "collaborator_id",
            "obligation__value",
            "obligation__collaborator_id",
            "obligation__units",
        ):
            allocations_of[distribution_id].append(allocation)
        with_open = set(
            Allocation.objects.filter(organization=self.org, obligation__status__in=OPEN_OBLIGATION_STATUSES)
            .values_list("distribution_id", flat=True)
            .distinct()
        )
        for distribution in distributions:
            allocations = allocations_of[distribution.pk]
            if distribution.status == DistributionStatus.PENDING:
                assert distribution.pool is None and not allocations
                continue
            if distribution.status == DistributionStatus.CANCELLED:
                continue
            assert distribution.pool == distribution.value + distribution.unallocated + distribution.carried_forward
            assert sum(value for value, *_ in allocations) == distribution.value
            for value, collaborator_id, obligation_value, obligation_collaborator, units in allocations:
                assert (value, collaborator_id, units) == (
                    obligation_value,
                    obligation_collaborator,
                    distribution.distributor.units,
                )
            following = by_start.get((distribution.distributor_id, distribution.trigger_date))
            assert following is not None and following.rolled_over == distribution.carried_forward
            expected = DistributionStatus.PROCESSING if distribution.pk in with_open else DistributionStatus.COMPLETE
            assert distribution.status == expected, (distribution.pk, distribution.status)

    @invariant()
    def corrections_add_up(self):
        for distribution in Distribution.objects.filter(organization=self.org, corrections__isnull=False).distinct():
            latest = distribution.corrections.order_by("-pk").first()
            allocated = Allocation.objects.filter(distribution=distribution).aggregate(total=Sum("value"))["total"]
            lines = list(
                CorrectionLine.objects.filter(correction__distribution=distribution).values_list(
                    "difference", "adjustment__value", "adjustment__units", "adjustment__adjusts_distribution_id"
                )
            )
            for difference, value, units, adjusts in lines:
                assert (difference, units, adjusts) == (value, distribution.distributor.units, distribution.pk)
            adjusted = sum(value for _, value, _, _ in lines)
            assert latest.pool == latest.value + latest.unallocated + latest.carried_forward
            assert (allocated or 0) + adjusted == latest.pool - latest.unallocated - latest.carried_forward

    @invariant()
    def history_replays_every_status(self):
        from lifecycle.models import StatusChange

        rows = defaultdict(list)
        for model, object_id, before, after in (
            StatusChange.objects.filter(organization_id=self.org.pk)
            .order_by("id")
            .values_list("model", "object_id", "from_status", "to_status")
        ):
            rows[(model, object_id)].append((before, after))
        corrected = set(
            CorrectionLine.objects.filter(correction__organization=self.org).values_list("adjustment_id", flat=True)
        )
        created = {
            # The distributor's start status; an adjustment starts approved, or pending when a correction writes
            # one for a collaborator with a payment not let through; staff's own adjustments start approved.
            "obligations.obligation": lambda o: (
                {ObligationStatus.APPROVED}
                if o.award_type == AwardType.ADJUSTMENT and o.pk not in corrected
                else {ObligationStatus.PENDING, ObligationStatus.APPROVED}
            ),
            "obligations.payout": lambda _: {PayoutStatus.UNPAID},
            "obligations.fulfillment": lambda _: {FulfillmentStatus.PENDING},
            "distributions.distribution": lambda _: {DistributionStatus.PENDING},
        }
        models = {
            "obligations.obligation": Obligation,
            "obligations.payout": Payout,
            "obligations.fulfillment": Fulfillment,
            "distributions.distribution": Distribution,
        }
        for label, model in models.items():
            for obj in model.objects.filter(organization=self.org):
                moves = rows.get((label, obj.pk), [])
                for (_, previous), (following, _) in pairwise(moves):
                    assert previous == following, (label, obj.pk, moves)
                first = moves[0][0] if moves else obj.status
                assert first in created[label](obj), (label, obj.pk, first, moves)
                assert (moves[-1][1] if moves else obj.status) == obj.status, (label, obj.pk, obj.status, moves)


def _sums(queryset, field: str) -> dict[tuple[int, str], int]:
    totals: dict[tuple[int, str], int] = defaultdict(int)
    for collaborator_id, units, amount in queryset.values_list("collaborator_id", "units", field):
        totals[(collaborator_id, units)] += amount
    return dict(totals)


def _nonzero(totals) -> dict:
    return {key: value for key, value in dict(totals).items() if value}


MoneyMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@pytest.mark.django_db
class TestMoneyInvariants(MoneyMachine.TestCase):
    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        print(f"\nmoney invariants: {RUNS}")


@pytest.mark.django_db
def test_payout_amount_constraint():
    """The database itself refuses a negative payout amount (``payout_amount_nonneg``)."""
    organization = OrganizationFactory()
    fulfillment = FulfillmentFactory(organization=organization)
    collaborator = CollaboratorFactory(organization=organization)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payout.objects.create(
            organization=organization, fulfillment=fulfillment, collaborator=collaborator, units="USD", amount=-1
        )
