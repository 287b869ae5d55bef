"""A heartbeat killed with SIGKILL in the middle of a large trigger leaves no half-written distribution;
the next run completes it, and the result equals a clean run's (PostgreSQL)."""

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from collaborators.models import Collaborator
from distributions.models import Allocation, Distribution, EngineRun
from distributions.services import distribution_open_first
from metrics.models import CreditRequest, MetricCredit
from obligations.models import Obligation
from tests.factories import DistributorFactory, OrganizationFactory
from tests.proofs.helpers import assert_nothing_half_written, results_snapshot
from tests.races import Race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

COLLABORATORS = 40_000
NOW = "2026-02-15T00:00:00Z"


def build_large_due_distribution():
    organization = OrganizationFactory(slug="large")
    distributor = DistributorFactory(
        organization=organization, pool_amount=123_456_789, starts_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    distribution_open_first(distributor=distributor)
    Collaborator.objects.bulk_create(
        Collaborator(organization=organization, full_name=f"C{n}", email=f"c{n}@example.com")
        for n in range(COLLABORATORS)
    )
    request = CreditRequest.objects.create(
        organization=organization, request_fingerprint="f" * 64, source="command", created_at=datetime.now(UTC)
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    MetricCredit.objects.bulk_create(
        (
            MetricCredit(
                organization=organization,
                request=request,
                distributor=distributor,
                collaborator_id=pk,
                metric_type="manual",
                quantity=1 + pk % 97,
                points_per_unit=1,
                points=1 + pk % 97,
                credited_at=start + timedelta(minutes=1 + pk % 40_000),
            )
            for pk in Collaborator.objects.filter(organization=organization).values_list("pk", flat=True)
        ),
        batch_size=5_000,
    )
    # Deliberately no ANALYZE: like a freshly deployed database, the tables have no statistics, and the
    # trigger must not depend on them (without enable_nestloop = off the score aggregate took ~100 s here).
    return distributor


def kill_mid_trigger(race: Race) -> str:
    """Start a heartbeat and SIGKILL it while it is writing the trigger; return what it was doing."""
    process = race.process("run_distributions", "--now", NOW)

    def writing():
        if not process.alive():
            pytest.fail(f"the run ended before it was seen writing; make the trigger larger: {process.wait().stderr}")
        return next(
            (
                query
                for _pid, state, _type, _event, query in race.activity(process)
                if state == "active" and ("obligations_obligation" in query or "distributions_allocation" in query)
            ),
            None,
        )

    seen = race.wait_until(writing, "the run writing its trigger", timeout=120, poll=0.002)
    process.popen.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    # Its server backend rolls back once it notices the client is gone; wait for that before looking.
    race.wait_until(lambda: not race.activity(process), "the killed run's backend end", timeout=30)
    return seen[:80]


def test_a_killed_run_leaves_nothing_half_written_and_the_next_run_completes():
    started = time.monotonic()
    build_large_due_distribution()
    print(f"built in {time.monotonic() - started:.1f} s")
    with Race(timeout=300) as race:
        killed_while = kill_mid_trigger(race)
    print(f"killed at {time.monotonic() - started:.1f} s while running: {killed_while}")

    assert_nothing_half_written()
    january = Distribution.objects.get(trigger_date=datetime(2026, 2, 1, tzinfo=UTC))
    assert january.status == "pending", f"killed while running: {killed_while}"
    assert not Obligation.objects.exists() and not Allocation.objects.exists()

    with Race(timeout=300) as race:
        again = race.process("run_distributions", "--now", NOW)
    assert again.returncode == 0, again.stderr
    print(f"re-run done at {time.monotonic() - started:.1f} s")
    assert_nothing_half_written()
    after_kill = results_snapshot()
    january.refresh_from_db()
    assert january.status == "processing" and january.value == 123_456_789
    assert Allocation.objects.count() == COLLABORATORS

    # A clean run over the same inputs gives the very same distributions and shares.
    Allocation.objects.all().delete()
    Obligation.objects.all().delete()
    EngineRun.objects.all().delete()
    Distribution.objects.exclude(pk=january.pk).delete()
    Distribution.objects.filter(pk=january.pk).update(
        status="pending", pool=None, value=0, unallocated=0, triggered_at=None
    )
    print(f"reset done at {time.monotonic() - started:.1f} s")
    with Race(timeout=300) as race:
        clean = race.process("run_distributions", "--now", NOW)
    assert clean.returncode == 0, clean.stderr
    assert results_snapshot() == after_kill
