"""Credits under load: concurrent credit-metric requests against a live gunicorn server on loopback lose
nothing, and requests repeating one idempotency key count once (PostgreSQL, several worker processes)."""

import json
import time
from http.client import HTTPConnection

import pytest
from django.db.models import Sum

from metrics.models import CreditRequest, MetricCredit
from tests.factories import ApiKeyFactory, CollaboratorFactory, DistributorFactory, OrganizationFactory
from tests.proofs.helpers import start_gunicorn
from tests.races import Race, run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLIENTS = 8
REQUESTS_PER_CLIENT = 40
SAME_KEY_REQUESTS = 24


@pytest.fixture
def server():
    with Race(timeout=30) as race:
        yield start_gunicorn(race, {"API_THROTTLE_RATE": "off"}, workers=3, threads=2)
        race.gunicorn.popen.terminate()  # the race then fails the test if it has not ended within its timeout


def post_credit(port: int, secret: str, body: dict, idempotency_key: str | None = None) -> tuple[int, dict, dict]:
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    connection.request("POST", "/api/v1/distributors/credit-metric", body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    payload = json.loads(response.read() or b"{}")
    result = (response.status, payload, dict(response.getheaders()))
    connection.close()
    return result


def test_concurrent_credits_are_all_counted_and_a_repeated_key_counts_once(server):
    organization = OrganizationFactory(slug="load")
    sales = DistributorFactory(organization=organization, metric_types={"sale": 3})
    bonus = DistributorFactory(organization=organization, metric_types={"sale": 1})
    collaborators = CollaboratorFactory.create_batch(5, organization=organization)
    secret = ApiKeyFactory(organization=organization, scopes=["metrics:write"]).secret

    def client(index: int) -> list[int]:
        statuses = []
        for n in range(REQUESTS_PER_CLIENT):
            body = {"collaboratorId": collaborators[(index + n) % 5].pk, "metricType": "sale", "quantity": 1 + n % 3}
            statuses.append(post_credit(server, secret, body, idempotency_key=f"client-{index}-{n}")[0])
        return statuses

    started = time.monotonic()
    statuses = [status for result in run_together(CLIENTS, client, timeout=300) for status in result]
    elapsed = time.monotonic() - started
    assert statuses == [201] * (CLIENTS * REQUESTS_PER_CLIENT)

    expected_quantity = CLIENTS * sum(1 + n % 3 for n in range(REQUESTS_PER_CLIENT))
    assert MetricCredit.objects.filter(distributor=sales).count() == CLIENTS * REQUESTS_PER_CLIENT
    assert MetricCredit.objects.filter(distributor=bonus).count() == CLIENTS * REQUESTS_PER_CLIENT
    assert MetricCredit.objects.filter(distributor=sales).aggregate(p=Sum("points"))["p"] == 3 * expected_quantity
    assert MetricCredit.objects.filter(distributor=bonus).aggregate(p=Sum("points"))["p"] == expected_quantity
    print(f"{CLIENTS * REQUESTS_PER_CLIENT} credits from {CLIENTS} clients in {elapsed:.2f} s, none lost")

    # The same request retried at once from many clients: one credit, every answer identical.
    body = {"collaboratorId": collaborators[0].pk, "metricType": "sale", "quantity": 7}
    answers = run_together(SAME_KEY_REQUESTS, lambda _: post_credit(server, secret, body, "retry-me"))
    assert {status for status, _, _ in answers} <= {200, 201}
    assert len({json.dumps(payload, sort_keys=True) for _, payload, _ in answers}) == 1
    assert CreditRequest.objects.filter(idempotency_key="retry-me").count() == 1
    assert MetricCredit.objects.filter(request__idempotency_key="retry-me").count() == 2
    assert MetricCredit.objects.filter(quantity=7).aggregate(p=Sum("points"))["p"] == 7 * 3 + 7

    # The same key with another body is refused and credits nothing.
    status, payload, _ = post_credit(server, secret, {**body, "quantity": 8}, "retry-me")
    assert status == 409 and "message" in payload
    assert not MetricCredit.objects.filter(quantity=8).exists()
