"""Tests of the pure split rules (distributions.engine.splits): examples, validation and properties.

No database: these tests never touch the ORM.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributions.engine.splits import (
    RESOLVERS,
    TIE_POLICIES,
    ScoredCollaborator,
    Share,
    SplitResult,
    split_pool,
)

BASE = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
PLUS_2 = timezone(timedelta(hours=2))
MINUS_5 = timezone(timedelta(hours=-5))
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def sc(collaborator_id: int, score: int, minutes: int = 0) -> ScoredCollaborator:
    return ScoredCollaborator(collaborator_id, score, BASE + timedelta(minutes=minutes))


def values(result: SplitResult) -> dict[int, int]:
    return {share.collaborator_id: share.value for share in result.shares}


# --------------------------------------------------------------------------- reference model
#
# An independent, deliberately naive (quadratic, no shortcuts) model of the specification: the exact
# rational share of every non-zero scorer as (numerator, denominator) in pool units, plus the exact
# unfilled amount for topN.


def reference_order(scored: list[ScoredCollaborator]) -> list[ScoredCollaborator]:
    """Tie-break order with plain aware-datetime comparison (the module compares instants its own way)."""
    return sorted((s for s in scored if s.score > 0), key=lambda s: (-s.score, s.first_credit_at, s.collaborator_id))


def exact_shares(
    pool: int, scored: list[ScoredCollaborator], resolver: str, tie_policy: str, weights: list[int]
) -> tuple[list[tuple[int, int, int]], tuple[int, int]]:
    """([(collaborator_id, numerator, denominator)] in tie-break order, (unfilled_num, unfilled_den))."""
    order = reference_order(scored)
    if pool == 0 or not order:
        return [], (pool, 1)
    n = len(order)
    rows: list[tuple[int, int, int]] = []
    unfilled = (0, 1)
    if resolver == "performanceSharedPool":
        total = sum(s.score for s in order)
        rows = [(s.collaborator_id, pool * s.score, total) for s in order]
    elif resolver == "sharedEngagementPool":
        rows = [(s.collaborator_id, pool, n) for s in order]
    elif resolver == "topScoreWins":
        top = max(s.score for s in order)
        winners = [s for s in order if s.score == top] if tie_policy == "split" else order[:1]
        winner_ids = {s.collaborator_id for s in winners}
        rows = [(s.collaborator_id, pool if s.collaborator_id in winner_ids else 0, len(winners)) for s in order]
    elif resolver == "topN":
        unfilled = (pool * sum(weights[n:]), 100)
        for place, s in enumerate(order):
            if tie_policy == "earliest":
                weight = weights[place] if place < len(weights) else 0
                rows.append((s.collaborator_id, pool * weight, 100))
            else:
                first_place = sum(1 for o in order if o.score > s.score)  # 0-based
                group_size = sum(1 for o in order if o.score == s.score)
                group_weight = sum(weights[first_place : first_place + group_size])
                rows.append((s.collaborator_id, pool * group_weight, 100 * group_size))
    else:  # pragma: no cover
        raise AssertionError(resolver)
    return rows, unfilled


def floor_div(num: int, den: int) -> int:
    return num // den


def ceil_div(num: int, den: int) -> int:
    return -(-num // den)


def assert_split_invariants(
    pool: int, scored: list[ScoredCollaborator], resolver: str, tie_policy: str, weights: list[int]
) -> SplitResult:
    result = split_pool(pool, scored, resolver=resolver, tie_policy=tie_policy, weights=weights)
    got = values(result)
    by_id = {s.collaborator_id: s for s in scored}
    nonzero = reference_order(scored)

    # Totals: exact integers, nothing created or lost.
    assert result.unallocated >= 0
    assert sum(got.values()) + result.unallocated == pool
    if resolver != "topN" and nonzero:
        assert result.unallocated == 0  # whole pool distributed among >= 1 scorer
        assert sum(got.values()) == pool
    if resolver == "topN" and len(nonzero) >= len(weights):
        assert result.unallocated == 0

    # Shares: strictly positive, unique, only non-zero scorers, scores echoed.
    assert len(got) == len(result.shares)
    for share in result.shares:
        assert isinstance(share, Share)
        assert type(share.value) is int
        assert share.value > 0
        assert by_id[share.collaborator_id].score == share.score > 0

    # Order: tie-break order. Rank: competition ranking among non-zero scorers.
    expected_order = [s.collaborator_id for s in nonzero if s.collaborator_id in got]
    assert [share.collaborator_id for share in result.shares] == expected_order
    for share in result.shares:
        assert share.rank == 1 + sum(1 for s in nonzero if s.score > share.score)
    ranks = [share.rank for share in result.shares]
    assert ranks == sorted(ranks)

    # Each value within one unit of its exact share (floor or ceiling, by integer arithmetic), and the
    # leftover units went by the largest-remainder rule with tie-break order (topN's unfilled bucket last).
    rows, (unfilled_num, unfilled_den) = exact_shares(pool, scored, resolver, tie_policy, weights)
    assert {cid for cid, num, _den in rows if num > 0} >= set(got)
    recipients = [(cid, num, den, got.get(cid, 0)) for cid, num, den in rows]
    if resolver == "topN" and rows:
        recipients.append(("unallocated", unfilled_num, unfilled_den, result.unallocated))
    for cid, num, den, value in recipients:
        assert floor_div(num, den) <= value <= ceil_div(num, den), (cid, num, den, value)
        assert num - den < value * den < num + den
    rounded_up = [(pos, num % den, den) for pos, (_c, num, den, v) in enumerate(recipients) if v * den > num]
    rounded_down = [(pos, num % den, den) for pos, (_c, num, den, v) in enumerate(recipients) if v * den < num]
    for up_pos, up_rem, up_den in rounded_up:
        for down_pos, down_rem, down_den in rounded_down:
            # compare fractional remainders up_rem/up_den vs down_rem/down_den by cross-multiplication
            assert up_rem * down_den >= down_rem * up_den
            if up_rem * down_den == down_rem * up_den:
                assert up_pos < down_pos
    return result


# --------------------------------------------------------------------------- strategies

moments = st.builds(
    lambda minutes, tz: (BASE + timedelta(minutes=minutes)).astimezone(tz),
    st.integers(0, 4),
    st.sampled_from([UTC, PLUS_2, MINUS_5]),
)


@st.composite
def scored_lists(draw, max_size: int = 20) -> list[ScoredCollaborator]:
    size = draw(st.integers(0, max_size))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=size, max_size=size, unique=True))
    # Small score ranges force many ties; large ones exercise proportional remainders.
    scores = draw(st.sampled_from([st.integers(0, 3), st.integers(0, 50), st.integers(0, 10**9)]))
    return [ScoredCollaborator(cid, draw(scores), draw(moments)) for cid in ids]


@st.composite
def place_weights(draw) -> list[int]:
    places = draw(st.integers(1, 6))
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=places - 1, max_size=places - 1)))
    bounds = [0, *cuts, 100]
    return [high - low for low, high in pairwise(bounds)]


pools = st.one_of(st.integers(0, 1_000), st.integers(0, 10**15))


# --------------------------------------------------------------------------- property tests


@pytest.mark.parametrize("resolver", RESOLVERS)
@PROPERTY_SETTINGS
@given(
    tie_policy=st.sampled_from(TIE_POLICIES),
    pool=pools,
    scored=scored_lists(),
    weights=place_weights(),
    zero_ids=st.lists(st.integers(20_000, 30_000), max_size=4, unique=True),
    data=st.data(),
)
def test_split_properties(resolver, tie_policy, pool, scored, weights, zero_ids, data):
    """One hypothesis run per resolver checks every property (cheaper than one run per property)."""
    # Totals exact, shares positive, order, ranks, floor/ceiling and largest-remainder rule (see helper).
    expected = assert_split_invariants(pool, scored, resolver, tie_policy, weights)

    # Permuting the input (and passing it as a one-shot iterator / tuple weights) never changes the output.
    permuted = data.draw(st.permutations(scored), label="permuted")
    again = split_pool(pool, iter(permuted), resolver=resolver, tie_policy=tie_policy, weights=tuple(weights))
    assert again == expected

    # Zero scorers never earn and change nothing; their first_credit_at may be anything, even missing.
    zeros = [ScoredCollaborator(cid, 0, None) for cid in zero_ids]  # type: ignore[arg-type]
    with_zeros = split_pool(pool, zeros + permuted, resolver=resolver, tie_policy=tie_policy, weights=weights)
    assert with_zeros == expected
    zero_scorers = {s.collaborator_id for s in scored if s.score == 0}
    assert not zero_scorers & {share.collaborator_id for share in expected.shares}


@PROPERTY_SETTINGS
@given(pool=pools, scored=scored_lists(), weights=place_weights())
def test_top_score_wins_pays_only_top_scorers(pool, scored, weights):
    top = max((s.score for s in scored), default=0)
    for policy in TIE_POLICIES:
        result = split_pool(pool, scored, resolver="topScoreWins", tie_policy=policy, weights=weights)
        assert all(share.score == top and share.rank == 1 for share in result.shares)
        if policy == "earliest" and pool and top:
            assert [share.collaborator_id for share in result.shares] == [reference_order(scored)[0].collaborator_id]


@PROPERTY_SETTINGS
@given(pool=pools, scored=scored_lists(), weights=place_weights())
def test_top_n_earliest_pays_at_most_n_and_split_never_pays_below_place_n(pool, scored, weights):
    earliest = split_pool(pool, scored, resolver="topN", tie_policy="earliest", weights=weights)
    assert len(earliest.shares) <= len(weights)
    split = split_pool(pool, scored, resolver="topN", tie_policy="split", weights=weights)
    assert all(share.rank <= len(weights) for share in split.shares)


# --------------------------------------------------------------------------- examples: rounding


def test_proportional_exact_split():
    result = split_pool(1000, [sc(1, 500), sc(2, 300), sc(3, 200)], resolver="performanceSharedPool")
    assert result == SplitResult(
        shares=[Share(1, 500, 500, 1), Share(2, 300, 300, 2), Share(3, 200, 200, 3)], unallocated=0
    )


def test_proportional_leftover_unit_goes_to_largest_remainder():
    # Exact shares 500.5 / 300.3 / 200.2: floors sum to 1000, the one leftover unit goes to .5.
    result = split_pool(1001, [sc(3, 200), sc(2, 300), sc(1, 500)], resolver="performanceSharedPool")
    assert values(result) == {1: 501, 2: 300, 3: 200}
    assert result.unallocated == 0


def test_proportional_largest_remainder_beats_tie_break_order():
    # Scores 1/1/1/2 sharing 11: exact 2.2, 2.2, 2.2, 4.4 -> floors 2, 2, 2, 4 = 10; the leftover unit
    # goes to the largest remainder (.4, collaborator 4).
    result = split_pool(
        11, [sc(1, 1), sc(2, 1), sc(3, 1), sc(4, 2)], resolver="performanceSharedPool", tie_policy="earliest"
    )
    assert values(result) == {4: 5, 1: 2, 2: 2, 3: 2}
    # 13 -> exact 2.6, 2.6, 2.6, 5.2: floors 2,2,2,5 = 11, two units to the .6 remainders in tie-break order.
    result = split_pool(13, [sc(1, 1, minutes=5), sc(2, 1), sc(3, 1), sc(4, 2)], resolver="performanceSharedPool")
    assert [(s.collaborator_id, s.value) for s in result.shares] == [(4, 5), (2, 3), (3, 3), (1, 2)]


def test_equal_split_extra_unit_goes_by_tie_break_order():
    # 100 / 3 = 33.33: one leftover unit, equal remainders -> the first in tie-break order.
    scored = [sc(7, 1), sc(8, 5), sc(9, 3)]
    result = split_pool(100, scored, resolver="sharedEngagementPool")
    assert [(s.collaborator_id, s.value, s.rank) for s in result.shares] == [(8, 34, 1), (9, 33, 2), (7, 33, 3)]

    # Same score: earlier first credit wins the unit ...
    scored = [sc(1, 4, minutes=10), sc(2, 4, minutes=5), sc(3, 4, minutes=20)]
    result = split_pool(100, scored, resolver="sharedEngagementPool")
    assert [(s.collaborator_id, s.value, s.rank) for s in result.shares] == [(2, 34, 1), (1, 33, 1), (3, 33, 1)]

    # ... and with the same instant (even written in another time zone), the lower id.
    same_instant = BASE.astimezone(PLUS_2)
    scored = [ScoredCollaborator(30, 4, same_instant), ScoredCollaborator(20, 4, BASE), sc(10, 4, minutes=1)]
    result = split_pool(100, scored, resolver="sharedEngagementPool")
    assert [(s.collaborator_id, s.value) for s in result.shares] == [(20, 34), (30, 33), (10, 33)]


def test_more_scorers_than_units_only_some_are_listed():
    scored = [sc(i, 1, minutes=i) for i in range(1, 6)]
    result = split_pool(3, scored, resolver="sharedEngagementPool")
    assert [(s.collaborator_id, s.value) for s in result.shares] == [(1, 1), (2, 1), (3, 1)]
    assert result.unallocated == 0


# --------------------------------------------------------------------------- examples: topScoreWins


def test_top_score_wins_single_winner():
    result = split_pool(1000, [sc(1, 5), sc(2, 9), sc(3, 0)], resolver="topScoreWins")
    assert result == SplitResult(shares=[Share(2, 9, 1000, 1)], unallocated=0)


def test_top_score_wins_tie_split_and_earliest():
    scored = [sc(1, 10, minutes=30), sc(2, 10, minutes=10), sc(3, 5)]
    split = split_pool(101, scored, resolver="topScoreWins", tie_policy="split")
    # 50.5 each: the leftover unit goes to the earlier first credit (collaborator 2).
    assert split == SplitResult(shares=[Share(2, 10, 51, 1), Share(1, 10, 50, 1)], unallocated=0)
    earliest = split_pool(101, scored, resolver="topScoreWins", tie_policy="earliest")
    assert earliest == SplitResult(shares=[Share(2, 10, 101, 1)], unallocated=0)


# --------------------------------------------------------------------------- examples: topN


def test_top_n_tie_for_second_split_like_golf_prize_money():
    scored = [sc(1, 100), sc(2, 80, minutes=2), sc(3, 80, minutes=1), sc(4, 50)]
    result = split_pool(1000, scored, resolver="topN", tie_policy="split", weights=[50, 30, 20])
    # 2 and 3 share places 2+3 (30 + 20 = 50 %) equally; 4 is 4th: no prize.
    assert result == SplitResult(
        shares=[Share(1, 100, 500, 1), Share(3, 80, 250, 2), Share(2, 80, 250, 2)], unallocated=0
    )
    # 1001: exact 500.5, 250.25, 250.25 -> the leftover unit goes to collaborator 1 (.5).
    result = split_pool(1001, scored, resolver="topN", tie_policy="split", weights=[50, 30, 20])
    assert [(s.collaborator_id, s.value) for s in result.shares] == [(1, 501), (3, 250), (2, 250)]


def test_top_n_tie_for_second_earliest_assigns_places_in_tie_break_order():
    scored = [sc(1, 100), sc(2, 80, minutes=2), sc(3, 80, minutes=1), sc(4, 50)]
    result = split_pool(1000, scored, resolver="topN", tie_policy="earliest", weights=[50, 30, 20])
    assert result == SplitResult(
        shares=[Share(1, 100, 500, 1), Share(3, 80, 300, 2), Share(2, 80, 200, 2)], unallocated=0
    )


def test_top_n_tie_straddling_the_last_paid_place():
    # 2, 3, 4 tie for places 2..4: they share 30 + 20 + 0 = 50 % -> 166.67 each.
    scored = [sc(1, 100), sc(2, 80, minutes=1), sc(3, 80, minutes=2), sc(4, 80, minutes=3)]
    result = split_pool(1000, scored, resolver="topN", tie_policy="split", weights=[50, 30, 20])
    # floors 500 + 3 * 166 = 998; two units to the .67 remainders in tie-break order.
    assert [(s.collaborator_id, s.value, s.rank) for s in result.shares] == [
        (1, 500, 1),
        (2, 167, 2),
        (3, 167, 2),
        (4, 166, 2),
    ]
    assert result.unallocated == 0


def test_top_n_fewer_scorers_than_places_leaves_unfilled_places_unallocated():
    scored = [sc(1, 10), sc(2, 7), sc(3, 0)]
    result = split_pool(1000, scored, resolver="topN", tie_policy="split", weights=[50, 30, 20])
    assert result == SplitResult(shares=[Share(1, 10, 500, 1), Share(2, 7, 300, 2)], unallocated=200)
    # 1003: exact 501.5 / 300.9 / unfilled 200.6 -> floors 501 + 300 + 200 = 1001; the two leftover units go
    # to the largest remainders .9 (collaborator 2) and .6 (the unallocated bucket), not to .5.
    result = split_pool(1003, scored, resolver="topN", tie_policy="earliest", weights=[50, 30, 20])
    assert values(result) == {1: 501, 2: 301}
    assert result.unallocated == 201


def test_top_n_unallocated_bucket_loses_equal_remainder_ties():
    result = split_pool(1, [sc(1, 3)], resolver="topN", weights=[50, 50])
    assert result == SplitResult(shares=[Share(1, 3, 1, 1)], unallocated=0)
    result = split_pool(3, [sc(1, 3)], resolver="topN", weights=[50, 50])
    assert result == SplitResult(shares=[Share(1, 3, 2, 1)], unallocated=1)


def test_top_n_zero_weight_place_earns_nothing():
    scored = [sc(1, 9), sc(2, 8), sc(3, 7)]
    result = split_pool(999, scored, resolver="topN", tie_policy="earliest", weights=[60, 0, 40])
    assert [(s.collaborator_id, s.value, s.rank) for s in result.shares] == [(1, 599, 1), (3, 400, 3)]


# --------------------------------------------------------------------------- examples: edge cases


@pytest.mark.parametrize("resolver", RESOLVERS)
def test_zero_scores_excluded_and_ranked_out(resolver):
    scored = [sc(1, 0), sc(2, 4), sc(3, 0), sc(4, 4, minutes=1)]
    result = split_pool(10, scored, resolver=resolver, weights=[100])
    assert {s.collaborator_id for s in result.shares} <= {2, 4}
    assert all(s.rank == 1 for s in result.shares)
    assert sum(s.value for s in result.shares) == 10


@pytest.mark.parametrize("resolver", RESOLVERS)
@pytest.mark.parametrize("scored", [[], [sc(1, 0), sc(2, 0)]], ids=["empty", "all-zero"])
def test_no_scorers_leaves_the_whole_pool_unallocated(resolver, scored):
    assert split_pool(1234, scored, resolver=resolver, weights=[50, 50]) == SplitResult([], 1234)
    assert split_pool(0, scored, resolver=resolver, weights=[50, 50]) == SplitResult([], 0)


@pytest.mark.parametrize("resolver", RESOLVERS)
def test_zero_pool_gives_no_shares(resolver):
    assert split_pool(0, [sc(1, 5), sc(2, 3)], resolver=resolver, weights=[100]) == SplitResult([], 0)


def test_accepts_any_iterable_once():
    result = split_pool(10, (s for s in [sc(1, 1), sc(2, 1)]), resolver="sharedEngagementPool")
    assert values(result) == {1: 5, 2: 5}


def test_weights_are_ignored_by_other_resolvers():
    result = split_pool(10, [sc(1, 1)], resolver="sharedEngagementPool", weights=[1, 2, 3])
    assert values(result) == {1: 10}


def test_huge_pool_and_100k_scorers_are_exact_and_fast():
    scored = [sc(i, (i * 7919) % 1000, minutes=i % 97) for i in range(1, 100_001)]
    pool = 10**15 + 7
    for resolver, tie_policy in [("performanceSharedPool", "split"), ("topN", "split")]:
        started = time.perf_counter()
        result = split_pool(pool, reversed(scored), resolver=resolver, tie_policy=tie_policy, weights=[50, 30, 20])
        elapsed = time.perf_counter() - started
        assert sum(s.value for s in result.shares) + result.unallocated == pool
        assert result.unallocated == 0
        # Generous bound for a loaded CI box (typically ~0.3 s); mainly guards against per-unit loops.
        assert elapsed < 5


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resolver": "winnerTakesAll"}, "unknown resolver"),
        ({"resolver": "topN", "tie_policy": "random", "weights": [100]}, "unknown tie policy"),
        ({"resolver": "sharedEngagementPool", "tie_policy": "coinflip"}, "unknown tie policy"),
        ({"resolver": "topN"}, "non-empty"),
        ({"resolver": "topN", "weights": []}, "non-empty"),
        ({"resolver": "topN", "weights": [50, 30]}, "sum to 100"),
        ({"resolver": "topN", "weights": [50, 30, 30]}, "sum to 100"),
        ({"resolver": "topN", "weights": [120, -20]}, ">= 0"),
        ({"resolver": "topN", "weights": [50.0, 50]}, "must be an int"),
        ({"resolver": "topN", "weights": [True, 99]}, "must be an int"),
        ({"resolver": "topN", "weights": "100"}, "sequence of ints"),
        ({"resolver": "topN", "weights": None}, "sequence of ints"),
    ],
)
def test_invalid_configuration_raises_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_pool(100, [sc(1, 1)], **kwargs)


def test_invalid_configuration_is_rejected_even_without_scorers():
    with pytest.raises(ValueError, match="sum to 100"):
        split_pool(0, [], resolver="topN", weights=[10])


def test_negative_pool_raises():
    with pytest.raises(ValueError, match="pool must be >= 0"):
        split_pool(-1, [sc(1, 1)], resolver="topScoreWins")


def test_negative_score_raises():
    with pytest.raises(ValueError, match=r"score must be >= 0.*collaborator 2"):
        split_pool(100, [sc(1, 1), sc(2, -3)], resolver="performanceSharedPool")


def test_duplicate_collaborator_raises():
    with pytest.raises(ValueError, match=r"unique; repeated: \[1\]"):
        split_pool(100, [sc(1, 1), sc(2, 1), sc(1, 0)], resolver="performanceSharedPool")


def test_naive_first_credit_of_a_scorer_raises():
    naive = ScoredCollaborator(2, 1, datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="collaborator 2 must be an aware datetime"):
        split_pool(100, [sc(1, 1), naive], resolver="sharedEngagementPool")


@pytest.mark.parametrize(
    ("pool", "scored"),
    [
        (100.0, [sc(1, 1)]),
        (True, [sc(1, 1)]),
        (100, [sc(1, 1.5)]),
        (100, [sc(1, True)]),
        (100, [sc("1", 1)]),
    ],
)
def test_non_integers_raise_type_error(pool, scored):
    with pytest.raises(TypeError, match="must be an int"):
        split_pool(pool, scored, resolver="performanceSharedPool")
