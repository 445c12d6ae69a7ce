"""Provider webhooks gitconnect manages: one item per hook; `by_connection` (unlink), `by_provider` (every hook of a
provider) and `by_check_due` (hooks by next health check: the scheduled sync queries `check_due_at <= now`).

A repository's shared hook (one per connection and repository, its id derived from them) counts its users in a string
set, `users` (`src#<id>`, `tpl#<id>`, `trg#<id>`): added and removed one at a time with conditional updates, created
only if absent and deleted only when empty, so concurrent creators and removers settle on one hook."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, cast

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.expressions.update import Action
from pynamodb.indexes import IncludeProjection
from pynamodb.models import Model

from gitconnect.adapters.dynamo.base import (
    SecondaryIndex,
    from_cursor,
    get_or_none,
    secondary_index,
    to_cursor,
    update_existing,
    write_if,
)
from gitconnect.adapters.dynamo.keys import CHECK_BUCKET
from gitconnect.domain.models import Hook
from gitconnect.domain.schedule import DueItem


class _CheckDueIndex(SecondaryIndex["HookModel"]):
    """Its range key is a number, which `secondary_index` does not make."""

    class Meta:
        index_name = "by_check_due"
        projection = IncludeProjection(["team_id"])  # with the keys: all the schedule reads

    check_bucket = UnicodeAttribute(hash_key=True)
    check_due_at = NumberAttribute(range_key=True)


class HookModel(Model):
    class Meta:
        table_name = "unbound"

    hook_id = UnicodeAttribute(hash_key=True)
    team_id = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    source_id = UnicodeAttribute(null=True)  # None: the repository's shared hook
    provider = UnicodeAttribute()
    repository_id = UnicodeAttribute()
    repository = UnicodeAttribute()
    provider_hook_id = UnicodeAttribute()
    secret = BinaryAttribute(legacy_encoding=False)
    secret_version = NumberAttribute()
    created_at = UnicodeAttribute()
    checked_at = NumberAttribute(null=True)  # when the scheduled sync last asked the provider about it
    check_bucket = UnicodeAttribute(null=True)  # keys.CHECK_BUCKET on every hook written since by_check_due exists
    check_due_at = NumberAttribute(null=True)  # epoch seconds of the next health check; moved by the schedule's claim
    users = UnicodeSetAttribute(null=True)  # a shared hook's users; DynamoDB drops the attribute when it empties

    by_connection: SecondaryIndex[HookModel] = secondary_index("connection_id", "hook_id")
    by_provider: SecondaryIndex[HookModel] = secondary_index("provider", "hook_id")
    by_check_due: SecondaryIndex[HookModel] = _CheckDueIndex()


def _to_domain(m: HookModel) -> Hook:
    return Hook(
        m.hook_id,
        m.team_id,
        m.connection_id,
        m.source_id,
        m.provider,
        m.repository_id,
        m.repository,
        m.provider_hook_id,
        m.secret,
        int(m.secret_version),
        m.created_at,
        # Read back, or every scheduled sync would ask the provider about every hook (GITCONNECT_HOOK_CHECK_SECONDS).
        float(m.checked_at) if m.checked_at is not None else None,
    )


def _model(h: Hook, users: set[str] | None = None) -> HookModel:
    return HookModel(
        h.id,
        team_id=h.team_id,
        connection_id=h.connection_id,
        source_id=h.source_id,
        provider=h.provider,
        repository_id=h.repository_id,
        repository=h.repository,
        provider_hook_id=h.provider_hook_id,
        secret=h.secret,
        secret_version=h.secret_version,
        created_at=h.created_at,
        # Due at once: a new or recreated hook is checked by the next scheduled sync (a recreated one is skipped
        # there, as just checked), then the claim spreads it over the interval.
        check_bucket=CHECK_BUCKET,
        check_due_at=0,
        users=users,
    )


class HookStore:
    def put(self, h: Hook) -> None:
        """The hook as `h` says (new, recreated, or with a new secret). An existing hook is updated in place, so a
        shared hook's users, added and removed concurrently, are never overwritten."""
        item = HookModel(h.id)
        actions = [
            HookModel.provider_hook_id.set(h.provider_hook_id),
            HookModel.secret.set(h.secret),
            HookModel.secret_version.set(h.secret_version),
            HookModel.check_bucket.set(CHECK_BUCKET),
            HookModel.check_due_at.set(0),  # due at once, as a new hook (see _model)
        ]
        if not update_existing(item, HookModel.hook_id, actions):
            _model(h).save()

    def put_new(self, h: Hook, user: str) -> bool:
        """A repository's shared hook with its first user, only if there is none yet (False: another creator got
        there first)."""
        model = _model(h, {user})
        return write_if(lambda: model.save(condition=HookModel.hook_id.does_not_exist()))

    def add_user(self, hook_id: str, user: str) -> bool:
        """`user` added to an existing shared hook (False: there is none)."""
        return update_existing(HookModel(hook_id), HookModel.hook_id, [HookModel.users.add({user})])

    def remove_user(self, hook_id: str, user: str) -> int | None:
        """`user` removed from a shared hook: how many users are left (None: there is no such hook)."""
        item = HookModel(hook_id)
        if not update_existing(item, HookModel.hook_id, [HookModel.users.delete({user})]):
            return None
        return len(item.users or ())

    def delete_unused(self, hook_id: str) -> bool:
        """The shared hook deleted only if it has no user left (False: one was added meanwhile, or it is gone)."""
        return write_if(lambda: HookModel(hook_id).delete(condition=HookModel.users.does_not_exist()))

    def get(self, hook_id: str) -> Hook | None:
        m = get_or_none(HookModel, hook_id)
        return None if m is None else _to_domain(m)

    def for_connection(self, connection_id: str) -> list[Hook]:
        return [_to_domain(m) for m in HookModel.by_connection.query(connection_id)]

    def for_provider(self, provider: str) -> Iterable[Hook]:
        for m in HookModel.by_provider.query(provider):
            yield _to_domain(m)

    def due(self, now: float) -> Iterable[DueItem]:
        """Hooks whose health check is due at `now`, earliest first, a page of 100 at a time (the caller stops when
        it has enough). Eventually consistent: the claim re-checks each one."""
        for m in HookModel.by_check_due.query(CHECK_BUCKET, HookModel.check_due_at <= now, page_size=100):
            yield DueItem(m.team_id, m.hook_id, float(m.check_due_at), None)

    def claim(self, team_id: str, hook_id: str, due_at: float, next_at: float) -> bool:
        """Move a due hook's next check to `next_at` only if it is still due at `due_at` (as read)."""
        item = HookModel(hook_id)
        condition = HookModel.check_due_at == due_at
        return write_if(lambda: item.update(actions=[HookModel.check_due_at.set(next_at)], condition=condition))

    def undue_page(self, start: str | None, limit: int, providers: Sequence[str]) -> tuple[list[DueItem], str | None]:
        """Hooks stored before `by_check_due` existed (no `check_due_at`: never found due): one page of at most
        `limit` hooks read through by_provider, provider after provider, those without a due time returned; and
        where the next page starts (None: none left)."""
        position: dict[str, Any] = json.loads(start) if start else {"provider": 0, "key": None}
        index = int(position["provider"])
        if index >= len(providers):
            return [], None
        start_key = from_cursor(cast("str | None", position["key"]))
        provider = providers[index]
        result = HookModel.by_provider.query(provider, limit=limit, page_size=limit, last_evaluated_key=start_key)
        found = [DueItem(m.team_id, m.hook_id, 0.0, None) for m in result if m.check_due_at is None]
        key = to_cursor(result.last_evaluated_key)
        if key is None:
            index, key = index + 1, None
        return found, None if index >= len(providers) else json.dumps({"provider": index, "key": key})

    def set_due_if_absent(self, team_id: str, hook_id: str, due_at: float) -> bool:
        """Put a hook in by_check_due at `due_at`, unless it is there already (written meanwhile) or gone."""
        item = HookModel(hook_id)
        condition = HookModel.check_due_at.does_not_exist() & HookModel.hook_id.exists()
        actions: list[Action] = [HookModel.check_bucket.set(CHECK_BUCKET), HookModel.check_due_at.set(due_at)]
        return write_if(lambda: item.update(actions=actions, condition=condition))

    def set_checked(self, hook_id: str, at: float) -> bool:
        return update_existing(HookModel(hook_id), HookModel.hook_id, [HookModel.checked_at.set(at)])

    def reseal(self, hook_id: str, old: bytes, new: bytes) -> bool:
        """Replace the sealed secret with `new` (the same secret, sealed another way) only if it is still `old`."""
        item = HookModel(hook_id)
        condition = HookModel.secret == old
        return write_if(lambda: item.update(actions=[HookModel.secret.set(new)], condition=condition))

    def delete(self, hook_id: str) -> None:
        HookModel(hook_id).delete()
