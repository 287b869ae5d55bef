"""A credit racing the heartbeat is never lost (PostgreSQL).

A credit's instant decides its period, so a credit stamped inside a period must commit before that period's
scores are read. ``metric_credit`` share-locks the open periods before stamping: a trigger already holding
the period makes the credit wait (a real-time credit then falls in the next period; a back-dated one into
the closed period is refused, never written where it cannot count), and a trigger that comes while a credit
holds the period skips it until the next heartbeat.
"""

import io
import time
from datetime import UTC, datetime

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from distributions.models import Distribution
from distributions.services import distribution_open_first
from metrics.models import MetricCredit
from tests.factories import CollaboratorFactory, DistributorFactory
from tests.proofs.conftest import database_url, manage_process

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JANUARY_15 = datetime(2026, 1, 15, tzinfo=UTC)


@pytest.fixture
def open_period():
    distributor = DistributorFactory(starts_at=datetime(2026, 1, 1, tzinfo=UTC))
    collaborator = CollaboratorFactory(organization=distributor.organization)
    return distribution_open_first(distributor=distributor), collaborator


def wait_until_blocked(process, timeout: float = 60) -> None:
    # Its own autocommit connection: inside a transaction pg_stat_activity is one snapshot that never changes.
    with psycopg.connect(database_url(), autocommit=True) as watcher:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if row[0]:
                return
            time.sleep(0.02)
    process.kill()
    raise AssertionError(f"the credit never waited for the trigger's lock: {process.communicate()}")


def test_a_credit_waits_for_a_running_trigger_and_never_lands_in_the_closed_period(open_period):
    distribution, collaborator = open_period
    with psycopg.connect(database_url()) as trigger:  # plays the heartbeat: lock, read scores, close, commit
        trigger.execute("SELECT id FROM distributions_distribution WHERE id = %s FOR UPDATE", [distribution.pk])
        # A separate process, as a real credit would be: it must wait for the trigger to commit.
        credit = manage_process(
            "credit_metric",
            "--organization",
            collaborator.organization.slug,
            "--collaborator",
            str(collaborator.pk),
            "--at",
            JANUARY_15.isoformat(),
        )
        wait_until_blocked(credit)
        trigger.execute(
            "UPDATE distributions_distribution SET status = 'complete', pool = 0, value = 0, unallocated = 0, "
            "triggered_at = now() WHERE id = %s",
            [distribution.pk],
        )
        trigger.commit()
        _, stderr = credit.communicate(timeout=60)

    assert credit.returncode != 0
    assert "already distributed" in stderr, stderr
    assert not MetricCredit.objects.exists()


def test_a_trigger_skips_a_period_a_credit_is_being_written_into(open_period):
    distribution, _ = open_period
    with psycopg.connect(database_url()) as credit:  # plays a credit in flight: holds the period's share lock
        credit.execute("SELECT id FROM distributions_distribution WHERE id = %s FOR KEY SHARE", [distribution.pk])
        call_command("run_distributions", "--now", "2026-02-15T00:00:00Z", stdout=io.StringIO())
        distribution.refresh_from_db()
        assert distribution.status == "pending"
        credit.commit()
    call_command("run_distributions", "--now", "2026-02-15T00:00:00Z", stdout=io.StringIO())
    distribution.refresh_from_db()
    assert distribution.status == "complete"
    assert Distribution.objects.filter(distributor=distribution.distributor, status="pending").count() == 1
    assert connection.vendor == "postgresql"
