"""Create the demo organization: a dozen collaborators, three distributors, back-dated credits and revenue.

Safe to run any number of times: every row is found by a natural key before it is created, and credits
carry idempotency keys, so a second run changes nothing.
"""

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from collaborators.models import Collaborator, CollaboratorAlias
from distributors.models import (
    DistributionResolver,
    Distributor,
    MetricType,
    PoolResolver,
    RevenueEntry,
    TiePolicy,
)
from distributors.services import distributor_save
from metrics.models import CreditSource
from metrics.services import metric_credit
from organizations.models import Organization

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


class Command(BaseCommand):
    help = "Create (or leave as is) the demo organization 'demo' with collaborators, distributors and credits."

    def add_arguments(self, parser):
        parser.add_argument("--no-staff", action="store_true", help="Do not create the demo staff login.")

    @transaction.atomic
    def handle(self, *args, **options):
        org, created = Organization.objects.get_or_create(
            slug="demo", defaults={"name": "Demo Organization", "timezone": "Europe/Paris"}
        )
        if not options["no_staff"]:
            user_model = get_user_model()
            if not user_model.objects.filter(username=STAFF_USERNAME).exists():
                user_model.objects.create_superuser(STAFF_USERNAME, "admin@example.com", STAFF_PASSWORD)

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

        now = timezone.now()
        local_now = now.astimezone(org.tzinfo)
        month_start = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        three_months_ago = (month_start - timedelta(days=80)).replace(day=1)

        share = self._distributor(
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
        bonus = self._distributor(
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
        podium = self._distributor(
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

        rng = random.Random(20261124)
        credit_count = 0
        start = min(share.starts_at, bonus.starts_at)
        span = (now - start).total_seconds()
        for n in range(240):
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
            credit_count += 0 if outcome.replayed else 1
        revenue_count = 0
        for n in range(60):
            at = share.starts_at + timedelta(seconds=rng.uniform(0, (now - share.starts_at).total_seconds()))
            _, made = RevenueEntry.objects.get_or_create(
                organization=org,
                reference=f"demo-order-{n:04d}",
                defaults={"amount": rng.randint(2000, 90000), "units": "USD", "occurred_at": at},
            )
            revenue_count += made

        summary = (
            f"demo organization {'created' if created else 'already there'}: {len(collaborators)} collaborators, "
            f"distributors {share.pk}, {bonus.pk}, {podium.pk}; {credit_count} new credit requests, "
            f"{revenue_count} new revenue entries"
        )
        self.stdout.write(summary)

    def _distributor(self, org, name, *, metric_types, **fields):
        distributor = Distributor.objects.filter(organization=org, name=name).first()
        if distributor:
            return distributor
        distributor = Distributor(organization=org, name=name, **fields)
        distributor.save()
        for metric_name, points in metric_types.items():
            MetricType.objects.create(distributor=distributor, name=metric_name, points=points)
        return distributor_save(distributor=distributor)
