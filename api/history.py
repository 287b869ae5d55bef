"""The ``history`` field an object with a status serves: its status moves (``lifecycle.models.StatusChange``).

``status_history_field(Model, choices)`` declares it once for any model: extended (asked for with
``?fields=history`` or ``?include=extended``) and ``batched``, so a page costs one query for every row's
history (``lifecycle.selectors.status_history``: a window function keeps each object's latest
``HISTORY_LIMIT`` moves), whatever the page size. Each item is ``{from, to, at, actor, reason}``, oldest
first; ``at`` is UTC like every API time. The rows are the page's, already scoped to the key's organization;
a move recorded under another organization is dropped all the same (a history row names its tenant).
"""

from collections.abc import Sequence

from django.db import models
from rest_framework import serializers

from api.fields import ApiField, ResolveContext, batched
from lifecycle.selectors import HISTORY_LIMIT, status_history


def status_move_serializer(name: str, choices: Sequence[tuple[str, str]]) -> serializers.Serializer:
    """The documented shape of one move (``from`` is a keyword, so the class is built with ``type``)."""
    fields = {
        "from": serializers.ChoiceField(choices=choices, help_text="The status it left."),
        "to": serializers.ChoiceField(choices=choices, help_text="The status it reached."),
        "at": serializers.DateTimeField(help_text="When it moved (UTC)."),
        "actor": serializers.CharField(
            allow_blank=True,
            help_text="Who moved it: `staff:<username>`, `api:<key prefix>`, `command:<name>`, `engine:run <id>` "
            "(`engine` when no run is recorded); empty when not recorded.",
        ),
        "reason": serializers.CharField(allow_blank=True, help_text="Why, as given with the move; may be empty."),
        "Meta": type("Meta", (), {"ref_name": f"{name}StatusMove"}),
    }
    return type(f"{name}StatusMoveSerializer", (serializers.Serializer,), fields)


def load_status_history(model: type[models.Model]):
    def load(ids: list[int], context: ResolveContext) -> dict[int, list[dict]]:
        history = status_history(model=model, object_ids=ids)
        return {
            pk: [
                {
                    "from": change.from_status,
                    "to": change.to_status,
                    "at": change.at,
                    "actor": change.actor,
                    "reason": change.reason,
                }
                for change in changes
                if change.organization_id == context.organization_id
            ]
            for pk, changes in history.items()
        }

    return load


def status_history_field(model: type[models.Model], choices: Sequence[tuple[str, str]]) -> ApiField:
    return batched(
        "history",
        load_status_history(model),
        status_move_serializer(model.__name__, choices)(
            many=True,
            help_text=f"Its status moves, oldest first: the latest {HISTORY_LIMIT} (the history is append-only; "
            "creation is not a move). One query for the whole page.",
        ),
    )
