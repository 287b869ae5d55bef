"""``manage.py create_api_key --organization SLUG_OR_ID --name NAME [--scope SCOPE ...]``

Prints the new key on stdout, alone on its line (so ``KEY=$(manage.py create_api_key ...)`` works), and
what was created on stderr. The key is shown this once: only its SHA-256 is stored. Scopes default to
``read``; ``--scope`` may be repeated (``--scope read --scope metrics:write``). An unknown organization or
scope is one readable line on stderr and exit status 1.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from organizations.management.base import OrganizationCommand
from organizations.models import ApiKeyScope
from organizations.services import api_key_create


class Command(OrganizationCommand):
    help = "Create an API key for an organization and print it (once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="What the key is for (shown in the admin).")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            metavar="SCOPE",
            help=f"Repeat for several; one of: {', '.join(ApiKeyScope.values)}. Default: read.",
        )

    def handle(self, *args, organization, **options):
        scopes = list(dict.fromkeys(options["scopes"] or [ApiKeyScope.READ.value]))
        unknown = [scope for scope in scopes if scope not in ApiKeyScope.values]
        if unknown:
            raise CommandError(f"Unknown scope '{unknown[0]}'; valid scopes: {', '.join(ApiKeyScope.values)}.")
        name = options["name"].strip()
        if not name:
            raise CommandError("--name must not be empty.")
        try:
            api_key, secret = api_key_create(organization=organization, name=name, scopes=scopes)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.write_summary(
            f"Created API key '{api_key.name}' ({api_key.prefix}) for {organization.slug} with scopes "
            f"{', '.join(scopes)}. It is shown only now:",
            data_on_stdout=True,  # stdout carries the key alone
        )
        self.stdout.write(secret)
