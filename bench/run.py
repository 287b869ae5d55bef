"""One command for every performance figure of the project: engine, SQL baseline, scaling, read API, credits.

    .venv/bin/python bench/run.py [--quick] [--pg postgres://postgres@127.0.0.1:5432] [--output bench/results.json]
                                  [--only engine,scaling,standings,api,credits] [--repeat N] [--keep-databases]

Everything runs on this machine against PostgreSQL on 127.0.0.1, in fresh databases named
``bench_run_<pid>_<start>_*``, unique to the run so that two runs on one server never drop each other's
(cloned from that run's ``..._template``, migrated once per run), which are dropped at the end unless
``--keep-databases``. Each part runs in a process of its own, bounded in time; the figures go to a table on
stdout and to ``bench/results.json``.

1. engine (``bench/engine.py``'s data and measurement, imported): one organization, one fixed-pool
   proportional monthly distributor, N active collaborators, 10 N credits (full: 100,000 / 1,000,000;
   ``--quick``: 10,000 / 100,000), VACUUM ANALYZE. The real ``run_distributions`` heartbeat triggers the
   distribution in a fresh process (``bench/engine.py --measure``): wall seconds, SQL statements
   (``execute_wrapper``), peak RSS (``ru_maxrss``).
2. SQL baseline (``bench/sql_baseline.py``): the engine's rows are checksummed and set aside, the trigger
   undone (``engine.reset``: delete, VACUUM ANALYZE, CHECKPOINT), then hand-written SQL (one transaction,
   three statements, data-modifying CTEs) computes the same scores, largest-remainder shares with the same
   tie-break, and writes the same obligations and allocations. Its checksum must equal the engine's (every
   column but ids/timestamps, insertion order, the distribution's figures, the next period), otherwise the
   run stops with exit status 2 and prints the differing collaborators. Engine and SQL alternate
   ``--repeat`` times (default 3, E B E B E B; ``--quick``: 1), the best of each is kept (``*_runs_seconds``
   lists all): ``engine_vs_sql_ratio`` = engine_seconds / sql_baseline_seconds, goal <= 2;
   ``engine_vs_sql_ratio_median_pair`` is the median of the E/B pairs. ``sql_baseline_tiebreak_check``
   repeats the comparison (once) on data where every credit is at the same instant (full: 5,003
   collaborators; ``--quick``: 2,003), so that collaborators tie on score AND first credit and the last
   tie-break (lower id) decides the units (sizes not a multiple of 10 give engine.py's data equal scores;
   the main data exercises the first-credit tie-break).
3. scaling: the same at 1,000 and 10,000 collaborators (``--quick``: 1,000 and 3,000) plus the main size.
   ``net_seconds_per_1k`` subtracts a fixed overhead (intercept of the line through the two smallest
   sizes); ``linear`` is false when the largest size's figure is more than 2x the smallest's.
4. standings: ``engine.py``'s data (full: 100,000 collaborators, 1,000,000 credits; ``--quick``: 10,000 /
   100,000), then ``GET /api/v1/distributions/{id}/standings?number=100`` of the pending period through the
   real API stack (Django's test client: key, scope, throttle, view), in the part's own process: cold (empty
   cache: the trigger's plan computed), warm (the cached plan, median of 5) and after a new credit (the
   high-water mark moved: recomputed). ``standings_ms`` is the cold wall time, ``standings_cpu_ms`` the CPU of
   the Django process meanwhile (the database's own CPU not included), ``standings_warm_ms`` /
   ``standings_warm_cpu_ms`` the cached ones, with the queries per request and the cached plan's size. A
   correctness failure (not 200, wrong total, a warm answer that differs, no recomputation after the credit)
   is exit status 2.
5. api: ``bench/api.py`` run as a subprocess (database ``bench_run_api``) and its summary parsed:
   ``GET /api/v1/distributions?number=100`` with every extended field but allocations vs the bare view.
   Goal: api_vs_baseline_ratio >= 0.5 (best round of each, as bench/api.py reports it).
6. credits (``bench/credits.py``): 8 concurrent keep-alive clients POST credit-metric to gunicorn, unique
   Idempotency-Key each (full: 3,000 requests; ``--quick``: 400); ``credits_lost`` (201 answers minus
   credit rows written) must be 0.
7. corrections (``bench/corrections.py``, database ``..._corrections``): ``engine.py``'s data (full: 100,000
   collaborators, 1,000,000 credits; ``--quick``: 10,000 / 100,000) triggered by ``run_distributions``, late
   credits booked into the closed period for 1% of the collaborators and 5 it missed, then the correction's
   dry run (``correction_plan_seconds``), apply (``correction_apply_seconds``) and a second apply with
   nothing new (``correction_again_seconds``, must write nothing), with client and backend CPU and peak RSS.
   Σ allocations + Σ adjustments must equal the correction's value (exit status 2 otherwise).

The 1-minute load average is recorded with every figure (``*_load_avg``: 1/5/15-minute before the part):
the machine is shared, so compare figures taken under similar load. Exit status: 0 every goal met, 1 a
performance goal missed, 2 a correctness failure (baseline differs from the engine, credits lost, non-2xx
credit answers, a part that crashed or timed out).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432"
# Unique to this run (pid and start time), so two runs on one server never drop each other's databases; the
# parts run in child processes, which inherit it through the environment.
PREFIX = os.environ.setdefault("BENCH_RUN_PREFIX", f"bench_run_{os.getpid()}_{int(time.time())}_")
TEMPLATE = PREFIX + "template"
CREDITS_PER_COLLABORATOR = 10

SIZES = {  # main engine size, extra scaling sizes, tie-break check size, bench/api.py arguments, credit requests
    "full": {
        "main": 100_000,
        "scaling": [1_000, 10_000],
        "ties": 5_003,
        "api": ["--requests", "3000", "--rounds", "3"],
        "credits": 3_000,
        "standings": 100_000,
        "repeat": 5,
        "part_timeout": 900,
        "batch_seconds": 20,
        "heartbeat": {"periods": 20, "rate": 50.0},
        "reads_obligations": 100_000,
        "webhook_events": 2_000,
        "corrections": 100_000,
        "engine_1m": 1_000_000,
        "engine_1m_timeout": 1800,
    },
    "quick": {
        "main": 10_000,
        "scaling": [1_000, 3_000],
        "ties": 2_003,
        "api": ["--requests", "250", "--rounds", "2"],
        "credits": 400,
        "standings": 10_000,
        "repeat": 1,
        "part_timeout": 60,
        "batch_seconds": 5,
        "heartbeat": {"periods": 20, "rate": 50.0},
        "reads_obligations": 10_000,
        "webhook_events": 300,
        "corrections": 10_000,
        "engine_1m": None,
        "engine_1m_timeout": None,
    },
}

GOALS = {"engine_vs_sql_ratio": 2.0, "api_vs_baseline_ratio": 0.5, "credits_lost": 0}
# The targets of the "hold up under real traffic" work: (key, comparison, bound).
TARGETS = (
    ("engine_cpu_vs_sql_cpu_ratio", "<=", 1.15),
    ("engine_1m_seconds", "<=", 60.0),
    ("engine_1m_peak_rss_mb", "<=", 1024.0),
    ("batch_credit_rps", ">=", 10_000.0),
    ("batch_credits_lost", "==", 0),
    ("batch_credits_doubled", "==", 0),
    ("single_credit_rps", ">=", 250.0),
    ("api_deep_page_ms", "<=", 10.0),
    ("heartbeat_under_load_triggered", "==", 20),
)


# The engine part's figures copied to results.json (see part_engine).
ENGINE_KEYS = (
    "engine_seconds", "engine_best_seconds", "engine_cpu_seconds", "engine_client_cpu_seconds",
    "engine_backend_cpu_seconds", "engine_runs", "engine_runs_seconds", "engine_sql_statements",
    "engine_peak_rss_mb", "engine_phases_seconds", "sql_baseline_seconds", "sql_baseline_best_seconds",
    "sql_baseline_cpu_seconds", "sql_baseline_client_cpu_seconds", "sql_baseline_backend_cpu_seconds",
    "sql_baseline_runs", "sql_baseline_runs_seconds", "sql_baseline_statements", "sql_baseline_phases_seconds",
    "sql_baseline_matches_engine", "pairs", "pair_orders", "engine_vs_sql_ratio", "engine_vs_sql_pair_ratios",
    "engine_cpu_vs_sql_cpu_ratio", "engine_cpu_vs_sql_cpu_pair_ratios",
)  # fmt: skip


class BenchFailure(Exception):
    """A correctness failure: the run's figures cannot be trusted."""


# --------------------------------------------------------------------------- databases


def _admin(pg: str):
    import psycopg

    return psycopg.connect(f"{pg}/postgres", autocommit=True)


def create_database(pg: str, name: str, template: str | None = None) -> str:
    if not name.startswith(PREFIX):
        raise ValueError(f"bench databases are named {PREFIX}*, not {name}")
    with _admin(pg) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return f"{pg}/{name}"


def drop_databases(pg: str, names: list[str]) -> None:
    with _admin(pg) as conn:
        for name in names:
            if name.startswith(PREFIX):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_migrated_database(pg: str, name: str, timeout: float | None = None) -> str:
    """``create_database`` (empty), then ``manage.py migrate`` in it (bounded by ``timeout``); returns its URL."""
    url = create_database(pg, name)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local", "DEBUG": "false"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True, timeout=timeout
    )
    return url


@contextmanager
def fresh_database(pg: str, part: str) -> Iterator[str]:
    """A new, migrated database ``bench_run_<pid>_<start>_<part>`` (unique to the run) for a part script run
    alone (``bench/corrections.py``, ``bench/webhooks.py``): yields its URL, drops it on the way out."""
    name = PREFIX + part
    url = create_migrated_database(pg, name)
    try:
        yield url
    finally:
        drop_databases(pg, [name])


def create_template(pg: str, timeout: float) -> None:
    """Migrate ``bench_run_template`` once; every other bench database is a (fast) copy of it."""
    create_migrated_database(pg, TEMPLATE, timeout)


# --------------------------------------------------------------------------- parts (each in its own process)


def part_engine(pg: str, database: str, collaborators: int, repeat: int, timeout: float, ties: bool = False) -> dict:
    """Build, trigger with the engine (fresh process), undo, trigger with SQL, compare. Returns the figures.

    ``ties``: move every credit to one instant of the period, so that every collaborator has the same first
    credit, equal scores tie on both keys and the last tie-break (lower collaborator id) decides the units.
    """
    from bench import engine, sql_baseline

    credits = collaborators * CREDITS_PER_COLLABORATOR
    url = create_database(pg, database, TEMPLATE)
    engine._django(url)
    started = time.perf_counter()
    distributor_id = engine.build(collaborators, credits)
    build_seconds = time.perf_counter() - started

    from django.db import connection

    tied_groups = tied_collaborators = None
    if ties:
        with connection.cursor() as cursor:
            cursor.execute(  # one instant inside the period for every credit: first credits all tie
                "UPDATE metrics_metriccredit SET credited_at = (SELECT trigger_date - INTERVAL '12 hours' "
                "FROM distributions_distribution WHERE distributor_id = %s AND status = 'pending')",
                [distributor_id],
            )
            cursor.execute(
                """
                SELECT count(*), COALESCE(SUM(size), 0) FROM (
                    SELECT count(*) AS size FROM (SELECT SUM(points) AS score, MIN(credited_at) AS first_at
                                                  FROM metrics_metriccredit GROUP BY collaborator_id) AS s
                    GROUP BY score, first_at HAVING count(*) > 1
                ) AS groups
                """
            )
            tied_groups, tied_collaborators = (int(x) for x in cursor.fetchone())
        engine.settle()

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.id, s.pool_amount + d.rolled_over FROM distributions_distribution d "
            "JOIN distributors_distributor s ON s.id = d.distributor_id "
            "WHERE d.distributor_id = %s AND d.status = 'pending'",
            [distributor_id],
        )
        distribution_id, pool = cursor.fetchone()
    try:
        from distributions.trigger import POSTGRESQL_TRIGGER_SETTINGS as trigger_settings
    except ImportError:
        trigger_settings = sql_baseline.DEFAULT_TRIGGER_SETTINGS

    def measure_engine() -> dict:
        return engine.measure_in_fresh_process(url, distributor_id, BenchFailure, timeout=timeout)

    def compare(expected: dict, actual: dict, what: str) -> None:
        if actual != expected:
            differences = sql_baseline.share_differences(url, distribution_id)
            detail = {k: (expected[k], actual.get(k)) for k in expected if expected[k] != actual.get(k)}
            raise BenchFailure(
                f"{what} differs from the engine's first trigger at {collaborators} collaborators: {detail}\n"
                f"(collaborator, engine value/score/rank, now value/score/rank): {differences}"
            )

    # Same-run pairs: each pair triggers the engine and the SQL baseline on identical data, one after the other,
    # the order alternating from pair to pair (E B, B E, E B, ...) so neither always runs first; every trigger
    # starts from the data at rest (engine.reset: delete, VACUUM ANALYZE, CHECKPOINT) and its rows are checked
    # against the engine's first trigger.
    engine_runs, baseline_runs, engine_sum = [], [], None
    fresh = True  # the data as built (settled): nothing to undo before the first trigger
    for pair in range(repeat):
        for which in ("engine", "sql") if pair % 2 == 0 else ("sql", "engine"):
            if not fresh:
                engine.reset()
            fresh = False
            if which == "engine":
                engine_runs.append(measure_engine())
                if engine_sum is None:
                    engine_sum = sql_baseline.share_checksum(url, distribution_id)
                    if engine_sum["total"] != pool or engine_sum["allocations"] != engine_sum["obligations"]:
                        raise BenchFailure(f"the engine's shares do not add up: {engine_sum} (pool {pool})")
                    sql_baseline.keep_shares(url, distribution_id)
                else:
                    compare(engine_sum, sql_baseline.share_checksum(url, distribution_id), "an engine re-run")
            else:
                baseline_runs.append(sql_baseline.trigger_with_sql(url, distribution_id, trigger_settings))
                compare(engine_sum, sql_baseline.share_checksum(url, distribution_id), "the SQL baseline")

    def median(values):
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 3) if values else None

    def run_figures(run: dict, wall_key: str) -> dict:
        return {
            "wall_seconds": round(run[wall_key], 3),
            "client_cpu_seconds": run.get("client_cpu_seconds"),
            "backend_cpu_seconds": run.get("backend_cpu_seconds"),
            "parallel_worker_cpu_seconds": run.get("parallel_worker_cpu_seconds"),
            "cpu_seconds": run.get("cpu_seconds"),
        }

    pairs = list(zip(engine_runs, baseline_runs, strict=True))
    wall_ratios = [round(e["wall_seconds"] / b["seconds"], 3) for e, b in pairs]
    cpu_ratios = [
        round(e["cpu_seconds"] / b["cpu_seconds"], 3) if e.get("cpu_seconds") and b.get("cpu_seconds") else None
        for e, b in pairs
    ]
    best = min(engine_runs, key=lambda run: run["wall_seconds"])
    for run in engine_runs:
        run.pop("statement_list", None)
    return {
        "collaborators": collaborators,
        "credits": credits,
        "build_seconds": round(build_seconds, 1),
        "pairs": len(pairs),
        "pair_orders": ["EB" if i % 2 == 0 else "BE" for i in range(len(pairs))],
        "engine_seconds": median(run["wall_seconds"] for run in engine_runs),
        "engine_best_seconds": best["wall_seconds"],
        "engine_cpu_seconds": median(run.get("cpu_seconds") for run in engine_runs),
        "engine_client_cpu_seconds": median(run.get("client_cpu_seconds") for run in engine_runs),
        "engine_backend_cpu_seconds": median(run.get("backend_cpu_seconds") for run in engine_runs),
        "engine_runs": [run_figures(run, "wall_seconds") for run in engine_runs],
        "engine_runs_seconds": [run["wall_seconds"] for run in engine_runs],
        "engine_sql_statements": best["statements"],
        "engine_peak_rss_mb": max(run["peak_rss_mb"] for run in engine_runs),
        "engine_rss_before_trigger_mb": best.get("rss_before_trigger_mb"),
        "engine_phases_seconds": best.get("phases_seconds"),
        "sql_baseline_seconds": median(run["seconds"] for run in baseline_runs),
        "sql_baseline_best_seconds": round(min(run["seconds"] for run in baseline_runs), 3),
        "sql_baseline_cpu_seconds": median(run.get("cpu_seconds") for run in baseline_runs),
        "sql_baseline_client_cpu_seconds": median(run.get("client_cpu_seconds") for run in baseline_runs),
        "sql_baseline_backend_cpu_seconds": median(run.get("backend_cpu_seconds") for run in baseline_runs),
        "sql_baseline_runs": [run_figures(run, "seconds") for run in baseline_runs],
        "sql_baseline_runs_seconds": [round(run["seconds"], 3) for run in baseline_runs],
        "sql_baseline_statements": baseline_runs[0]["statements"],
        "sql_baseline_phases_seconds": min(baseline_runs, key=lambda run: run["seconds"])["phases_seconds"],
        "engine_vs_sql_ratio": median(wall_ratios),
        "engine_vs_sql_pair_ratios": wall_ratios,
        "engine_cpu_vs_sql_cpu_ratio": median(cpu_ratios),
        "engine_cpu_vs_sql_cpu_pair_ratios": cpu_ratios,
        "allocations": engine_sum["allocations"],
        "shares_md5": engine_sum["rows_md5"],
        "sql_baseline_matches_engine": True,
        "tied_groups": tied_groups,
        "tied_collaborators": tied_collaborators,
    }


API_LINE = re.compile(
    r"^\s+(?P<label>\S.*?)\s+(?P<rps>[\d.]+) req/s\s+p50\s+(?P<p50>[\d.]+) ms\s+p99\s+(?P<p99>[\d.]+) ms\s+"
    r"(?P<queries>\d+) queries/request"
)


def parse_api_output(text: str) -> dict:
    """The figures of bench/api.py's summary (best round of each endpoint)."""
    rows = {}
    for line in text.splitlines():
        match = API_LINE.match(line)
        if match:
            rows["api" if "/api/" in match["label"] else "bare"] = match
    if set(rows) != {"api", "bare"}:
        raise BenchFailure(f"could not parse bench/api.py's summary:\n{text[-3000:]}")
    api, bare = rows["api"], rows["bare"]
    result = {
        "api_rps": float(api["rps"]),
        "api_baseline_rps": float(bare["rps"]),
        "api_vs_baseline_ratio": round(float(api["rps"]) / float(bare["rps"]), 3),
        "api_p50_ms": float(api["p50"]),
        "api_p99_ms": float(api["p99"]),
        "api_queries_per_request": int(api["queries"]),
        "api_baseline_p50_ms": float(bare["p50"]),
        "api_baseline_p99_ms": float(bare["p99"]),
        "api_baseline_queries_per_request": int(bare["queries"]),
    }
    median = re.search(r"per-round ratios: .*\(median ([\d.]+)\)", text)
    if median:
        result["api_vs_baseline_ratio_median_round"] = float(median[1])
    cpu = re.search(r"CPU per request \(median\): api ([\d.]+) ms, bare ([\d.]+) ms", text)
    if cpu:
        result["api_server_cpu_ms_per_request"] = float(cpu[1])
        result["api_baseline_server_cpu_ms_per_request"] = float(cpu[2])
    return result


def part_api(pg: str, extra_args: list[str], timeout: float) -> dict:
    database = PREFIX + "api"
    child = subprocess.run(
        [sys.executable, str(BENCH / "api.py"), "--pg", pg, "--database", database, *extra_args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if child.returncode not in (0, 1):  # 1 = ran, ratio below its goal
        raise BenchFailure(f"bench/api.py failed ({child.returncode}):\n{child.stdout[-2000:]}\n{child.stderr[-3000:]}")
    result = parse_api_output(child.stdout)
    result["api_args"] = " ".join(extra_args)
    summary = child.stdout[child.stdout.find("gunicorn:") :] if "gunicorn:" in child.stdout else child.stdout[-1500:]
    result["api_summary"] = summary.strip().splitlines()
    return result


def part_standings(pg: str, database: str, collaborators: int) -> dict:
    """The open period's standings through the API: cold, warm (cached), and after a new credit."""
    import pickle

    os.environ["API_THROTTLE_RATE"] = "off"  # measure the endpoint, not the throttle's store
    from bench import engine

    url = create_database(pg, database, TEMPLATE)
    engine._django(url)
    started = time.perf_counter()
    distributor_id = engine.build(collaborators, collaborators * CREDITS_PER_COLLABORATOR)
    build_seconds = time.perf_counter() - started

    from django.core.cache import cache
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from distributions.models import Distribution
    from distributions.standings import _cache_key
    from organizations.models import ApiKey

    distribution = Distribution.objects.select_related("distributor__organization").get(
        distributor_id=distributor_id, status="pending"
    )
    key = ApiKey(organization_id=distribution.organization_id, name="bench", scopes=["read"])
    secret = key.issue_secret()
    key.save()
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {secret}")
    path = f"/api/v1/distributions/{distribution.pk}/standings"

    def request() -> dict:
        reset_queries()
        wall, cpu = time.perf_counter(), time.process_time()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path, {"number": 100})
        figures = {
            "ms": round((time.perf_counter() - wall) * 1000, 1),
            "cpu_ms": round((time.process_time() - cpu) * 1000, 1),
            "queries": len(queries.captured_queries),
            "status": response.status_code,
            "total": response.headers.get("X-Total-Count"),
            "as_of": response.headers.get("X-Standings-As-Of"),
            "body": response.content,
        }
        if figures["status"] != 200:
            raise BenchFailure(f"standings: {figures['status']} {response.content[:500]!r}")
        return figures

    client.get("/api/v1/distributions", {"number": 1})  # the key's first use records last_used_at
    cache.clear()
    cold = request()
    warm = [request() for _ in range(5)]
    if cold["total"] != str(collaborators):
        raise BenchFailure(f"standings: X-Total-Count {cold['total']}, expected {collaborators}")
    if any(run["body"] != cold["body"] or run["as_of"] != cold["as_of"] for run in warm):
        raise BenchFailure("standings: a cached answer differs from the computed one")
    cached = cache.get(_cache_key(distribution))
    with connection.cursor() as cursor:  # one more credit, as the crediting service would write it
        cursor.execute(
            """
            INSERT INTO metrics_metriccredit (organization_id, request_id, distributor_id, collaborator_id,
                metric_type, quantity, points_per_unit, points, credited_at)
            SELECT organization_id, request_id, distributor_id, collaborator_id, metric_type, 1, 1, 1,
                   credited_at + INTERVAL '1 second'
            FROM metrics_metriccredit WHERE distributor_id = %s ORDER BY id DESC LIMIT 1
            """,
            [distributor_id],
        )
    after_credit = request()
    if after_credit["as_of"] == cold["as_of"]:
        raise BenchFailure("standings: a new credit did not invalidate the cached plan")

    def median(key: str) -> float:
        return round(statistics.median(run[key] for run in warm), 1)

    return {
        "standings_collaborators": collaborators,
        "standings_credits": collaborators * CREDITS_PER_COLLABORATOR,
        "standings_build_seconds": round(build_seconds, 1),
        "standings_ms": cold["ms"],
        "standings_cpu_ms": cold["cpu_ms"],
        "standings_queries": cold["queries"],
        "standings_warm_ms": median("ms"),
        "standings_warm_cpu_ms": median("cpu_ms"),
        "standings_warm_queries": warm[0]["queries"],
        "standings_warm_runs_ms": [run["ms"] for run in warm],
        "standings_after_credit_ms": after_credit["ms"],
        "standings_after_credit_cpu_ms": after_credit["cpu_ms"],
        "standings_cached_plan_mb": round(len(pickle.dumps(cached)) / 1e6, 2) if cached is not None else None,
    }


def part_credits(pg: str, requests: int, time_limit: float) -> dict:
    from bench.credits import run_credit_load

    url = create_database(pg, PREFIX + "credits", TEMPLATE)
    result = run_credit_load(url, requests=requests, clients=8, time_limit=time_limit)
    result["single_credit_rps"] = result["credit_rps"]
    return result


def part_batch(pg: str, seconds: float) -> dict:
    from bench.credits import run_batch_credit_load

    url = create_database(pg, PREFIX + "batch", TEMPLATE)
    return run_batch_credit_load(url, clients=4, batch=1000, seconds=seconds)


def part_heartbeat(pg: str, periods: int, rate: float) -> dict:
    from bench.heartbeat import run_heartbeat_under_load

    url = create_database(pg, PREFIX + "heartbeat", TEMPLATE)
    return run_heartbeat_under_load(url, periods=periods, rate=rate)


def part_reads(pg: str, obligations: int) -> dict:
    """``bench/api_pages.py``: server time of ``GET /api/v1/obligations?number=100`` at offset ``obligations -
    100`` of ``obligations`` obligations (``api_deep_page_ms``), the same page by ``after``, the first page, and a
    page of ``GET /distributions/{id}/allocations`` on an ``obligations``-allocation distribution."""
    from bench import api_pages, engine

    url = create_database(pg, PREFIX + "api_pages", TEMPLATE)
    engine._django(url)
    return api_pages.measure(obligations=obligations)


def part_webhooks(pg: str, events: int) -> dict:
    """``bench/webhooks.py``: one ``deliver_webhooks`` deliverer sending ``events`` events to a loopback receiver."""
    from bench import webhooks

    url = create_database(pg, PREFIX + "webhooks", TEMPLATE)
    return webhooks.measure(events=events, database_url=url)


def part_corrections(pg: str, collaborators: int) -> dict:
    """``bench/corrections.py``: dry run, apply and re-apply of the correction of a triggered period of
    ``collaborators`` collaborators (10x credits) after late credits for 1% of them."""
    from bench import corrections

    url = create_database(pg, PREFIX + "corrections", TEMPLATE)
    try:
        return corrections.measure(collaborators=collaborators, database_url=url)
    except corrections.BenchFailure as exc:
        raise BenchFailure(str(exc)) from exc


def part_engine_1m(pg: str, database: str, collaborators: int, timeout: float) -> dict:
    """``run_distributions`` on one distribution of ``collaborators`` collaborators and 10x credits: wall and CPU
    seconds, peak RSS (one trigger, in a fresh process; the data built by the server, see engine.build)."""
    from bench import engine

    url = create_database(pg, database, TEMPLATE)
    engine._django(url)
    started = time.perf_counter()
    distributor_id = engine.build(collaborators, collaborators * CREDITS_PER_COLLABORATOR)
    build_seconds = time.perf_counter() - started
    run = engine.measure_in_fresh_process(url, distributor_id, BenchFailure, collaborators, "1M trigger", timeout)
    return {
        "engine_1m_collaborators": collaborators,
        "engine_1m_credits": collaborators * CREDITS_PER_COLLABORATOR,
        "engine_1m_build_seconds": round(build_seconds, 1),
        "engine_1m_seconds": run["wall_seconds"],
        "engine_1m_cpu_seconds": run["cpu_seconds"],
        "engine_1m_client_cpu_seconds": run["client_cpu_seconds"],
        "engine_1m_backend_cpu_seconds": run["backend_cpu_seconds"],
        "engine_1m_peak_rss_mb": run["peak_rss_mb"],
        "engine_1m_rss_before_trigger_mb": run["rss_before_trigger_mb"],
        "engine_1m_phases_seconds": run["phases_seconds"],
        "engine_1m_sql_statements": run["statements"],
    }


# --------------------------------------------------------------------------- orchestration


def absorb(results: dict, failures: list[str], part: dict, prefix: str) -> None:
    """Copy a part's figures into the results (its load average as ``<prefix>_load_avg``), or its error."""
    if "error" in part:
        results[f"{prefix}_error"] = part["error"]
        failures.append(part["error"])
        return
    part[f"{prefix}_load_avg"] = part.pop("load_avg")
    part[f"{prefix}_load_avg_end"] = part.pop("load_avg_end")
    part[f"{prefix}_part_seconds"] = part.pop("part_seconds")
    results.update(part)


def run_part(name: str, args: dict, timeout: float) -> dict:
    """Run one part in a fresh process; its JSON result is the last line of its stdout."""
    load = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    try:
        child = subprocess.run(
            [sys.executable, __file__, "--part", name, "--part-args", json.dumps(args)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return {
            "error": f"{name}: timed out after {timeout:.0f} s",
            "load_avg": load,
            "stderr": str(exc.stderr)[-2000:],
        }
    seconds = round(time.perf_counter() - started, 1)
    try:
        result = json.loads(child.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        result = {"error": f"{name}: exit {child.returncode}, no result", "stderr": child.stderr[-4000:]}
    result["load_avg"] = load
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["part_seconds"] = seconds
    error = f"  ERROR {result['error']}" if "error" in result else ""
    print(f"  {name:<16} {seconds:6.1f} s  (load {load[0]:.2f}){error}", flush=True)
    return result


def part_main(name: str, args: dict) -> int:
    try:
        if name.startswith(("engine", "ties")) and not name.startswith("engine_1m"):
            result = part_engine(
                args["pg"], args["database"], args["collaborators"], args["repeat"], args["timeout"], args.get("ties")
            )
        elif name.startswith("standings"):
            result = part_standings(args["pg"], args["database"], args["collaborators"])
        elif name == "api":
            result = part_api(args["pg"], args["api_args"], args["timeout"])
        elif name == "credits":
            result = part_credits(args["pg"], args["requests"], args["time_limit"])
        elif name == "batch":
            result = part_batch(args["pg"], args["seconds"])
        elif name == "heartbeat":
            result = part_heartbeat(args["pg"], args["periods"], args["rate"])
        elif name == "reads":
            result = part_reads(args["pg"], args["obligations"])
        elif name == "webhooks":
            result = part_webhooks(args["pg"], args["events"])
        elif name == "corrections":
            result = part_corrections(args["pg"], args["collaborators"])
        elif name.startswith("engine_1m"):
            result = part_engine_1m(args["pg"], args["database"], args["collaborators"], args["timeout"])
        else:
            raise ValueError(name)
    except BenchFailure as exc:
        print(json.dumps({"error": str(exc), "correctness": True}))
        return 2
    except Exception as exc:
        import traceback

        traceback.print_exc()
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 2
    print(json.dumps(result, default=str))
    return 0


def scaling_summary(points: list[dict]) -> dict:
    points = sorted(points, key=lambda p: p["collaborators"])
    sizes = [p["collaborators"] for p in points]
    seconds = [p["engine_seconds"] for p in points]
    (n0, t0), (n1, t1) = (sizes[0], seconds[0]), (sizes[1], seconds[1])
    slope = (t1 - t0) / (n1 - n0) if n1 != n0 else 0.0
    overhead = min(max(t0 - slope * n0, 0.0), t0)
    net = [max(t - overhead, 0.0) / n * 1000 for n, t in zip(sizes, seconds, strict=True)]
    ratio = net[-1] / net[0] if net[0] > 0 else None
    return {
        "collaborators": sizes,
        "credits": [p["credits"] for p in points],
        "seconds": seconds,
        "sql_statements": [p["engine_sql_statements"] for p in points],
        "sql_statements_constant": len({p["engine_sql_statements"] for p in points}) == 1,
        "sql_baseline_seconds": [p["sql_baseline_seconds"] for p in points],
        "engine_vs_sql_ratio": [round(t / p["sql_baseline_seconds"], 2) for t, p in zip(seconds, points, strict=True)],
        "seconds_per_1k": [round(t / n * 1000, 4) for n, t in zip(sizes, seconds, strict=True)],
        "fixed_overhead_seconds": round(overhead, 3),
        "net_seconds_per_1k": [round(x, 4) for x in net],
        "largest_vs_smallest_net_per_1k": round(ratio, 2) if ratio is not None else None,
        "linear": ratio is None or ratio <= 2.0,
        "load_avg": [p["load_avg"] for p in points],
    }


def fmt(value, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def print_table(results: dict) -> None:
    def load(key):
        value = results.get(key)
        return f"{value[0]:.2f}" if value else "-"

    rows = [
        ("engine_seconds", fmt(results.get("engine_seconds"), ".2f"), "", load("engine_load_avg")),
        (
            "engine_sql_statements",
            fmt(results.get("engine_sql_statements")),
            "same at every size (scaling)",
            load("engine_load_avg"),
        ),
        ("engine_peak_rss_mb", fmt(results.get("engine_peak_rss_mb"), ".1f"), "", load("engine_load_avg")),
        ("sql_baseline_seconds", fmt(results.get("sql_baseline_seconds"), ".3f"), "", load("engine_load_avg")),
        ("engine_vs_sql_ratio", fmt(results.get("engine_vs_sql_ratio"), ".2f"), "<= 2", load("engine_load_avg")),
    ]
    cpu_ratio = "-"
    if results.get("api_server_cpu_ms_per_request") and results.get("api_baseline_server_cpu_ms_per_request"):
        cpu_ratio = (
            f"{results['api_baseline_server_cpu_ms_per_request'] / results['api_server_cpu_ms_per_request']:.2f}"
        )
    scaling = results.get("engine_scaling") or {}
    for n, t, per, net, ratio, la in zip(
        scaling.get("collaborators", []), scaling.get("seconds", []), scaling.get("seconds_per_1k", []),
        scaling.get("net_seconds_per_1k", []), scaling.get("engine_vs_sql_ratio", []), scaling.get("load_avg", []),
        strict=False,
    ):  # fmt: skip
        rows.append(
            (f"scaling {n:>7,}", f"{t:.2f} s", f"{per:.4f} s/1k raw, {net:.4f} net; sql x{ratio}", f"{la[0]:.2f}")
        )
    if scaling:
        rows.append(
            (
                "scaling linear",
                fmt(scaling.get("linear")),
                f"net/1k largest/smallest {fmt(scaling.get('largest_vs_smallest_net_per_1k'))} <= 2",
                "",
            )
        )
    if "standings_ms" in results:
        n = results["standings_collaborators"]
        rows += [
            (
                "standings_ms",
                f"{fmt(results.get('standings_ms'))} / {fmt(results.get('standings_cpu_ms'))}",
                f"cold, wall / CPU ms, {n:,} collaborators, {results.get('standings_queries')} queries",
                load("standings_load_avg"),
            ),
            (
                "standings_warm_ms",
                f"{fmt(results.get('standings_warm_ms'))} / {fmt(results.get('standings_warm_cpu_ms'))}",
                f"cached plan, wall / CPU ms (median of 5), {results.get('standings_warm_queries')} queries",
                load("standings_load_avg"),
            ),
            (
                "standings_after_credit_ms",
                fmt(results.get("standings_after_credit_ms")),
                f"a new credit: recomputed ({fmt(results.get('standings_cached_plan_mb'))} MB cached)",
                load("standings_load_avg"),
            ),
        ]
    rows += [
        ("api_rps", fmt(results.get("api_rps"), ".1f"), "", load("api_load_avg")),
        ("api_baseline_rps", fmt(results.get("api_baseline_rps"), ".1f"), "", load("api_load_avg")),
        ("api_vs_baseline_ratio", fmt(results.get("api_vs_baseline_ratio"), ".2f"), ">= 0.5", load("api_load_avg")),
        (
            "api_p50_ms / p99_ms",
            f"{fmt(results.get('api_p50_ms'))} / {fmt(results.get('api_p99_ms'))}",
            "",
            load("api_load_avg"),
        ),
        (
            "api ratio, other views",
            f"{fmt(results.get('api_vs_baseline_ratio_median_round'))} / {cpu_ratio}",
            "median per-round rps ratio / bare:api server CPU",
            load("api_load_avg"),
        ),
        ("api_queries_per_request", fmt(results.get("api_queries_per_request")), "", ""),
        ("credit_rps", fmt(results.get("credit_rps"), ".1f"), "", load("credit_load_avg")),
        ("credits_lost", fmt(results.get("credits_lost")), "= 0", load("credit_load_avg")),
        ("credit_non_2xx", fmt(results.get("credit_non_2xx")), "= 0", load("credit_load_avg")),
        (
            "credit_p50_ms / p99_ms",
            f"{fmt(results.get('credit_p50_ms'))} / {fmt(results.get('credit_p99_ms'))}",
            "",
            load("credit_load_avg"),
        ),
    ]
    if "correction_apply_seconds" in results:
        n = results["correction_collaborators"]
        for key, what in (
            ("correction_plan", f"dry run, wall / CPU s, {n:,} collaborators"),
            ("correction_apply", f"{results.get('correction_lines', 0):,} lines, wall / CPU s"),
            ("correction_again", "nothing new (writes nothing), wall / CPU s"),
        ):
            rows.append(
                (
                    f"{key}_seconds",
                    f"{fmt(results.get(key + '_seconds'))} / {fmt(results.get(key + '_cpu_seconds'))}",
                    what,
                    load("correction_load_avg"),
                )
            )
        rows.append(
            ("correction_peak_rss_mb", fmt(results.get("correction_peak_rss_mb")), "", load("correction_load_avg"))
        )
    verdicts = results.get("goals", {})
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  {'value':>14}  {'goal':<44} {'verdict':<7}  load")
    for name, value, goal, la in rows:
        key = "scaling" if name == "scaling linear" else name.split(" ")[0]
        verdict = "" if name.startswith("scaling ") and name != "scaling linear" else verdicts.get(key, "")
        print(f"{name:<{width}}  {value:>14}  {goal:<44} {verdict:<7}  {la}")
    ties = results.get("sql_baseline_tiebreak_check")
    if ties:
        print(
            f"tie-break check: {ties['collaborators']:,} collaborators, {ties['tied_collaborators']:,} of them in "
            f"{ties['tied_groups']:,} group(s) tied on score and first credit: SQL baseline "
            f"{'matches' if ties['matches_engine'] else 'DIFFERS FROM'} the engine"
        )
    for key in (
        "engine_error",
        "scaling_error",
        "tiebreak_error",
        "standings_error",
        "api_error",
        "credit_error",
        "correction_error",
    ):
        if results.get(key):
            print(f"{key}: {results[key][:2000]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in under a minute")
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", DEFAULT_PG), help="PostgreSQL server URL")
    parser.add_argument("--output", default=str(BENCH / "results.json"))
    parser.add_argument(
        "--only",
        default="engine,scaling,standings,api,credits,batch,heartbeat,reads,webhooks,corrections,engine_1m",
        help="comma-separated parts to run (engine_1m: full mode only)",
    )
    parser.add_argument(
        "--repeat", type=int, help="engine and SQL triggers per size, best kept (default: 3; --quick: 1)"
    )
    parser.add_argument(
        "--keep-databases", action="store_true", help="leave this run's bench_run_<pid>_<start>_* databases"
    )
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--part-args", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        return part_main(args.part, json.loads(args.part_args))
    if not args.pg.startswith(("postgres://postgres@127.0.0.1", "postgresql://postgres@127.0.0.1")):
        parser.error("--pg must be a PostgreSQL server on 127.0.0.1")

    mode = "quick" if args.quick else "full"
    plan = SIZES[mode]
    timeout = plan["part_timeout"]
    only = set(args.only.split(","))
    started = time.perf_counter()
    uptime_start = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"bench/run.py ({mode}) on {os.cpu_count()} CPUs; {uptime_start}", flush=True)
    results: dict = {"mode": mode, "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    databases = [TEMPLATE]
    failures: list[str] = []
    try:
        create_template(args.pg, timeout)
        print(f"  {'template':<16} {time.perf_counter() - started:6.1f} s", flush=True)
        common = {"pg": args.pg, "repeat": max(1, args.repeat or plan["repeat"]), "timeout": timeout}
        engine_points = []
        if only & {"engine", "scaling"}:
            main_n = plan["main"]
            database = f"{PREFIX}engine_{main_n}"
            databases.append(database)
            part = run_part(f"engine_{main_n}", {**common, "database": database, "collaborators": main_n}, timeout)
            if "error" in part:
                results["engine_error"] = part["error"]
                failures.append(part["error"])
            else:
                engine_points.append(part)
                results.update({"engine_collaborators": part["collaborators"], "engine_credits": part["credits"]})
                results.update({key: part[key] for key in ENGINE_KEYS})
                results["engine_build_seconds"] = part["build_seconds"]
                results["engine_load_avg"] = part["load_avg"]
                results["engine_load_avg_end"] = part["load_avg_end"]
        if "scaling" in only:
            for n in plan["scaling"]:
                database = f"{PREFIX}engine_{n}"
                databases.append(database)
                part = run_part(f"engine_{n}", {**common, "database": database, "collaborators": n}, timeout)
                if "error" in part:
                    results["scaling_error"] = part["error"]
                    failures.append(part["error"])
                else:
                    engine_points.append(part)
            if len(engine_points) >= 2:
                results["engine_scaling"] = scaling_summary(engine_points)
        if "engine" in only:  # the last tie-break (collaborator id) exercised: equal scores and first credits
            n = plan["ties"]
            database = f"{PREFIX}ties_{n}"
            databases.append(database)
            ties_args = {**common, "repeat": 1, "database": database, "collaborators": n, "ties": True}
            part = run_part(f"ties_{n}", ties_args, timeout)
            if "error" in part:
                results["tiebreak_error"] = part["error"]
                failures.append(part["error"])
            else:
                results["sql_baseline_tiebreak_check"] = {
                    "collaborators": n,
                    "tied_groups": part["tied_groups"],
                    "tied_collaborators": part["tied_collaborators"],
                    "matches_engine": part["sql_baseline_matches_engine"],
                    "engine_seconds": part["engine_seconds"],
                    "sql_baseline_seconds": part["sql_baseline_seconds"],
                }
        if "standings" in only:
            n = plan["standings"]
            database = f"{PREFIX}standings_{n}"
            databases.append(database)
            part = run_part(f"standings_{n}", {**common, "database": database, "collaborators": n}, timeout)
            if "error" in part:
                results["standings_error"] = part["error"]
                failures.append(part["error"])
            else:
                part["standings_load_avg"] = part.pop("load_avg")
                part["standings_load_avg_end"] = part.pop("load_avg_end")
                part.pop("part_seconds")
                results.update(part)
        if "api" in only:
            databases.append(PREFIX + "api")
            part = run_part("api", {**common, "api_args": plan["api"]}, timeout)
            if "error" in part:
                results["api_error"] = part["error"]
                failures.append(part["error"])
            else:
                part["api_load_avg"] = part.pop("load_avg")
                part["api_load_avg_end"] = part.pop("load_avg_end")
                part.pop("part_seconds")
                results.update(part)
        if "credits" in only:
            databases.append(PREFIX + "credits")
            time_limit = timeout * 0.6
            part = run_part("credits", {**common, "requests": plan["credits"], "time_limit": time_limit}, timeout)
            if "error" in part:
                results["credit_error"] = part["error"]
                failures.append(part["error"])
            else:
                part["credit_load_avg"] = part.pop("load_avg")
                part["credit_load_avg_end"] = part.pop("load_avg_end")
                part.pop("part_seconds")
                results.update(part)
                if part["credits_lost"] or part["credit_non_2xx"] or not part["credit_points_match"]:
                    failures.append(f"credits: lost {part['credits_lost']}, non-2xx {part['credit_non_2xx']}")
        if "batch" in only:
            databases.append(PREFIX + "batch")
            part = run_part("batch", {**common, "seconds": plan["batch_seconds"]}, timeout)
            absorb(results, failures, part, "batch_credit")
            if part.get("batch_credits_lost") or part.get("batch_credits_doubled"):
                failures.append(
                    f"batch credits: lost {part['batch_credits_lost']}, doubled {part['batch_credits_doubled']}"
                )
        if "heartbeat" in only:
            databases.append(PREFIX + "heartbeat")
            part = run_part("heartbeat", {**common, **plan["heartbeat"]}, timeout)
            absorb(results, failures, part, "heartbeat_under_load")
            if part.get("heartbeat_under_load_mismatched_distributions"):
                failures.append(f"heartbeat under load: scores differ from the ledger: {part}")
        if "reads" in only:
            databases.append(PREFIX + "api_pages")
            part = run_part("reads", {**common, "obligations": plan["reads_obligations"]}, timeout)
            absorb(results, failures, part, "reads")
        if "webhooks" in only:
            databases.append(PREFIX + "webhooks")
            part = run_part("webhooks", {**common, "events": plan["webhook_events"]}, timeout)
            absorb(results, failures, part, "webhooks")
        if "corrections" in only:
            databases.append(PREFIX + "corrections")
            part = run_part("corrections", {**common, "collaborators": plan["corrections"]}, timeout)
            absorb(results, failures, part, "correction")
        if "engine_1m" in only and plan["engine_1m"]:
            n = plan["engine_1m"]
            database = f"{PREFIX}engine_{n}"
            databases.append(database)
            part_timeout = plan["engine_1m_timeout"]
            part = run_part(
                "engine_1m",
                {**common, "database": database, "collaborators": n, "timeout": part_timeout},
                part_timeout,
            )
            absorb(results, failures, part, "engine_1m")
    finally:
        if not args.keep_databases:
            drop_databases(args.pg, databases)

    goals = {}
    if "engine_vs_sql_ratio" in results:
        goals["engine_vs_sql_ratio"] = (
            "met" if results["engine_vs_sql_ratio"] <= GOALS["engine_vs_sql_ratio"] else "MISSED"
        )
    if "engine_scaling" in results:
        goals["scaling"] = "met" if results["engine_scaling"]["linear"] else "MISSED"
        constant = results["engine_scaling"]["sql_statements_constant"]
        goals["engine_sql_statements"] = "met" if constant else "MISSED"
    if "api_vs_baseline_ratio" in results:
        goals["api_vs_baseline_ratio"] = (
            "met" if results["api_vs_baseline_ratio"] >= GOALS["api_vs_baseline_ratio"] else "MISSED"
        )
    if "credits_lost" in results:
        goals["credits_lost"] = "met" if results["credits_lost"] == 0 else "MISSED"
        goals["credit_non_2xx"] = "met" if results["credit_non_2xx"] == 0 else "MISSED"
    comparisons = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "==": lambda a, b: a == b}
    for key, how, bound in TARGETS:
        if results.get(key) is not None:
            goals[key] = "met" if comparisons[how](results[key], bound) else "MISSED"
    results["targets"] = {key: f"{how} {bound}" for key, how, bound in TARGETS}
    results["goals"] = goals
    results["failures"] = failures
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["machine"] = {
        "cpus": os.cpu_count(),
        "uptime_start": uptime_start,
        "uptime_end": subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip(),
    }
    Path(args.output).write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_table(results)
    print(f"\n{mode} run: {results['total_seconds']:.1f} s; {results['machine']['uptime_end']}; wrote {args.output}")
    if failures:
        print("FAILED: " + " | ".join(f[:500] for f in failures), file=sys.stderr)
        return 2
    return 1 if "MISSED" in goals.values() else 0


if __name__ == "__main__":
    sys.exit(main())
