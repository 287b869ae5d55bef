"""Server time of list pages: a deep page, a cursor page, the first page, and a page of a distribution's allocations.

    .venv/bin/python bench/api_pages.py [--obligations 100000] [--repeat 7] [--keep-database]

``measure(obligations=100_000)`` builds one organization with ``obligations`` obligations, each owed through
an allocation of one complete distribution (so that distribution has ``obligations`` allocations), then
times requests through the real API stack in this process (Django's test client: key, scope, view,
queries; throttling off, DEBUG off) and returns, in milliseconds, the median of ``repeat`` runs after one
warm-up:

- ``api_first_page_ms``: ``GET /api/v1/obligations?number=100``;
- ``api_deep_page_ms``: the same at ``offset = obligations - 100`` (99,900 of 100,000), the issue's figure;
- ``api_after_page_ms``: that same page reached by the cursor (``after=<id>``);
- ``api_allocations_page_ms``: ``GET /api/v1/distributions/{id}/allocations?number=100`` on the
  ``obligations``-allocation distribution;

(wall time: on a shared machine it moves with the load, recorded as ``api_pages_load_avg``; the Django
process's CPU per request is beside it, ``api_pages_cpu_ms``)

and beside them the deep page with ``include=extended``, the allocations endpoint at a deep offset and by
rank, the detail with ``fields=allocations`` (its body size), the queries of each request and the load
average. Every answer is checked (200, the expected rows and ``X-Total-Count``); a wrong one raises.

Database: with Django already set up (``bench/run.py``'s parts call ``engine._django(url)`` on a fresh
database first), the configured one. Otherwise a fresh database on ``DATABASE_URL``'s server (default
``postgres://postgres@127.0.0.1:5432``) named ``<prefix>api_pages``, where the prefix is ``bench/run.py``'s
(``BENCH_RUN_PREFIX``, or ``bench_run_<pid>_<start>_``), so two runs never touch each other's; it is
migrated, measured and dropped (``--keep-database`` keeps it). A SQLite ``DATABASE_URL`` is used as it is.
The rows are made by the database (``INSERT ... SELECT`` over a generated series; every column the statements
do not set gets its model default, so a column added to a model needs no change here), then ``VACUUM
ANALYZE`` as autovacuum would have done.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
PAGE = 100


def _prefix() -> str:
    return os.environ.setdefault("BENCH_RUN_PREFIX", f"bench_run_{os.getpid()}_{int(time.time())}_")


def _fresh_database() -> tuple[str, str | None]:
    """(database URL, name of the PostgreSQL database created for this run, or None for SQLite)."""
    import psycopg

    configured = os.environ.get("DATABASE_URL", DEFAULT_SERVER + "/postgres")
    if not configured.startswith(("postgres://", "postgresql://")):
        return configured, None
    name = _prefix() + "api_pages"
    parts = urlsplit(configured)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}")), name


def _drop(name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    parts = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _insert_select(model, source: str, expressions: dict[str, str]) -> int:
    """``INSERT INTO <model's table> (every column) SELECT ... FROM <source>``: ``expressions`` (SQL, by field
    attname) for the columns that vary, the field's own default for every other column (timestamps: now), so
    the statement keeps up with columns added to the model. Returns the rows written."""
    from django.db import connection
    from django.utils import timezone

    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.attname in expressions:
            values.append(expressions[field.attname])
            continue
        default = timezone.now() if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False) else None
        values.append("%s")
        params.append(field.get_db_prep_save(default or field.get_default(), connection))
    unknown = set(expressions) - {f.attname for f in model._meta.concrete_fields}
    assert not unknown, f"{model.__name__} has no {unknown}"
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _series(count: int) -> str:
    """``g`` = 1..count, on PostgreSQL and SQLite alike."""
    return (
        f"(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {int(count)}) SELECT g FROM s) AS t"
    )


def build(obligations: int) -> dict:
    """One organization, distributor and complete distribution; ``obligations`` collaborators, each owed one
    obligation through one allocation of that distribution (rank = creation order). Rows are written by the
    database (``INSERT ... SELECT``, three statements); returns the ids the requests need."""
    from datetime import UTC, datetime

    from django.core.management import call_command
    from django.db import connection, transaction

    from collaborators.models import Collaborator
    from distributions.models import Allocation, Distribution
    from distributors.models import Distributor
    from obligations.models import AwardType, Obligation, ObligationStatus
    from organizations.models import Organization
    from organizations.services import api_key_create

    call_command("migrate", verbosity=0)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction.atomic():
        organization = Organization.objects.create(name="Pages", slug=f"pages-{os.getpid()}", timezone="UTC")
        distributor = Distributor.objects.create(
            organization=organization, name="Pages", pool_amount=obligations * 100, starts_at=start
        )
        distribution = Distribution.objects.create(
            organization=organization,
            distributor=distributor,
            status="processing",
            period_start=start,
            trigger_date=datetime(2026, 2, 1, tzinfo=UTC),
            triggered_at=datetime(2026, 2, 1, tzinfo=UTC),
            pool=obligations * 100,
            value=obligations * 100,
        )
        org = int(organization.pk)
        written = _insert_select(
            Collaborator,
            _series(obligations),
            {
                "organization_id": str(org),
                "full_name": "'Person ' || g",
                "nickname": "'p' || g",
                "email": "'p' || g || '@pages.example'",
            },
        )
        written += _insert_select(
            Obligation,
            f"collaborators_collaborator c WHERE c.organization_id = {org}",
            {
                "organization_id": str(org),
                "collaborator_id": "c.id",
                "value": "100",
                "units": f"'{distributor.units}'",
                "status": f"'{ObligationStatus.PENDING}'",
                "award_type": f"'{AwardType.DISTRIBUTION}'",
            },
        )
        written += _insert_select(
            Allocation,
            f"(SELECT o.id, o.collaborator_id, ROW_NUMBER() OVER (ORDER BY o.id) AS place "
            f"FROM obligations_obligation o WHERE o.organization_id = {org}) AS o",
            {
                "organization_id": str(org),
                "distribution_id": str(int(distribution.pk)),
                "obligation_id": "o.id",
                "collaborator_id": "o.collaborator_id",
                "value": "100",
                "score": f"{obligations + 1} - o.place",
                "rank": "o.place",
            },
        )
        assert written == 3 * obligations, f"wrote {written} rows, expected {3 * obligations}"
        _, key = api_key_create(organization=organization, name="pages", scopes=["read"])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return {"key": key, "distribution_id": distribution.pk, "organization_id": organization.pk}


def _time(client, path: str, params: dict, repeat: int, check) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    runs, cpu, queries, body = [], [], 0, b""
    for attempt in range(repeat + 1):  # the first is a warm-up
        started, cpu_started = time.perf_counter(), time.process_time()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, params)
        elapsed = (time.perf_counter() - started) * 1000
        cpu_ms = (time.process_time() - cpu_started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path} {params}: {response.status_code} {response.content[:300]!r}")
        check(response)
        if attempt:
            runs.append(elapsed)
            cpu.append(cpu_ms)
        queries, body = len(captured.captured_queries), response.content
    return {"ms": round(statistics.median(runs), 2), "runs_ms": [round(r, 2) for r in runs], "queries": queries,
            "cpu_ms": round(statistics.median(cpu), 2), "bytes": len(body)}  # fmt: skip


def _rows(expected: int, total: str | None = None):
    def check(response):
        rows = response.json()
        if len(rows) != expected:
            raise RuntimeError(f"{response.request['PATH_INFO']}: {len(rows)} rows, expected {expected}")
        if total is not None and response.headers.get("X-Total-Count") != total:
            raise RuntimeError(f"X-Total-Count {response.headers.get('X-Total-Count')!r}, expected {total!r}")

    return check


def _measure_configured(obligations: int, repeat: int) -> dict:
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from api.pagination import TOTAL_COUNT_CAP
    from obligations.models import Obligation

    settings.API_THROTTLE_RATE = "off"  # measure the endpoint, not the throttle's store
    load = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    data = build(obligations)
    build_seconds = round(time.perf_counter() - started, 1)
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {data['key']}")
    total = str(obligations) if obligations <= TOTAL_COUNT_CAP else f"{TOTAL_COUNT_CAP}+"
    deep = max(obligations - PAGE, 0)
    newest_first = Obligation.objects.filter(organization_id=data["organization_id"]).order_by("-id")
    cursor = newest_first.values_list("id", flat=True)[deep - 1] if deep else None
    allocations = f"/api/v1/distributions/{data['distribution_id']}/allocations"
    page = min(PAGE, obligations)
    figures = {
        "first": ("/api/v1/obligations", {"number": PAGE}, _rows(page, total)),
        "deep": ("/api/v1/obligations", {"number": PAGE, "offset": deep}, _rows(page, total)),
        "deep_extended": (
            "/api/v1/obligations",
            {"number": PAGE, "offset": deep, "include": "extended"},
            _rows(page, total),
        ),
        "allocations": (allocations, {"number": PAGE}, _rows(page, total)),
        "allocations_deep": (allocations, {"number": PAGE, "offset": deep}, _rows(page, total)),
        "allocations_by_rank": (allocations, {"number": PAGE, "orderBy": "rank", "order": "ASC"}, _rows(page, total)),
    }
    if cursor is not None:
        figures["after"] = ("/api/v1/obligations", {"number": PAGE, "after": cursor}, _rows(page, total))
    client.get("/api/v1/obligations", {"number": 1})  # the key's first use records last_used_at
    measured = {name: _time(client, path, params, repeat, check) for name, (path, params, check) in figures.items()}
    detail = _time(
        client, f"/api/v1/distributions/{data['distribution_id']}", {"fields": "allocations"}, repeat, lambda r: None
    )
    deep_page_ids = [row["id"] for row in client.get("/api/v1/obligations", {"number": PAGE, "offset": deep}).json()]
    if cursor is not None:
        after_ids = [row["id"] for row in client.get("/api/v1/obligations", {"number": PAGE, "after": cursor}).json()]
        if after_ids != deep_page_ids:
            raise RuntimeError("the cursor page differs from the offset page it should equal")
    result = {
        "api_deep_page_ms": measured["deep"]["ms"],
        "api_after_page_ms": measured["after"]["ms"] if cursor is not None else None,
        "api_first_page_ms": measured["first"]["ms"],
        "api_allocations_page_ms": measured["allocations"]["ms"],
        "api_deep_page_extended_ms": measured["deep_extended"]["ms"],
        "api_allocations_deep_page_ms": measured["allocations_deep"]["ms"],
        "api_allocations_by_rank_page_ms": measured["allocations_by_rank"]["ms"],
        "api_detail_allocations_ms": detail["ms"],
        "api_detail_allocations_bytes": detail["bytes"],
        "api_pages_queries": {name: m["queries"] for name, m in measured.items()} | {"detail": detail["queries"]},
        # The Django process's CPU per request (median; the database's own work not included).
        "api_pages_cpu_ms": {name: m["cpu_ms"] for name, m in measured.items()} | {"detail": detail["cpu_ms"]},
        "api_pages_runs_ms": {name: m["runs_ms"] for name, m in measured.items()},
        "api_pages_obligations": obligations,
        "api_pages_repeat": repeat,
        "api_pages_database": connection.vendor,
        "api_pages_build_seconds": build_seconds,
        "api_pages_load_avg": load,
    }
    return result


def measure(obligations: int = 100_000, *, repeat: int = 7, keep_database: bool = False) -> dict:
    """The figures above, on the configured database (see the module docstring for which one)."""
    from django.conf import settings

    if settings.configured:
        return _measure_configured(obligations, repeat)
    url, created = _fresh_database()
    from bench import engine

    engine._django(url)
    try:
        return _measure_configured(obligations, repeat)
    finally:
        if created and not keep_database:
            _drop(created)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--obligations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    print(json.dumps(measure(args.obligations, repeat=args.repeat, keep_database=args.keep_database)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
