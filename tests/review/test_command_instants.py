"""``--now`` / ``--at`` instants outside the range the database can store are one readable CommandError line.

``0001-01-01T00:00:00+14:00`` parses (it is a valid aware datetime) but is the year 0 in UTC: converting it
for the database raised ``OverflowError`` (a traceback) in ``run_distributions`` and ``credit_metric``.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.factories import CollaboratorFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def _call(*args):
    call_command(*args, stdout=StringIO(), stderr=StringIO())


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_run_distributions_now_out_of_range(instant):
    with pytest.raises(CommandError, match="--now"):
        _call("run_distributions", "--now", instant)


def test_credit_metric_at_out_of_range():
    organization = OrganizationFactory(slug="acme")
    collaborator = CollaboratorFactory(organization=organization)
    with pytest.raises(CommandError, match="--at"):
        _call(
            "credit_metric",
            "--organization",
            "acme",
            "--collaborator",
            str(collaborator.pk),
            "--at",
            "0001-01-01T00:00:00+05:00",
        )


def test_run_distributions_refuses_a_future_now_and_writes_nothing():
    from distributions.models import Distribution, EngineRun
    from distributions.services import distribution_open_first
    from tests.factories import DistributorFactory

    distribution_open_first(distributor=DistributorFactory())
    with pytest.raises(CommandError, match="in the future"):
        _call("run_distributions", "--now", "2999-01-01T00:00:00Z")
    assert not EngineRun.objects.exists()
    assert list(Distribution.objects.values_list("status", flat=True)) == ["pending"]
