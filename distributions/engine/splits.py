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
from dataclasses import dataclass
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

__all__ = [
    "RESOLVERS",
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


@dataclass(frozen=True, slots=True)
class SplitResult:
    shares: list[Share]  # ordered by rank then tie-break order
    unallocated: int  # pool - sum(share.value); >= 0


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
        return SplitResult(shares=[], unallocated=pool)

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

    values = _largest_remainder(pool, numerators, denominator)
    shares = _ranked_shares(scorers, values)
    unallocated = pool - sum(share.value for share in shares)
    return SplitResult(shares=shares, unallocated=unallocated)


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


def _largest_remainder(pool: int, numerators: list[int], denominator: int) -> list[int]:
    """Round ``pool * numerators[i] / denominator`` to integers summing exactly to ``pool``.

    Requires ``sum(numerators) == denominator``. Index order is the tie-break order for equal
    remainders. All remainders share the denominator, so they compare as plain integers.
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
    if leftover:
        # sorted() is stable even with reverse=True, so equal remainders keep index (tie-break) order.
        by_remainder = sorted(range(len(numerators)), key=remainders.__getitem__, reverse=True)
        for index in by_remainder[:leftover]:
            values[index] += 1
    return values


def _ranked_shares(scorers: list[ScoredCollaborator], values: list[int]) -> list[Share]:
    """Shares (value > 0 only) in tie-break order, with the competition rank among all ``scorers``.

    ``values`` is aligned with ``scorers``; any extra trailing value (topN's unfilled pseudo-recipient)
    is ignored.
    """
    shares: list[Share] = []
    previous_score = None
    rank = 0
    for position, s in enumerate(scorers, start=1):
        score = s.score
        if score != previous_score:
            rank = position
            previous_score = score
        value = values[position - 1]
        if value > 0:
            shares.append(Share(s.collaborator_id, score, value, rank))
    return shares
