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

import re
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.utils.dateparse import parse_date, parse_datetime
from django_filters import CharFilter, Filter, FilterSet, NumberFilter

from collaborators.refs import MAX_ID, CollaboratorRef

# What the schema documents is what the fields below enforce (both sides read these).
# A collaborator: an id (1-18 digits, no leading zero: a bigint) or an alias ``type:code`` (the type has no
# colon; neither part has a control character, C0, DEL or C1); surrounding spaces are ignored.
_CTRL = r"\x00-\x1f\x7f-\x9f"
REF_PATTERN = rf"^ *([1-9][0-9]{{0,17}}|[^: {_CTRL}][^:{_CTRL}]*:[^{_CTRL}]*[^ {_CTRL}]) *$"
_DATE = (
    r"(([0-9]{4})-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    r"|02-(0[1-9]|1[0-9]|2[0-8]))|([0-9]{2}(0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26]|0[48])00)-02-29)"
)
_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?"
# An ISO 8601 date (2026-03-01) or date-time (2026-03-01T12:00, seconds and fraction optional, offset ``Z`` or
# ``±hh:mm``, none meaning UTC). Year 0000 does not exist.
DATE_TIME_BOUND_PATTERN = rf"^(?!0000){_DATE}({_TIME})?$"
_ID_TEXT = re.compile(r"[0-9]{1,19}")


class IdField(forms.IntegerField):
    """A positive bigint written in ASCII digits (no sign, decimal point or spaces)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if value is None:  # absent; present but empty is invalid, like any other non-number
            return None
        if not _ID_TEXT.fullmatch(str(value)):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(value)


class IdFilter(NumberFilter):
    field_class = IdField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._spectacular_annotation = {
            "field": {
                "type": "integer",
                "format": "int64",
                "minimum": 1,
                "maximum": MAX_ID,
                "description": self.extra.get("help_text", ""),
            }
        }


def _document_as_string(filter_, pattern: str | None = None) -> None:
    """OpenAPI: a string parameter described by the filter's help_text (per instance, unlike the decorator)."""
    schema = {"type": "string", "description": filter_.extra.get("help_text", "")}
    if pattern:
        schema["pattern"] = pattern
    filter_._spectacular_annotation = {"field": schema}


_DATE_TIME_BOUND = re.compile(DATE_TIME_BOUND_PATTERN)
_REF = re.compile(REF_PATTERN)
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


class DateTimeBoundField(forms.Field):
    """Cleans to ``(aware datetime, date_only)``."""

    default_error_messages = {
        "invalid": "Enter an ISO 8601 date (2026-03-01) or date-time (2026-03-01T12:00:00Z).",
    }

    def to_python(self, value):
        moment, date_only = self._parse(value) if value is not None else (None, False)
        if moment is None:
            return None
        try:  # in UTC; past the ends of the representable range a bound is the end itself
            moment = moment.astimezone(UTC)
        except OverflowError:
            return (_EARLIEST if moment.year == 1 else _LATEST), False
        return moment, date_only

    def _parse(self, value):
        text = str(value)
        if "T" in text and " " in text:
            text = text.replace(" ", "+")  # an unencoded '+02:00' arrives as ' 02:00'
        if not _DATE_TIME_BOUND.fullmatch(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
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
        _document_as_string(self, pattern=DATE_TIME_BOUND_PATTERN)

    def filter(self, qs, value):
        if value is None:
            return qs
        moment, date_only = value
        if not self.upper:
            return qs.filter(**{f"{self.field_name}__gte": moment})
        if date_only and moment.date() < _LATEST.date():
            return qs.filter(**{f"{self.field_name}__lt": moment + timedelta(days=1)})
        return qs.filter(**{f"{self.field_name}__lte": moment})


def collaborator_ref_of(text: str) -> CollaboratorRef | None:
    """The ref ``text`` names when it matches ``REF_PATTERN``, else ``None``.
    An alias is split on its first colon; one no collaborator has simply matches nothing."""
    if not isinstance(text, str) or not _REF.fullmatch(text):
        return None
    text = text.strip(" ")
    if text.isdigit():
        return CollaboratorRef(id=int(text))
    alias_type, _, code = text.partition(":")
    return CollaboratorRef(alias_type=alias_type, code=code)


class CollaboratorRefField(forms.CharField):
    """Cleans to a ``CollaboratorRef`` (``collaborators.refs``, the one parser of ids and aliases)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, strip=False, **kwargs)

    def to_python(self, value):
        if value is None:
            return None
        ref = collaborator_ref_of(str(value))  # an alias of any length matches nothing rather than erring
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
