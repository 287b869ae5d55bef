"""``manage.py run_distributions``: options, output, idempotence, dry run, engine runs, failures, concurrency."""

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from distributions import trigger
from distributions.models import Allocation, Distribution, EngineRun, EngineRunStatus
from obligations.models import Obligation
from tests.distributions.helpers import (
    FEB_1,
    allocations_of,
    at,
    credit,
    pending,
    run_engine,
    strip_ids,
    table_counts,
    triggered,
)
from tests.factories import DistributorFactory
from tests.races import Race, run_together

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-04-15T09:00:00Z"


@pytest.fixture
def world(org, make_distributor, make_collaborators):
    """Three distributors overdue since February (one rolls over an empty January), one with no period yet."""
    ada, bob, cy = make_collaborators(3)
    proportional = make_distributor(name="proportional", pool_amount=10_001)
    rolling = make_distributor(
        name="rolling", distribution_resolver="topScoreWins", pool_amount=500, rollover_unearned=True
    )
    podium = make_distributor(name="podium", distribution_resolver="topN", top_n_weights=[60, 40], pool_amount=999)
    unopened = DistributorFactory(organization=org, name="unopened", starts_at=at("2026-03-01T00:00:00Z"))
    for when, who, points in [
        ("2026-01-03T00:00:00Z", ada, 7),
        ("2026-01-04T00:00:00Z", bob, 3),
        ("2026-02-10T00:00:00Z", cy, 4),
        ("2026-03-10T00:00:00Z", ada, 2),
        ("2026-03-11T00:00:00Z", bob, 2),
        ("2026-04-02T00:00:00Z", cy, 1),
    ]:
        for distributor in (proportional, podium):
            credit(who, distributor, points, at(when))
        if when >= "2026-02":  # the rolling distributor's January stays empty
            credit(who, rolling, points, at(when))
    return {"proportional": proportional, "rolling": rolling, "podium": podium, "unopened": unopened}


def snapshot() -> dict[str, list[dict]]:
    return {
        model.__name__: list(model.objects.order_by("pk").values()) for model in (Distribution, Allocation, Obligation)
    }


def call(*args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("run_distributions", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


@pytest.mark.django_db
def test_the_same_now_run_twice_changes_nothing(world):
    first = run_engine("--now", NOW)
    assert first["counts"]["triggered"] == 3 * 3 + 1  # Feb, Mar, Apr for three; Apr for the unopened one
    before = snapshot()

    second = run_engine("--now", NOW)

    assert second["counts"] == {"triggered": 0, "opened": 0, "skipped": 0, "errors": 0}
    assert snapshot() == before


@pytest.mark.django_db
def test_dry_run_writes_nothing_and_prints_exactly_what_the_real_run_writes(world):
    counts = table_counts()

    dry = run_engine("--dry-run", "--now", NOW)

    assert table_counts() == counts
    assert dry["dry_run"] is True and dry["engine_run_id"] is None

    real = run_engine("--now", NOW)

    assert real["dry_run"] is False
    assert strip_ids(dry["distributions"]) == strip_ids(real["distributions"])
    assert strip_ids(dry["opened"]) == strip_ids(real["opened"])
    assert dry["counts"] == real["counts"]
    # ... and what the real run reports is what it wrote.
    for plan in real["distributions"]:
        distribution = Distribution.objects.get(pk=plan["distribution_id"])
        assert (distribution.pool, distribution.value, distribution.unallocated, distribution.carried_forward) == (
            plan["pool"],
            plan["value"],
            plan["unallocated"],
            plan["carried_forward"],
        )
        assert (distribution.rolled_over, distribution.status) == (plan["rolled_over"], plan["status"])
        assert allocations_of(distribution) == [
            (s["collaborator_id"], s["value"], s["score"], s["rank"]) for s in plan["shares"]
        ]


@pytest.mark.django_db
def test_dry_run_simulates_a_catch_up_chain_with_rollover(world):
    dry = run_engine("--dry-run", "--now", NOW, "--distributor", str(world["rolling"].pk))

    january, february, march = dry["distributions"]
    assert january["distribution_id"] == pending(world["rolling"]).pk
    assert (january["value"], january["carried_forward"]) == (0, 500)
    assert (february["distribution_id"], february["rolled_over"], february["pool"]) == (None, 500, 1000)
    assert february["shares"] == [{"collaborator_id": february["shares"][0]["collaborator_id"], "score": 4,
                                   "value": 1000, "rank": 1}]  # fmt: skip
    assert march["period_start"] == february["trigger_date"]
    assert triggered(world["rolling"]) == []


@pytest.mark.django_db
def test_dry_run_prints_each_distribution_its_pool_and_every_share(make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=1000)
    ada, bob = make_collaborators(2)
    credit(ada, distributor, 3, at("2026-01-10T00:00:00Z"))
    credit(bob, distributor, 1, at("2026-01-11T00:00:00Z"))

    stdout, _ = call("--dry-run", "--now", "2026-02-01T00:00:00Z")

    lines = stdout.splitlines()
    assert lines[0].startswith(f"distribution {pending(distributor).pk} · distributor {distributor.pk}")
    # Amounts as the admin shows them (distributors.units.format_amount): 1000 minor units are 10.00 USD.
    assert (
        "pool 10.00 USD (period 10.00 USD + rolled over 0.00 USD) -> value 10.00 USD, unallocated 0.00 USD" in lines[1]
    )
    shares = [line.split() for line in lines if line.split()[:2] in (["1", str(ada.pk)], ["2", str(bob.pk)])]
    assert shares == [["1", str(ada.pk), "3", "7.50", "USD"], ["2", str(bob.pk), "1", "2.50", "USD"]]
    assert lines[-1].startswith("run_distributions --dry-run: would trigger 1, open 1, 0 would fail")
    assert not EngineRun.objects.exists() and triggered(distributor) == []


@pytest.mark.django_db
def test_json_output_shape(make_distributor, make_collaborators):
    distributor = make_distributor(pool_amount=1000)
    [ada] = make_collaborators(1)
    credit(ada, distributor, 2, at("2026-01-10T00:00:00Z"))

    stdout, stderr = call("--json", "--now", "2026-02-01T00:00:00Z")

    summary = json.loads(stdout)  # stdout is exactly one JSON document; the summary line went to stderr
    assert stderr.startswith("run_distributions: triggered 1, opened 1")
    assert set(summary) == {
        "dry_run",
        "as_of",
        "engine_run_id",
        "status",
        "started_at",
        "finished_at",
        "counts",
        "distributions",
        "opened",
        "skipped",
        "errors",
    }
    assert summary["as_of"] == "2026-02-01T00:00:00Z"
    assert summary["status"] == "succeeded"
    assert summary["engine_run_id"] == EngineRun.objects.get().pk
    [plan] = summary["distributions"]
    assert plan == {
        "distribution_id": triggered(distributor)[0].pk,
        "distributor_id": distributor.pk,
        "distributor_name": distributor.name,
        "organization": "acme",
        "units": "USD",
        "resolver": "performanceSharedPool",
        "period_start": "2026-01-01T00:00:00Z",
        "trigger_date": "2026-02-01T00:00:00Z",
        "rolled_over": 0,
        "period_pool": 1000,
        "pool_derivation": {
            "pool_resolver": "fixed",
            "pool_percent_bp": None,
            "revenue_entries": None,
            "revenue_total": None,
        },
        "pool": 1000,
        "value": 1000,
        "unallocated": 0,
        "carried_forward": 0,
        "status": "processing",
        "obligation_status": "pending",
        "tie_policy": "split",
        "top_n_weights": None,
        "scorer_count": 1,
        "share_denominator": 2,
        "next_period": {"trigger_date": "2026-03-01T00:00:00Z", "rolled_over": 0},
        "shares": [{"collaborator_id": ada.pk, "score": 2, "value": 1000, "rank": 1}],
    }
    assert summary["opened"] == [
        {
            "distribution_id": pending(distributor).pk,
            "distributor_id": distributor.pk,
            "period_start": "2026-02-01T00:00:00Z",
            "trigger_date": "2026-03-01T00:00:00Z",
            "rolled_over": 0,
        }
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-02-01T00:00:00", "--now: '2026-02-01T00:00:00' has no UTC offset"),
        ("2026-02-01", "--now: '2026-02-01' has no UTC offset"),
        ("next tuesday", "--now: 'next tuesday' is not an ISO 8601 date-time"),
        # Valid aware date-times, but outside the years the database stores once in UTC (was an OverflowError).
        ("0001-01-01T00:00:00+14:00", "--now: '0001-01-01T00:00:00+14:00' is out of range"),
        ("9999-12-31T23:59:59-12:00", "--now: '9999-12-31T23:59:59-12:00' is out of range"),
    ],
)
def test_a_naive_unparsable_or_out_of_range_now_is_refused(value, message):
    with pytest.raises(CommandError, match=message.replace("+", r"\+")):
        call("--now", value)
    assert not EngineRun.objects.exists()


def test_a_future_now_is_refused_and_writes_nothing(make_distributor):
    make_distributor()
    with pytest.raises(CommandError, match="--now: '2999-01-01T00:00:00Z' is in the future"):
        call("--now", "2999-01-01T00:00:00Z")
    assert not EngineRun.objects.exists()
    assert list(Distribution.objects.values_list("status", flat=True)) == ["pending"]


def test_a_bad_now_on_the_command_line_is_one_line_and_a_non_zero_exit():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "run_distributions", "--now", "2026-02-01T00:00"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "CommandError: --now: '2026-02-01T00:00' has no UTC offset; add one, e.g. 2026-04-01T00:00:00Z or "
        "2026-04-01T00:00:00+02:00."
    ]


@pytest.mark.django_db
def test_an_engine_run_is_recorded_with_its_counts(world):
    summary = run_engine("--now", NOW, "--organization", "acme")

    run = EngineRun.objects.get()
    assert run.pk == summary["engine_run_id"]
    assert run.status == EngineRunStatus.SUCCEEDED
    assert run.as_of == at(NOW)
    assert run.started_at <= run.finished_at
    assert (run.triggered_count, run.opened_count, run.skipped_count, run.error_count) == (
        summary["counts"]["triggered"],
        summary["counts"]["opened"],
        0,
        0,
    )
    assert run.opened_count == run.triggered_count + 1  # every trigger opens the next; plus one first period
    assert run.errors == []
    assert run.options["organization"] == "acme" and run.options["now"] == "2026-04-15T09:00:00Z"
    assert run.pid == os.getpid() and run.host


@pytest.mark.django_db
def test_a_failing_distribution_is_recorded_the_others_still_run_and_the_exit_is_non_zero(world, monkeypatch):
    broken = world["podium"]
    real_plan = trigger.distribution_plan

    def plan(*, distributor, **kwargs):
        if distributor.pk == broken.pk:
            raise RuntimeError("the split service is down")
        return real_plan(distributor=distributor, **kwargs)

    monkeypatch.setattr(trigger, "distribution_plan", plan)
    stdout, stderr = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match=r"failed 1"):
        call_command("run_distributions", "--now", NOW, stdout=stdout, stderr=stderr)

    assert f"distribution {pending(broken).pk} (distributor {broken.pk}" in stderr.getvalue()
    assert "RuntimeError: the split service is down" in stderr.getvalue()
    assert triggered(broken) == [] and pending(broken).trigger_date == FEB_1  # rolled back whole
    assert len(triggered(world["proportional"])) == 3 and len(triggered(world["rolling"])) == 3
    run = EngineRun.objects.get()
    assert (run.status, run.error_count) == (EngineRunStatus.FAILED, 1)
    assert run.errors[0]["distributor_id"] == broken.pk
    assert run.errors[0]["error"] == "RuntimeError: the split service is down"

    monkeypatch.undo()
    assert run_engine("--now", NOW)["counts"]["triggered"] == 3  # the next run catches it up


@pytest.mark.django_db
def test_organization_and_distributor_narrow_the_run(world, other_org):
    foreign = DistributorFactory(organization=other_org)

    assert run_engine("--now", NOW, "--distributor", str(world["podium"].pk))["counts"]["triggered"] == 3
    assert triggered(world["proportional"]) == []
    assert run_engine("--now", NOW, "--organization", "other")["counts"]["triggered"] == 3  # Feb, Mar, Apr
    assert triggered(world["proportional"]) == [] and len(triggered(foreign)) == 3

    with pytest.raises(CommandError, match=r"^--organization: no organization 'nope' \(give its slug or id\)\.$"):
        call("--now", NOW, "--organization", "nope")
    with pytest.raises(CommandError, match=f"^--distributor: no distributor {foreign.pk} in organization 'acme'.$"):
        call("--now", NOW, "--organization", "acme", "--distributor", str(foreign.pk))
    with pytest.raises(CommandError, match=r"^--distributor: 'podium' is not a distributor id \(a whole number\)\.$"):
        call("--now", NOW, "--distributor", "podium")


# --------------------------------------------------------------------------- concurrency (PostgreSQL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_in_threads_trigger_each_distribution_once(world, monkeypatch):
    """Each thread has its own connection; a slowed plan holds each lock long enough for the other to meet it."""
    real_plan = trigger.distribution_plan

    def slow_plan(**kwargs):
        time.sleep(0.05)
        return real_plan(**kwargs)

    monkeypatch.setattr(trigger, "distribution_plan", slow_plan)
    run_together(2, lambda _: call("--now", NOW))

    runs = list(EngineRun.objects.all())
    assert len(runs) == 2 and all(run.error_count == 0 for run in runs)
    assert sum(run.triggered_count for run in runs) == 10  # each distribution triggered by exactly one run
    assert all(run.triggered_count > 0 for run in runs)  # and both runs really took part
    assert Distribution.objects.exclude(status="pending").count() == 10
    assert Obligation.objects.count() == Allocation.objects.count() == 13


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_run_processes_trigger_each_distribution_once(world):
    with Race(timeout=120) as race:
        processes = [race.process("run_distributions", "--now", NOW, "--json") for _ in range(2)]
    outputs = [(process.stdout, process.stderr) for process in processes]

    assert [process.returncode for process in processes] == [0, 0], outputs
    summaries = [json.loads(stdout) for stdout, _ in outputs]
    assert sum(summary["counts"]["triggered"] for summary in summaries) == 10
    assert sum(summary["counts"]["errors"] for summary in summaries) == 0
    triggered_ids = [plan["distribution_id"] for summary in summaries for plan in summary["distributions"]]
    assert len(triggered_ids) == len(set(triggered_ids)) == 10
    assert Obligation.objects.count() == Allocation.objects.count() == 13
