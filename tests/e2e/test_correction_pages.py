"""The "Correct" action in a real browser: the dry-run page of a period with a late credit, applying it with a
reason, and the stored correction's page. Screenshots: tests/artifacts/correction_*.png (kept on success too)."""

from datetime import timedelta

import pytest

from distributions.models import Correction, Distribution
from distributions.services import distribution_open_first
from tests.distributions.helpers import JAN_1, credit, run_engine
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import log_in, run_action
from tests.factories import CollaboratorFactory, DistributorFactory

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "correct horse battery")


def save(page, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def late_period(org):
    org.timezone = "Europe/Paris"
    org.save()
    distributor = DistributorFactory(
        organization=org, name="Monthly sales pool", pool_amount=1_000_00, obligation_start_status="approved"
    )
    distribution_open_first(distributor=distributor)
    people = [CollaboratorFactory(organization=org, full_name=name) for name in ("Ada Lovelace", "Alan Turing")]
    for person in people:
        credit(person, distributor, 10, JAN_1 + timedelta(days=10))
    run_engine("--now", "2026-02-01T00:00:00Z")
    credit(people[0], distributor, 30, JAN_1 + timedelta(days=20), late_reason="CRM export arrived late")
    return Distribution.objects.exclude(status="pending").get(distributor=distributor), people


def open_correct_page(page, live_server, distribution):
    """Log in and run the "Correct" action on ``distribution`` from the distributions list."""
    log_in(page, live_server, VIEWPORT)
    run_action(
        page,
        f"{live_server.url}/admin/distributions/distribution/",
        distribution.pk,
        "Correct the selected distribution from the ledger",
    )
    page.wait_for_selector("#correct-form")


def test_correct_a_period_from_the_admin(live_server, page, staff, late_period):
    from obligations.services import obligation_adjust

    distribution, people = late_period
    obligation_adjust(  # staff's own adjustment of the period: shown, neither counted nor undone
        organization=distribution.organization,
        collaborator=people[1],
        value=1_250,
        units="USD",
        reason="goodwill",
        adjusts_distribution=distribution,
    )
    open_correct_page(page, live_server, distribution)
    save(page, "correction_dry_run")
    assert "1 adjustment(s) by staff, 12.50 USD in all" in page.inner_text("#correction-summary")
    lines = page.locator("#correction-lines")
    assert lines.get_by_text("Ada Lovelace").is_visible()
    assert lines.get_by_text("800.00 USD").is_visible() and lines.get_by_text("-300.00 USD").is_visible()
    assert page.get_by_text("1 credit(s)").is_visible()
    assert Correction.objects.count() == 0  # the page is a dry run
    page.fill("#id_reason", "CRM export arrived late")
    page.click("#correct-form input[type=submit]")
    page.wait_for_selector(".messagelist")
    correction = Correction.objects.get()
    assert f"Correction {correction.pk} of distribution {distribution.pk}: 2 adjustment(s)" in page.inner_text(
        ".messagelist"
    )
    page.goto(f"{live_server.url}/admin/distributions/correction/{correction.pk}/change/")
    save(page, "correction_change")
    body = page.inner_text("#content")
    assert "CRM export arrived late" in body and "staff:staff" in body
    assert "CET" in body  # the organization's zone
    assert "300.00 USD" in body and "-300.00 USD" in body and "800.00 USD" in body
    page.goto(f"{live_server.url}/admin/distributions/distribution/{distribution.pk}/change/")
    save(page, "correction_distribution")
    assert page.get_by_role("link", name=f"Correction {correction.pk}").is_visible()


def test_a_refused_payment_is_corrected_pending_and_a_changed_ledger_is_shown_again(
    live_server, page, staff, late_period
):
    from obligations.models import Obligation
    from obligations.services import obligations_transition

    distribution, (ada, turing) = late_period
    refused = Obligation.objects.get(allocation__distribution=distribution, collaborator=ada)
    obligations_transition(obligation_ids=[refused.pk], status="rejected", reason="duplicate account", actor="t")
    open_correct_page(page, live_server, distribution)
    assert "pending" in page.locator("#correction-lines tr", has_text="Ada Lovelace").inner_text()
    assert "approved" in page.locator("#correction-lines tr", has_text="Alan Turing").inner_text()
    save(page, "correction_pending_line")
    # Booked while the page is open: the confirmation must not write the differences the page showed.
    credit(turing, distribution.distributor, 10, JAN_1 + timedelta(days=21), late_reason="second export")
    page.fill("#id_reason", "CRM export arrived late")
    page.click("#correct-form input[type=submit]")
    page.wait_for_selector(".messagelist .warning")
    assert "review it again" in page.inner_text(".messagelist")
    assert Correction.objects.count() == 0
    page.wait_for_selector("#correct-form")
    assert page.get_by_text("2 credit(s)").is_visible()  # the page as the ledger is now
    save(page, "correction_ledger_changed")
    page.click("#correct-form input[type=submit]")  # the reason is still filled in
    page.wait_for_selector(".messagelist .success")
    assert "1 pending" in page.inner_text(".messagelist")
    correction = Correction.objects.get()
    assert correction.lines.get(collaborator=ada).adjustment.status == "pending"


def test_adjust_a_distribution_for_one_collaborator_from_the_admin(live_server, page, staff, late_period, org):
    from obligations.models import Obligation

    distribution, _people = late_period
    missed = CollaboratorFactory(organization=org, full_name="Grace Hopper")
    log_in(page, live_server, VIEWPORT)
    run_action(
        page,
        f"{live_server.url}/admin/distributions/distribution/",
        distribution.pk,
        "Adjust the selected distribution for one collaborator",
    )
    page.wait_for_selector("#adjust-form")
    page.fill("#id_collaborator", "nobody")
    page.fill("#id_value", "12.345")
    page.fill("#id_reason", "Missed by the CRM export")
    page.click("#adjust-form input[type=submit]")
    page.wait_for_selector(".errornote")
    text = page.inner_text("#adjust-form")
    assert "No collaborator 'nobody'" in text and "more decimal places than USD allows" in text
    assert not Obligation.objects.filter(award_type="adjustment").exists()
    page.fill("#id_collaborator", str(missed.pk))
    page.fill("#id_value", "12.50")
    save(page, "distribution_adjust")
    page.click("#adjust-form input[type=submit]")
    page.wait_for_selector(".messagelist")
    made = Obligation.objects.get(award_type="adjustment")
    assert (made.collaborator_id, made.value, made.units, made.adjusts_distribution_id) == (
        missed.pk,
        1250,
        "USD",
        distribution.pk,
    )
    assert f"created for distribution {distribution.pk}" in page.inner_text(".messagelist")
    # Both admin histories say it: the adjustment's ("created as an adjustment of …") and the distribution's.
    from django.contrib.admin.models import LogEntry

    logged = LogEntry.objects.get(object_id=str(distribution.pk), content_type__model="distribution")
    assert logged.change_message == f"Adjusted by adjustment {made.pk}. Reason: Missed by the CRM export"


def test_an_uncertain_correction_needs_its_lines_checked(live_server, page, staff, org):
    org.timezone = "Europe/Paris"
    org.save()
    distributor = DistributorFactory(
        organization=org,
        name="Winner takes all",
        pool_amount=1_000_00,
        distribution_resolver="topN",
        top_n_weights=[100],
        obligation_start_status="approved",
    )
    distribution_open_first(distributor=distributor)
    names = ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    ada, alan, grace = (CollaboratorFactory(organization=org, full_name=name) for name in names)
    for person, points in ((ada, 10), (alan, 5), (grace, 20)):
        credit(person, distributor, points, JAN_1 + timedelta(days=10))
    type(grace).objects.filter(pk=grace.pk).update(status="inactive")  # on leave when the trigger ran
    run_engine("--now", "2026-02-01T00:00:00Z")
    type(grace).objects.filter(pk=grace.pk).update(status="active")
    distribution = Distribution.objects.exclude(status="pending").get(distributor=distributor)
    open_correct_page(page, live_server, distribution)
    assert page.get_by_text("cannot be told from those the trigger counted without paying").is_visible()
    save(page, "correction_uncertain")
    page.fill("#id_reason", "Grace was on leave")
    page.click("#correct-form input[type=submit]")  # not confirmed: nothing written, the page again
    page.wait_for_selector(".messagelist .warning")
    assert "Check those lines" in page.inner_text(".messagelist")
    assert not Correction.objects.exists()
    page.check("#accept-uncertain input[type=checkbox]")
    page.click("#correct-form input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    assert Correction.objects.get().lines.get(collaborator=grace).corrected_value == 1_000_00
