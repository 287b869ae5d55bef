"""Throttling that holds across workers (the database store) and failed authentication throttled per address."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from api.throttling import SlidingWindow
from tests.api.helpers import BASE

pytestmark = pytest.mark.django_db


def test_failed_authentication_is_throttled_per_client_address(settings, api_key):
    settings.API_AUTH_FAILURE_RATE = "3/min"
    attacker = APIClient(REMOTE_ADDR="203.0.113.7")
    attacker.credentials(HTTP_AUTHORIZATION="Bearer nope.guess")
    assert [attacker.get(f"{BASE}/distributions").status_code for _ in range(3)] == [401, 401, 401]

    refused = attacker.get(f"{BASE}/distributions")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused.json()["message"].startswith("Too many failed authentications.")

    # From that address even a valid key waits (its key is not looked at); another address is not affected.
    attacker.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    assert attacker.get(f"{BASE}/distributions").status_code == 429
    other = APIClient(REMOTE_ADDR="198.51.100.1")
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    assert other.get(f"{BASE}/distributions").status_code == 200


def test_successful_authentication_costs_no_failure_count(settings, api):
    settings.API_AUTH_FAILURE_RATE = "2/min"
    assert [api.get(f"{BASE}/distributions").status_code for _ in range(5)] == [200] * 5


def test_the_database_store_keeps_one_count_in_the_database(settings):
    """With ``THROTTLE_CACHE=db`` the counts are rows of ``api_throttle_count`` (what every worker reads);
    tests/proofs/test_outage.py shows the rate holding across two gunicorn workers."""
    settings.THROTTLE_STORE = "db"
    window = SlidingWindow("throttle:test", (3, 60))
    for _ in range(3):
        assert window.retry_after("key") is None
        window.count("key")
    assert window.retry_after("key") is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT hits FROM api_throttle_count WHERE subject LIKE %s", ["throttle:test:key:60:%"])
        assert [row[0] for row in cursor.fetchall()] == [3]


def test_an_expired_count_starts_again_from_one(settings, monkeypatch):
    import api.throttling as throttling

    settings.THROTTLE_STORE = "db"
    store = throttling.DatabaseStore()
    clock = [1_000_000.0]
    monkeypatch.setattr(throttling.time, "time", lambda: clock[0])
    store.bump("k", ttl=10)
    store.bump("k", ttl=10)
    assert store.counts(["k"]) == {"k": 2}
    clock[0] += 11
    assert store.counts(["k"]) == {}
    store.bump("k", ttl=10)
    assert store.counts(["k"]) == {"k": 1}
