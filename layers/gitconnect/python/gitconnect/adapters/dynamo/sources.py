"""Sources: one item per team and source. `by_connection` (keys only: unlink), `by_repository` (what a delivery
concerns), the sparse `by_poll` (every polled source, in one partition) and the sparse `by_poll_due` (polled sources
by next-due time: the scheduled sync queries `poll_due_at <= now`, keys and interval only)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from pynamodb.attributes import BooleanAttribute, JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.expressions.condition import Condition, Not
from pynamodb.expressions.update import Action
from pynamodb.indexes import IncludeProjection, KeysOnlyProjection
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
from gitconnect.adapters.dynamo.keys import POLL_BUCKET, repo_key
from gitconnect.domain.errors import ConflictError
from gitconnect.domain.models import PathRules, PollFailed, PollHealth, PollRecorded, PullRequestRules, Source
from gitconnect.domain.schedule import DueItem


class _PollDueIndex(SecondaryIndex["SourceModel"]):
    """Sparse (both keys only while poll is on); its range key is a number, which `secondary_index` does not make."""

    class Meta:
        index_name = "by_poll_due"
        projection = IncludeProjection(["poll_seconds"])  # with the keys: all the schedule reads

    poll_bucket = UnicodeAttribute(hash_key=True)
    poll_due_at = NumberAttribute(range_key=True)


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
    tag_heads = JSONAttribute(null=True)  # absent until a poll took the tag baseline
    # Poll health, written only by the scheduled sync's targeted updates (a PATCH never touches them).
    poll_status = UnicodeAttribute(null=True)
    poll_error = UnicodeAttribute(null=True)
    polled_at = UnicodeAttribute(null=True)
    poll_failures = NumberAttribute(null=True)
    poll_seconds = NumberAttribute(null=True)  # the source's own interval; absent: GITCONNECT_POLL_SECONDS
    poll_due_at = NumberAttribute(null=True)  # epoch seconds; only while poll is on (keeps by_poll_due sparse)
    status = UnicodeAttribute(null=True)  # absent on records written before statuses existed: `active`
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    by_connection: SecondaryIndex[SourceModel] = secondary_index("connection_id", "source_id", KeysOnlyProjection())
    by_poll: SecondaryIndex[SourceModel] = secondary_index("poll_bucket", "source_id")
    by_repository: SecondaryIndex[SourceModel] = secondary_index("repo_key", "source_id")
    by_poll_due: SecondaryIndex[SourceModel] = _PollDueIndex()


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
        tag_heads=None if m.tag_heads is None else dict(m.tag_heads),
        polling=PollHealth(
            status=m.poll_status or "pending",  # type: ignore[arg-type]  # a str from the table for the Literal
            last_error=m.poll_error,
            last_polled_at=m.polled_at,
            consecutive_failures=int(m.poll_failures or 0),
        ),
        status=m.status or "active",
        poll_seconds=None if m.poll_seconds is None else int(m.poll_seconds),
        poll_due_at=None if m.poll_due_at is None else float(m.poll_due_at),
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
        poll_seconds=s.poll_seconds,
        poll_due_at=s.poll_due_at if s.poll else None,
        heads=s.heads or None,
        tag_heads=s.tag_heads,
        status=s.status,
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


# Each written only by its own targeted update (the scheduled sync's poll health, set_status, move): saving a
# source's settings leaves them as they are.
_OWNED_ELSEWHERE = frozenset({"poll_status", "poll_error", "polled_at", "poll_failures", "status", "connection_id"})
_FAILING = "failing"


def _is_failing() -> Condition:
    return SourceModel.poll_status == _FAILING


def _not_failing() -> Condition:
    return Not(_is_failing())  # also true without a status: a comparison with a missing attribute is false


Outcome = TypeVar("Outcome", bound=str)


def _first_written(
    item: SourceModel, tries: Sequence[tuple[Sequence[Action], Condition, Outcome]]
) -> Outcome | None:
    """The outcome of the first update whose condition held (each also requires the item to exist); None when none
    did. Bounded: the tries twice over, as a concurrent poll may flip the status between two of the conditions."""
    for actions, condition, outcome in [*tries, *tries]:
        exists = SourceModel.source_id.exists() & condition
        if write_if(lambda a=list(actions), c=exists: item.update(actions=a, condition=c)):  # type: ignore[misc]
            return outcome
    return None


class SourceStore:
    def create(self, s: Source) -> None:
        _to_model(s).save(condition=SourceModel.source_id.does_not_exist())

    def replace(self, s: Source) -> Source:
        """Save a changed source and return it as stored; fails if it was deleted meanwhile (an update must never
        resurrect it). One UpdateItem of every attribute but the keys and those with updates of their own, so a poll's
        health, a status, a move or a due time written meanwhile is kept."""
        model = _to_model(s)
        actions: list[Action] = []
        for name, attribute in SourceModel.get_attributes().items():
            if attribute.is_hash_key or attribute.is_range_key or name in _OWNED_ELSEWHERE:
                continue
            value = getattr(model, name)
            if name == "poll_due_at" and value is not None:
                # Kept when it is there (only the schedule's claim and a failed poll move it); set when poll turns on.
                actions.append(SourceModel.poll_due_at.set(SourceModel.poll_due_at | value))
                continue
            actions.append(attribute.remove() if value is None else attribute.set(value))
        refused = ConflictError("the source was deleted meanwhile")
        item = SourceModel(s.team_id, s.id)
        write_if(lambda: item.update(actions=actions, condition=SourceModel.source_id.exists()), refused)
        return _to_domain(item)  # PynamoDB's update reads the item back (ALL_NEW)

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

    def due(self, now: float) -> Iterable[DueItem]:
        """Polled sources due at `now`, earliest first, read from the sparse index a page at a time (the caller stops
        when it has enough). Eventually consistent: the claim re-checks each one."""
        condition = SourceModel.poll_due_at <= now
        for m in SourceModel.by_poll_due.query(POLL_BUCKET, condition, page_size=100):
            yield DueItem(
                m.team_id, m.source_id, float(m.poll_due_at), None if m.poll_seconds is None else int(m.poll_seconds)
            )

    def claim(self, team_id: str, source_id: str, due_at: float, next_at: float) -> bool:
        """Move a due source's next poll to `next_at` only if it is still due at `due_at` (as read) and still polled:
        of two overlapping schedules, one wins and sends it."""
        condition = (SourceModel.poll_due_at == due_at) & SourceModel.poll_bucket.exists()
        item = SourceModel(team_id, source_id)
        return write_if(lambda: item.update(actions=[SourceModel.poll_due_at.set(next_at)], condition=condition))

    def record_poll(
        self,
        team_id: str,
        source_id: str,
        heads: dict[str, str],
        tag_heads: dict[str, str] | None,
        at: str,
        *,
        was_failing: bool,
    ) -> PollRecorded:
        """Record a poll that reached the remote: the heads it saw, status ok. `recovered` when this write is the one
        that ended a failing streak (decided by the write's condition, so overlapping polls report it once);
        `gone` when the source was deleted meanwhile."""
        actions = [
            SourceModel.heads.set(heads) if heads else SourceModel.heads.remove(),
            SourceModel.tag_heads.set(tag_heads) if tag_heads is not None else SourceModel.tag_heads.remove(),
            SourceModel.poll_status.set("ok"),
            SourceModel.poll_error.remove(),
            SourceModel.polled_at.set(at),
            SourceModel.poll_failures.set(0),
        ]
        tries: list[tuple[Sequence[Action], Condition, PollRecorded]] = [
            (actions, _not_failing(), "ok"),
            (actions, _is_failing(), "recovered"),
        ]
        return _first_written(SourceModel(team_id, source_id), tries[::-1] if was_failing else tries) or "gone"

    def record_poll_failure(
        self, team_id: str, source_id: str, error: str, at: str, *, was_failing: bool, due_at: float | None = None
    ) -> PollFailed:
        """Record a poll that could not reach the remote: `started` when this write is the one that began a failing
        streak (once, however many polls overlap), `continued` when the source was failing already (the count
        grows), `gone` when the source was deleted meanwhile. `due_at`: the backed-off next poll."""
        common = [SourceModel.poll_error.set(error[:1000]), SourceModel.polled_at.set(at)]
        if due_at is not None:
            common.append(SourceModel.poll_due_at.set(due_at))
        tries: list[tuple[Sequence[Action], Condition, PollFailed]] = [
            ([*common, SourceModel.poll_status.set(_FAILING), SourceModel.poll_failures.set(1)], _not_failing(),
             "started"),
            ([*common, SourceModel.poll_failures.add(1)], _is_failing(), "continued"),
        ]
        return _first_written(SourceModel(team_id, source_id), tries[::-1] if was_failing else tries) or "gone"

    def undue_page(self, start: str | None, limit: int) -> tuple[list[DueItem], str | None]:
        """Polled sources stored before `poll_due_at` existed (not in by_poll_due, so never found due): one page of
        at most `limit` polled sources read through by_poll, those without a due time returned; and where the next
        page starts (None: none left)."""
        result = SourceModel.by_poll.query(
            POLL_BUCKET, limit=limit, page_size=limit, last_evaluated_key=from_cursor(start)
        )
        found = [
            DueItem(m.team_id, m.source_id, 0.0, None if m.poll_seconds is None else int(m.poll_seconds))
            for m in result
            if m.poll_due_at is None
        ]
        return found, to_cursor(result.last_evaluated_key)

    def set_due_if_absent(self, team_id: str, source_id: str, due_at: float) -> bool:
        """Give a polled source its first due time, unless it has one (written meanwhile) or is no longer polled."""
        item = SourceModel(team_id, source_id)
        condition = SourceModel.poll_due_at.does_not_exist() & SourceModel.poll_bucket.exists()
        return write_if(lambda: item.update(actions=[SourceModel.poll_due_at.set(due_at)], condition=condition))

    def set_status(self, team_id: str, source_id: str, status: str) -> bool:
        """False when the source is gone (deleted or unlinked meanwhile)."""
        return update_existing(SourceModel(team_id, source_id), SourceModel.source_id, [SourceModel.status.set(status)])

    def move(self, team_id: str, source_id: str, connection_id: str) -> bool:
        """Put the source on another connection of its team (a reinstalled GitHub App); False when it is gone."""
        actions = [SourceModel.connection_id.set(connection_id)]
        return update_existing(SourceModel(team_id, source_id), SourceModel.source_id, actions)

    def delete(self, team_id: str, source_id: str) -> None:
        SourceModel(team_id, source_id).delete()

    # Last: below it, `list` in an annotation would name this method, not the builtin.
    def list(self, team_id: str) -> list[Source]:
        return [_to_domain(m) for m in SourceModel.query(team_id)]
