"""The money dashboard on the admin index: its reads (``distributions.dashboard``), their fixed query count
for small and large data, the organization filter, the chart's geometry and the rendered page."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from distributions.dashboard import (
    CHART_DISTRIBUTORS,
    CHART_PERIODS,
    DASHBOARD_QUERIES,
    NEXT_TRIGGERS,
    OVERDUE_GRACE,
    OVERDUE_LISTED,
    DistributorSeries,
    Period,
    dashboard_read,
    distributions_next_triggers,
    distributions_overdue,
    engine_run_last,
)
from distributions.models import DistributionStatus
from distributions.templatetags.admin_dashboard import (
    MIN_BAR,
    PLOT_BOTTOM,
    PLOT_LEFT,
    PLOT_RIGHT,
    PLOT_TOP,
    chart_panel,
)
from organizations.models import Role
from tests.distributions.dashboard_data import money_world
from tests.factories import DistributionFactory, DistributorFactory, EngineRunFactory, MembershipFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def queries_of(read) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        result = read()
    return result, [query["sql"] for query in captured.captured_queries]


def test_the_dashboard_reads_each_section(org):
    world = money_world(org, now=NOW, distributors=2, periods=3, pending_obligations=2, units=("USD", "points"))
    dashboard = dashboard_read(as_of=NOW)

    assert dashboard.last_run.run.started_at == NOW - timedelta(seconds=30)
    assert not dashboard.last_run.stale and not dashboard.last_run.failed

    assert dashboard.overdue.count == 1
    assert [d.pk for d in dashboard.overdue.oldest] == [world.overdue[0].pk]
    assert dashboard.overdue.cutoff == NOW - OVERDUE_GRACE

    assert [(t.units, t.count, t.amount) for t in dashboard.awaiting_approval] == [
        ("USD", 2, 2468),
        ("points", 2, 2468),
    ]
    assert [d.pk for d in dashboard.next_triggers] == [world.upcoming[0].pk]

    assert [series.distributor.pk for series in dashboard.chart] == [d.pk for d in world.distributors]
    first = dashboard.chart[0]
    assert [p.pool for p in first.periods] == [10_000, 20_000, 30_000]  # oldest first
    # Two equal allocations of a third of the pool each: paid counts the fulfilled one, not the approved one.
    assert [p.paid for p in first.periods] == [3333, 6666, 10_000]
    assert [p.allocated for p in first.periods] == [6666, 13_332, 20_000]


def test_a_period_is_overdue_only_after_the_grace_and_then_leaves_the_next_triggers(org):
    just_due = DistributionFactory(
        distributor=DistributorFactory(organization=org), trigger_date=NOW - timedelta(minutes=4)
    )
    late = DistributionFactory(
        distributor=DistributorFactory(organization=org), trigger_date=NOW - timedelta(minutes=6)
    )

    overdue = distributions_overdue(as_of=NOW)
    assert (overdue.count, [d.pk for d in overdue.oldest]) == (1, [late.pk])
    assert [d.pk for d in distributions_next_triggers(as_of=NOW)] == [just_due.pk]


def test_periods_of_inactive_distributors_and_other_statuses_are_neither_overdue_nor_next(org):
    paused = DistributorFactory(organization=org, status="inactive")
    DistributionFactory(distributor=paused, trigger_date=NOW - timedelta(days=3))
    DistributionFactory(distributor=paused, trigger_date=NOW + timedelta(days=3), status=DistributionStatus.CANCELLED)
    active = DistributorFactory(organization=org)
    DistributionFactory(
        distributor=active,
        trigger_date=NOW - timedelta(days=3),
        status=DistributionStatus.COMPLETE,
        pool=0,
        triggered_at=NOW,
    )

    assert distributions_overdue(as_of=NOW).count == 0
    assert distributions_next_triggers(as_of=NOW) == []


def test_overdue_lists_the_oldest_few_and_counts_them_all(org):
    for hours in range(OVERDUE_LISTED + 3):
        DistributionFactory(
            distributor=DistributorFactory(organization=org), trigger_date=NOW - timedelta(hours=hours + 1)
        )
    overdue = distributions_overdue(as_of=NOW)
    assert overdue.count == OVERDUE_LISTED + 3
    assert len(overdue.oldest) == OVERDUE_LISTED
    assert overdue.oldest[0].trigger_date == NOW - timedelta(hours=OVERDUE_LISTED + 3)
    assert [d.trigger_date for d in overdue.oldest] == sorted(d.trigger_date for d in overdue.oldest)


def test_next_triggers_are_bounded_and_in_trigger_order(org):
    for days in range(NEXT_TRIGGERS + 4, 0, -1):
        DistributionFactory(distributor=DistributorFactory(organization=org), trigger_date=NOW + timedelta(days=days))
    upcoming = distributions_next_triggers(as_of=NOW)
    assert [d.trigger_date for d in upcoming] == [NOW + timedelta(days=n) for n in range(1, NEXT_TRIGGERS + 1)]


def test_the_organization_filter_keeps_other_organizations_out(org, other_org):
    mine = money_world(org, now=NOW, distributors=1, periods=2, pending_obligations=1)
    money_world(other_org, now=NOW, distributors=2, periods=2, pending_obligations=5, engine_runs=0)
    EngineRunFactory(started_at=NOW - timedelta(seconds=5), as_of=NOW, options={"organization": "other"})

    everyone = dashboard_read(as_of=NOW)
    assert everyone.overdue.count == 2
    assert everyone.awaiting_approval[0].count == 6
    assert everyone.last_run.run.options == {"organization": "other"}

    dashboard = dashboard_read(as_of=NOW, organization=org)
    assert [d.pk for d in dashboard.overdue.oldest] == [mine.overdue[0].pk]
    assert [(t.units, t.count) for t in dashboard.awaiting_approval] == [("USD", 1)]
    assert dashboard.next_triggers == []
    assert [s.distributor.pk for s in dashboard.chart] == [mine.distributors[0].pk]
    # A run limited to another organization did not cover this one; a run of every organization did.
    assert dashboard.last_run.run.started_at == NOW - timedelta(seconds=30)


def test_the_last_run_counts_runs_of_every_organization_and_of_this_one(org):
    EngineRunFactory(started_at=NOW - timedelta(minutes=3), as_of=NOW, options={"organization": None})
    assert engine_run_last(as_of=NOW, organization=org).run.started_at == NOW - timedelta(minutes=3)
    EngineRunFactory(started_at=NOW - timedelta(minutes=2), as_of=NOW, options={})
    assert engine_run_last(as_of=NOW, organization=org).run.started_at == NOW - timedelta(minutes=2)
    EngineRunFactory(started_at=NOW - timedelta(minutes=1), as_of=NOW, options={"organization": "acme"})
    last = engine_run_last(as_of=NOW, organization=org)
    assert last.run.options == {"organization": "acme"}
    assert not last.stale


def test_a_failed_or_stale_run_is_flagged():
    EngineRunFactory(started_at=NOW - timedelta(minutes=6), as_of=NOW, status="failed", error_count=1)
    last = engine_run_last(as_of=NOW)
    assert last.stale and last.failed
    assert engine_run_last(as_of=NOW - timedelta(minutes=5)).stale is False


def test_the_chart_shows_the_latest_periods_of_the_most_recently_triggered_distributors(org):
    world = money_world(
        org, now=NOW, distributors=CHART_DISTRIBUTORS + 2, periods=CHART_PERIODS + 3, paid_per_period=1, overdue=0
    )
    chart = dashboard_read(as_of=NOW).chart
    # Distributor i was last triggered i hours earlier: the first ones are the most recent.
    assert [s.distributor.pk for s in chart] == [d.pk for d in world.distributors[:CHART_DISTRIBUTORS]]
    for series in chart:
        assert len(series.periods) == CHART_PERIODS
        assert series.periods[-1].trigger_date == series.distributor.distributed_through
        assert [p.pool for p in series.periods] == [10_000 * k for k in range(4, CHART_PERIODS + 4)]


def _small_and_large(org, other_org):
    def small():
        return money_world(org, now=NOW, distributors=1, periods=1, pending_obligations=1)

    def large():
        return money_world(
            other_org,
            now=NOW,
            distributors=CHART_DISTRIBUTORS + 3,
            periods=CHART_PERIODS + 2,
            paid_per_period=2,
            unpaid_per_period=2,
            pending_obligations=4,
            overdue=OVERDUE_LISTED + 2,
            engine_runs=5,
            units=("USD", "JPY", "points"),
        )

    return small, large


def test_the_dashboard_costs_the_same_queries_for_small_and_large_data(org, other_org):
    _, empty_queries = queries_of(lambda: dashboard_read(as_of=NOW))
    assert len(empty_queries) == DASHBOARD_QUERIES - 2  # nothing triggered: no periods to chart

    small, large = _small_and_large(org, other_org)
    small()
    dashboard, small_queries = queries_of(lambda: dashboard_read(as_of=NOW))
    assert len(dashboard.chart) == 1
    large()
    dashboard, large_queries = queries_of(lambda: dashboard_read(as_of=NOW))
    assert len(dashboard.chart) == CHART_DISTRIBUTORS and dashboard.overdue.count == OVERDUE_LISTED + 3
    assert len(small_queries) == len(large_queries) == DASHBOARD_QUERIES, "\n".join(large_queries)

    _, filtered_queries = queries_of(lambda: dashboard_read(as_of=NOW, organization=other_org))
    assert len(filtered_queries) == DASHBOARD_QUERIES


def test_the_admin_index_costs_the_same_queries_for_small_and_large_data(org, other_org, admin_client):
    small, large = _small_and_large(org, other_org)
    small()

    def index_queries():
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.get("/admin/")
        assert response.status_code == 200
        return response.content.decode(), [query["sql"] for query in captured.captured_queries]

    index_queries()  # warm per-process caches (content types) so both measurements start alike
    html_small, small_queries = index_queries()
    large()
    html_large, large_queries = index_queries()
    assert html_small.count('class="dash-panel"') == 1
    assert html_large.count('class="dash-panel"') == CHART_DISTRIBUTORS
    assert len(large_queries) == len(small_queries), "\n".join(large_queries)
    print(f"admin index: {len(large_queries)} queries")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_admin_index_shows_the_money(org, admin_client):
    org.timezone = "Europe/Paris"
    org.save()
    now = timezone.now()
    world = money_world(org, now=now, distributors=2, periods=2, pending_obligations=2, units=("USD", "JPY"))
    response = admin_client.get("/admin/")
    html = response.content.decode()
    text = _text(html)

    assert 'id="money-dashboard"' in html
    assert "1 overdue period: is the heartbeat running?" in text
    assert "overdue by 1 hour" in text
    assert "Awaiting approval" in text and "4 obligations pending" in text
    assert "24.68 USD" in text and "2,468 JPY" in text
    assert "Last engine run" in text and "succeeded" in text
    assert "Next triggers" in text and "Europe/Paris" in text
    upcoming = world.upcoming[0].trigger_date.astimezone(org.tzinfo)
    assert f"{upcoming:%a %d %b %Y, %H:%M} {upcoming.tzname()}" in text
    assert html.count('class="dash-svg"') == 2 and html.count('class="dash-paid"') == 4
    assert "Pool against paid" in text and "pool 30,000 JPY" in text
    # Django's own index is still there, below.
    assert 'id="content-main"' in html and "Recent actions" in text
    assert html.index('id="money-dashboard"') < html.index('id="content-main"')


def test_the_admin_index_says_when_all_is_quiet(admin_client):
    text = _text(admin_client.get("/admin/").content.decode())
    assert "No overdue periods" in text
    assert "The engine has never run" in text
    assert "Nothing awaits approval." in text
    assert "No distributor has been triggered yet." in text


def test_staff_see_the_dashboard_of_their_organizations_only(client, org, other_org):
    """The role decides (``organizations.admin``): Django's view permissions show a non-member nothing; a viewer
    of ``org`` sees ``org``'s money and none of ``other_org``'s."""
    money_world(org, now=timezone.now())
    money_world(other_org, now=timezone.now(), units=("JPY",))
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_distribution", "view_enginerun", "view_obligation"])
    )
    client.force_login(user)
    html = client.get("/admin/").content.decode()
    assert 'id="money-dashboard"' not in html and 'id="content-main"' in html

    MembershipFactory(user=user, organization=org, role=Role.VIEWER)
    html = client.get("/admin/").content.decode()
    assert html.count('id="money-dashboard"') == 1
    assert "USD" in html and "JPY" not in html and other_org.name not in _text(html)


def test_chart_bars_stay_in_the_plot_and_scale_to_the_largest_amount(org):
    money_world(org, now=NOW, distributors=1, periods=CHART_PERIODS, paid_per_period=3, unpaid_per_period=1)
    panel = chart_panel(dashboard_read(as_of=NOW).chart[0])
    assert panel["top"] == f"{10_000 * CHART_PERIODS // 100:,}.00 USD"
    pools = [group["pool"] for group in panel["groups"]]
    for group in panel["groups"]:
        for bar in (group["pool"], group["paid"]):
            assert bar.x >= PLOT_LEFT and bar.x + bar.width <= PLOT_RIGHT + 0.01
            assert bar.y >= PLOT_TOP - 0.01 and bar.y + bar.height == pytest.approx(PLOT_BOTTOM)
        assert group["paid"].width < group["pool"].width
        assert group["paid"].height < group["pool"].height
    # Four allocations of a fifth of the pool each, three of them paid.
    assert panel["groups"][0]["title"].endswith(": pool 100.00 USD, allocated 80.00 USD, paid 60.00 USD")
    assert pools[-1].height == pytest.approx(PLOT_BOTTOM - PLOT_TOP)  # the largest pool fills the plot
    assert pools[0].height == pytest.approx((PLOT_BOTTOM - PLOT_TOP) / CHART_PERIODS, abs=0.01)
    labels = [group["label"] for group in panel["groups"]]
    assert labels[-1] and sum(bool(label) for label in labels) >= CHART_PERIODS // 3


def test_a_tiny_paid_amount_stays_visible_and_nothing_paid_draws_nothing(org):
    distributor = DistributorFactory(organization=org)
    start = NOW - timedelta(days=14)
    periods = [
        Period(1, start, start + timedelta(days=7), pool=1_000_000, allocated=10, paid=1),
        Period(2, start + timedelta(days=7), start + timedelta(days=14), pool=1_000_000, allocated=10, paid=0),
    ]
    tiny, nothing = chart_panel(DistributorSeries(distributor, periods))["groups"]
    assert tiny["paid"].height == MIN_BAR and tiny["paid"].y == PLOT_BOTTOM - MIN_BAR
    assert nothing["paid"].height == 0
    assert "paid 0.01 USD" in tiny["title"] and "paid 0.00 USD" in nothing["title"]


def test_a_chart_of_one_period_is_one_bar_not_a_wall(org):
    money_world(org, now=NOW, distributors=1, periods=1)
    panel = chart_panel(dashboard_read(as_of=NOW).chart[0])
    (group,) = panel["groups"]
    assert group["pool"].width < (PLOT_RIGHT - PLOT_LEFT) / 4
    assert group["label"]


def test_every_dashboard_link_opens_and_lists_what_it_names(org, admin_client):
    world = money_world(org, now=timezone.now(), distributors=2, periods=1, units=("USD", "points"))
    html = admin_client.get("/admin/").content.decode()
    section = html[html.index('id="money-dashboard"') : html.index('id="content-main"')]
    links = {unescape(href) for href in re.findall(r'href="([^"]+)"', section)}
    assert len(links) >= 10
    for link in links:
        response = admin_client.get(link)
        assert response.status_code == 200, link
    overdue_link = next(link for link in links if "trigger_date__lte" in link)
    listed = admin_client.get(overdue_link).context["cl"].result_list
    assert [d.pk for d in listed] == [world.overdue[0].pk]
    points_link = next(link for link in links if "units=points" in link)
    assert {o.units for o in admin_client.get(points_link).context["cl"].result_list} == {"points"}
