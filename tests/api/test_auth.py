"""Bearer API keys: 401 with JSON and WWW-Authenticate, scopes (403), last_used_at, per-key throttling."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from organizations.models import ApiKey
from tests.api.helpers import BASE, client_for
from tests.factories import ApiKeyFactory, CollaboratorFactory, DistributorFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/distributions"),
    ("get", "/distributions/1"),
    ("get", "/distributions/status-types"),
    ("get", "/distributors"),
    ("get", "/distributors/1"),
    ("get", "/distributors/status-types"),
    ("post", "/distributors/credit-metric"),
    ("get", "/obligations"),
    ("get", "/obligations/1"),
    ("get", "/obligations/status-types"),
]


def assert_401(response):
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert set(response.json()) == {"message"}
    assert response.json()["message"]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_is_401_everywhere(anon, method, path):
    assert_401(getattr(anon, method)(BASE + path, format="json"))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer nope",
        "Bearer abc.def",
        "Bearer ",
        "Bearer a b",
        "Bearer \u00e9t\u00e9.x",
        "Bearer abc\x00def.secret",
        "Bearer " + "a" * 300 + ".b",
    ],
)
def test_unknown_or_malformed_keys_are_401(anon, header, organization):
    anon.credentials(HTTP_AUTHORIZATION=header.encode().decode("latin-1"))
    assert_401(anon.get(f"{BASE}/distributions"))


def test_other_schemes_are_treated_as_no_credentials(anon, api_key):
    anon.credentials(HTTP_AUTHORIZATION=f"Basic {api_key.secret}")
    assert_401(anon.get(f"{BASE}/distributions"))


def test_right_prefix_wrong_secret_is_401(anon, api_key):
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.prefix}.not-the-secret")
    assert_401(anon.get(f"{BASE}/distributions"))


def test_revoked_key_is_401_with_the_same_message_as_an_unknown_one(api, api_key, anon):
    assert api.get(f"{BASE}/distributions").status_code == 200
    api_key.revoke()
    api_key.save()
    revoked = api.get(f"{BASE}/distributions")
    assert_401(revoked)
    anon.credentials(HTTP_AUTHORIZATION="Bearer zzzzzz.unknown")
    assert revoked.json() == anon.get(f"{BASE}/distributions").json()


def test_scheme_is_case_insensitive(anon, api_key):
    anon.credentials(HTTP_AUTHORIZATION=f"bearer {api_key.secret}")
    assert anon.get(f"{BASE}/distributions").status_code == 200


def test_read_scope_cannot_credit(organization):
    reader = client_for(ApiKeyFactory(organization=organization, scopes=["read"]))
    collaborator = CollaboratorFactory(organization=organization)
    DistributorFactory(organization=organization)
    response = reader.post(f"{BASE}/distributors/credit-metric", {"collaboratorId": collaborator.pk}, format="json")
    assert response.status_code == 403
    assert response.json() == {"message": "This API key lacks the 'metrics:write' scope."}


def test_write_only_scope_cannot_read(organization):
    writer = client_for(ApiKeyFactory(organization=organization, scopes=["metrics:write"]))
    response = writer.get(f"{BASE}/distributions")
    assert response.status_code == 403
    assert "read" in response.json()["message"]


def test_last_used_at_is_written_at_most_once_a_minute(api, api_key):
    assert api_key.last_used_at is None
    api.get(f"{BASE}/distributions")
    api_key.refresh_from_db()
    first = api_key.last_used_at
    assert first is not None

    with CaptureQueriesContext(connection) as queries:
        api.get(f"{BASE}/distributions")
    assert not [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    api_key.refresh_from_db()
    assert api_key.last_used_at == first

    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    api.get(f"{BASE}/distributions")
    api_key.refresh_from_db()
    assert api_key.last_used_at > first


def test_throttle_answers_429_with_retry_after_per_key(settings, api, organization):
    settings.API_THROTTLE_RATE = "2/min"
    assert api.get(f"{BASE}/distributions").status_code == 200
    assert api.get(f"{BASE}/distributions").status_code == 200
    refused = api.get(f"{BASE}/distributions")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert set(refused.json()) == {"message"}
    assert "Retry-After" in refused["Access-Control-Expose-Headers"]
    # Counted per key: another key of the same organization is not affected.
    other_key = client_for(ApiKeyFactory(organization=organization))
    assert other_key.get(f"{BASE}/distributions").status_code == 200


def test_throttle_window_slides(settings, api, monkeypatch):
    """Two counters approximate a sliding window: a full previous window still weighs on the next one."""
    import api.throttling as throttling

    settings.API_THROTTLE_RATE = "4/min"
    clock = [6_000_000.0]  # the start of a minute
    monkeypatch.setattr(throttling.time, "time", lambda: clock[0])
    url = f"{BASE}/distributions/status-types"
    assert [api.get(url).status_code for _ in range(5)] == [200, 200, 200, 200, 429]
    assert api.get(url)["Retry-After"] == "60"
    clock[0] += 60  # next window: the previous 4 still weigh 4 x (1 - 0/60)
    assert api.get(url).status_code == 429
    clock[0] += 30  # half-way: estimate 4 x 0.5 = 2, room for 2 more
    assert [api.get(url).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("1200/min", (1200, 60)), ("20/s", (20, 1)), ("50000/hours", (50000, 3600)), ("9/day", (9, 86400)), ("off", None)],
)
def test_throttle_rates(rate, parsed):
    from api.throttling import parse_rate

    assert parse_rate(rate) == parsed
    with pytest.raises(ValueError):
        parse_rate("fast")


def test_throttle_can_be_switched_off(settings, api):
    settings.API_THROTTLE_RATE = "off"
    assert all(api.get(f"{BASE}/distributions/status-types").status_code == 200 for _ in range(5))
