"""Every event type, with what it means. The apps that record them own their payloads (``<app>/events.py``)."""

EVENT_TYPES: dict[str, str] = {
    "distribution.triggered": "A period was triggered: its pool was split into allocations and obligations.",
    "distribution.completed": "Every obligation of a triggered distribution is settled (or it paid nothing).",
    "distribution.cancelled": "An open period was cancelled because its distributor was deleted.",
    "allocation.created": "A collaborator's share of a triggered distribution.",
    "obligation.created": "An amount owed: by a distribution, or added by staff.",
    "obligation.approved": "Approved for payment (also when a payout marked paid is taken back).",
    "obligation.rejected": "Refused; it will not be paid.",
    "obligation.cancelled": "Withdrawn; it will not be paid.",
    "obligation.fulfilled": "Paid: its payout was marked paid.",
    "metrics.credited": "A metric credit request was recorded (one event per request or batch item).",
    "fulfillment.created": "Approved obligations were batched into a fulfillment and its payouts.",
    "fulfillment.status_changed": "A fulfillment moved to processing, complete or failed.",
    "payout.created": "A payout of a new fulfillment: one per collaborator and units.",
    "payout.paid": "A payout was marked paid.",
    "payout.unpaid": "A payout marked paid was taken back.",
}
