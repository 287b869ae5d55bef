"""The calculation trace a trigger stores (distribution: pool derivation, rule, denominator; allocation: numerator,
rounding unit, tie-break), and the distribution's admin page that explains it: title, pool, rule, shares, chart,
"not recorded" for periods triggered before the trace existed, bounded queries."""

import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from distributions.engine.splits import split_pool
from distributions.explain import period_label
from distributions.models import Allocation, TieBreak
from distributions.services import distributor_save_with_periods
from distributions.trigger import distribution_scores
from organizations.models import Organization
from tests.distributions.helpers import FEB_1, JAN_1, at, credit, pending, run_engine, triggered
from tests.factories import AllocationFactory, DistributionFactory, DistributorFactory, RevenueEntryFactory

pytestmark = pytest.mark.django_db

TRACE = ("collaborator_id", "value", "score", "rank", "share_numerator", "rounding_unit", "tie_break")


def stored_trace(distribution) -> list[tuple]:
    return list(Allocation.objects.filter(distribution=distribution).order_by("rank", "id").values_list(*TRACE))


def change_url(distribution) -> str:
    return reverse("admin:distributions_distribution_change", args=[distribution.pk])


def text_of(response) -> str:
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


RULES = [
    pytest.param({"distribution_resolver": "performanceSharedPool"}, id="proportional"),
    pytest.param({"distribution_resolver": "sharedEngagementPool"}, id="equal"),
    pytest.param({"distribution_resolver": "topScoreWins", "tie_policy": "split"}, id="top-split"),
    pytest.param({"distribution_resolver": "topScoreWins", "tie_policy": "earliest"}, id="top-earliest"),
    pytest.param({"distribution_resolver": "topN", "top_n_weights": [50, 30, 20], "tie_policy": "split"}, id="topN"),
    pytest.param(
        {"distribution_resolver": "topN", "top_n_weights": [40, 35, 25], "tie_policy": "earliest"}, id="topN-earliest"
    ),
]


def _tied_world(make_distributor, make_collaborators, **rules):
    """Seven collaborators with ties on score and on first credit, and a pool that does not divide evenly."""
    distributor = make_distributor(pool_amount=1_000, **rules)
    people = make_collaborators(7)
    points = [5, 5, 5, 3, 3, 1, 7]
    for index, (person, score) in enumerate(zip(people, points, strict=True)):
        # people 0 and 1 share their first credit instant; the others are apart
        moment = at("2026-01-05T00:00:00Z") if index < 2 else at(f"2026-01-{10 + index:02d}T00:00:00Z")
        credit(person, distributor, score, moment)
    return distributor, people


@pytest.mark.parametrize("rules", RULES)
def test_the_trigger_stores_the_trace_of_every_share(rules, make_distributor, make_collaborators):
    distributor, _ = _tied_world(make_distributor, make_collaborators, **rules)
    scored = distribution_scores(distributor=distributor, period_start=JAN_1, trigger_date=FEB_1)
    expected = split_pool(
        1_000,
        scored,
        resolver=distributor.distribution_resolver,
        tie_policy=distributor.tie_policy,
        weights=distributor.top_n_weights if distributor.distribution_resolver == "topN" else (),
    )

    run_engine("--now", "2026-02-01T00:00:00Z")

    [distribution] = triggered(distributor)
    assert stored_trace(distribution) == [
        (s.collaborator_id, s.value, s.score, s.rank, s.numerator, s.rounding_unit, s.tie_break)
        for s in expected.shares
    ]
    assert (distribution.share_denominator, distribution.scorer_count) == (expected.denominator, 7)
    assert distribution.distribution_resolver == distributor.distribution_resolver
    assert distribution.tie_policy == distributor.tie_policy
    assert distribution.top_n_weights == (
        distributor.top_n_weights if distributor.distribution_resolver == "topN" else None
    )
    assert (distribution.pool_resolver, distribution.period_pool, distribution.pool) == ("fixed", 1_000, 1_000)
    # Every stored value is the exact share it claims rounded down, plus its unit.
    for _, value, _, _, numerator, unit, _ in stored_trace(distribution):
        assert value == distribution.pool * numerator // distribution.share_denominator + unit


def test_ties_are_traced_down_to_the_collaborator_id(make_distributor, make_collaborators):
    # Equal split of 10 among 4 equal scorers credited at the same instant: 2.5 each, two units, decided by id.
    distributor = make_distributor(pool_amount=10, distribution_resolver="sharedEngagementPool")
    people = make_collaborators(4)
    for person in people:
        credit(person, distributor, 2, at("2026-01-05T00:00:00Z"))
    run_engine("--now", "2026-02-01T00:00:00Z")
    [distribution] = triggered(distributor)
    rows = stored_trace(distribution)
    assert [(row[0], row[1], row[5], row[6]) for row in rows] == [
        (people[0].pk, 3, True, TieBreak.COLLABORATOR_ID),
        (people[1].pk, 3, True, TieBreak.COLLABORATOR_ID),
        (people[2].pk, 2, False, TieBreak.COLLABORATOR_ID),
        (people[3].pk, 2, False, TieBreak.COLLABORATOR_ID),
    ]


def test_a_revenue_share_pool_records_its_derivation_and_the_rollover(org, make_distributor, make_collaborators):
    distributor = make_distributor(
        pool_resolver="revenueShare", pool_percent_bp=1_000, pool_amount=0, rollover_unearned=True
    )
    for amount in (10_000, 2_345, 7_000):
        RevenueEntryFactory(organization=org, amount=amount, occurred_at=at("2026-01-15T00:00:00Z"))
    RevenueEntryFactory(organization=org, amount=99_999, occurred_at=at("2026-01-15T00:00:00Z"), units="EUR")
    run_engine("--now", "2026-02-01T00:00:00Z")  # nobody scored: 1,934 carried forward
    [ada] = make_collaborators(1)
    credit(ada, distributor, 1, at("2026-02-10T00:00:00Z"))
    RevenueEntryFactory(organization=org, amount=5_000, occurred_at=at("2026-02-15T00:00:00Z"))
    run_engine("--now", "2026-03-01T00:00:00Z")

    january, february = triggered(distributor)
    assert (january.period_pool, january.revenue_entries, january.revenue_total, january.pool_percent_bp) == (
        1_934,
        3,
        19_345,
        1_000,
    )
    assert (january.carried_forward, january.scorer_count, january.share_denominator) == (1_934, 0, None)
    assert (february.period_pool, february.rolled_over, february.pool) == (500, 1_934, 2_434)
    assert (february.revenue_entries, february.revenue_total) == (1, 5_000)


def test_the_trace_survives_a_change_of_the_rules(admin_client, make_distributor, make_collaborators):
    distributor, _ = _tied_world(make_distributor, make_collaborators, distribution_resolver="sharedEngagementPool")
    run_engine("--now", "2026-02-01T00:00:00Z")
    [distribution] = triggered(distributor)
    before = stored_trace(distribution)

    distributor.distribution_resolver = "topN"
    distributor.top_n_weights = [100]
    distributor.tie_policy = "earliest"
    distributor.pool_resolver = "revenueShare"
    distributor.pool_percent_bp = 5_000
    distributor_save_with_periods(distributor=distributor)

    distribution.refresh_from_db()
    assert stored_trace(distribution) == before
    assert (distribution.distribution_resolver, distribution.tie_policy, distribution.pool_resolver) == (
        "sharedEngagementPool",
        "split",
        "fixed",
    )
    text = text_of(admin_client.get(change_url(distribution)))
    assert "Equal among non-zero scores (sharedEngagementPool)" in text
    assert "a fixed 10.00 USD per period" in text
    assert "Ranked shares by place" not in text and "50.00 %" not in text  # nothing read from today's rules


# --------------------------------------------------------------------------- the page


def test_the_title_is_the_distributor_and_the_local_period(make_distributor):
    organization = Organization.objects.create(name="Paris", slug="paris", timezone="Europe/Paris")
    distributor = DistributorFactory(organization=organization, name="Monthly pool")
    distribution = DistributionFactory(
        distributor=distributor,
        period_start=at("2026-08-31T22:00:00Z"),  # 1 Sep 00:00 in Paris
        trigger_date=at("2026-09-30T22:00:00Z"),  # 1 Oct 00:00 in Paris
    )
    assert str(distribution) == "Monthly pool · 1 Sep – 30 Sep 2026 (Europe/Paris)"


@pytest.mark.parametrize(
    ("start", "end", "label"),
    [
        ("2026-09-01T00:00:00Z", "2026-09-02T00:00:00Z", "1 Sep 2026"),
        ("2026-12-15T00:00:00Z", "2027-01-15T00:00:00Z", "15 Dec 2026 – 14 Jan 2027"),
        ("2026-09-01T10:00:00Z", "2026-09-01T11:00:00Z", "1 Sep 2026 10:00 – 11:00"),
        ("2026-09-01T10:00:00Z", "2026-09-03T10:00:00Z", "1 Sep 2026 10:00 – 3 Sep 2026 10:00"),
    ],
)
def test_period_labels(start, end, label):
    from datetime import UTC

    assert period_label(at(start), at(end), UTC) == label


def test_the_triggered_page_explains_the_money(admin_client, make_distributor, make_collaborators):
    distributor, _people = _tied_world(
        make_distributor, make_collaborators, distribution_resolver="sharedEngagementPool"
    )
    run_engine("--now", "2026-02-01T00:00:00Z")
    [distribution] = triggered(distributor)
    response = admin_client.get(change_url(distribution))
    assert response.status_code == 200
    html = response.content.decode()
    text = text_of(response)

    assert f"{distributor.name} · 1 Jan – 31 Jan 2026 (UTC)" in text  # the title
    assert "Allocation " not in text  # no stray row title from the inline's __str__
    assert "10.00 USD = 10.00 USD (a fixed 10.00 USD per period), nothing rolled over from the previous period" in text
    assert "Equal among non-zero scores (sharedEngagementPool)" in text
    assert "split: tied collaborators share their places equally (no effect on this rule" in text
    assert "6 units were handed out" in text  # 1000 / 7 = 142.857...: 994 rounded down, 6 units left
    assert "10.00 USD allocated to 7 collaborators (of 7 with a score)" in text
    # Each allocation: share of the pool, exact share, the unit and why.
    inline = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split('class="js-inline-admin-formset')[1]))
    assert inline.count("14.30 %") == 6 and inline.count("14.20 %") == 1
    assert inline.count("1.428571… USD") == 7
    assert inline.count("yes: same remainder as the next in line, higher score") == 6
    assert inline.count("no: same remainder as the last to get one, lower score") == 1
    # The chart: one point per allocation, server-rendered.
    assert html.count("<svg") >= 1 and html.count("<circle") == 7
    assert "script src" not in html.split('id="distribution-explanation"')[1].split("</section>")[0]


def test_a_period_triggered_before_the_trace_says_not_recorded(admin_client, org, ada, alan):
    distribution = DistributionFactory(
        distributor=DistributorFactory(organization=org), status="processing", pool=1_500, value=1_500
    )
    AllocationFactory(distribution=distribution, collaborator=ada, value=1_000, score=20, rank=1)
    AllocationFactory(distribution=distribution, collaborator=alan, value=500, score=10, rank=2)
    text = text_of(admin_client.get(change_url(distribution)))
    assert "Calculation trace not recorded" in text
    assert "15.00 USD (derivation not recorded)" in text
    assert "Split rule not recorded" in text and "Tie policy not recorded" in text
    # The allocations still show what is known: the share of the pool; the rest is not guessed.
    assert "66.67 %" in text and "33.33 %" in text
    assert text.count("not recorded") >= 2 + 2 * 2  # exact share and rounding unit of each row


def _page_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries.captured_queries)


def test_the_pending_page_shows_the_standings_so_far(admin_client, make_distributor, make_collaborators):
    distributor, _people = _tied_world(make_distributor, make_collaborators)
    distribution = pending(distributor)
    response = admin_client.get(change_url(distribution))
    text = text_of(response)
    assert "Standings so far: what a trigger would pay now" in text
    assert "Projected shares 1–7 of 7" in text
    assert "10.00 USD would be allocated to 7 collaborators (of 7 with a score)" in text
    assert not response.context["inline_admin_formsets"]  # no empty allocations table
    assert response.content.decode().count("<circle") == 7
    # The same figures the trigger then writes.
    run_engine("--now", "2026-02-01T00:00:00Z")
    stored = stored_trace(distribution)
    rows = response.context["explanation"]["rows"]
    assert [row["rank"] for row in rows] == [row[3] for row in stored]
    assert [row["value"] for row in rows] == [f"{row[1] / 100:.2f} USD" for row in stored]


def test_the_pending_page_costs_the_same_queries_with_60_collaborators_as_with_3(
    admin_client, make_distributor, make_collaborators
):
    distributor = make_distributor(pool_amount=100_000)
    url = change_url(pending(distributor))

    def cold_and_warm() -> tuple[int, int]:
        cache.clear()  # the standings' plan is cached: measure it computed, then read back
        return _page_queries(admin_client, url), _page_queries(admin_client, url)

    for person in make_collaborators(3):
        credit(person, distributor, 2, at("2026-01-05T00:00:00Z"))
    cold_and_warm()  # warm per-process caches (content types)
    few = cold_and_warm()
    for index, person in enumerate(make_collaborators(57)):
        credit(person, distributor, 1 + index % 5, at("2026-01-06T00:00:00Z"))
    many = cold_and_warm()
    assert many == few
    assert few[1] < few[0]  # the cached plan costs fewer queries
    response = admin_client.get(url)
    html = response.content.decode()
    assert html.count("<circle") == 50 and "Top 50 of 60 shares shown, by rank." in text_of(response)
    assert "Projected shares 1–60 of 60" in text_of(response)


def test_the_standings_page_is_paged(admin_client, make_distributor, make_collaborators, monkeypatch):
    from distributions import admin_explain

    monkeypatch.setattr(admin_explain, "STANDINGS_PAGE", 25)
    distributor = make_distributor(pool_amount=100_000)
    for index, person in enumerate(make_collaborators(60)):
        credit(person, distributor, 100 - index, at("2026-01-05T00:00:00Z"))
    url = change_url(pending(distributor))
    text = text_of(admin_client.get(url + "?standings_offset=25"))
    assert "Projected shares 26–50 of 60" in text and "previous 25" in text and "next →" in text
    assert "Projected shares 51–60 of 60" in text_of(admin_client.get(url + "?standings_offset=50"))
    assert "Projected shares 1–25 of 60" in text_of(admin_client.get(url + "?standings_offset=nonsense"))


def test_a_cancelled_period_says_so(admin_client, org):
    distribution = DistributionFactory(distributor=DistributorFactory(organization=org), status="cancelled")
    response = admin_client.get(change_url(distribution))
    assert "Its distributor was deleted while this period was open" in text_of(response)
    assert not response.context["inline_admin_formsets"]


def test_the_triggered_page_costs_the_same_queries_with_60_allocations_as_with_3(
    admin_client, make_distributor, make_collaborators
):
    def page_queries(count: int) -> int:
        distributor = make_distributor(pool_amount=100_000)
        for index, person in enumerate(make_collaborators(count)):
            credit(person, distributor, 1 + index % 5, at("2026-01-05T00:00:00Z"))
        run_engine("--now", "2026-02-01T00:00:00Z", "--distributor", str(distributor.pk))
        url = change_url(triggered(distributor)[0])
        _page_queries(admin_client, url)
        return _page_queries(admin_client, url)

    assert page_queries(3) == page_queries(60)


def test_a_large_period_shows_its_first_100_allocations_and_links_to_all(admin_client, org):
    from distributions.admin import ALLOCATION_INLINE_LIMIT

    first = AllocationFactory(organization=org, distribution__distributor__organization=org, rank=1)
    for rank in range(2, ALLOCATION_INLINE_LIMIT + 6):
        AllocationFactory(organization=org, distribution=first.distribution, rank=rank)
    response = admin_client.get(change_url(first.distribution))
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert (formset.shown_count, formset.total_count, len(formset.forms)) == (100, 105, 100)
    text = text_of(response)
    assert "The first 100 of 105 allocations, by rank." in text
    listed = admin_client.get(
        reverse("admin:distributions_allocation_changelist"), {"distribution__id__exact": first.distribution.pk}
    )
    assert listed.status_code == 200 and listed.context["cl"].result_count == 105
