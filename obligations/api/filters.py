from django_filters import MultipleChoiceFilter

from api.filters import ApiFilterSet, CollaboratorRefFilter, IdFilter
from obligations.models import Obligation, ObligationStatus


class ObligationFilterSet(ApiFilterSet):
    """``status`` (repeat it for several), ``collaboratorId`` (id or alias ``type:code``), ``distributionId``."""

    status = MultipleChoiceFilter(choices=ObligationStatus.choices, help_text="Repeat for several statuses.")
    collaboratorId = CollaboratorRefFilter(
        field_name="collaborator", help_text="A collaborator id or alias type:code (e.g. tracking:REF123)."
    )
    distributionId = IdFilter(
        field_name="allocation__distribution_id", help_text="Only the obligations created by this distribution."
    )

    class Meta:
        model = Obligation
        fields: list[str] = []
