"""How a distribution is explained to people: its period in local dates, its pool's derivation, its rule, and for
each share its exact value and why it did or did not get a rounding unit.

Plain values in, text out (no query): the admin pages, the API's trace and ``run_distributions`` read the same
sentences. The figures come from what the trigger recorded (``Distribution``'s trace columns and each
allocation's ``share_numerator``, ``rounding_unit``, ``tie_break``) or, for the open period, from the plan a
trigger would write now (``distributions.standings``); never from the distributor's current rules, which may
have changed since. A trace that was not recorded (periods triggered before the trigger recorded one) reads
"not recorded".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal

from distributions.engine import splits
from distributors import rules
from distributors.units import to_major, units_decimal_places

try:
    from distributors.units import format_amount
except ImportError:  # pragma: no cover - until distributors.units has its human formatter

    def format_amount(amount: int, units: str) -> str:
        return f"{to_major(amount, units)} {units}"


NOT_RECORDED = "not recorded"
EXACT_EXTRA_DIGITS = 4  # digits shown beyond the units' own precision in an exact share

POOL_RESOLVER_LABELS = {
    rules.POOL_FIXED: "Fixed amount per period",
    rules.POOL_REVENUE_SHARE: "Share of the period's revenue",
}
RESOLVER_LABELS = {
    rules.PERFORMANCE_SHARED_POOL: "Proportional to score",
    rules.SHARED_ENGAGEMENT_POOL: "Equal among non-zero scores",
    rules.TOP_SCORE_WINS: "Highest score takes the pool",
    rules.TOP_N: "Ranked shares by place",
}
TIE_POLICY_LABELS = {
    rules.TIE_SPLIT: "tied collaborators share their places equally",
    rules.TIE_EARLIEST: "the earlier first credit wins a tie",
}
TIE_POLICY_RESOLVERS = (rules.TOP_SCORE_WINS, rules.TOP_N)  # where the tie policy changes anything

# ``tie_break`` codes (``distributions.engine.splits.TIE_BREAKS``): the API's names and the reasons shown.
TIE_BREAK_NAMES = {
    splits.TIE_BREAK_NONE: "none",
    splits.TIE_BREAK_REMAINDER: "remainder",
    splits.TIE_BREAK_SCORE: "score",
    splits.TIE_BREAK_FIRST_CREDIT: "firstCredit",
    splits.TIE_BREAK_COLLABORATOR_ID: "collaboratorId",
    splits.TIE_BREAK_UNFILLED: "unfilledPlaces",
}
_GOT_UNIT = {
    splits.TIE_BREAK_REMAINDER: "larger remainder",
    splits.TIE_BREAK_SCORE: "same remainder as the next in line, higher score",
    splits.TIE_BREAK_FIRST_CREDIT: "same remainder and score, earlier first credit",
    splits.TIE_BREAK_COLLABORATOR_ID: "same remainder, score and first credit, lower collaborator id",
    splits.TIE_BREAK_UNFILLED: "same remainder as the unfilled places, which come last",
}
_MISSED_UNIT = {
    splits.TIE_BREAK_NONE: "exact share, nothing to round",
    splits.TIE_BREAK_REMAINDER: "smaller remainder",
    splits.TIE_BREAK_SCORE: "same remainder as the last to get one, lower score",
    splits.TIE_BREAK_FIRST_CREDIT: "same remainder and score, later first credit",
    splits.TIE_BREAK_COLLABORATOR_ID: "same remainder, score and first credit, higher collaborator id",
    splits.TIE_BREAK_UNFILLED: "same remainder as the unfilled places",
}
ROUNDING_RULE = (
    "Every share is its exact share rounded down; the units left over go one each to the largest remainders, "
    "equal remainders to the higher score, then the earlier first credit, then the lower collaborator id."
)


# --------------------------------------------------------------------------- periods


def _day(moment: datetime, *, year: bool) -> str:
    return f"{moment.day} {moment:%b}" + (f" {moment.year}" if year else "")


def period_label(start: datetime, end: datetime, tz: tzinfo) -> str:
    """The period (start, end] as people read it in ``tz``: ``1 Sep – 30 Sep 2026`` for a month triggered at
    local midnight (the last day shown is the one before the trigger), ``1 Sep 2026`` for a day, and with
    times when a bound is not at local midnight (``1 Sep 2026 10:00 – 11:00``)."""
    first, last = start.astimezone(tz), end.astimezone(tz)
    midnight = time(0, 0)
    if first.time() == midnight and last.time() == midnight:
        last_day = last - timedelta(days=1)
        if last_day.date() <= first.date():
            return _day(first, year=True)
        return f"{_day(first, year=first.year != last_day.year)} – {_day(last_day, year=True)}"
    if first.date() == last.date():
        return f"{_day(first, year=True)} {first:%H:%M} – {last:%H:%M}"
    return f"{_day(first, year=True)} {first:%H:%M} – {_day(last, year=True)} {last:%H:%M}"


# --------------------------------------------------------------------------- amounts and shares


def percent_of_bp(basis_points: int) -> str:
    """``1000`` → ``10 %``, ``1250`` → ``12.5 %``, ``1`` → ``0.01 %``."""
    text = f"{Decimal(basis_points) / 100:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} %"


def share_percent(value: int, pool: int | None) -> Decimal | None:
    """``value`` as a percentage of ``pool``, 4 decimals (half-even); None without a pool."""
    if not pool:
        return None
    return (Decimal(value) * 100 / Decimal(pool)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


def share_percent_text(value: int, pool: int | None) -> str:
    percent = share_percent(value, pool)
    return "-" if percent is None else f"{percent.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN)} %"


def exact_share(pool: int, numerator: int | None, denominator: int | None) -> tuple[int, int] | None:
    """``(floor, remainder)`` of ``pool × numerator / denominator`` (exact = floor + remainder / denominator),
    None when not recorded."""
    if numerator is None or not denominator or pool is None:
        return None
    return divmod(pool * numerator, denominator)


def exact_share_text(pool: int, numerator: int | None, denominator: int | None, units: str) -> str:
    """The exact share in the units, e.g. ``155.0742… USD`` (``…``: more digits follow), ``not recorded``."""
    parts = exact_share(pool, numerator, denominator)
    if parts is None:
        return NOT_RECORDED
    floor, remainder = parts
    if not remainder:
        return format_amount(floor, units)
    extra, rest = divmod(remainder * 10**EXACT_EXTRA_DIGITS, denominator)
    number, _, _label = format_amount(floor, units).rpartition(" ")
    digits = f"{extra:0{EXACT_EXTRA_DIGITS}d}"
    if not rest:
        digits = digits.rstrip("0")
    separator = "" if units_decimal_places(units) else "."
    return f"{number}{separator}{digits}{'…' if rest else ''} {units}"


def rounding_text(rounding_unit: bool | None, tie_break: int | None) -> str:
    """Whether a share got a rounding unit, and what decided it: ``yes: larger remainder``."""
    if rounding_unit is None or tie_break is None:
        return NOT_RECORDED
    if rounding_unit:
        return f"yes: {_GOT_UNIT.get(tie_break, 'larger remainder')}"
    return f"no: {_MISSED_UNIT.get(tie_break, 'smaller remainder')}"


# --------------------------------------------------------------------------- the calculation


@dataclass(frozen=True)
class Calculation:
    """What a distribution (triggered, or the open period as if triggered now) computed, and from what.

    ``recorded`` is false for a period triggered before the trigger recorded its trace: then only ``pool``,
    ``rolled_over``, ``value``, ``unallocated`` and ``carried_forward`` are known.
    """

    units: str
    pool: int | None
    rolled_over: int
    value: int
    unallocated: int
    carried_forward: int
    recorded: bool
    period_pool: int | None = None
    pool_resolver: str = ""
    pool_percent_bp: int | None = None
    revenue_entries: int | None = None
    revenue_total: int | None = None
    distribution_resolver: str = ""
    tie_policy: str = ""
    top_n_weights: Sequence[int] | None = None
    scorer_count: int | None = None
    share_denominator: int | None = None
    allocation_count: int | None = None
    rounding_units: int | None = None
    projected: bool = False  # the open period as if triggered now: "would be"

    @classmethod
    def of_distribution(cls, distribution, *, units: str, allocation_count=None, rounding_units=None) -> Calculation:
        return cls(
            units=units,
            pool=distribution.pool,
            rolled_over=distribution.rolled_over,
            value=distribution.value,
            unallocated=distribution.unallocated,
            carried_forward=distribution.carried_forward,
            recorded=bool(distribution.distribution_resolver),
            period_pool=distribution.period_pool,
            pool_resolver=distribution.pool_resolver,
            pool_percent_bp=distribution.pool_percent_bp,
            revenue_entries=distribution.revenue_entries,
            revenue_total=distribution.revenue_total,
            distribution_resolver=distribution.distribution_resolver,
            tie_policy=distribution.tie_policy,
            top_n_weights=distribution.top_n_weights,
            scorer_count=distribution.scorer_count,
            share_denominator=distribution.share_denominator,
            allocation_count=allocation_count,
            rounding_units=rounding_units,
        )

    @classmethod
    def of_plan(cls, plan) -> Calculation:
        """From a ``distributions.trigger.DistributionPlan`` (what a trigger would write)."""
        return cls(
            units=plan.units,
            pool=plan.pool,
            rolled_over=plan.rolled_over,
            value=plan.value,
            unallocated=plan.unallocated,
            carried_forward=plan.carried_forward,
            recorded=True,
            period_pool=plan.period_pool,
            pool_resolver=plan.pool_resolver,
            pool_percent_bp=plan.pool_percent_bp,
            revenue_entries=plan.revenue_entries,
            revenue_total=plan.revenue_total,
            distribution_resolver=plan.resolver,
            tie_policy=plan.tie_policy,
            top_n_weights=plan.top_n_weights,
            scorer_count=plan.scorer_count,
            share_denominator=plan.storable_denominator,
            allocation_count=len(plan.shares),
            rounding_units=sum(1 for share in plan.shares if share.rounding_unit),
            projected=True,
        )

    def money(self, amount: int | None) -> str:
        return "-" if amount is None else format_amount(amount, self.units)

    def period_pool_text(self) -> str:
        """``10 % of 42 revenue entries totalling 10,000.00 USD`` or ``a fixed 1,000.00 USD per period``."""
        if not self.recorded or self.period_pool is None:
            return NOT_RECORDED
        if self.pool_resolver == rules.POOL_REVENUE_SHARE:
            entries = self.revenue_entries or 0
            return (
                f"{percent_of_bp(self.pool_percent_bp or 0)} of {entries} revenue "
                f"entr{'y' if entries == 1 else 'ies'} in {self.units} totalling {self.money(self.revenue_total)} "
                f"(rounded down)"
            )
        return f"a fixed {self.money(self.period_pool)} per period"

    def pool_text(self) -> str:
        """``1,234.56 USD = 1,000.00 USD (a fixed … per period) + 234.56 USD rolled over from the previous period``."""
        if self.pool is None:
            return "-"
        if not self.recorded or self.period_pool is None:
            rolled = (
                f"; {self.money(self.rolled_over)} of it rolled over from the previous period"
                if self.rolled_over
                else ""
            )
            return f"{self.money(self.pool)}{rolled} (derivation {NOT_RECORDED})"
        text = f"{self.money(self.pool)} = {self.money(self.period_pool)} ({self.period_pool_text()})"
        if self.rolled_over:
            text += f" + {self.money(self.rolled_over)} rolled over from the previous period"
        else:
            text += ", nothing rolled over from the previous period"
        return text

    def rule_text(self) -> str:
        if not self.recorded:
            return NOT_RECORDED
        label = RESOLVER_LABELS.get(self.distribution_resolver, self.distribution_resolver)
        text = f"{label} ({self.distribution_resolver})"
        if self.distribution_resolver == rules.TOP_N and self.top_n_weights:
            text += ": places worth " + " / ".join(f"{weight} %" for weight in self.top_n_weights)
        return text

    def tie_policy_text(self) -> str:
        if not self.recorded or not self.tie_policy:
            return NOT_RECORDED
        text = f"{self.tie_policy}: {TIE_POLICY_LABELS.get(self.tie_policy, self.tie_policy)}"
        if self.distribution_resolver not in TIE_POLICY_RESOLVERS:
            text += " (no effect on this rule: only topScoreWins and topN have tied places)"
        return text

    def rounding_text(self) -> str:
        if not self.recorded:
            return f"{ROUNDING_RULE} Trace {NOT_RECORDED}."
        if self.rounding_units is None:
            return ROUNDING_RULE
        count = self.rounding_units
        verb = "would be" if self.projected else ("was" if count == 1 else "were")
        return f"{ROUNDING_RULE} {count} unit{'' if count == 1 else 's'} {verb} handed out."

    def outcome_text(self) -> str:
        text = f"{self.money(self.value)} {'would be allocated' if self.projected else 'allocated'}"
        if self.allocation_count is not None:
            text += f" to {self.allocation_count} collaborator{'' if self.allocation_count == 1 else 's'}"
        if self.recorded and self.scorer_count is not None:
            text += f" (of {self.scorer_count} with a score)"
        text += (
            f"; {self.money(self.unallocated)} unallocated (kept), {self.money(self.carried_forward)} carried forward"
        )
        return text

    def lines(self) -> list[tuple[str, str]]:
        """``(label, text)`` rows of the explanation, in reading order."""
        return [
            ("Pool", self.pool_text()),
            ("Split rule", self.rule_text()),
            ("Tie policy", self.tie_policy_text()),
            ("Rounding", self.rounding_text()),
            ("Outcome", self.outcome_text()),
        ]
