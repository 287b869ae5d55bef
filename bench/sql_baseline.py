"""Hand-written SQL baseline of one distribution trigger, and the checksums that prove it equals the engine.

Used by ``bench/run.py`` (not a product module). ``trigger_with_sql`` does, with plain psycopg, what
``run_distributions`` does for one pending distribution of a ``fixed`` / ``performanceSharedPool`` /
``allActive`` / ``monthly`` distributor (the shape ``bench/engine.py`` builds), in ONE transaction of three
statements:

1. lock the distribution and its distributor (``FOR UPDATE``, as the engine does) and read its distributor's settings;
2. the transaction-local settings the engine uses (``POSTGRESQL_TRIGGER_SETTINGS``: work_mem, jit);
3. one statement of data-modifying CTEs: scores per collaborator (``SUM(points)``, ``MIN(credited_at)``) over
   the credits in (period_start, trigger_date] of active collaborators of the organization; floor shares
   ``div(pool * score, total)`` and remainders ``mod(...)`` in ``numeric`` (``pool * score`` can exceed
   bigint); the leftover units go to ``ROW_NUMBER() OVER (remainder DESC, score DESC, first credit,
   collaborator id) <= leftover``; competition rank by score; the trace the engine records (numerator = score,
   rounding unit, and the tie-break code: what separates each member of the group of equal remainders the
   last unit fell in from its nearest rival across the cut, or simply the remainder); ``INSERT`` obligations
   (in tie-break order, as the engine does) ``RETURNING`` their ids into the ``INSERT`` of allocations;
   ``UPDATE`` the distribution's figures, trace and status; ``INSERT`` the next pending period (monthly: next
   local first of month);

then ``COMMIT`` (which runs the deferred foreign-key checks, as the engine's commit does). The time is
measured from ``BEGIN`` to the end of ``COMMIT`` on an open connection.

``share_checksum`` summarises what a trigger wrote (every allocation/obligation column but ids and
timestamps, the trace included, insertion order, the distribution's figures and trace, the next period, and the
outbox events: per type, their count and payloads without ids and instants) so two triggers can be compared.
The baseline writes the same events as the engine (``obligation.created`` and ``allocation.created`` per share,
``distribution.triggered``) in the same statement, built from the shares and the ``RETURNING`` of the
allocations rather than read back.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from clock import iso_utc

DEFAULT_TRIGGER_SETTINGS = {"work_mem": "64MB", "jit": "off"}

_LOCK = """
SELECT t.organization_id, t.distributor_id, t.period_start, t.trigger_date, t.rolled_over,
       d.pool_resolver, d.distribution_resolver, d.eligibility, d.schedule, d.status, d.tie_policy,
       d.pool_amount + t.rolled_over AS pool, d.units, d.obligation_start_status, d.rollover_unearned,
       left('Distribution ' || t.id || ': ' || d.name || ', period ending '
            || to_char(t.trigger_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
            || CASE WHEN extract(microseconds FROM t.trigger_date)::bigint %% 1000000 = 0 THEN ''
                    ELSE '.' || to_char(t.trigger_date AT TIME ZONE 'UTC', 'US') END
            || 'Z', 300) AS description,
       ((t.trigger_date AT TIME ZONE o.timezone) + INTERVAL '1 month') AT TIME ZONE o.timezone AS next_trigger,
       pg_get_serial_sequence('obligations_obligation', 'id') AS sequence, t.created_at
FROM distributions_distribution t
JOIN distributors_distributor d ON d.id = t.distributor_id
JOIN organizations_organization o ON o.id = t.organization_id
WHERE t.id = %(distribution)s AND t.status = 'pending'
FOR UPDATE OF t, d
"""

_TRIGGER = """
WITH scored AS (  -- aggregate the period's credits first (one row per collaborator), then join the few rows
    SELECT p.collaborator_id, p.score, p.first_at
    FROM (
        SELECT collaborator_id, SUM(points)::bigint AS score, MIN(credited_at) AS first_at
        FROM metrics_metriccredit
        WHERE distributor_id = %(distributor)s
          AND credited_at > %(period_start)s AND credited_at <= %(trigger_date)s
        GROUP BY collaborator_id
    ) AS p
    JOIN collaborators_collaborator k ON k.id = p.collaborator_id
    WHERE k.status = 'active' AND k.organization_id = %(organization)s AND p.score > 0
), totals AS (  -- bigint arithmetic when pool x total fits (then every pool x score does), numeric otherwise
    SELECT count(*) AS scorers, SUM(score) AS total,
           SUM(score) <= 9223372036854775807 / GREATEST(%(pool)s::bigint, 1) AS fits
    FROM scored
), exact AS (
    SELECT s.collaborator_id, s.score, s.first_at,
           CASE WHEN t.fits THEN %(pool)s::bigint * s.score / t.total::bigint
                ELSE div(%(pool)s::numeric * s.score, t.total)::bigint END AS floor_value,
           CASE WHEN t.fits THEN %(pool)s::bigint * s.score %% t.total::bigint
                ELSE mod(%(pool)s::numeric * s.score, t.total)::bigint END AS remainder
    FROM scored s CROSS JOIN totals t
), ranked AS (  -- the sort that hands out the leftover units: largest remainder, then tie-break order
    SELECT collaborator_id, score, first_at, floor_value, remainder,
           ROW_NUMBER() OVER (ORDER BY remainder DESC, score DESC, first_at, collaborator_id) AS rn,
           %(pool)s - SUM(floor_value) OVER () AS leftover
    FROM exact
), edge AS (  -- the last collaborator to get a unit and the first not to
    SELECT max(remainder) FILTER (WHERE rn = leftover) AS cutoff,
           max(remainder) FILTER (WHERE rn = leftover + 1) AS next_remainder,
           max(score) FILTER (WHERE rn = leftover) AS winner_score,
           max(first_at) FILTER (WHERE rn = leftover) AS winner_first,
           max(score) FILTER (WHERE rn = leftover + 1) AS loser_score,
           max(first_at) FILTER (WHERE rn = leftover + 1) AS loser_first
    FROM ranked
), share AS (  -- the one sort of what is written: tie-break order (rank rides on it); obligation ids in it
    SELECT collaborator_id, score, rank, value, rounding_unit, tie_break,
           nextval(%(sequence)s::regclass) AS obligation_id
    FROM (
        SELECT r.collaborator_id, r.score, r.first_at,
               RANK() OVER (ORDER BY r.score DESC) AS rank,
               ROW_NUMBER() OVER (ORDER BY r.score DESC, r.first_at, r.collaborator_id) AS position,
               r.floor_value + CASE WHEN r.rn <= r.leftover THEN 1 ELSE 0 END AS value,
               r.rn <= r.leftover AS rounding_unit,
               (CASE WHEN r.remainder = 0 THEN 0
                     WHEN e.next_remainder IS DISTINCT FROM e.cutoff OR r.remainder <> e.cutoff THEN 1
                     WHEN r.rn <= r.leftover THEN  -- won the unit inside the tied group: against the first loser
                          CASE WHEN r.score <> e.loser_score THEN 2 WHEN r.first_at <> e.loser_first THEN 3 ELSE 4 END
                     ELSE CASE WHEN e.winner_score <> r.score THEN 2 WHEN e.winner_first <> r.first_at THEN 3
                               ELSE 4 END
                END)::smallint AS tie_break
        FROM ranked r CROSS JOIN edge e
    ) AS ordered
    WHERE value > 0
    ORDER BY position
), obligation AS (  -- ids taken in tie-break order above: no join back from RETURNING
    INSERT INTO obligations_obligation (id, organization_id, collaborator_id, value, units, status, award_type,
                                        description, created_at, modified_at, reason)
    SELECT obligation_id, %(organization)s, collaborator_id, value, %(units)s, %(status)s, 'distribution',
           %(description)s, now(), now(), ''
    FROM share ORDER BY obligation_id
), clock AS (  -- the write instant as the API formats it (clock.iso_utc), once
    SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
           || CASE WHEN date_part('microseconds', now() AT TIME ZONE 'UTC')::bigint %% 1000000 = 0 THEN ''
                   ELSE to_char(now() AT TIME ZONE 'UTC', '.US') END || 'Z' AS iso
), obligation_event AS (  -- the outbox rows the engine writes too (events.Event): built from the shares, no re-read
    INSERT INTO events_event (organization_id, type, occurred_at, object_key, payload, dispatched)
    SELECT %(organization)s, 'obligation.created', now(), 'obligation:' || s.obligation_id,
           jsonb_build_object('id', s.obligation_id, 'collaboratorId', s.collaborator_id, 'value', s.value,
                              'units', %(units)s::text, 'status', %(status)s::text, 'awardType', 'distribution',
                              'dateCreated', c.iso, 'dateModified', c.iso), false
    FROM share s CROSS JOIN clock c ORDER BY s.obligation_id
), allocation AS (
    INSERT INTO distributions_allocation (organization_id, distribution_id, obligation_id, collaborator_id,
                                          value, score, rank, share_numerator, rounding_unit, tie_break)
    SELECT %(organization)s, %(distribution)s, obligation_id, collaborator_id, value, score, rank,
           score, rounding_unit, tie_break
    FROM share ORDER BY obligation_id
    RETURNING id, obligation_id, collaborator_id, value, score, rank
), allocation_event AS (
    INSERT INTO events_event (organization_id, type, occurred_at, object_key, payload, dispatched)
    SELECT %(organization)s, 'allocation.created', now(), 'allocation:' || a.id,
           jsonb_build_object('id', a.id, 'distributionId', %(distribution)s::bigint, 'obligationId', a.obligation_id,
                              'collaboratorId', a.collaborator_id, 'status', %(status)s::text, 'value', a.value,
                              'score', a.score, 'rank', a.rank), false
    FROM allocation a ORDER BY a.id
), written AS (
    SELECT count(*) AS n, COALESCE(SUM(value), 0)::bigint AS value FROM allocation
), closed AS (
    UPDATE distributions_distribution d
    SET status = CASE WHEN w.n > 0 THEN 'processing' ELSE 'complete' END,
        pool = %(pool)s, value = w.value,
        unallocated = CASE WHEN %(rollover)s THEN 0 ELSE %(pool)s - w.value END,
        carried_forward = CASE WHEN %(rollover)s THEN %(pool)s - w.value ELSE 0 END,
        triggered_at = now(), modified_at = now(),
        pool_resolver = 'fixed', period_pool = %(pool)s - d.rolled_over, pool_percent_bp = NULL,
        revenue_entries = NULL, revenue_total = NULL, distribution_resolver = 'performanceSharedPool',
        tie_policy = %(tie_policy)s, top_n_weights = NULL, scorer_count = t.scorers,
        share_denominator = CASE WHEN t.total > 0 AND t.total <= 9223372036854775807 THEN t.total::bigint END
    FROM written w CROSS JOIN totals t
    WHERE d.id = %(distribution)s AND d.status = 'pending'
    RETURNING d.id, d.status, d.created_at, d.carried_forward, w.n, w.value
), triggered_event AS (
    INSERT INTO events_event (organization_id, type, occurred_at, object_key, payload, dispatched)
    SELECT %(organization)s, 'distribution.triggered', now(), 'distribution:' || d.id,
           jsonb_build_object('id', d.id, 'distributorId', %(distributor)s::bigint, 'status', d.status,
                              'value', d.value, 'triggerDate', %(trigger_date_iso)s::text,
                              'dateCreated', %(created_iso)s::text,
                              'dateModified', c.iso), false
    FROM closed d CROSS JOIN clock c
), distributed AS (
    UPDATE distributors_distributor SET distributed_through = %(trigger_date)s, open_until = %(next_trigger)s
    WHERE id = %(distributor)s AND (distributed_through IS NULL OR distributed_through < %(trigger_date)s)
)
INSERT INTO distributions_distribution (organization_id, distributor_id, status, period_start, trigger_date,
                                        rolled_over, value, unallocated, carried_forward, created_at, modified_at)
SELECT %(organization)s, %(distributor)s, 'pending', %(trigger_date)s, %(next_trigger)s, closed.carried_forward,
       0, 0, 0, now(), now()
FROM closed
RETURNING (SELECT n FROM closed), (SELECT value FROM closed)
"""


def trigger_with_sql(conninfo: str, distribution_id: int, settings: dict[str, str] | None = None) -> dict[str, Any]:
    """Trigger ``distribution_id`` with the hand-written SQL; return seconds, rows written and value."""
    settings = settings or DEFAULT_TRIGGER_SETTINGS
    from bench.cpu import CpuMeter

    with psycopg.connect(conninfo) as conn:
        conn.execute("SELECT 1").fetchone()  # connected and warm before the clock starts
        conn.rollback()
        cpu = CpuMeter(conn.info.backend_pid).start()
        started = time.perf_counter()
        with conn.transaction():
            row = conn.execute(_LOCK, {"distribution": distribution_id}).fetchone()
            if row is None:
                raise RuntimeError(f"distribution {distribution_id} is not pending")
            (organization, distributor, period_start, trigger_date, _rolled, pool_resolver, resolver, eligibility,
             schedule, status, tie_policy, pool, units, obligation_status, rollover, description,
             next_trigger, sequence, created_at) = row  # fmt: skip
            shape = (pool_resolver, resolver, eligibility, schedule, status)
            if shape != ("fixed", "performanceSharedPool", "allActive", "monthly", "active"):
                raise RuntimeError(f"the SQL baseline only covers the benchmark's distributor shape, not {shape}")
            conn.execute(
                "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(settings)),
                [item for pair in settings.items() for item in pair],
            )
            locked = time.perf_counter()
            written = conn.execute(
                _TRIGGER,
                {
                    "distribution": distribution_id,
                    "organization": organization,
                    "distributor": distributor,
                    "period_start": period_start,
                    "trigger_date": trigger_date,
                    "pool": pool,
                    "units": units,
                    "status": obligation_status,
                    "description": description,
                    "rollover": rollover,
                    "tie_policy": tie_policy,
                    "next_trigger": next_trigger,
                    "sequence": sequence,  # a constant regclass: nextval without a catalog lookup per row
                    "trigger_date_iso": iso_utc(trigger_date),
                    "created_iso": iso_utc(created_at),
                },
            ).fetchone()
            executed = time.perf_counter()
        seconds = time.perf_counter() - started
        cpu_figures = cpu.stop()
    if written is None:
        raise RuntimeError(f"the SQL baseline wrote nothing for distribution {distribution_id}")
    phases = {
        "lock and read": round(locked - started, 3),
        "scores, split and write (one statement)": round(executed - locked, 3),
        "commit (deferred foreign-key checks)": round(seconds - (executed - started), 3),
    }
    return {
        "seconds": seconds,
        "client_cpu_seconds": cpu_figures["client_cpu_seconds"],
        "backend_cpu_seconds": cpu_figures["backend_cpu_seconds"],
        "parallel_worker_cpu_seconds": cpu_figures["parallel_worker_cpu_seconds"],
        "cpu_seconds": cpu_figures["cpu_seconds"],
        "statements": 3,
        "phases_seconds": phases,
        "allocations": written[0],
        "value": written[1],
        "pool": pool,
    }


_CHECKSUM = """
SELECT count(*), COALESCE(SUM(a.value), 0)::bigint,
       md5(COALESCE(string_agg(concat_ws(',', a.collaborator_id, a.value, a.score, a.rank,
                                         a.share_numerator, a.rounding_unit, a.tie_break,
                                         a.organization_id, o.collaborator_id, o.organization_id, o.value,
                                         o.units, o.status, o.award_type, o.description, o.payout_id),
                               ';' ORDER BY a.collaborator_id), '')),
       md5(COALESCE(string_agg(o.collaborator_id::text, ',' ORDER BY o.id), '')),
       md5(COALESCE(string_agg(a.collaborator_id::text, ',' ORDER BY a.id), ''))
FROM distributions_allocation a JOIN obligations_obligation o ON o.id = a.obligation_id
WHERE a.distribution_id = %(distribution)s
"""

_DISTRIBUTIONS = """
SELECT status, pool, value, unallocated, carried_forward, rolled_over, period_start, trigger_date,
       pool_resolver, period_pool, pool_percent_bp, revenue_entries, revenue_total, distribution_resolver,
       tie_policy, top_n_weights, scorer_count, share_denominator
FROM distributions_distribution WHERE distributor_id = %(distributor)s ORDER BY trigger_date
"""


def share_checksum(conninfo: str, distribution_id: int) -> dict[str, Any]:
    """What the trigger of ``distribution_id`` wrote, summarised for comparison (ids and timestamps excluded)."""
    with psycopg.connect(conninfo) as conn:
        count, total, rows_md5, obligation_order_md5, allocation_order_md5 = conn.execute(
            _CHECKSUM, {"distribution": distribution_id}
        ).fetchone()
        (distributor,) = conn.execute(
            "SELECT distributor_id FROM distributions_distribution WHERE id = %s", [distribution_id]
        ).fetchone()
        periods = [[str(value) for value in row] for row in conn.execute(_DISTRIBUTIONS, {"distributor": distributor})]
        (obligations,) = conn.execute(
            "SELECT count(*) FROM obligations_obligation WHERE award_type = 'distribution'"
        ).fetchone()
        events = [[str(value) for value in row] for row in conn.execute(_EVENTS_CHECKSUM)]
    return {
        "events": events,
        "allocations": count,
        "obligations": obligations,
        "total": total,
        "rows_md5": rows_md5,
        "obligation_order_md5": obligation_order_md5,
        "allocation_order_md5": allocation_order_md5,
        "distributions": periods,
    }


# The outbox rows of the trigger, per type: count and payloads without ids and instants, in collaborator order.
_EVENTS_CHECKSUM = """
SELECT type, count(*),
       md5(string_agg((payload - 'id' - 'obligationId' - 'dateCreated' - 'dateModified')::text, ','
                      ORDER BY (payload->>'collaboratorId')::bigint NULLS FIRST, payload::text))
FROM events_event GROUP BY type ORDER BY type
"""

TRACED = "value, score, rank, share_numerator, rounding_unit, tie_break"


def keep_shares(conninfo: str, distribution_id: int, table: str = "bench_engine_shares") -> None:
    """Copy the engine's shares aside (outside any timing) so a mismatch can be shown row by row."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(
            f"CREATE TABLE {table} AS SELECT collaborator_id, {TRACED} FROM distributions_allocation "
            "WHERE distribution_id = %s",
            [distribution_id],
        )


def share_differences(
    conninfo: str, distribution_id: int, table: str = "bench_engine_shares", limit: int = 10
) -> list[tuple]:
    """Up to ``limit`` collaborators whose (value, score, rank, trace) differ between ``table`` and the current
    shares: the collaborator, then the engine's columns, then the current ones."""
    engine = ", ".join(f"e.{name}" for name in TRACED.split(", "))
    current = ", ".join(f"s.{name}" for name in TRACED.split(", "))
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            f"""
            SELECT collaborator_id, {engine}, {current}
            FROM {table} e
            FULL JOIN (SELECT collaborator_id, {TRACED} FROM distributions_allocation
                       WHERE distribution_id = %s) s USING (collaborator_id)
            WHERE ({engine}) IS DISTINCT FROM ({current})
            ORDER BY collaborator_id LIMIT %s
            """,
            [distribution_id, limit],
        ).fetchall()
