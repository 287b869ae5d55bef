"""Amounts and times as staff read them, in a real browser at 1366x768 (Debian's Chromium, headless, Playwright).

A Europe/Paris organization's obligations, distributions and payouts lists and a fulfillment's change page show
amounts with their units and decimals ("155.07 USD", "1,170.88 USD", "12,345 JPY"), periods and times in Paris
time with the zone named, and the lists fit the window: no money column is clipped behind a horizontal scroll.
Each page is saved to tests/artifacts/admin_*.png whether the test passes or fails, so it can be looked at.
"""

import re
from datetime import UTC, datetime

import pytest

from distributions.models import Distribution
from obligations.models import Fulfillment
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import log_in
from tests.factories import (
    AllocationFactory,
    CollaboratorFactory,
    DistributionFactory,
    DistributorFactory,
    FulfillmentFactory,
    PayoutFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1366, "height": 768}
PARIS_MONTHS = [  # (period start, trigger date) of monthly periods at Paris midnight, in UTC
    (datetime(2026, 4, 30, 22, tzinfo=UTC), datetime(2026, 5, 31, 22, tzinfo=UTC)),
    (datetime(2026, 5, 31, 22, tzinfo=UTC), datetime(2026, 6, 30, 22, tzinfo=UTC)),
    (datetime(2026, 6, 30, 22, tzinfo=UTC), datetime(2026, 7, 31, 22, tzinfo=UTC)),
    (datetime(2026, 7, 31, 22, tzinfo=UTC), datetime(2026, 8, 31, 22, tzinfo=UTC)),
    (datetime(2026, 8, 31, 22, tzinfo=UTC), datetime(2026, 9, 30, 22, tzinfo=UTC)),
]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "correct horse battery")


@pytest.fixture
def paris_world(org, ada, alan):
    """Acme in Europe/Paris: USD, JPY and KWD distributors with five monthly periods each (large pools), the
    September USD period owing Ada 155.07 USD and Alan 1,170.88 USD, and a fulfillment paying them."""
    org.timezone = "Europe/Paris"
    org.save()
    others = [CollaboratorFactory(organization=org, full_name=f"Collaborator with a long name {n}") for n in range(6)]
    september = None
    for name, units, pool in [
        ("Monthly revenue share", "USD", 123_456_789_01),
        ("Tokyo sales pool", "JPY", 98_765_432),
        ("Kuwait partners", "KWD", 1_234_567_890),
    ]:
        distributor = DistributorFactory(
            organization=org, name=name, units=units, starts_at=PARIS_MONTHS[0][0], pool_amount=pool
        )
        for start, end in PARIS_MONTHS:
            distribution = DistributionFactory(
                distributor=distributor,
                status="processing",
                period_start=start,
                trigger_date=end,
                pool=pool,
                value=pool - 1,
                unallocated=0 if units == "KWD" else 1,
                carried_forward=1 if units == "KWD" else 0,  # Kuwait rolls its unearned pool over
                triggered_at=end,
            )
            if units == "USD" and end.month == 9:
                september = distribution
    september.value, september.unallocated = 15507 + 117088, september.pool - 15507 - 117088
    september.save()
    ada_share = AllocationFactory(distribution=september, collaborator=ada, value=15507, rank=2, score=20)
    alan_share = AllocationFactory(distribution=september, collaborator=alan, value=117088, rank=1, score=151)
    fulfillment = FulfillmentFactory(organization=org, status="processing")
    for share in (ada_share, alan_share):
        payout = PayoutFactory(fulfillment=fulfillment, collaborator=share.collaborator, amount=share.value)
        obligation = share.obligation
        obligation.status, obligation.payout = "approved", payout
        obligation.save()
    for n, collaborator in enumerate(others):
        PayoutFactory(fulfillment=fulfillment, collaborator=collaborator, amount=1_000_000_00 + n, units="USD")
    PayoutFactory(fulfillment=fulfillment, collaborator=others[0], amount=12345, units="JPY")
    return {"september": september, "fulfillment": fulfillment}


def save(page, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def assert_fits(page):
    """The results table fits its box: nothing is hidden behind a horizontal scroll."""
    widths = page.evaluate(
        "(() => { const box = document.querySelector('#changelist .results');"
        " return [box.scrollWidth, box.clientWidth, document.documentElement.scrollWidth, window.innerWidth]; })()"
    )
    results_scroll, results_client, page_scroll, window_width = widths
    assert results_scroll <= results_client, f"the list is {results_scroll}px wide in a {results_client}px box"
    assert page_scroll <= window_width, f"the page is {page_scroll}px wide in a {window_width}px window"


def assert_no_wrapped_amount(page):
    """Every amount is on one line."""
    heights = page.evaluate(
        "Array.from(document.querySelectorAll('.amount')).map(e => [e.textContent, e.getClientRects().length])"
    )
    assert heights, "no amount on the page"
    wrapped = [text for text, lines in heights if lines != 1]
    assert not wrapped, f"amounts wrapped over lines: {wrapped}"


@pytest.fixture
def pages(live_server, page, staff, paris_world):
    """Logged-in page; each test's pages are saved even when it passes."""
    log_in(page, live_server, VIEWPORT)
    return page


def test_obligations_changelist(live_server, pages, paris_world):
    page = pages
    page.goto(f"{live_server.url}/admin/obligations/obligation/")
    try:
        results = page.locator("#result_list")
        assert results.get_by_text("155.07 USD", exact=True).is_visible()
        assert results.get_by_text("1,170.88 USD", exact=True).is_visible()
        # Its distribution, in the column and in the filter box.
        september = paris_world["september"]
        assert results.get_by_text(f"#{september.pk} Monthly revenue share").first.is_visible()
        assert page.locator("input[name=distribution]").is_visible()
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d CES?T", results.inner_text())  # Paris time, zone named
        assert_fits(page)
        assert_no_wrapped_amount(page)
    finally:
        save(page, "admin_obligations_changelist")

    page.goto(f"{live_server.url}/admin/obligations/obligation/?distribution={september.pk}")
    try:
        assert page.locator("#result_list tbody tr").count() == 2
        assert "Distribution " in page.locator("#changelist-filter").inner_text()
    finally:
        save(page, "admin_obligations_changelist_by_distribution")


def test_distributions_changelist(live_server, pages, paris_world):
    page = pages
    page.goto(f"{live_server.url}/admin/distributions/distribution/")
    try:
        results = page.locator("#result_list")
        assert results.get_by_text("123,456,789.01 USD", exact=True).first.is_visible()
        assert results.get_by_text("1,325.95 USD", exact=True).is_visible()  # September's allocated value
        assert results.get_by_text("98,765,432 JPY", exact=True).first.is_visible()
        assert results.get_by_text("1,234,567.890 KWD", exact=True).first.is_visible()
        assert results.get_by_text("0.001 KWD → next", exact=True).first.is_visible()
        # The September period in Paris time, not "Aug 31, 10 p.m. → Sep 30, 10 p.m.".
        assert results.get_by_text("2026-09-01 → 2026-10-01 CEST").first.is_visible()
        assert_fits(page)
        assert_no_wrapped_amount(page)
    finally:
        save(page, "admin_distributions_changelist")


def test_payouts_changelist(live_server, pages, paris_world):
    page = pages
    page.goto(f"{live_server.url}/admin/obligations/payout/")
    try:
        results = page.locator("#result_list")
        assert results.get_by_text("155.07 USD", exact=True).is_visible()
        assert results.get_by_text("1,000,000.05 USD", exact=True).is_visible()
        assert results.get_by_text("12,345 JPY", exact=True).is_visible()
        assert_fits(page)
        assert_no_wrapped_amount(page)
    finally:
        save(page, "admin_payouts_changelist")


def test_fulfillment_change_page(live_server, pages, paris_world):
    page = pages
    fulfillment: Fulfillment = paris_world["fulfillment"]
    page.goto(f"{live_server.url}/admin/obligations/fulfillment/{fulfillment.pk}/change/")
    try:
        # Totals per units: 155.07 + 1,170.88 + 6 × 1,000,000.00 (+ 0.15) USD, and 12,345 JPY.
        totals = page.locator(".field-fulfillment_total")
        assert "6,001,326.10 USD" in totals.inner_text()
        assert "12,345 JPY" in totals.inner_text()
        payouts = page.locator(".inline-group")
        assert payouts.get_by_text("155.07 USD", exact=True).is_visible()
        assert payouts.get_by_text("1,170.88 USD", exact=True).is_visible()
        assert "(Europe/Paris)" in page.locator(".field-created_at").inner_text()
        assert page.get_by_role("link", name="Download payouts CSV").is_visible()
        assert_no_wrapped_amount(page)
    finally:
        save(page, "admin_fulfillment_change")
    assert Fulfillment.objects.get(pk=fulfillment.pk).status == "processing"
    assert Distribution.objects.filter(status="processing").count() == 15


@pytest.mark.parametrize(
    ("name", "path", "shown"),
    [
        ("admin_fulfillments_changelist", "/admin/obligations/fulfillment/", "6,001,326.10 USD"),
        ("admin_allocations_changelist", "/admin/distributions/allocation/", "155.07 USD"),
        ("admin_distributors_changelist", "/admin/distributors/distributor/", "123,456,789.01 USD"),
        ("admin_engine_runs_changelist", "/admin/distributions/enginerun/", "UTC"),
    ],
)
def test_other_lists_fit(live_server, pages, paris_world, name, path, shown):
    from tests.factories import EngineRunFactory

    EngineRunFactory(started_at=PARIS_MONTHS[-1][1], as_of=PARIS_MONTHS[-1][1], status="succeeded")
    page = pages
    page.goto(f"{live_server.url}{path}")
    try:
        assert page.locator("#result_list").get_by_text(shown).first.is_visible()
        assert_fits(page)
    finally:
        save(page, name)


def test_collaborator_and_distributor_change_pages(live_server, pages, paris_world, ada):
    page = pages
    page.goto(f"{live_server.url}/admin/collaborators/collaborator/{ada.pk}/change/")
    try:
        earnings = page.locator("#earnings")
        assert earnings.get_by_text("155.07 USD").first.is_visible()
        assert "2026-09-01 → 2026-10-01 CEST" in earnings.inner_text()
    finally:
        save(page, "admin_collaborator_change")
    distributor = paris_world["september"].distributor
    page.goto(f"{live_server.url}/admin/distributors/distributor/{distributor.pk}/change/")
    try:
        assert page.locator("#id_pool_amount").input_value() == "123456789.01"
        assert page.locator("#id_starts_at_0").input_value() == "2026-05-01"  # Paris midnight, stored 22:00 UTC
        assert "Local time in Europe/Paris" in page.locator(".field-starts_at").inner_text()
    finally:
        save(page, "admin_distributor_change")
