"""Shared data keys and migration progress in the state table: one item per purpose (`data-key#<purpose>`) holding
the KMS-encrypted data key that secrets of that purpose are sealed under now (adapters/cipher.py `SharedKeyCipher`)
and when it was made. With the one-time OAuth states' placeholder attributes, as leases are; its `expires_at` lies
past the key's rotation, so TTL never sweeps a key in use (a swept one is made again: each blob embeds its own)."""

from __future__ import annotations

import time
from typing import Any, cast

from pynamodb.attributes import BinaryAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from gitconnect.adapters.dynamo.base import get_or_none, write_if


class DataKeyModel(Model):
    class Meta:
        table_name = "unbound"

    state_id = UnicodeAttribute(hash_key=True)  # data-key#<purpose>
    team_id = UnicodeAttribute(default="-")
    user_id = UnicodeAttribute(default="-")
    provider = UnicodeAttribute(default="data-key")
    wrapped = BinaryAttribute(legacy_encoding=False)  # the data key encrypted under the KMS key (never its plaintext)
    created_at = NumberAttribute()
    expires_at = NumberAttribute()


class DataKeyStore:
    def __init__(self, purpose: str) -> None:
        self._id = f"data-key#{purpose}"

    def current(self) -> tuple[bytes, float] | None:
        """(wrapped data key, epoch seconds it was made), or None before the first."""
        item = get_or_none(DataKeyModel, self._id)
        return None if item is None else (item.wrapped, float(item.created_at))

    def propose(self, wrapped: bytes, created_at: float, replacing: float | None, expires_at: float) -> bool:
        """Store a new data key only if the stored one is still the one read (made at `replacing`; None: none was):
        of two writers rotating at once, one wins and the other uses the winner's."""
        item = DataKeyModel(self._id, wrapped=wrapped, created_at=created_at, expires_at=int(expires_at))
        condition = (
            DataKeyModel.state_id.does_not_exist() if replacing is None else DataKeyModel.created_at == replacing
        )
        return write_if(lambda: item.save(condition=condition))


class ProgressModel(Model):
    """Where a one-off migration stands (services/backfill.py), beside the data keys in the state table."""

    class Meta:
        table_name = "unbound"

    state_id = UnicodeAttribute(hash_key=True)  # progress#<name>
    team_id = UnicodeAttribute(default="-")
    user_id = UnicodeAttribute(default="-")
    provider = UnicodeAttribute(default="progress")
    data = JSONAttribute()
    expires_at = NumberAttribute()  # a year on: swept by TTL, a finished migration would only run (and find) again


class ProgressStore:
    def get(self, name: str) -> dict[str, Any] | None:
        item = get_or_none(ProgressModel, f"progress#{name}")
        return None if item is None else cast(dict[str, Any], item.data)

    def put(self, name: str, data: dict[str, Any]) -> None:
        ProgressModel(f"progress#{name}", data=data, expires_at=int(time.time() + 365 * 86400)).save()
