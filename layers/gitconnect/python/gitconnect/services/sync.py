"""Polling: one source at a time as the sync queue hands it out (`poll_one`), or every polled source (`poll`).

Each watched branch head that moved, and each watched tag that is new or moved, is decided by the webhook path's own
rules (`decide_push`: branch globs, skip flags, path rules, tag globs), with what Git itself says about the push where
the provider can say it (`PolledChanges`: the head commit's message, the files changed since the previous head). Each
poll records the source's heads and its health; the delivery log says what a poll built or why not, and says once
when polling a remote starts failing and once when it recovers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from gitconnect.domain.errors import GitconnectError
from gitconnect.domain.events import HEADS, TAGS, PushEvent, RepoRef
from gitconnect.domain.ids import iso, stable_id, utcnow
from gitconnect.domain.matching import Decision, decide_push, has_path_rules
from gitconnect.domain.models import Build, Connection, Delivery, Source
from gitconnect.domain.rules import matches_any
from gitconnect.domain.schedule import backoff_due
from gitconnect.providers.base import Access, PolledChanges, Provider, PushFacts
from gitconnect.services.builds import new_build
from gitconnect.services.ports import BuildQueue, ConnectionStore, DeliveryLog, SourceStore
from gitconnect.services.secrets import ConnectionSecrets

log = logging.getLogger(__name__)

# Moved branch heads whose commits one poll reads per source (one bounded fetch each); the others build with
# "changed files unknown", as a push too large to inspect does.
MAX_INSPECTED_HEADS = 10
POLL_EVENT = "poll"  # the delivery log's event name for what polls decide


@dataclass
class PollReport:
    sources: int = 0
    requested: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # source id -> why it was not polled (nothing builds)


def moved_heads(source: Source, heads: dict[str, str]) -> list[tuple[str, str, str]]:
    """(branch, previous sha or "", new sha) for every watched head that is new or moved."""
    return [
        (name, source.heads.get(name, ""), sha) for name, sha in sorted(heads.items()) if source.heads.get(name) != sha
    ]


def watched_refs(provider: Provider, access: Access, source: Source) -> tuple[dict[str, str], dict[str, str] | None]:
    """The source's watched branch heads and, where the provider polls tags (one `ls-remote` gives both), its watched
    tags (name -> commit); None: tags are not polled for this source."""
    if isinstance(provider, PolledChanges):
        refs = provider.refs(access)
        heads = {name: sha for name, sha in refs.branches.items() if matches_any(name, source.branches)}
        if not source.tags:
            return heads, None
        return heads, {name: sha for name, sha in refs.tags.items() if matches_any(name, source.tags)}
    branches = provider.branches(access, source.repository)
    return {b.name: b.sha for b in branches if matches_any(b.name, source.branches)}, None


@dataclass(frozen=True)
class _Polled:
    """One source's poll that reached its remote: what to record, what to build, and why (one reason per ref)."""

    source: Source
    connection: Connection
    heads: dict[str, str]
    tag_heads: dict[str, str] | None
    builds: list[Build]
    reasons: list[str]


@dataclass(frozen=True)
class PollService:
    sources: SourceStore
    connections: ConnectionStore
    secrets: ConnectionSecrets
    providers: Callable[[str], Provider]
    queue: BuildQueue
    deliveries: DeliveryLog
    clock: Callable[[], datetime] = utcnow
    poll_seconds: float = 180.0  # GITCONNECT_POLL_SECONDS: the interval a failing source's backoff starts from

    def poll_one(self, team_id: str, source_id: str) -> PollReport:
        """Poll one source the schedule found due (read afresh: it may have changed since); nothing when it is gone
        or polling was turned off meanwhile."""
        source = self.sources.get(team_id, source_id)
        return self.poll_sources([source] if source is not None and source.poll else [])

    def poll(self) -> PollReport:
        """Every polled source in one go, whatever is due (tools and tests; the deployment polls through the queue)."""
        return self.poll_sources(self.sources.polled())

    def poll_sources(self, sources: Iterable[Source]) -> PollReport:
        report = PollReport()
        at = self.clock()
        now = iso(at)
        polled: list[_Polled] = []
        entries: list[Delivery] = []
        connections: dict[tuple[str, str], Connection | None] = {}  # one read per connection per poll
        # Bounded by what the caller passes: one due source from the queue, or by_poll read a page at a time.
        for source in sources:
            report.sources += 1
            key = (source.team_id, source.connection_id)
            if key not in connections:
                connections[key] = self.connections.get(*key)
            connection = connections[key]
            if connection is None:
                continue  # unlinked: its sources are being removed
            refusal = connection.refusal or source.refusal
            if refusal is not None:
                report.skipped[source.id] = refusal
                continue
            if not connection.allows(source.repository):
                report.failed[source.id] = "outside the connection's namespace restrictions"
                continue
            provider, access = self.providers(connection.provider), self.secrets.access(connection)
            try:
                heads, tags = watched_refs(provider, access, source)
            except GitconnectError as exc:
                report.failed[source.id] = exc.detail
                log.warning("poll failed", extra={"source_id": source.id, "reason": exc.detail})
                entries.extend(self._failed(source, connection, exc.detail, at))
                continue
            polled.append(self._decide(provider, access, source, connection, heads, tags))
        # Queue every build before recording any head: a failure here leaves the heads unrecorded,
        # and the next poll requests the same (stable) builds again.
        self.queue.send([b for p in polled for b in p.builds])
        for p in polled:
            recorded = self.sources.record_poll(
                p.source.team_id,
                p.source.id,
                p.heads,
                p.tag_heads,
                now,
                was_failing=p.source.polling.status == "failing",
            )
            if recorded == "gone":
                continue  # deleted or unlinked meanwhile
            report.requested.extend(b.id for b in p.builds)
            if p.reasons:
                reason = f"{p.source.name}: {' | '.join(p.reasons)}"
                entries.append(_entry(p.source, p.connection, now, reason, tuple(b.id for b in p.builds)))
            if recorded == "recovered":
                failures = p.source.polling.consecutive_failures
                why = f"polling {_remote(p.source, p.connection)} recovered after {failures} failed poll(s)"
                entries.append(_entry(p.source, p.connection, now, why))
        if entries:
            self.deliveries.put_many(entries)
        return report

    def _failed(self, source: Source, connection: Connection, error: str, at: datetime) -> list[Delivery]:
        """Record the failure with the next poll backed off (the interval doubled per failure in a row, at most an
        hour); a log entry only from the poll whose write began the failing streak."""
        now, failing = iso(at), source.polling.status == "failing"
        failures = (source.polling.consecutive_failures if failing else 0) + 1
        due_at = backoff_due(at.timestamp(), source.poll_seconds or self.poll_seconds, failures)
        recorded = self.sources.record_poll_failure(
            source.team_id, source.id, error, now, was_failing=failing, due_at=due_at
        )
        if recorded != "started":
            return []
        why = f"polling {_remote(source, connection)} started failing: {error}"
        return [_entry(source, connection, now, why)]

    def _decide(
        self,
        provider: Provider,
        access: Access,
        source: Source,
        connection: Connection,
        heads: dict[str, str],
        tags: dict[str, str] | None,
    ) -> _Polled:
        builds: list[Build] = []
        reasons: list[str] = []
        # Bounded by the branches the remote advertises; at most MAX_INSPECTED_HEADS of them are fetched.
        for index, (name, previous, sha) in enumerate(moved_heads(source, heads)):
            event = _push(source, f"{HEADS}{name}", previous or None, sha)
            facts = self._facts(provider, access, source, event, inspect=index < MAX_INSPECTED_HEADS)
            decision = decide_push(
                source, replace(event, head_message=facts.head_message), facts.files, facts.unknown or "not inspected"
            )
            if decision.build and facts.head_message is None and not has_path_rules(source):
                decision = replace(decision, reason=f"{decision.reason} (head commit not read: {facts.unknown})")
            reasons.append(f"{event.ref}: {decision.reason}")
            if decision.build:
                # The id is derived from the transition, so a poll retried after a partial failure
                # requests the same build again and the consumer creates it once.
                build_id = stable_id("bld", source.id, "poll", name, previous, sha)
                builds.append(_build(source, decision, "poll", build_id))
        if tags is not None and source.tag_heads is not None:  # None before: this poll takes the baseline
            for name, sha in sorted(tags.items()):  # bounded by the tags the remote advertises; none is fetched
                if source.tag_heads.get(name) == sha:
                    continue
                event = _push(source, f"{TAGS}{name}", source.tag_heads.get(name), sha)
                decision = decide_push(source, event, None)
                reasons.append(f"{event.ref}: {decision.reason}")
                if decision.build:  # the webhook path's id for a tag: a retried poll requests the same build
                    build_id = stable_id("bld", source.id, "tag", event.ref, sha)
                    builds.append(_build(source, decision, "tag", build_id))
        return _Polled(source, connection, heads, tags, builds, reasons)

    @staticmethod
    def _facts(provider: Provider, access: Access, source: Source, event: PushEvent, *, inspect: bool) -> PushFacts:
        if not isinstance(provider, PolledChanges):
            return PushFacts(None, None, "this provider's polls read branch heads only")
        if not inspect:
            return PushFacts(None, None, f"more than {MAX_INSPECTED_HEADS} heads moved in one poll")
        try:
            return provider.push_facts(access, event.before, str(event.after), files=has_path_rules(source))
        except GitconnectError as exc:  # the refs were read: build, saying what could not be inspected
            return PushFacts(None, None, f"the commits could not be fetched: {exc.detail}")


def _entry(source: Source, connection: Connection, now: str, reason: str, build_ids: tuple[str, ...] = ()) -> Delivery:
    """A delivery log entry for what a poll did (`built` when it requested builds, else `ignored`)."""
    return Delivery(
        team_id=source.team_id,
        id=stable_id("poll", source.id, now, reason),
        provider=source.provider,
        event=POLL_EVENT,
        connection_id=connection.id,
        repository=source.repository,
        received_at=now,
        outcome="built" if build_ids else "ignored",
        reason=reason,
        build_ids=build_ids,
    )


def _remote(source: Source, connection: Connection) -> str:
    return connection.base_url or source.clone_url


def _push(source: Source, ref: str, before: str | None, after: str) -> PushEvent:
    """A polled ref's move as the push a webhook would have sent (no commit list: a poll sees heads only)."""
    return PushEvent(
        account_key=None,
        repository=RepoRef.named(source.repository, source.repository_id or source.repository),
        ref=ref,
        before=before,
        after=after,
        created=before is None,
        deleted=False,
        commits=(),
        commits_complete=False,
        head_message=None,
    )


def _build(source: Source, decision: Decision, trigger: str, build_id: str) -> Build:
    return new_build(
        source, ref=str(decision.ref), sha=str(decision.sha), trigger=trigger, requested_by=None, build_id=build_id
    )
