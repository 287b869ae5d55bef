"""Engine runs whose process is gone: the heartbeat marks them ``abandoned``.

A run that is SIGKILLed, OOM-killed or loses its machine never records its end, so it would stay ``running``
forever. Each run therefore holds, for its whole life, a session-level PostgreSQL advisory lock named after
its id (``ENGINE_RUN_LOCK_SPACE``, id): the database releases it the moment the run's connection ends,
whatever ended it. Every heartbeat starts by trying that lock for each run still marked ``running``: a lock
it can take belongs to a run that is gone, which it marks ``abandoned`` (with the time it noticed). A live
run's lock cannot be taken, so a slow run on another machine is never mistaken for a dead one.

SQLite has no advisory locks and serves one machine: there a run is gone when its ``pid`` no longer exists
on this host.
"""

import os
import socket

from django.db import connection
from django.utils import timezone

from distributions.models import EngineRun, EngineRunStatus

ENGINE_RUN_LOCK_SPACE = 72_410  # the first key of the engine runs' advisory locks (an arbitrary constant)


def _lock_key(run_id: int) -> int:
    return run_id % 2_147_483_647  # the second int4 key


def engine_run_hold(run: EngineRun) -> None:
    """Hold the run's lock for as long as this process's connection lives (PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [ENGINE_RUN_LOCK_SPACE, _lock_key(run.pk)])


def engine_run_release(run: EngineRun) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ENGINE_RUN_LOCK_SPACE, _lock_key(run.pk)])


def _gone(run: EngineRun) -> bool:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ENGINE_RUN_LOCK_SPACE, _lock_key(run.pk)])
            (taken,) = cursor.fetchone()
            if taken:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ENGINE_RUN_LOCK_SPACE, _lock_key(run.pk)])
            return taken
    if run.host != socket.gethostname()[:200] or run.pid is None:
        return False  # another machine's run: nothing to look at from here
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, another user's
    return False


def engine_runs_mark_abandoned(*, exclude_id: int | None = None) -> list[int]:
    """Mark every ``running`` engine run whose process is gone as ``abandoned``; return their ids."""
    abandoned = []
    for run in EngineRun.objects.filter(status=EngineRunStatus.RUNNING).exclude(pk=exclude_id).order_by("pk"):
        if _gone(run):
            marked = EngineRun.objects.filter(pk=run.pk, status=EngineRunStatus.RUNNING).update(
                status=EngineRunStatus.ABANDONED, finished_at=timezone.now()
            )
            if marked:
                abandoned.append(run.pk)
    return abandoned
