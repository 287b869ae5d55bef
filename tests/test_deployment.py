"""Production settings: refuse a missing or weak secret key, DEBUG off by default, secure cookies, clean
``check --deploy``. Each case runs ``manage.py`` in a subprocess, because settings load once per process."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = secrets.token_urlsafe(50)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    environment.update({"DJANGO_SETTINGS_MODULE": "config.settings.production", "DATABASE_URL": "sqlite://:memory:"})
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "key",
    ["", "django-insecure-development-only-key-do-not-deploy", "short", "a" * 60],
    ids=lambda k: k[:12] or "unset",
)
def test_production_refuses_to_start_without_a_real_secret_key(key):
    result = manage("check", SECRET_KEY=key)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SECRET_KEY" in lines[0]


def test_check_deploy_is_clean_with_a_real_secret_key():
    result = manage("check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=STRONG_KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def settings_values(**env: str) -> dict:
    code = (
        "from django.conf import settings as s; import json; print(json.dumps({'debug': s.DEBUG, "
        "'session_secure': s.SESSION_COOKIE_SECURE, 'csrf_secure': s.CSRF_COOKIE_SECURE, "
        "'ssl_redirect': s.SECURE_SSL_REDIRECT, 'hsts': s.SECURE_HSTS_SECONDS}))"
    )
    result = manage("shell", "-c", code, SECRET_KEY=STRONG_KEY, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_debug_is_off_unless_asked_for_and_cookies_are_secure():
    values = settings_values()
    assert values == {
        "debug": False,
        "session_secure": True,
        "csrf_secure": True,
        "ssl_redirect": True,
        "hsts": 31536000,
    }
    assert settings_values(DEBUG="true")["debug"] is True
