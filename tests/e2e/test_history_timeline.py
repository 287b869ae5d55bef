"""The "Status history" timeline of a change page in a real browser (Debian's Chromium, headless, via
Playwright): an obligation's and a distribution's moves, times in the organization's zone (Paris), from → to,
who and why, newest last, read only. Both pages are saved to tests/artifacts/ whether the test passes or fails:
history_obligation.png and history_distribution.png.
"""

import pytest

from distributions.models import Distribution, EngineRun
from distributions.services import distribution_open_first
from lifecycle.models import StatusChange
from obligations.services import obligations_transition
from organizations.models import Organization
from tests.distributions.helpers import at, credit, run_engine
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import log_in
from tests.factories import CollaboratorFactory, DistributorFactory, ObligationFactory

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1366, "height": 900}
# How many lines an element's text takes.
LINES = (
    "el => { const r = document.createRange(); r.selectNodeContents(el);"
    " return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }"
)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "correct horse battery")


@pytest.fixture
def paris():
    return Organization.objects.create(name="Acme", slug="acme-history", timezone="Europe/Paris")


def timeline_rows(page) -> list[str]:
    return [row.inner_text() for row in page.locator(".field-status_history table.status-history tbody tr").all()]


def test_an_obligations_timeline(live_server, page, staff, paris):
    obligation = ObligationFactory(
        organization=paris,
        collaborator=CollaboratorFactory(organization=paris, full_name="Ada Lovelace"),
        value=15_507,
        units="EUR",
        description="Conference talk",
    )
    obligations_transition(
        obligation_ids=[obligation.pk], status="approved", reason="Checked the invoice", actor="staff:ann"
    )
    obligations_transition(
        obligation_ids=[obligation.pk],
        status="cancelled",
        reason="Paid twice: the same talk was also booked as obligation 4711 by the events team, which was kept.",
        actor="api:ab12cd34",
    )
    moves = StatusChange.objects.filter(model="obligations.obligation", object_id=obligation.pk).order_by("id")
    first, second = moves

    log_in(page, live_server, VIEWPORT)
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{live_server.url}/admin/obligations/obligation/{obligation.pk}/change/")
    try:
        section = page.locator(".field-status_history")
        assert "Status history" in page.locator("fieldset", has=section).inner_text()
        header = section.locator("thead").text_content()
        assert "Time (Europe/Paris)" in header and "Move" in header and "By" in header and "Reason" in header
        rows = timeline_rows(page)
        assert len(rows) == 2
        local = first.at.astimezone(paris.tzinfo).strftime("%Y-%m-%d %H:%M:%S %Z")
        assert rows[0].startswith(local)
        assert "Pending → Approved" in rows[0] and "staff:ann" in rows[0] and "Checked the invoice" in rows[0]
        assert "Approved → Cancelled" in rows[1] and "api:ab12cd34" in rows[1] and "obligation 4711" in rows[1]
        assert second.at >= first.at
        # Read only: nothing of the timeline is a form control, and each time's hover gives UTC.
        assert section.locator("input, select, textarea").count() == 0
        assert section.locator("time").first.get_attribute("title").endswith(" UTC")
        # One line per move at this width: the time and the move never wrap.
        for cell in section.locator("tbody tr td:nth-child(-n+3)").all():
            assert cell.evaluate(LINES) == 1, cell.inner_text()
        # The long reason wraps inside the table, which stays within the page.
        assert section.locator("tbody tr").nth(1).locator("td").nth(3).evaluate(LINES) > 1
        assert section.locator("table").bounding_box()["width"] <= VIEWPORT["width"]
    finally:
        page.screenshot(path=str(ARTIFACTS / "history_obligation.png"), full_page=True)


def test_a_distributions_timeline(live_server, page, staff, paris):
    distributor = DistributorFactory(
        organization=paris,
        name="Monthly pool",
        units="EUR",
        pool_amount=100_000,
        distribution_resolver="performanceSharedPool",
        starts_at=at("2026-08-31T22:00:00Z"),  # 1 Sep, local midnight
    )
    distribution_open_first(distributor=distributor)
    for name, points in (("Ada Lovelace", 70), ("Alan Turing", 45)):
        credit(CollaboratorFactory(organization=paris, full_name=name), distributor, points, at("2026-09-10T08:00:00Z"))
    run_engine("--now", "2026-10-01T00:00:00Z", "--distributor", str(distributor.pk))
    september = Distribution.objects.get(distributor=distributor, status="processing")
    run = EngineRun.objects.order_by("-id").first()
    history = StatusChange.objects.filter(model="distributions.distribution", object_id=september.pk)
    assert history.count() == 1, "the trigger records its move"
    assert history.get().actor == f"engine:run {run.pk}"
    move = history.order_by("id").last()

    log_in(page, live_server, VIEWPORT)
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{live_server.url}/admin/distributions/distribution/{september.pk}/change/")
    try:
        section = page.locator(".field-status_history")
        assert "Time (Europe/Paris)" in section.locator("thead").text_content()
        rows = timeline_rows(page)
        assert rows, "no move shown"
        last = rows[-1]
        assert last.startswith(move.at.astimezone(paris.tzinfo).strftime("%Y-%m-%d %H:%M:%S %Z"))
        assert "Pending → Processing" in last and move.actor in last
        assert section.locator("input, select, textarea").count() == 0
        # The timeline comes before the allocations, after the distribution's own fields.
        history_top = section.bounding_box()["y"]
        assert history_top < page.locator(".inline-group").first.bounding_box()["y"]
    finally:
        page.screenshot(path=str(ARTIFACTS / "history_distribution.png"), full_page=True)
