"""The heartbeat: everything one ``run_distributions`` does, as one service.

A run, as of an instant ``as_of`` (the real time, or ``--now``):

1. Opens the missing pending period of every active distributor in scope
   (``distribution_open_missing``), so an active distributor always has one.
2. Triggers the due distributions (pending, ``trigger_date <= as_of``, distributor ``active``) one at a
   time, oldest first, each in its own transaction under a row lock
   (``distribution_lock_next_due``). Triggering opens the next period; when that one is due too, the
   same loop picks it up, so a run after an outage catches up every missed period in order, each as its
   own distribution, rollover flowing from one to the next. Inactive distributors are left alone; their
   pending period waits and is caught up once they are reactivated.
3. Approves the held obligations whose holding period has passed (``obligations_release_held``: bounded
   batches, one statement each, ``SKIP LOCKED`` on PostgreSQL); ``released`` counts them (a dry run counts
   what it would release).
4. Records an :class:`~distributions.models.EngineRun` (start, end, as_of, counts, errors), and first marks
   the runs whose process is gone ``abandoned`` (``distributions.engine_runs``).

Safety: two runs at once never trigger one distribution twice (row lock + ``SKIP LOCKED`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite, and the write itself refuses a distribution that is no
longer pending). A run killed at any instant leaves every distribution either untouched or fully
triggered, so running again simply continues. A distribution whose trigger fails is rolled back,
recorded in the run's errors and not retried by that run; the others still run and the run's status
is ``failed`` (the command exits non-zero). Its distributor's later periods wait for the next run.

Counts (on the report, the engine run and in ``--json``): ``triggered``; ``opened``, every pending period
the run created (the next period of each trigger, plus the first period of an active distributor that
had none); ``skipped``, distributions still due when this run finished that it did not fail on (another
run held them, or opened them after this run's last look, and that run triggers them); ``errors``.

Dry run: the same steps against an in-memory queue instead of the database. Missing periods and the
periods a catch-up would open are simulated (``rolled_over`` from the previous plan's
``carried_forward``), in the same order as the real run, with the same ``distribution_plan`` the real
run writes; nothing is written, not even the engine run.
"""

from __future__ import annotations

import heapq
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from clock import iso_utc
from distributions import trigger
from distributions.engine_runs import engine_run_hold, engine_run_release, engine_runs_mark_abandoned
from distributions.models import Distribution, EngineRun, EngineRunStatus
from distributions.selectors import distribution_missing_period, distributions_due, distributors_without_pending
from distributions.services import distribution_open_missing
from distributions.trigger import DistributionPlan
from distributors.models import Distributor
from obligations.selectors import obligations_due_for_release
from obligations.services import obligations_release_held
from organizations.models import Organization

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called after each distribution with (done, total known so far)."""


@dataclass(frozen=True)
class OpenedPeriod:
    """A pending period the run opened (``distribution_id`` is None in a dry run)."""

    distribution_id: int | None
    distributor_id: int
    period_start: datetime
    trigger_date: datetime
    rolled_over: int

    @classmethod
    def of(cls, distribution: Distribution) -> OpenedPeriod:
        return cls(
            distribution.pk,
            distribution.distributor_id,
            distribution.period_start,
            distribution.trigger_date,
            distribution.rolled_over,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "distribution_id": self.distribution_id,
            "distributor_id": self.distributor_id,
            "period_start": iso_utc(self.period_start),
            "trigger_date": iso_utc(self.trigger_date),
            "rolled_over": self.rolled_over,
        }


@dataclass
class HeartbeatReport:
    as_of: datetime
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    engine_run: EngineRun | None = None
    plans: list[DistributionPlan] = field(default_factory=list)
    opened: list[OpenedPeriod] = field(default_factory=list)
    skipped_ids: list[int] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    abandoned_run_ids: list[int] = field(default_factory=list)
    released: int = 0  # held obligations approved (dry run: that would be)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "triggered": len(self.plans),
            "opened": len(self.opened),
            "skipped": len(self.skipped_ids),
            "errors": len(self.errors),
        }

    @property
    def status(self) -> str:
        return str(EngineRunStatus.FAILED if self.errors else EngineRunStatus.SUCCEEDED)

    @property
    def actor(self) -> str:
        """Who the status history says moved what this run moved: ``engine:run <id>`` (``engine`` without one)."""
        return f"engine:run {self.engine_run.pk}" if self.engine_run else "engine"

    def record_error(self, exc: BaseException, distribution: Any = None) -> None:
        self.errors.append(
            {
                "distribution_id": getattr(distribution, "pk", None),
                "distributor_id": getattr(distribution, "distributor_id", None),
                "trigger_date": iso_utc(getattr(distribution, "trigger_date", None)),
                "error": f"{type(exc).__name__}: {exc}",
            }
        )

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` summary (snake_case, like the models and the engine run)."""
        return {
            "dry_run": self.dry_run,
            "as_of": iso_utc(self.as_of),
            "engine_run_id": self.engine_run.pk if self.engine_run else None,
            "status": self.status,
            "started_at": iso_utc(self.started_at),
            "finished_at": iso_utc(self.finished_at),
            "counts": self.counts,
            "distributions": [plan.as_dict() for plan in self.plans],
            "opened": [period.as_dict() for period in self.opened],
            "skipped": self.skipped_ids,
            "errors": self.errors,
        }

    def summary_line(self) -> str:
        counts = self.counts
        seconds = ((self.finished_at or timezone.now()) - self.started_at).total_seconds()
        if self.dry_run:
            return (
                f"run_distributions --dry-run: would trigger {counts['triggered']}, open {counts['opened']}, "
                f"{counts['errors']} would fail, release {self.released} held obligation(s) "
                f"(as of {iso_utc(self.as_of)}); nothing was written."
            )
        abandoned = (
            f"; marked {len(self.abandoned_run_ids)} abandoned engine run(s) whose process is gone"
            if self.abandoned_run_ids
            else ""
        )
        return (
            f"run_distributions: triggered {counts['triggered']}, opened {counts['opened']}, "
            f"skipped {counts['skipped']}, failed {counts['errors']}, released {self.released} held obligation(s) "
            f"(as of {iso_utc(self.as_of)}, engine run {self.engine_run.pk if self.engine_run else '-'}, "
            f"{seconds:.1f} s){abandoned}."
        )


def heartbeat_run(
    *,
    as_of: datetime,
    organization: Organization | None = None,
    distributor: Distributor | None = None,
    dry_run: bool = False,
    options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> HeartbeatReport:
    """Run the heartbeat as of ``as_of`` (aware) for every organization, one, or one distributor.

    Returns the report; failures of single distributions are in ``report.errors``. An unexpected error
    outside any one distribution is recorded on the engine run and re-raised.
    """
    if timezone.is_naive(as_of):
        raise ValueError("as_of must be timezone-aware.")
    scope = {
        "organization_id": organization.pk if organization else None,
        "distributor_id": distributor.pk if distributor else None,
    }
    report = HeartbeatReport(as_of=as_of, dry_run=dry_run, started_at=timezone.now())
    if dry_run:
        _simulate(report, scope, progress)
        report.released = obligations_due_for_release(as_of=as_of, **scope).count()
        report.finished_at = timezone.now()
        return report

    report.engine_run = EngineRun.objects.create(
        started_at=report.started_at,
        as_of=as_of,
        options=options or {},
        host=socket.gethostname()[:200],
        pid=os.getpid(),
    )
    engine_run_hold(report.engine_run)
    report.abandoned_run_ids = engine_runs_mark_abandoned(exclude_id=report.engine_run.pk)
    try:
        _open_missing(report, scope)
        _trigger_due(report, scope, progress)
        report.released = obligations_release_held(as_of=as_of, actor=report.actor, **scope)
    except BaseException as exc:  # interrupted (Ctrl-C, SIGTERM as SystemExit) counts as failed too
        logger.exception("run_distributions: the run failed")
        report.record_error(exc)
        raise
    finally:
        _finish(report)
        engine_run_release(report.engine_run)
    return report


def _open_missing(report: HeartbeatReport, scope: dict[str, int | None]) -> None:
    for distributor in distributors_without_pending(**scope):
        opened = distribution_open_missing(distributor=distributor)
        if opened is not None:
            report.opened.append(OpenedPeriod.of(opened))


def _trigger_due(report: HeartbeatReport, scope: dict[str, int | None], progress: Progress | None) -> None:
    failed: list[int] = []
    busy: list[int] = []  # held by in-flight credits past TRIGGER_LOCK_WAIT_MS: left to the next run (skipped)
    total = distributions_due(as_of=report.as_of, **scope).count()
    done = 0
    while True:
        current: Distribution | None = None
        try:
            with transaction.atomic():
                current = trigger.distribution_lock_next_due(as_of=report.as_of, exclude_ids=[*failed, *busy], **scope)
                if current is None:
                    break
                outcome = trigger.distribution_trigger(distribution=current, actor=report.actor)
        except trigger.DistributorBusy as exc:
            logger.warning("run_distributions: %s", exc)
            busy.append(exc.distribution_id)
            continue
        except Exception as exc:
            if current is None:
                raise
            logger.exception("run_distributions: distribution %s failed", current.pk)
            failed.append(current.pk)
            report.record_error(exc, current)
        else:
            report.plans.append(outcome.plan)
            report.opened.append(OpenedPeriod.of(outcome.next_distribution))
            if outcome.next_distribution.trigger_date <= report.as_of:
                total += 1
        done += 1
        if progress:
            progress(done, max(total, done))
    report.skipped_ids = list(
        distributions_due(as_of=report.as_of, **scope).exclude(pk__in=failed).values_list("pk", flat=True)
    )


@dataclass(order=True)
class _VirtualPeriod:
    trigger_date: datetime
    distributor_id: int
    distributor: Distributor = field(compare=False)
    period_start: datetime = field(compare=False)
    rolled_over: int = field(compare=False)
    distribution_id: int | None = field(compare=False)

    @property
    def pk(self) -> int | None:
        return self.distribution_id


def _simulate(report: HeartbeatReport, scope: dict[str, int | None], progress: Progress | None) -> None:
    """The dry run: the real run's loop over an in-memory queue ordered like ``distributions_due``."""
    queue: list[_VirtualPeriod] = []
    for distributor in distributors_without_pending(**scope):
        period_start, trigger_date, rolled_over = distribution_missing_period(distributor=distributor)
        report.opened.append(OpenedPeriod(None, distributor.pk, period_start, trigger_date, rolled_over))
        if trigger_date <= report.as_of:
            queue.append(_VirtualPeriod(trigger_date, distributor.pk, distributor, period_start, rolled_over, None))
    for distribution in distributions_due(as_of=report.as_of, **scope).select_related("distributor__organization"):
        queue.append(
            _VirtualPeriod(
                distribution.trigger_date,
                distribution.distributor_id,
                distribution.distributor,
                distribution.period_start,
                distribution.rolled_over,
                distribution.pk,
            )
        )
    heapq.heapify(queue)
    done, total = 0, len(queue)
    while queue:
        period = heapq.heappop(queue)
        try:
            plan = trigger.distribution_plan(
                distributor=period.distributor,
                period_start=period.period_start,
                trigger_date=period.trigger_date,
                rolled_over=period.rolled_over,
                distribution_id=period.distribution_id,
            )
        except Exception as exc:
            report.record_error(exc, period)
        else:
            report.plans.append(plan)
            report.opened.append(
                OpenedPeriod(
                    None, plan.distributor_id, plan.trigger_date, plan.next_trigger_date, plan.next_rolled_over
                )
            )
            if plan.next_trigger_date <= report.as_of:
                total += 1
                heapq.heappush(
                    queue,
                    _VirtualPeriod(
                        plan.next_trigger_date,
                        plan.distributor_id,
                        period.distributor,
                        plan.trigger_date,
                        plan.next_rolled_over,
                        None,
                    ),
                )
        done += 1
        if progress:
            progress(done, total)


def _finish(report: HeartbeatReport) -> None:
    report.finished_at = timezone.now()
    engine_run = report.engine_run
    if engine_run is None:
        return
    counts = report.counts
    engine_run.finished_at = report.finished_at
    engine_run.status = report.status
    engine_run.triggered_count = counts["triggered"]
    engine_run.opened_count = counts["opened"]
    engine_run.skipped_count = counts["skipped"]
    engine_run.error_count = counts["errors"]
    engine_run.errors = report.errors
    engine_run.save(
        update_fields=[
            "finished_at",
            "status",
            "triggered_count",
            "opened_count",
            "skipped_count",
            "error_count",
            "errors",
        ]
    )
