"""``manage.py correct_distribution ID``: recompute a triggered period from the ledger and show, or write, the
difference per collaborator.

    manage.py correct_distribution 42                                   # dry run: the differences only
    manage.py correct_distribution 42 --apply --reason "late CRM sync"  # write the adjustment obligations
    manage.py correct_distribution 42 --apply --reason "…" --expect FP  # only if the lines are still those of
                                                                        # the dry run that printed FP

Thin: resolve the distribution (in ``--organization`` when given: another tenant's id is "no such"), call
``distributions.corrections.distribution_correct``, print the differences (at most ``--limit`` lines, then how
many more) and one summary line. A dry run writes nothing; ``--apply`` needs ``--reason``. See
``distributions.corrections`` for the rules.
"""

import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from distributions.corrections import distribution_correct
from distributions.models import Distribution
from distributors.units import format_amount
from organizations.management.base import OrganizationCommand, record_id


def command_actor() -> str:
    try:
        return f"command:correct_distribution ({getpass.getuser()})"
    except (KeyError, OSError):
        return "command:correct_distribution"


class Command(OrganizationCommand):
    help = "Recompute a triggered distribution from the ledger; show the differences, or write them with --apply."
    organization_required = False
    json_option = True

    def add_arguments(self, parser):
        parser.add_argument("distribution", metavar="ID", help="The triggered distribution to correct.")
        parser.add_argument("--apply", action="store_true", help="Write the adjustment obligations (default: dry run).")
        parser.add_argument("--reason", help="Why (required with --apply; kept on the correction and adjustments).")
        parser.add_argument("--limit", type=int, default=50, help="Differences printed at most (default 50).")
        parser.add_argument(
            "--expect",
            metavar="FINGERPRINT",
            help="With --apply: write only if the differences are still those of the dry run that printed this "
            "fingerprint (else nothing is written and the command fails).",
        )
        parser.add_argument(
            "--accept-uncertain",
            action="store_true",
            help="With --apply: the lines of collaborators the dry run could not tell apart (it names them) were "
            "checked and are right.",
        )

    def handle(self, *args, organization, **options):
        text = options["distribution"]
        pk = record_id(text)
        found = Distribution.objects.filter(pk=pk) if pk is not None else Distribution.objects.none()
        if organization is not None:
            found = found.filter(organization=organization)
        distribution = found.select_related("organization").first()
        if distribution is None:
            where = f" in organization '{organization.slug}'" if organization else ""
            raise CommandError(f"ID: no distribution '{text}'{where}.")
        if options["limit"] < 0:
            raise CommandError("--limit: give 0 or more.")
        if options["expect"] is not None and not options["apply"]:
            raise CommandError("--expect: only with --apply (a dry run writes nothing to check).")
        if options["accept_uncertain"] and not options["apply"]:
            raise CommandError("--accept-uncertain: only with --apply (a dry run writes nothing).")
        if options["apply"] and not (options["reason"] or "").strip():
            raise CommandError("--reason: required with --apply (why the period is corrected).")
        try:
            plan = distribution_correct(
                distribution=distribution,
                apply=options["apply"],
                reason=options["reason"] or "",
                actor=command_actor(),
                expect=options["expect"],
                accept_uncertain=options["accept_uncertain"],
            )
        except ValidationError as exc:
            field, messages = next(iter(getattr(exc, "message_dict", {"": exc.messages}).items()))
            option = {
                "reason": "--reason",
                "distribution": "ID",
                "expect": "--expect",
                "accept_uncertain": "--accept-uncertain",
            }.get(field, "")
            raise CommandError(f"{option}: {' '.join(messages)}" if option else " ".join(messages)) from None

        units = plan.units
        if self.json_output:
            self.write_json(
                {
                    "distributionId": distribution.pk,
                    "applied": plan.correction is not None,
                    "correctionId": plan.correction.pk if plan.correction else None,
                    "units": units,
                    "pool": plan.corrected_pool,
                    "value": plan.value,
                    "previousValue": plan.previous_value,
                    "adjustmentTotal": plan.adjustment_total,
                    "lateCredits": plan.late_credits,
                    "lateRevenueEntries": plan.late_revenue_entries,
                    "fingerprint": plan.fingerprint,
                    "uncertainEligibility": plan.uncertain_eligibility,
                    "undecided": plan.undecided,
                    "staffAdjustments": {"count": plan.staff_adjustments[0], "total": plan.staff_adjustments[1]},
                    "lines": [
                        {
                            "collaboratorId": line.collaborator_id,
                            "allocationId": line.allocation_id,
                            "score": line.score,
                            "previousValue": line.previous_value,
                            "correctedValue": line.corrected_value,
                            "difference": line.difference,
                            "status": line.status,
                        }
                        for line in plan.lines
                    ],
                }
            )
        else:
            shown = plan.lines[: options["limit"]]
            if shown:
                self.stdout.write(
                    f"{'collaborator':>12}  {'score':>10}  {'was':>16}  {'corrected':>16}  {'difference':>16}  "
                    "adjustment"
                )
            for line in shown:
                self.stdout.write(
                    f"{line.collaborator_id:>12}  {line.score:>10}  {format_amount(line.previous_value, units):>16}  "
                    f"{format_amount(line.corrected_value, units):>16}  {format_amount(line.difference, units):>16}  "
                    f"{line.status}"
                )
            if len(plan.lines) > len(shown):
                self.stdout.write(f"… and {len(plan.lines) - len(shown)} more (--limit, or --json for all)")
        late = f"{plan.late_credits} credit(s) booked late"
        if plan.late_revenue_entries:
            late += f", {plan.late_revenue_entries} revenue entr{'y' if plan.late_revenue_entries == 1 else 'ies'}"
        head = (
            f"Distribution {distribution.pk}: corrected pool {format_amount(plan.corrected_pool, units)}, "
            f"owed {format_amount(plan.previous_value, units)} → {format_amount(plan.value, units)} ({late}); "
            f"{len(plan.lines)} collaborator(s) differ by {format_amount(plan.adjustment_total, units)} in all"
        )
        if plan.pending_count:
            head += f" ({plan.pending_count} pending: a payment of theirs in the period is not approved)"
        if plan.staff_adjustments[0]:
            count, total = plan.staff_adjustments
            head += (
                f"; staff adjusted the period {count} time(s) by hand, {format_amount(total, units)} in all, which "
                "a correction neither counts nor undoes"
            )
        if plan.uncertain_eligibility:
            head += (
                f"; {plan.uncertain_eligibility} collaborator(s) who scored in time cannot be told from those the "
                f"trigger counted without paying: those active and eligible now are counted ({plan.undecided_text}; "
                "check them, then --accept-uncertain)"
            )
        if plan.correction is not None:
            self.write_summary(f"{head}; correction {plan.correction.pk} wrote {len(plan.lines)} adjustment(s).")
        elif options["apply"]:
            self.write_summary(f"{head}; nothing to write.")
        elif not plan.lines:
            self.write_summary(f"{head}; nothing to correct.")
        else:
            self.write_summary(
                f"{head}; dry run, nothing written (--apply --reason to write; --expect {plan.fingerprint} to "
                "write only these)."
            )
