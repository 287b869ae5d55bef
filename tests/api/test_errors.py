"""One error shape everywhere, including what never reaches a DRF view (unknown paths, crashes)."""

import pytest
from django.test import Client, RequestFactory
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from api.errors import handler404, handler500, validation_body
from tests.api.helpers import BASE

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v1/distributions/1/allocations", "/api/v2/distributions"])
def test_unknown_api_paths_are_json_404(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"message"}


def test_method_not_allowed_is_json(api):
    response = api.post(f"{BASE}/distributions", {}, format="json")
    assert response.status_code == 405
    assert set(response.json()) == {"message"}


def test_unsupported_media_type_is_json(api):
    response = api.post(f"{BASE}/distributors/credit-metric", "a=b", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert set(response.json()) == {"message"}


def test_handlers_answer_json_on_api_paths_only():
    factory = RequestFactory()
    api_404 = handler404(factory.get("/api/v1/x"), Exception("nope"))
    assert api_404.status_code == 404 and api_404["Content-Type"] == "application/json"
    api_500 = handler500(factory.get("/api/v1/distributions"))
    assert api_500.status_code == 500 and b'"message"' in api_500.content
    assert handler404(factory.get("/admin/x"), Exception("nope"))["Content-Type"].startswith("text/html")
    assert handler500(factory.get("/admin/x"))["Content-Type"].startswith("text/html")


def test_a_crash_in_a_view_is_a_json_500(api_key, monkeypatch):
    from distributions.api.views import DistributionViewSet

    def explode(self, request, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(DistributionViewSet, "status_types", explode)
    client = Client(raise_request_exception=False)
    response = client.get(f"{BASE}/distributions/status-types", headers={"Authorization": f"Bearer {api_key.secret}"})
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error."}


def test_validation_body_shapes():
    assert validation_body({"quantity": ["Too small."]}) == {
        "message": "quantity: Too small.",
        "errors": {"quantity": ["Too small."]},
    }
    assert validation_body({"non_field_errors": ["Bad."], "a": ["x"]}) == {"message": "Bad.", "errors": {"a": ["x"]}}
    two = validation_body({"a": ["x"], "b": ["y"]})
    assert two["errors"] == {"a": ["x"], "b": ["y"]} and "a" in two["message"] and "b" in two["message"]
    nested = validation_body({"credits": {0: {"points": ["Nope."]}}})
    assert nested["errors"] == {"credits": ["Nope."]}
    assert validation_body(["Just this."]) == {"message": "Just this.", "errors": {}}


def test_serializer_errors_keep_api_names():
    class Body(serializers.Serializer):
        collaboratorId = serializers.IntegerField()

    body = Body(data={})
    assert not body.is_valid()
    assert list(validation_body(ValidationError(body.errors).detail)["errors"]) == ["collaboratorId"]
