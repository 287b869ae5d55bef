"""What a distribution's admin page shows above its fields: how its money was computed.

``distribution_explanation`` builds the template context of ``admin/distributions/distribution/explanation.html``:

- triggered (processing, complete): the calculation the trigger recorded (pool derivation, rule and tie policy,
  rounding, outcome; "not recorded" for periods triggered before it recorded one) and a chart of score against
  share of the top ``CHART_POINTS`` allocations; the allocations themselves are the page's inline, each with its
  exact share and rounding unit;
- pending: the standings so far, i.e. what a trigger would write now (``distributions.standings``, the trigger's
  own plan, cached briefly), ``STANDINGS_PAGE`` rows at a time (``?standings_offset=``), with the same
  explanation and chart;
- cancelled: a note.

A fixed number of queries whatever the number of allocations or collaborators.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.urls import reverse
from django.utils.http import urlencode

from distributions.charts import CHART_POINTS, ChartPoint, score_share_chart
from distributions.explain import (
    exact_share_text,
    format_amount,
    period_label,
    rounding_text,
    share_percent,
    share_percent_text,
)
from distributions.models import Distribution, DistributionStatus
from distributions.standings import (
    STANDINGS_CACHE_SECONDS,
    Standings,
    StandingsUnavailable,
    distribution_standings,
)
from distributors.models import DistributorStatus

STANDINGS_PAGE = 100
OFFSET_PARAMETER = "standings_offset"


def _local(moment: datetime | None, zone) -> dict | None:
    if moment is None:
        return None
    local = moment.astimezone(zone)
    return {"text": f"{local:%Y-%m-%d %H:%M:%S} {local:%Z}", "utc": f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"}


def _offset(request) -> int:
    text = (request.GET.get(OFFSET_PARAMETER) or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 0


def _chart(standings: Standings, title: str):
    pool = standings.pool
    points = [
        ChartPoint(
            rank=row.rank,
            label=row.collaborator_name or f"collaborator {row.collaborator_id}",
            score=row.score,
            percent=float(share_percent(row.value, pool) or 0),
            rounding_unit=row.rounding_unit,
        )
        for row in standings.rows[:CHART_POINTS]
    ]
    return score_share_chart(points, total=standings.total, title=title)


def _rows(standings: Standings, units: str) -> list[dict]:
    pool, denominator = standings.pool, standings.share_denominator
    return [
        {
            "rank": row.rank,
            "collaborator": row.collaborator_name or f"collaborator {row.collaborator_id}",
            "collaborator_url": reverse("admin:collaborators_collaborator_change", args=[row.collaborator_id]),
            "score": f"{row.score:,}",
            "value": format_amount(row.value, units),
            "percent": share_percent_text(row.value, pool),
            "exact": exact_share_text(pool, row.share_numerator, denominator, units),
            "rounding": rounding_text(row.rounding_unit, row.tie_break),
        }
        for row in standings.rows
    ]


def distribution_explanation(request, distribution: Distribution) -> dict:
    """The context of the explanation of ``distribution`` (its distributor and organization joined)."""
    distributor = distribution.distributor
    zone = distributor.organization.tzinfo
    units = distributor.units
    context = {
        "status": distribution.status,
        "period": f"{period_label(distribution.period_start, distribution.trigger_date, zone)} "
        f"({distributor.organization.timezone})",
        "period_start": _local(distribution.period_start, zone),
        "trigger_date": _local(distribution.trigger_date, zone),
        "units": units,
    }
    if distribution.status == DistributionStatus.CANCELLED:
        return {**context, "kind": "cancelled"}
    if distribution.status != DistributionStatus.PENDING:
        standings = distribution_standings(distribution, offset=0, limit=CHART_POINTS)
        calculation = standings.calculation
        return {
            **context,
            "kind": "triggered",
            "recorded": calculation.recorded,
            "lines": calculation.lines(),
            "as_of": _local(distribution.triggered_at, zone),
            "chart": _chart(standings, "Score against share of the pool"),
        }

    offset = _offset(request)
    try:
        standings = distribution_standings(distribution, offset=offset, limit=STANDINGS_PAGE)
    except StandingsUnavailable as exc:
        return {**context, "kind": "unplannable", "message": str(exc)}
    top = standings if offset == 0 else distribution_standings(distribution, offset=0, limit=CHART_POINTS)
    calculation = standings.calculation

    def page_url(start: int) -> str:
        return "?" + urlencode({OFFSET_PARAMETER: start}) if start else "?"

    return {
        **context,
        "kind": "pending",
        "recorded": True,
        "lines": calculation.lines(),
        "as_of": _local(standings.as_of, zone),
        "cached": standings.cached,
        "cache_seconds": STANDINGS_CACHE_SECONDS,
        "chart": _chart(top, "Projected score against share of the pool"),
        "rows": _rows(standings, units),
        "total": standings.total,
        "first": offset + 1 if standings.rows else 0,
        "last": offset + len(standings.rows),
        "previous_url": page_url(max(offset - STANDINGS_PAGE, 0)) if offset > 0 else None,
        "next_url": page_url(offset + STANDINGS_PAGE) if offset + STANDINGS_PAGE < standings.total else None,
        "api_url": reverse("distribution-standings", args=[distribution.pk]),
        "distributor_inactive": distributor.status != DistributorStatus.ACTIVE,
    }
