from django_filters import MultipleChoiceFilter

from api.filters import ApiFilterSet, CollaboratorRefFilter, DateTimeBoundFilter, IdFilter
from distributions.models import Allocation, Distribution, DistributionStatus
from obligations.models import ObligationStatus


class DistributionFilterSet(ApiFilterSet):
    """``status`` (repeat it for several), ``distributorId``, ``triggerDateFrom``/``triggerDateTo`` (inclusive)."""

    status = MultipleChoiceFilter(choices=DistributionStatus.choices, help_text="Repeat for several statuses.")
    distributorId = IdFilter(field_name="distributor_id", help_text="Only this distributor's distributions.")
    triggerDateFrom = DateTimeBoundFilter(
        field_name="trigger_date",
        help_text="Trigger date on or after this ISO 8601 date or date-time (a date is that day's start, UTC).",
    )
    triggerDateTo = DateTimeBoundFilter(
        field_name="trigger_date",
        upper=True,
        help_text="Trigger date on or before this ISO 8601 date or date-time (a date includes that whole day, UTC).",
    )

    class Meta:
        model = Distribution
        fields: list[str] = []


class AllocationFilterSet(ApiFilterSet):
    """``/distributions/{id}/allocations``: ``status`` (its obligation's; repeat it for several) and
    ``collaboratorId`` (id or alias ``type:code``)."""

    status = MultipleChoiceFilter(
        field_name="obligation__status",
        choices=ObligationStatus.choices,
        help_text="Its obligation's status; repeat for several.",
    )
    collaboratorId = CollaboratorRefFilter(
        field_name="collaborator", help_text="A collaborator id or alias type:code (e.g. tracking:REF123)."
    )

    class Meta:
        model = Allocation
        fields: list[str] = []
