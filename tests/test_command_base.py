"""The command base (``organizations.management.base``, ``distributors.management.base``): ``--organization``
by slug or id, ``--distributor`` inside it, instant options, the summary line, exit codes; one line, never a
traceback."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from distributions.models import EngineRun
from distributors.management.base import DistributorCommand
from organizations.management.base import OrganizationCommand
from tests.factories import CollaboratorFactory, DistributorFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]


def call(command, *args, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def refusal(command, *args) -> str:
    """The CommandError message of a refused call, checked to be one line."""
    with pytest.raises(CommandError) as error:
        call(command, *args)
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


class Probe(DistributorCommand):
    """Shows what the base hands to ``handle``."""

    organization_required = False
    json_option = True

    def add_arguments(self, parser):
        self.add_instant_argument(parser, "--at", help="An instant.", future_reason="probes look back")
        parser.add_argument("--fail", action="store_true")
        parser.add_argument("--multiline", action="store_true")

    def handle(self, *args, organization, distributor, at, **options):
        if options["multiline"]:
            raise CommandError("first line\nsecond line")
        seen = {
            "organization": organization.slug if organization else None,
            "distributor": distributor.pk if distributor else None,
            "at": at.isoformat() if at else None,
            "self": [self.organization == organization, self.distributor == distributor],
        }
        if self.json_output:
            self.write_json(seen)
        if options["fail"]:
            self.exit_failed("probe: 1 failed.")
        self.write_summary(f"probe: {seen['organization']}.")


# --------------------------------------------------------------------------- --organization


def test_organization_by_slug_and_by_id():
    acme = OrganizationFactory(slug="acme")
    assert call("generate_fulfillment", "--organization", "acme")[0].startswith("Nothing to fulfil for 'acme'")
    assert call("generate_fulfillment", "--organization", str(acme.pk))[0].startswith("Nothing to fulfil for 'acme'")
    assert call(Probe(), "--organization", f" {acme.pk} ")[0] == "probe: acme.\n"


def test_an_all_digit_value_is_an_id_never_a_slug():
    OrganizationFactory(slug="2026")
    other = OrganizationFactory(slug="other")
    assert call(Probe(), "--organization", str(other.pk))[0] == "probe: other.\n"
    message = refusal(Probe(), "--organization", "999999999")
    assert message == "--organization: no organization '999999999' (give its slug or id)."
    assert refusal(Probe(), "--organization", "9" * 5000).startswith("--organization: no organization '999")


@pytest.mark.parametrize("value", ["nope", "999999", "99999999999999999999999", "", "²"])
def test_an_unknown_organization_is_one_line_naming_the_option(value):
    OrganizationFactory(slug="acme")
    for command, args in [
        ("run_distributions", []),
        ("generate_fulfillment", []),
        ("create_api_key", ["--name", "x"]),
        ("credit_metric", ["--collaborator", "1"]),
    ]:
        assert refusal(command, *args, "--organization", value) == (
            f"--organization: no organization '{value.strip()}' (give its slug or id)."
        )
    assert not EngineRun.objects.exists()


def test_organization_is_optional_only_where_the_command_says_so():
    assert call(Probe())[0] == "probe: None.\n"
    with pytest.raises(CommandError, match="the following arguments are required: --organization"):
        call("generate_fulfillment")


def test_an_unknown_organization_on_the_command_line_is_one_stderr_line_and_exit_1(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    manage = [sys.executable, "manage.py"]
    migrate = subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr

    result = subprocess.run(
        [*manage, "run_distributions", "--organization", "nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "CommandError: --organization: no organization 'nope' (give its slug or id)."
    ]


# --------------------------------------------------------------------------- --distributor


def test_a_distributor_is_resolved_inside_the_organization():
    acme, other = OrganizationFactory(slug="acme"), OrganizationFactory(slug="other")
    mine, theirs = DistributorFactory(organization=acme), DistributorFactory(organization=other)

    out, _ = call(Probe(), "--organization", "acme", "--distributor", str(mine.pk), "--json")
    assert json.loads(out) == {"organization": "acme", "distributor": mine.pk, "at": None, "self": [True, True]}
    out, _ = call(Probe(), "--distributor", str(theirs.pk), "--json")  # no --organization: any distributor
    assert json.loads(out)["distributor"] == theirs.pk

    # another organization's distributor reads exactly like a missing one
    assert refusal(Probe(), "--organization", "acme", "--distributor", str(theirs.pk)) == (
        f"--distributor: no distributor {theirs.pk} in organization 'acme'."
    )
    assert refusal(Probe(), "--organization", "acme", "--distributor", "999999") == (
        "--distributor: no distributor 999999 in organization 'acme'."
    )
    assert refusal(Probe(), "--distributor", "999999") == "--distributor: no distributor 999999."
    assert (
        refusal(Probe(), "--distributor", "podium")
        == "--distributor: 'podium' is not a distributor id (a whole number)."
    )


def test_commands_refuse_another_organizations_distributor():
    acme, other = OrganizationFactory(slug="acme"), OrganizationFactory(slug="other")
    collaborator = CollaboratorFactory(organization=acme)
    theirs = DistributorFactory(organization=other)
    expected = f"--distributor: no distributor {theirs.pk} in organization 'acme'."
    assert refusal("run_distributions", "--organization", "acme", "--distributor", str(theirs.pk)) == expected
    assert (
        refusal(
            "credit_metric", "--organization", "acme", "--collaborator", str(collaborator.pk), "--distributor",
            str(theirs.pk),
        )
        == expected
    )  # fmt: skip
    assert not EngineRun.objects.exists()


# --------------------------------------------------------------------------- instants


INSTANT_REFUSALS = [
    ("2026-02-01T00:00:00", "'2026-02-01T00:00:00' has no UTC offset; add one, e.g. 2026-04-01T00:00:00Z"),
    ("2026-02-01", "'2026-02-01' has no UTC offset"),
    ("next tuesday", "'next tuesday' is not an ISO 8601 date-time; use e.g. 2026-04-01T00:00:00Z."),
    ("2026-13-01T00:00:00Z", "'2026-13-01T00:00:00Z' is not an ISO 8601 date-time"),
    ("0001-01-01T00:00:00+14:00", "'0001-01-01T00:00:00+14:00' is out of range (years 1 to 9999 in UTC)."),
    ("9999-12-31T23:59:59-12:00", "'9999-12-31T23:59:59-12:00' is out of range (years 1 to 9999 in UTC)."),
]


@pytest.mark.parametrize(("value", "message"), INSTANT_REFUSALS)
def test_run_distributions_refuses_a_bad_now_naming_the_option(value, message):
    assert refusal("run_distributions", "--now", value).startswith(f"--now: {message}")
    assert not EngineRun.objects.exists()


@pytest.mark.parametrize(("value", "message"), INSTANT_REFUSALS)
def test_credit_metric_refuses_a_bad_at_naming_the_option(value, message):
    collaborator = CollaboratorFactory(organization=OrganizationFactory(slug="acme"))
    DistributorFactory(organization=collaborator.organization)
    args = ["--organization", "acme", "--collaborator", str(collaborator.pk), "--at", value]
    assert refusal("credit_metric", *args).startswith(f"--at: {message}")


def test_a_future_instant_is_refused_with_the_commands_reason_and_writes_nothing():
    from distributions.models import Distribution
    from distributions.services import distribution_open_first

    collaborator = CollaboratorFactory(organization=OrganizationFactory(slug="acme"))
    distribution_open_first(distributor=DistributorFactory(organization=collaborator.organization))
    assert refusal("run_distributions", "--now", "2999-01-01T00:00:00Z") == (
        "--now: '2999-01-01T00:00:00Z' is in the future; the engine only processes instants that have passed."
    )
    args = ["--organization", "acme", "--collaborator", str(collaborator.pk), "--at", "2999-01-01T00:00:00+02:00"]
    assert refusal("credit_metric", *args) == (
        "--at: '2999-01-01T00:00:00+02:00' is in the future; credits can only be back-dated."
    )
    assert (
        refusal(Probe(), "--at", "2999-01-01T00:00Z") == "--at: '2999-01-01T00:00Z' is in the future; probes look back."
    )
    assert not EngineRun.objects.exists()  # a future --now would have closed the open period: nothing ran
    assert list(Distribution.objects.values_list("status", flat=True)) == ["pending"]


def test_an_instant_reaches_handle_as_an_aware_datetime():
    out, _ = call(Probe(), "--at", "2026-03-01T13:00:00+01:00", "--json")
    assert json.loads(out)["at"] == "2026-03-01T13:00:00+01:00"


# --------------------------------------------------------------------------- output and exit


def test_the_summary_goes_to_stdout_or_to_stderr_when_stdout_carries_json():
    assert call(Probe()) == ("probe: None.\n", "")
    out, err = call(Probe(), "--json")
    assert json.loads(out)["organization"] is None  # stdout is exactly one JSON document
    assert err == "probe: None.\n"


def test_a_partial_failure_is_one_command_error_line_with_the_summary():
    with pytest.raises(CommandError, match=r"^probe: 1 failed\.$") as error:
        call(Probe(), "--fail")
    assert error.value.returncode == 1


def test_a_multi_line_command_error_is_joined_into_one_line():
    assert refusal(Probe(), "--multiline") == "first line; second line"


def test_every_command_is_built_on_the_base():
    from django.core.management import get_commands, load_command_class

    ours = {
        name: app
        for name, app in get_commands().items()
        if app in {"organizations", "distributors", "metrics", "obligations", "distributions", "events", "webhooks"}
    }
    assert set(ours) == {
        "create_api_key",
        "import_revenue",
        "credit_metric",
        "import_credits",
        "generate_fulfillment",
        "adjust_obligation",
        "set_minimum_payout",
        "status_history",
        "correct_distribution",
        "export_payouts",
        "run_distributions",
        "seed_demo",
        "prune_events",
        "deliver_webhooks",
    }
    for name, app in ours.items():
        assert isinstance(load_command_class(app, name), OrganizationCommand), name


def test_seed_demo_runs_twice_and_the_second_run_adds_nothing():
    first, _ = call("seed_demo", "--no-staff")
    assert first.startswith("demo organization created: 12 collaborators, distributors ")
    second, _ = call("seed_demo", "--no-staff")
    assert second.startswith("demo organization already there: 12 collaborators")
    assert second.endswith("; 0 new credit requests, 0 new revenue entries\n")


def test_a_command_whose_database_is_down_is_one_line_and_exit_1():
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere"}  # nothing listens on port 1
    env.pop("DJANGO_SETTINGS_MODULE", None)
    for argv in (["run_distributions"], ["generate_fulfillment", "--organization", "acme"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *argv], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        assert lines[0].startswith("CommandError: The database is unavailable (")
