"""An operator of one organization in a real browser (Debian's Chromium, headless, Playwright, 1366x768).

Logged in as an operator of Alpha, with the same data in Bravo: the index shows Alpha's money only; the
obligations list has no "Bravo" row, no Bravo organization to filter by, and the actions an operator may run;
approving a pending obligation asks for a note (the admin's confirmation page), and once confirmed the
obligation is approved and the note is in its history. The pages are saved to
tests/artifacts/admin_operator_flow.png (the list after the approval) and admin_operator_confirm.png (the
confirmation) whether the test passes or fails, so they can be looked at.
"""

import pytest

from obligations.models import Obligation, ObligationStatus
from organizations.models import Role
from tests.e2e.conftest import ARTIFACTS
from tests.organizations.tenancy_data import member, organization, rows_of, world

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1366, "height": 768}
PASSWORD = "correct horse battery"


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


@pytest.fixture
def alpha_and_bravo():
    alpha, bravo = organization("Alpha", timezone="Europe/Paris"), organization("Bravo", timezone="Asia/Tokyo")
    world(alpha, "Alpha")
    world(bravo, "Bravo")
    operator = member(Role.OPERATOR, alpha, username="olga")
    operator.set_password(PASSWORD)
    operator.save()
    return alpha, bravo


def test_an_operator_approves_an_obligation_of_their_organization_with_a_note(live_server, page, alpha_and_bravo):
    alpha, bravo = alpha_and_bravo
    pending = rows_of(Obligation, alpha).filter(status=ObligationStatus.PENDING, award_type="manual").get()
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")
    index = page.inner_text("#content")
    assert "Obligations" in index and "Distributors" in index
    assert "Bravo" not in index

    try:
        page.goto(f"{live_server.url}/admin/obligations/obligation/")
        rows = page.locator("#result_list tbody tr")
        listed = rows.all_inner_texts()
        assert listed and all("Bravo" not in text for text in listed)
        assert any("Alpha person" in text for text in listed)
        assert "Bravo" not in page.inner_text("#changelist-filter")
        actions = page.locator("select[name=action] option").all_inner_texts()
        assert "Approve selected obligations" in actions
        assert "Reject selected obligations" in actions

        page.check(f"input[name=_selected_action][value='{pending.pk}']")
        page.select_option("select[name=action]", "approve")
        page.click("button[name=index]")
        page.wait_for_selector("#action-reason-form")
        assert "Approve 1 obligation?" in page.inner_text("#content")
        page.fill("#id_reason", "Checked against the signed contract")
        shoot(page, "admin_operator_confirm.png")
        page.click("#action-reason-form input[type=submit]")
        page.wait_for_selector("ul.messagelist")
        assert "1 obligation(s) now approved." in page.inner_text("ul.messagelist")
        listed = page.locator("#result_list tbody tr").all_inner_texts()
        assert all("Bravo" not in text for text in listed)
    finally:
        shoot(page, "admin_operator_flow.png")

    pending.refresh_from_db()
    assert pending.status == ObligationStatus.APPROVED
    page.goto(f"{live_server.url}/admin/obligations/obligation/{pending.pk}/history/")
    assert "Approved. Reason: Checked against the signed contract" in page.inner_text("#content")

    # Bravo's obligation, typed in the address bar: Django's "doesn't exist".
    foreign = rows_of(Obligation, bravo).first()
    page.goto(f"{live_server.url}/admin/obligations/obligation/{foreign.pk}/change/")
    assert "doesn’t exist" in page.inner_text("ul.messagelist")
    # Its own, untouched: the approved one in a payout and its correction's adjustment.
    assert rows_of(Obligation, bravo).filter(status=ObligationStatus.APPROVED).count() == 2
