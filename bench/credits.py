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

``run_batch_credit_load`` does the same for ``POST /api/v1/distributors/credit-metric/batch`` (4 clients of
1,000-credit batches, each item with its own key, reconciled by key), and ``run_credit_benchmarks`` runs both
on one database and returns ``batch_credit_rps``, ``batch_credits_lost``, ``batch_credits_doubled`` and
``single_credit_rps`` first.
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
BATCH_KEY_PREFIX = "bench-batch-"  # batch and item keys of the batch load (never matching KEY_PREFIX)


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


def seed(collaborator_count: int = 5, *, slug: str = "bench-credits") -> tuple[list[int], str]:
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
        organization = Organization.objects.create(name=f"Bench {slug}", slug=slug, timezone="UTC")
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
            Collaborator(organization=organization, full_name=f"Seller {i}", email=f"seller{i}@{slug}.example")
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
    # answers only: requests the time limit left unsent are counted apart (credit_requests_sent)
    non_2xx = sum(
        n for status, n in tally.statuses.items() if not status.startswith("2") and not status.startswith("not sent")
    )
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
        self.accepted_keys: set[str] = set()  # item keys of the batches answered 2xx
        self.accepted_points = 0
        self.replays: list[tuple[bool, int]] = []  # (answered 2xx, status) of each client's replayed batch
        self.replays_all_replayed = 0  # replays whose every entry said replayed
        self.errors: list[str] = []


def _batch_body(collaborators: list[int], offset: int, size: int, tag: str) -> tuple[bytes, list[str], int]:
    """A batch of ``size`` credits, each with its own item key ``BATCH_KEY_PREFIX + tag + n``: (body, keys,
    points announced)."""
    items = [
        {
            "collaboratorId": collaborators[(offset + n) % len(collaborators)],
            "metricType": "sale",
            "quantity": 1 + n % 3,
            "key": f"{BATCH_KEY_PREFIX}{tag}-{n}",
        }
        for n in range(size)
    ]
    points = sum(item["quantity"] for item in items) * 3  # "sale" counts 3 points a unit
    return json.dumps({"credits": items}).encode(), [item["key"] for item in items], points


def _batch_client(
    index: int,
    port: int,
    secret: str,
    collaborators: list[int],
    deadline: float,
    tally: _BatchTally,
    size: int,
    limit: int,
    replay_last: bool = True,
    ready: threading.Barrier | None = None,
    deadline_box: list[float] | None = None,
) -> None:
    """Send up to ``limit`` batches until ``deadline``; then the last accepted one again under its key (a retry:
    it must credit nothing more). With ``ready``, the bodies are built first, then the client waits at the
    barrier and reads its deadline from ``deadline_box`` (so building them is not timed)."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    bodies = [_batch_body(collaborators, index * 7 + n, size, f"{index}-{n}") for n in range(limit)]
    if ready is not None:
        ready.wait()
        deadline = deadline_box[0]
    connection = HTTPConnection("127.0.0.1", port, timeout=60)
    statuses, latencies, errors = Counter(), [], []
    accepted: set[str] = set()
    points = 0
    last = None
    for n, (body, keys, body_points) in enumerate(bodies):
        if time.monotonic() >= deadline:
            break
        key = f"{BATCH_KEY_PREFIX}batch-{index}-{n}"
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
            accepted.update(keys)
            points += body_points
            last = (body, key)
        elif len(errors) < 5:
            errors.append(f"{response.status}: {payload[:300]!r}")
        if response.will_close:
            connection.close()
            connection = HTTPConnection("127.0.0.1", port, timeout=60)
    replay = None
    all_replayed = False
    if last is not None and replay_last:
        try:
            connection.request("POST", BATCH_URL, body=last[0], headers={**headers, "Idempotency-Key": last[1]})
            response = connection.getresponse()
            answer = response.read()
            replay = (200 <= response.status < 300, response.status)
            all_replayed = replay[0] and response.getheader("Idempotent-Replayed") == "true"
            del answer
        except (OSError, ValueError) as exc:
            errors.append(f"replay: {exc!r}")
    connection.close()
    with tally.lock:
        tally.statuses.update(statuses)
        tally.latencies.extend(latencies)
        tally.accepted_keys |= accepted
        tally.accepted_points += points
        if replay is not None:
            tally.replays.append(replay)
            tally.replays_all_replayed += all_replayed
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
    max_batches_per_client: int = 80,
) -> dict:
    """``clients`` keep-alive clients POST batches of ``batch`` credits to the batch endpoint of a gunicorn
    server for ``seconds`` (after a warm-up batch each), each batch under its own ``Idempotency-Key`` and each
    item with its own ``key``; at the end each client sends its last accepted batch again with the same key (a
    retry: it must credit nothing more). Reconciled against the ledger by item key: ``batch_credits_lost`` =
    item keys of accepted batches with no ledger row, ``batch_credits_doubled`` = ledger rows beyond one per
    item key (each item lands on the one distributor counting ``sale``) plus rows for keys no accepted batch
    carried. If the endpoint is not there yet (404/405), the figures are None with the reason in
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
    collaborators, secret = seed(collaborator_count, slug="bench-batch-credits")
    connections.close_all()
    port = free_port()
    server = start_gunicorn(port, workers, env, threads=threads)
    tally, warm = _BatchTally(), _BatchTally()
    try:
        probe = HTTPConnection("127.0.0.1", port, timeout=60)
        body, probe_keys, probe_points = _batch_body(collaborators, 0, 1, "probe")
        probe.request(
            "POST",
            BATCH_URL,
            body=body,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json",
                     "Idempotency-Key": f"{BATCH_KEY_PREFIX}probe"},
        )  # fmt: skip
        response = probe.getresponse()
        answer = response.read()
        probe.close()
        if response.status in (404, 405):
            return {"batch_credit_rps": None, "batch_credits_lost": None, "batch_credits_doubled": None,
                    "batch_credit_status": f"not available: POST {BATCH_URL} answered {response.status}"}  # fmt: skip
        if not 200 <= response.status < 300:
            raise RuntimeError(f"batch probe: {response.status} {answer[:500]!r}")
        warm.accepted_keys.update(probe_keys)
        warm.accepted_points += probe_points
        # Warm-up: one batch per client, not timed (connections, code paths), reconciled with the rest.
        pool = [
            threading.Thread(
                target=_batch_client,
                args=(900 + i, port, secret, collaborators, time.monotonic() + 120, warm, batch, 1, False),
            )
            for i in range(clients)
        ]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=120)
        # Each timed client builds its bodies before the clock starts (json.dumps of its batches).
        ready = threading.Barrier(clients + 1)
        deadline_box: list[float] = []
        pool = [
            threading.Thread(
                target=_batch_client,
                args=(i, port, secret, collaborators, 0.0, tally, batch, max_batches_per_client),
                kwargs={"ready": ready, "deadline_box": deadline_box},
            )
            for i in range(clients)
        ]
        for thread in pool:
            thread.start()
        cpu_before = server_cpu_seconds(server)
        db_before = database_backends_cpu(database_url, database_name(database_url))
        deadline_box.append(time.monotonic() + seconds)
        started = time.perf_counter()
        ready.wait()
        for thread in pool:
            thread.join(timeout=seconds + 180)
        elapsed = time.perf_counter() - started
        cpu_after = server_cpu_seconds(server)
        db_cpu = backends_cpu_delta(db_before, database_backends_cpu(database_url, database_name(database_url)))
    finally:
        server.terminate()
        server.wait(timeout=30)

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT r.idempotency_key, count(c.id), COALESCE(SUM(c.points), 0)
            FROM metrics_creditrequest r LEFT JOIN metrics_metriccredit c ON c.request_id = r.id
            WHERE r.idempotency_key LIKE %s AND r.idempotency_key NOT LIKE %s
            GROUP BY r.idempotency_key
            """,
            [BATCH_KEY_PREFIX + "%", BATCH_KEY_PREFIX + "batch-%"],
        )
        ledger = {key: (rows, points) for key, rows, points in cursor.fetchall()}
    accepted = tally.accepted_keys | warm.accepted_keys
    lost = sum(1 for key in accepted if ledger.get(key, (0, 0))[0] == 0)
    doubled = sum(max(0, rows - 1) for rows, _ in ledger.values()) + sum(
        rows for key, (rows, _) in ledger.items() if key not in accepted
    )
    points_written = sum(points for key, (_, points) in ledger.items() if key in accepted)
    flat = sorted(tally.latencies)
    # elapsed includes each client's final replay; the rate counts the timed batches only
    timed_items = len(tally.accepted_keys)
    server_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return {
        "batch_credit_status": "ok",
        "batch_credit_rps": round(timed_items / elapsed, 1) if elapsed else None,
        "batch_credits_lost": lost,
        "batch_credits_doubled": doubled,
        "batch_credit_points_match": points_written == tally.accepted_points + warm.accepted_points,
        "batch_credit_items_accepted": len(accepted),
        "batch_credit_rows_written": sum(rows for rows, _ in ledger.values()),
        "batch_credit_requests": sum(tally.statuses.values()),
        "batch_credit_answers": dict(tally.statuses),
        "batch_credit_non_2xx": sum(n for status, n in tally.statuses.items() if not status.startswith("2")),
        "batch_credit_replays_2xx": sum(ok for ok, _ in tally.replays),
        "batch_credit_replays_all_replayed": tally.replays_all_replayed,
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


def run_credit_benchmarks(
    database_url: str,
    *,
    single_requests: int = 3000,
    single_clients: int = 8,
    single_time_limit: float = 60,
    batch_seconds: float = 20.0,
    batch_clients: int = 4,
    batch: int = 1000,
) -> dict:
    """Both credit loads on one fresh, migrated PostgreSQL database (call it in a process of its own: it sets
    Django up with production settings): single credits first (``run_credit_load``), then batches
    (``run_batch_credit_load``, 4 clients by default), each against its own gunicorn server, each with its own
    organization and key prefix so neither reconciliation sees the other's rows. Returns
    ``{"batch_credit_rps", "batch_credits_lost", "batch_credits_doubled", "single_credit_rps"}`` first, then
    every detail of both runs."""
    single = run_credit_load(
        database_url, requests=single_requests, clients=single_clients, time_limit=single_time_limit
    )
    batched = run_batch_credit_load(database_url, clients=batch_clients, batch=batch, seconds=batch_seconds)
    return {
        "batch_credit_rps": batched.get("batch_credit_rps"),
        "batch_credits_lost": batched.get("batch_credits_lost"),
        "batch_credits_doubled": batched.get("batch_credits_doubled"),
        "single_credit_rps": single.get("credit_rps"),
        **single,
        **batched,
    }
