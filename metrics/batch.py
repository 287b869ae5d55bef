"""Crediting in bulk: ``metric_credit_batch``, behind ``POST /distributors/credit-metric/batch`` and
``manage.py import_credits``.

Each item is a credit with the rules of ``metrics.services.metric_credit`` (its module docstring): only active
collaborators earn, a credit lands on every active distributor counting its metric type that the collaborator
is eligible for (or only on its ``distributor_id``), landing nowhere is refused, and an instant at or before a
distributor's ``distributed_through`` is refused. Decisions for batches (where the issue is silent):

- All or nothing. Every item is checked before anything is written; any refusal refuses the batch and names
  each failing item by its index (0-based) and domain field (``CreditBatchRefused.errors``). An id or alias no
  collaborator of the organization has raises ``CreditBatchNotFound`` with the indexes (the API's 404, as for
  one credit), before any other check.
- One item is one ``CreditRequest`` with its ledger rows and one ``metrics.credited`` event, exactly as if it
  had been credited alone; its optional ``key`` is that request's idempotency key. Item keys therefore share
  the namespace of single credits' keys: an item whose key was already used (by a single credit or an earlier
  batch) with the same credit is replayed (``replayed=True``, nothing credited again); with another credit
  it is a conflict (``CreditBatchConflict`` naming the indexes), and the batch is refused. A key repeated
  inside one batch follows the same rule: the later item replays the earlier one (same credit) or conflicts.
- The batch's own ``idempotency_key`` makes the whole batch idempotent. Batch keys are a separate namespace
  (``CreditBatch``): a retry with the same key and the same items answers the first outcome again (every
  entry as first answered) and credits nothing; the same key with other items is a conflict.
- All items of a batch share one instant when none is given (the moment of writing, after the hold); an item
  may carry its own ``credited_at`` (the import command's back-dating), never in the future.
- Constant work: one query resolves every collaborator (ids and aliases), one finds every target (plus one
  for ``selected`` eligibility when such a distributor is among them), one looks up the item keys, one bulk
  insert each writes the requests, the ledger rows and the events; the hold is the one of a single credit.
  PostgreSQL sends each bulk insert as one statement; SQLite splits an insert past its 999-parameter limit.
- Concurrency: two batches racing on one key (batch or item) meet on the unique constraints; the loser is
  rolled back whole and evaluated again (a bounded number of times), so it replays what the winner wrote.
"""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from collaborators.models import Collaborator, CollaboratorStatus
from collaborators.refs import CollaboratorRef
from distributors.models import Distributor, DistributorStatus, Eligibility, MetricType
from distributors.selectors import distributors_hold_for_credit
from metrics.events import record_credits
from metrics.models import MAX_CREDIT_QUANTITY, CreditBatch, CreditRequest, MetricCredit
from metrics.services import ACTOR_MAX_LENGTH, IDEMPOTENCY_KEY_MAX_LENGTH, CreditOutcome, closed_period_refusal
from organizations.models import Organization

MAX_BATCH_SIZE = 1000
"""The most items one batch may carry (the API's limit and the import command's chunk)."""

ATTEMPTS = 3  # evaluations of a batch that lost a race on a key before the error is let through


@dataclass(frozen=True)
class CreditItem:
    """One credit of a batch, in domain terms (``collaborator`` is an id or an alias, not yet resolved)."""

    collaborator: CollaboratorRef
    metric_type: str = "manual"
    quantity: int = 1
    distributor_id: int | None = None
    key: str | None = None
    credited_at: datetime | None = None


@dataclass(frozen=True)
class BatchOutcome:
    """One ``CreditOutcome`` per item, in the items' order; ``replayed`` when the whole batch was a replay."""

    entries: list[CreditOutcome]
    replayed: bool

    @property
    def credited(self) -> int:
        """Items credited by this call (not replayed)."""
        return 0 if self.replayed else sum(not entry.replayed for entry in self.entries)


class CreditBatchRefused(Exception):
    """The batch cannot be credited. ``errors``: item index → domain field → messages; ``batch_errors``:
    domain field of the batch itself (``items``, ``idempotency_key``) → messages."""

    def __init__(self, errors: dict[int, dict[str, list[str]]], batch_errors: dict[str, list[str]] | None = None):
        self.errors = dict(sorted(errors.items()))
        self.batch_errors = batch_errors or {}
        first = next(iter(self.errors.items()), None)
        if first is not None:
            index, fields = first
            field, messages = next(iter(fields.items()))
            self.message = f"item {index}, {field}: {messages[0]}"
        else:
            field, messages = next(iter(self.batch_errors.items()))
            self.message = f"{field}: {messages[0]}"
        more = sum(len(fields) for fields in self.errors.values()) + len(self.batch_errors) - 1
        if more > 0:
            self.message += f" (and {more} more)"
        super().__init__(self.message)


class CreditBatchNotFound(Exception):
    """Items name collaborators the organization does not have (``indexes``, in order)."""

    def __init__(self, indexes: list[int], refs: list[CollaboratorRef]):
        self.indexes = indexes
        self.refs = refs
        shown = ", ".join(f"item {index} ({_ref_text(ref)})" for index, ref in zip(indexes[:5], refs[:5], strict=True))
        more = f" and {len(indexes) - 5} more" if len(indexes) > 5 else ""
        self.message = f"Collaborator not found: {shown}{more}."
        super().__init__(self.message)


class CreditBatchConflict(Exception):
    """A key was already used for a different credit (``indexes``: the items whose key conflicts; empty when
    it is the batch's own key)."""

    def __init__(self, indexes: list[int]):
        self.indexes = indexes
        if indexes:
            shown = ", ".join(map(str, indexes[:10])) + (f" and {len(indexes) - 10} more" if len(indexes) > 10 else "")
            self.message = f"The key of item(s) {shown} was already used with a different credit."
        else:
            self.message = "This idempotency key was already used with a different batch."
        super().__init__(self.message)


def _ref_text(ref: CollaboratorRef) -> str:
    return str(ref.id) if ref.id is not None else f"{ref.alias_type}:{ref.code}"


def _item_fingerprint(collaborator_id: int, item: CreditItem) -> str:
    """The fingerprint ``metrics.services.metric_credit`` stores, so that a single credit's key and an item's key
    replay each other: the same text as its ``json.dumps(..., sort_keys=True)``, written out (a thousand
    ``json.dumps`` calls cost more than the rest of the item's checks)."""
    distributor = "null" if item.distributor_id is None else int(item.distributor_id)
    text = (
        f'{{"collaborator": {int(collaborator_id)}, "distributor": {distributor}, '
        f'"metric_type": {json.dumps(item.metric_type)}, "quantity": {int(item.quantity)}}}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _batch_fingerprint(fingerprints: list[str], items: list[CreditItem]) -> str:
    text = json.dumps(
        [
            [fp, item.key, item.credited_at.isoformat() if item.credited_at else None]
            for fp, item in zip(fingerprints, items, strict=True)
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _validate(items: list[CreditItem], idempotency_key: str | None, now: datetime) -> None:
    batch_errors: dict[str, list[str]] = {}
    if not 1 <= len(items) <= MAX_BATCH_SIZE:
        batch_errors["items"] = [f"A batch holds 1 to {MAX_BATCH_SIZE} credits; got {len(items)}."]
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX_LENGTH:
        batch_errors["idempotency_key"] = [f"The idempotency key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters."]
    errors: dict[int, dict[str, list[str]]] = {}
    for index, item in enumerate(items):
        problems: dict[str, list[str]] = {}
        quantity = item.quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_CREDIT_QUANTITY:
            problems["quantity"] = [f"The quantity must be a whole number from 1 to {MAX_CREDIT_QUANTITY}."]
        if not isinstance(item.metric_type, str) or not item.metric_type:
            problems["metric_type"] = ["The metric type must be a non-empty metric type name."]
        distributor_id = item.distributor_id
        if distributor_id is not None and (isinstance(distributor_id, bool) or not isinstance(distributor_id, int)):
            problems["distributor"] = ["The distributor must be a distributor id."]
        if item.key is not None and not 1 <= len(item.key) <= IDEMPOTENCY_KEY_MAX_LENGTH:
            problems["key"] = [f"The key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters."]
        if item.credited_at is not None:
            if timezone.is_naive(item.credited_at):
                problems["credited_at"] = ["The credit instant must be timezone-aware."]
            elif item.credited_at > now:
                problems["credited_at"] = ["The credit instant is in the future; credits can only be back-dated."]
        if problems:
            errors[index] = problems
    if errors or batch_errors:
        raise CreditBatchRefused(errors, batch_errors)


def _resolve_collaborators(organization: Organization, items: list[CreditItem]) -> list[tuple[int, str]]:
    """``(collaborator id, status)`` per item, in one query; unknown refs raise ``CreditBatchNotFound``."""
    ids = {item.collaborator.id for item in items if item.collaborator.id is not None}
    pairs = {(item.collaborator.alias_type, item.collaborator.code) for item in items if item.collaborator.id is None}
    condition = Q(pk__in=sorted(ids))
    if pairs:
        condition |= Q(
            aliases__organization=organization,
            aliases__type__in=sorted({t for t, _ in pairs}),
            aliases__code__in=sorted({c for _, c in pairs}),
        )
        fields = ("pk", "status", "aliases__type", "aliases__code")
    else:
        fields = ("pk", "status")
    by_id: dict[int, str] = {}
    by_alias: dict[tuple[str, str], int] = {}
    for row in Collaborator.objects.filter(condition, organization=organization).order_by().values_list(*fields):
        by_id[row[0]] = row[1]
        if pairs and (row[2], row[3]) in pairs:
            by_alias[(row[2], row[3])] = row[0]
    resolved: list[tuple[int, str]] = []
    missing: list[int] = []
    for index, item in enumerate(items):
        ref = item.collaborator
        pk = ref.id if ref.id is not None else by_alias.get((ref.alias_type, ref.code))
        if pk is None or pk not in by_id:
            missing.append(index)
            resolved.append((0, ""))
        else:
            resolved.append((pk, by_id[pk]))
    if missing:
        raise CreditBatchNotFound(missing, [items[index].collaborator for index in missing])
    return resolved


@dataclass(frozen=True)
class _Target:
    distributor_id: int
    points: int


def _targets(
    organization: Organization, items: list[CreditItem], collaborator_ids: list[int]
) -> tuple[list[list[_Target]], dict[int, dict[str, list[str]]]]:
    """Every item's targets (in distributor order), or refusals by index, in one or two queries."""
    rows = (
        MetricType.objects.filter(
            name__in=sorted({item.metric_type for item in items}),
            distributor__organization=organization,
            distributor__status=DistributorStatus.ACTIVE,
        )
        .order_by("distributor_id")
        .values_list("distributor_id", "name", "points", "distributor__eligibility")
    )
    by_name: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
    selected_ids: set[int] = set()
    for distributor_id, name, points, eligibility in rows:
        selected = eligibility == Eligibility.SELECTED
        by_name[name].append((distributor_id, points, selected))
        if selected:
            selected_ids.add(distributor_id)
    eligible: set[tuple[int, int]] = set()
    if selected_ids:
        eligible = set(
            Distributor.eligible_collaborators.through.objects.filter(
                distributor_id__in=sorted(selected_ids), collaborator_id__in=sorted(set(collaborator_ids))
            ).values_list("distributor_id", "collaborator_id")
        )
    targets: list[list[_Target]] = []
    errors: dict[int, dict[str, list[str]]] = {}
    for index, (item, collaborator_id) in enumerate(zip(items, collaborator_ids, strict=True)):
        found = [
            _Target(distributor_id, points)
            for distributor_id, points, selected in by_name.get(item.metric_type, ())
            if (item.distributor_id is None or distributor_id == item.distributor_id)
            and (not selected or (distributor_id, collaborator_id) in eligible)
        ]
        targets.append(found)
        if not found:
            errors[index] = {}  # filled below, once the unknown distributors are known
    if errors:
        asked = sorted({items[index].distributor_id for index in errors if items[index].distributor_id is not None})
        known = (
            set(Distributor.objects.filter(organization=organization, pk__in=asked).values_list("pk", flat=True))
            if asked
            else set()
        )
        for index in errors:
            item, collaborator_id = items[index], collaborator_ids[index]
            if item.distributor_id is not None and item.distributor_id not in known:
                errors[index] = {"distributor": [f"Distributor {item.distributor_id} not found."]}
                continue
            where = (
                f"distributor {item.distributor_id}" if item.distributor_id is not None else "any active distributor"
            )
            errors[index] = {
                "distributor" if item.distributor_id is not None else "metric_type": [
                    f"Metric type '{item.metric_type}' is not counted by {where} that collaborator "
                    f"{collaborator_id} is eligible for."
                ]
            }
    return targets, errors


def _replay_batch(organization: Organization, key: str, fingerprint: str) -> BatchOutcome | None:
    previous = CreditBatch.objects.filter(organization=organization, idempotency_key=key).first()
    if previous is None:
        return None
    if previous.request_fingerprint != fingerprint:
        raise CreditBatchConflict([])
    request_ids = [request_id for request_id, _ in previous.items]
    outcomes = _outcomes_of(request_ids)
    return BatchOutcome(
        entries=[
            CreditOutcome(request=outcomes[request_id].request, credits=outcomes[request_id].credits, replayed=replayed)
            for request_id, replayed in previous.items
        ],
        replayed=True,
    )


def _outcomes_of(request_ids: list[int]) -> dict[int, CreditOutcome]:
    """The recorded outcome of each credit request (two queries, whatever their number)."""
    requests = {r.pk: r for r in CreditRequest.objects.filter(pk__in=sorted(set(request_ids)))}
    credits: dict[int, list[MetricCredit]] = defaultdict(list)
    for credit in MetricCredit.objects.filter(request_id__in=sorted(requests)).order_by(
        "request_id", "distributor_id", "pk"
    ):
        credits[credit.request_id].append(credit)
    return {pk: CreditOutcome(request=request, credits=credits[pk], replayed=True) for pk, request in requests.items()}


def metric_credit_batch(
    *,
    organization: Organization,
    items: list[CreditItem],
    source: str,
    actor: str = "",
    idempotency_key: str | None = None,
) -> BatchOutcome:
    """Credit every item of ``items`` (1 to ``MAX_BATCH_SIZE``), all or nothing; see the module docstring for
    the rules (refusals by index, item keys, the batch key, constant statements). Raises
    ``CreditBatchRefused``, ``CreditBatchNotFound``, ``CreditBatchConflict``, or the hold's
    ``distributors.selectors.HoldTimeout`` (nothing written)."""
    _validate(items, idempotency_key, timezone.now())
    resolved = _resolve_collaborators(organization, items)
    for attempt in range(ATTEMPTS):
        try:
            return _credit_batch_once(
                organization=organization,
                items=items,
                resolved=resolved,
                source=source,
                actor=actor,
                idempotency_key=idempotency_key,
            )
        except IntegrityError:
            # A concurrent batch or credit took one of our keys first (we waited for it, then met the unique
            # constraint): evaluate again, now replaying what it wrote.
            if attempt == ATTEMPTS - 1 or not (idempotency_key or any(item.key for item in items)):
                raise
    raise AssertionError("unreachable")


def _credit_batch_once(
    *,
    organization: Organization,
    items: list[CreditItem],
    resolved: list[tuple[int, str]],
    source: str,
    actor: str,
    idempotency_key: str | None,
) -> BatchOutcome:
    collaborator_ids = [pk for pk, _ in resolved]
    fingerprints = [_item_fingerprint(pk, item) for pk, item in zip(collaborator_ids, items, strict=True)]
    batch_fingerprint = _batch_fingerprint(fingerprints, items)
    if idempotency_key:
        replay = _replay_batch(organization, idempotency_key, batch_fingerprint)
        if replay is not None:
            return replay

    # Item keys: earlier requests replay (same credit) or conflict; a key repeated in the batch replays the
    # first item that carries it.
    keys = sorted({item.key for item in items if item.key})
    earlier = (
        {
            r.idempotency_key: r
            for r in CreditRequest.objects.filter(organization=organization, idempotency_key__in=keys)
        }
        if keys
        else {}
    )
    first_with_key: dict[str, int] = {}
    replay_of: dict[int, CreditRequest | int] = {}  # index -> earlier request, or the index it repeats
    conflicts: list[int] = []
    for index, (item, fingerprint) in enumerate(zip(items, fingerprints, strict=True)):
        if not item.key:
            continue
        if item.key in earlier:
            previous = earlier[item.key]
            if previous.request_fingerprint != fingerprint:
                conflicts.append(index)
            else:
                replay_of[index] = previous
        elif item.key in first_with_key:
            first = first_with_key[item.key]
            if fingerprints[first] != fingerprint:
                conflicts.append(index)
            else:
                replay_of[index] = first
        else:
            first_with_key[item.key] = index
    if conflicts:
        raise CreditBatchConflict(conflicts)

    new = [index for index in range(len(items)) if index not in replay_of]
    errors: dict[int, dict[str, list[str]]] = {}
    for index in new:
        pk, status = resolved[index]
        if status != CollaboratorStatus.ACTIVE:
            errors[index] = {"collaborator": [f"Collaborator {pk} is {status}; only active collaborators earn."]}
    new_items = [items[index] for index in new if index not in errors]
    new_indexes = [index for index in new if index not in errors]
    found, target_errors = _targets(organization, new_items, [collaborator_ids[i] for i in new_indexes])
    errors.update({new_indexes[position]: problems for position, problems in target_errors.items()})
    if errors:
        raise CreditBatchRefused(errors)
    targets = dict(zip(new_indexes, found, strict=True))

    earlier_outcomes = (
        _outcomes_of([r.pk for r in replay_of.values() if isinstance(r, CreditRequest)])
        if any(isinstance(r, CreditRequest) for r in replay_of.values())
        else {}
    )
    instants = {items[index].credited_at for index in new}
    with transaction.atomic():
        # One instant for the whole batch (the usual case) holds as a single credit at that instant would;
        # several (back-dated items) hold every distributor credited, which is always safe.
        distributor_ids = sorted({t.distributor_id for index in new for t in targets[index]})
        distributed_through = {}
        if new:
            instant = (next(iter(instants)) or timezone.now()) if len(instants) == 1 else None
            distributed_through = distributors_hold_for_credit(distributor_ids=distributor_ids, credited_at=instant)
        recorded_at = timezone.now()
        for index in new:
            credited_at = items[index].credited_at or recorded_at
            refusal = closed_period_refusal(
                {t.distributor_id: distributed_through.get(t.distributor_id) for t in targets[index]}, credited_at
            )
            if refusal:
                errors[index] = {"credited_at": [refusal]}
        if errors:
            raise CreditBatchRefused(errors)
        actor = actor[:ACTOR_MAX_LENGTH]
        write = write_credits_postgresql if connection.vendor == "postgresql" else _write_orm
        request_of, credits_of = write(
            organization=organization,
            rows=[(index, items[index], fingerprints[index], collaborator_ids[index], targets[index]) for index in new],
            source=source,
            actor=actor,
            recorded_at=recorded_at,
        )
        record_credits(organization.pk, [(request, credits_of[request.pk]) for request in request_of.values()])

        entries: list[CreditOutcome] = []
        for index in range(len(items)):
            if index in request_of:
                request = request_of[index]
                entries.append(CreditOutcome(request=request, credits=credits_of[request.pk], replayed=False))
                continue
            previous = replay_of[index]
            source_outcome = earlier_outcomes[previous.pk] if isinstance(previous, CreditRequest) else entries[previous]
            entries.append(CreditOutcome(request=source_outcome.request, credits=source_outcome.credits, replayed=True))
        if idempotency_key:
            CreditBatch.objects.create(
                organization=organization,
                idempotency_key=idempotency_key,
                request_fingerprint=batch_fingerprint,
                source=source,
                actor=actor,
                items=[[entry.request.pk, entry.replayed] for entry in entries],
                created_at=recorded_at,
            )
    return BatchOutcome(entries=entries, replayed=False)


@dataclass(frozen=True, slots=True)
class WrittenRequest:
    """A credit request as the PostgreSQL writer wrote it: what an outcome reads of a ``CreditRequest``, without
    the cost of a model instance (a batch builds thousands)."""

    pk: int
    idempotency_key: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WrittenCredit:
    """A ledger row as the PostgreSQL writer wrote it (the fields of ``MetricCredit`` an outcome reads)."""

    pk: int
    request_id: int
    distributor_id: int
    collaborator_id: int
    metric_type: str
    quantity: int
    points_per_unit: int
    points: int
    credited_at: datetime


_Row = tuple[int, CreditItem, str, int, list[_Target]]  # index, item, fingerprint, collaborator id, targets


def _write_orm(
    *, organization: Organization, rows: list[_Row], source: str, actor: str, recorded_at: datetime
) -> tuple[dict[int, CreditRequest], dict[int, list[MetricCredit]]]:
    """The requests and ledger rows by Django's bulk inserts (any database)."""
    requests = CreditRequest.objects.bulk_create(
        CreditRequest(
            organization=organization,
            idempotency_key=item.key or None,
            request_fingerprint=fingerprint,
            source=source,
            actor=actor,
            created_at=recorded_at,
        )
        for _, item, fingerprint, _, _ in rows
    )
    request_of = {row[0]: request for row, request in zip(rows, requests, strict=True)}
    credits = [
        MetricCredit(
            organization=organization,
            request=request_of[index],
            distributor_id=target.distributor_id,
            collaborator_id=collaborator_id,
            metric_type=item.metric_type,
            quantity=item.quantity,
            points_per_unit=target.points,
            points=item.quantity * target.points,
            credited_at=item.credited_at or recorded_at,
        )
        for index, item, _, collaborator_id, targets in rows
        for target in targets
    ]
    MetricCredit.objects.bulk_create(credits)
    credits_of: dict[int, list[MetricCredit]] = defaultdict(list)
    for credit in credits:
        credits_of[credit.request_id].append(credit)
    return request_of, credits_of


_POSTGRESQL_INSERT: str | None = None


def _postgresql_insert() -> str:
    """One statement writing the requests and their ledger rows from one JSON document (built once).

    The request ids are drawn from the table's sequence in a materialized CTE, so each item knows its own; the
    answer is (item index, request id, distributor id, credit id) per ledger row."""
    global _POSTGRESQL_INSERT
    if _POSTGRESQL_INSERT is None:
        quote = connection.ops.quote_name
        requests, credits = CreditRequest._meta.db_table, MetricCredit._meta.db_table
        _POSTGRESQL_INSERT = f"""
        WITH src AS MATERIALIZED (
            SELECT x.i, x.k, x.f, x.c, x.m, x.q, x.t, x.d, nextval(pg_get_serial_sequence('{requests}', 'id')) AS rid
            FROM jsonb_to_recordset(%s::jsonb)
                AS x(i integer, k text, f text, c bigint, m text, q integer, t timestamptz, d jsonb)
        ), requests AS (
            INSERT INTO {quote(requests)}
                (id, organization_id, idempotency_key, request_fingerprint, source, actor, created_at)
            SELECT rid, %s, k, f, %s, %s, %s FROM src ORDER BY i
        ), credits AS (
            INSERT INTO {quote(credits)} (organization_id, request_id, distributor_id, collaborator_id, metric_type,
                quantity, points_per_unit, points, credited_at)
            SELECT %s, src.rid, (target.value->>0)::bigint, src.c, src.m, src.q, (target.value->>1)::integer,
                src.q * (target.value->>1)::bigint, src.t
            FROM src CROSS JOIN LATERAL jsonb_array_elements(src.d) WITH ORDINALITY AS target(value, n)
            ORDER BY src.i, target.n
            RETURNING id, request_id, distributor_id
        )
        SELECT src.i, src.rid, credits.distributor_id, credits.id
        FROM src JOIN credits ON credits.request_id = src.rid
        ORDER BY src.i, credits.distributor_id
        """
    return _POSTGRESQL_INSERT


def write_credits_postgresql(
    *, organization: Organization, rows: list[_Row], source: str, actor: str, recorded_at: datetime
) -> tuple[dict[int, WrittenRequest], dict[int, list[WrittenCredit]]]:
    """The requests and ledger rows in one statement (PostgreSQL): the rows travel as one JSON parameter, which
    costs a fraction of binding thousands of values one by one."""
    recorded = recorded_at.isoformat()
    document = json.dumps(
        [
            {
                "i": index,
                "k": item.key or None,
                "f": fingerprint,
                "c": collaborator_id,
                "m": item.metric_type,
                "q": item.quantity,
                "t": item.credited_at.isoformat() if item.credited_at else recorded,
                "d": [[target.distributor_id, target.points] for target in targets],
            }
            for index, item, fingerprint, collaborator_id, targets in rows
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(_postgresql_insert(), [document, organization.pk, source, actor, recorded_at, organization.pk])
        written = cursor.fetchall()
    by_index = {row[0]: row for row in rows}
    request_of: dict[int, WrittenRequest] = {}
    credits_of: dict[int, list[WrittenCredit]] = defaultdict(list)
    points = {}
    for index, request_id, distributor_id, credit_id in written:
        _, item, _, collaborator_id, targets = by_index[index]
        if index not in request_of:
            request_of[index] = WrittenRequest(request_id, item.key or None, recorded_at)
            points = {target.distributor_id: target.points for target in targets}
        per_unit = points[distributor_id]
        credits_of[request_id].append(
            WrittenCredit(
                credit_id,
                request_id,
                distributor_id,
                collaborator_id,
                item.metric_type,
                item.quantity,
                per_unit,
                item.quantity * per_unit,
                item.credited_at or recorded_at,
            )
        )
    request_of = {index: request_of[index] for index, *_ in rows}  # the items' order
    return request_of, credits_of
