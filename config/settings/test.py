"""Test mode: fast hashing, no throttling surprises, in-memory SQLite unless DATABASE_URL is set."""

from .base import *  # noqa: F403
from .base import DATABASES

SECRET_KEY = "django-insecure-test-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0
