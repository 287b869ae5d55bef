"""Benchmark: trigger ONE distribution with N eligible collaborators and M metric credits, on PostgreSQL.

    .venv/bin/python bench/engine.py [--collaborators 100000] [--credits 1000000] [--no-analyze] [--reuse]
                                     [--database-url postgres://postgres@127.0.0.1:5432/bench_engine]

1. Drops and re-creates the database named in ``--database-url`` (default ``bench_engine``) and migrates it.
2. Builds the data with raw SQL (``generate_series``): one organization, one active monthly distributor
   (fixed pool, proportional split, ``manual`` at 1 point), N active collaborators, M credits in
   January 2026 spread over all of them (1 to 10 points each), and the pending January distribution.
   Then ``VACUUM ANALYZE``, as autovacuum would have done on a live database; with ``--no-analyze``
   neither (only ``CHECKPOINT``): the tables are left never vacuumed nor analyzed, without statistics,
   like a freshly deployed database, so the figures show the trigger does not depend on them.
3. In a fresh Python process (so building the data does not pollute the peak RSS), runs the real
   heartbeat, ``run_distributions --now 2026-02-01T00:00:00Z --distributor <id>``, counting every SQL
   statement with ``connection.execute_wrapper``, timing it, and reading ``ru_maxrss``.
4. Checks the result (one allocation and one obligation per collaborator, summing to the pool) and
   prints the figures. Exits 1 if a target is missed (statements must not depend on N; 10 s; 300 MB).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_engine"
AS_OF = "2026-02-01T00:00:00Z"
POOL = 100_000_000  # 1,000,000.00 USD: every share has a remainder to round
TARGET_SECONDS = 10.0
TARGET_PEAK_MB = 300.0


def _django(database_url: str) -> None:
    sys.path.insert(0, str(PROJECT_ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"  # DEBUG would keep every statement (and its 100k-element arrays) in memory
    import django

    django.setup()


def recreate_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def build(collaborators: int, credits: int, analyze: bool = True) -> int:
    """Create the data; return the distributor id.

    All rows are made by the server (``INSERT ... SELECT generate_series``), valid by construction; for the
    credit ledger's bulk the build takes the shortcut of a bulk load (not something the product ever does):
    its secondary indexes are dropped and re-created around the insert (the same definitions, read from
    ``pg_indexes``), and its foreign-key triggers are off for that one transaction
    (``SET LOCAL session_replication_role = replica``; the bench connects as a superuser). At 10,000,000 credits
    that is minutes saved, and the deferred checks' queue would otherwise hold 40,000,000 events.
    """
    from datetime import UTC, datetime

    from django.core.management import call_command
    from django.db import connection, transaction

    from distributions.services import distribution_open_first
    from distributors.models import Distributor, MetricType
    from metrics.models import CreditRequest, CreditSource
    from organizations.models import Organization

    call_command("migrate", verbosity=0)
    jan_1 = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction.atomic():
        org = Organization.objects.create(name="Bench", slug="bench", timezone="UTC")
        distributor = Distributor.objects.create(
            organization=org,
            name="Bench pool",
            pool_resolver="fixed",
            pool_amount=POOL,
            distribution_resolver="performanceSharedPool",
            schedule="monthly",
            starts_at=jan_1,
        )
        MetricType.objects.create(distributor=distributor, name="manual", points=1)
        request = CreditRequest.objects.create(
            organization=org, request_fingerprint="0" * 64, source=CreditSource.SEED, created_at=jan_1
        )
        distribution_open_first(distributor=distributor)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            cursor.execute(
                """
                INSERT INTO collaborators_collaborator
                    (organization_id, full_name, nickname, email, status, created_at, modified_at)
                SELECT %s, 'Collaborator ' || g, 'c' || g, 'c' || g || '@bench.example', 'active', now(), now()
                FROM generate_series(1, %s) AS g
                """,
                [org.pk, collaborators],
            )
            cursor.execute(
                "SELECT min(id), max(id) FROM collaborators_collaborator WHERE organization_id = %s", [org.pk]
            )
            first_id, last_id = cursor.fetchone()
            assert last_id - first_id + 1 == collaborators, "collaborator ids are not contiguous"
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'metrics_metriccredit' "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = "
                "'metrics_metriccredit'::regclass)"
            )
            ledger_indexes = cursor.fetchall()
            for name, _ in ledger_indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            # Credits spread over every collaborator and over January (period (Jan 1, Feb 1]).
            cursor.execute(
                """
                INSERT INTO metrics_metriccredit (organization_id, request_id, distributor_id, collaborator_id,
                    metric_type, quantity, points_per_unit, points, credited_at)
                SELECT %s, %s, %s, %s + (g %% %s), 'manual', q, 1, q,
                       TIMESTAMPTZ '2026-01-01 00:00:00+00' + (1 + (g * 7919) %% 2678399) * INTERVAL '1 second'
                FROM (SELECT g, 1 + (g * 104729) %% 10 AS q FROM generate_series(0::bigint, %s - 1) AS g) AS s
                """,
                [org.pk, request.pk, distributor.pk, first_id, collaborators, credits],
            )
            for _, definition in ledger_indexes:
                cursor.execute(definition)
            cursor.execute("SET LOCAL session_replication_role = origin")
    settle(analyze)
    return distributor.pk


def settle(analyze: bool = True) -> None:
    """VACUUM ANALYZE (unless ``analyze`` is false) and CHECKPOINT: measure a database at rest, not one still
    flushing the data just built."""
    from django.db import connection

    with connection.cursor() as cursor:
        if analyze:
            cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


STATISTICS_TABLES = ("collaborators_collaborator", "metrics_metriccredit", "obligations_obligation")


def analyzed_tables() -> list[str]:
    """The tables a trigger reads or writes that have ever been vacuumed or analyzed (they have statistics)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%s) AND COALESCE(last_analyze, "
            "last_autoanalyze, last_vacuum, last_autovacuum) IS NOT NULL ORDER BY relname",
            [list(STATISTICS_TABLES)],
        )
        return [name for (name,) in cursor.fetchall()]


def reset(analyze: bool = True) -> int:
    """``--reuse``: undo the previous measurement's trigger; return the distributor id."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT id FROM distributors_distributor WHERE name = 'Bench pool'")
        (distributor_id,) = cursor.fetchone()
        cursor.execute("DELETE FROM events_event")
        cursor.execute("DELETE FROM distributions_allocation")
        cursor.execute("DELETE FROM obligations_obligation")
        cursor.execute("DELETE FROM distributions_enginerun")
        cursor.execute("DELETE FROM distributions_distribution WHERE trigger_date > %s", [AS_OF])
        cursor.execute(
            "UPDATE distributions_distribution SET status = 'pending', pool = NULL, value = 0, unallocated = 0, "
            "carried_forward = 0, triggered_at = NULL, pool_resolver = '', period_pool = NULL, "
            "pool_percent_bp = NULL, revenue_entries = NULL, revenue_total = NULL, distribution_resolver = '', "
            "tie_policy = '', top_n_weights = NULL, scorer_count = NULL, share_denominator = NULL"
        )
        cursor.execute("UPDATE distributors_distributor SET distributed_through = NULL, open_until = %s", [AS_OF])
    settle(analyze)
    return distributor_id


def timed(phases: dict[str, float], name: str, function):
    """``function`` wrapped to add the wall seconds of each call to ``phases[name]`` (the phase figures)."""

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - started

    return wrapper


def measure_in_fresh_process(
    database_url: str,
    distributor_id: int,
    failure: type[Exception],
    collaborators: int | None = None,
    what: str = "trigger",
    timeout: float | None = None,
) -> dict:
    """``measure`` in a fresh process (``bench/engine.py --measure``, bounded by ``timeout``): its figures.

    Raises ``failure`` (the caller's ``BenchFailure``) if the child fails or, when ``collaborators`` is given,
    if the trigger did not write that many allocations summing to the pool (the message starts with ``what``).
    """
    child = subprocess.run(
        [sys.executable, __file__, "--measure", str(distributor_id), "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if child.returncode != 0:
        raise failure(f"bench/engine.py --measure failed:\n{child.stdout[-2000:]}\n{child.stderr[-4000:]}")
    run = json.loads(child.stdout.strip().splitlines()[-1])
    if collaborators is not None and (run["allocations"] != collaborators or run["allocations_total"] != POOL):
        raise failure(f"{what}: {run['allocations']} allocations totalling {run['allocations_total']}")
    return run


def measure(distributor_id: int, profile: str | None = None) -> dict:
    """Run the heartbeat for the one distributor; runs in its own process. ``profile``: write a cProfile
    summary (cumulative, top 60) to that file."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, Sum

    from distributions import trigger
    from distributions.models import Allocation, Distribution
    from obligations.models import Obligation

    statements: list[str] = []
    phases: dict[str, float] = {}

    def count(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append(f"{time.perf_counter() - started:6.2f} s  {' '.join(sql.split())[:80]}")

    trigger.distribution_period_pool_derivation = timed(phases, "pool", trigger.distribution_period_pool_derivation)
    trigger.distribution_scores = timed(phases, "scores query", trigger.distribution_scores)
    trigger.split_pool = timed(phases, "split", trigger.split_pool)
    trigger.distribution_plan_write = timed(phases, "write", trigger.distribution_plan_write)
    connection._commit = timed(phases, "commits (deferred foreign-key checks)", connection._commit)

    from bench.cpu import CpuMeter

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend_pid,) = cursor.fetchone()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    cpu = CpuMeter(backend_pid).start()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    with connection.execute_wrapper(count):
        call_command("run_distributions", "--now", AS_OF, "--distributor", str(distributor_id), stdout=io.StringIO())
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    cpu_figures = cpu.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if profiler:
        import pstats

        with open(profile, "w") as out:
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(60)

    distribution = Distribution.objects.get(distributor_id=distributor_id, trigger_date=AS_OF)
    allocations = Allocation.objects.filter(distribution=distribution).aggregate(n=Count("id"), total=Sum("value"))
    return {
        "statements": len(statements),
        "statement_list": statements,
        "wall_seconds": round(wall, 2),
        # CPU seconds meanwhile: this process's, the PostgreSQL backend's (with its parallel workers), and both.
        "client_cpu_seconds": cpu_figures["client_cpu_seconds"],
        "backend_cpu_seconds": cpu_figures["backend_cpu_seconds"],
        "parallel_worker_cpu_seconds": cpu_figures["parallel_worker_cpu_seconds"],
        "cpu_seconds": cpu_figures["cpu_seconds"],
        "peak_rss_mb": round(peak, 1),
        "rss_before_trigger_mb": round(rss_before, 1),
        "phases_seconds": {name: round(seconds, 2) for name, seconds in phases.items()},
        "distribution": {"status": distribution.status, "pool": distribution.pool, "value": distribution.value},
        "allocations": allocations["n"],
        "allocations_total": allocations["total"],
        "obligations": Obligation.objects.filter(allocation__distribution=distribution).count(),
        "analyzed_tables": analyzed_tables(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collaborators", type=int, default=100_000)
    parser.add_argument("--credits", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the data of the previous run (same sizes); only undo its trigger."
    )
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="Neither VACUUM nor ANALYZE the data: measure on tables without statistics (a fresh database).",
    )
    parser.add_argument("--measure", type=int, metavar="DISTRIBUTOR_ID", help=argparse.SUPPRESS)
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile summary of the trigger to FILE")
    args = parser.parse_args()

    if args.measure:
        _django(args.database_url)
        print(json.dumps(measure(args.measure, args.profile)))
        return 0

    started = time.perf_counter()
    if args.reuse:
        _django(args.database_url)
        if not args.analyze and analyzed_tables():
            print(f"bench: --no-analyze --reuse: {', '.join(analyzed_tables())} already have statistics; "
                  "rebuild without --reuse", file=sys.stderr)  # fmt: skip
            return 1
        distributor_id = reset(args.analyze)
    else:
        print(f"bench: rebuilding {urlsplit(args.database_url).path.lstrip('/')} with {args.collaborators:,} "
              f"collaborators and {args.credits:,} credits ...", flush=True)  # fmt: skip
        recreate_database(args.database_url)
        _django(args.database_url)
        distributor_id = build(args.collaborators, args.credits, args.analyze)
    print(f"bench: data ready in {time.perf_counter() - started:.1f} s; triggering in a fresh process", flush=True)

    child = subprocess.run(
        [sys.executable, __file__, "--measure", str(distributor_id), "--database-url", args.database_url]
        + (["--profile", args.profile] if args.profile else []),
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        print(child.stdout, child.stderr, file=sys.stderr)
        return 1
    result = json.loads(child.stdout.strip().splitlines()[-1])
    for statement in result.pop("statement_list"):
        print(f"  sql: {statement}")
    print(json.dumps(result, indent=2))
    ok = (
        result["allocations"] == result["obligations"] == args.collaborators
        and result["allocations_total"] == POOL == result["distribution"]["value"]
        and result["wall_seconds"] <= TARGET_SECONDS
        and result["peak_rss_mb"] <= TARGET_PEAK_MB
    )
    statistics = "analyzed" if args.analyze else "never analyzed"
    if not args.analyze and result["analyzed_tables"]:  # e.g. autovacuum got there first: not what was asked
        statistics = f"never analyzed requested, but {', '.join(result['analyzed_tables'])} have statistics"
    print(
        f"bench: {args.collaborators:,} collaborators, {args.credits:,} credits, tables {statistics}: "
        f"{result['statements']} SQL statements, {result['wall_seconds']:.2f} s wall, "
        f"{result['peak_rss_mb']:.0f} MB peak RSS "
        f"({'within' if ok else 'MISSES'} the targets: {TARGET_SECONDS:.0f} s, {TARGET_PEAK_MB:.0f} MB)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
