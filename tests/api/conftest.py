"""The API tests start with empty throttle counts; their fixtures (``organization``, ``api``, ...) are the
shared ones of ``tests/conftest.py``."""

import pytest
from django.core.cache import caches


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    for store in caches.all():
        store.clear()
    yield
    for store in caches.all():
        store.clear()
