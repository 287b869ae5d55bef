"""Holds, minimum payouts and adjustments in a real browser at 1366x768 (Debian's Chromium, headless, Playwright).

Staff set a distributor's hold, see when a held obligation is released, configure a minimum payout, claw back
part of a paid obligation with the "Adjust" action, and read on the fulfillment page what it held back and why.
Each page is saved to tests/artifacts/money_*.png whether the test passes or fails, so it can be looked at.
"""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from distributions.services import payouts_mark_paid_and_follow
from obligations.models import Fulfillment, MinimumPayout, Obligation
from obligations.services import fulfillment_generate
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import log_in, run_action
from tests.factories import AllocationFactory, CollaboratorFactory, DistributorFactory, ObligationFactory

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "correct horse battery")


@pytest.fixture
def money_world(org, ada, alan):
    """Acme: a distributor holding its obligations 14 days with one held obligation (Alan), and Ada's paid
    100.00 USD obligation."""
    distributor = DistributorFactory(organization=org, name="Monthly revenue share", hold_days=14)
    held = AllocationFactory(
        distribution__distributor=distributor,
        distribution__triggered_at=datetime(2026, 3, 1, tzinfo=UTC),
        collaborator=alan,
        value=4200,
        obligation__release_at=datetime(2026, 3, 15, tzinfo=UTC),
    ).obligation
    paid = ObligationFactory(organization=org, collaborator=ada, value=10000, status="approved")
    payouts_mark_paid_and_follow(payouts=fulfillment_generate(organization=org).payouts.all())
    paid.refresh_from_db()
    return {"distributor": distributor, "held": held, "paid": paid}


def save(page, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_hold_minimum_and_clawback_through_the_admin(live_server, page, staff, money_world):
    log_in(page, live_server, VIEWPORT)
    base = f"{live_server.url}/admin"

    # The distributor's hold, in its form.
    page.goto(f"{base}/distributors/distributor/{money_world['distributor'].pk}/change/")
    assert page.input_value("#id_hold_days") == "14"
    page.locator("#id_hold_days").scroll_into_view_if_needed()
    save(page, "money_distributor_hold")

    # A held obligation says when it is released.
    page.goto(f"{base}/obligations/obligation/{money_world['held'].pk}/change/")
    assert "2026-03-15 00:00:00 UTC" in page.locator(".field-release_at").inner_text()
    save(page, "money_obligation_held")

    # A minimum payout of 50.00 USD, typed in major units.
    page.goto(f"{base}/obligations/minimumpayout/add/")
    page.click(".field-organization .select2-selection")  # the organization autocomplete
    page.fill(".select2-search__field", "Acme")
    page.click(".select2-results__option >> text=Acme")
    page.fill("#id_units", "USD")
    page.fill("#id_amount", "50.00")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    assert MinimumPayout.objects.get().amount == 5000
    assert "50.00 USD" in page.locator("#result_list").inner_text()
    save(page, "money_minimum_payouts")

    # Claw back 120.00 of Ada's paid 100.00 (more than she earned): a net debt of 20.00.
    paid = money_world["paid"]
    run_action(
        page, f"{base}/obligations/obligation/", paid.pk, "Adjust the selected obligation (adjustment or clawback)"
    )
    page.wait_for_selector("#adjust-form")
    page.fill("#id_value", "-120.001")  # more decimals than USD has, and a blank reason
    page.fill("#id_reason", "   ")
    page.click("#adjust-form input[type=submit]")
    page.wait_for_selector(".errornote")
    errors = page.locator(".errorlist").all_inner_texts()
    assert errors == ["'-120.001' has more decimal places than USD allows (2).", "An adjustment needs a reason."]
    save(page, "money_adjust_form_errors")
    page.fill("#id_value", "-120.00")
    page.fill("#id_reason", "Order 1042 refunded after payout")
    save(page, "money_adjust_form")
    page.click("#adjust-form input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert "Adjustment" in page.locator(".messagelist").inner_text()
    clawback = Obligation.objects.get(award_type="adjustment")
    assert (clawback.value, clawback.adjusts_obligation_id, clawback.status) == (-12000, paid.pk, "approved")
    page.goto(f"{base}/obligations/obligation/")
    listed = page.locator("#result_list").inner_text()
    assert "-120.00 USD" in listed and f"adjusts obligation #{paid.pk}" in listed
    save(page, "money_obligations_list")

    # Alan's hold ends and a fulfillment runs: Ada's new 100.00 leaves a 20.00 net debt, Grace's 12.50 is below
    # the minimum, Alan's 42.00 and 90.00 add up to a payout.
    org = paid.organization
    grace = CollaboratorFactory(organization=org, full_name="Grace Hopper")
    call_command("run_distributions", "--now", "2026-03-16T00:00:00Z")  # releases Alan's held obligation
    assert Obligation.objects.get(pk=money_world["held"].pk).status == "approved"
    ObligationFactory(organization=org, collaborator=paid.collaborator, value=10000, status="approved")
    ObligationFactory(organization=org, collaborator=money_world["held"].collaborator, value=9000, status="approved")
    ObligationFactory(organization=org, collaborator=grace, value=1250, status="approved")
    call_command("generate_fulfillment", "--organization", "acme")
    fulfillment = Fulfillment.objects.latest("pk")
    page.goto(f"{base}/obligations/fulfillment/{fulfillment.pk}/change/")
    held_back = page.locator(".field-fulfillment_held_back").inner_text()
    assert "Ada Lovelace" in held_back and "-20.00 USD\tnet debt" in held_back
    assert "Grace Hopper" in held_back and "12.50 USD\tbelow the minimum 50.00 USD" in held_back
    payouts = page.locator(".inline-group").inner_text()
    assert "Alan Turing" in payouts and "132.00 USD" in payouts  # 42.00 held before + 90.00 now
    save(page, "money_fulfillment_held_back")

    page.goto(f"{base}/obligations/fulfillment/")
    save(page, "money_fulfillments_list")
