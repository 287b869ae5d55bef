"""A heartbeat killed with SIGKILL in the middle of a large trigger leaves no half-written distribution;
the next run completes it, and the result equals a clean run's (PostgreSQL)."""

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from collaborators.models import Collaborator
from distributions.models import Allocation, Distribution, EngineRun
from distributions.services import distribution_open_first
from metrics.models import CreditRequest, MetricCredit
from obligations.models import Obligation
from tests.factories import DistributorFactory, OrganizationFactory
from tests.proofs.conftest import assert_nothing_half_written, manage_process, results_snapshot

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


def other_backends(where: str = "") -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database() "
            f"AND pid <> pg_backend_pid() {where}"
        )
        return cursor.fetchall()


def kill_mid_trigger() -> str:
    """Start a heartbeat and SIGKILL it while it is writing the trigger; return what it was doing."""
    process = manage_process("run_distributions", "--now", NOW)
    deadline = time.monotonic() + 120
    seen = None
    while time.monotonic() < deadline and process.poll() is None:
        writing = other_backends(
            "AND state = 'active' "
            "AND (query ILIKE '%obligations_obligation%' OR query ILIKE '%distributions_allocation%')"
        )
        if writing:
            seen = writing[0][2][:80]
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    process.wait(timeout=60)
    assert seen is not None, "the run ended before it was seen writing; make the trigger larger"
    assert process.returncode == -signal.SIGKILL
    # Its server backend rolls back once it notices the client is gone; wait for that before looking.
    for _ in range(500):
        if not other_backends():
            break
        time.sleep(0.02)
    return seen


def test_a_killed_run_leaves_nothing_half_written_and_the_next_run_completes():
    started = time.monotonic()
    build_large_due_distribution()
    print(f"built in {time.monotonic() - started:.1f} s")
    killed_while = kill_mid_trigger()
    print(f"killed at {time.monotonic() - started:.1f} s while running: {killed_while}")

    assert_nothing_half_written()
    january = Distribution.objects.get(trigger_date=datetime(2026, 2, 1, tzinfo=UTC))
    assert january.status == "pending", f"killed while running: {killed_while}"
    assert not Obligation.objects.exists() and not Allocation.objects.exists()

    again = manage_process("run_distributions", "--now", NOW)
    _, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
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
    clean = manage_process("run_distributions", "--now", NOW)
    _, stderr = clean.communicate(timeout=300)
    assert clean.returncode == 0, stderr
    assert results_snapshot() == after_kill
