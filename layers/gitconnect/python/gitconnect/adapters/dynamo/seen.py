"""Refs as push deliveries named them, one item per repository in the state table (`seen#<provider>#<repository
id>`, keys.seen_key), one top-level attribute per ref (`ref:<full ref name>` -> {sha, at}), so that one UpdateItem
records a delivery's refs whether or not the item exists yet, and returns what was there before (ALL_OLD). The router
writes it once per push delivery, whatever the number of sources (and teams) it feeds; the reconcile reads it with
one GetItem per pass. The item lives as long as pushes keep coming: each write sets `expires_at` 30 days on (the
table's TTL sweeps it), after which a reconcile compares with its own last listing only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.constants import ALL_OLD
from pynamodb.expressions.operand import Path
from pynamodb.models import Model

from gitconnect.adapters.dynamo.keys import seen_key
from gitconnect.domain.reconcile import SeenRef

KEPT_SECONDS = 30 * 86400
# What bounds the item (DynamoDB refuses items over 400 KB; a ref takes ~100 bytes, ~300 with a 255-byte name): a
# repository whose pushes have named more refs than this (a branch per pull request, never deleted here) is written
# again with the refs named in the last FRESH_SECONDS only, the newest MAX_REFS // 2 at most. A ref dropped this way
# costs nothing wrong: the reconcile then asks for the build the webhook asked for, under the same build id, which
# builds once.
MAX_REFS = 1_000
FRESH_SECONDS = 86400
_REF = "ref:"  # the prefix of a ref's attribute


class SeenModel(Model):
    """Only the key and the TTL are declared: the refs are attributes named by the data, read and written raw."""

    class Meta:
        table_name = "unbound"

    state_id = UnicodeAttribute(hash_key=True)
    expires_at = NumberAttribute()


def _refs(item: Mapping[str, Any] | None) -> dict[str, SeenRef]:
    """Raw DynamoDB attributes -> the refs they record."""
    out = {}
    for name, value in (item or {}).items():
        entry = value.get("M") if isinstance(value, Mapping) else None
        if not name.startswith(_REF) or not isinstance(entry, Mapping):
            continue
        sha, at = (entry.get("sha") or {}).get("S"), (entry.get("at") or {}).get("N")
        if isinstance(sha, str) and at is not None:
            out[name.removeprefix(_REF)] = SeenRef(sha, float(at))
    return out


class SeenRefStore:
    def record(self, provider: str, repository_id: str, heads: Mapping[str, str], at: float) -> dict[str, SeenRef]:
        """Record the heads a delivery named (ref -> sha) and return what was recorded for the repository before:
        one UpdateItem (the model's own `update` reads ALL_NEW; the old values are wanted, so the model's
        connection is called with ALL_OLD)."""
        actions = [Path([f"{_REF}{ref}"]).set({"sha": sha, "at": at}) for ref, sha in heads.items()]
        actions.append(SeenModel.expires_at.set(int(at) + KEPT_SECONDS))
        connection = SeenModel._get_connection()
        answer = connection.update_item(seen_key(provider, repository_id), actions=actions, return_values=ALL_OLD)
        before = _refs(answer.get("Attributes"))
        if len(before) + len(heads) > MAX_REFS:
            self._prune(provider, repository_id, {**before, **{r: SeenRef(sha, at) for r, sha in heads.items()}}, at)
        return before

    @staticmethod
    def _prune(provider: str, repository_id: str, refs: Mapping[str, SeenRef], at: float) -> None:
        """The item written again with its recent refs only (one PutItem, rare: see MAX_REFS)."""
        fresh = sorted((r for r in refs.items() if r[1].at >= at - FRESH_SECONDS), key=lambda r: r[1].at)
        kept = dict(fresh[-(MAX_REFS // 2) :])
        item: dict[str, Any] = {"expires_at": {"N": str(int(at) + KEPT_SECONDS)}}
        for ref, seen in kept.items():
            item[f"{_REF}{ref}"] = {"M": {"sha": {"S": seen.sha}, "at": {"N": repr(seen.at)}}}
        SeenModel._get_connection().put_item(seen_key(provider, repository_id), attributes=item)

    def get(self, provider: str, repository_id: str) -> dict[str, SeenRef]:
        """What deliveries recorded for the repository (one GetItem, read raw as `record` writes it)."""
        found = SeenModel._get_connection().get_item(seen_key(provider, repository_id))
        return _refs(found.get("Item"))
