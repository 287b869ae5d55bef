"""Writes on obligations: status moves (mirrored on allocations) and the distribution status they drive."""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from distributions.models import Allocation
from distributions.services import distributions_follow_obligations
from obligations.models import Obligation


def obligations_transition(*, obligation_ids: Iterable[int], status: str) -> list[Obligation]:
    """Move every given obligation to ``status``, or none of them (IllegalTransition names the first refusal).

    Allocations mirror the new status and each affected distribution follows its obligations.
    """
    ids = sorted(set(obligation_ids))
    with transaction.atomic():
        obligations = list(Obligation.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        for obligation in obligations:
            obligation.transition_to(status)
        Obligation.objects.filter(pk__in=[o.pk for o in obligations]).update(status=status, modified_at=timezone.now())
        allocations = Allocation.objects.filter(obligation_id__in=[o.pk for o in obligations])
        distribution_ids = set(allocations.values_list("distribution_id", flat=True))
        allocations.update(status=status)
        distributions_follow_obligations(distribution_ids=distribution_ids)
    return obligations
