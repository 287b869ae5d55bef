"""``manage.py status_history MODEL ID``: the status timeline of one object, oldest first.

    manage.py status_history obligation 42 --organization SLUG_OR_ID [--limit N] [--json]

MODEL is one of distribution, obligation, fulfillment, payout, distributor, apikey. One line per move, from
``lifecycle.models.StatusChange`` through the selector the admin timeline reads
(``lifecycle.selectors.status_history``): the time in the organization's zone (as the admin shows it,
``organizations.admin.format_instant``), ``from → to`` (the stored status values), who moved it and why
(``-`` when not recorded). At most the latest ``--limit`` moves (default 50, as the admin), with a line saying
how many earlier ones are not shown. ``--json`` prints every shown move with its instant in UTC.

Where it lives: it needs ``OrganizationCommand`` (``organizations``) and ``lifecycle``, so it is in
``organizations``, the lowest layer above ``lifecycle``; it imports no higher app. The object is scoped by the
history's own ``organization_id``: moves recorded for another organization are "no such". An object without any
move is looked up by its model label in the app registry (no import), so an object that exists in the
organization but never moved is "no status move recorded yet" (exit 0), and an unknown id or another
tenant's object is ``ID: no <model> 'X' in organization 'slug'.`` (exit 1).
"""

from django.apps import apps
from django.core.management.base import CommandError

from clock import iso_utc
from lifecycle.models import StatusChange
from lifecycle.selectors import HISTORY_LIMIT, status_history, status_history_count
from organizations.admin import EMPTY, format_instant, zone_name
from organizations.management.base import OrganizationCommand, record_id

# MODEL → the label StatusChange stores (``lifecycle.services.model_label``: the model's ``label_lower``).
MODEL_LABELS = {
    "distribution": "distributions.distribution",
    "obligation": "obligations.obligation",
    "fulfillment": "obligations.fulfillment",
    "payout": "obligations.payout",
    "distributor": "distributors.distributor",
    "apikey": "organizations.apikey",
}
MODEL_NAMES = {"apikey": "API key"}


class Command(OrganizationCommand):
    help = "Print the status moves of one distribution, obligation, fulfillment, payout, distributor or API key."
    json_option = True

    def add_arguments(self, parser):
        parser.add_argument("model", metavar="MODEL", help=f"One of: {', '.join(MODEL_LABELS)}.")
        parser.add_argument("object_id", metavar="ID", help="The object's id.")
        parser.add_argument(
            "--limit", type=int, default=HISTORY_LIMIT, help=f"The latest moves printed (default {HISTORY_LIMIT})."
        )

    def handle(self, *args, organization, **options):
        key = options["model"].strip().lower().replace("_", "").replace(" ", "")
        label = MODEL_LABELS.get(key)
        if label is None:
            raise CommandError(f"MODEL: '{options['model']}' is not one of {', '.join(MODEL_LABELS)}.")
        name = MODEL_NAMES.get(key, key)
        limit = options["limit"]
        if limit < 1:
            raise CommandError("--limit: give 1 or more.")
        text = options["object_id"]
        pk = record_id(text)
        changes = status_history(model=label, object_ids=[pk], limit=limit).get(pk, []) if pk is not None else []
        # The history carries its tenant: moves of another organization's object are no such object here.
        if any(change.organization_id != organization.pk for change in changes) or (
            not changes and not self.exists(label, pk, organization)
        ):
            raise CommandError(f"ID: no {name} '{text}' in organization '{organization.slug}'.")
        earlier = status_history_count(model=label, object_id=pk) - len(changes) if len(changes) >= limit else 0
        zone = organization.tzinfo

        if self.json_output:
            self.write_json(
                {
                    "organization": organization.slug,
                    "model": key,
                    "id": pk,
                    "timeZone": zone_name(zone),
                    "earlier": earlier,
                    "moves": [
                        {
                            "at": iso_utc(change.at),
                            "from": change.from_status,
                            "to": change.to_status,
                            "actor": change.actor,
                            "reason": change.reason,
                        }
                        for change in changes
                    ],
                }
            )
        else:
            if earlier:
                self.stdout.write(f"… {earlier} earlier move(s) not shown (--limit).")
            for change in changes:
                self.stdout.write(self.line(change, zone))
        title = name[0].upper() + name[1:]
        if not changes:
            summary = f"{title} {pk} in '{organization.slug}': no status move recorded yet."
        else:
            shown = f"{len(changes)} of {len(changes) + earlier}" if earlier else str(len(changes))
            summary = (
                f"{title} {pk} in '{organization.slug}': {shown} status move(s), now {changes[-1].to_status} "
                f"(times in {zone_name(zone)})."
            )
        self.write_summary(summary)

    @staticmethod
    def line(change: StatusChange, zone) -> str:
        moment = format_instant(change.at, zone, seconds=True)
        reason = " ".join(change.reason.split()) or EMPTY  # one line, whatever staff typed
        return f"{moment}  {change.from_status} → {change.to_status}  {change.actor or EMPTY}  {reason}"

    @staticmethod
    def exists(label: str, pk: int | None, organization) -> bool:
        """Whether the ``label`` row ``pk`` is the organization's: through the app registry, by label, so this
        layer imports no higher app."""
        if pk is None:
            return False
        model = apps.get_model(label)
        return model._default_manager.filter(pk=pk, organization_id=organization.pk).exists()
