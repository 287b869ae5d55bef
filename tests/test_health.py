"""Health endpoints: liveness without the database, readiness with it and with how overdue the engine is."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from tests.factories import DistributionFactory

pytestmark = pytest.mark.django_db


def test_liveness_answers_without_any_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readiness_reports_no_overdue_period(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "oldestDueSeconds": 0}


def test_readiness_reports_how_overdue_the_oldest_due_period_is(client, make_distributor):
    distributor = make_distributor()
    pending = distributor.distributions.get(status="pending")
    pending.trigger_date = timezone.now() - timedelta(hours=2)
    pending.save(update_fields=["trigger_date"])
    DistributionFactory(distributor__status="inactive", trigger_date=timezone.now() - timedelta(days=9))  # waits

    seconds = client.get("/readyz").json()["oldestDueSeconds"]
    assert 7200 <= seconds < 7200 + 60


def test_readiness_is_a_503_when_the_database_does_not_answer(client, monkeypatch):
    from config import health

    class DownCursor:
        def __enter__(self):
            raise OperationalError("connection refused")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(health.connection, "cursor", lambda: DownCursor())
    response = client.get("/readyz")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json() == {"status": "unavailable", "database": "unavailable"}
