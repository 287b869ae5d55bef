"""Engine runs whose process is gone are marked abandoned by the next heartbeat; live ones are left alone."""

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.db import connection

from distributions.engine_runs import ENGINE_RUN_LOCK_SPACE, engine_runs_mark_abandoned
from distributions.models import EngineRun
from tests.distributions.helpers import run_engine
from tests.factories import EngineRunFactory

pytestmark = pytest.mark.django_db

HOST = socket.gethostname()[:200]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid  # ended and reaped: no process has this pid now (until the system reuses it)


def test_on_sqlite_a_run_whose_pid_is_gone_is_abandoned_and_a_live_one_is_not():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's rule (the pid on this host); PostgreSQL's is the advisory lock, tested below")
    dead = EngineRunFactory(status="running", host=HOST, pid=dead_pid())
    alive = EngineRunFactory(status="running", host=HOST, pid=os.getpid())
    elsewhere = EngineRunFactory(status="running", host="another-machine", pid=dead.pid)

    summary = run_engine("--now", "2026-02-01T00:00:00Z")

    assert EngineRun.objects.get(pk=dead.pk).status == "abandoned"
    assert EngineRun.objects.get(pk=dead.pk).finished_at is not None
    assert EngineRun.objects.get(pk=alive.pk).status == "running"
    assert EngineRun.objects.get(pk=elsewhere.pk).status == "running"  # cannot be checked from here
    assert EngineRun.objects.get(pk=summary["engine_run_id"]).status == "succeeded"


@pytest.mark.postgres
def test_on_postgresql_a_run_without_its_lock_is_abandoned_and_a_run_holding_it_is_not():
    import psycopg

    from tests.races import database_url

    gone = EngineRunFactory(
        status="running", host="another-machine", pid=1, started_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    live = EngineRunFactory(
        status="running", host="another-machine", pid=2, started_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    finished = EngineRunFactory(status="succeeded", host="another-machine", pid=3)
    # The live run's process: its own connection holds the run's lock, as a heartbeat does while it works.
    with psycopg.connect(database_url(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [ENGINE_RUN_LOCK_SPACE, live.pk])
        assert engine_runs_mark_abandoned() == [gone.pk]
    assert EngineRun.objects.get(pk=gone.pk).status == "abandoned"
    assert EngineRun.objects.get(pk=live.pk).status == "running"
    assert EngineRun.objects.get(pk=finished.pk).status == "succeeded"
    # Its lock was only tried, not kept: the run itself can still be marked by the next heartbeat.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s", [ENGINE_RUN_LOCK_SPACE]
        )
        assert cursor.fetchone()[0] == 0
