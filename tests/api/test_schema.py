"""The OpenAPI schema (valid OpenAPI 3, every endpoint, fields/params/headers/errors) and the docs pages."""

import json

import pytest
from drf_spectacular.validation import validate_schema

from tests.api.helpers import BASE

EXPECTED_OPERATIONS = {
    ("/api/v1/distributions", "get"),
    ("/api/v1/distributions/{id}", "get"),
    ("/api/v1/distributions/status-types", "get"),
    ("/api/v1/distributions/{id}/standings", "get"),
    ("/api/v1/distributions/{id}/allocations", "get"),
    ("/api/v1/distributors", "get"),
    ("/api/v1/distributors/{id}", "get"),
    ("/api/v1/distributors/status-types", "get"),
    ("/api/v1/distributors/credit-metric", "post"),
    ("/api/v1/distributors/credit-metric/batch", "post"),
    ("/api/v1/obligations", "get"),
    ("/api/v1/obligations/{id}", "get"),
    ("/api/v1/obligations/status-types", "get"),
    ("/api/v1/events", "get"),
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get(f"{BASE}/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)


def test_schema_lists_every_endpoint(schema):
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert operations == EXPECTED_OPERATIONS


@pytest.mark.parametrize(
    ("component", "core", "extended"),
    [
        (
            "Distribution",
            {"id", "distributorId", "status", "value", "triggerDate", "dateCreated", "dateModified"},
            {"distributorName", "distributorUnits", "allocationCount", "allocations", "periodStart", "pool", "history"},
        ),
        (
            "Distributor",
            {"id", "name", "status", "units", "poolType", "poolAmount", "distributionType"},
            {"collaboratorCount", "metricTypes", "schedule", "nextTriggerDates", "currentDistribution"},
        ),
        ("Obligation", {"id", "collaboratorId", "value", "status"}, {"distributionId", "collaboratorName", "history"}),
    ],
)
def test_objects_document_core_and_extended_fields(schema, component, core, extended):
    """Only ``id`` is required (``?fields=`` may leave out anything else); descriptions say core or extended."""
    definition = schema["components"]["schemas"][component]
    properties = definition["properties"]
    assert core | extended <= set(properties)
    assert definition["required"] == ["id"]
    assert all("Core: returned by default" in properties[name]["description"] for name in core - {"id"})
    assert all("Extended: returned only when named" in properties[name]["description"] for name in extended)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("resource", "component"),
    [("distributions", "Distribution"), ("distributors", "Distributor"), ("obligations", "Obligation")],
)
def test_real_responses_match_the_documented_objects(schema, api, organization, resource, component):
    from tests.factories import AllocationFactory

    AllocationFactory(distribution__distributor__organization=organization)
    definition = schema["components"]["schemas"][component]
    detail_only = {"allocations"} if resource == "distributions" else set()  # the list refuses them
    everything = api.get(f"{BASE}/{resource}", {"include": "extended"}).json()
    assert everything and all(set(row) == set(definition["properties"]) - detail_only for row in everything)
    detail = api.get(f"{BASE}/{resource}/{everything[0]['id']}", {"include": "extended"}).json()
    assert set(detail) == set(definition["properties"])
    core = {name for name, p in definition["properties"].items() if name == "id" or "Core:" in p["description"]}
    assert all(set(row) == core for row in api.get(f"{BASE}/{resource}").json())


def test_allocation_items_are_documented(schema):
    allocation = schema["components"]["schemas"]["Allocation"]
    assert {
        "id",
        "distributionId",
        "obligationId",
        "collaboratorId",
        "status",
        "value",
        "score",
        "rank",
        "trace",
    } == set(allocation["properties"])
    trace = schema["components"]["schemas"]["ShareTrace"]
    assert set(trace["properties"]) == {
        "shareNumerator",
        "shareDenominator",
        "exactValue",
        "floorValue",
        "remainder",
        "roundingUnit",
        "tieBreak",
    }
    tie_break = trace["properties"]["tieBreak"]["allOf"][0]["$ref"].rsplit("/", 1)[-1]
    assert schema["components"]["schemas"][tie_break]["enum"] == [
        "none",
        "remainder",
        "score",
        "firstCredit",
        "collaboratorId",
        "unfilledPlaces",
    ]


def test_standings_are_documented(schema):
    operation = schema["paths"]["/api/v1/distributions/{id}/standings"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"id", "number", "offset"}
    ok = operation["responses"]["200"]
    assert {"X-Total-Count", "Link", "X-Standings-Pool", "X-Standings-As-Of"} <= set(ok["headers"])
    listed = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schema["components"]["schemas"][listed] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Standing"},
    }
    standing = schema["components"]["schemas"]["Standing"]
    assert set(standing["properties"]) == {
        "rank",
        "collaboratorId",
        "collaboratorName",
        "score",
        "value",
        "sharePercent",
        "trace",
    }
    assert {"400", "401", "403", "404", "409", "429"} <= set(operation["responses"])
    assert "cancelled" in operation["description"] and "409" in operation["description"]


@pytest.mark.parametrize(
    ("path", "filters"),
    [
        ("/api/v1/distributions", {"status", "distributorId", "triggerDateFrom", "triggerDateTo"}),
        ("/api/v1/distributors", {"status", "s"}),
        ("/api/v1/obligations", {"status", "collaboratorId", "distributionId"}),
    ],
)
def test_lists_document_parameters_headers_and_errors(schema, path, filters):
    operation = schema["paths"][path]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"fields", "include", "number", "offset", "after", "orderBy", "order"} | filters == names
    ok = operation["responses"]["200"]
    assert {"X-Total-Count", "Link"} <= set(ok["headers"])
    assert ok["headers"]["X-Total-Count"]["schema"] == {"type": "string", "pattern": r"^[0-9]+\+?$"}
    assert ok["content"]["application/json"]["schema"]["$ref"].startswith("#/components/schemas/")
    for code in ("400", "401", "403", "429"):
        ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error"
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]


def test_allocations_endpoint_is_documented_as_a_list(schema):
    operation = schema["paths"]["/api/v1/distributions/{id}/allocations"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {
        "id",
        *("fields", "include", "number", "offset", "after", "orderBy", "order"),
        *("status", "collaboratorId"),
    }
    assert set(parameters["orderBy"]["schema"]["enum"]) == {"id", "rank", "value", "score", "collaboratorId"}
    assert "trace" in parameters["fields"]["schema"]["items"]["enum"]
    ok = operation["responses"]["200"]
    assert {"X-Total-Count", "Link"} <= set(ok["headers"])
    listed = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schema["components"]["schemas"][listed] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Allocation"},
    }
    assert {"400", "401", "403", "404", "429"} <= set(operation["responses"])


def test_the_list_does_not_offer_embedded_allocations(schema):
    listed = {p["name"]: p for p in schema["paths"]["/api/v1/distributions"]["get"]["parameters"]}
    assert "allocations" not in listed["fields"]["schema"]["items"]["enum"]
    detail = {p["name"]: p for p in schema["paths"]["/api/v1/distributions/{id}"]["get"]["parameters"]}
    assert "allocations" in detail["fields"]["schema"]["items"]["enum"]
    headers = schema["paths"]["/api/v1/distributions/{id}"]["get"]["responses"]["200"]["headers"]
    assert {"X-Allocation-Count", "Link"} <= set(headers)


def test_list_responses_are_arrays(schema):
    paginated = schema["components"]["schemas"]["PaginatedDistributionList"]
    assert paginated == {"type": "array", "items": {"$ref": "#/components/schemas/Distribution"}}


def test_order_by_enums_match_the_views(schema):
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/distributions"]["get"]["parameters"]}
    assert set(parameters["orderBy"]["schema"]["enum"]) == {
        "id",
        "status",
        "distributorId",
        "triggerDate",
        "dateCreated",
    }
    assert parameters["order"]["schema"]["enum"] == ["ASC", "DESC"]


def test_detail_documents_404(schema):
    assert "404" in schema["paths"]["/api/v1/distributions/{id}"]["get"]["responses"]


def test_credit_metric_is_documented(schema):
    operation = schema["paths"]["/api/v1/distributors/credit-metric"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "429"} <= set(operation["responses"])
    assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}
    assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][body]["properties"]) == {
        "collaboratorId",
        "distributorId",
        "metricType",
        "quantity",
    }


def test_error_shape_and_bearer_scheme(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"message", "errors"} and error["required"] == ["message"]
    scheme = schema["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert all(op["security"] == [{"apiKey": []}] for item in schema["paths"].values() for op in item.values())


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/docs/", "/docs"])
def test_docs_pages_load_local_assets_only(anon, path):
    response = anon.get(BASE + path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/v1/docs/assets/" in html
    assert "cdn." not in html and "https://" not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "asset",
    [
        "swagger-ui-dist/swagger-ui-bundle.js",
        "swagger-ui-dist/swagger-ui-standalone-preset.js",
        "swagger-ui-dist/swagger-ui.css",
        "swagger-ui-dist/favicon-32x32.png",
    ],
)
def test_docs_assets_are_served(anon, asset):
    response = anon.get(f"{BASE}/docs/assets/{asset}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)


@pytest.mark.django_db
def test_docs_assets_do_not_serve_other_files(anon):
    for path in ("../../../../etc/passwd", "swagger-ui-dist/../../../../../__init__.py", "redoc/x.js"):
        response = anon.get(f"{BASE}/docs/assets/{path}")
        assert response.status_code == 404 and set(response.json()) == {"message"}


@pytest.mark.django_db
def test_schema_needs_no_key_and_ignores_a_bad_one(anon):
    anon.credentials(HTTP_AUTHORIZATION="Bearer bad.key")
    assert anon.get(f"{BASE}/schema/").status_code == 200
