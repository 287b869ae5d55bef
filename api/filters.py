"""Filters shared by the endpoints' FilterSets (django-filter), with API-level validation.

- ``IdFilter``: a positive integer that fits a bigint (anything else is a 400, never a database error).
- ``DateTimeBoundFilter``: an ISO 8601 date or date-time. A date-time without an offset is UTC. A bare
  date is the start of that day (UTC) as a lower bound and the whole day as an upper bound, so
  ``triggerDateFrom=2026-03-01&triggerDateTo=2026-03-31`` covers March inclusive. Both bounds inclusive.
- ``CollaboratorRefFilter``: a collaborator id or alias ``type:code`` (the API accepts an alias wherever
  it takes a collaborator id); an unknown alias matches nothing, like an unknown id.

Unknown ids (another organization's included) match nothing rather than erroring: the queryset is
already the tenant's, so a filter can never reveal another organization's rows or their existence.

``ApiFilterSet`` is the base of the endpoints' FilterSets. It keeps the per-request cost of filtering at
what filtering needs: the validation form class is built once per FilterSet class (django-filter builds
it on every request), and a request naming none of the filters skips the FilterSet altogether
(``unfiltered``: what a list shows when no filter is given).
"""

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.utils.dateparse import parse_date, parse_datetime
from django_filters import CharFilter, Filter, FilterSet, NumberFilter

from collaborators.refs import MAX_ID, REF_PATTERN, parse_collaborator_ref


class IdField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class IdFilter(NumberFilter):
    field_class = IdField


def _document_as_string(filter_, pattern: str | None = None) -> None:
    """OpenAPI: a string parameter described by the filter's help_text (per instance, unlike the decorator)."""
    schema = {"type": "string", "description": filter_.extra.get("help_text", "")}
    if pattern:
        schema["pattern"] = pattern
    filter_._spectacular_annotation = {"field": schema}


class DateTimeBoundField(forms.Field):
    """Cleans to ``(aware datetime, date_only)``."""

    default_error_messages = {
        "invalid": "Enter an ISO 8601 date (2026-03-01) or date-time (2026-03-01T12:00:00Z).",
        "range": "Enter a date between 0001-01-02 and 9999-12-30.",
    }

    def to_python(self, value):
        moment, date_only = self._parse(value) if value not in self.empty_values else (None, False)
        if moment is None:
            return None
        try:  # in UTC, with room for the day an upper bound may add, in Python's datetime range
            moment = moment.astimezone(UTC)
            moment + timedelta(days=1)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["range"], code="range") from None
        return moment, date_only

    def _parse(self, value):
        text = str(value).strip()
        if "T" in text and " " in text:
            text = text.replace(" ", "+")  # an unencoded '+02:00' arrives as ' 02:00'
        try:
            moment = parse_datetime(text)
            if moment is not None:
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                return moment, False
            day = parse_date(text)
        except ValueError:
            day = None
        if day is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return datetime.combine(day, time.min, tzinfo=UTC), True


class DateTimeBoundFilter(Filter):
    field_class = DateTimeBoundField

    def __init__(self, *args, upper: bool = False, **kwargs):
        self.upper = upper
        super().__init__(*args, **kwargs)
        _document_as_string(self)

    def filter(self, qs, value):
        if value is None:
            return qs
        moment, date_only = value
        if not self.upper:
            return qs.filter(**{f"{self.field_name}__gte": moment})
        if date_only:
            return qs.filter(**{f"{self.field_name}__lt": moment + timedelta(days=1)})
        return qs.filter(**{f"{self.field_name}__lte": moment})


class CollaboratorRefField(forms.CharField):
    """Cleans to a ``CollaboratorRef`` (``collaborators.refs``, the one parser of ids and aliases)."""

    def to_python(self, value):
        text = super().to_python(value).strip()
        if not text:
            return None
        ref = parse_collaborator_ref(text, max_length=None)  # a longer alias matches nothing rather than erring
        if ref is None:
            raise forms.ValidationError("Enter a collaborator id or an alias 'type:code'.", code="invalid")
        return ref


class CollaboratorRefFilter(CharFilter):
    field_class = CollaboratorRefField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _document_as_string(self, pattern=REF_PATTERN)

    def filter(self, qs, value):
        if not value:
            return qs
        if value.id is not None:
            return qs.filter(**{f"{self.field_name}_id": value.id})
        return qs.filter(
            **{f"{self.field_name}__aliases__type": value.alias_type, f"{self.field_name}__aliases__code": value.code}
        )


class ApiFilterSet(FilterSet):
    @classmethod
    def requested(cls, query_params) -> bool:
        """Whether the request names any of this FilterSet's parameters."""
        return any(name in query_params for name in cls.base_filters)

    @classmethod
    def unfiltered(cls, queryset):
        """The list when no filter parameter is given; override to apply a default (e.g. hide deleted rows)."""
        return queryset

    def get_form_class(self):
        # The form depends only on the declared filters, so one class per FilterSet class serves every request.
        form_class = type(self).__dict__.get("_api_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            type(self)._api_form_class = form_class
        return form_class
