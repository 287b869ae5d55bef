"""``manage.py status_history MODEL ID``: one object's status moves, oldest first, times in the organization's
zone, ``from → to``, actor and reason; scoped by the history's organization; at most ``--limit``; ``--json``."""

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from obligations.services import obligations_transition
from organizations.services import api_keys_revoke
from tests.factories import ApiKeyFactory, FulfillmentFactory, ObligationFactory, OrganizationFactory
from tests.lifecycle.helpers import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def paris():
    return OrganizationFactory(slug="paris", timezone="Europe/Paris")


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("status_history", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refusal(*args) -> str:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return str(caught.value)


def test_moves_made_by_the_service_are_printed_oldest_first_in_the_organizations_zone(paris):
    obligation = ObligationFactory(organization=paris, status="pending")
    obligations_transition(obligation_ids=[obligation.pk], status="approved", actor="staff:ann")
    obligations_transition(
        obligation_ids=[obligation.pk], status="cancelled", actor="api:ab12", reason="Duplicate\nbooking"
    )

    out, _ = run("obligation", str(obligation.pk), "--organization", "paris")
    *lines, summary = out.splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [
        "pending → approved  staff:ann  -",
        "approved → cancelled  api:ab12  Duplicate booking",
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", line.split("  ")[0]) for line in lines)
    assert summary == f"Obligation {obligation.pk} in 'paris': 2 status move(s), now cancelled (times in Europe/Paris)."


def test_an_exact_line(paris):
    fulfillment = FulfillmentFactory(organization=paris)
    record(fulfillment, ("pending", "failed"), actor="engine", reason="bank refused")
    out, _ = run("fulfillment", str(fulfillment.pk), "--organization", str(paris.pk))
    assert out.splitlines()[0] == "2026-10-01 00:00:05 CEST  pending → failed  engine  bank refused"


def test_json(paris):
    obligation = ObligationFactory(organization=paris)
    record(obligation, ("pending", "approved"), ("approved", "rejected"), actor="staff:ann", reason="ok")
    out, err = run("obligation", str(obligation.pk), "--organization", "paris", "--json")
    assert json.loads(out) == {
        "organization": "paris",
        "model": "obligation",
        "id": obligation.pk,
        "timeZone": "Europe/Paris",
        "earlier": 0,
        "moves": [
            {"at": "2026-09-30T22:00:05Z", "from": "pending", "to": "approved", "actor": "staff:ann", "reason": "ok"},
            {"at": "2026-09-30T22:01:05Z", "from": "approved", "to": "rejected", "actor": "staff:ann", "reason": "ok"},
        ],
    }
    assert err == f"Obligation {obligation.pk} in 'paris': 2 status move(s), now rejected (times in Europe/Paris).\n"


def test_limit_keeps_the_latest_moves_and_says_how_many_are_not_shown(paris):
    obligation = ObligationFactory(organization=paris)
    record(obligation, *[("pending", "approved") if i % 2 == 0 else ("approved", "pending") for i in range(5)])
    out, _ = run("obligation", str(obligation.pk), "--organization", "paris", "--limit", "2")
    assert out.splitlines() == [
        "… 3 earlier move(s) not shown (--limit).",
        "2026-10-01 00:03:05 CEST  approved → pending  -  -",
        "2026-10-01 00:04:05 CEST  pending → approved  -  -",
        f"Obligation {obligation.pk} in 'paris': 2 of 5 status move(s), now approved (times in Europe/Paris).",
    ]
    out, _ = run("obligation", str(obligation.pk), "--organization", "paris", "--limit", "2", "--json")
    assert json.loads(out)["earlier"] == 3 and len(json.loads(out)["moves"]) == 2
    assert refusal("obligation", str(obligation.pk), "--organization", "paris", "--limit", "0") == (
        "--limit: give 1 or more."
    )


def test_an_api_key_revocation(org):
    key = ApiKeyFactory(organization=org)
    api_keys_revoke(api_key_ids=[key.pk], actor="staff:ann", reason="leaked")
    out, _ = run("apikey", str(key.pk), "--organization", "acme")
    *lines, summary = out.splitlines()
    assert lines[0].endswith("  active → revoked  staff:ann  leaked") and " UTC  " in lines[0]
    assert summary == f"API key {key.pk} in 'acme': 1 status move(s), now revoked (times in UTC)."


def test_an_object_that_never_moved(org):
    obligation = ObligationFactory(organization=org)
    out, _ = run("obligation", str(obligation.pk), "--organization", "acme")
    assert out == f"Obligation {obligation.pk} in 'acme': no status move recorded yet.\n"


def test_another_tenants_object_or_an_unknown_id_is_no_such(org, other_org):
    moved = ObligationFactory(organization=other_org)
    record(moved, ("pending", "approved"))
    unmoved = ObligationFactory(organization=other_org)
    for text in (str(moved.pk), str(unmoved.pk), "999999", "abc", "9" * 30):
        assert refusal("obligation", text, "--organization", "acme") == (
            f"ID: no obligation '{text}' in organization 'acme'."
        )
    assert refusal("payout", str(moved.pk), "--organization", "acme") == (
        f"ID: no payout '{moved.pk}' in organization 'acme'."
    )


def test_a_bad_model_or_organization(org):
    assert refusal("allocation", "1", "--organization", "acme") == (
        "MODEL: 'allocation' is not one of distribution, obligation, fulfillment, payout, distributor, apikey."
    )
    assert refusal("obligation", "1", "--organization", "nope") == (
        "--organization: no organization 'nope' (give its slug or id)."
    )
