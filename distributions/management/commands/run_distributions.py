"""``manage.py run_distributions``: the engine's heartbeat, safe to run from cron every minute on many machines.

Thin, as commands should be: the command base parses the options and resolves the scope
(``--organization``, ``--distributor``, ``--now``); this calls ``distributions.heartbeat.heartbeat_run``
and prints. See that module for what a run does.

Output: one summary line (stdout; stderr with ``--json`` so stdout stays one JSON document), the plan of
every distribution with ``--dry-run`` (or ``-v 2``), a progress bar on stderr only when it is a
terminal, and exit status 1 when any distribution failed (each failure is one stderr line and is kept
on the engine run). ``--now`` must carry a UTC offset: a naive instant would be read in some time zone
nobody chose, so it is refused, like an unparsable or a future one, with one line and exit status 1.

``--dry-run --open`` adds the open periods that are not due yet (each active distributor's pending period,
or the one the dry run would open), planned as if triggered now: their standings, by the same
``distribution_plan`` as a trigger (``distributions.standings.open_period_plans``). A future ``--now`` stays
refused: the preview is of now, never of a later instant whose credits do not exist yet. In ``--json`` they are
``open_periods``.
"""

from django.core.management.base import CommandError
from django.utils import timezone

from clock import InstantError, iso_utc, parse_instant
from distributions.explain import Calculation
from distributions.heartbeat import HeartbeatReport, heartbeat_run
from distributions.standings import open_period_plans
from distributions.trigger import DistributionPlan
from distributors.management.base import DistributorCommand
from distributors.units import format_amount
from organizations.management.base import progress_callback


class Command(DistributorCommand):
    help = (
        "Trigger every due distribution (oldest first, catching up missed periods), open the next periods "
        "and record an engine run. Safe to run from cron every minute on any number of machines."
    )
    organization_required = False
    json_option = True

    def add_arguments(self, parser):
        self.add_instant_argument(
            parser,
            "--now",
            help="Process as if it were this instant (with a UTC offset, e.g. 2026-04-01T00:00:00Z): backfills, tests.",
            # Closing a period early would leave the credits still to come in it counted nowhere.
            future_reason="the engine only processes instants that have passed",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print what would be triggered (each distribution, its pool, every share) and write nothing.",
        )
        parser.add_argument(
            "--open",
            action="store_true",
            help="With --dry-run: also show the open periods not yet due as if they were triggered now "
            "(their standings so far).",
        )

    def handle(self, *args, organization, distributor, now, **options):
        if options["open"] and not options["dry_run"]:
            raise CommandError("--open needs --dry-run: it previews the open periods and writes nothing.")
        as_of = now or timezone.now()
        with progress_callback(desc="distributions", unit="dist") as report_progress:
            report = heartbeat_run(
                as_of=as_of,
                organization=organization,
                distributor=distributor,
                dry_run=options["dry_run"],
                options={
                    "now": iso_utc(as_of) if now else None,
                    "organization": organization.slug if organization else None,
                    "distributor": distributor.pk if distributor else None,
                    "json": self.json_output,
                },
                progress=report_progress,
            )
        open_plans = None
        if options["open"]:
            open_plans = open_period_plans(
                as_of=as_of,
                simulated=report.opened,
                organization_id=organization.pk if organization else None,
                distributor_id=distributor.pk if distributor else None,
            )
        self._output(report, show_plans=options["dry_run"] or options["verbosity"] > 1, open_plans=open_plans)
        if report.errors:
            for error in report.errors:
                self.stderr.write(
                    f"distribution {error['distribution_id']} (distributor {error['distributor_id']}, "
                    f"trigger date {_as_utc(error['trigger_date'])}) failed: {error['error']}"
                )
            self.exit_failed(report.summary_line())

    def _output(
        self, report: HeartbeatReport, *, show_plans: bool, open_plans: list[DistributionPlan] | None = None
    ) -> None:
        if self.json_output:
            summary = report.as_dict()
            if open_plans is not None:
                summary["open_periods"] = [plan.as_dict() for plan in open_plans]
            self.write_json(summary)
        elif show_plans:
            for plan in report.plans:
                self._write_plan(plan)
            for period in report.opened:
                label = period.distribution_id if period.distribution_id is not None else "(new)"
                self.stdout.write(
                    f"opens distribution {label} of distributor {period.distributor_id}: "
                    f"({iso_utc(period.period_start)}, {iso_utc(period.trigger_date)}], "
                    f"rolled over {period.rolled_over}"
                )
            for plan in open_plans or ():
                self.stdout.write(
                    f"open period, not due until {iso_utc(plan.trigger_date)}: as if triggered now "
                    f"({iso_utc(report.as_of)})"
                )
                self._write_plan(plan)
        if not report.errors:
            summary = report.summary_line()
            if open_plans is not None:
                summary = f"{summary} Previewed {len(open_plans)} open period(s) as of now."
            self.write_summary(summary)

    def _write_plan(self, plan: DistributionPlan) -> None:
        label = plan.distribution_id if plan.distribution_id is not None else "(new)"
        out = self.stdout.write
        out(
            f"distribution {label} · distributor {plan.distributor_id} '{plan.distributor_name}' "
            f"({plan.organization_slug}) · period ({iso_utc(plan.period_start)}, {iso_utc(plan.trigger_date)}]"
            f" · {plan.resolver}"
        )

        def money(amount: int) -> str:  # the admin's formatter: "1,170.88 USD"
            return format_amount(amount, plan.units)

        out(
            f"  pool {money(plan.pool)} (period {money(plan.period_pool)} + rolled over {money(plan.rolled_over)}) -> "
            f"value {money(plan.value)}, unallocated {money(plan.unallocated)}, "
            f"carried forward {money(plan.carried_forward)}; "
            f"status {plan.status}, {len(plan.shares)} obligation(s) {plan.obligation_status}"
        )
        calculation = Calculation.of_plan(plan)
        out(f"  pool: {calculation.pool_text()}")
        out(f"  rule: {calculation.rule_text()}; tie policy {calculation.tie_policy_text()}")
        if plan.shares:
            out(f"  {'rank':>6} {'collaborator':>12} {'score':>12} {'share':>22}")
            for share in plan.shares:
                out(f"  {share.rank:>6} {share.collaborator_id:>12} {share.score:>12} {money(share.value):>22}")
        out(f"  next period ends {iso_utc(plan.next_trigger_date)}, rolled over {money(plan.next_rolled_over)}")


def _as_utc(recorded: str | None) -> str | None:
    """An instant the engine run recorded as ISO text, printed like every other instant (``Z``)."""
    try:
        return iso_utc(parse_instant(recorded)) if recorded else recorded
    except InstantError:
        return recorded
