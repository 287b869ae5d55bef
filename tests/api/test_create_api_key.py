"""``manage.py create_api_key``: prints the key once, stores only its hash, refuses bad input in one line."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from organizations.models import ApiKey
from tests.api.helpers import BASE, client_for

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_the_key_once_and_stores_its_hash(organization):
    out, err = run("--organization", "acme", "--name", "CRM sync")
    key = out.strip()
    assert out.count("\n") == 1 and "." in key
    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.organization, api_key.scopes) == ("CRM sync", organization, ["read"])
    assert api_key.matches(key) and key not in api_key.key_hash and api_key.prefix in err
    assert key not in err

    class Holder:
        secret = key

    assert client_for(Holder).get(f"{BASE}/distributions").status_code == 200


def test_several_scopes(organization):
    run("--organization", "acme", "--name", "Writer", "--scope", "read", "--scope", "metrics:write", "--scope", "read")
    assert ApiKey.objects.get().scopes == ["read", "metrics:write"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--organization", "nope", "--name", "x"], "--organization: no organization 'nope' (give its slug or id)."),
        (["--organization", "acme", "--name", "x", "--scope", "admin"], "Unknown scope 'admin'"),
        (["--organization", "acme", "--name", "  "], "--name must not be empty."),
    ],
)
def test_bad_input_is_one_readable_line(organization, args, message):
    with pytest.raises(CommandError) as excinfo:
        run(*args)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
    assert not ApiKey.objects.exists()
