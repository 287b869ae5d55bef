"""Units precision: how many decimal places a units' major unit has, and conversions to and from minor units.

Amounts are stored as integers in the smallest unit (1234 USD = 12.34 USD). Currencies follow ISO 4217
minor units; ``points`` are whole; any other units (an unlisted currency code, a custom unit) default to
2 places. Conversions are exact (``Decimal``), never through floats, and refuse rather than round.
"""

import re
from collections.abc import Mapping
from decimal import Decimal

ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
DEFAULT_DECIMAL_PLACES = 2

_DECIMAL_RE = re.compile(r"^[+-]?(?P<int>\d+)(?:\.(?P<frac>\d+))?$", re.ASCII)


def units_decimal_places(units: str) -> int:
    """Decimal places of ``units``' major unit: JPY 0, USD 2, KWD 3, points 0 (case-insensitive)."""
    code = units.strip().upper()
    if code == "POINTS" or code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return DEFAULT_DECIMAL_PLACES


def to_minor(decimal_str: str, units: str) -> int:
    """``"12.34"`` USD → ``1234``. Plain decimal notation only (no exponent, no thousands separator).

    Raises ``ValueError`` for anything else, or for more decimals than ``units`` has (``"12.345"`` USD),
    rather than rounding money. Trailing zeros beyond the precision are fine (``"12.340"`` USD → 1234).
    """
    text = str(decimal_str).strip()
    match = _DECIMAL_RE.match(text)
    if not match:
        raise ValueError(f"'{decimal_str}' is not a decimal number such as 12.34.")
    places = units_decimal_places(units)
    frac = (match.group("frac") or "").rstrip("0")
    if len(frac) > places:
        raise ValueError(f"'{decimal_str}' has more decimal places than {units} allows ({places}).")
    return int(Decimal(text).scaleb(places))


def to_major(amount: int, units: str) -> str:
    """``1234`` USD → ``"12.34"``; ``5`` points → ``"5"``; always exactly the units' decimal places."""
    places = units_decimal_places(units)
    if places == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}"


def format_amount(amount: int, units: str) -> str:
    """``amount`` (minor units) as people read it, with its units: ``15507`` USD → ``"155.07 USD"``.

    The one human formatter of money and points, shared by the admin, the commands' printed output and the
    admin's messages (the payout CSV takes ``to_major``: decimals only, no grouping, no units). Exactly the
    units' decimal places (JPY 0, USD 2, KWD 3, points 0); thousands grouped with a comma and the decimal
    point a dot, whatever the locale (``1,170.88 USD``, ``1,000 points``, ``-5.00 USD``); ``1 point`` is
    singular. Grouping makes large amounts readable at a glance; lists of amounts are therefore joined with
    `` · `` (``format_totals``), never with a comma.
    """
    major = to_major(amount, units)
    sign, digits = ("-", major[1:]) if major.startswith("-") else ("", major)
    whole, dot, frac = digits.partition(".")
    grouped = f"{int(whole):,}"
    label = "point" if units == "points" and abs(amount) == 1 else units
    return f"{sign}{grouped}{dot}{frac} {label}"


def format_totals(totals: Mapping[str, int], *, empty: str = "nothing") -> str:
    """Amounts in several units, ``{"USD": 117088, "points": 5}`` → ``"1,170.88 USD · 5 points"`` (sorted by
    units); ``empty`` when there is none."""
    if not totals:
        return empty
    return " · ".join(format_amount(total, units) for units, total in sorted(totals.items()))


_UNITS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,15}$", re.ASCII)


def normalize_units(units: str) -> str:
    """The stored spelling of ``units``: currency codes upper case (``usd`` → ``USD``), ``points`` lower case.

    Raises ``ValueError`` for anything that is not a short code (letters, digits, ``_``/``-``; at most 16).
    """
    text = str(units).strip()
    if not _UNITS_RE.match(text):
        raise ValueError(f"'{units}' is not a units code such as USD or points.")
    if text.lower() == "points":
        return "points"
    if len(text) == 3 and text.isalpha():
        return text.upper()
    return text


def clean_units_field(instance, field: str = "units") -> None:
    """For a model's ``clean()``: store ``instance.<field>`` in its normalized spelling, or raise a
    ``ValidationError`` on that field. Revenue-share pools and payouts match units exactly, so ``usd`` typed in
    the admin must be stored as the ``USD`` the revenue import stores."""
    from django.core.exceptions import ValidationError

    value = getattr(instance, field)
    if not value:
        return  # a required field: the field's own validation reports it
    try:
        setattr(instance, field, normalize_units(value))
    except ValueError as exc:
        raise ValidationError({field: str(exc)}) from None
