"""Schema fuzzing: schemathesis drives every operation of /api/v1/schema/ with a valid key. No response is
a 5xx and every response conforms to the schema (status code, content type, headers, body).

Bounded by ``FUZZ_EXAMPLES`` per operation (default 60) so it runs in CI in well under a few minutes; set
the variable higher for a longer hunt.
"""

import os
from datetime import UTC, datetime

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings

from config.wsgi import application
from tests.factories import (
    AllocationFactory,
    ApiKeyFactory,
    CollaboratorAliasFactory,
    CollaboratorFactory,
    DistributorFactory,
    OrganizationFactory,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.fixture
def populated_api_key(settings):
    settings.API_THROTTLE_RATE = "off"
    cache.clear()
    organization = OrganizationFactory(slug="fuzz")
    other = OrganizationFactory(slug="fuzz-other")
    for org in (organization, other):
        distributor = DistributorFactory(organization=org, metric_types={"manual": 1, "sale": 5})
        collaborator = CollaboratorFactory(organization=org)
        CollaboratorAliasFactory(collaborator=collaborator, organization=org, code=f"REF-{org.slug}")
        AllocationFactory(
            organization=org,
            collaborator=collaborator,
            distribution__distributor=distributor,
            distribution__trigger_date=datetime(2026, 2, 1, tzinfo=UTC),
        )
    return ApiKeyFactory(organization=organization, scopes=["read", "metrics:write"])


@pytest.fixture
def keep_test_connection():
    """Calling the WSGI app directly fires request_started/finished, whose ``close_old_connections`` would
    close the test's connection (and its transaction); Django's test client disconnects it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_every_operation_conforms_to_the_schema(populated_api_key, keep_test_connection):
    headers = {"Authorization": f"Bearer {populated_api_key.secret}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9, [op.label for op in operations]
    failures: set[str] = set()
    generated = 0

    def fuzz(operation):
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def exercise(case):
            nonlocal generated
            generated += 1
            response = case.call(headers=headers)
            try:
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, BaseExceptionGroup) as exc:  # check failures: record each, report all at the end
                reason = " | ".join(line.strip() for line in str(exc).strip().splitlines()[:4] if line.strip())
                failures.add(f"{operation.label} -> {response.status_code}: {reason}\n    {case.as_curl_command()}")

        exercise()

    for operation in operations:
        fuzz(operation)

    print(f"schemathesis: {len(operations)} operations, {generated} cases generated, {len(failures)} failing")
    assert not failures, "\n".join(sorted(failures))
