"""Test mode: fast hashing, no throttling surprises, in-memory SQLite unless DATABASE_URL is set."""

import os

from .base import *  # noqa: F403
from .base import CACHES, DATABASES, throttle_cache

SECRET_KEY = "django-insecure-test-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Throttle counts per process in tests, so that query-count tests pin the API's own queries; the shared
# database store is exercised by tests/api/test_throttling.py and the gunicorn proofs.
THROTTLE_CACHE = os.environ.get("THROTTLE_CACHE", "locmem")
THROTTLE_STORE = "db" if THROTTLE_CACHE == "db" else "cache"
CACHES["throttle"] = throttle_cache(THROTTLE_CACHE)
# The webhook tests deliver to a real receiver on 127.0.0.1 over plain HTTP; private ranges stay refused.
WEBHOOKS_ALLOW_HTTP = True
WEBHOOKS_ALLOW_LOOPBACK = True
