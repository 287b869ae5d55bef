"""Throughput of ``GET /api/v1/distributions`` against a bare Django view returning the same JSON.

    .venv/bin/python bench/api.py [--requests 3000] [--threads 4] [--rounds 3] [--distributions 200]

What it does, in one run:

1. (Re)creates the PostgreSQL database ``bench_api`` (``--pg`` for the server URL), migrates it, and seeds one
   organization with ~200 triggered distributions (10 distributors, 5 allocations each) and an API key.
2. Counts the SQL queries of one request to each endpoint (in process, Django test client).
3. Serves the app with gunicorn on 127.0.0.1 (free port, 2 workers, gthread so keep-alive works) in
   production settings (generated SECRET_KEY, DEBUG off, SECURE_SSL_REDIRECT=false, ALLOWED_HOSTS=127.0.0.1),
   through ``bench.settings`` whose URLconf adds the bare view (``bench/urls.py``); throttling stays on
   with a rate too high to refuse anything, so its cost is measured.
4. Checks both answers are the same JSON, then sends ``--requests`` requests to each from ``--threads``
   client threads (http.client, one keep-alive connection per thread), ``--rounds`` times, alternating,
   and prints requests/s, p50/p99 latency and the API/bare ratio (best round of each, and the median of
   the per-round ratios, which is steadier on a shared machine), and the gunicorn CPU time per request
   (Linux), the least noisy figure when other work shares the machine. Goal: ratio >= 0.5.
"""

import argparse
import json
import os
import secrets
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import free_port, server_cpu_seconds, start_gunicorn  # noqa: E402 - needs ROOT on the path


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--database", default="bench_api")
    parser.add_argument("--distributions", type=int, default=200)
    parser.add_argument("--requests", type=int, default=3000, help="requests per endpoint per round")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    return parser.parse_args()


def recreate_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def seed(count: int):
    """One organization, 10 distributors, ``count`` triggered distributions with 5 allocations each."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from collaborators.models import Collaborator
    from distributions.models import Allocation, Distribution
    from distributors.models import Distributor, MetricType
    from obligations.models import Obligation
    from organizations.models import Organization
    from organizations.services import api_key_create

    call_command("migrate", verbosity=0)
    with transaction.atomic():
        organization = Organization.objects.create(name="Bench", slug="bench")
        start = datetime(2020, 1, 1, tzinfo=UTC)
        collaborators = Collaborator.objects.bulk_create(
            Collaborator(organization=organization, full_name=f"Person {i}", email=f"p{i}@example.com")
            for i in range(20)
        )
        distributors = Distributor.objects.bulk_create(
            Distributor(organization=organization, name=f"Distributor {i}", pool_amount=5000, starts_at=start)
            for i in range(10)
        )
        MetricType.objects.bulk_create(MetricType(distributor=d, name="manual", points=1) for d in distributors)
        distributions = Distribution.objects.bulk_create(
            Distribution(
                organization=organization,
                distributor=distributors[i % 10],
                status="processing",
                period_start=start + timedelta(days=i),
                trigger_date=start + timedelta(days=i + 1),
                triggered_at=start + timedelta(days=i + 1, minutes=1),
                pool=5000,
                value=5000,
            )
            for i in range(count)
        )
        pairs = [(d, collaborators[(d.pk + k) % 20], k) for d in distributions for k in range(5)]
        obligations = Obligation.objects.bulk_create(
            Obligation(organization=organization, collaborator=c, value=1000, units="USD", award_type="distribution")
            for _, c, _ in pairs
        )
        Allocation.objects.bulk_create(
            Allocation(
                organization=organization,
                distribution=d,
                obligation=o,
                collaborator=c,
                value=1000,
                score=50 - k,
                rank=k + 1,
            )
            for (d, c, k), o in zip(pairs, obligations, strict=True)
        )
        _, key = api_key_create(organization=organization, name="bench", scopes=["read"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics, as a live database would have
    return organization, key


def count_queries(paths: dict[str, str], key: str) -> dict[str, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    counts = {}
    for name, url in paths.items():
        client.get(url, headers={"Authorization": f"Bearer {key}"})  # warm: last_used_at, caches
        with CaptureQueriesContext(connection) as context:
            response = client.get(url, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, (name, response.status_code, response.content[:300])
        counts[name] = len(context.captured_queries)
    return counts


def fetch(connection: HTTPConnection, url: str, headers: dict) -> tuple[int, bytes, bool]:
    connection.request("GET", url, headers=headers)
    response = connection.getresponse()
    body = response.read()
    return response.status, body, response.will_close


def run_load(port: int, url: str, headers: dict, total: int, threads: int) -> dict:
    per_thread = [total // threads + (1 if i < total % threads else 0) for i in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures: list[str] = []
    barrier = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        connection = HTTPConnection("127.0.0.1", port, timeout=30)
        barrier.wait()
        for _ in range(per_thread[index]):
            started = time.perf_counter()
            status, body, closed = fetch(connection, url, headers)
            latencies[index].append(time.perf_counter() - started)
            if status != 200:
                failures.append(f"{status}: {body[:200]!r}")
            if closed:
                connection.close()
                connection = HTTPConnection("127.0.0.1", port, timeout=30)
        connection.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, e.g. {failures[0]}")
    flat = sorted(latency for chunk in latencies for latency in chunk)
    return {
        "rps": total / elapsed,
        "p50": statistics.median(flat) * 1000,
        "p99": flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000,
    }


def main() -> int:
    args = parse_args()
    database_url = f"{args.pg}/{args.database}"
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_THROTTLE_RATE": "100000000/min",
        "CONN_MAX_AGE": "600",
    }
    print(f"database: {database_url} (recreated)")
    recreate_database(args.pg, args.database)
    setup_django(env)
    organization, key = seed(args.distributions)

    from distributions.api.serializers import DISTRIBUTION_FIELDS

    extended_but_allocations = ",".join(n for n in DISTRIBUTION_FIELDS.extended_names if n != "allocations")
    paths = {
        "api": f"/api/v1/distributions?number=100&fields={extended_but_allocations}",
        "bare": f"/bench/bare-distributions?organization={organization.pk}",
    }
    headers = {"api": {"Authorization": f"Bearer {key}"}, "bare": {}}
    queries = count_queries(paths, key)
    from django.db import connections

    connections.close_all()

    port = free_port()
    server = start_gunicorn(port, args.workers, env)
    try:
        connection = HTTPConnection("127.0.0.1", port, timeout=30)
        bodies = {}
        for name, url in paths.items():
            status, body, _ = fetch(connection, url, headers[name])
            assert status == 200, (name, status, body[:300])
            bodies[name] = json.loads(body)
        connection.close()
        assert len(bodies["api"]) == min(100, args.distributions)
        assert bodies["api"] == bodies["bare"], ("the API and the bare view disagree", bodies["api"][0])
        print(f"both answer the same JSON: {len(bodies['api'])} rows x {len(bodies['api'][0])} fields")

        for name in paths:  # warm up every worker's connection and caches
            run_load(port, paths[name], headers[name], 200, args.threads)
        results: dict[str, list[dict]] = {"api": [], "bare": []}
        for round_number in range(1, args.rounds + 1):
            for name in ("bare", "api") if round_number % 2 else ("api", "bare"):
                cpu_before = server_cpu_seconds(server)
                result = run_load(port, paths[name], headers[name], args.requests, args.threads)
                cpu_after = server_cpu_seconds(server)
                if cpu_before is not None and cpu_after is not None:
                    result["cpu"] = (cpu_after - cpu_before) / args.requests * 1000
                results[name].append(result)
                cpu = f"  server CPU {result['cpu']:5.2f} ms/request" if "cpu" in result else ""
                print(
                    f"round {round_number} {name:>4}: {result['rps']:8.1f} req/s  "
                    f"p50 {result['p50']:6.2f} ms  p99 {result['p99']:6.2f} ms{cpu}"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)

    best = {name: max(rounds, key=lambda r: r["rps"]) for name, rounds in results.items()}
    ratio = best["api"]["rps"] / best["bare"]["rps"]
    print()
    print(
        f"gunicorn: {args.workers} workers (gthread x2), {args.threads} client threads, "
        f"{args.requests} requests x {args.rounds} rounds per endpoint; best round of each:"
    )
    for name, label in (("api", urlsplit(paths["api"]).path + "?number=100&fields=..."), ("bare", "bare .values()")):
        result = best[name]
        print(
            f"  {label:<45} {result['rps']:8.1f} req/s  p50 {result['p50']:6.2f} ms  p99 {result['p99']:6.2f} ms  "
            f"{queries[name]} queries/request"
        )
    per_round = [a["rps"] / b["rps"] for a, b in zip(results["api"], results["bare"], strict=True)]
    print(f"  ratio api/bare: {ratio:.2f} (goal >= 0.50: {'met' if ratio >= 0.5 else 'MISSED'})")
    print(f"  per-round ratios: {', '.join(f'{r:.2f}' for r in per_round)} (median {statistics.median(per_round):.2f})")
    if all("cpu" in r for rounds in results.values() for r in rounds):
        cpu = {name: statistics.median(r["cpu"] for r in rounds) for name, rounds in results.items()}
        print(
            f"  gunicorn CPU per request (median): api {cpu['api']:.2f} ms, bare {cpu['bare']:.2f} ms "
            f"(bare/api {cpu['bare'] / cpu['api']:.2f}; the database's CPU is not included)"
        )
    return 0 if ratio >= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
