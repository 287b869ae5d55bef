"""What ``/obligations`` returns.

Core: ``id, collaboratorId, value, units, status, awardType, dateCreated, dateModified``.

Extended (``?fields=`` or ``?include=extended``): ``description``, ``collaboratorName`` (a join),
``distributionId`` and ``allocationId`` (``null`` for a manual obligation; a join), ``payoutId`` (the
payout of its fulfillment, once in one), ``releaseAt`` (when the heartbeat approves it if still pending: its
distributor's holding period; ``null`` when not held), ``history`` (its status moves, oldest first: ``{from, to,
at, actor, reason}``, one query for the page; ``api.history``).
"""

from rest_framework import serializers

from api.fields import FieldSet, column
from api.history import status_history_field
from obligations.models import AwardType, Obligation, ObligationStatus

STATUS_DESCRIPTIONS = {
    ObligationStatus.PENDING: "Owed, awaiting approval.",
    ObligationStatus.APPROVED: "Approved; waiting to join a fulfillment and be paid.",
    ObligationStatus.FULFILLED: "Paid: its payout was marked paid.",
    ObligationStatus.REJECTED: "Refused; it will not be paid.",
    ObligationStatus.CANCELLED: "Withdrawn; it will not be paid.",
}

OBLIGATION_FIELDS = FieldSet(
    "Obligation",
    [
        column("id", "id", serializers.IntegerField()),
        column("collaboratorId", "collaborator_id", serializers.IntegerField()),
        column("value", "value", serializers.IntegerField(help_text="Amount owed, in the smallest unit of units.")),
        column("units", "units", serializers.CharField(help_text="A currency such as USD, or points.")),
        column("status", "status", serializers.ChoiceField(choices=ObligationStatus.choices)),
        column(
            "awardType",
            "award_type",
            serializers.ChoiceField(
                choices=AwardType.choices,
                help_text="distribution: created by a distribution; adjustment: a correction (may be negative).",
            ),
        ),
        column("dateCreated", "created_at", serializers.DateTimeField()),
        column("dateModified", "modified_at", serializers.DateTimeField()),
        column("description", "description", serializers.CharField(allow_blank=True), extended=True),
        column("collaboratorName", "collaborator__full_name", serializers.CharField(), extended=True),
        column(
            "distributionId",
            "allocation__distribution_id",
            serializers.IntegerField(allow_null=True, help_text="The distribution that created it, if any."),
            extended=True,
        ),
        column(
            "allocationId",
            "allocation__id",
            serializers.IntegerField(allow_null=True, help_text="Its allocation in that distribution, if any."),
            extended=True,
        ),
        column(
            "payoutId",
            "payout_id",
            serializers.IntegerField(allow_null=True, help_text="The payout it is paid through, once fulfilled."),
            extended=True,
        ),
        column(
            "releaseAt",
            "release_at",
            serializers.DateTimeField(
                allow_null=True, help_text="When its holding period ends and the heartbeat approves it, if held."
            ),
            extended=True,
        ),
        status_history_field(Obligation, ObligationStatus.choices),
    ],
)
