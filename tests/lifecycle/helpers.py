"""Status history rows written straight through the one recording helper, for the tests of what reads them (the
admin timeline, the ``status_history`` command)."""

from datetime import UTC, datetime, timedelta

from lifecycle.services import status_changes_record

AT = datetime(2026, 9, 30, 22, 0, 5, tzinfo=UTC)  # 1 Oct 00:00:05 in Paris (CEST)


def record(obj, *moves, actor="", reason="", at=AT):
    """Record ``moves`` ((from, to) pairs) of ``obj``, one minute apart from ``at``."""
    for i, (before, after) in enumerate(moves):
        status_changes_record(
            model=type(obj),
            organization_id=obj.organization_id,
            changes=[(obj.pk, before, after)],
            actor=actor,
            reason=reason,
            at=at + timedelta(minutes=i),
        )
