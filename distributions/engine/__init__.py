"""Pure (ORM-free) building blocks of the payout distribution engine."""
