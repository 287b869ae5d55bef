"""The admin in a real browser: Debian's Chromium, headless, driven by Playwright against a live server.

A staff member logs in, opens a triggered distribution and sees its allocations, approves an obligation
with the admin action, batches it into a fulfillment and marks the payout paid. A failing test leaves a
screenshot in tests/artifacts/.
"""

import pytest
from django.core.management import call_command

from distributions.models import Distribution
from obligations.models import Obligation, Payout
from tests.e2e.helpers import run_action
from tests.factories import AllocationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "correct horse battery")


@pytest.fixture
def triggered_distribution(org, ada, alan):
    first = AllocationFactory(
        organization=org,
        distribution__distributor__organization=org,
        distribution__distributor__name="Monthly revenue share",
        collaborator=ada,
        value=700,
        distribution__value=1000,
        distribution__pool=1000,
        rank=1,
        score=70,
    )
    AllocationFactory(
        organization=org,
        distribution=first.distribution,
        collaborator=alan,
        value=300,
        rank=2,
        score=30,
    )
    return first.distribution


def test_staff_approve_and_pay_through_the_admin(live_server, page, staff, triggered_distribution):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "correct horse battery")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")

    page.goto(f"{live_server.url}/admin/distributions/distribution/{triggered_distribution.pk}/change/")
    allocations = page.locator(".inline-group").inner_text()
    assert "Ada Lovelace" in allocations and "Alan Turing" in allocations
    assert "7.00 USD" in allocations and "3.00 USD" in allocations  # 700 and 300 minor units, with the units

    obligation = Obligation.objects.get(allocation__collaborator__full_name="Ada Lovelace")
    run_action(page, f"{live_server.url}/admin/obligations/obligation/", obligation.pk, "Approve selected obligations")
    page.wait_for_selector("#action-reason-form")  # approving asks for an optional note first
    page.click("#action-reason-form input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert "1 obligation(s) now approved" in page.locator(".messagelist").inner_text()
    obligation.refresh_from_db()
    assert obligation.status == "approved"

    call_command("generate_fulfillment", "--organization", "acme")
    payout = Payout.objects.get(collaborator__full_name="Ada Lovelace")
    run_action(
        page, f"{live_server.url}/admin/obligations/payout/", payout.pk, "Mark paid (obligations become fulfilled)"
    )
    page.wait_for_selector(".messagelist")
    payout.refresh_from_db()
    obligation.refresh_from_db()
    assert payout.status == "paid" and payout.paid_at is not None
    assert obligation.status == "fulfilled"
    # Alan's obligation is still pending, so the distribution is still processing.
    assert Distribution.objects.get(pk=triggered_distribution.pk).status == "processing"
