"""A kill loop: heartbeats SIGKILLed again and again at random moments while they catch up a large
distributor's missed periods leave nothing half written, and once a run is let finish the result equals a
clean run's (PostgreSQL).

The CI variant is small and fast; the full one is a documented command (README, "Tests"):

    KILL_LOOP_KILLS=60 KILL_LOOP_COLLABORATORS=40000 DATABASE_URL=postgres://... \
        ./dev test tests/proofs/test_kill_loop.py
"""

import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from collaborators.models import Collaborator
from distributions.models import Allocation, Distribution, EngineRun
from distributions.services import distribution_open_first
from distributors.models import Distributor
from metrics.models import CreditRequest, MetricCredit
from obligations.models import Obligation
from tests.factories import DistributorFactory, OrganizationFactory
from tests.proofs.helpers import assert_nothing_half_written, results_snapshot
from tests.races import Race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

KILLS = int(os.environ.get("KILL_LOOP_KILLS", "8"))
COLLABORATORS = int(os.environ.get("KILL_LOOP_COLLABORATORS", "5000"))
START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = "2026-02-15T00:00:00Z"  # thirteen monthly periods are due: January 2025 to January 2026


def build():
    organization = OrganizationFactory(slug="killloop")
    distributor = DistributorFactory(organization=organization, pool_amount=9_999_991, starts_at=START)
    distribution_open_first(distributor=distributor)
    Collaborator.objects.bulk_create(
        Collaborator(organization=organization, full_name=f"C{n}", email=f"c{n}@example.com")
        for n in range(COLLABORATORS)
    )
    request = CreditRequest.objects.create(
        organization=organization, request_fingerprint="f" * 64, source="command", created_at=datetime.now(UTC)
    )
    ids = list(Collaborator.objects.filter(organization=organization).values_list("pk", flat=True))
    MetricCredit.objects.bulk_create(
        (
            MetricCredit(
                organization=organization,
                request=request,
                distributor=distributor,
                collaborator_id=pk,
                metric_type="manual",
                quantity=1 + (pk * 7 + month) % 13,
                points_per_unit=1,
                points=1 + (pk * 7 + month) % 13,
                credited_at=START + timedelta(days=30 * month + pk % 28, minutes=1),
            )
            for pk in ids
            for month in range(13)
            if (pk + month) % 3
        ),
        batch_size=10_000,
    )
    return distributor


def test_heartbeats_killed_at_random_moments_leave_nothing_half_written():
    distributor = build()
    rng = random.Random(int(os.environ.get("KILL_LOOP_SEED", "20261202")))
    killed, finished = 0, False
    with Race(timeout=900) as race:
        while killed < KILLS and not finished:
            process = race.process("run_distributions", "--now", NOW)
            # Once it talks to the database, let it work a random while (often mid-trigger), then kill it.
            race.wait_until(lambda p=process: race.activity(p) or not p.alive(), "the run at work", timeout=60)
            time.sleep(rng.uniform(0, 0.6))
            if not process.alive():
                process.wait()
                assert process.returncode == 0, process.stderr
                finished = True
                break
            process.popen.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            killed += 1
            race.wait_until(lambda p=process: not race.activity(p), "the killed run's backend end", timeout=30)
            assert_nothing_half_written()
        if not finished:
            last = race.process("run_distributions", "--now", NOW)
            last.wait()
            assert last.returncode == 0, last.stderr
    assert killed >= min(KILLS, 3), f"only {killed} runs were still working when killed: make the data larger"
    print(f"{killed} kills survived; {Distribution.objects.exclude(status='pending').count()} periods triggered")
    # The killed runs were marked abandoned by the runs after them; none is left "running".
    assert not EngineRun.objects.filter(status="running").exists()
    assert EngineRun.objects.filter(status="abandoned").count() == killed
    assert_nothing_half_written()
    triggered = Distribution.objects.filter(distributor=distributor).exclude(status="pending")
    assert triggered.count() == 13
    assert all(d.value == 9_999_991 for d in triggered)
    after_kills = results_snapshot()

    # A clean run over the same inputs gives the very same distributions and shares.
    Allocation.objects.all().delete()
    Obligation.objects.all().delete()
    EngineRun.objects.all().delete()
    Distribution.objects.all().delete()
    Distributor.objects.filter(pk=distributor.pk).update(distributed_through=None)
    distribution_open_first(distributor=Distributor.objects.get(pk=distributor.pk))
    with Race(timeout=600) as race:
        clean = race.process("run_distributions", "--now", NOW)
    assert clean.returncode == 0, clean.stderr
    assert results_snapshot() == after_kills
