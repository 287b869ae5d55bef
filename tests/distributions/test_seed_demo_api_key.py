"""seed_demo's API key: the key it prints authenticates against the API, it is stored hashed, a second run keeps
the one key, a revoked key stays revoked, and settings with a real SECRET_KEY (production) get no demo key."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from distributions.management.commands.seed_demo import DEMO_API_KEY, DEMO_API_KEY_PREFIX
from organizations.models import ApiKey, Organization, hash_api_key

pytestmark = pytest.mark.django_db

REAL_SECRET_KEY = "k7Qp-2vX9_rT4mZ8wL1sN6bY3cF0hJ5dG-uE7aK2oP9iR4tW1xV8nB3mC6zQ0yH"


def seed(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("seed_demo", "--no-staff", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_printed_demo_key_authenticates_against_the_api():
    printed, summary = seed("--print-api-key")
    assert printed == DEMO_API_KEY + "\n"  # the key alone on stdout, for KEY=$(manage.py seed_demo ...)
    assert f"demo API key {DEMO_API_KEY_PREFIX} created" in summary
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {printed.strip()}")
    response = client.get("/api/v1/distributions?include=extended")
    assert response.status_code == 200, response.content
    demo = Organization.objects.get(slug="demo")
    assert response.json() and {row["distributorId"] for row in response.json()} <= set(
        demo.distributors.values_list("pk", flat=True)
    )
    assert response["X-Total-Count"] == str(demo.distributions.count())
    # Both scopes: the write works too.
    credited = client.post(
        "/api/v1/distributors/credit-metric",
        {"collaboratorId": "tracking:REF001", "metricType": "manual"},
        format="json",
    )
    assert credited.status_code == 201, credited.content


def test_the_demo_key_is_stored_hashed_and_a_wrong_secret_is_refused():
    seed()
    api_key = ApiKey.objects.get(prefix=DEMO_API_KEY_PREFIX)
    assert api_key.key_hash == hash_api_key(DEMO_API_KEY) and DEMO_API_KEY not in api_key.key_hash
    assert api_key.organization.slug == "demo"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {DEMO_API_KEY_PREFIX}.not-the-demo-secret")
    assert client.get("/api/v1/distributions").status_code == 401


def test_seed_demo_twice_keeps_one_key():
    seed()
    printed, summary = seed("--print-api-key")
    assert printed.strip() == DEMO_API_KEY
    assert f"demo API key {DEMO_API_KEY_PREFIX} kept" in summary
    assert ApiKey.objects.count() == 1
    assert ApiKey.objects.get().organization.slug == "demo"


def test_a_revoked_demo_key_stays_revoked_and_is_not_printed():
    seed()
    api_key = ApiKey.objects.get()
    api_key.revoke()
    api_key.save()
    printed, summary = seed("--print-api-key")
    assert printed == ""
    assert "revoked" in summary
    assert ApiKey.objects.get().revoked_at is not None
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {DEMO_API_KEY}")
    assert client.get("/api/v1/distributions").status_code == 401


@override_settings(SECRET_KEY=REAL_SECRET_KEY)
def test_settings_with_a_real_secret_key_get_no_demo_key():
    printed, summary = seed("--print-api-key")
    assert printed == ""
    assert "demo API key demo-apikey0 skipped (SECRET_KEY is not a development key" in summary
    assert not ApiKey.objects.exists()
    assert Organization.objects.filter(slug="demo").exists()  # the rest of the demo is still made


def test_without_the_option_the_summary_stays_on_stdout_and_names_the_key():
    printed, errors = seed()
    assert errors == ""
    assert printed.startswith("demo organization created: 12 collaborators, distributors ")
    assert f"; demo API key {DEMO_API_KEY_PREFIX} created; " in printed
    assert DEMO_API_KEY not in printed  # the summary names the prefix; ./dev up prints the key
