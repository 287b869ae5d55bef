"""Helpers of the proofs: compare engine results across runs, check that nothing is half written."""

from distributions.models import Allocation, Distribution
from obligations.models import Obligation


def results_snapshot() -> dict:
    """Every triggered distribution and its shares, by natural keys, so that two runs can be compared."""
    distributions = {
        (d.distributor_id, d.trigger_date.isoformat()): (d.status, d.pool, d.value, d.unallocated, d.rolled_over)
        for d in Distribution.objects.all()
    }
    shares = sorted(
        Allocation.objects.values_list(
            "distribution__distributor_id", "distribution__trigger_date", "collaborator_id", "value", "score", "rank"
        )
    )
    return {"distributions": distributions, "shares": shares}


def assert_nothing_half_written() -> None:
    """A distribution is untouched (pending, nothing allocated) or fully triggered (shares add up)."""
    for distribution in Distribution.objects.all():
        allocated = sum(Allocation.objects.filter(distribution=distribution).values_list("value", flat=True))
        if distribution.status == "pending":
            assert distribution.pool is None and allocated == 0, distribution
        else:
            assert distribution.pool is not None and allocated == distribution.value, distribution
    # Every obligation a distribution created belongs to an allocation, and vice versa (one-to-one).
    assert not Obligation.objects.filter(award_type="distribution", allocation__isnull=True).exists()
