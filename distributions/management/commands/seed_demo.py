"""Create the demo organization: a dozen collaborators, three distributors, back-dated credits and revenue,
and the demo API key.

Safe to run any number of times: every row is found by a natural key before it is created, and credits
carry idempotency keys, so a second run changes nothing. ``handle`` runs the named steps below in one
transaction, in a fixed order (the random generator is seeded, so every database gets the same demo).

The demo API key is the same on every run and every machine (``DEMO_API_KEY``, printed by ``./dev up`` and
written in the README), stored hashed like any key. Its secret is public, so it is made only where the
``SECRET_KEY`` is a development one (``django-insecure…``: ``config.settings.local`` and ``test``), which
``config.settings.production`` refuses to start with; elsewhere the step is skipped and says so.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from collaborators.models import Collaborator, CollaboratorAlias
from distributions.services import distributor_save_with_periods
from distributors.models import (
    DistributionResolver,
    Distributor,
    MetricType,
    PoolResolver,
    RevenueEntry,
    TiePolicy,
)
from metrics.models import CreditSource
from metrics.services import metric_credit
from organizations.management.base import OrganizationCommand
from organizations.models import ApiKey, ApiKeyScope, Organization, hash_api_key

DEMO_SLUG = "demo"
DEMO_PEOPLE = [
    ("Ada Lovelace", "ada"),
    ("Alan Turing", "alan"),
    ("Grace Hopper", "grace"),
    ("Edsger Dijkstra", "edsger"),
    ("Barbara Liskov", "barbara"),
    ("Donald Knuth", "don"),
    ("Margaret Hamilton", "maggie"),
    ("Ken Thompson", "ken"),
    ("Frances Allen", "fran"),
    ("John Backus", "john"),
    ("Radia Perlman", "radia"),
    ("Tony Hoare", "tony"),
]
STAFF_USERNAME = "admin"
STAFF_PASSWORD = "admin"
RANDOM_SEED = 20261124
CREDIT_COUNT = 240
REVENUE_COUNT = 60
# Public on purpose (README, ./dev up): a key of the demo organization for trying the API locally. The prefix
# holds characters a generated prefix (hex) never has, so it cannot collide with a real key.
DEMO_API_KEY = "demo-apikey0.public-demo-secret-for-local-use-only"
DEMO_API_KEY_PREFIX = DEMO_API_KEY.partition(".")[0]
DEMO_API_KEY_NAME = "Demo key (seed_demo; its secret is public, local use only)"
DEMO_API_KEY_SCOPES = [ApiKeyScope.READ.value, ApiKeyScope.METRICS_WRITE.value]


@dataclass(frozen=True)
class DemoDistributors:
    share: Distributor
    bonus: Distributor
    podium: Distributor


def demo_organization() -> tuple[Organization, bool]:
    """The demo organization, and whether this run created it."""
    return Organization.objects.get_or_create(
        slug=DEMO_SLUG, defaults={"name": "Demo Organization", "timezone": "Europe/Paris"}
    )


def demo_staff_login() -> None:
    """The ``admin``/``admin`` superuser, unless a user of that name exists."""
    user_model = get_user_model()
    if not user_model.objects.filter(username=STAFF_USERNAME).exists():
        user_model.objects.create_superuser(STAFF_USERNAME, "admin@example.com", STAFF_PASSWORD)


def demo_api_key_allowed() -> bool:
    """Whether these settings may hold the public demo key: only with a development ``SECRET_KEY``."""
    return settings.SECRET_KEY.startswith("django-insecure")


def demo_api_key(org: Organization) -> tuple[ApiKey | None, str]:
    """The demo organization's ``DEMO_API_KEY`` (created once, read and metrics:write) and what this run did:
    ``created``, ``kept``, ``revoked`` (staff revoked it: left so), or ``skipped`` (not development settings)."""
    if not demo_api_key_allowed():
        return None, "skipped (SECRET_KEY is not a development key: production settings)"
    api_key = ApiKey.objects.filter(prefix=DEMO_API_KEY_PREFIX).first()
    if api_key is None:
        api_key = ApiKey(
            organization=org,
            name=DEMO_API_KEY_NAME,
            scopes=list(DEMO_API_KEY_SCOPES),
            prefix=DEMO_API_KEY_PREFIX,
            key_hash=hash_api_key(DEMO_API_KEY),
        )
        api_key.full_clean()
        api_key.save()
        return api_key, "created"
    if api_key.organization_id != org.pk or not api_key.matches(DEMO_API_KEY):
        raise CommandError(
            f"API key {api_key.pk} has the demo prefix '{DEMO_API_KEY_PREFIX}' but is not the demo key; delete it."
        )
    return api_key, "kept" if api_key.is_active else "revoked (create one with create_api_key)"


def demo_collaborators(org: Organization) -> list[Collaborator]:
    """One collaborator per ``DEMO_PEOPLE`` entry, each with a tracking alias ``REF001``, ``REF002``, ..."""
    collaborators = []
    for index, (name, nickname) in enumerate(DEMO_PEOPLE, start=1):
        collaborator, _ = Collaborator.objects.get_or_create(
            organization=org,
            email=f"{nickname}@example.com",
            defaults={"full_name": name, "nickname": nickname},
        )
        CollaboratorAlias.objects.get_or_create(
            organization=org,
            type="tracking",
            code=f"REF{index:03d}",
            defaults={"collaborator": collaborator},
        )
        collaborators.append(collaborator)
    return collaborators


def demo_distributor(org: Organization, name: str, *, metric_types: dict[str, int], **fields) -> Distributor:
    """The organization's distributor called ``name``, created (with its metric types) when missing."""
    distributor = Distributor.objects.filter(organization=org, name=name).first()
    if distributor:
        return distributor
    distributor = Distributor(organization=org, name=name, **fields)
    distributor.save()
    for metric_name, points in metric_types.items():
        MetricType.objects.create(distributor=distributor, name=metric_name, points=points)
    return distributor_save_with_periods(distributor=distributor)


def demo_distributors(org: Organization, now: datetime) -> DemoDistributors:
    """A monthly revenue share, a weekly top-scorer bonus and a monthly points podium, started in the past."""
    month_start = now.astimezone(org.tzinfo).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    three_months_ago = (month_start - timedelta(days=80)).replace(day=1)
    share = demo_distributor(
        org,
        "Monthly revenue share",
        description="10 % of the month's revenue, shared in proportion to each affiliate's points.",
        units="USD",
        pool_resolver=PoolResolver.REVENUE_SHARE,
        pool_percent_bp=1000,
        distribution_resolver=DistributionResolver.PERFORMANCE_SHARED_POOL,
        schedule="monthly",
        starts_at=three_months_ago,
        metric_types={"sale": 10, "signup": 2, "manual": 1},
    )
    bonus = demo_distributor(
        org,
        "Weekly top scorer bonus",
        description="A fixed 250.00 USD bonus to the week's top scorer; ties share it.",
        units="USD",
        pool_resolver=PoolResolver.FIXED,
        pool_amount=25000,
        distribution_resolver=DistributionResolver.TOP_SCORE_WINS,
        tie_policy=TiePolicy.SPLIT,
        schedule="weekly",
        rollover_unearned=True,
        starts_at=month_start - timedelta(weeks=5),
        metric_types={"sale": 1, "manual": 1},
    )
    podium = demo_distributor(
        org,
        "Monthly podium (points)",
        description="10,000 points per month: 50/30/20 to the top three.",
        units="points",
        pool_resolver=PoolResolver.FIXED,
        pool_amount=10000,
        distribution_resolver=DistributionResolver.TOP_N,
        top_n_weights=[50, 30, 20],
        tie_policy=TiePolicy.SPLIT,
        schedule="monthly",
        starts_at=three_months_ago,
        metric_types={"signup": 1},
    )
    return DemoDistributors(share=share, bonus=bonus, podium=podium)


def demo_credits(
    org: Organization, collaborators: list[Collaborator], *, start: datetime, now: datetime, rng: random.Random
) -> int:
    """``CREDIT_COUNT`` credits back-dated between ``start`` and ``now``; the number newly made (replays of
    an earlier run, found by their idempotency keys, count nothing)."""
    made = 0
    span = (now - start).total_seconds()
    for n in range(CREDIT_COUNT):
        collaborator = collaborators[rng.randrange(len(collaborators))]
        metric = rng.choice(["sale", "sale", "signup", "manual"])
        at = start + timedelta(seconds=rng.uniform(0, span))
        outcome = metric_credit(
            organization=org,
            collaborator=collaborator,
            metric_type=metric,
            quantity=rng.randint(1, 5),
            source=CreditSource.SEED,
            actor="seed_demo",
            idempotency_key=f"seed-demo-{n}",
            now=at,
        )
        made += 0 if outcome.replayed else 1
    return made


def demo_revenue(org: Organization, *, start: datetime, now: datetime, rng: random.Random) -> int:
    """``REVENUE_COUNT`` USD revenue entries between ``start`` and ``now``; the number newly created."""
    made = 0
    for n in range(REVENUE_COUNT):
        at = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds()))
        _, created = RevenueEntry.objects.get_or_create(
            organization=org,
            reference=f"demo-order-{n:04d}",
            defaults={"amount": rng.randint(2000, 90000), "units": "USD", "occurred_at": at},
        )
        made += created
    return made


class Command(OrganizationCommand):
    help = "Create (or leave as is) the demo organization 'demo' with collaborators, distributors and credits."
    takes_organization = False  # it creates its own organization

    def add_arguments(self, parser):
        parser.add_argument("--no-staff", action="store_true", help="Do not create the demo staff login.")
        parser.add_argument(
            "--print-api-key",
            action="store_true",
            help="Print the demo API key alone on stdout (nothing when it is revoked or skipped); the summary "
            "line then goes to stderr. ./dev up uses it.",
        )

    @transaction.atomic
    def handle(self, *args, **options):
        org, created = demo_organization()
        if not options["no_staff"]:
            demo_staff_login()
        collaborators = demo_collaborators(org)
        now = timezone.now()
        distributors = demo_distributors(org, now)
        rng = random.Random(RANDOM_SEED)
        start = min(distributors.share.starts_at, distributors.bonus.starts_at)
        credit_count = demo_credits(org, collaborators, start=start, now=now, rng=rng)
        revenue_count = demo_revenue(org, start=distributors.share.starts_at, now=now, rng=rng)
        api_key, key_outcome = demo_api_key(org)
        self.write_summary(
            f"demo organization {'created' if created else 'already there'}: {len(collaborators)} collaborators, "
            f"distributors {distributors.share.pk}, {distributors.bonus.pk}, {distributors.podium.pk}; "
            f"demo API key {DEMO_API_KEY_PREFIX} {key_outcome}; "
            f"{credit_count} new credit requests, {revenue_count} new revenue entries",
            data_on_stdout=options["print_api_key"],
        )
        if options["print_api_key"] and api_key is not None and api_key.is_active:
            self.stdout.write(DEMO_API_KEY)
