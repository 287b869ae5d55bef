"""A distribution's admin page in a real browser (Debian's Chromium, headless, via Playwright): a triggered one
explains its money (pool, rule, each share's exact value and rounding unit, the chart), and a pending one shows
its standings so far. Both pages are saved to tests/artifacts/ whether the test passes or fails, so they can be
looked at: admin_distribution_triggered.png and admin_distribution_standings.png.
"""

import pytest

from distributions.models import Distribution
from distributions.services import distribution_open_first
from organizations.models import Organization
from tests.distributions.helpers import at, credit, run_engine
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import log_in
from tests.factories import CollaboratorFactory, DistributorFactory

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth"]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "correct horse battery")


@pytest.fixture
def paris_pool():
    """A monthly pool of 1,000.00 EUR in Paris, split among six people; September triggered, October open."""
    organization = Organization.objects.create(name="Acme", slug="acme-paris", timezone="Europe/Paris")
    distributor = DistributorFactory(
        organization=organization,
        name="Monthly pool",
        units="EUR",
        pool_amount=100_000,
        distribution_resolver="performanceSharedPool",
        starts_at=at("2026-08-31T22:00:00Z"),  # 1 Sep, local midnight
    )
    distribution_open_first(distributor=distributor)
    people = [CollaboratorFactory(organization=organization, full_name=name) for name in NAMES]
    for person, points in zip(people, [70, 45, 45, 30, 7, 2], strict=True):
        credit(person, distributor, points, at("2026-09-10T08:00:00Z"))
    run_engine("--now", "2026-10-01T00:00:00Z", "--distributor", str(distributor.pk))
    for person, points in zip(people, [12, 30, 30, 5, 0, 1], strict=True):
        if points:
            credit(person, distributor, points, at("2026-10-05T08:00:00Z"))
    return distributor


def test_a_distribution_page_explains_the_money(live_server, page, staff, paris_pool):
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, live_server)
    september = Distribution.objects.get(distributor=paris_pool, status="processing")
    october = Distribution.objects.get(distributor=paris_pool, status="pending")
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(f"{live_server.url}/admin/distributions/distribution/{september.pk}/change/")
    try:
        assert "Monthly pool · 1 Sep – 30 Sep 2026 (Europe/Paris)" in page.locator("#content").inner_text()
        explanation = page.locator("#distribution-explanation").inner_text()
        assert "1,000.00 EUR = 1,000.00 EUR (a fixed 1,000.00 EUR per period)" in explanation
        assert "Proportional to score (performanceSharedPool)" in explanation
        assert page.locator("#distribution-explanation svg circle").count() == 6
        allocations = page.locator(".inline-group").inner_text()
        # 70 of 199 points: 351.758793… EUR, rounded down to 351.75 and given one of the two units left over.
        assert "Ada Lovelace" in allocations and "35.18 %" in allocations and "351.758793… EUR" in allocations
        assert "Allocation " not in allocations  # no stray row title
        assert allocations.count("yes: larger remainder") == 2
    finally:
        page.screenshot(path=str(ARTIFACTS / "admin_distribution_triggered.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/distributions/distribution/{october.pk}/change/")
    try:
        content = page.locator("#content").inner_text()
        assert "Monthly pool · 1 Oct – 31 Oct 2026 (Europe/Paris)" in content
        assert "Standings so far: what a trigger would pay now" in content
        standings = page.locator("#standings").inner_text()
        assert "Projected shares 1–5 of 5" in standings
        first = page.locator("#standings tbody tr").first.inner_text()
        assert "Alan Turing" in first and "384.62 EUR" in first  # 30 of 78 points, the earlier id first
        assert page.locator("#distribution-explanation svg circle").count() == 5
        assert page.locator(".inline-group").count() == 0  # no empty allocations table
    finally:
        page.screenshot(path=str(ARTIFACTS / "admin_distribution_standings.png"), full_page=True)
