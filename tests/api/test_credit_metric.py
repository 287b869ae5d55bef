"""POST /distributors/credit-metric: validation, aliases, scope, idempotency, concurrency (PostgreSQL)."""

import pytest
from django.db.models import Sum

from metrics.models import CreditRequest, MetricCredit
from tests.api.helpers import BASE, client_for
from tests.factories import ApiKeyFactory, CollaboratorAliasFactory, CollaboratorFactory, DistributorFactory
from tests.races import Race, run_together

URL = f"{BASE}/distributors/credit-metric"


@pytest.fixture
def world(organization, other_organization):
    collaborator = CollaboratorFactory(organization=organization)
    CollaboratorAliasFactory(collaborator=collaborator, type="tracking", code="REF123")
    sales = DistributorFactory(organization=organization, name="Sales", metric_types={"manual": 1, "sale": 5})
    signups = DistributorFactory(organization=organization, name="Signups", metric_types={"sale": 2})
    return {
        "collaborator": collaborator,
        "sales": sales,
        "signups": signups,
        "foreign_distributor": DistributorFactory(organization=other_organization),
        "foreign_collaborator": CollaboratorFactory(organization=other_organization),
    }


def post(client, body, **headers):
    return client.post(URL, body, format="json", headers=headers)


def assert_400(response, field):
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "errors"}
    assert field in body["errors"], body
    assert all(isinstance(m, str) and m for m in body["errors"][field])


@pytest.mark.django_db
def test_credits_manual_once_by_default(api, world):
    response = post(api, {"collaboratorId": world["collaborator"].pk})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["collaboratorId"] == world["collaborator"].pk
    assert (body["metricType"], body["quantity"], body["totalPoints"]) == ("manual", 1, 1)
    assert body["credits"] == [{"distributorId": world["sales"].pk, "pointsPerUnit": 1, "points": 1}]
    assert body["creditedAt"].endswith("Z")
    assert "Idempotent-Replayed" not in response
    credit = MetricCredit.objects.get()
    assert (credit.collaborator, credit.metric_type, credit.points) == (world["collaborator"], "manual", 1)
    assert CreditRequest.objects.get().actor.startswith("api:")


@pytest.mark.django_db
def test_credits_every_distributor_counting_the_metric(api, world):
    body = post(api, {"collaboratorId": world["collaborator"].pk, "metricType": "sale", "quantity": 3}).json()
    assert {(c["distributorId"], c["points"]) for c in body["credits"]} == {
        (world["sales"].pk, 15),
        (world["signups"].pk, 6),
    }
    assert body["totalPoints"] == 21


@pytest.mark.django_db
def test_distributor_id_restricts_the_credit(api, world):
    body = post(
        api, {"collaboratorId": world["collaborator"].pk, "metricType": "sale", "distributorId": world["signups"].pk}
    ).json()
    assert body["credits"] == [{"distributorId": world["signups"].pk, "pointsPerUnit": 2, "points": 2}]


@pytest.mark.django_db
@pytest.mark.parametrize("ref", ["tracking:REF123", " tracking:REF123 ", "id-as-string"])
def test_collaborator_by_alias_or_string_id(api, world, ref):
    ref = str(world["collaborator"].pk) if ref == "id-as-string" else ref
    response = post(api, {"collaboratorId": ref})
    assert response.status_code == 201, response.content
    assert response.json()["collaboratorId"] == world["collaborator"].pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ref", ["tracking:NOPE", "other:REF123", "987654", 987654, "foreign-collaborator", "foreign-alias"]
)
def test_unknown_collaborator_is_404(api, world, other_organization, ref):
    if ref == "foreign-collaborator":
        ref = world["foreign_collaborator"].pk
    elif ref == "foreign-alias":
        CollaboratorAliasFactory(collaborator=world["foreign_collaborator"], type="tracking", code="THEIRS")
        ref = "tracking:THEIRS"
    response = post(api, {"collaboratorId": ref})
    assert response.status_code == 404
    assert set(response.json()) == {"message"}
    assert not MetricCredit.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "collaboratorId"),
        ({"collaboratorId": None}, "collaboratorId"),
        ({"collaboratorId": ""}, "collaboratorId"),
        ({"collaboratorId": True}, "collaboratorId"),
        ({"collaboratorId": 1.5}, "collaboratorId"),
        ({"collaboratorId": "no-colon"}, "collaboratorId"),
        ({"collaboratorId": "tracking:\x00"}, "collaboratorId"),
        ({"collaboratorId": 0}, "collaboratorId"),
        ({"collaboratorId": 10**30}, "collaboratorId"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": -2}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": 2.0}, "quantity"),
        ({"quantity": "3"}, "quantity"),
        ({"quantity": "many"}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"quantity": None}, "quantity"),
        ({"quantity": 1_000_001}, "quantity"),
        ({"metricType": "not a slug"}, "metricType"),
        ({"metricType": ""}, "metricType"),
        ({"metricType": "refund"}, "metricType"),  # counted by no distributor
        ({"distributorId": "1"}, "distributorId"),
        ({"distributorId": 0}, "distributorId"),
        ({"distributorId": "foreign"}, "distributorId"),
        ({"distributorId": 987654}, "distributorId"),
        ({"quantitty": 2}, "quantitty"),  # a typo must not silently default
    ],
)
def test_validation_errors_name_the_field(api, world, body, field):
    if "collaboratorId" not in body and field != "collaboratorId":
        body = {"collaboratorId": world["collaborator"].pk, **body}
    if body.get("distributorId") == "foreign":
        body["distributorId"] = world["foreign_distributor"].pk
    assert_400(post(api, body), field)
    assert not MetricCredit.objects.exists()


@pytest.mark.django_db
def test_metric_type_not_counted_by_the_given_distributor(api, world):
    body = {"collaboratorId": world["collaborator"].pk, "metricType": "manual", "distributorId": world["signups"].pk}
    assert_400(post(api, body), "distributorId")


@pytest.mark.django_db
def test_inactive_collaborator_is_refused(api, world, organization):
    inactive = CollaboratorFactory(organization=organization, status="inactive")
    assert_400(post(api, {"collaboratorId": inactive.pk}), "collaboratorId")


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"'])
def test_malformed_bodies_are_400(api, world, raw):
    response = api.post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"]


@pytest.mark.django_db
def test_read_only_key_is_403(organization, world):
    reader = client_for(ApiKeyFactory(organization=organization, scopes=["read"]))
    response = post(reader, {"collaboratorId": world["collaborator"].pk})
    assert response.status_code == 403
    assert response.json() == {"message": "This API key lacks the 'metrics:write' scope."}


@pytest.mark.django_db
def test_get_is_405_in_json(api, world):
    response = api.get(URL)
    assert response.status_code == 405
    assert set(response.json()) == {"message"}


# -- idempotency ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_idempotent_replay_credits_once_and_answers_the_same(api, world):
    body = {"collaboratorId": world["collaborator"].pk, "metricType": "sale", "quantity": 2}
    first = post(api, body, **{"Idempotency-Key": "order-42"})
    again = post(api, body, **{"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert "Idempotent-Replayed" in again["Access-Control-Expose-Headers"]
    assert MetricCredit.objects.count() == 2  # two distributors, credited once
    # The alias of the same collaborator is the same request.
    alias = post(api, {**body, "collaboratorId": "tracking:REF123"}, **{"Idempotency-Key": "order-42"})
    assert alias.status_code == 201 and alias.json() == first.json()
    assert MetricCredit.objects.count() == 2


@pytest.mark.django_db
def test_reused_key_with_another_body_is_409(api, world):
    post(api, {"collaboratorId": world["collaborator"].pk}, **{"Idempotency-Key": "k1"})
    response = post(api, {"collaboratorId": world["collaborator"].pk, "quantity": 2}, **{"Idempotency-Key": "k1"})
    assert response.status_code == 409
    assert set(response.json()) == {"message"}
    assert MetricCredit.objects.count() == 1


@pytest.mark.django_db
def test_without_a_key_each_request_credits(api, world):
    for _ in range(2):
        assert post(api, {"collaboratorId": world["collaborator"].pk}).status_code == 201
    assert MetricCredit.objects.count() == 2


@pytest.mark.django_db
def test_idempotency_keys_are_per_organization(api, world, other_organization):
    other = client_for(ApiKeyFactory(organization=other_organization))
    DistributorFactory(organization=other_organization)
    theirs = world["foreign_collaborator"]
    assert post(api, {"collaboratorId": world["collaborator"].pk}, **{"Idempotency-Key": "same"}).status_code == 201
    response = post(other, {"collaboratorId": theirs.pk}, **{"Idempotency-Key": "same"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "   ", "x" * 201, "nul\x00byte"])
def test_bad_idempotency_key_is_400(api, world, key):
    assert_400(post(api, {"collaboratorId": world["collaborator"].pk}, **{"Idempotency-Key": key}), "Idempotency-Key")


# -- concurrency (PostgreSQL) --------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_credits_are_all_counted(api_key, world):
    collaborator_id = world["collaborator"].pk

    def credit(i):
        response = client_for(api_key).post(URL, {"collaboratorId": collaborator_id, "quantity": 1}, format="json")
        return response.status_code

    assert run_together(20, credit) == [201] * 20
    assert MetricCredit.objects.filter(collaborator_id=collaborator_id).count() == 20
    assert MetricCredit.objects.aggregate(total=Sum("points"))["total"] == 20
    assert CreditRequest.objects.count() == 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_wait_for_the_first_and_credit_once(api_key, world):
    collaborator_id = world["collaborator"].pk

    def credit():
        response = client_for(api_key).post(
            URL, {"collaboratorId": collaborator_id}, format="json", headers={"Idempotency-Key": "retry-storm"}
        )
        return response.status_code, response.json(), response.headers.get("Idempotent-Replayed")

    with Race() as race:
        first = race.hold(credit)  # answered, not committed: its request row holds the key
        retries = [race.thread(credit) for _ in range(19)]
        race.wait_until_blocked(*retries)
        first.release()

    assert first.result[0] == 201 and first.result[2] is None
    assert [retry.result for retry in retries] == [(201, first.result[1], "true")] * 19
    assert MetricCredit.objects.count() == 1


# -- statements ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("key", [None, "order-7"])
def test_a_credit_costs_a_pinned_number_of_statements(api, world, key):
    """The key and its organization; one statement finding the collaborator (by id) with its status, the targets
    and the earlier request with the key; the hold (PostgreSQL: the lock timeout, then the lock of the
    distributors whose open period the instant falls in; SQLite: one read); the inserts (PostgreSQL: request
    and ledger rows in one statement, then the event; SQLite: three); the transaction's two."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    body = {"collaboratorId": world["collaborator"].pk, "metricType": "sale"}
    assert post(api, body).status_code == 201  # warm: the key's last-used stamp
    with CaptureQueriesContext(connection) as context:
        response = post(api, body, **({"Idempotency-Key": key} if key else {}))
    assert response.status_code == 201, response.content
    expected = 9  # on both databases
    assert len(context.captured_queries) == expected, "\n".join(q["sql"][:120] for q in context.captured_queries)
