from django.db.models import Q
from django_filters import CharFilter, MultipleChoiceFilter

from api.filters import ApiFilterSet
from distributors.models import Distributor, DistributorStatus


class DistributorFilterSet(ApiFilterSet):
    """``status`` (repeat it for several) and ``s`` (case-insensitive search in name and description).

    Deleted distributors are left out of lists unless ``status=deleted`` is asked for; their detail
    (``/distributors/{id}``) still answers, because their distributions keep pointing at them.
    """

    status = MultipleChoiceFilter(
        choices=DistributorStatus.choices,
        help_text="Repeat for several statuses. Without it, deleted distributors are left out.",
    )
    s = CharFilter(method="search", max_length=200, help_text="Case-insensitive search in name and description.")
    # OpenAPI: what the form field enforces (at most 200 characters; a NUL is refused).
    s._spectacular_annotation = {
        "field": {"type": "string", "maxLength": 200, "pattern": "^[^\\x00]*$", "description": s.extra["help_text"]}
    }

    class Meta:
        model = Distributor
        fields: list[str] = []

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))

    @classmethod
    def unfiltered(cls, queryset):
        return queryset.exclude(status=DistributorStatus.DELETED)

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("status"):
            queryset = self.unfiltered(queryset)
        return super().filter_queryset(queryset)
