"""Standings of the open period (distributions.standings): exactly what a trigger then writes, cached by the
ledger's high-water marks, and ``run_distributions --dry-run --open``."""

import io
import json

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from distributions import standings as standings_module
from distributions import trigger
from distributions.models import Allocation, Distribution
from distributions.services import distributor_save_with_periods
from distributions.standings import StandingsUnavailable, distribution_standings
from tests.distributions.helpers import at, credit, pending, run_engine, triggered
from tests.distributions.test_trace import RULES, _tied_world
from tests.factories import DistributionFactory, DistributorFactory, RevenueEntryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def loaded(distribution) -> Distribution:
    return Distribution.objects.select_related("distributor__organization").get(pk=distribution.pk)


def rows_of(result) -> list[tuple]:
    return [
        (r.collaborator_id, r.value, r.score, r.rank, r.share_numerator, r.rounding_unit, r.tie_break)
        for r in result.rows
    ]


def stored(distribution) -> list[tuple]:
    return list(
        Allocation.objects.filter(distribution=distribution)
        .order_by("rank", "id")
        .values_list("collaborator_id", "value", "score", "rank", "share_numerator", "rounding_unit", "tie_break")
    )


@pytest.fixture
def count_plans(monkeypatch):
    calls = []
    real = trigger.distribution_plan

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(trigger, "distribution_plan", counting)
    return calls


@pytest.mark.parametrize("rules", RULES)
def test_the_standings_are_what_the_trigger_then_writes(rules, make_distributor, make_collaborators):
    distributor, _ = _tied_world(make_distributor, make_collaborators, **rules)
    distribution = pending(distributor)
    preview = distribution_standings(loaded(distribution), limit=1_000)
    assert preview.projected and preview.total == len(preview.rows) > 0

    run_engine("--now", "2026-02-01T00:00:00Z")  # right after

    distribution.refresh_from_db()
    assert rows_of(preview) == stored(distribution)
    calculation = preview.calculation
    assert (calculation.pool, calculation.value, calculation.unallocated, calculation.carried_forward) == (
        distribution.pool,
        distribution.value,
        distribution.unallocated,
        distribution.carried_forward,
    )
    assert (calculation.share_denominator, calculation.scorer_count) == (
        distribution.share_denominator,
        distribution.scorer_count,
    )
    # Once triggered, its standings are the stored allocations, in the same shape and order.
    final = distribution_standings(loaded(distribution), limit=1_000)
    assert not final.projected and rows_of(final) == rows_of(preview)
    assert final.as_of == distribution.triggered_at


def test_the_plan_is_cached_until_a_new_credit(make_distributor, make_collaborators, count_plans):
    distributor = make_distributor(pool_amount=1_000)
    ada, bob = make_collaborators(2)
    credit(ada, distributor, 3, at("2026-01-05T00:00:00Z"))
    distribution = pending(distributor)

    first = distribution_standings(loaded(distribution))
    second = distribution_standings(loaded(distribution))
    assert (first.cached, second.cached, len(count_plans)) == (False, True, 1)
    assert rows_of(first) == rows_of(second) and first.as_of == second.as_of

    credit(bob, distributor, 1, at("2026-01-06T00:00:00Z"))  # a new credit: a new high-water mark
    third = distribution_standings(loaded(distribution))
    assert (third.cached, len(count_plans)) == (False, 2)
    assert [row.collaborator_id for row in third.rows] == [ada.pk, bob.pk]
    assert distribution_standings(loaded(distribution)).cached


def test_a_back_dated_credit_invalidates_too(make_distributor, make_collaborators, count_plans):
    distributor = make_distributor(pool_amount=1_000)
    ada, bob = make_collaborators(2)
    credit(ada, distributor, 3, at("2026-01-20T00:00:00Z"))
    distribution = pending(distributor)
    distribution_standings(loaded(distribution))
    credit(bob, distributor, 1, at("2026-01-02T00:00:00Z"))  # earlier in the period, but a higher id
    assert not distribution_standings(loaded(distribution)).cached


def test_a_change_of_the_rules_or_of_the_revenue_invalidates(org, make_distributor, make_collaborators, count_plans):
    distributor = make_distributor(pool_resolver="revenueShare", pool_percent_bp=1_000, pool_amount=0)
    [ada] = make_collaborators(1)
    credit(ada, distributor, 3, at("2026-01-05T00:00:00Z"))
    distribution = pending(distributor)
    assert distribution_standings(loaded(distribution)).pool == 0

    RevenueEntryFactory(organization=org, amount=50_000, occurred_at=at("2026-01-10T00:00:00Z"))
    after_revenue = distribution_standings(loaded(distribution))
    assert (after_revenue.cached, after_revenue.pool) == (False, 5_000)

    distributor.refresh_from_db()
    distributor.pool_percent_bp = 2_000
    distributor_save_with_periods(distributor=distributor)
    after_rules = distribution_standings(loaded(distribution))
    assert (after_rules.cached, after_rules.pool) == (False, 10_000)
    assert len(count_plans) == 3


def test_other_distributions_do_not_share_a_cached_plan(make_distributor, make_collaborators):
    one, two = make_distributor(pool_amount=1_000), make_distributor(pool_amount=2_000)
    [ada] = make_collaborators(1)
    credit(ada, one, 1, at("2026-01-05T00:00:00Z"))
    credit(ada, two, 1, at("2026-01-05T00:00:00Z"))
    assert distribution_standings(loaded(pending(one))).rows[0].value == 1_000
    assert distribution_standings(loaded(pending(two))).rows[0].value == 2_000


def test_the_cache_expires(make_distributor, make_collaborators, count_plans, monkeypatch):
    monkeypatch.setattr(standings_module, "STANDINGS_CACHE_SECONDS", 0)  # 0: not kept at all
    distributor = make_distributor(pool_amount=1_000)
    [ada] = make_collaborators(1)
    credit(ada, distributor, 1, at("2026-01-05T00:00:00Z"))
    distribution = pending(distributor)
    distribution_standings(loaded(distribution))
    assert not distribution_standings(loaded(distribution)).cached and len(count_plans) == 2


def test_a_cancelled_period_has_no_standings(org):
    distribution = DistributionFactory(distributor=DistributorFactory(organization=org), status="cancelled")
    with pytest.raises(StandingsUnavailable, match="cancelled"):
        distribution_standings(loaded(distribution))


def test_an_empty_period_has_empty_standings(make_distributor):
    distribution = pending(make_distributor(pool_amount=1_000))
    result = distribution_standings(loaded(distribution))
    assert (result.rows, result.total, result.pool, result.calculation.unallocated) == ([], 0, 1_000, 1_000)


# --------------------------------------------------------------------------- run_distributions --dry-run --open


def call(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("run_distributions", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_dry_run_open_previews_the_open_period_as_the_trigger_then_writes(make_distributor, make_collaborators):
    distributor, _ = _tied_world(
        make_distributor, make_collaborators, distribution_resolver="topN", top_n_weights=[60, 40]
    )
    distribution = pending(distributor)
    stdout, _ = call("--dry-run", "--open", "--json", "--now", "2026-01-20T00:00:00Z")
    summary = json.loads(stdout)
    assert summary["counts"]["triggered"] == 0  # not due
    [preview] = summary["open_periods"]
    assert preview["distribution_id"] == distribution.pk

    run_engine("--now", "2026-02-01T00:00:00Z")
    distribution.refresh_from_db()
    assert [(s["collaborator_id"], s["value"], s["score"], s["rank"]) for s in preview["shares"]] == [
        row[:4] for row in stored(distribution)
    ]
    assert (preview["pool"], preview["unallocated"], preview["share_denominator"]) == (
        distribution.pool,
        distribution.unallocated,
        distribution.share_denominator,
    )


def test_dry_run_open_also_previews_a_period_the_run_would_open(make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=1_000)
    [ada] = make_collaborators(1)
    credit(ada, distributor, 2, at("2026-01-05T00:00:00Z"))
    credit(ada, distributor, 5, at("2026-02-05T00:00:00Z"))
    stdout, _ = call("--dry-run", "--open", "--json", "--now", "2026-02-10T00:00:00Z")
    summary = json.loads(stdout)
    assert [plan["trigger_date"] for plan in summary["distributions"]] == ["2026-02-01T00:00:00Z"]
    [preview] = summary["open_periods"]  # February, which the run would open
    assert (preview["distribution_id"], preview["period_start"]) == (None, "2026-02-01T00:00:00Z")
    assert preview["shares"] == [{"collaborator_id": ada.pk, "score": 5, "value": 1_000, "rank": 1}]
    assert Distribution.objects.filter(distributor=distributor).count() == 1  # nothing written


def test_dry_run_open_prints_the_open_periods(make_distributor, make_collaborators):
    distributor, _ = _tied_world(make_distributor, make_collaborators)
    stdout, _ = call("--dry-run", "--open", "--now", "2026-01-20T00:00:00Z")
    assert "open period, not due until 2026-02-01T00:00:00Z: as if triggered now (2026-01-20T00:00:00Z)" in stdout
    assert "pool: 10.00 USD = 10.00 USD (a fixed 10.00 USD per period)" in stdout
    assert "Previewed 1 open period(s) as of now." in stdout
    assert not triggered(distributor)


def test_open_needs_dry_run_and_a_future_now_stays_refused(make_distributor):
    make_distributor()
    with pytest.raises(CommandError, match="--open needs --dry-run"):
        call("--open")
    with pytest.raises(CommandError, match="--now"):
        call("--dry-run", "--open", "--now", "2999-01-01T00:00:00Z")
