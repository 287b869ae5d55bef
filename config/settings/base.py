"""Settings shared by every mode, read from the environment.

`DATABASE_URL` defaults to a SQLite file inside the project (``var/db.sqlite3``) so the project runs
with no database server; point it at PostgreSQL (``postgres://user@host:5432/name``) in production.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "lifecycle",
    "organizations",
    "collaborators",
    "distributors",
    "events",
    "metrics",
    "obligations",
    "webhooks",
    "distributions",
]

MIDDLEWARE = [
    "api.middleware.HeadWithoutBody",  # outermost: runs last on the way out
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "api.middleware.ApiDatabaseUnavailable",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a competing writer instead of failing at once; commit-time locks take the write lock
    # up front so that a read-then-write transaction cannot deadlock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# --- REST API (api/) -----------------------------------------------------------------------------------
# Every API view authenticates a bearer API key, checks its scope and throttles per key; the base viewset
# (api.viewsets.TenantReadOnlyViewSet) sets these too, the defaults only protect views added outside it.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasApiKeyScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# Request bodies above this size are refused (a JSON 400 on /api/ paths): credit bodies are small.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(1024 * 1024)))
# Requests per API key (DRF rate syntax: "1200/min", "50/s"); "off" disables throttling.
API_THROTTLE_RATE = os.environ.get("API_THROTTLE_RATE", "1200/min")

# Failed authentications allowed per client address ("off" disables).
API_AUTH_FAILURE_RATE = os.environ.get("API_AUTH_FAILURE_RATE", "30/min")


def throttle_cache(choice: str) -> dict:
    """The ``throttle`` cache for ``THROTTLE_CACHE`` ``locmem`` (per process) or a ``redis://`` URL (Django's
    Redis backend; needs the ``redis`` package). ``db`` (the default) needs no cache: the counts go to the
    database table ``api_throttle_count`` (``api.throttling.DatabaseStore``), shared by every worker."""
    if choice.startswith(("redis://", "rediss://")):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": choice}
    if choice in ("locmem", "db"):
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-throttle"}
    raise ValueError(f"THROTTLE_CACHE must be db, locmem or a redis:// URL, got {choice!r}.")


THROTTLE_CACHE = os.environ.get("THROTTLE_CACHE", "db").strip()
THROTTLE_STORE = "db" if THROTTLE_CACHE == "db" else "cache"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "distribution-engine",
    },
    "throttle": throttle_cache(THROTTLE_CACHE),
}

_DOCS_ASSETS = "/api/v1/docs/assets"
SPECTACULAR_SETTINGS = {
    "TITLE": "Distribution engine API",
    "DESCRIPTION": (
        "Read-only distributions, distributors and obligations of your organization, plus metric crediting.\n\n"
        "Authenticate with `Authorization: Bearer <api key>`. Lists are JSON arrays paginated by `number` "
        "(default 10, at most 100) and `offset`; the total is in `X-Total-Count` and neighbouring pages in "
        "`Link`. `?fields=a,b` picks fields (core or extended, `id` always), `?include=extended` returns them "
        'all. Errors are `{"message": "...", "errors": {"field": ["..."]}}` (`errors` for validation only).'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "PREPROCESSING_HOOKS": ["api.schema.strip_optional_trailing_slash"],
    "ENUM_NAME_OVERRIDES": {
        "DistributionStatusEnum": "distributions.models.DistributionStatus",
        "DistributorStatusEnum": "distributors.models.DistributorStatus",
        "ObligationStatusEnum": "obligations.models.ObligationStatus",
    },
    # Swagger UI from drf-spectacular-sidecar, served by api/docs.py: no CDN at run time.
    "SWAGGER_UI_DIST": f"{_DOCS_ASSETS}/swagger-ui-dist",
    "SWAGGER_UI_FAVICON_HREF": f"{_DOCS_ASSETS}/swagger-ui-dist/favicon-32x32.png",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayOperationId": False},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# --- Events and webhooks (events/, webhooks/) --------------------------------------------------------------
# Events older than this are deleted by ``manage.py prune_events`` (run it daily).
EVENT_RETENTION_DAYS = int(os.environ.get("EVENT_RETENTION_DAYS", "30"))
# Endpoint URLs must be https unless this is on (development); they must resolve to public addresses unless
# WEBHOOKS_ALLOW_LOOPBACK is on (tests, development: loopback only, private ranges stay refused).
WEBHOOKS_ALLOW_HTTP = env_bool("WEBHOOKS_ALLOW_HTTP", False)
WEBHOOKS_ALLOW_LOOPBACK = env_bool("WEBHOOKS_ALLOW_LOOPBACK", False)
# A deliverer's claim on a delivery lasts this long (a killed deliverer's claims are retaken after it); it must
# exceed one request's connect + read timeouts.
WEBHOOKS_CLAIM_LEASE_SECONDS = int(os.environ.get("WEBHOOKS_CLAIM_LEASE_SECONDS", "60"))
WEBHOOKS_CONNECT_TIMEOUT = float(os.environ.get("WEBHOOKS_CONNECT_TIMEOUT", "5"))
WEBHOOKS_READ_TIMEOUT = float(os.environ.get("WEBHOOKS_READ_TIMEOUT", "10"))
# Retried with exponential backoff and jitter for this long after the event, then the delivery is failed.
WEBHOOKS_RETRY_HOURS = float(os.environ.get("WEBHOOKS_RETRY_HOURS", "72"))
# An endpoint whose deliveries have failed (none succeeding) for this long is disabled.
WEBHOOKS_DISABLE_AFTER_DAYS = float(os.environ.get("WEBHOOKS_DISABLE_AFTER_DAYS", "3"))
# After a rotation the previous secret keeps signing (both signatures are sent) for this long.
WEBHOOKS_SECRET_OVERLAP_HOURS = float(os.environ.get("WEBHOOKS_SECRET_OVERLAP_HOURS", "24"))

# --- Locks between credits and the engine (distributors.selectors, distributions.trigger) --------------------
# A credit waits at most this long for a trigger holding its distributor, then answers 503 (nothing written).
CREDIT_LOCK_TIMEOUT_MS = int(os.environ.get("CREDIT_LOCK_TIMEOUT_MS", "3000"))
# A trigger waits at most this long for the in-flight credits of its own period, then leaves the period to the
# next heartbeat (reported as skipped).
TRIGGER_LOCK_WAIT_MS = int(os.environ.get("TRIGGER_LOCK_WAIT_MS", "5000"))
# A credit stamped after its distributor's open period ended holds nothing unless it is this much later (a
# heartbeat that late); must stay well below an hour, the shortest period a schedule allows.
CREDIT_HOLD_GRACE_SECONDS = int(os.environ.get("CREDIT_HOLD_GRACE_SECONDS", "600"))
