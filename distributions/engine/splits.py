"""Split rules: how a pool of money (in integer minor units) is divided among scored collaborators.

This module is pure: no ORM, no Django, no floats. Every amount is an ``int`` and every share is
computed exactly with integer floor division and remainders.

Inputs
------
``split_pool(pool, scored, *, resolver, tie_policy="split", weights=())``

* ``pool``: non-negative ``int`` (minor units) to distribute.
* ``scored``: iterable of :class:`ScoredCollaborator` (``collaborator_id``, ``score`` >= 0, aware
  ``first_credit_at``). Collaborator ids must be unique.
* ``resolver``: one of :data:`RESOLVERS`; ``tie_policy``: one of :data:`TIE_POLICIES`;
  ``weights``: per-place whole percentages, used (and validated) only by ``topN``.

Specification
-------------
* Zero scores never earn. An empty set of non-zero scorers, or ``pool == 0``, gives no shares and
  ``unallocated == pool``.
* Tie-break order (the deterministic order): higher score first, then earlier ``first_credit_at``,
  then lower ``collaborator_id`` (see :func:`tie_break_key`; datetimes are compared as absolute
  instants, so mixed time zones are fine). The output never depends on the input order.
* ``performanceSharedPool``: each scorer's exact share is ``pool * score / total_score``.
* ``sharedEngagementPool``: equal split among every non-zero scorer (``pool / n``).
* ``topScoreWins``: the whole pool goes to the highest score. Ties: ``split`` = the tied top scorers
  share it equally; ``earliest`` = the first of them in tie-break order takes everything.
* ``topN``: ``weights`` is a non-empty list of non-negative whole percentages summing to 100, e.g.
  ``[50, 30, 20]``; place ``k`` is worth ``weights[k-1]`` % of the pool, places beyond ``N`` are worth
  0. With ``split``, a group of ``m`` collaborators tied on score occupying places ``k..k+m-1`` shares
  equally the sum of those places' weights (golf prize money). With ``earliest``, places are assigned
  strictly in tie-break order. Places nobody fills (fewer non-zero scorers than ``N``) are
  unallocated.
* Rounding (largest remainder): every recipient ``i`` has an exact rational share ``pool * w_i / W``.
  Each gets the floor; the leftover units (``amount - sum(floors)``, always smaller than the number of
  recipients) are handed out one unit each, largest fractional remainder first, equal remainders
  broken by tie-break order. Hence every value is the floor or the ceiling of its exact share, a
  recipient whose exact share is 0 (e.g. a 0 % place) never gets a unit, and the values sum exactly
  to the amount distributed. Implementation: all recipients of one split are put over a common
  denominator (``total_score``; ``n``; the number of winners; ``100 * lcm(sizes of earning tie
  groups)`` for topN), so remainders are compared as plain integers.
* ``topN`` unfilled places (decision): they are rounded as one pseudo-recipient "unallocated" in the
  *same* largest-remainder pass as the real recipients, placed *after* every real recipient in the
  tie-break order (so on an exact remainder tie a collaborator gets the unit before the unallocated
  bucket). ``unallocated`` is therefore the floor or the ceiling of ``pool * unfilled_weight / 100``
  and ``sum(values) + unallocated == pool`` exactly.
* Output: :class:`SplitResult` with ``shares`` in tie-break order (which is also rank order), only
  collaborators whose value is > 0 listed; ``rank`` is the competition ranking by score among all
  non-zero scorers (1, 1, 3, ...), whether or not they earned. ``unallocated = pool - sum(values)``,
  which is 0 for every resolver except ``topN`` with unfilled places (and except ``pool`` itself when
  there are no non-zero scorers).
* Trace (how each value came about; stored with every allocation, see ``distributions.trigger``): every
  share carries its ``numerator``, so that its exact share is ``pool * numerator / result.denominator``
  (the common denominator above; the value is its floor, plus one when ``rounding_unit``), and
  ``tie_break``, the rule that decided whether it got a rounding unit (:data:`TIE_BREAKS`):
  ``TIE_BREAK_NONE`` its exact share was whole, nothing to round; ``TIE_BREAK_REMAINDER`` its remainder
  was among (or below) the ``leftover`` largest; when the last unit fell inside a group of equal
  remainders, each member of that group got (or missed) its unit because it comes before (or after) the
  other side in tie-break order, and the first key that tells it from its nearest rival on the other side
  decided: ``TIE_BREAK_SCORE`` (higher score), ``TIE_BREAK_FIRST_CREDIT`` (earlier first credit),
  ``TIE_BREAK_COLLABORATOR_ID`` (lower id), ``TIE_BREAK_UNFILLED`` (a collaborator before ``topN``'s
  unfilled places). ``result.scorers`` counts the non-zero scorers, earning or not. The shares' equality
  ignores the trace (``compare=False``): two splits are equal when their values are.
* Errors: unknown resolver or tie policy, negative pool, negative score, duplicate collaborator id,
  naive ``first_credit_at`` on a non-zero scorer, and (for ``topN`` only) invalid weights raise
  ``ValueError``. A non-``int`` pool, score or collaborator id (``bool`` and ``float`` included) raises
  ``TypeError``. The tie policy is validated for every resolver even where it has no effect;
  ``weights`` are ignored (not validated) by resolvers other than ``topN``.

Complexity: one sort of the non-zero scorers (as three stable single-key passes) plus linear passes;
a second sort by remainder only when there are leftover units to hand out. Never loops per unit of
the pool.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import compress
from operator import attrgetter

from distributors.rules import (  # the one definition of the rule names (pure, like this module)
    PERFORMANCE_SHARED_POOL,
    RESOLVERS,
    SHARED_ENGAGEMENT_POOL,
    TIE_EARLIEST,
    TIE_POLICIES,
    TIE_SPLIT,
    TOP_N,
    TOP_SCORE_WINS,
)

WEIGHTS_TOTAL = 100  # topN weights are whole percentages

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Why a share got, or did not get, a rounding unit (``Share.tie_break``; stored as a small integer).
TIE_BREAK_NONE = 0  # exact share whole: nothing to round
TIE_BREAK_REMAINDER = 1  # the remainder's size decided
TIE_BREAK_SCORE = 2  # equal remainders: the higher score
TIE_BREAK_FIRST_CREDIT = 3  # equal remainders and scores: the earlier first credit
TIE_BREAK_COLLABORATOR_ID = 4  # equal remainders, scores and first credits: the lower collaborator id
TIE_BREAK_UNFILLED = 5  # equal remainders with topN's unfilled places: collaborators come first
TIE_BREAKS = (
    TIE_BREAK_NONE,
    TIE_BREAK_REMAINDER,
    TIE_BREAK_SCORE,
    TIE_BREAK_FIRST_CREDIT,
    TIE_BREAK_COLLABORATOR_ID,
    TIE_BREAK_UNFILLED,
)

__all__ = [
    "RESOLVERS",
    "TIE_BREAKS",
    "TIE_POLICIES",
    "ScoredCollaborator",
    "Share",
    "SplitResult",
    "split_pool",
    "tie_break_key",
]


@dataclass(frozen=True, slots=True)
class ScoredCollaborator:
    collaborator_id: int
    score: int  # total points in the period, >= 0
    first_credit_at: datetime  # aware datetime of the first credit in the period; any value for score 0


@dataclass(frozen=True, slots=True)
class Share:
    collaborator_id: int
    score: int
    value: int  # > 0 always; collaborators whose share is 0 are not listed
    rank: int  # competition ranking by score among non-zero scorers: 1, 1, 3, ...
    # The trace (not compared): exact share = pool * numerator / SplitResult.denominator; value is its floor,
    # plus one when rounding_unit; tie_break (TIE_BREAKS) says what decided that unit.
    numerator: int = field(default=0, compare=False)
    rounding_unit: bool = field(default=False, compare=False)
    tie_break: int = field(default=TIE_BREAK_NONE, compare=False)


@dataclass(frozen=True, slots=True)
class SplitResult:
    shares: list[Share]  # ordered by rank then tie-break order
    unallocated: int  # pool - sum(share.value); >= 0
    denominator: int = field(default=0, compare=False)  # common denominator of the shares' numerators (0: none)
    scorers: int = field(default=0, compare=False)  # non-zero scorers, earning or not


def tie_break_key(item: ScoredCollaborator) -> tuple[int, timedelta, int]:
    """Sort key of the tie-break order: higher score, then earlier first credit, then lower id.

    ``first_credit_at`` is compared as an absolute instant (offset from the UTC epoch), which is
    correct across time zones and DST folds and much faster to compare than mixed-zone datetimes.
    """
    return (-item.score, item.first_credit_at - _EPOCH, item.collaborator_id)


_by_collaborator_id = attrgetter("collaborator_id")
_by_score = attrgetter("score")


def _by_first_credit_instant(item: ScoredCollaborator) -> timedelta:
    return item.first_credit_at - _EPOCH


def split_pool(
    pool: int,
    scored: Iterable[ScoredCollaborator],
    *,
    resolver: str,
    tie_policy: str = TIE_SPLIT,
    weights: Sequence[int] = (),
) -> SplitResult:
    """Split ``pool`` among ``scored`` according to ``resolver`` (see the module docstring)."""
    _require_int("pool", pool)
    if pool < 0:
        raise ValueError(f"pool must be >= 0, got {pool}")
    if resolver not in RESOLVERS:
        raise ValueError(f"unknown resolver {resolver!r}; expected one of {', '.join(RESOLVERS)}")
    if tie_policy not in TIE_POLICIES:
        raise ValueError(f"unknown tie policy {tie_policy!r}; expected one of {', '.join(TIE_POLICIES)}")
    place_weights = _validate_weights(weights) if resolver == TOP_N else ()

    scorers = _nonzero_scorers_in_tie_break_order(scored)
    if pool == 0 or not scorers:
        return SplitResult(shares=[], unallocated=pool, scorers=len(scorers))

    # numerators[i] / denominator is scorer i's fraction of the pool (numerators aligned with `scorers`);
    # for topN one extra trailing numerator is the unfilled places' pseudo-recipient. sum == denominator.
    if resolver == PERFORMANCE_SHARED_POOL:
        numerators = [s.score for s in scorers]
        denominator = sum(numerators)
    elif resolver == SHARED_ENGAGEMENT_POOL:
        numerators = [1] * len(scorers)
        denominator = len(scorers)
    elif resolver == TOP_SCORE_WINS:
        numerators, denominator = _top_score_wins_numerators(scorers, tie_policy)
    else:
        numerators, denominator = _top_n_numerators(scorers, place_weights, tie_policy)

    values, units, tie_breaks = _largest_remainder(pool, numerators, denominator, scorers)
    shares = _ranked_shares(scorers, values, numerators, units, tie_breaks)
    unallocated = pool - sum(share.value for share in shares)
    return SplitResult(shares=shares, unallocated=unallocated, denominator=denominator, scorers=len(scorers))


# --------------------------------------------------------------------------- validation


def _require_int(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {type(value).__name__} {value!r}")


def _validate_weights(weights: Sequence[int]) -> tuple[int, ...]:
    if isinstance(weights, str | bytes):
        raise ValueError(f"topN weights must be a sequence of ints, got {weights!r}")
    try:
        place_weights = tuple(weights)
    except TypeError:
        raise ValueError(f"topN weights must be a sequence of ints, got {weights!r}") from None
    if not place_weights:
        raise ValueError("topN needs a non-empty list of place weights (whole percentages summing to 100)")
    for place, weight in enumerate(place_weights, start=1):
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise ValueError(f"topN weight for place {place} must be an int, got {weight!r}")
        if weight < 0:
            raise ValueError(f"topN weight for place {place} must be >= 0, got {weight}")
    total = sum(place_weights)
    if total != WEIGHTS_TOTAL:
        raise ValueError(f"topN weights must sum to {WEIGHTS_TOTAL}, got {total} ({list(place_weights)})")
    return place_weights


def _nonzero_scorers_in_tie_break_order(scored: Iterable[ScoredCollaborator]) -> list[ScoredCollaborator]:
    """Validate ``scored`` and return its non-zero scorers in tie-break order.

    Written as bulk passes (comprehensions, one set, three C-level sorts) rather than one Python loop
    doing everything, because this is the hot path for 100k collaborators.
    """
    items = list(scored)
    ids = [item.collaborator_id for item in items]
    scores = [item.score for item in items]
    if not all(type(value) is int for value in ids):  # exact type: fast path, rejects bool
        for value in ids:
            _require_int("collaborator_id", value)
    if not all(type(value) is int for value in scores):
        for collaborator_id, value in zip(ids, scores, strict=True):
            _require_int(f"score of collaborator {collaborator_id}", value)
    if scores and min(scores) < 0:
        collaborator_id, value = next(pair for pair in zip(ids, scores, strict=True) if pair[1] < 0)
        raise ValueError(f"score must be >= 0, got {value} for collaborator {collaborator_id}")
    if len(set(ids)) != len(ids):
        seen: set[int] = set()
        duplicates = sorted({value for value in ids if value in seen or seen.add(value)})
        raise ValueError(f"collaborator ids must be unique; repeated: {duplicates[:10]}")

    nonzero = list(compress(items, scores))
    # Tie-break order == sorted(nonzero, key=tie_break_key); done as three stable single-key passes
    # (least significant key first), about twice as fast as building a tuple key per item.
    nonzero.sort(key=_by_collaborator_id)
    try:
        nonzero.sort(key=_by_first_credit_instant)
    except TypeError:  # naive datetime (or not a datetime at all): report which collaborator
        for item in nonzero:
            moment = item.first_credit_at
            if not isinstance(moment, datetime) or moment.utcoffset() is None:
                raise ValueError(
                    f"first_credit_at of collaborator {item.collaborator_id} must be an aware datetime, got {moment!r}"
                ) from None
        raise
    nonzero.sort(key=_by_score, reverse=True)  # reverse=True keeps equal scores in their current order
    return nonzero


# --------------------------------------------------------------------------- resolvers


def _top_score_wins_numerators(scorers: list[ScoredCollaborator], tie_policy: str) -> tuple[list[int], int]:
    top = scorers[0].score
    winners = 1 if tie_policy == TIE_EARLIEST else _leading_run(scorers, top)
    return [1] * winners + [0] * (len(scorers) - winners), winners


def _leading_run(scorers: list[ScoredCollaborator], score: int) -> int:
    count = 0
    for s in scorers:
        if s.score != score:
            break
        count += 1
    return count


def _top_n_numerators(
    scorers: list[ScoredCollaborator], weights: tuple[int, ...], tie_policy: str
) -> tuple[list[int], int]:
    """Per-scorer numerators plus a trailing pseudo-recipient for the unfilled places."""
    n = len(scorers)
    unfilled_weight = sum(weights[n:])
    if tie_policy == TIE_EARLIEST:
        place_weights = list(weights[:n]) + [0] * max(0, n - len(weights))
        return [*place_weights, unfilled_weight], WEIGHTS_TOTAL

    # split: each tie group (same score) occupying places start+1..start+size shares the sum of
    # those places' weights equally. Exact member share: pool * group_weight / (100 * size).
    groups: list[tuple[int, int]] = []  # (group_weight, size)
    start = 0
    while start < n:
        end = start + 1
        score = scorers[start].score
        while end < n and scorers[end].score == score:
            end += 1
        groups.append((sum(weights[start:end]), end - start))
        start = end
    # Common denominator: 100 * lcm(sizes of the groups that earn). At most 100 groups earn (each
    # needs a positive weight), so this stays small.
    multiplier = math.lcm(*(size for group_weight, size in groups if group_weight))
    numerators: list[int] = []
    for group_weight, size in groups:
        numerators.extend([group_weight * (multiplier // size)] * size)
    numerators.append(unfilled_weight * multiplier)
    return numerators, WEIGHTS_TOTAL * multiplier


# --------------------------------------------------------------------------- rounding & ranking


def _largest_remainder(
    pool: int, numerators: list[int], denominator: int, scorers: list[ScoredCollaborator]
) -> tuple[list[int], list[bool], list[int]]:
    """Round ``pool * numerators[i] / denominator`` to integers summing exactly to ``pool``.

    Requires ``sum(numerators) == denominator``. Index order is the tie-break order for equal
    remainders (``scorers`` in that order, then at most one trailing pseudo-recipient: topN's unfilled
    places). All remainders share the denominator, so they compare as plain integers.

    Returns ``(values, rounding_units, tie_breaks)``, aligned with ``numerators``.
    """
    if sum(numerators) != denominator or denominator <= 0:
        raise AssertionError("numerators must sum to a positive denominator")
    values: list[int] = []
    remainders: list[int] = []
    for numerator in numerators:
        quotient, remainder = divmod(pool * numerator, denominator)
        values.append(quotient)
        remainders.append(remainder)
    leftover = pool - sum(values)  # == sum(remainders) / denominator < len(numerators)
    if not leftover:  # every remainder is 0: nothing to round
        return values, [False] * len(numerators), [TIE_BREAK_NONE] * len(numerators)
    # sorted() is stable even with reverse=True, so equal remainders keep index (tie-break) order.
    by_remainder = sorted(range(len(numerators)), key=remainders.__getitem__, reverse=True)
    units = [False] * len(numerators)
    for index in by_remainder[:leftover]:
        values[index] += 1
        units[index] = True
    # Leftover < number of non-zero remainders, so the unit handed out last went to a positive remainder
    # and some index after it in by_remainder did not get one.
    cutoff = remainders[by_remainder[leftover - 1]]
    tie_breaks = [TIE_BREAK_REMAINDER if remainder else TIE_BREAK_NONE for remainder in remainders]
    if remainders[by_remainder[leftover]] == cutoff:
        # The last unit fell inside a group of equal remainders: tie-break order split it. The group is
        # contiguous in by_remainder (and in index order within it).
        first = leftover - 1
        while first > 0 and remainders[by_remainder[first - 1]] == cutoff:
            first -= 1
        last = leftover
        while last + 1 < len(by_remainder) and remainders[by_remainder[last + 1]] == cutoff:
            last += 1
        last_winner, first_loser = by_remainder[leftover - 1], by_remainder[leftover]
        for index in by_remainder[first:leftover]:
            tie_breaks[index] = _deciding_key(scorers, index, first_loser)
        for index in by_remainder[leftover : last + 1]:
            tie_breaks[index] = _deciding_key(scorers, last_winner, index)
    return values, units, tie_breaks


def _deciding_key(scorers: list[ScoredCollaborator], before: int, after: int) -> int:
    """The first tie-break key that puts index ``before`` ahead of index ``after`` (``before < after``)."""
    if after >= len(scorers):
        return TIE_BREAK_UNFILLED
    ahead, behind = scorers[before], scorers[after]
    if ahead.score != behind.score:
        return TIE_BREAK_SCORE
    if ahead.first_credit_at - _EPOCH != behind.first_credit_at - _EPOCH:
        return TIE_BREAK_FIRST_CREDIT
    return TIE_BREAK_COLLABORATOR_ID


def _ranked_shares(
    scorers: list[ScoredCollaborator],
    values: list[int],
    numerators: list[int],
    units: list[bool],
    tie_breaks: list[int],
) -> list[Share]:
    """Shares (value > 0 only) in tie-break order, with the competition rank among all ``scorers``.

    ``values``, ``numerators``, ``units`` and ``tie_breaks`` are aligned with ``scorers``; any extra trailing
    entry (topN's unfilled pseudo-recipient) is ignored.
    """
    shares: list[Share] = []
    previous_score = None
    rank = 0
    for position, s in enumerate(scorers, start=1):
        score = s.score
        if score != previous_score:
            rank = position
            previous_score = score
        index = position - 1
        value = values[index]
        if value > 0:
            shares.append(
                Share(s.collaborator_id, score, value, rank, numerators[index], units[index], tie_breaks[index])
            )
    return shares
