"""Refs as push deliveries named them, one item per repository in the state table (`seen#<provider>#<repository
id>`, keys.seen_key): a map `refs` of full ref name -> {sha, at}. The router writes it with one UpdateItem per push
delivery, whatever the number of sources (and teams) it feeds; the reconcile reads it with one GetItem per pass. The
item lives as long as pushes keep coming: each write sets `expires_at` 30 days on (the table's TTL sweeps it), after
which a reconcile compares with its own last listing only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.constants import ALL_OLD
from pynamodb.expressions.operand import Path
from pynamodb.models import Model

from gitconnect.adapters.dynamo.base import write_if
from gitconnect.adapters.dynamo.keys import seen_key
from gitconnect.domain.reconcile import SeenRef

KEPT_SECONDS = 30 * 86400


class SeenModel(Model):
    class Meta:
        table_name = "unbound"

    state_id = UnicodeAttribute(hash_key=True)
    team_id = UnicodeAttribute(default="-")  # the state table's attributes (placeholders), as leases carry them
    user_id = UnicodeAttribute(default="-")
    provider = UnicodeAttribute(default="seen")
    refs: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]  # PynamoDB's raw map is untyped
    expires_at = NumberAttribute()


def _refs(raw: Mapping[str, Any] | None) -> dict[str, SeenRef]:
    out = {}
    for ref, entry in (raw or {}).items():
        value = entry.get("M", entry) if isinstance(entry, Mapping) else {}
        sha, at = value.get("sha"), value.get("at")
        sha = sha.get("S") if isinstance(sha, Mapping) else sha
        at = at.get("N") if isinstance(at, Mapping) else at
        if isinstance(sha, str) and at is not None:
            out[str(ref)] = SeenRef(sha, float(at))
    return out


class SeenRefStore:
    def record(self, provider: str, repository_id: str, heads: Mapping[str, str], at: float) -> dict[str, SeenRef]:
        """Record the heads a delivery named (ref -> sha) and return what was recorded for the repository before
        (one UpdateItem; the first delivery of a repository creates its map, two writes). Bounded by the delivery's
        refs (one, or a Bitbucket push's few)."""
        key = seen_key(provider, repository_id)
        entries = {ref: {"sha": sha, "at": at} for ref, sha in heads.items()}
        expires = SeenModel.expires_at.set(int(at) + KEPT_SECONDS)
        nested = [Path(["refs", ref]).set(value) for ref, value in entries.items()]
        connection = SeenModel._get_connection()  # the model's update reads ALL_NEW; the old refs are wanted
        answer: dict[str, Any] = {}

        def update() -> None:
            answer.update(connection.update_item(key, actions=[*nested, expires], condition=SeenModel.refs.exists(),
                                                 return_values=ALL_OLD))

        if write_if(update):
            return _refs((answer.get("Attributes") or {}).get("refs", {}).get("M"))
        created = SeenModel(key, refs=entries, expires_at=int(at) + KEPT_SECONDS)
        if write_if(lambda: created.save(condition=SeenModel.refs.does_not_exist())):
            return {}
        write_if(update)  # a delivery of the same repository created it meanwhile: add to it
        return _refs((answer.get("Attributes") or {}).get("refs", {}).get("M"))

    def get(self, provider: str, repository_id: str) -> dict[str, SeenRef]:
        """What deliveries recorded for the repository (one GetItem, read as stored)."""
        found = SeenModel._get_connection().get_item(seen_key(provider, repository_id))  # raw, as record reads it
        return _refs(((found.get("Item") or {}).get("refs") or {}).get("M"))
