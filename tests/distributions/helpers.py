"""Helpers of the engine tests: instants, credits at an instant, engine runs and what they wrote.

The fixtures they use (``org``, ``make_distributor``, ``make_collaborators``) are in ``tests/conftest.py``."""

import io
import json
from datetime import UTC, datetime

from django.core.management import call_command

from distributions.models import Allocation, Distribution, EngineRun
from metrics.models import CreditSource
from metrics.services import metric_credit
from obligations.models import Obligation


def at(text: str) -> datetime:
    """An aware instant from ISO text (``Z`` or an offset)."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment


JAN_1 = at("2026-01-01T00:00:00Z")
FEB_1 = at("2026-02-01T00:00:00Z")
MAR_1 = at("2026-03-01T00:00:00Z")
APR_1 = at("2026-04-01T00:00:00Z")


def credit(collaborator, distributor, points: int, when: datetime, late_reason: str = ""):
    """Credit ``points`` × ``manual`` to ``collaborator`` on ``distributor`` at the instant ``when`` (into a
    triggered period with ``late_reason``); return the outcome."""
    return metric_credit(
        organization=collaborator.organization,
        collaborator=collaborator,
        metric_type="manual",
        quantity=points,
        distributor_id=distributor.pk,
        source=CreditSource.COMMAND,
        now=when,
        late_reason=late_reason,
    )


def run_engine(*args: str) -> dict:
    """``run_distributions --json *args``; return the parsed JSON summary."""
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("run_distributions", "--json", *args, stdout=stdout, stderr=stderr)
    return json.loads(stdout.getvalue())


def allocations_of(distribution) -> list[tuple[int, int, int, int]]:
    """``(collaborator_id, value, score, rank)`` of a distribution's allocations, in rank order."""
    return list(
        Allocation.objects.filter(distribution=distribution)
        .order_by("rank", "id")
        .values_list("collaborator_id", "value", "score", "rank")
    )


def triggered(distributor) -> list[Distribution]:
    return list(Distribution.objects.filter(distributor=distributor).exclude(status="pending").order_by("trigger_date"))


def pending(distributor) -> Distribution:
    return Distribution.objects.get(distributor=distributor, status="pending")


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Distribution, Allocation, Obligation, EngineRun)}


def strip_ids(value):
    """Drop the ids of rows a dry run cannot know yet, to compare a dry run's JSON with a real run's."""
    if isinstance(value, dict):
        return {key: strip_ids(item) for key, item in value.items() if key != "distribution_id"}
    if isinstance(value, list):
        return [strip_ids(item) for item in value]
    return value


__all__ = [
    "APR_1",
    "FEB_1",
    "JAN_1",
    "MAR_1",
    "UTC",
    "allocations_of",
    "at",
    "credit",
    "pending",
    "run_engine",
    "strip_ids",
    "table_counts",
    "triggered",
]
