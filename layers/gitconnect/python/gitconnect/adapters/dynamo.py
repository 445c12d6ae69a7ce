"""DynamoDB through PynamoDB. Models never leave this module: stores take and return domain records.

Access is by key or index only (no Scan on any path). Table names are bound once by `bind_tables`.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from gitconnect.domain.errors import BadRequestError, ConflictError, NotFoundError
from gitconnect.domain.models import (
    Build,
    Connection,
    Delivery,
    Hook,
    Page,
    PathRules,
    PullRequestRules,
    Restrictions,
    Source,
)
from gitconnect.settings import Settings

POLL_BUCKET = "poll"  # the single partition of the sparse by_poll index


def repo_key(provider: str, repository_id: str) -> str:
    return f"{provider}#{repository_id}"


def conditional_failed(exc: Exception) -> bool:
    """A write refused by its condition (or a transaction cancelled by one of its conditions)."""
    code = getattr(exc, "cause_response_code", None)
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


def bind_model(model: type[Model], table_name: str, region: str) -> None:
    model.Meta.table_name = table_name
    model.Meta.region = region  # type: ignore[attr-defined]
    model._connection = None  # forget a connection bound to an earlier name


def _update_existing(item: Model, key_attribute: Any, actions: list[Any]) -> bool:
    """Update an item only if it still exists (UpdateItem would otherwise create it): False when it is gone, e.g.
    unlinked or deleted meanwhile. Nothing is ever resurrected by an update."""
    try:
        item.update(actions=actions, condition=key_attribute.exists())
    except UpdateError as exc:
        if conditional_failed(exc):
            return False
        raise
    return True


# ------------------------------------------------------------------ cursors
def encode_cursor(key: dict[str, Any] | None, *, team_id: str) -> str | None:
    if not key:
        return None
    raw = json.dumps({"t": team_id, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, team_id: str) -> dict[str, Any] | None:
    """A cursor wraps the last evaluated key with its team: it cannot walk into another team's records."""
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        owner, key = data["t"], data["k"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequestError("the cursor is not valid") from exc
    if owner != team_id or not isinstance(key, dict):
        raise BadRequestError("the cursor is not valid")
    return key


# ------------------------------------------------------------------ models
class ConnectionsByAccount(GlobalSecondaryIndex["ConnectionModel"]):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_key = UnicodeAttribute(hash_key=True)
    connection_id = UnicodeAttribute(range_key=True)


class ConnectionModel(Model):
    class Meta:
        table_name = "unbound"

    team_id = UnicodeAttribute(hash_key=True)
    connection_id = UnicodeAttribute(range_key=True)
    provider = UnicodeAttribute()
    name = UnicodeAttribute()
    account = UnicodeAttribute(null=True)
    base_url = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    restrictions_mode = UnicodeAttribute(default="unrestricted")
    namespaces = ListAttribute(of=UnicodeAttribute, null=True)
    created_at = UnicodeAttribute()
    account_key = UnicodeAttribute(null=True)
    details = JSONAttribute(null=True)
    secret = BinaryAttribute(null=True, legacy_encoding=False)

    by_account = ConnectionsByAccount()


class SourcesByConnection(GlobalSecondaryIndex["SourceModel"]):
    class Meta:
        index_name = "by_connection"
        projection = KeysOnlyProjection()

    connection_id = UnicodeAttribute(hash_key=True)
    source_id = UnicodeAttribute(range_key=True)


class SourcesByPoll(GlobalSecondaryIndex["SourceModel"]):
    class Meta:
        index_name = "by_poll"
        projection = AllProjection()

    poll_bucket = UnicodeAttribute(hash_key=True)
    source_id = UnicodeAttribute(range_key=True)


class SourcesByRepository(GlobalSecondaryIndex["SourceModel"]):
    class Meta:
        index_name = "by_repository"
        projection = AllProjection()

    repo_key = UnicodeAttribute(hash_key=True)
    source_id = UnicodeAttribute(range_key=True)


class SourceModel(Model):
    class Meta:
        table_name = "unbound"

    team_id = UnicodeAttribute(hash_key=True)
    source_id = UnicodeAttribute(range_key=True)
    connection_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    name = UnicodeAttribute()
    repository = UnicodeAttribute()
    repository_id = UnicodeAttribute(null=True)
    repo_key = UnicodeAttribute(null=True)  # `<provider>#<repository id>`; absent for Custom Git (no webhooks)
    clone_url = UnicodeAttribute()
    branches = ListAttribute(of=UnicodeAttribute)
    rules = JSONAttribute()  # pull_requests, tags, releases, paths, skip_flags
    poll = BooleanAttribute(default=False)
    poll_bucket = UnicodeAttribute(null=True)  # set only when poll is on: keeps the by_poll index sparse
    heads = JSONAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    by_connection = SourcesByConnection()
    by_poll = SourcesByPoll()
    by_repository = SourcesByRepository()


class BuildsByTeam(GlobalSecondaryIndex["BuildModel"]):
    class Meta:
        index_name = "by_team"
        projection = AllProjection()

    team_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class BuildsBySource(GlobalSecondaryIndex["BuildModel"]):
    class Meta:
        index_name = "by_source"
        projection = AllProjection()

    source_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class BuildModel(Model):
    class Meta:
        table_name = "unbound"

    build_id = UnicodeAttribute(hash_key=True)
    team_id = UnicodeAttribute()
    source_id = UnicodeAttribute()
    created_key = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    repository = UnicodeAttribute()
    clone_url = UnicodeAttribute()
    ref = UnicodeAttribute()
    sha = UnicodeAttribute()
    trigger = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    pull_request = JSONAttribute(null=True)
    status_url = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    requested_by = UnicodeAttribute(null=True)
    published_at = UnicodeAttribute(null=True)
    callback_token_hash = UnicodeAttribute(null=True)

    by_team = BuildsByTeam()
    by_source = BuildsBySource()


class DeliveryModel(Model):
    class Meta:
        table_name = "unbound"

    team_id = UnicodeAttribute(hash_key=True)
    received_key = UnicodeAttribute(range_key=True)
    delivery_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    event = UnicodeAttribute()
    connection_id = UnicodeAttribute(null=True)
    repository = UnicodeAttribute(null=True)
    received_at = UnicodeAttribute()
    outcome = UnicodeAttribute()
    reason = UnicodeAttribute()
    build_ids = ListAttribute(of=UnicodeAttribute, null=True)
    expires_at = NumberAttribute(null=True)


def bind_tables(settings: Settings) -> None:
    """Point the models at this deployment's tables (names come from the template through the environment)."""
    for model, name in (
        (ConnectionModel, settings.connections_table),
        (SourceModel, settings.sources_table),
        (BuildModel, settings.builds_table),
        (DeliveryModel, settings.deliveries_table),
        (StateModel, settings.state_table),
        (HookModel, settings.hooks_table),
    ):
        bind_model(model, name, settings.region)


# ------------------------------------------------------------------ stores
class ConnectionStore:
    @staticmethod
    def _to_domain(m: ConnectionModel) -> Connection:
        return Connection(
            team_id=m.team_id,
            id=m.connection_id,
            provider=m.provider,
            name=m.name,
            account=m.account,
            base_url=m.base_url,
            status=m.status,
            created_at=m.created_at,
            restrictions=Restrictions(mode=m.restrictions_mode, namespaces=tuple(m.namespaces or ())),  # type: ignore[arg-type]
            account_key=m.account_key,
            details=dict(m.details or {}),
            secret=m.secret,
        )

    def put(self, c: Connection) -> None:
        ConnectionModel(
            c.team_id,
            c.id,
            provider=c.provider,
            name=c.name,
            account=c.account,
            base_url=c.base_url,
            status=c.status,
            restrictions_mode=c.restrictions.mode,
            namespaces=list(c.restrictions.namespaces) or None,
            created_at=c.created_at,
            account_key=c.account_key,
            details=c.details or None,
            secret=c.secret,
        ).save(condition=ConnectionModel.connection_id.does_not_exist())

    def get(self, team_id: str, connection_id: str) -> Connection | None:
        try:
            return self._to_domain(ConnectionModel.get(team_id, connection_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list(self, team_id: str) -> list[Connection]:
        return [self._to_domain(m) for m in ConnectionModel.query(team_id)]

    def delete(self, team_id: str, connection_id: str) -> None:
        ConnectionModel(team_id, connection_id).delete()

    def set_restrictions(self, team_id: str, connection_id: str, restrictions: Restrictions) -> None:
        namespaces = list(restrictions.namespaces)
        actions = [
            ConnectionModel.restrictions_mode.set(restrictions.mode),
            ConnectionModel.namespaces.set(namespaces) if namespaces else ConnectionModel.namespaces.remove(),
        ]
        if not _update_existing(ConnectionModel(team_id, connection_id), ConnectionModel.connection_id, actions):
            raise NotFoundError(f"connection {connection_id!r} not found")

    def set_secret(self, team_id: str, connection_id: str, secret: bytes) -> bool:
        return _update_existing(
            ConnectionModel(team_id, connection_id), ConnectionModel.connection_id, [ConnectionModel.secret.set(secret)]
        )

    def by_account(self, account_key: str) -> list[Connection]:
        """Every team's connection to one provider account (a webhook names the account, not the team)."""
        return [self._to_domain(m) for m in ConnectionModel.by_account.query(account_key)]

    def update_status(self, team_id: str, connection_id: str, status: str) -> bool:
        """False when the connection is gone (unlinked meanwhile)."""
        return _update_existing(
            ConnectionModel(team_id, connection_id), ConnectionModel.connection_id, [ConnectionModel.status.set(status)]
        )


class SourceStore:
    @staticmethod
    def _to_domain(m: SourceModel) -> Source:
        rules = m.rules or {}
        pr = rules.get("pull_requests") or {}
        paths = rules.get("paths") or {}
        return Source(
            team_id=m.team_id,
            id=m.source_id,
            name=m.name,
            connection_id=m.connection_id,
            provider=m.provider,
            repository=m.repository,
            repository_id=m.repository_id,
            clone_url=m.clone_url,
            branches=tuple(m.branches or ()),
            created_at=m.created_at,
            updated_at=m.updated_at,
            pull_requests=PullRequestRules(
                enabled=bool(pr.get("enabled", False)),
                branches=tuple(pr.get("branches") or ()),
                forks=pr.get("forks", "skip"),
            ),
            tags=tuple(rules.get("tags") or ()),
            releases=bool(rules.get("releases", False)),
            paths=PathRules(include=tuple(paths.get("include") or ()), exclude=tuple(paths.get("exclude") or ())),
            skip_flags=tuple(rules.get("skip_flags") or ()),
            poll=bool(m.poll),
            heads=dict(m.heads or {}),
        )

    @staticmethod
    def _to_model(s: Source) -> SourceModel:
        return SourceModel(
            s.team_id,
            s.id,
            connection_id=s.connection_id,
            provider=s.provider,
            name=s.name,
            repository=s.repository,
            repository_id=s.repository_id,
            repo_key=repo_key(s.provider, s.repository_id) if s.repository_id else None,
            clone_url=s.clone_url,
            branches=list(s.branches),
            rules={
                "pull_requests": {
                    "enabled": s.pull_requests.enabled,
                    "branches": list(s.pull_requests.branches),
                    "forks": s.pull_requests.forks,
                },
                "tags": list(s.tags),
                "releases": s.releases,
                "paths": {"include": list(s.paths.include), "exclude": list(s.paths.exclude)},
                "skip_flags": list(s.skip_flags),
            },
            poll=s.poll,
            poll_bucket=POLL_BUCKET if s.poll else None,
            heads=s.heads or None,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )

    def create(self, s: Source) -> None:
        self._to_model(s).save(condition=SourceModel.source_id.does_not_exist())

    def replace(self, s: Source) -> None:
        """Save a changed source; fails if it was deleted meanwhile (an update must never resurrect it)."""
        try:
            self._to_model(s).save(condition=SourceModel.source_id.exists())
        except PutError as exc:
            if conditional_failed(exc):
                raise ConflictError("the source was deleted meanwhile") from exc
            raise

    def get(self, team_id: str, source_id: str) -> Source | None:
        try:
            return self._to_domain(SourceModel.get(team_id, source_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list(self, team_id: str) -> list[Source]:
        return [self._to_domain(m) for m in SourceModel.query(team_id)]

    def ids_for_connection(self, connection_id: str) -> list[tuple[str, str]]:
        return [(m.team_id, m.source_id) for m in SourceModel.by_connection.query(connection_id)]

    def for_repository(self, provider: str, repository_id: str) -> list[Source]:
        return [self._to_domain(m) for m in SourceModel.by_repository.query(repo_key(provider, repository_id))]

    def polled(self) -> Iterable[Source]:
        for m in SourceModel.by_poll.query(POLL_BUCKET):
            yield self._to_domain(m)

    def set_heads(self, team_id: str, source_id: str, heads: dict[str, str]) -> bool:
        """Record the heads a poll saw; False when the source is gone (deleted or unlinked meanwhile)."""
        return _update_existing(SourceModel(team_id, source_id), SourceModel.source_id, [SourceModel.heads.set(heads)])

    def delete(self, team_id: str, source_id: str) -> None:
        SourceModel(team_id, source_id).delete()


class BuildStore:
    @staticmethod
    def _to_domain(m: BuildModel) -> Build:
        return Build(
            id=m.build_id,
            team_id=m.team_id,
            source_id=m.source_id,
            connection_id=m.connection_id,
            provider=m.provider,
            repository=m.repository,
            clone_url=m.clone_url,
            ref=m.ref,
            sha=m.sha,
            trigger=m.trigger,
            status=m.status,
            created_at=m.created_at,
            updated_at=m.updated_at,
            pull_request=m.pull_request,
            status_url=m.status_url,
            description=m.description,
            requested_by=m.requested_by,
            published_at=m.published_at,
            callback_token_hash=m.callback_token_hash,
        )

    def put_if_absent(self, b: Build) -> bool:
        """Create the build; False when a build with this id exists already (a retried request)."""
        fields = {k: v for k, v in b.__dict__.items() if k != "id"}
        try:
            BuildModel(b.id, created_key=b.created_key, **fields).save(condition=BuildModel.build_id.does_not_exist())
        except PutError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

    def get(self, build_id: str) -> Build | None:
        try:
            return self._to_domain(BuildModel.get(build_id, consistent_read=True))
        except DoesNotExist:
            return None

    def mark_published(self, build_id: str, token_hash: str, at: str) -> None:
        BuildModel(build_id).update(
            actions=[BuildModel.published_at.set(at), BuildModel.callback_token_hash.set(token_hash)],
            condition=BuildModel.build_id.exists(),
        )

    def update_status(
        self, build_id: str, status: str, url: str | None, description: str | None, at: str, allowed_from: Iterable[str]
    ) -> Build:
        """Move a build to `status`; ConflictError when its current status may not move (e.g. already final)."""
        actions = [BuildModel.status.set(status), BuildModel.updated_at.set(at)]
        if url is not None:
            actions.append(BuildModel.status_url.set(url))
        if description is not None:
            actions.append(BuildModel.description.set(description))
        model = BuildModel(build_id)
        try:
            model.update(actions=actions, condition=BuildModel.status.is_in(*allowed_from))
        except UpdateError as exc:
            if conditional_failed(exc):
                raise ConflictError(f"the build cannot move to {status!r} from its current status") from exc
            raise
        return self._to_domain(model)

    def list(self, team_id: str, *, source_id: str | None, cursor: str | None, limit: int) -> Page:
        start = decode_cursor(cursor, team_id=team_id)
        if source_id:
            results = BuildModel.by_source.query(
                source_id,
                filter_condition=BuildModel.team_id == team_id,
                scan_index_forward=False,
                limit=limit,
                last_evaluated_key=start,
            )
        else:
            results = BuildModel.by_team.query(team_id, scan_index_forward=False, limit=limit, last_evaluated_key=start)
        items: list[object] = [self._to_domain(m) for m in results]
        return Page(items=items, next_cursor=encode_cursor(results.last_evaluated_key, team_id=team_id))


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
                        f"{d.received_at}#{d.id}#{d.connection_id}",
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

    def list(self, team_id: str, *, connection_id: str | None, cursor: str | None, limit: int) -> Page:
        start = decode_cursor(cursor, team_id=team_id)
        condition = DeliveryModel.connection_id == connection_id if connection_id else None
        results = DeliveryModel.query(
            team_id, filter_condition=condition, scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
        items: list[object] = [
            Delivery(
                team_id=m.team_id,
                id=m.delivery_id,
                provider=m.provider,
                event=m.event,
                connection_id=m.connection_id,
                repository=m.repository,
                received_at=m.received_at,
                outcome=m.outcome,  # type: ignore[arg-type]
                reason=m.reason,
                build_ids=tuple(m.build_ids or ()),
            )
            for m in results
        ]
        return Page(items=items, next_cursor=encode_cursor(results.last_evaluated_key, team_id=team_id))


# ------------------------------------------------------------------ one-time states
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

    def acquire(self, lease_id: str, expires_at: int) -> bool:
        """A lease (a token refresh in progress): taken when free or expired; False when someone else holds it."""
        try:
            StateModel(lease_id, team_id="-", user_id="-", provider="lease", expires_at=expires_at).save(
                condition=StateModel.state_id.does_not_exist() | (StateModel.expires_at < int(time.time()))
            )
        except PutError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

    def release(self, lease_id: str) -> None:
        StateModel(lease_id).delete()

    def take(self, state_id: str) -> dict[str, Any] | None:
        """Read and delete in one go: of two callbacks racing with one state, only one gets it."""
        try:
            item = StateModel.get(state_id, consistent_read=True)
            item.delete(condition=StateModel.state_id.exists())
        except DoesNotExist:
            return None
        except DeleteError as exc:
            if conditional_failed(exc):
                return None
            raise
        return {
            "team_id": item.team_id,
            "user_id": item.user_id,
            "provider": item.provider,
            "data": item.data or {},
            "expires_at": int(item.expires_at),
        }


# ------------------------------------------------------------------ provider webhooks
class HooksByConnection(GlobalSecondaryIndex["HookModel"]):
    class Meta:
        index_name = "by_connection"
        projection = AllProjection()

    connection_id = UnicodeAttribute(hash_key=True)
    hook_id = UnicodeAttribute(range_key=True)


class HooksByProvider(GlobalSecondaryIndex["HookModel"]):
    class Meta:
        index_name = "by_provider"
        projection = AllProjection()

    provider = UnicodeAttribute(hash_key=True)
    hook_id = UnicodeAttribute(range_key=True)


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

    by_connection = HooksByConnection()
    by_provider = HooksByProvider()


class HookStore:
    @staticmethod
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
        )

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
        try:
            return self._to_domain(HookModel.get(hook_id, consistent_read=True))
        except DoesNotExist:
            return None

    def for_connection(self, connection_id: str) -> list[Hook]:
        return [self._to_domain(m) for m in HookModel.by_connection.query(connection_id)]

    def for_provider(self, provider: str) -> Iterable[Hook]:
        for m in HookModel.by_provider.query(provider):
            yield self._to_domain(m)

    def set_checked(self, hook_id: str, at: float) -> bool:
        return _update_existing(HookModel(hook_id), HookModel.hook_id, [HookModel.checked_at.set(at)])

    def delete(self, hook_id: str) -> None:
        HookModel(hook_id).delete()
