"""Helpers for the proofs: run ``manage.py`` in real subprocesses against the test database."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection

from distributions.models import Allocation, Distribution

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The URL of the database the test runs on (the test database, not the configured one)."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def manage_process(*args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def results_snapshot() -> dict:
    """Every triggered distribution and its shares, by natural keys, so that two runs can be compared."""
    distributions = {
        (d.distributor_id, d.trigger_date.isoformat()): (d.status, d.pool, d.value, d.unallocated, d.rolled_over)
        for d in Distribution.objects.all()
    }
    shares = sorted(
        Allocation.objects.values_list(
            "distribution__distributor_id", "distribution__trigger_date", "collaborator_id", "value", "score", "rank"
        )
    )
    return {"distributions": distributions, "shares": shares}


def assert_nothing_half_written() -> None:
    """A distribution is untouched (pending, nothing allocated) or fully triggered (shares add up)."""
    for distribution in Distribution.objects.all():
        allocated = sum(Allocation.objects.filter(distribution=distribution).values_list("value", flat=True))
        if distribution.status == "pending":
            assert distribution.pool is None and allocated == 0, distribution
        else:
            assert distribution.pool is not None and allocated == distribution.value, distribution
    # Every obligation a distribution created belongs to an allocation, and vice versa (one-to-one).
    from obligations.models import Obligation

    assert not Obligation.objects.filter(award_type="distribution", allocation__isnull=True).exists()


@pytest.fixture
def as_of() -> datetime:
    return datetime(2026, 6, 1, 12, tzinfo=UTC)
