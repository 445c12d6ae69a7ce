"""Sources: the watched repositories of a connection and their trigger rules."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gitconnect.domain.errors import BadRequestError, ForbiddenError, GitconnectError, NotFoundError
from gitconnect.domain.ids import iso, new_id, utcnow
from gitconnect.domain.models import Connection, PathRules, PullRequestRules, Source
from gitconnect.domain.reconcile import ReconcileState, rules_key
from gitconnect.domain.rules import matches_any, validate_glob
from gitconnect.domain.schedule import first_due
from gitconnect.providers import REGISTRY
from gitconnect.providers.base import Provider, ReconciledRefs
from gitconnect.services.connections import ConnectionService
from gitconnect.services.hooks import HookService
from gitconnect.services.ports import SourceStore
from gitconnect.services.reconcile import watched
from gitconnect.services.secrets import ConnectionSecrets
from gitconnect.services.sync import watched_refs


def _globs(field: str, values: list[str] | None) -> tuple[str, ...]:
    for value in values or ():
        reason = validate_glob(value)
        if reason:
            raise BadRequestError(f"`{field}` entry {value!r} {reason}")
    return tuple(values or ())


def _rules(body: dict[str, Any], current: Source | None) -> dict[str, Any]:
    """Trigger rules from a create/patch body; fields left out keep their current value."""
    out: dict[str, Any] = {}
    if "branches" in body:
        out["branches"] = _globs("branches", body["branches"])
    if "tags" in body:
        out["tags"] = _globs("tags", body["tags"])
    if "skip_flags" in body:
        out["skip_flags"] = tuple(body["skip_flags"] or ())
    if "releases" in body:
        out["releases"] = bool(body["releases"])
    if "poll" in body:
        out["poll"] = bool(body["poll"])
    if "poll_seconds" in body:  # bounds checked by the request schema (MIN_POLL_SECONDS..MAX_POLL_SECONDS)
        out["poll_seconds"] = None if body["poll_seconds"] is None else int(body["poll_seconds"])
    if "name" in body:
        out["name"] = body["name"]
    if body.get("pull_requests") is not None:
        pr = body["pull_requests"]
        base = current.pull_requests if current else PullRequestRules()
        out["pull_requests"] = PullRequestRules(
            enabled=pr.get("enabled", base.enabled),
            branches=_globs("pull_requests.branches", pr.get("branches", list(base.branches))),
            forks=pr.get("forks") or base.forks,
        )
    if body.get("paths") is not None:
        paths = body["paths"]
        out["paths"] = PathRules(
            include=_globs("paths.include", paths.get("include")), exclude=_globs("paths.exclude", paths.get("exclude"))
        )
    return out


def _require_a_trigger(source: Source) -> None:
    """A source builds on branches, tags, releases or pull requests, in any mix: one of them at least, and releases
    and pull requests only where the provider has them."""
    if not (source.branches or source.tags or source.releases or source.pull_requests.enabled):
        raise BadRequestError(
            "a source needs at least one of `branches`, `tags`, `releases: true` or `pull_requests.enabled: true`"
        )
    declaration = REGISTRY.get(source.provider)
    if source.releases and declaration is not None and not declaration.releases:
        raise BadRequestError(f"{declaration.title} has no releases: watch their tags with `tags` instead")
    if source.pull_requests.enabled and declaration is not None and not declaration.pull_requests:
        raise BadRequestError(
            f"{declaration.title} has no pull requests (a plain Git remote): `pull_requests.enabled` must be false"
        )


@dataclass(frozen=True)
class SourceService:
    sources: SourceStore
    connections: ConnectionService
    secrets: ConnectionSecrets
    providers: Callable[[str], Provider]
    hooks: HookService
    poll_seconds: float = 180.0  # GITCONNECT_POLL_SECONDS: a source's interval unless it sets its own
    reconcile_seconds: float = 900.0  # GITCONNECT_RECONCILE_SECONDS: between two reconciles of a webhook-fed source
    clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random

    def _scheduled(self, source: Source) -> Source:
        """A source that polls has a next-due time: its first poll falls anywhere within its first interval, so
        sources created together spread out. One that polled already keeps its own (a PATCH never moves it: a new
        `poll_seconds` counts from the next poll), as the store does."""
        if not source.poll:
            reconciled = isinstance(self.providers(source.provider), ReconciledRefs)
            due = source.reconcile_due_at
            if reconciled and due is None:  # the first reconcile anywhere within the first interval, spread
                due = first_due(self.clock(), self.reconcile_seconds, self.rand)
            return replace(source, poll_due_at=None, reconcile_due_at=due if reconciled else None)
        if source.poll_due_at is not None:
            return source
        interval = source.poll_seconds or self.poll_seconds
        return replace(source, poll_due_at=first_due(self.clock(), interval, self.rand))

    def _baseline(self, source: Source) -> Source:
        """The source with its watched heads (and polled tags) as they are now: polling builds what is pushed after
        the source was created or its patterns changed, not what was there."""
        connection = self.connections.get(source.team_id, source.connection_id)
        provider = self.providers(connection.provider)
        heads, tags = watched_refs(provider, self.secrets.access(connection), source)
        return replace(source, heads=heads, tag_heads=tags)

    def _reconcile_baseline(self, connection: Connection, source: Source) -> Source:
        """A webhook-fed source's refs as they are now, one listing: the reconcile builds what moves after this
        (and webhook repairs compare with its heads). A provider that cannot answer now leaves it to the first pass,
        which then takes the baseline itself."""
        provider = self.providers(connection.provider)
        assert isinstance(provider, ReconciledRefs)  # noqa: S101  # reconcile_due_at is set only for those
        try:
            listing = provider.listed_refs(
                self.secrets.access(connection), source.repository, tags=bool(source.tags), validators={}
            )
        except GitconnectError:
            return source
        heads = {n: sha for n, sha in listing.branches.items() if matches_any(n, source.branches)}
        state = ReconcileState(self.clock(), watched(source, listing), {}, listing.validators,
                               rules_key(source.branches, source.tags))
        return replace(source, heads=heads, reconcile=state)

    def create(self, team_id: str, body: dict[str, Any]) -> Source:
        connection = self.connections.get(team_id, body["connection_id"])
        repo = self.providers(connection.provider).repository(self.secrets.access(connection), body.get("repository"))
        if not connection.allows(repo.repository):
            raise ForbiddenError(f"{repo.repository} is outside the connection's namespace restrictions")
        rules = _rules(body, None)
        now = iso(utcnow())
        rules.setdefault("name", repo.repository)
        rules.setdefault("branches", ())
        source = Source(
            team_id=team_id,
            id=new_id("src"),
            connection_id=connection.id,
            provider=connection.provider,
            repository=repo.repository,
            repository_id=repo.id,
            clone_url=repo.clone_url,
            created_at=now,
            updated_at=now,
            **rules,
        )
        _require_a_trigger(source)
        source = self._scheduled(source)
        if source.reconcile_due_at is not None:
            source = self._reconcile_baseline(connection, source)
        elif source.poll or self.hooks.manages(connection.provider):
            # Heads now: polls, and webhook repairs looking for missed commits, compare against them.
            source = self._baseline(source)
        # The repository's webhook first (registered, or shared with its other users): a source that cannot receive
        # events is not created.
        hook = self.hooks.register(connection, source)
        try:
            self.sources.create(source)
        except Exception:
            if hook is not None:
                access = self.secrets.access(connection)
                self.hooks.release(access, connection.id, hook.repository_id, f"src#{source.id}")
            raise
        return source

    def get(self, team_id: str, source_id: str) -> Source:
        source = self.sources.get(team_id, source_id)
        if source is None:
            raise NotFoundError(f"source {source_id!r} not found")
        return source

    def list(self, team_id: str) -> list[Source]:
        return self.sources.list(team_id)

    def update(self, team_id: str, source_id: str, body: dict[str, Any]) -> Source:
        current = self.get(team_id, source_id)
        changed = replace(current, updated_at=iso(utcnow()), **_rules(body, current))
        _require_a_trigger(changed)
        changed = self._scheduled(changed)
        patterns_changed = (changed.branches, changed.tags) != (current.branches, current.tags)
        if changed.poll and (not current.poll or patterns_changed):
            changed = self._baseline(changed)
        return self.sources.replace(changed)

    def delete(self, team_id: str, source_id: str) -> None:
        source = self.get(team_id, source_id)
        self.sources.delete(team_id, source_id)
        if not self.hooks.manages(source.provider):
            return
        connection = self.connections.find(team_id, source.connection_id)
        access = self.secrets.access(connection) if connection else None
        if source.repository_id is not None:
            self.hooks.release(access, source.connection_id, source.repository_id, f"src#{source.id}")
        legacy = self.hooks.for_source(source.connection_id, source_id)  # a hook of its own, from before sharing
        if legacy:
            self.hooks.remove(access, legacy)
