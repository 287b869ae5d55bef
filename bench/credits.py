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

from bench.cpu import backends_cpu_delta, database_backends_cpu
from bench.server import free_port, server_cpu_seconds, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent
URL = "/api/v1/distributors/credit-metric"
BATCH_URL = "/api/v1/distributors/credit-metric/batch"
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


def seed(collaborator_count: int = 5) -> tuple[list[int], str]:
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
            for i in range(collaborator_count)
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
        db_before = database_backends_cpu(database_url, database_name(database_url))
        elapsed = load(requests, tally, "")
        cpu_after = server_cpu_seconds(server)
        db_cpu = backends_cpu_delta(db_before, database_backends_cpu(database_url, database_name(database_url)))
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
        "credit_db_cpu_ms_per_request": round(db_cpu / len(tally.latencies) * 1000, 2)
        if db_cpu is not None and tally.latencies
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


def database_name(database_url: str) -> str:
    return database_url.rsplit("/", 1)[1].split("?")[0]


class _BatchTally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.accepted_items = 0
        self.accepted_points = 0
        self.replays: list[tuple[bool, int]] = []  # (answered 2xx, status) of each client's replayed batch
        self.errors: list[str] = []


def _batch_body(collaborators: list[int], offset: int, size: int) -> tuple[bytes, int]:
    items = [
        {
            "collaboratorId": collaborators[(offset + n) % len(collaborators)],
            "metricType": "sale",
            "quantity": 1 + n % 3,
        }
        for n in range(size)
    ]
    return json.dumps({"credits": items}).encode(), sum(item["quantity"] for item in items)


def _batch_client(
    index: int,
    port: int,
    secret: str,
    bodies: list[tuple[bytes, int]],
    deadline: float,
    tally: _BatchTally,
    size: int,
    limit: int | None = None,
) -> None:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    connection = HTTPConnection("127.0.0.1", port, timeout=60)
    statuses, latencies, errors = Counter(), [], []
    items = points = 0
    last = None
    n = 0
    while time.monotonic() < deadline and (limit is None or n < limit):
        body, body_points = bodies[n % len(bodies)]
        key = f"{KEY_PREFIX}batch-{index}-{n}"
        n += 1
        started = time.perf_counter()
        try:
            connection.request("POST", BATCH_URL, body=body, headers={**headers, "Idempotency-Key": key})
            response = connection.getresponse()
            payload = response.read()
        except (OSError, ValueError) as exc:
            statuses["connection error"] += 1
            errors.append(repr(exc))
            connection.close()
            connection = HTTPConnection("127.0.0.1", port, timeout=60)
            continue
        latencies.append(time.perf_counter() - started)
        statuses[str(response.status)] += 1
        if 200 <= response.status < 300:
            items += size
            points += body_points * 3  # "sale" counts 3 points a unit
            last = (body, key)
        elif len(errors) < 5:
            errors.append(f"{response.status}: {payload[:300]!r}")
        if response.will_close:
            connection.close()
            connection = HTTPConnection("127.0.0.1", port, timeout=60)
    replay = None
    if last is not None and limit is None:  # the same batch and key again: must credit nothing more
        try:
            connection.request("POST", BATCH_URL, body=last[0], headers={**headers, "Idempotency-Key": last[1]})
            response = connection.getresponse()
            response.read()
            replay = (200 <= response.status < 300, response.status)
        except (OSError, ValueError) as exc:
            errors.append(f"replay: {exc!r}")
    connection.close()
    with tally.lock:
        tally.statuses.update(statuses)
        tally.latencies.extend(latencies)
        tally.accepted_items += items
        tally.accepted_points += points
        if replay is not None:
            tally.replays.append(replay)
        tally.errors.extend(errors[:5])


def run_batch_credit_load(
    database_url: str,
    *,
    clients: int = 4,
    batch: int = 1000,
    seconds: float = 20.0,
    workers: int = 2,
    threads: int = 4,
    collaborator_count: int = 1000,
) -> dict:
    """``clients`` keep-alive clients POST batches of ``batch`` credits to the batch endpoint for ``seconds``
    (after a warm-up batch each), each batch under its own ``Idempotency-Key``; at the end each client sends its
    last accepted batch again with the same key (a retry: it must credit nothing more). Reconciled against the
    ledger: ``batch_credits_lost`` = items of accepted batches without a row, ``batch_credits_doubled`` = rows
    beyond them. If the endpoint is not there yet (404/405), the figures are None with the reason in
    ``batch_credit_status``."""
    env = server_env(database_url)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection, connections
    from django.urls import Resolver404, resolve

    try:
        routed = getattr(resolve(BATCH_URL).func, "__name__", "") != "api_not_found"
    except Resolver404:
        routed = False
    if not routed:
        return {"batch_credit_rps": None, "batch_credits_lost": None, "batch_credits_doubled": None,
                "batch_credit_status": f"not available: no route for POST {BATCH_URL} yet"}  # fmt: skip
    collaborators, secret = seed(collaborator_count)
    connections.close_all()
    port = free_port()
    server = start_gunicorn(port, workers, env, threads=threads)
    tally = _BatchTally()
    try:
        probe = HTTPConnection("127.0.0.1", port, timeout=60)
        body, probe_points = _batch_body(collaborators, 0, 1)
        probe.request(
            "POST",
            BATCH_URL,
            body=body,
            headers={
                "Authorization": f"Bearer {secret}",
                "Content-Type": "application/json",
                "Idempotency-Key": "probe",
            },
        )
        response = probe.getresponse()
        answer = response.read()
        probe.close()
        if response.status in (404, 405):
            return {"batch_credit_rps": None, "batch_credits_lost": None, "batch_credits_doubled": None,
                    "batch_credit_status": f"not available: POST {BATCH_URL} answered {response.status}"}  # fmt: skip
        if not 200 <= response.status < 300:
            raise RuntimeError(f"batch probe: {response.status} {answer[:500]!r}")
        probe_items, probe_points = 1, probe_points * 3
        bodies = [_batch_body(collaborators, offset, batch) for offset in (0, 7, 13)]
        # Warm-up: one batch per client, not timed (connections, code paths), reconciled with the rest.
        warm = _BatchTally()
        pool = [
            threading.Thread(
                target=_batch_client, args=(i, port, secret, bodies[:1], time.monotonic() + 120, warm, batch, 1)
            )
            for i in range(clients)
        ]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=120)
        cpu_before = server_cpu_seconds(server)
        db_before = database_backends_cpu(database_url, database_name(database_url))
        deadline = time.monotonic() + seconds
        pool = [
            threading.Thread(target=_batch_client, args=(100 + i, port, secret, bodies, deadline, tally, batch))
            for i in range(clients)
        ]
        started = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=seconds + 180)
        elapsed = time.perf_counter() - started
        cpu_after = server_cpu_seconds(server)
        db_cpu = backends_cpu_delta(db_before, database_backends_cpu(database_url, database_name(database_url)))
    finally:
        server.terminate()
        server.wait(timeout=30)

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), COALESCE(SUM(points), 0) FROM metrics_metriccredit")
        rows, points = cursor.fetchone()
    expected_items = tally.accepted_items + warm.accepted_items + probe_items
    expected_points = tally.accepted_points + warm.accepted_points + probe_points
    flat = sorted(tally.latencies)
    # elapsed includes each client's final replay; the rate counts the timed batches only
    timed_items = tally.accepted_items
    server_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return {
        "batch_credit_status": "ok",
        "batch_credit_rps": round(timed_items / elapsed, 1) if elapsed else None,
        "batch_credits_lost": max(0, expected_items - rows),
        "batch_credits_doubled": max(0, rows - expected_items),
        "batch_credit_points_match": points == expected_points,
        "batch_credit_items_accepted": expected_items,
        "batch_credit_rows_written": rows,
        "batch_credit_requests": sum(tally.statuses.values()),
        "batch_credit_answers": dict(tally.statuses),
        "batch_credit_non_2xx": sum(n for status, n in tally.statuses.items() if not status.startswith("2")),
        "batch_credit_replays_2xx": sum(ok for ok, _ in tally.replays),
        "batch_credit_replays": len(tally.replays),
        "batch_credit_p50_ms": round(statistics.median(flat) * 1000, 1) if flat else None,
        "batch_credit_p99_ms": round(flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000, 1) if flat else None,
        "batch_credit_seconds": round(elapsed, 2),
        "batch_credit_server_cpu_ms_per_1k": round(server_cpu / timed_items * 1e6, 1)
        if server_cpu is not None and timed_items
        else None,
        "batch_credit_db_cpu_ms_per_1k": round(db_cpu / timed_items * 1e6, 1)
        if db_cpu is not None and timed_items
        else None,
        "batch_credit_errors_sample": (tally.errors + warm.errors)[:5],
        "batch_credit_server": f"gunicorn {workers} workers x gthread {threads}, {clients} clients, batches of {batch}",
    }
