from django_filters import MultipleChoiceFilter

from api.filters import ApiFilterSet, DateTimeBoundFilter, IdFilter
from distributions.models import Distribution, DistributionStatus


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
