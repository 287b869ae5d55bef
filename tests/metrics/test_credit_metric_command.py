"""manage.py credit_metric: thin wrapper over metric_credit."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from metrics.models import MAX_CREDIT_QUANTITY, CreditRequest, MetricCredit
from tests.factories import CollaboratorAliasFactory, CollaboratorFactory, DistributorFactory

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("credit_metric", *args, stdout=out)
    return out.getvalue()


def test_credits_by_alias_and_prints_what_it_credited(org, collaborator):
    distributor = DistributorFactory(organization=org, metric_types={"sale": 10})
    CollaboratorAliasFactory(collaborator=collaborator, type="tracking", code="REF123")
    out = run("--organization", "acme", "--collaborator", "tracking:REF123", "--metric-type", "sale", "--quantity", "3")
    assert out.startswith("Credited (request ")
    assert f"3 × sale to Ada Lovelace ({collaborator.pk})" in out
    assert f"distributor {distributor.pk} +30; 30 points in all." in out
    request = CreditRequest.objects.get()
    assert request.source == "command" and request.actor.startswith("credit_metric")
    assert MetricCredit.objects.get().points == 30


def test_back_dates_with_at_and_replays_with_the_same_idempotency_key(org, collaborator):
    DistributorFactory(organization=org)
    args = ["--organization", "acme", "--collaborator", str(collaborator.pk), "--idempotency-key", "cron-1"]
    run(*args, "--at", "2026-03-01T10:00:00+01:00")
    assert MetricCredit.objects.get().credited_at == datetime(2026, 3, 1, 9, tzinfo=UTC)
    out = run(*args, "--at", "2026-03-01T10:00:00+01:00")
    assert out.startswith("Already credited by request") and "nothing added" in out
    assert MetricCredit.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--organization", "nope", "--collaborator", "1"], "--organization: no organization 'nope' (give its slug"),
        (["--organization", "acme", "--collaborator", "tracking:missing"], "--collaborator: no collaborator"),
        (
            ["--organization", "acme", "--collaborator", "{c}", "--quantity", "0"],
            f"--quantity: The quantity must be a whole number from 1 to {MAX_CREDIT_QUANTITY}.",
        ),
        (
            ["--organization", "acme", "--collaborator", "{c}", "--quantity", str(MAX_CREDIT_QUANTITY + 1)],
            f"--quantity: The quantity must be a whole number from 1 to {MAX_CREDIT_QUANTITY}.",
        ),
        (["--organization", "acme", "--collaborator", "{c}", "--metric-type", "x"], "--metric-type: Metric type 'x'"),
        (
            ["--organization", "acme", "--collaborator", "{c}", "--distributor", "999"],
            "--distributor: no distributor 999 in organization 'acme'.",
        ),
        (["--organization", "acme", "--collaborator", "{c}", "--at", "yesterday"], "--at: 'yesterday' is not"),
        (
            ["--organization", "acme", "--collaborator", "{c}", "--at", "2026-01-05T10:00"],
            "--at: '2026-01-05T10:00' has no UTC offset",
        ),
        (
            ["--organization", "acme", "--collaborator", "{c}", "--at", "2999-01-01T00:00Z"],
            "--at: '2999-01-01T00:00Z' is in the future; credits can only be back-dated.",
        ),
        (  # a valid aware date-time, but the year 0 in UTC (was an OverflowError)
            ["--organization", "acme", "--collaborator", "{c}", "--at", "0001-01-01T00:00:00+05:00"],
            "--at: '0001-01-01T00:00:00+05:00' is out of range",
        ),
    ],
)
def test_bad_input_is_one_readable_command_error(org, collaborator, args, message):
    DistributorFactory(organization=org)
    args = [arg.format(c=collaborator.pk) for arg in args]
    with pytest.raises(CommandError) as error:
        run(*args)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert not MetricCredit.objects.exists()


def test_inactive_collaborator_is_refused(org):
    DistributorFactory(organization=org)
    inactive = CollaboratorFactory(organization=org, status="inactive")
    with pytest.raises(CommandError, match=r"--collaborator: Collaborator \d+ is inactive"):
        run("--organization", "acme", "--collaborator", str(inactive.pk))
