"""The delivery log: one item per delivery and connection under its team, newest last, kept RETENTION_SECONDS."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from gitconnect.adapters.dynamo.cursors import decode_cursor, encode_cursor
from gitconnect.adapters.dynamo.keys import delivery_key
from gitconnect.domain.models import Delivery, Page


class DeliveryModel(Model):
    class Meta:
        table_name = "unbound"

    team_id = UnicodeAttribute(hash_key=True)
    received_key = UnicodeAttribute(range_key=True)  # keys.delivery_key
    delivery_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    event = UnicodeAttribute()
    connection_id = UnicodeAttribute(null=True)
    repository = UnicodeAttribute(null=True)
    received_at = UnicodeAttribute()
    outcome = UnicodeAttribute()
    reason = UnicodeAttribute()
    build_ids: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]  # PynamoDB types elements as the attribute class: str here
    expires_at = NumberAttribute(null=True)


def _to_domain(m: DeliveryModel) -> Delivery:
    return Delivery(
        team_id=m.team_id,
        id=m.delivery_id,
        provider=m.provider,
        event=m.event,
        connection_id=m.connection_id,
        repository=m.repository,
        received_at=m.received_at,
        outcome=m.outcome,  # type: ignore[arg-type]  # a str from the table for the Literal outcome
        reason=m.reason,
        build_ids=tuple(m.build_ids or ()),
    )


class DeliveryStore:
    RETENTION_SECONDS = 30 * 24 * 3600

    def put_many(self, deliveries: Sequence[Delivery]) -> None:
        """One BatchWriteItem per 25 entries (PynamoDB batches and retries unprocessed items)."""
        expires = int(time.time()) + self.RETENTION_SECONDS
        with DeliveryModel.batch_write() as batch:
            for d in deliveries:
                batch.save(
                    DeliveryModel(
                        d.team_id,
                        delivery_key(d.received_at, d.id, d.connection_id),
                        delivery_id=d.id,
                        provider=d.provider,
                        event=d.event,
                        connection_id=d.connection_id,
                        repository=d.repository,
                        received_at=d.received_at,
                        outcome=d.outcome,
                        reason=d.reason[:2000],
                        build_ids=list(d.build_ids) or None,
                        expires_at=expires,
                    )
                )

    def list(self, team_id: str, *, connection_id: str | None, cursor: str | None, limit: int) -> Page[Delivery]:
        start = decode_cursor(cursor, team_id=team_id)
        condition = DeliveryModel.connection_id == connection_id if connection_id else None
        results = DeliveryModel.query(
            team_id, filter_condition=condition, scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
        items = [_to_domain(m) for m in results]
        return Page(items=items, next_cursor=encode_cursor(results.last_evaluated_key, team_id=team_id))
