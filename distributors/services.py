from django.db import transaction

from distributions.services import distribution_cancel_pending, distribution_open_first
from distributors.models import Distributor, DistributorStatus


def distributor_save(*, distributor: Distributor) -> Distributor:
    """Validate and save a distributor, and make sure an active one has its open period."""
    distributor.full_clean(exclude=["eligible_collaborators"])
    with transaction.atomic():
        distributor.save()
        if distributor.status == DistributorStatus.ACTIVE:
            distribution_open_first(distributor=distributor)
    return distributor


def distributor_set_status(*, distributor: Distributor, status: str) -> Distributor:
    """Move a distributor through its lifecycle.

    Inactive keeps the pending period (it triggers, catching up, once reactivated); deleted cancels it.
    """
    with transaction.atomic():
        locked = Distributor.objects.select_for_update().get(pk=distributor.pk)
        locked.transition_to(status)
        locked.save(update_fields=["status", "modified_at"])
        if status == DistributorStatus.DELETED:
            distribution_cancel_pending(distributor=locked)
        elif status == DistributorStatus.ACTIVE:
            distribution_open_first(distributor=locked)
    distributor.status = locked.status
    return locked
