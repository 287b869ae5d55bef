"""Concurrent fulfillment generation on PostgreSQL: an obligation is never put in two payouts."""

import threading

import pytest
from django.db import connection

from obligations.models import Fulfillment, Obligation, Payout
from obligations.services import fulfillment_generate
from tests.factories import CollaboratorFactory, ObligationFactory, OrganizationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_generate_runs_batch_each_obligation_once():
    org = OrganizationFactory()
    collaborators = [CollaboratorFactory(organization=org) for _ in range(5)]
    for index in range(40):
        ObligationFactory(organization=org, collaborator=collaborators[index % 5], value=100, status="approved")
    barrier = threading.Barrier(6)
    results, errors = [], []

    def generate():
        try:
            barrier.wait(timeout=10)
            results.append(fulfillment_generate(organization=org))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=generate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    made = [fulfillment for fulfillment in results if fulfillment is not None]
    assert len(made) == Fulfillment.objects.count() >= 1
    assert Obligation.objects.filter(payout__isnull=True).count() == 0
    assert sum(Payout.objects.values_list("amount", flat=True)) == 40 * 100
