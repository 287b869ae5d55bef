"""One heartbeat under a steady credit stream: how many due periods does it trigger? Used by ``bench/run.py``.

``run_heartbeat_under_load`` (call it in a process of its own: it sets Django up with production settings):

1. Seeds the (fresh, migrated) database: one organization, ``periods`` active daily distributors (each
   counting ``sale`` at 3 points, every collaborator eligible) whose pending period ended at today's midnight
   UTC (due), 200 active collaborators with back-dated credits in those periods, an API key.
2. Serves the app with gunicorn and streams ``rate`` credit-metric requests a second (paced from 5
   keep-alive clients, no ``distributorId``: each credit counts on every one of the distributors, so each one
   holds all of them while it is written), the real traffic the heartbeat has to live with.
3. After a warm-up, runs ONE ``manage.py run_distributions --json`` in a fresh process while the stream goes
   on, then stops the stream.
4. Counts the due periods that are no longer pending (``heartbeat_under_load_triggered``, of ``periods``) and
   checks each triggered period's allocation scores against its ledger (the credits in (period start,
   trigger date]): ``heartbeat_under_load_scores_match``. Stream credits are stamped after the trigger dates,
   so they belong to the next periods and must not be counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path

from bench.credits import KEY_PREFIX, URL, server_env
from bench.server import free_port, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent


def seed(
    periods: int, collaborator_count: int = 200, credits_per_period: int = 2000
) -> tuple[list[int], list[int], str]:
    """Returns (due distribution ids, collaborator ids, API key secret)."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from collaborators.models import Collaborator
    from distributions.services import distribution_open_first
    from distributors.models import Distributor, MetricType
    from metrics.models import CreditRequest, CreditSource
    from organizations.models import Organization
    from organizations.services import api_key_create

    call_command("migrate", verbosity=0)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction.atomic():
        organization = Organization.objects.create(name="Bench heartbeat", slug="bench-heartbeat", timezone="UTC")
        collaborators = Collaborator.objects.bulk_create(
            Collaborator(organization=organization, full_name=f"Seller {i}", email=f"seller{i}@bench.example")
            for i in range(collaborator_count)
        )
        request = CreditRequest.objects.create(
            organization=organization,
            request_fingerprint="0" * 64,
            source=CreditSource.SEED,
            created_at=midnight - timedelta(days=1),
        )
        due = []
        for n in range(periods):
            distributor = Distributor.objects.create(
                organization=organization,
                name=f"Daily {n}",
                pool_amount=100_000,
                schedule="daily",
                starts_at=midnight - timedelta(days=1),
            )
            MetricType.objects.create(distributor=distributor, name="sale", points=3)
            pending = distribution_open_first(distributor=distributor)
            due.append(pending.pk)
            with connection.cursor() as cursor:  # back-dated credits inside the due period
                cursor.execute(
                    """
                    INSERT INTO metrics_metriccredit (organization_id, request_id, distributor_id, collaborator_id,
                        metric_type, quantity, points_per_unit, points, credited_at)
                    SELECT %s, %s, %s, (%s::bigint[])[1 + g %% %s], 'sale', 1 + g %% 3, 3, 3 * (1 + g %% 3),
                           %s::timestamptz + (1 + (g * 7919) %% 86000) * INTERVAL '1 second'
                    FROM generate_series(0, %s - 1) AS g
                    """,
                    [
                        organization.pk,
                        request.pk,
                        distributor.pk,
                        [c.pk for c in collaborators],
                        collaborator_count,
                        pending.period_start,
                        credits_per_period,
                    ],
                )
        _, secret = api_key_create(organization=organization, name="bench heartbeat", scopes=["metrics:write"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return due, [c.pk for c in collaborators], secret


def _stream(index: int, per_second: float, port: int, secret: str, collaborators: list[int], stop, tally, lock):
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    statuses: Counter[str] = Counter()
    started = time.monotonic()
    n = 0
    while not stop.is_set():
        wait = started + n / per_second - time.monotonic()
        if wait > 0 and stop.wait(wait):
            break
        body = json.dumps({"collaboratorId": collaborators[(index * 7 + n) % len(collaborators)], "metricType": "sale"})
        try:
            connection.request(
                "POST", URL, body=body, headers={**headers, "Idempotency-Key": f"{KEY_PREFIX}hb-{index}-{n}"}
            )
            response = connection.getresponse()
            response.read()
            statuses[str(response.status)] += 1
            if response.will_close:
                connection.close()
                connection = HTTPConnection("127.0.0.1", port, timeout=30)
        except (OSError, ValueError):
            statuses["connection error"] += 1
            connection.close()
            connection = HTTPConnection("127.0.0.1", port, timeout=30)
        n += 1
    connection.close()
    with lock:
        tally.update(statuses)


def run_heartbeat_under_load(
    database_url: str, *, periods: int = 20, rate: float = 50.0, warmup: float = 3.0, time_limit: float = 240.0
) -> dict:
    env = server_env(database_url)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection, connections

    due, collaborators, secret = seed(periods)
    connections.close_all()
    port = free_port()
    server = start_gunicorn(port, 2, env, threads=4)
    stop, lock, tally = threading.Event(), threading.Lock(), Counter()
    clients = 5
    pool = [
        threading.Thread(target=_stream, args=(i, rate / clients, port, secret, collaborators, stop, tally, lock))
        for i in range(clients)
    ]
    heartbeat: dict = {}
    try:
        stream_started = time.monotonic()
        for thread in pool:
            thread.start()
        time.sleep(warmup)
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "manage.py", "run_distributions", "--json"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=time_limit,
            check=False,
        )
        heartbeat_seconds = time.perf_counter() - started
        time.sleep(1.0)
        try:
            heartbeat = json.loads(child.stdout)
        except json.JSONDecodeError:
            heartbeat = {"stdout": child.stdout[-500:], "stderr": child.stderr[-1500:]}
    finally:
        stop.set()
        for thread in pool:
            thread.join(timeout=60)
        stream_seconds = time.monotonic() - stream_started
        server.terminate()
        server.wait(timeout=30)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM distributions_distribution WHERE id = ANY(%s) AND status <> 'pending'", [due]
        )
        (triggered,) = cursor.fetchone()
        cursor.execute(
            """
            SELECT d.id,
                   (SELECT COALESCE(SUM(a.score), 0) FROM distributions_allocation a WHERE a.distribution_id = d.id),
                   (SELECT COALESCE(SUM(c.points), 0) FROM metrics_metriccredit c
                    WHERE c.distributor_id = d.distributor_id
                      AND c.credited_at > d.period_start AND c.credited_at <= d.trigger_date)
            FROM distributions_distribution d WHERE d.id = ANY(%s) AND d.status <> 'pending'
            """,
            [due],
        )
        mismatched = [row[0] for row in cursor.fetchall() if row[1] != row[2]]
        cursor.execute(
            "SELECT count(*) FROM metrics_metriccredit WHERE request_id IN "
            "(SELECT id FROM metrics_creditrequest WHERE idempotency_key LIKE %s)",
            [KEY_PREFIX + "%"],
        )
        (stream_rows,) = cursor.fetchone()
    sent = sum(n for status, n in tally.items() if status != "connection error")
    return {
        "heartbeat_under_load_triggered": triggered,
        "heartbeat_under_load_periods": len(due),
        "heartbeat_under_load_scores_match": not mismatched and triggered > 0,
        "heartbeat_under_load_mismatched_distributions": mismatched,
        "heartbeat_under_load_seconds": round(heartbeat_seconds, 2),
        "heartbeat_under_load_exit_status": child.returncode,
        "heartbeat_under_load_summary": {
            "counts": heartbeat.get("counts"),
            "skipped": heartbeat.get("skipped"),
            "errors": [e.get("error") for e in heartbeat.get("errors") or []][:3],
        }
        if "stdout" not in heartbeat
        else heartbeat,
        "heartbeat_under_load_stream_rate": round(sent / stream_seconds, 1) if stream_seconds else None,
        "heartbeat_under_load_stream_answers": dict(tally),
        "heartbeat_under_load_stream_rows": stream_rows,
        "heartbeat_under_load_stream_target_rate": rate,
    }
