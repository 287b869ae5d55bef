"""The API tests start with empty throttle counts; their fixtures (``organization``, ``api``, ...) are the
shared ones of ``tests/conftest.py``."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()
