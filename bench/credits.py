"""Sustained ``POST /api/v1/distributors/credit-metric`` load against gunicorn on loopback; used by ``bench/run.py``.

``run_credit_load`` (call it in a process of its own: it sets Django up with production settings):

1. Seeds the (fresh, migrated) database: one organization, one active distributor counting ``sale`` at 3
   points with its pending period open, 5 active collaborators, an API key with the ``metrics:write`` scope.
2. Counts the SQL queries of one credit request in process (Django test client).
3. Serves the app with gunicorn on 127.0.0.1 (free port; ``workers`` x gthread ``threads``; production
   settings, DEBUG off, throttling on at a rate that refuses nothing, persistent DB connections).
4. ``clients`` threads (one keep-alive ``http.client`` connection each) first send ``warmup`` credits each
   (not timed: connections and code paths warm up), then ``requests`` credits in total (timed: requests/s,
   p50/p99, gunicorn CPU per request), each with a unique ``Idempotency-Key``; every loop is bounded by
   count and by ``time_limit`` seconds.
5. Stops the server and reconciles (warm-up included): every 201 must have written exactly one credit row
   (one distributor counts the metric) with the points it announced. ``credits_lost`` = 201 answers - rows
   written for the run's keys; ``credits_extra`` = rows written for requests the client never saw a 201 for.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path

from bench.server import free_port, server_cpu_seconds, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
URL = "/api/v1/distributors/credit-metric"
KEY_PREFIX = "bench-credit-"


def server_env(database_url: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_THROTTLE_RATE": "100000000/min",
        "CONN_MAX_AGE": "600",
    }


def seed() -> tuple[list[int], str]:
    """The organization, distributor, collaborators and key; returns (collaborator ids, API key secret)."""
    from django.core.management import call_command
    from django.db import transaction

    from collaborators.models import Collaborator
    from distributions.services import distribution_open_first
    from distributors.models import Distributor, MetricType
    from organizations.models import Organization
    from organizations.services import api_key_create

    call_command("migrate", verbosity=0)
    with transaction.atomic():
        organization = Organization.objects.create(name="Bench credits", slug="bench-credits", timezone="UTC")
        distributor = Distributor.objects.create(
            organization=organization,
            name="Sales",
            pool_amount=100_000,
            schedule="monthly",
            starts_at=datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(days=31),
        )
        MetricType.objects.create(distributor=distributor, name="sale", points=3)
        distribution_open_first(distributor=distributor)
        collaborators = Collaborator.objects.bulk_create(
            Collaborator(organization=organization, full_name=f"Seller {i}", email=f"seller{i}@bench.example")
            for i in range(5)
        )
        _, secret = api_key_create(organization=organization, name="bench credits", scopes=["metrics:write"])
    return [c.pk for c in collaborators], secret


def queries_per_credit(collaborator_id: int, secret: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    headers = {"Authorization": f"Bearer {secret}"}
    body = {"collaboratorId": collaborator_id, "metricType": "sale", "quantity": 1}
    for n in range(2):  # the first one warms caches (last_used_at, content types)
        with CaptureQueriesContext(connection) as context:
            response = client.post(
                URL, body, content_type="application/json", headers={**headers, "Idempotency-Key": f"warm-{n}"}
            )
        assert response.status_code == 201, (response.status_code, response.content[:300])
    return len(context.captured_queries)


class _Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.announced_points = 0
        self.announced_credits = 0
        self.replayed = 0
        self.errors: list[str] = []


def _client(
    index: int, count: int, port: int, secret: str, collaborators: list[int], deadline: float, tally: _Tally, tag: str
):
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, statuses = [], Counter()
    points = credits = replayed = 0
    errors = []
    for n in range(count):
        if time.monotonic() > deadline:
            statuses["not sent (time limit)"] += count - n
            break
        body = json.dumps(
            {
                "collaboratorId": collaborators[(index + n) % len(collaborators)],
                "metricType": "sale",
                "quantity": 1 + n % 3,
            }
        )
        started = time.perf_counter()
        try:
            connection.request(
                "POST", URL, body=body, headers={**headers, "Idempotency-Key": f"{KEY_PREFIX}{tag}{index}-{n}"}
            )
            response = connection.getresponse()
            payload = response.read()
        except (OSError, ValueError) as exc:  # connection reset, timeout, bad status line
            statuses["connection error"] += 1
            errors.append(repr(exc))
            connection.close()
            connection = HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append(time.perf_counter() - started)
        statuses[str(response.status)] += 1
        if response.status == 201:
            answer = json.loads(payload)
            points += answer["totalPoints"]
            credits += len(answer["credits"])
            replayed += response.getheader("Idempotent-Replayed") == "true"
        elif len(errors) < 5:
            errors.append(f"{response.status}: {payload[:200]!r}")
        if response.will_close:
            connection.close()
            connection = HTTPConnection("127.0.0.1", port, timeout=30)
    connection.close()
    with tally.lock:
        tally.statuses.update(statuses)
        tally.latencies.extend(latencies)
        tally.announced_points += points
        tally.announced_credits += credits
        tally.replayed += replayed
        tally.errors.extend(errors[:5])


def run_credit_load(
    database_url: str,
    *,
    requests: int,
    clients: int = 8,
    workers: int = 2,
    threads: int = 4,
    warmup: int = 2,
    time_limit: float = 60,
) -> dict:
    env = server_env(database_url)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection, connections

    collaborators, secret = seed()
    queries = queries_per_credit(collaborators[0], secret)
    connections.close_all()

    port = free_port()
    server = start_gunicorn(port, workers, env, threads=threads)
    warm, tally = _Tally(), _Tally()
    try:
        deadline = time.monotonic() + time_limit

        def load(total: int, into: _Tally, tag: str) -> float:
            per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
            pool = [
                threading.Thread(
                    target=_client, args=(i, per_client[i], port, secret, collaborators, deadline, into, tag)
                )
                for i in range(clients)
            ]
            started = time.perf_counter()
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join(timeout=max(1.0, deadline - time.monotonic()) + 60)
            return time.perf_counter() - started

        # Warm-up, not timed (each worker thread opens its DB connection and loads its code paths); its credits
        # are reconciled with the others.
        load(warmup * clients, warm, "warm-")
        cpu_before = server_cpu_seconds(server)
        elapsed = load(requests, tally, "")
        cpu_after = server_cpu_seconds(server)
    finally:
        server.terminate()
        server.wait(timeout=30)

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(DISTINCT r.id), count(c.id), COALESCE(SUM(c.points), 0)
            FROM metrics_creditrequest r LEFT JOIN metrics_metriccredit c ON c.request_id = r.id
            WHERE r.idempotency_key LIKE %s
            """,
            [KEY_PREFIX + "%"],
        )
        requests_written, rows_written, points_written = cursor.fetchone()
    answered_201 = tally.statuses.get("201", 0) + warm.statuses.get("201", 0)
    answered = len(tally.latencies)
    non_2xx = sum(n for status, n in tally.statuses.items() if not status.startswith("2"))
    flat = sorted(tally.latencies)
    return {
        "credit_rps": round(answered / elapsed, 1) if elapsed else None,
        "credits_lost": answered_201 - rows_written,
        "credits_extra": max(0, rows_written - answered_201),
        "credit_requests_sent": sum(n for s, n in tally.statuses.items() if s != "not sent (time limit)"),
        "credit_answers": dict(tally.statuses),
        "credit_non_2xx": non_2xx,
        "credit_replayed": tally.replayed,
        "credit_points_match": points_written == tally.announced_points + warm.announced_points
        and rows_written == tally.announced_credits + warm.announced_credits,
        "credit_warmup_requests": sum(warm.statuses.values()),
        "credit_warmup_non_201": sum(n for status, n in warm.statuses.items() if status != "201"),
        "credit_server_cpu_ms_per_request": round((cpu_after - cpu_before) / len(tally.latencies) * 1000, 2)
        if cpu_before is not None and cpu_after is not None and tally.latencies
        else None,
        "credit_requests_written": requests_written,
        "credit_rows_written": rows_written,
        "credit_p50_ms": round(statistics.median(flat) * 1000, 2) if flat else None,
        "credit_p99_ms": round(flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000, 2) if flat else None,
        "credit_queries_per_request": queries,
        "credit_seconds": round(elapsed, 2),
        "credit_errors_sample": tally.errors[:5],
        "credit_server": f"gunicorn {workers} workers x gthread {threads}, {clients} client threads (keep-alive)",
    }
