"""What every store shares: a model bound to its table, the one conditional write and the one read by key."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from pynamodb.attributes import Attribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, Projection
from pynamodb.models import Model

M = TypeVar("M", bound=Model)

# A write refused by its condition, or a transaction cancelled by one of its conditions.
_REFUSED = ("ConditionalCheckFailedException", "TransactionCanceledException")


def bind_model(model: type[Model], table_name: str, region: str) -> None:
    model.Meta.table_name = table_name
    model.Meta.region = region
    model._connection = None  # forget a connection bound to an earlier name


class SecondaryIndex(GlobalSecondaryIndex[M]):
    """A global secondary index; the one place that calls PynamoDB's untyped `Index.__init_subclass__`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)  # type: ignore[no-untyped-call]  # PynamoDB leaves it unannotated


def secondary_index(hash_key: str, range_key: str, projection: Projection | None = None) -> SecondaryIndex[Any]:
    """A global secondary index keyed by two string attributes of its model, every attribute projected unless
    `projection` says otherwise. It is named as the model attribute that holds it (PynamoDB's default), which is the
    name template.yaml declares: `by_team: SecondaryIndex[BuildModel] = secondary_index("team_id", "created_key")`."""
    body = {
        "Meta": type("Meta", (), {"projection": projection or AllProjection()}),  # its own: PynamoDB writes into it
        hash_key: UnicodeAttribute(hash_key=True),
        range_key: UnicodeAttribute(range_key=True),
    }
    index_class = type(f"SecondaryIndex({hash_key}, {range_key})", (SecondaryIndex,), body)
    return cast("type[SecondaryIndex[Any]]", index_class)()


def conditional_failed(exc: Exception) -> bool:
    """A write refused by its condition (or a transaction cancelled by one of its conditions)."""
    return getattr(exc, "cause_response_code", None) in _REFUSED


def write_if(write: Callable[[], object], refused: Exception | None = None) -> bool:
    """Run one conditional write: a save, update or delete with a `condition`, or a transaction of them.

    True when it was written. When a condition refused it: `refused` is raised (from the write's error) if given,
    else False. Any other failure propagates as it is."""
    try:
        write()
    except (PutError, UpdateError, DeleteError, TransactWriteError) as exc:
        if not conditional_failed(exc):
            raise
        if refused is not None:
            raise refused from exc
        return False
    return True


def update_existing(item: Model, key: Attribute[Any], actions: Sequence[Action]) -> bool:
    """Update an item only if it still exists (UpdateItem would otherwise create it): False when it is gone, e.g.
    unlinked or deleted meanwhile. Nothing is ever resurrected by an update."""
    return write_if(lambda: item.update(actions=list(actions), condition=key.exists()))


def get_or_none(model: type[M], hash_key: str, range_key: str | None = None) -> M | None:
    """The item with this key, read consistently; None when there is none."""
    try:
        return model.get(hash_key, range_key, consistent_read=True)
    except DoesNotExist:
        return None


def to_cursor(last_evaluated_key: dict[str, dict[str, Any]] | None) -> str | None:
    """A query's position (DynamoDB's LastEvaluatedKey: key attributes, strings and numbers) as text to keep."""
    return None if last_evaluated_key is None else json.dumps(last_evaluated_key, sort_keys=True)


def from_cursor(cursor: str | None) -> dict[str, dict[str, Any]] | None:
    return None if cursor is None else cast("dict[str, dict[str, Any]]", json.loads(cursor))
