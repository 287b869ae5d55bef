"""Reads of the crediting service: what one credit needs to know, in one statement.

``credit_plan`` answers, for one collaborator, metric type and optional distributor: the collaborator's stored
status, the targets (every active distributor of the organization that counts the metric type and that the
collaborator is eligible for, with the type's points, in distributor order) and, when an idempotency key is
given, the earlier request that holds it. The rules are those of ``distributors.selectors.credit_targets``; the
statement is written out once per shape (with or without a distributor) and reused, because building the
equivalent ORM query on every request cost more CPU than running it.
"""

from dataclasses import dataclass

from django.db import connection

from collaborators.models import Collaborator
from distributors.models import Distributor, DistributorStatus, Eligibility, MetricType
from metrics.models import CreditRequest


@dataclass(frozen=True, slots=True)
class CreditTarget:
    """A distributor a credit lands on and the metric type's points there."""

    distributor_id: int
    points: int


@dataclass(frozen=True)
class CreditPlan:
    status: str | None  # None: no such collaborator in the organization
    targets: list[CreditTarget]
    previous_request_id: int | None
    previous_fingerprint: str | None


_SQL: dict[bool, str] = {}


def _plan_sql(with_distributor: bool) -> str:
    if with_distributor not in _SQL:
        quote = connection.ops.quote_name
        collaborators = quote(Collaborator._meta.db_table)
        distributors = quote(Distributor._meta.db_table)
        metric_types = quote(MetricType._meta.db_table)
        eligible = quote(Distributor.eligible_collaborators.through._meta.db_table)
        requests = quote(CreditRequest._meta.db_table)
        only = "AND d.id = %s" if with_distributor else ""
        _SQL[with_distributor] = f"""
            SELECT c.status, mt.distributor_id, mt.points, r.id, r.request_fingerprint
            FROM {collaborators} c
            LEFT JOIN ({metric_types} mt INNER JOIN {distributors} d ON d.id = mt.distributor_id)
                ON mt.name = %s AND d.organization_id = c.organization_id AND d.status = %s {only}
                AND (d.eligibility = %s OR (d.eligibility = %s AND EXISTS (
                    SELECT 1 FROM {eligible} e WHERE e.distributor_id = d.id AND e.collaborator_id = c.id)))
            LEFT JOIN {requests} r ON r.organization_id = c.organization_id AND r.idempotency_key = %s
            WHERE c.id = %s AND c.organization_id = %s
            ORDER BY mt.distributor_id
        """
    return _SQL[with_distributor]


def credit_plan(
    *,
    organization_id: int,
    collaborator_id: int,
    metric_type: str,
    distributor_id: int | None = None,
    idempotency_key: str | None = None,
) -> CreditPlan:
    """What crediting ``metric_type`` to the collaborator needs (see the module docstring), in one statement."""
    params: list = [metric_type, DistributorStatus.ACTIVE.value]
    if distributor_id is not None:
        params.append(distributor_id)
    params += [
        Eligibility.ALL_ACTIVE.value,
        Eligibility.SELECTED.value,
        idempotency_key or None,
        collaborator_id,
        organization_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_plan_sql(distributor_id is not None), params)
        rows = cursor.fetchall()
    if not rows:
        return CreditPlan(status=None, targets=[], previous_request_id=None, previous_fingerprint=None)
    status, _, _, previous_id, previous_fingerprint = rows[0]
    targets = [CreditTarget(distributor_id=row[1], points=row[2]) for row in rows if row[1] is not None]
    return CreditPlan(
        status=status, targets=targets, previous_request_id=previous_id, previous_fingerprint=previous_fingerprint
    )
