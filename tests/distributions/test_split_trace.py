"""The split's trace (distributions.engine.splits): each share's numerator over the result's denominator, whether
it got a rounding unit, and which tie-break decided it. Pure: no database.

The properties are checked against a naive, set-based model written from the specification: the exact share
(pool x numerator / denominator) must be what the value was rounded from, and the deciding key of a share in the
group of equal remainders the last unit fell in is the first key telling it from its nearest rival across the cut.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distributions.engine.splits import (
    RESOLVERS,
    TIE_BREAK_COLLABORATOR_ID,
    TIE_BREAK_FIRST_CREDIT,
    TIE_BREAK_NONE,
    TIE_BREAK_REMAINDER,
    TIE_BREAK_SCORE,
    TIE_BREAK_UNFILLED,
    TIE_BREAKS,
    TIE_POLICIES,
    ScoredCollaborator,
    split_pool,
)
from tests.distributions.test_splits import exact_shares, reference_order

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sc(collaborator_id: int, score: int, minutes: int = 0) -> ScoredCollaborator:
    return ScoredCollaborator(collaborator_id, score, BASE + timedelta(minutes=minutes))


def trace(result):
    return [(s.collaborator_id, s.value, s.rounding_unit, s.tie_break) for s in result.shares]


# --------------------------------------------------------------------------- examples


def test_exact_shares_have_nothing_to_round():
    result = split_pool(1000, [sc(1, 3), sc(2, 1)], resolver="performanceSharedPool")
    assert result.denominator == 4 and result.scorers == 2
    assert [(s.numerator, s.rounding_unit, s.tie_break) for s in result.shares] == [
        (3, False, TIE_BREAK_NONE),
        (1, False, TIE_BREAK_NONE),
    ]


def test_the_larger_remainder_gets_the_unit():
    # 1000 x 1/6 = 166.67, 1000 x 2/6 = 333.33, 1000 x 3/6 = 500: one unit left, to the larger remainder (4/6).
    result = split_pool(1000, [sc(1, 1), sc(2, 2), sc(3, 3)], resolver="performanceSharedPool")
    assert trace(result) == [
        (3, 500, False, TIE_BREAK_NONE),
        (2, 333, False, TIE_BREAK_REMAINDER),
        (1, 167, True, TIE_BREAK_REMAINDER),
    ]


def test_equal_remainders_go_to_the_higher_score():
    # Equal split of 100 among 3: 33 each, one unit left, every remainder 1/3: the higher score takes it.
    result = split_pool(100, [sc(1, 1), sc(2, 5), sc(3, 3)], resolver="sharedEngagementPool")
    assert trace(result) == [
        (2, 34, True, TIE_BREAK_SCORE),
        (3, 33, False, TIE_BREAK_SCORE),
        (1, 33, False, TIE_BREAK_SCORE),
    ]


def test_equal_remainders_and_scores_go_to_the_earlier_first_credit():
    result = split_pool(
        100, [sc(1, 4, minutes=30), sc(2, 4, minutes=10), sc(3, 4, minutes=20)], resolver="sharedEngagementPool"
    )
    assert trace(result) == [
        (2, 34, True, TIE_BREAK_FIRST_CREDIT),
        (3, 33, False, TIE_BREAK_FIRST_CREDIT),
        (1, 33, False, TIE_BREAK_FIRST_CREDIT),
    ]


def test_then_to_the_lower_collaborator_id():
    result = split_pool(101, [sc(9, 2), sc(4, 2), sc(7, 2)], resolver="sharedEngagementPool")  # 33.67 each
    assert trace(result) == [
        (4, 34, True, TIE_BREAK_COLLABORATOR_ID),
        (7, 34, True, TIE_BREAK_COLLABORATOR_ID),
        (9, 33, False, TIE_BREAK_COLLABORATOR_ID),
    ]


def test_a_member_of_the_tied_group_is_told_from_its_nearest_rival_across_the_cut():
    # 4 shares of 10 / 4 = 2.5: two units left, all remainders equal. Scores 3, 3, 3, 1; the third (score 3) is
    # the first not to get one: the two before it differ from it only by first credit, and it from the last
    # winner too; the last one (score 1) is beaten on score.
    scored = [sc(1, 3, minutes=0), sc(2, 3, minutes=1), sc(3, 3, minutes=2), sc(4, 1)]
    result = split_pool(10, scored, resolver="sharedEngagementPool")
    assert trace(result) == [
        (1, 3, True, TIE_BREAK_FIRST_CREDIT),
        (2, 3, True, TIE_BREAK_FIRST_CREDIT),
        (3, 2, False, TIE_BREAK_FIRST_CREDIT),
        (4, 2, False, TIE_BREAK_SCORE),
    ]


def test_top_n_ties_with_the_unfilled_places_go_to_the_collaborator():
    # One scorer for places worth 50/50: exact 0.5 each for the collaborator and the unfilled place; the
    # collaborator comes first.
    result = split_pool(1, [sc(1, 5)], resolver="topN", weights=[50, 50])
    assert result.unallocated == 0
    assert trace(result) == [(1, 1, True, TIE_BREAK_UNFILLED)]


def test_top_n_denominator_and_numerators():
    result = split_pool(1000, [sc(1, 9), sc(2, 5), sc(3, 5)], resolver="topN", weights=[50, 30, 20], tie_policy="split")
    # Places 2 and 3 tied: they share 50 % equally; common denominator 100 x lcm(1, 2) = 200.
    assert result.denominator == 200
    assert [(s.collaborator_id, s.numerator, s.value) for s in result.shares] == [
        (1, 100, 500),
        (2, 50, 250),
        (3, 50, 250),
    ]


def test_top_score_wins_losers_are_not_listed_and_the_winner_is_exact():
    result = split_pool(777, [sc(1, 9), sc(2, 5)], resolver="topScoreWins")
    assert result.scorers == 2 and result.denominator == 1
    assert [(s.collaborator_id, s.numerator, s.rounding_unit, s.tie_break) for s in result.shares] == [
        (1, 1, False, TIE_BREAK_NONE)
    ]


def test_nothing_to_split_has_no_denominator():
    assert split_pool(0, [sc(1, 3)], resolver="performanceSharedPool").denominator == 0
    empty = split_pool(100, [], resolver="performanceSharedPool")
    assert (empty.denominator, empty.scorers, empty.unallocated) == (0, 0, 100)


def test_the_trace_does_not_change_equality():
    plain = split_pool(1000, [sc(1, 1), sc(2, 2)], resolver="performanceSharedPool")
    assert plain == split_pool(1000, [sc(2, 2), sc(1, 1)], resolver="performanceSharedPool")


# --------------------------------------------------------------------------- the model


def _key(item: ScoredCollaborator):
    return (-item.score, item.first_credit_at, item.collaborator_id)


def model_trace(pool, scored, resolver, tie_policy, weights) -> dict[int, tuple[int, bool, int]]:
    """{collaborator_id: (value, rounding_unit, tie_break)} of every non-zero scorer, from exact fractions.

    Written from the specification alone: exact shares from the reference model of test_splits, units to the
    largest remainders (ties in tie-break order, topN's unfilled places last); inside the group of equal
    remainders split by the cut, the deciding key against the nearest rival on the other side.
    """
    rows, (unfilled_num, unfilled_den) = exact_shares(pool, scored, resolver, tie_policy, weights)
    order = reference_order(scored)
    if not rows:  # nothing to split
        return {}
    recipients = [(item, Fraction(num, den)) for item, (_, num, den) in zip(order, rows, strict=True)]
    if resolver == "topN":
        recipients.append((None, Fraction(unfilled_num, unfilled_den)))
    floors = [math.floor(exact) for _, exact in recipients]
    remainders = [exact - floor for (_, exact), floor in zip(recipients, floors, strict=True)]
    leftover = pool - sum(floors)
    by_remainder = sorted(range(len(recipients)), key=lambda i: (-remainders[i], i))
    winners = set(by_remainder[:leftover])
    result = {}
    for index, (item, _exact) in enumerate(recipients):
        if item is None:
            continue
        got = index in winners
        remainder = remainders[index]
        group = [i for i in range(len(recipients)) if remainders[i] == remainder]
        across = [i for i in group if (i in winners) != got]
        if remainder == 0:
            decided = TIE_BREAK_NONE
        elif not across:
            decided = TIE_BREAK_REMAINDER
        else:
            rival = min(across) if got else max(across)
            first, second = (index, rival) if got else (rival, index)
            ahead, behind = recipients[first][0], recipients[second][0]
            if behind is None:
                decided = TIE_BREAK_UNFILLED
            elif ahead.score != behind.score:
                decided = TIE_BREAK_SCORE
            elif ahead.first_credit_at != behind.first_credit_at:
                decided = TIE_BREAK_FIRST_CREDIT
            else:
                decided = TIE_BREAK_COLLABORATOR_ID
        result[item.collaborator_id] = (floors[index] + got, got, decided)
    return result


@settings(max_examples=400, deadline=None)
@given(
    pool=st.integers(min_value=0, max_value=10_000),
    scores=st.lists(st.integers(min_value=0, max_value=6), min_size=0, max_size=12),
    minutes=st.lists(st.integers(min_value=0, max_value=2), min_size=12, max_size=12),
    resolver=st.sampled_from(RESOLVERS),
    tie_policy=st.sampled_from(TIE_POLICIES),
    weights=st.sampled_from([[100], [50, 30, 20], [50, 50], [34, 33, 33], [25, 25, 25, 25], [0, 60, 40]]),
)
def test_trace_matches_the_model(pool, scores, minutes, resolver, tie_policy, weights):
    scored = [sc(10 + i, score, minutes[i]) for i, score in enumerate(scores)]
    result = split_pool(pool, scored, resolver=resolver, tie_policy=tie_policy, weights=weights)
    assert result.scorers == sum(1 for s in scores if s > 0)
    expected = model_trace(pool, scored, resolver, tie_policy, weights)
    assert {s.collaborator_id: (s.value, s.rounding_unit, s.tie_break) for s in result.shares} == {
        cid: row for cid, row in expected.items() if row[0] > 0
    }
    for share in result.shares:
        assert share.tie_break in TIE_BREAKS
        # The recorded numerator gives back the exact share the value was rounded from.
        floor, _remainder = divmod(pool * share.numerator, result.denominator)
        assert share.value == floor + share.rounding_unit


@pytest.mark.parametrize("resolver", RESOLVERS)
def test_numerators_sum_to_at_most_the_denominator(resolver):
    scored = [sc(i, 1 + i % 4, minutes=i % 3) for i in range(1, 30)]
    result = split_pool(12_345, scored, resolver=resolver, weights=[50, 30, 20])
    assert sum(s.numerator for s in result.shares) <= result.denominator
    assert sum(s.rounding_unit for s in result.shares) + sum(
        12_345 * s.numerator // result.denominator for s in result.shares
    ) == sum(s.value for s in result.shares)
