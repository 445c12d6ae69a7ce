"""One-time OAuth states in the state table: put when a flow starts, taken (read and deleted) by its callback."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from gitconnect.adapters.dynamo.base import get_or_none, write_if


class StateModel(Model):
    class Meta:
        table_name = "unbound"

    state_id = UnicodeAttribute(hash_key=True)  # sha256 of the state handed to the browser, never the state
    team_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    data = JSONAttribute(null=True)
    expires_at = NumberAttribute()


class StateStore:
    def put(
        self, state_id: str, team_id: str, user_id: str, provider: str, data: dict[str, Any], expires_at: int
    ) -> None:
        StateModel(
            state_id, team_id=team_id, user_id=user_id, provider=provider, data=data or None, expires_at=expires_at
        ).save(condition=StateModel.state_id.does_not_exist())

    def take(self, state_id: str) -> dict[str, Any] | None:
        """Read and delete in one go: of two callbacks racing with one state, only one gets it."""
        item = get_or_none(StateModel, state_id)
        if item is None or not write_if(lambda: item.delete(condition=StateModel.state_id.exists())):
            return None
        return {
            "team_id": item.team_id,
            "user_id": item.user_id,
            "provider": item.provider,
            "data": item.data or {},
            "expires_at": int(item.expires_at),
        }
