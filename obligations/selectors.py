"""Reads about obligations and payouts shared by commands, admin and API."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from collaborators.models import Collaborator
from distributors.units import to_major
from obligations.balances import HeldBalance, split_balances
from obligations.models import (
    AwardType,
    Fulfillment,
    MinimumPayout,
    Obligation,
    ObligationStatus,
    Payout,
    PayoutStatus,
)


def payout_export_rows(*, fulfillment: Fulfillment) -> list[dict]:
    """One row per payout of the fulfillment, in id order; ``amount`` is a decimal string at the units'
    precision (``1234`` USD → ``"12.34"``, points whole), for whoever pays it outside the system."""
    payouts = Payout.objects.filter(fulfillment=fulfillment).select_related("collaborator").order_by("pk")
    return [
        {
            "payoutId": payout.pk,
            "collaboratorId": payout.collaborator_id,
            "collaboratorName": payout.collaborator.full_name,
            "email": payout.collaborator.email,
            "units": payout.units,
            "amount": to_major(payout.amount, payout.units),
            "status": payout.status,
        }
        for payout in payouts
    ]


@dataclass(frozen=True)
class PayoutTotals:
    """A fulfillment's payouts in one units: how many, their sum and what is paid of it (minor units)."""

    count: int
    amount: int
    paid: int


def fulfillment_payout_totals(*, fulfillment_ids: list[int]) -> dict[int, dict[str, PayoutTotals]]:
    """Per fulfillment, per units: its payouts' count, sum and paid sum. One query, whatever the rows."""
    rows = (
        Payout.objects.filter(fulfillment_id__in=fulfillment_ids)
        .values("fulfillment_id", "units")
        .annotate(
            payout_count=Count("id"),
            amount_total=Coalesce(Sum("amount"), 0),
            paid_total=Coalesce(Sum("amount", filter=Q(status=PayoutStatus.PAID)), 0),
        )
        .order_by()
    )
    totals: dict[int, dict[str, PayoutTotals]] = {}
    for row in rows:
        totals.setdefault(row["fulfillment_id"], {})[row["units"]] = PayoutTotals(
            row["payout_count"], row["amount_total"], row["paid_total"]
        )
    return totals


VOID_OBLIGATION_STATUSES = (ObligationStatus.REJECTED, ObligationStatus.CANCELLED)
EARNINGS_PERIODS = 12


@dataclass(frozen=True)
class Earnings:
    """Obligations summed (minor units): ``earned`` counts every obligation but rejected or cancelled ones, of
    which ``paid`` (fulfilled) and ``open`` (pending or approved); ``void`` is the rejected and cancelled."""

    count: int
    earned: int
    paid: int
    open: int
    void: int


@dataclass(frozen=True)
class EarningsPeriod:
    period_start: datetime
    trigger_date: datetime
    units: str
    earnings: Earnings


@dataclass(frozen=True)
class CollaboratorEarnings:
    """``periods``: the latest distribution periods the collaborator was allocated in, newest first, one row
    per period and units (distributions of one organization ending at the same instant share a row);
    ``more``: older ones exist. ``manual``: manual obligations per units (they belong to no period).
    ``totals``: everything per units, manual included."""

    periods: list[EarningsPeriod]
    more: bool
    manual: dict[str, Earnings] = field(default_factory=dict)
    totals: dict[str, Earnings] = field(default_factory=dict)


def _earnings_sums():
    def total(condition=None):
        return Coalesce(Sum("value", filter=condition), 0)

    return {
        "count": Count("id"),
        "earned": total(~Q(status__in=VOID_OBLIGATION_STATUSES)),
        "paid": total(Q(status=ObligationStatus.FULFILLED)),
        "open": total(Q(status__in=(ObligationStatus.PENDING, ObligationStatus.APPROVED))),
        "void": total(Q(status__in=VOID_OBLIGATION_STATUSES)),
    }


def _earnings(row: dict) -> Earnings:
    return Earnings(row["count"], row["earned"], row["paid"], row["open"], row["void"])


def collaborator_earnings(*, collaborator: Collaborator, periods: int = EARNINGS_PERIODS) -> CollaboratorEarnings:
    """The collaborator's earnings history: the last ``periods`` periods and the totals per units. Two queries,
    whatever the history's length. A distribution obligation's period is its allocation's distribution's."""
    obligations = Obligation.objects.filter(collaborator=collaborator)
    rows = list(
        obligations.filter(award_type=AwardType.DISTRIBUTION, allocation__isnull=False)
        .values(
            "units",
            start=F("allocation__distribution__period_start"),
            end=F("allocation__distribution__trigger_date"),
        )
        .annotate(**_earnings_sums())
        .order_by("-end", "-start", "units")[: periods + 1]
    )
    history = [EarningsPeriod(row["start"], row["end"], row["units"], _earnings(row)) for row in rows[:periods]]
    manual: dict[str, Earnings] = {}
    by_units: dict[str, list[Earnings]] = {}
    for row in obligations.values("units", "award_type").annotate(**_earnings_sums()).order_by("units"):
        earnings = _earnings(row)
        by_units.setdefault(row["units"], []).append(earnings)
        if row["award_type"] == AwardType.MANUAL:
            manual[row["units"]] = earnings
    totals = {
        units: Earnings(*(sum(getattr(part, name) for part in parts) for name in Earnings.__dataclass_fields__))
        for units, parts in by_units.items()
    }
    return CollaboratorEarnings(periods=history, more=len(rows) > periods, manual=manual, totals=totals)


def minimum_payouts(*, organization) -> dict[str, int]:
    """The organization's minimum payout per units (units without a row have none)."""
    return dict(MinimumPayout.objects.filter(organization=organization).values_list("units", "amount"))


def obligations_due_for_release(
    *, as_of: datetime, organization_id: int | None = None, distributor_id: int | None = None
) -> QuerySet[Obligation]:
    """Pending obligations whose hold has passed at ``as_of`` (``obligation_release_idx``), in scope."""
    due = Obligation.objects.filter(status=ObligationStatus.PENDING, release_at__isnull=False, release_at__lte=as_of)
    if organization_id is not None:
        due = due.filter(organization_id=organization_id)
    if distributor_id is not None:
        due = due.filter(allocation__distribution__distributor_id=distributor_id)
    return due


def balances_held_back(*, organization) -> list[HeldBalance]:
    """The balances a fulfillment generated now would hold back (``obligations.balances``), by collaborator id
    and units: one aggregate query and one for the minimums."""
    rows = (
        Obligation.objects.filter(organization=organization, status=ObligationStatus.APPROVED, payout__isnull=True)
        .values("collaborator_id", "units", "collaborator__full_name")
        .annotate(balance=Sum("value"), obligation_count=Count("id"))
        .order_by("collaborator_id", "units")
    )
    by_key = {(row["collaborator_id"], row["units"]): row for row in rows}
    minimums = minimum_payouts(organization=organization)
    _, held = split_balances({key: row["balance"] for key, row in by_key.items()}, minimums)
    return [
        HeldBalance(
            collaborator_id=collaborator_id,
            collaborator_name=by_key[(collaborator_id, units)]["collaborator__full_name"],
            units=units,
            balance=by_key[(collaborator_id, units)]["balance"],
            minimum=minimums.get(units, 0),
            obligation_count=by_key[(collaborator_id, units)]["obligation_count"],
            reason=reason,
        )
        for (collaborator_id, units), reason in held.items()
    ]
