"""Correcting a closed period: the dry run and the apply of ``distributions.corrections``. Used by ``bench/run.py``.

    .venv/bin/python bench/corrections.py [--collaborators 100000] [--pg postgres://postgres@127.0.0.1:5432]
                                          [--database-url URL] [--profile FILE]

``measure(collaborators=100_000, database_url=None)`` (call it in a process of its own: it sets Django up):

1. On a migrated, empty database (``database_url``; by default ``DATABASE_URL``), builds ``bench/engine.py``'s
   data (one organization, one fixed-pool proportional monthly distributor, N collaborators, 10 N credits in
   January 2026) and triggers January with the real ``run_distributions`` in a fresh process
   (``bench/engine.py --measure``), checked: N allocations summing to the pool.
2. Books late credits into the triggered period: 1% of the collaborators (every 100th), 10 credits each
   (1 to 10 points), plus ``MISSED`` new active collaborators the trigger never paid, 3 credits each. A few
   (``SERVICE_BOOKINGS`` of the 1% and every missed one) go through the real ``metrics.services.metric_credit``
   (``now`` in January, ``late_reason``); the rest are inserted directly (one ``CreditRequest`` per
   collaborator, with its ``late_reason`` and the real time as ``created_at``), the way ``bench/engine.py``
   builds its data. Then VACUUM ANALYZE and CHECKPOINT: the measurement starts from a database at rest.
3. Measures, in this process, with ``bench/cpu.py``'s ``CpuMeter`` (this process's CPU and the PostgreSQL
   backend's, its parallel workers included) and ``ru_maxrss``:
   - the dry run, ``distribution_correction_plan`` (``correction_plan_seconds``); it must write nothing;
   - the apply, ``distribution_correct(apply=True)`` (``correction_apply_seconds``): plans again under the
     distribution's lock, then writes one ``Correction``, one adjustment obligation (with its event) and one
     ``CorrectionLine`` per collaborator whose amount changed. With a proportional split, more points in the
     period move almost every share by a unit or more, so the lines number close to N: the apply's cost grows
     with the period's size, not with the late credits';
   - a second apply with nothing new (``correction_again_seconds``): it must write nothing at all.
   ``*_phases_seconds`` split each (plan, within it ``plan.scores``, the scores query, and ``plan.split``;
   adjustments with their events; lines and correction rows, the rest; commit), from wrappers around the
   module's own functions (the module itself is not changed).
4. Checks the result, a ``BenchFailure`` otherwise: Σ allocations + Σ the correction's adjustment obligations =
   the correction's value (= the pool: a proportional split allocates it all) = Σ allocations + Σ its lines'
   differences; one line and one adjustment per planned line; the dry run's plan equals the applied one; the
   late ledger rows counted; every missed collaborator paid by the correction.

Peak RSS is this process's ``ru_maxrss`` (the data is built by the server, the trigger runs in a child), read
after each step: ``correction_plan_peak_rss_mb`` after the dry run, ``correction_peak_rss_mb`` after all.

Run alone (``__main__``), it creates a fresh database ``bench_run_<pid>_<start>_corrections`` (the naming of
``bench/run.py``, unique to the run) on the PostgreSQL server, migrates it, measures, prints the figures as
JSON and drops the database. ``--profile FILE`` writes a cProfile summary of the apply (cumulative, top 50).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LATE_SHARE = 100  # every 100th collaborator gets late credits: 1%
LATE_CREDITS_EACH = 10
MISSED = 5  # collaborators the trigger did not pay (new since), credited late
MISSED_CREDITS_EACH = 3
SERVICE_BOOKINGS = 15  # of the 1%, booked through metric_credit (the rest inserted directly)
LATE_REASON = "bench: credits found after the January close"
LATE_AT = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)  # inside the triggered period (Jan 1, Feb 1]


class BenchFailure(Exception):
    """The run's figures cannot be trusted (the correction does not add up, or a rerun wrote something)."""


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure(collaborators: int = 100_000, database_url: str | None = None, profile: str | None = None) -> dict:
    """Build, trigger, book late credits, then dry-run, apply and re-apply the correction (see the module doc)."""
    if collaborators < LATE_SHARE * 2:
        raise ValueError(f"collaborators must be at least {LATE_SHARE * 2}")
    from bench import engine

    url = database_url or os.environ.get("DATABASE_URL", "")
    engine._django(url)
    started = time.perf_counter()
    distributor_id = engine.build(collaborators, collaborators * 10)
    build_seconds = time.perf_counter() - started
    trigger_seconds = _trigger(engine, url, distributor_id, collaborators)
    started = time.perf_counter()
    booked = _book_late(distributor_id, collaborators)
    engine.settle()
    booking_seconds = time.perf_counter() - started
    return {
        "correction_collaborators": collaborators,
        "correction_credits": collaborators * 10,
        "correction_build_seconds": round(build_seconds, 1),
        "correction_trigger_seconds": trigger_seconds,
        "correction_booking_seconds": round(booking_seconds, 1),
        **_measure(distributor_id, booked, profile),
    }


def _trigger(engine, url: str, distributor_id: int, collaborators: int) -> float:
    """January triggered by the real heartbeat in a fresh process (``bench/engine.py --measure``)."""
    return engine.measure_in_fresh_process(url, distributor_id, BenchFailure, collaborators)["wall_seconds"]


def _book_late(distributor_id: int, collaborators: int) -> dict:
    """Late credits into the triggered January (see the module doc); returns what was booked."""
    from django.db import connection, transaction

    from collaborators.models import Collaborator
    from distributors.models import Distributor
    from metrics.models import CreditSource
    from metrics.services import metric_credit

    distributor = Distributor.objects.select_related("organization").get(pk=distributor_id)
    organization = distributor.organization
    paid = list(
        Collaborator.objects.filter(organization=organization)
        .order_by("pk")
        .values_list("pk", flat=True)[:collaborators]
    )
    late = paid[::LATE_SHARE]
    through_service, direct = late[:SERVICE_BOOKINGS], late[SERVICE_BOOKINGS:]
    missed = [
        Collaborator.objects.create(
            organization=organization, full_name=f"Missed {n}", nickname=f"m{n}", email=f"missed{n}@bench.example"
        )
        for n in range(MISSED)
    ]
    rows = 0
    for collaborator_id in through_service:
        collaborator = Collaborator(pk=collaborator_id, organization_id=organization.pk)
        for n in range(LATE_CREDITS_EACH):
            metric_credit(organization=organization, collaborator=collaborator, quantity=1 + n % 10,
                          distributor_id=distributor_id, source=CreditSource.COMMAND, actor="bench",
                          now=LATE_AT, late_reason=LATE_REASON)  # fmt: skip
            rows += 1
    for collaborator in missed:
        for n in range(MISSED_CREDITS_EACH):
            metric_credit(organization=organization, collaborator=collaborator, quantity=5 + n,
                          distributor_id=distributor_id, source=CreditSource.COMMAND, actor="bench",
                          now=LATE_AT, late_reason=LATE_REASON)  # fmt: skip
            rows += 1
    with transaction.atomic(), connection.cursor() as cursor:
        # One request per collaborator, as one ``credit_metric --late-reason`` run each; keyed so the credits
        # below find theirs.
        cursor.execute(
            """
            INSERT INTO metrics_creditrequest
                (organization_id, idempotency_key, request_fingerprint, source, actor, created_at, late_reason)
            SELECT %s, 'bench-late-' || c, md5(c::text) || md5('late'), 'command', 'bench', now(), %s
            FROM unnest(%s::bigint[]) AS c
            """,
            [organization.pk, LATE_REASON, direct],
        )
        cursor.execute(
            """
            INSERT INTO metrics_metriccredit (organization_id, request_id, distributor_id, collaborator_id,
                metric_type, quantity, points_per_unit, points, credited_at)
            SELECT %s, r.id, %s, c, 'manual', q, 1, q, %s::timestamptz - n * INTERVAL '1 hour'
            FROM unnest(%s::bigint[]) AS c
            JOIN metrics_creditrequest r ON r.organization_id = %s AND r.idempotency_key = 'bench-late-' || c
            CROSS JOIN LATERAL (SELECT n, 1 + (c * 7 + n) %% 10 AS q FROM generate_series(0, %s - 1) AS n) AS s
            """,
            [organization.pk, distributor_id, LATE_AT, direct, organization.pk, LATE_CREDITS_EACH],
        )
        rows += cursor.rowcount
    return {"late": late, "missed": [c.pk for c in missed], "late_rows": rows}


def _counts(distribution) -> dict:
    from distributions.models import Correction, CorrectionLine
    from events.models import Event
    from obligations.models import Obligation

    return {
        "corrections": Correction.objects.filter(distribution=distribution).count(),
        "lines": CorrectionLine.objects.filter(correction__distribution=distribution).count(),
        "obligations": Obligation.objects.filter(organization_id=distribution.organization_id).count(),
        "events": Event.objects.filter(organization_id=distribution.organization_id).count(),
    }


def _measure(distributor_id: int, booked: dict, profile: str | None) -> dict:
    from django.db import connection
    from django.db.models import Sum

    from bench.cpu import CpuMeter
    from bench.engine import AS_OF, POOL, timed
    from distributions import corrections
    from distributions.models import Allocation, CorrectionLine, Distribution
    from obligations.models import AwardType, Obligation

    phases: dict[str, float] = {}
    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    # The module's own functions, wrapped for the phase figures (distribution_correct calls them by name).
    corrections._corrected_scores = timed(phases, "plan.scores", corrections._corrected_scores)
    corrections.split_pool = timed(phases, "plan.split", corrections.split_pool)
    corrections.distribution_correction_plan = timed(phases, "plan", corrections.distribution_correction_plan)
    corrections.obligation_adjustments_create = timed(phases, "adjustments", corrections.obligation_adjustments_create)
    corrections._write_lines_postgresql = timed(phases, "write lines", corrections._write_lines_postgresql)
    connection._commit = timed(phases, "commit", connection._commit)

    def step(name: str, function, prof=None) -> tuple[object, dict]:
        phases.clear()
        statements[0] = 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (backend_pid,) = cursor.fetchone()
        cpu = CpuMeter(backend_pid).start()
        if prof:
            prof.enable()
        with connection.execute_wrapper(count):
            result = function()
        if prof:
            prof.disable()
        figures = cpu.stop()
        figures["statements"] = statements[0]
        figures["peak_rss_mb"] = _rss_mb()
        figures["phases_seconds"] = {key: round(value, 3) for key, value in phases.items()}
        return result, figures

    distribution = Distribution.objects.get(distributor_id=distributor_id, trigger_date=AS_OF)
    allocations_total = Allocation.objects.filter(distribution=distribution).aggregate(t=Sum("value"))["t"]
    rss_before = _rss_mb()
    load = os.getloadavg()

    before = _counts(distribution)
    plan, dry = step("plan", lambda: corrections.distribution_correction_plan(distribution=distribution))
    if _counts(distribution) != before:
        raise BenchFailure(f"the dry run wrote rows: {before} -> {_counts(distribution)}")

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    applied, apply = step(
        "apply",
        lambda: corrections.distribution_correct(
            distribution=distribution, apply=True, reason="bench: late January credits", actor="bench"
        ),
        profiler,
    )
    if profiler:
        import pstats

        with open(profile, "w") as out:
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(50)
    outer = ("plan", "adjustments", "commit")  # plan.scores and plan.split are within plan
    apply["phases_seconds"]["lines and correction rows"] = round(
        apply["wall_seconds"] - sum(apply["phases_seconds"].get(key, 0.0) for key in outer), 3
    )
    after_apply = _counts(distribution)

    again, again_figures = step(
        "again",
        lambda: corrections.distribution_correct(
            distribution=distribution, apply=True, reason="bench: nothing new", actor="bench"
        ),
    )
    after_again = _counts(distribution)

    # Correctness.
    correction = applied.correction
    if correction is None:
        raise BenchFailure("the apply wrote no correction although late credits were booked")
    adjustments = Obligation.objects.filter(adjusts_distribution=distribution, award_type=AwardType.ADJUSTMENT)
    adjustment_sum = adjustments.aggregate(t=Sum("value"))["t"] or 0
    lines = CorrectionLine.objects.filter(correction=correction)
    line_sum = lines.aggregate(t=Sum("difference"))["t"] or 0
    problems = []
    if allocations_total + adjustment_sum != correction.value:
        problems.append(f"Σ allocations {allocations_total} + Σ adjustments {adjustment_sum} != {correction.value}")
    if allocations_total + line_sum != correction.value or line_sum != correction.adjustment_total:
        problems.append(f"Σ line differences {line_sum}, adjustment_total {correction.adjustment_total}")
    if correction.value != POOL:
        problems.append(f"corrected value {correction.value} != pool {POOL}")
    if not (len(applied.lines) == lines.count() == adjustments.count()):
        problems.append(f"{len(applied.lines)} planned lines, {lines.count()} lines, {adjustments.count()} adjustments")
    if (plan.value, plan.adjustment_total, plan.lines) != (applied.value, applied.adjustment_total, applied.lines):
        problems.append("the dry run's plan differs from the applied one")
    if correction.late_credits != booked["late_rows"]:
        problems.append(f"late credits: {correction.late_credits} counted, {booked['late_rows']} booked")
    paid_missed = set(
        lines.filter(collaborator_id__in=booked["missed"], previous_value=0, corrected_value__gt=0).values_list(
            "collaborator_id", flat=True
        )
    )
    if paid_missed != set(booked["missed"]):
        problems.append(f"missed collaborators not paid: {sorted(set(booked['missed']) - paid_missed)}")
    if again.correction is not None or again.lines or after_again != after_apply:
        problems.append(f"the second apply wrote: {after_apply} -> {after_again} ({len(again.lines)} lines)")
    if problems:
        raise BenchFailure("correction: " + "; ".join(problems))

    def cpu(figures: dict, prefix: str) -> dict:
        return {
            f"{prefix}_seconds": figures["wall_seconds"],
            f"{prefix}_cpu_seconds": figures["cpu_seconds"],
            f"{prefix}_client_cpu_seconds": figures["client_cpu_seconds"],
            f"{prefix}_backend_cpu_seconds": figures["backend_cpu_seconds"],
            f"{prefix}_statements": figures["statements"],
            f"{prefix}_phases_seconds": figures["phases_seconds"],
        }

    return {
        **cpu(dry, "correction_plan"),
        "correction_plan_peak_rss_mb": dry["peak_rss_mb"],
        **cpu(apply, "correction_apply"),
        **cpu(again_figures, "correction_again"),
        "correction_peak_rss_mb": again_figures["peak_rss_mb"],
        "correction_rss_before_mb": rss_before,
        "correction_lines": lines.count(),
        "correction_adjustment_total": correction.adjustment_total,
        "correction_late_credits": correction.late_credits,
        "correction_late_collaborators": len(booked["late"]),
        "correction_missed_collaborators": len(booked["missed"]),
        "correction_scorers": correction.scorer_count,
        "correction_again_rows_written": sum(after_again.values()) - sum(after_apply.values()),
        "correction_adds_up": True,
        "correction_rows_written": {key: after_apply[key] - before[key] for key in before},
        "correction_measure_load_avg": [round(value, 2) for value in load],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collaborators", type=int, default=100_000)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server for a fresh database")
    parser.add_argument("--database-url", default=None, help="measure on this migrated, empty database instead")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile summary of the apply to FILE")
    args = parser.parse_args()
    if args.database_url:
        print(json.dumps(measure(args.collaborators, args.database_url, args.profile), indent=2))
        return 0
    from bench.run import fresh_database

    with fresh_database(args.pg, "corrections") as url:
        print(json.dumps(measure(args.collaborators, url, args.profile), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
