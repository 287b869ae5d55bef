"""A distribution completes when its last open obligations close concurrently (PostgreSQL, READ COMMITTED).

``distributions_follow_obligations`` computed "has an open obligation" in the same statement that took the
distribution's row lock. Two staff closing the two open obligations of one distribution at the same time:
the second waits for the first's lock, then decides with the snapshot its statement took before the first
committed, still sees the first obligation open, and leaves the distribution ``processing`` for ever although
none of its obligations is open (the design: a distribution is complete once none is pending or approved).
"""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from distributions.models import Distribution
from obligations.services import obligations_transition
from tests.factories import AllocationFactory, CollaboratorFactory, DistributionFactory, DistributorFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _waiting_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row) and row[0] == "Lock"


def test_closing_the_last_two_obligations_concurrently_completes_the_distribution():
    distributor = DistributorFactory()
    distribution = DistributionFactory(distributor=distributor, status="processing", pool=300, value=300)
    first, second = (
        AllocationFactory(
            distribution=distribution,
            collaborator=CollaboratorFactory(organization=distributor.organization),
            value=150,
        ).obligation_id
        for _ in range(2)
    )
    first_done, release_first, second_pid = threading.Event(), threading.Event(), []
    errors = []

    def close_first():
        try:
            with transaction.atomic():
                obligations_transition(obligation_ids=[first], status="cancelled")
                first_done.set()
                release_first.wait(timeout=20)  # hold the distribution's row lock until the second waits on it
        except Exception as exc:
            errors.append(exc)
            first_done.set()
        finally:
            connections.close_all()

    def close_second():
        try:
            first_done.wait(timeout=20)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                second_pid.append(cursor.fetchone()[0])
            obligations_transition(obligation_ids=[second], status="cancelled")
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=close_first), threading.Thread(target=close_second)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (second_pid and _waiting_on_a_lock(second_pid[0])):
        time.sleep(0.02)
    release_first.set()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    distribution.refresh_from_db()
    assert distribution.status == "complete"
    assert Distribution.objects.filter(pk=distribution.pk, allocations__status="cancelled").count() == 2
