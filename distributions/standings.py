"""Standings: who would get what if the open period were triggered now, and the final standings of a triggered one.

The open (pending) period's standings are ``distributions.trigger.distribution_plan`` itself, called exactly as
the trigger calls it (the distribution's own period, rollover and distributor): a preview is what a trigger
would write at that instant, shares, ranks and trace included. It reads only (a fixed number of queries) and
is cached briefly, since a 100 000-collaborator period costs about a second to plan:

- **Key.** The distribution, and the ledger's high-water marks read in one query: the highest metric-credit
  id of the distributor in the period, for a revenue-share pool the highest revenue-entry id of the
  organization in its units and period, and the distributor's ``modified_at``; plus the distribution's own
  ``modified_at`` and ``rolled_over``. A new credit (or revenue entry, or a change of the distributor's rules
  or eligibility through its save) makes a new key, so the next request plans again.
- **TTL.** ``STANDINGS_CACHE_SECONDS`` (setting ``DISTRIBUTION_STANDINGS_CACHE_SECONDS``, default 30 s). It
  bounds what the key cannot see: a collaborator made inactive, and a credit whose transaction took its id
  before the highest one but committed after it was read.
- **Value.** The plan's figures and its shares as a few typed arrays (``array('q')``, ``bytes``), which pickle
  as memory copies: ~4.5 MB for 100 000 shares. The default cache is per process (LocMemCache) unless a
  shared one is configured; a shared cache must accept values of that size.

Listed are the shares a trigger would write: the collaborators who would earn (value > 0), by rank then
tie-break order; ``scorer_count`` says how many had a score at all.

A triggered (processing or complete) distribution's standings are its stored allocations, in the same order
and shape (``projected`` false); a cancelled one has none (:class:`StandingsUnavailable`).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from clock import iso_utc
from collaborators.models import Collaborator
from distributions import trigger
from distributions.explain import Calculation
from distributions.models import Allocation, Distribution, DistributionStatus
from distributions.trigger import DistributionPlan
from distributors.models import Distributor, DistributorStatus, PoolResolver, RevenueEntry
from metrics.models import MetricCredit

STANDINGS_CACHE_SECONDS = getattr(settings, "DISTRIBUTION_STANDINGS_CACHE_SECONDS", 30)
CACHE_PREFIX = "distributions:standings:v1"


class StandingsUnavailable(Exception):
    """The distribution has no standings: it was cancelled, or its distributor's rules cannot be applied (the
    trigger would fail the same way, and the heartbeat records it)."""


@dataclass(frozen=True)
class StandingRow:
    """One line of the standings: a share a trigger would write (or wrote), with its trace."""

    rank: int
    collaborator_id: int
    score: int
    value: int
    share_numerator: int | None
    rounding_unit: bool | None
    tie_break: int | None
    collaborator_name: str = ""


@dataclass(frozen=True)
class _PlannedShares:
    """The cached part: the plan's figures and its shares as typed arrays (in rank, then tie-break order)."""

    as_of: datetime
    calculation: Calculation
    collaborator_ids: array
    scores: array
    values: array
    ranks: array
    numerators: array | None  # None: the denominator did not fit a bigint, so they are not recorded
    rounding_units: bytes
    tie_breaks: bytes

    @classmethod
    def of(cls, plan: DistributionPlan, *, as_of: datetime) -> _PlannedShares:
        shares = plan.shares
        return cls(
            as_of=as_of,
            calculation=Calculation.of_plan(plan),
            collaborator_ids=array("q", [s.collaborator_id for s in shares]),
            scores=array("q", [s.score for s in shares]),
            values=array("q", [s.value for s in shares]),
            ranks=array("q", [s.rank for s in shares]),
            numerators=array("q", [s.numerator for s in shares]) if plan.storable_denominator else None,
            rounding_units=bytes(s.rounding_unit for s in shares),
            tie_breaks=bytes(s.tie_break for s in shares),
        )

    def rows(self, start: int, stop: int) -> list[StandingRow]:
        numerators = self.numerators
        return [
            StandingRow(
                rank=self.ranks[i],
                collaborator_id=self.collaborator_ids[i],
                score=self.scores[i],
                value=self.values[i],
                share_numerator=numerators[i] if numerators is not None else None,
                rounding_unit=bool(self.rounding_units[i]),
                tie_break=self.tie_breaks[i],
            )
            for i in range(max(start, 0), min(stop, len(self.ranks)))
        ]


@dataclass(frozen=True)
class Standings:
    """One page of a distribution's standings and what they come from.

    ``projected``: the open period as if triggered at ``as_of`` (a plan); otherwise the stored allocations of
    a triggered distribution (``as_of`` its trigger instant). ``total`` counts every row, not just the page.
    ``cached``: the plan came from the cache (projected only).
    """

    distribution_id: int
    projected: bool
    as_of: datetime | None
    calculation: Calculation
    rows: list[StandingRow]
    total: int
    cached: bool = False

    @property
    def pool(self) -> int | None:
        return self.calculation.pool

    @property
    def share_denominator(self) -> int | None:
        return self.calculation.share_denominator


# --------------------------------------------------------------------------- the open period


def _cache_key(distribution: Distribution) -> str:
    """The key of the open period's plan: the distribution and the ledger's high-water marks (one query)."""
    distributor = distribution.distributor
    credits = (
        MetricCredit.objects.filter(
            distributor_id=distribution.distributor_id,
            credited_at__gt=distribution.period_start,
            credited_at__lte=distribution.trigger_date,
        )
        .order_by("-id")
        .values("id")[:1]
    )
    marks = {"credit_mark": Subquery(credits)}
    if distributor.pool_resolver == PoolResolver.REVENUE_SHARE:
        revenue = (
            RevenueEntry.objects.filter(
                organization_id=distribution.organization_id,
                units=OuterRef("units"),
                occurred_at__gt=distribution.period_start,
                occurred_at__lte=distribution.trigger_date,
            )
            .order_by("-id")
            .values("id")[:1]
        )
        marks["revenue_mark"] = Subquery(revenue)
    found = (
        Distributor.objects.filter(pk=distribution.distributor_id)
        .annotate(**marks)
        .values_list("modified_at", *marks)
        .first()
    )
    parts = (
        distribution.pk,
        iso_utc(distribution.period_start),
        iso_utc(distribution.trigger_date),
        distribution.rolled_over,
        iso_utc(distribution.modified_at) if distribution.modified_at else None,
        *(iso_utc(value) if isinstance(value, datetime) else value for value in (found or ())),
    )
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return f"{CACHE_PREFIX}:{distribution.pk}:{digest}"


def distribution_plan_now(distribution: Distribution) -> DistributionPlan:
    """The plan a trigger of the pending ``distribution`` would write now: the trigger's own call.

    ``distribution.distributor.organization`` should be loaded (``select_related``)."""
    return trigger.distribution_plan(
        distributor=distribution.distributor,
        period_start=distribution.period_start,
        trigger_date=distribution.trigger_date,
        rolled_over=distribution.rolled_over,
        distribution_id=distribution.pk,
    )


def _planned_shares(distribution: Distribution, *, use_cache: bool = True) -> tuple[_PlannedShares, bool]:
    """The open period's plan as arrays, and whether it came from the cache."""
    key = _cache_key(distribution) if use_cache else None
    if key is not None:
        found = cache.get(key)
        if found is not None:
            return found, True
    as_of = timezone.now()
    try:
        plan = distribution_plan_now(distribution)
    except (ValueError, TypeError) as exc:  # e.g. topN weights that no longer sum to 100
        raise StandingsUnavailable(
            f"Distribution {distribution.pk} cannot be planned with its distributor's rules: {exc}"
        ) from exc
    planned = _PlannedShares.of(plan, as_of=as_of)
    if key is not None:
        cache.set(key, planned, STANDINGS_CACHE_SECONDS)
    return planned, False


def _with_names(rows: list[StandingRow], organization_id: int) -> list[StandingRow]:
    """The page's rows with their collaborators' names (one query for the page)."""
    if not rows:
        return rows
    names = dict(
        Collaborator.objects.filter(
            organization_id=organization_id, pk__in=[row.collaborator_id for row in rows]
        ).values_list("pk", "full_name")
    )
    return [StandingRow(**{**row.__dict__, "collaborator_name": names.get(row.collaborator_id, "")}) for row in rows]


# --------------------------------------------------------------------------- any distribution


def distribution_standings(
    distribution: Distribution, *, offset: int = 0, limit: int = 100, use_cache: bool = True
) -> Standings:
    """Rows ``offset`` to ``offset + limit`` of the standings of ``distribution`` (see the module docstring).

    Load ``distribution`` with ``select_related("distributor__organization")``. Raises
    :class:`StandingsUnavailable` for a cancelled distribution, or an open one whose rules cannot be applied.
    """
    units = distribution.distributor.units
    if distribution.status == DistributionStatus.CANCELLED:
        raise StandingsUnavailable(
            f"Distribution {distribution.pk} was cancelled (its distributor was deleted): it has no standings."
        )
    if distribution.status == DistributionStatus.PENDING:
        planned, cached = _planned_shares(distribution, use_cache=use_cache)
        return Standings(
            distribution_id=distribution.pk,
            projected=True,
            as_of=planned.as_of,
            calculation=planned.calculation,
            rows=_with_names(planned.rows(offset, offset + limit), distribution.organization_id),
            total=len(planned.ranks),
            cached=cached,
        )
    allocations = Allocation.objects.filter(organization_id=distribution.organization_id, distribution=distribution)
    figures = allocations.aggregate(total=Count("pk"), rounding_units=Count("pk", filter=Q(rounding_unit=True)))
    page = (
        allocations.order_by("rank", "id").values_list(
            "rank",
            "collaborator_id",
            "score",
            "value",
            "share_numerator",
            "rounding_unit",
            "tie_break",
            "collaborator__full_name",
        )[offset : offset + limit]
        if limit > 0
        else []
    )
    recorded = bool(distribution.distribution_resolver)
    return Standings(
        distribution_id=distribution.pk,
        projected=False,
        as_of=distribution.triggered_at,
        calculation=Calculation.of_distribution(
            distribution,
            units=units,
            allocation_count=figures["total"],
            rounding_units=figures["rounding_units"] if recorded else None,
        ),
        rows=[StandingRow(*row) for row in page],
        total=figures["total"],
    )


# --------------------------------------------------------------------------- run_distributions --dry-run --open


def open_period_plans(
    *,
    as_of: datetime,
    simulated: Sequence,
    organization_id: int | None = None,
    distributor_id: int | None = None,
) -> list[DistributionPlan]:
    """The plans of the open periods not yet due at ``as_of``, as if triggered now (their standings).

    The periods are the pending distributions of active distributors with a trigger date after ``as_of``, and
    the periods a dry run would open (``simulated``: its ``opened`` periods, ``distribution_id`` None) that are
    not due either; in trigger-date order. Each is planned with ``distribution_plan``, like a trigger.
    """
    pending = Distribution.objects.filter(
        status=DistributionStatus.PENDING, trigger_date__gt=as_of, distributor__status=DistributorStatus.ACTIVE
    )
    if organization_id is not None:
        pending = pending.filter(organization_id=organization_id)
    if distributor_id is not None:
        pending = pending.filter(distributor_id=distributor_id)
    plans = [distribution_plan_now(d) for d in pending.select_related("distributor__organization")]
    virtual = [p for p in simulated if p.distribution_id is None and p.trigger_date > as_of]
    distributors = Distributor.objects.select_related("organization").in_bulk({p.distributor_id for p in virtual})
    plans += [
        trigger.distribution_plan(
            distributor=distributors[p.distributor_id],
            period_start=p.period_start,
            trigger_date=p.trigger_date,
            rolled_over=p.rolled_over,
        )
        for p in virtual
    ]
    return sorted(plans, key=lambda plan: (plan.trigger_date, plan.distributor_id))
