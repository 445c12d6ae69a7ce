"""Provider webhooks gitconnect manages: one item per hook; `by_connection` (unlink) and `by_provider` (repair)."""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from gitconnect.adapters.dynamo.base import SecondaryIndex, get_or_none, secondary_index, update_existing
from gitconnect.domain.models import Hook


class HookModel(Model):
    class Meta:
        table_name = "unbound"

    hook_id = UnicodeAttribute(hash_key=True)
    team_id = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    source_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    repository_id = UnicodeAttribute()
    repository = UnicodeAttribute()
    provider_hook_id = UnicodeAttribute()
    secret = BinaryAttribute(legacy_encoding=False)
    secret_version = NumberAttribute()
    created_at = UnicodeAttribute()
    checked_at = NumberAttribute(null=True)  # when the scheduled sync last asked the provider about it

    by_connection: SecondaryIndex[HookModel] = secondary_index("connection_id", "hook_id")
    by_provider: SecondaryIndex[HookModel] = secondary_index("provider", "hook_id")


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


class HookStore:
    def put(self, h: Hook) -> None:
        HookModel(
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
        ).save()

    def get(self, hook_id: str) -> Hook | None:
        m = get_or_none(HookModel, hook_id)
        return None if m is None else _to_domain(m)

    def for_connection(self, connection_id: str) -> list[Hook]:
        return [_to_domain(m) for m in HookModel.by_connection.query(connection_id)]

    def for_provider(self, provider: str) -> Iterable[Hook]:
        for m in HookModel.by_provider.query(provider):
            yield _to_domain(m)

    def set_checked(self, hook_id: str, at: float) -> bool:
        return update_existing(HookModel(hook_id), HookModel.hook_id, [HookModel.checked_at.set(at)])

    def delete(self, hook_id: str) -> None:
        HookModel(hook_id).delete()
