"""``GET /api/v1/events``: the organization's event log, oldest first, paged by id (keyset).

``after`` (an event id, default 0) and ``number`` (default 10, at most 100) page forward: the next page is
``after=<the last id you got>``, which the ``Link`` header (``rel="next"``) carries while a full page came
back. Keyset rather than offset pages: the log only grows, and a reader that polls with its last id never
skips or repeats an event whatever is written meanwhile. No ``X-Total-Count`` (counting a log is what a
poller never needs). Filters: ``type`` (repeat for several), ``occurredAtFrom``/``occurredAtTo`` (inclusive).
"""

from django_filters import MultipleChoiceFilter
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from api.filters import ApiFilterSet, DateTimeBoundFilter
from api.pagination import DEFAULT_NUMBER, MAX_NUMBER, MAX_REQUESTED, _whole_number
from api.schema import error_responses
from api.viewsets import TenantAPIView
from collaborators.refs import MAX_ID
from events.catalog import EVENT_TYPES
from events.models import Event
from events.selectors import event_representation

TYPE_DESCRIPTIONS = "; ".join(f"`{name}`: {text}" for name, text in EVENT_TYPES.items())


class EventFilterSet(ApiFilterSet):
    type = MultipleChoiceFilter(choices=[(name, name) for name in EVENT_TYPES], help_text="Repeat for several types.")
    occurredAtFrom = DateTimeBoundFilter(
        field_name="occurred_at", help_text="Occurred on or after this ISO 8601 date or date-time (UTC if no offset)."
    )
    occurredAtTo = DateTimeBoundFilter(
        field_name="occurred_at",
        upper=True,
        help_text="Occurred on or before this ISO 8601 date or date-time (a date includes that whole day, UTC).",
    )

    class Meta:
        model = Event
        fields: list[str] = []


class EventSerializer(serializers.Serializer):
    """One event: what changed (``type``), when, and the object as the API shows it (``data``)."""

    id = serializers.IntegerField(help_text="Increasing: page with `after=<the last id you got>`.")
    type = serializers.ChoiceField(choices=list(EVENT_TYPES), help_text=TYPE_DESCRIPTIONS)
    occurredAt = serializers.DateTimeField()
    data = serializers.DictField(help_text="The object as the API shows it (core fields), after the change.")

    class Meta:
        ref_name = "Event"


QUERY_PARAMS = {"after", "number", *EventFilterSet.base_filters}


class EventListView(TenantAPIView):
    required_scope = "read"

    @extend_schema(
        summary="List events",
        operation_id="events_list",
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": MAX_ID, "default": 0},
                description="Only events with a larger id: the last id of the previous page (default 0: from the "
                "oldest event kept).",
            ),
            OpenApiParameter(
                "number",
                {"type": "integer", "minimum": 1, "maximum": MAX_REQUESTED, "default": DEFAULT_NUMBER},
                description=f"Page size, default {DEFAULT_NUMBER}; values above {MAX_NUMBER} are capped at "
                f"{MAX_NUMBER}; 0 or less is a 400.",
            ),
        ],
        filters=True,
        responses={200: EventSerializer(many=True), **error_responses(400)},
    )
    def get(self, request):
        """The organization's events, oldest first. Each is written in the same transaction as its change, so an
        event exists exactly when the change does. Poll with `after=<the last id you got>`; events are kept for
        the configured retention (`EVENT_RETENTION_DAYS`)."""
        params, errors = request.query_params, {}
        unknown = sorted(set(params) - QUERY_PARAMS)
        if unknown:
            valid = ", ".join(sorted(QUERY_PARAMS))
            raise ValidationError({name: [f"Unknown query parameter. Valid parameters: {valid}."] for name in unknown})
        after = number = 0
        try:
            after = _whole_number("after", params.get("after"), default=0, minimum=0, maximum=MAX_ID)
        except ValidationError as exc:
            errors.update(exc.detail)
        try:
            number = min(
                _whole_number("number", params.get("number"), default=DEFAULT_NUMBER, minimum=1, maximum=MAX_REQUESTED),
                MAX_NUMBER,
            )
        except ValidationError as exc:
            errors.update(exc.detail)
        queryset = Event.objects.filter(organization_id=request.auth.organization_id, id__gt=after)
        filterset = EventFilterSet(data=params, queryset=queryset, request=request)
        if not filterset.is_valid():
            errors.update(filterset.errors)
        if errors:
            raise ValidationError(errors)
        events = list(filterset.qs.order_by("id")[:number])
        headers = {}
        if len(events) == number:
            url = replace_query_param(request.build_absolute_uri(), "after", events[-1].pk)
            headers["Link"] = f'<{url}>; rel="next"'
        return Response([event_representation(event) for event in events], headers=headers)
