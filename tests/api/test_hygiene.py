"""Inputs refused at the door and errors in the one JSON shape, for what never reaches a view's logic."""

import json

import pytest
from django.db import OperationalError
from django.http import HttpResponse
from django.test import RequestFactory

from api.errors import exception_handler
from api.middleware import HeadWithoutBody
from tests.api.helpers import BASE

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "params", "unknown"),
    [
        ("/obligations", {"collaboratorID": "5"}, "collaboratorID"),
        ("/distributions", {"status": "pending", "limit": "5"}, "limit"),
        ("/distributors/status-types", {"number": "5"}, "number"),
    ],
)
def test_an_unknown_query_parameter_is_a_400_naming_the_valid_ones(api, path, params, unknown):
    response = api.get(f"{BASE}{path}", params)
    assert response.status_code == 400
    body = response.json()
    assert list(body["errors"]) == [unknown]
    assert body["errors"][unknown][0].startswith("Unknown query parameter. Valid parameters:")


def test_the_valid_parameters_are_named(api):
    message = api.get(f"{BASE}/obligations", {"collaboratorID": "5"}).json()["errors"]["collaboratorID"][0]
    for name in ("collaboratorId", "distributionId", "status", "fields", "include", "number", "offset", "orderBy"):
        assert name in message


def test_a_detail_takes_only_fields_and_include(api, world_distribution):
    assert api.get(f"{BASE}/distributions/{world_distribution.pk}", {"include": "extended"}).status_code == 200
    response = api.get(f"{BASE}/distributions/{world_distribution.pk}", {"number": "1"})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["number"]


@pytest.fixture
def world_distribution(org):
    from tests.factories import DistributionFactory

    return DistributionFactory(distributor__organization=org)


def test_a_body_nested_1000_levels_deep_is_a_400(api):
    body = "[" * 1000 + "]" * 1000
    response = api.post(f"{BASE}/distributors/credit-metric", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than 32 levels" in response.json()["message"]


def test_brackets_inside_strings_do_not_count_as_nesting(api, ada, make_distributor):
    make_distributor()
    body = json.dumps({"collaboratorId": ada.pk, "metricType": "manual", "quantity": 1})
    body = body[:-1] + ', "x": "' + "[" * 100 + '"}'  # an unknown field: refused as such, not as nesting
    response = api.post(f"{BASE}/distributors/credit-metric", body, content_type="application/json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["x"]


def test_a_body_over_the_upload_limit_is_a_json_400(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = json.dumps({"collaboratorId": "tracking:" + "x" * 200})
    response = api.post(f"{BASE}/distributors/credit-metric", body, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "The request body is too large."}


def test_an_unknown_host_on_an_api_path_is_a_json_400(client):
    response = client.get(f"{BASE}/distributions", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Unknown host."}


def test_an_unknown_host_elsewhere_keeps_djangos_page(client):
    response = client.get("/admin/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json")


def test_a_database_error_in_a_view_is_a_503_with_retry_after():
    response = exception_handler(OperationalError("server closed the connection unexpectedly"), {})
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.data == {"message": "The database is unavailable; nothing was changed. Retry shortly."}


@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_head_responses_lose_their_body_and_keep_the_gets_length(method):
    request = RequestFactory().generic(method, "/api/v1/distributions")
    response = HeadWithoutBody(lambda request: HttpResponse(b'[{"id": 1}]', content_type="application/json"))(request)
    if method == "HEAD":
        assert (response.content, response["Content-Length"]) == (b"", "11")
    else:
        assert response.content == b'[{"id": 1}]'


@pytest.mark.parametrize(
    ("params", "field"),
    [({"version": "\r\nSet-Cookie: x=1"}, "version"), ({"version": "2"}, "version"), ({"lang": "xx"}, "lang")],
)
def test_the_schema_accepts_only_known_versions_and_languages(client, params, field):
    response = client.get(f"{BASE}/schema/", params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert "Content-Disposition" not in response


def test_the_schema_answers_its_documented_version(client, settings):
    response = client.get(f"{BASE}/schema/", {"format": "json", "version": settings.SPECTACULAR_SETTINGS["VERSION"]})
    assert response.status_code == 200
    assert response.json()["info"]["version"].startswith(settings.SPECTACULAR_SETTINGS["VERSION"])
