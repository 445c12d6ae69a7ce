"""Sources: one item per team and source. `by_connection` (keys only: unlink), `by_repository` (what a delivery
concerns) and the sparse `by_poll` (every polled source, in one partition)."""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.attributes import BooleanAttribute, JSONAttribute, ListAttribute, UnicodeAttribute
from pynamodb.indexes import KeysOnlyProjection
from pynamodb.models import Model

from gitconnect.adapters.dynamo.base import SecondaryIndex, get_or_none, secondary_index, update_existing, write_if
from gitconnect.adapters.dynamo.keys import POLL_BUCKET, repo_key
from gitconnect.domain.errors import ConflictError
from gitconnect.domain.models import PathRules, PullRequestRules, Source


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
    repo_key = UnicodeAttribute(null=True)  # keys.repo_key; absent for Custom Git (no webhooks)
    clone_url = UnicodeAttribute()
    branches: ListAttribute[str] = ListAttribute(of=UnicodeAttribute)  # type: ignore[arg-type]  # PynamoDB types elements as the attribute class: str here
    rules = JSONAttribute()  # pull_requests, tags, releases, paths, skip_flags
    poll = BooleanAttribute(default=False)
    poll_bucket = UnicodeAttribute(null=True)  # set only when poll is on: keeps the by_poll index sparse
    heads = JSONAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    by_connection: SecondaryIndex[SourceModel] = secondary_index("connection_id", "source_id", KeysOnlyProjection())
    by_poll: SecondaryIndex[SourceModel] = secondary_index("poll_bucket", "source_id")
    by_repository: SecondaryIndex[SourceModel] = secondary_index("repo_key", "source_id")


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


class SourceStore:
    def create(self, s: Source) -> None:
        _to_model(s).save(condition=SourceModel.source_id.does_not_exist())

    def replace(self, s: Source) -> None:
        """Save a changed source; fails if it was deleted meanwhile (an update must never resurrect it)."""
        refused = ConflictError("the source was deleted meanwhile")
        write_if(lambda: _to_model(s).save(condition=SourceModel.source_id.exists()), refused)

    def get(self, team_id: str, source_id: str) -> Source | None:
        m = get_or_none(SourceModel, team_id, source_id)
        return None if m is None else _to_domain(m)

    def ids_for_connection(self, connection_id: str) -> list[tuple[str, str]]:
        return [(m.team_id, m.source_id) for m in SourceModel.by_connection.query(connection_id)]

    def for_repository(self, provider: str, repository_id: str) -> list[Source]:
        return [_to_domain(m) for m in SourceModel.by_repository.query(repo_key(provider, repository_id))]

    def polled(self) -> Iterable[Source]:
        for m in SourceModel.by_poll.query(POLL_BUCKET):
            yield _to_domain(m)

    def set_heads(self, team_id: str, source_id: str, heads: dict[str, str]) -> bool:
        """Record the heads a poll saw; False when the source is gone (deleted or unlinked meanwhile)."""
        return update_existing(SourceModel(team_id, source_id), SourceModel.source_id, [SourceModel.heads.set(heads)])

    def delete(self, team_id: str, source_id: str) -> None:
        SourceModel(team_id, source_id).delete()

    # Last: below it, `list` in an annotation would name this method, not the builtin.
    def list(self, team_id: str) -> list[Source]:
        return [_to_domain(m) for m in SourceModel.query(team_id)]
