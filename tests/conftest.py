import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    """Skip ``@pytest.mark.postgres`` tests, with the reason, when the database is not PostgreSQL."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(
        reason=f"needs PostgreSQL (row locks, concurrent connections); running on {connection.vendor}"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
