"""POST /distributors/credit-metric/batch: validation by index, all or nothing, item and batch keys, events,
constant statements, the 503 of a held distributor (PostgreSQL)."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from distributions.services import distribution_open_first
from events.models import Event
from metrics.models import CreditBatch, CreditRequest, MetricCredit
from tests.api.helpers import BASE, client_for
from tests.factories import ApiKeyFactory, CollaboratorAliasFactory, CollaboratorFactory, DistributorFactory

URL = f"{BASE}/distributors/credit-metric/batch"
SINGLE_URL = f"{BASE}/distributors/credit-metric"


@pytest.fixture
def world(organization, other_organization):
    collaborator = CollaboratorFactory(organization=organization)
    CollaboratorAliasFactory(collaborator=collaborator, type="tracking", code="REF123")
    sales = DistributorFactory(organization=organization, name="Sales", metric_types={"manual": 1, "sale": 5})
    signups = DistributorFactory(organization=organization, name="Signups", metric_types={"sale": 2})
    return {
        "collaborator": collaborator,
        "other": CollaboratorFactory(organization=organization),
        "sales": sales,
        "signups": signups,
        "foreign_distributor": DistributorFactory(organization=other_organization),
        "foreign_collaborator": CollaboratorFactory(organization=other_organization),
    }


def post(client, credits, **headers):
    return client.post(URL, {"credits": credits}, format="json", headers=headers)


def assert_400(response, *fields):
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "errors"}
    assert set(fields) <= set(body["errors"]), body
    assert all(isinstance(m, str) and m for messages in body["errors"].values() for m in messages)
    return body["errors"]


@pytest.mark.django_db
def test_credits_every_item_like_credit_metric(api, world):
    collaborator, other = world["collaborator"], world["other"]
    response = post(
        api,
        [
            {"collaboratorId": collaborator.pk},
            {"collaboratorId": "tracking:REF123", "metricType": "sale", "quantity": 3},
            {"collaboratorId": other.pk, "metricType": "sale", "distributorId": world["signups"].pk},
        ],
    )
    assert response.status_code == 201, response.content
    entries = response.json()["credits"]
    assert [e["collaboratorId"] for e in entries] == [collaborator.pk, collaborator.pk, other.pk]
    assert [(e["metricType"], e["quantity"], e["totalPoints"], e["replayed"]) for e in entries] == [
        ("manual", 1, 1, False),
        ("sale", 3, 21, False),
        ("sale", 1, 2, False),
    ]
    assert entries[1]["credits"] == [
        {"distributorId": world["sales"].pk, "pointsPerUnit": 5, "points": 15},
        {"distributorId": world["signups"].pk, "pointsPerUnit": 2, "points": 6},
    ]
    assert len({e["id"] for e in entries}) == 3 and len({e["creditedAt"] for e in entries}) == 1
    assert CreditRequest.objects.count() == 3
    assert MetricCredit.objects.count() == 4
    assert MetricCredit.objects.aggregate(total=Sum("points"))["total"] == 1 + 21 + 2
    # one metrics.credited event per item, its payload the item's entry
    events = list(Event.objects.filter(type="metrics.credited").order_by("pk"))
    assert [event.object_key for event in events] == [f"credit_request:{e['id']}" for e in entries]
    assert [event.payload for event in events] == [{k: v for k, v in e.items() if k != "replayed"} for e in entries]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("credits", "field"),
    [
        ([{"collaboratorId": "OK"}, {"collaboratorId": "OK", "quantity": 0}], "credits.1.quantity"),
        ([{"collaboratorId": "OK", "quantity": "3"}], "credits.0.quantity"),
        ([{"collaboratorId": True}], "credits.0.collaboratorId"),
        ([{}], "credits.0.collaboratorId"),
        ([{"collaboratorId": "OK", "metricType": "not a slug"}], "credits.0.metricType"),
        ([{"collaboratorId": "OK", "distributorId": "1"}], "credits.0.distributorId"),
        ([{"collaboratorId": "OK", "key": ""}], "credits.0.key"),
        ([{"collaboratorId": "OK", "key": " padded"}], "credits.0.key"),
        ([{"collaboratorId": "OK", "key": "x" * 201}], "credits.0.key"),
        ([{"collaboratorId": "OK", "quantitty": 2}], "credits.0.quantitty"),
        ([{"collaboratorId": "OK"}, "text"], "credits.1"),
        ([], "credits"),
        ([{"collaboratorId": "OK"}] * 1001, "credits"),
        ("not a list", "credits"),
        # the domain's refusals, after the shape is valid
        ([{"collaboratorId": "OK"}, {"collaboratorId": "OK", "metricType": "refund"}], "credits.1.metricType"),
        ([{"collaboratorId": "OK", "distributorId": 987654}], "credits.0.distributorId"),
        ([{"collaboratorId": "OK", "distributorId": "foreign"}], "credits.0.distributorId"),
        ([{"collaboratorId": "OK", "metricType": "manual", "distributorId": "signups"}], "credits.0.distributorId"),
        ([{"collaboratorId": "OK"}, {"collaboratorId": "inactive"}], "credits.1.collaboratorId"),
    ],
)
def test_refusals_name_the_item_by_index_and_nothing_is_written(api, world, organization, credits, field):
    inactive = CollaboratorFactory(organization=organization, status="inactive")
    substitutes = {
        "OK": world["collaborator"].pk,
        "inactive": inactive.pk,
        "foreign": world["foreign_distributor"].pk,
        "signups": world["signups"].pk,
    }
    if isinstance(credits, list):
        credits = [
            {k: substitutes.get(v, v) if isinstance(v, str) else v for k, v in item.items()}
            if isinstance(item, dict)
            else item
            for item in credits
        ]
    errors = assert_400(post(api, credits), field)
    assert set(errors) == {field}
    assert not MetricCredit.objects.exists() and not CreditRequest.objects.exists() and not Event.objects.exists()


@pytest.mark.django_db
def test_every_failing_item_is_named(api, world, organization):
    inactive = CollaboratorFactory(organization=organization, status="inactive")
    good = {"collaboratorId": world["collaborator"].pk}
    errors = assert_400(
        post(
            api,
            [good, {"collaboratorId": inactive.pk}, good, {**good, "metricType": "refund"}, {**good, "quantity": -1}],
        ),
        "credits.4.quantity",
    )
    assert set(errors) == {"credits.4.quantity"}  # the shape first: the domain is checked once the body is valid
    errors = assert_400(
        post(api, [good, {"collaboratorId": inactive.pk}, good, {**good, "metricType": "refund"}]),
        "credits.1.collaboratorId",
        "credits.3.metricType",
    )
    assert set(errors) == {"credits.1.collaboratorId", "credits.3.metricType"}
    assert not MetricCredit.objects.exists()


@pytest.mark.django_db
def test_unknown_or_foreign_collaborator_is_404_naming_the_items(api, world):
    response = post(
        api,
        [
            {"collaboratorId": world["collaborator"].pk},
            {"collaboratorId": world["foreign_collaborator"].pk},
            {"collaboratorId": "tracking:NOPE"},
        ],
    )
    assert response.status_code == 404, response.content
    body = response.json()
    assert set(body) == {"message"}
    assert "credits.1.collaboratorId" in body["message"] and "credits.2.collaboratorId" in body["message"]
    assert "credits.0" not in body["message"]
    assert not MetricCredit.objects.exists()


@pytest.mark.django_db
def test_read_only_key_is_403(organization, world):
    reader = client_for(ApiKeyFactory(organization=organization, scopes=["read"]))
    assert post(reader, [{"collaboratorId": world["collaborator"].pk}]).status_code == 403


# -- idempotency ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_batch_key_replays_the_whole_batch(api, world):
    credits = [
        {"collaboratorId": world["collaborator"].pk, "metricType": "sale"},
        {"collaboratorId": world["other"].pk},
    ]
    first = post(api, credits, **{"Idempotency-Key": "batch-1"})
    again = post(api, credits, **{"Idempotency-Key": "batch-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert MetricCredit.objects.count() == 3 and CreditBatch.objects.count() == 1
    assert Event.objects.filter(type="metrics.credited").count() == 2
    other = post(api, credits[:1], **{"Idempotency-Key": "batch-1"})
    assert other.status_code == 409 and set(other.json()) == {"message"}
    assert MetricCredit.objects.count() == 3


@pytest.mark.django_db
def test_item_keys_replay_items_and_conflicts_name_the_index(api, world):
    collaborator = world["collaborator"].pk
    assert post(api, [{"collaboratorId": collaborator, "key": "order-1"}]).status_code == 201
    # a single credit's key is the same namespace
    single = api.post(
        SINGLE_URL, {"collaboratorId": collaborator}, format="json", headers={"Idempotency-Key": "order-2"}
    )
    assert single.status_code == 201

    response = post(
        api,
        [
            {"collaboratorId": collaborator, "key": "order-1"},
            {"collaboratorId": "tracking:REF123", "key": "order-2"},  # the same collaborator by alias
            {"collaboratorId": collaborator, "key": "order-3"},
            {"collaboratorId": collaborator, "key": "order-3"},  # repeated in the batch: replays item 2
        ],
    )
    assert response.status_code == 201, response.content
    entries = response.json()["credits"]
    assert [e["replayed"] for e in entries] == [True, True, False, True]
    assert entries[1]["id"] == single.json()["id"] and entries[3]["id"] == entries[2]["id"]
    assert MetricCredit.objects.count() == 3  # order-1, order-2, order-3 once each
    assert Event.objects.filter(type="metrics.credited").count() == 3

    conflict = post(
        api,
        [{"collaboratorId": world["other"].pk}, {"collaboratorId": collaborator, "quantity": 2, "key": "order-1"}],
    )
    assert conflict.status_code == 409, conflict.content
    assert set(conflict.json()) == {"message"} and "credits.1.key" in conflict.json()["message"]
    inside = post(
        api, [{"collaboratorId": collaborator, "key": "new"}, {"collaboratorId": world["other"].pk, "key": "new"}]
    )
    assert inside.status_code == 409 and "credits.1.key" in inside.json()["message"]
    assert MetricCredit.objects.count() == 3


@pytest.mark.django_db
def test_keys_are_per_organization(api, world, other_organization):
    other = client_for(ApiKeyFactory(organization=other_organization))
    DistributorFactory(organization=other_organization)
    assert (
        post(api, [{"collaboratorId": world["collaborator"].pk, "key": "k"}], **{"Idempotency-Key": "b"}).status_code
        == 201
    )
    response = post(
        other, [{"collaboratorId": world["foreign_collaborator"].pk, "key": "k"}], **{"Idempotency-Key": "b"}
    )
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert response.json()["credits"][0]["replayed"] is False


@pytest.mark.django_db
def test_back_dating_into_a_distributed_period_is_refused(world, organization):
    from collaborators.refs import CollaboratorRef
    from metrics.batch import CreditBatchRefused, CreditItem, metric_credit_batch
    from metrics.models import CreditSource

    sales = world["sales"]
    sales.distributed_through = datetime(2026, 2, 1, tzinfo=UTC)
    sales.save(update_fields=["distributed_through"])
    ref = CollaboratorRef(id=world["collaborator"].pk)
    with pytest.raises(CreditBatchRefused) as refused:
        metric_credit_batch(
            organization=organization,
            items=[
                CreditItem(collaborator=ref, credited_at=datetime(2026, 2, 2, tzinfo=UTC)),
                CreditItem(collaborator=ref, credited_at=datetime(2026, 1, 31, tzinfo=UTC)),
            ],
            source=CreditSource.COMMAND,
        )
    assert set(refused.value.errors) == {1} and set(refused.value.errors[1]) == {"credited_at"}
    assert not MetricCredit.objects.exists()


# -- statements ----------------------------------------------------------------------------------------------


def _statements(client, credits, key):
    with CaptureQueriesContext(connection) as context:
        response = post(client, credits, **{"Idempotency-Key": key})
    assert response.status_code == 201, response.content[:500]
    return [q["sql"] for q in context.captured_queries]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_batch_of_1000_costs_the_statements_of_a_batch_of_1(api, organization):
    distributor = DistributorFactory(organization=organization, metric_types={"sale": 3})
    distribution_open_first(distributor=distributor)
    collaborators = CollaboratorFactory.create_batch(50, organization=organization)
    for n, c in enumerate(collaborators[:10]):
        CollaboratorAliasFactory(collaborator=c, type="tracking", code=f"T{n}")

    def batch(size, tag):
        return [
            {
                "collaboratorId": f"tracking:T{n % 10}" if n % 5 == 0 else collaborators[n % 50].pk,
                "metricType": "sale",
                "quantity": 1 + n % 3,
                "key": f"{tag}-{n}",
            }
            for n in range(size)
        ]

    _statements(api, batch(1, "warm"), "warm")  # the API key's last-used stamp, content types
    one = _statements(api, batch(1, "one"), "one")
    thousand = _statements(api, batch(1000, "thousand"), "thousand")
    assert len(thousand) == len(one), "\n".join(thousand)
    assert len(one) <= 15, "\n".join(one)
    assert MetricCredit.objects.filter(request__idempotency_key__startswith="thousand-").count() == 1000


# -- a distributor held by a trigger: 503, nothing written ---------------------------------------------------


def _assert_busy(response):
    assert response.status_code == 503, response.content
    assert response["Retry-After"].isdigit() and int(response["Retry-After"]) >= 1
    assert set(response.json()) == {"message"} and "being triggered" in response.json()["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", [URL, SINGLE_URL])
def test_a_hold_timeout_answers_503_with_retry_after(api, world, monkeypatch, url):
    import metrics.batch
    import metrics.services
    from distributors.selectors import HoldTimeout

    def held(**kwargs):
        raise HoldTimeout("being triggered")

    monkeypatch.setattr(metrics.batch, "distributors_hold_for_credit", held)
    monkeypatch.setattr(metrics.services, "distributors_hold_for_credit", held)
    body = {"collaboratorId": world["collaborator"].pk}
    response = api.post(url, {"credits": [body]} if url == URL else body, format="json")
    _assert_busy(response)
    assert not MetricCredit.objects.exists() and not CreditRequest.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", [URL, SINGLE_URL])
def test_a_credit_waits_at_most_the_lock_timeout_for_a_trigger(api, world, settings, url):
    import time

    from distributors.models import Distributor
    from tests.races import Race

    settings.CREDIT_LOCK_TIMEOUT_MS = 300
    sales = world["sales"].pk
    body = {"collaboratorId": world["collaborator"].pk, "distributorId": sales}
    with Race() as race:
        trigger = race.hold(lambda: Distributor.objects.select_for_update().get(pk=sales))  # as a trigger does
        started = time.monotonic()
        response = api.post(
            URL if url == URL else SINGLE_URL, {"credits": [body]} if url == URL else body, format="json"
        )
        waited = time.monotonic() - started
        trigger.release()
    _assert_busy(response)
    assert 0.25 < waited < 5
    assert not MetricCredit.objects.exists() and not CreditRequest.objects.exists()
    assert post(api, [body]).status_code == 201  # once the trigger is done


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch_key", [None, "same-batch"])
def test_concurrent_batches_sharing_keys_credit_once(world, organization, batch_key):
    from collaborators.refs import CollaboratorRef
    from metrics.batch import CreditItem, metric_credit_batch
    from metrics.models import CreditSource
    from tests.races import Race

    items = [CreditItem(collaborator=CollaboratorRef(id=world["collaborator"].pk), metric_type="sale", key="k-1")]

    def credit():
        return metric_credit_batch(
            organization=organization, items=items, source=CreditSource.API, idempotency_key=batch_key
        )

    with Race() as race:
        first = race.hold(credit)  # written, not committed: its rows hold the keys
        second = race.thread(credit)
        race.wait_until_blocked(second)  # waits on the first's uncommitted key
        first.release()

    assert not first.result.replayed and not first.result.entries[0].replayed
    assert second.result.replayed if batch_key else second.result.entries[0].replayed
    assert second.result.entries[0].request.pk == first.result.entries[0].request.pk
    assert MetricCredit.objects.count() == 2  # one request, on Sales and Signups
    assert CreditRequest.objects.count() == 1
