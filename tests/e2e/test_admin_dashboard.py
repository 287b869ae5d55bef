"""The admin index's money dashboard in a real browser (Debian's Chromium, headless, via Playwright).

A staff member logs in and sees, above Django's app list: an overdue period in red, the last engine run and
its outcome, the obligations awaiting approval with their amounts and units, the next triggers in the
organization's zone, and the pool-against-paid chart. The page is saved to tests/artifacts/admin_dashboard.png
whether the test passes or fails, so it can be looked at.
"""

import pytest
from django.utils import timezone

from tests.distributions.dashboard_data import money_world
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = ARTIFACTS / "admin_dashboard.png"


def text_of(locator) -> str:
    """What the locator shows, with the non-breaking spaces of "1\xa0hour" as plain spaces."""
    return locator.inner_text().replace("\xa0", " ")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "correct horse battery")


@pytest.fixture
def money(org):
    org.name, org.timezone = "Acme", "Europe/Paris"
    org.save()
    return money_world(
        org,
        now=timezone.now(),
        distributors=3,
        periods=6,
        paid_per_period=2,
        unpaid_per_period=1,
        pending_obligations=3,
        overdue=1,
        units=("USD", "points", "JPY"),
    )


@pytest.fixture
def screenshot(page):
    """Save the page once the test is done, passed or failed."""
    yield
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    print(f"screenshot: {SCREENSHOT}")


def test_staff_see_the_money_on_the_admin_index(live_server, page, staff, money, screenshot):
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "correct horse battery")
    page.click("input[type=submit]")
    page.wait_for_selector("#money-dashboard")

    overdue = page.locator("#dash-overdue")
    assert overdue.is_visible()
    banner = text_of(overdue)
    assert "1 overdue period" in banner and "overdue by 1 hour" in banner
    assert money.overdue[0].distributor.name in banner
    # Red at a glance: the banner takes the admin's error colour.
    border = overdue.evaluate("element => getComputedStyle(element).borderTopColor")
    assert border == "rgb(186, 33, 33)", border

    run = text_of(page.locator("#dash-run"))
    assert "Last engine run" in run and "succeeded" in run.lower()

    approvals = text_of(page.locator("#dash-approvals"))
    assert "9 obligations" in approvals
    assert "37.02 USD" in approvals and "3,702 JPY" in approvals and "3,702 points" in approvals

    upcoming = text_of(page.locator("#dash-next"))
    assert "Europe/Paris" in upcoming
    assert money.upcoming[0].distributor.name in upcoming

    chart = page.locator("#dash-chart")
    assert chart.locator("svg").count() == 3
    assert chart.locator("rect.dash-paid").count() == 18
    first_bar = chart.locator("rect.dash-pool").first.bounding_box()
    assert first_bar is not None and first_bar["height"] > 0 and first_bar["width"] > 0

    # Django's app list and recent actions are still there, below the dashboard.
    assert page.locator("#content-main .app-distributions").is_visible()
    assert page.locator("#recent-actions-module").is_visible()
    dashboard_bottom = page.locator("#money-dashboard").bounding_box()
    app_list_top = page.locator("#content-main").bounding_box()
    assert dashboard_bottom["y"] + dashboard_bottom["height"] <= app_list_top["y"] + 1
