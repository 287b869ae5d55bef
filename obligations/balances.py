"""Which approved balances a fulfillment pays and which it holds back: pure arithmetic, no ORM.

A balance is the net sum (minor units) of one collaborator's approved obligations in one units that are in no
payout: positive earnings plus negative adjustments (clawbacks). A fulfillment pays a balance only when it is
positive and at least the organization's minimum payout in those units; otherwise every obligation of it stays
approved and carries over to a later fulfillment:

- ``net_debt``: the balance is negative (a clawback larger than what is owed); it waits for later earnings.
- ``net_zero``: the balance nets to exactly zero; nothing is due, the obligations wait with it.
- ``below_minimum``: positive but smaller than the minimum; it waits until it adds up.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from distributors.units import format_amount

NET_DEBT = "net_debt"
NET_ZERO = "net_zero"
BELOW_MINIMUM = "below_minimum"

BalanceKey = tuple[int, str]  # (collaborator id, units)


@dataclass(frozen=True)
class HeldBalance:
    """One collaborator's balance in one units that a fulfillment left out, and why (``reason``)."""

    collaborator_id: int
    collaborator_name: str
    units: str
    balance: int
    minimum: int
    obligation_count: int
    reason: str

    def as_dict(self) -> dict:
        return {
            "collaborator_id": self.collaborator_id,
            "collaborator_name": self.collaborator_name,
            "units": self.units,
            "balance": self.balance,
            "minimum": self.minimum,
            "obligation_count": self.obligation_count,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "HeldBalance":
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    @property
    def reason_text(self) -> str:
        """``net debt``, ``nets to zero``, ``below the minimum 10.00 USD`` (beside the balance)."""
        if self.reason == NET_DEBT:
            return "net debt"
        if self.reason == NET_ZERO:
            return "nets to zero"
        return f"below the minimum {format_amount(self.minimum, self.units)}"

    @property
    def why(self) -> str:
        """``net debt -5.00 USD``, ``nets to 0.00 USD``, ``3.00 USD below the minimum 10.00 USD``."""
        amount = format_amount(self.balance, self.units)
        if self.reason == NET_DEBT:
            return f"net debt {amount}"
        if self.reason == NET_ZERO:
            return f"nets to {amount}"
        return f"{amount} below the minimum {format_amount(self.minimum, self.units)}"


def hold_reason(balance: int, minimum: int) -> str | None:
    """Why a balance is held back (``None``: it is paid). ``minimum`` 0 means no minimum."""
    if balance < 0:
        return NET_DEBT
    if balance == 0:
        return NET_ZERO
    if balance < minimum:
        return BELOW_MINIMUM
    return None


def split_balances(
    balances: Mapping[BalanceKey, int], minimums: Mapping[str, int]
) -> tuple[list[BalanceKey], dict[BalanceKey, str]]:
    """The keys paid (sorted) and, for the others, why each is held back."""
    paid: list[BalanceKey] = []
    held: dict[BalanceKey, str] = {}
    for key in sorted(balances):
        reason = hold_reason(balances[key], minimums.get(key[1], 0))
        if reason is None:
            paid.append(key)
        else:
            held[key] = reason
    return paid, held
