"""Concurrent crediting on PostgreSQL: each thread has its own connection and transaction."""

import threading

import pytest
from django.db import connection

from metrics.models import CreditRequest, CreditSource, MetricCredit
from metrics.services import metric_credit
from tests.factories import CollaboratorFactory, DistributorFactory, OrganizationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_in_threads(count, work):
    """Start ``count`` threads together; each runs ``work(i)`` on its own connection. Returns results/errors."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def target(i):
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except Exception as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_twenty_concurrent_credits_are_all_counted():
    org = OrganizationFactory()
    collaborator = CollaboratorFactory(organization=org)
    distributor = DistributorFactory(organization=org, metric_types={"sale": 3})

    results, errors = run_in_threads(
        20,
        lambda i: metric_credit(
            organization=org, collaborator=collaborator, metric_type="sale", quantity=i + 1, source=CreditSource.API
        ),
    )

    assert errors == []
    assert not any(outcome.replayed for outcome in results)
    assert MetricCredit.objects.filter(distributor=distributor).count() == 20
    assert sum(MetricCredit.objects.values_list("points", flat=True)) == 3 * sum(range(1, 21))


def test_ten_concurrent_requests_with_one_idempotency_key_count_once():
    org = OrganizationFactory()
    collaborator = CollaboratorFactory(organization=org)
    DistributorFactory(organization=org, metric_types={"sale": 5})

    results, errors = run_in_threads(
        10,
        lambda i: metric_credit(
            organization=org,
            collaborator=collaborator,
            metric_type="sale",
            quantity=2,
            source=CreditSource.API,
            idempotency_key="same-key",
        ),
    )

    assert errors == []
    assert sum(not outcome.replayed for outcome in results) == 1
    assert len({outcome.request.pk for outcome in results}) == 1
    assert all(outcome.response == results[0].response for outcome in results)
    assert CreditRequest.objects.count() == 1
    assert MetricCredit.objects.count() == 1
    assert MetricCredit.objects.get().points == 10
