"""``manage.py run_distributions``: the engine's heartbeat, safe to run from cron every minute on many machines.

Thin, as commands should be: parse the options, resolve the scope, call
``distributions.heartbeat.heartbeat_run``, print. See that module for what a run does.

Output: one summary line (stdout; stderr with ``--json`` so stdout stays one JSON document), the plan of
every distribution with ``--dry-run`` (or ``-v 2``), a progress bar on stderr only when it is a
terminal, and a non-zero exit when any distribution failed (each failure is one stderr line and is kept
on the engine run). ``--now`` must carry a UTC offset: a naive instant would be read in some time zone
nobody chose, so it is refused, like an unparsable one, with one line and exit status 1.
"""

import json
import sys
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from distributions.heartbeat import HeartbeatReport, heartbeat_run
from distributions.trigger import DistributionPlan
from distributors.models import Distributor
from organizations.management.cli import organization_by_slug


def parse_now(value: str | datetime) -> datetime:
    """``--now``: an ISO 8601 date-time with a UTC offset (``Z`` accepted); anything else is a CommandError."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise CommandError(
                f"--now {value!r} is not an ISO 8601 date-time; use e.g. 2026-04-01T00:00:00Z."
            ) from None
    if timezone.is_naive(moment):
        raise CommandError(
            f"--now {value!s} has no UTC offset; add one, e.g. 2026-04-01T00:00:00Z or 2026-04-01T00:00:00+02:00."
        )
    try:
        moment.astimezone(UTC)  # what the database stores; 0001-01-01T00:00+14:00 is before year 1 in UTC
    except OverflowError:
        raise CommandError(f"--now {value!s} is out of range (years 1 to 9999 in UTC).") from None
    if moment > timezone.now():
        # Closing a period early would leave the credits still to come in it counted nowhere.
        raise CommandError(f"--now {value!s} is in the future; the engine only processes instants that have passed.")
    return moment


class Command(BaseCommand):
    help = (
        "Trigger every due distribution (oldest first, catching up missed periods), open the next periods "
        "and record an engine run. Safe to run from cron every minute on any number of machines."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            metavar="ISO-DATETIME",
            help="Process as if it were this instant (with a UTC offset, e.g. 2026-04-01T00:00:00Z): backfills, tests.",
        )
        parser.add_argument("--organization", metavar="SLUG", help="Only this organization's distributors.")
        parser.add_argument("--distributor", metavar="ID", help="Only this distributor.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print what would be triggered (each distribution, its pool, every share) and write nothing.",
        )
        parser.add_argument("--json", action="store_true", help="Print a machine-readable summary on stdout.")

    def handle(self, *args, **options):
        as_of = parse_now(options["now"]) if options["now"] else timezone.now()
        organization = organization_by_slug(options["organization"]) if options["organization"] else None
        distributor = self._distributor(options["distributor"], organization)
        bar = _ProgressBar()
        try:
            report = heartbeat_run(
                as_of=as_of,
                organization=organization,
                distributor=distributor,
                dry_run=options["dry_run"],
                options={
                    "now": as_of.isoformat() if options["now"] else None,
                    "organization": options["organization"],
                    "distributor": distributor.pk if distributor else None,
                    "json": options["json"],
                },
                progress=bar.update,
            )
        finally:
            bar.close()
        self._output(report, json_output=options["json"], show_plans=options["dry_run"] or options["verbosity"] > 1)
        if report.errors:
            for error in report.errors:
                self.stderr.write(
                    f"distribution {error['distribution_id']} (distributor {error['distributor_id']}, "
                    f"trigger date {error['trigger_date']}) failed: {error['error']}"
                )
            raise CommandError(report.summary_line())

    def _distributor(self, value: str | int | None, organization) -> Distributor | None:
        if value is None:
            return None
        try:
            distributor_id = int(value)
        except (TypeError, ValueError):
            raise CommandError(f"--distributor must be a distributor id (a whole number), got {value!r}.") from None
        distributors = Distributor.objects.select_related("organization")
        if organization is not None:
            distributors = distributors.filter(organization=organization)
        distributor = distributors.filter(pk=distributor_id).first()
        if distributor is None:
            where = f" in organization '{organization.slug}'" if organization else ""
            raise CommandError(f"No distributor {distributor_id}{where}.")
        return distributor

    def _output(self, report: HeartbeatReport, *, json_output: bool, show_plans: bool) -> None:
        if json_output:
            self.stdout.write(json.dumps(report.as_dict()))
        elif show_plans:
            for plan in report.plans:
                self._write_plan(plan)
            for period in report.opened:
                label = period.distribution_id if period.distribution_id is not None else "(new)"
                self.stdout.write(
                    f"opens distribution {label} of distributor {period.distributor_id}: "
                    f"({period.period_start.isoformat()}, {period.trigger_date.isoformat()}], "
                    f"rolled over {period.rolled_over}"
                )
        if not report.errors:
            (self.stderr if json_output else self.stdout).write(report.summary_line())

    def _write_plan(self, plan: DistributionPlan) -> None:
        label = plan.distribution_id if plan.distribution_id is not None else "(new)"
        out = self.stdout.write
        out(
            f"distribution {label} · distributor {plan.distributor_id} '{plan.distributor_name}' "
            f"({plan.organization_slug}) · period ({plan.period_start.isoformat()}, {plan.trigger_date.isoformat()}]"
            f" · {plan.resolver}"
        )
        out(
            f"  pool {plan.pool} {plan.units} (period {plan.period_pool} + rolled over {plan.rolled_over}) -> "
            f"value {plan.value}, unallocated {plan.unallocated}, carried forward {plan.carried_forward}; "
            f"status {plan.status}, {len(plan.shares)} obligation(s) {plan.obligation_status}"
        )
        if plan.shares:
            out(f"  {'rank':>6} {'collaborator':>12} {'score':>12} {'share':>14}")
            for share in plan.shares:
                out(f"  {share.rank:>6} {share.collaborator_id:>12} {share.score:>12} {share.value:>14}")
        out(f"  next period ends {plan.next_trigger_date.isoformat()}, rolled over {plan.next_rolled_over}")


class _ProgressBar:
    """A tqdm bar on stderr, created only when stderr is a terminal (cron logs stay clean)."""

    def __init__(self):
        self._bar = None
        self._enabled = sys.stderr.isatty()

    def update(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc="distributions", unit="dist", file=sys.stderr, leave=False)
        self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
