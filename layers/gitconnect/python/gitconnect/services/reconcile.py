"""Heads reconciled: one webhook-fed source at a time as the sync queue hands them out (the scheduled sync finds those
due, every GITCONNECT_RECONCILE_SECONDS with jitter). Its watched branch heads and tags, listed at the provider's
cheapest (GitHub: conditional on the last ETags, a 304 spends no rate limit), are compared with what gitconnect last
saw (domain/reconcile.py); a ref that moved without a webhook builds once, with the id the router gives that push, and
the delivery log says "recovered: no webhook arrived for …". Nothing is recorded when the provider cannot answer, so
the next pass sees the same move again: nothing is lost."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from gitconnect.domain.errors import GitconnectError
from gitconnect.domain.events import HEADS, TAGS, PushEvent, RepoRef
from gitconnect.domain.ids import iso, stable_id
from gitconnect.domain.matching import decide_push, has_path_rules
from gitconnect.domain.models import Build, Connection, Delivery, Source
from gitconnect.domain.reconcile import RECONCILE_EVENT, Missed, ReconcileState, SeenRef, missed_refs, rules_key
from gitconnect.domain.rules import matches_any
from gitconnect.providers.base import Access, ReconciledRefs, RefListing, Webhooks
from gitconnect.services.ports import BuildQueue, ConnectionStore, DeliveryLog
from gitconnect.services.router import requested_build
from gitconnect.services.secrets import ConnectionSecrets

log = logging.getLogger(__name__)


class ReconciledSources(Protocol):
    def get(self, team_id: str, source_id: str) -> Source | None: ...
    def record_reconcile(self, team_id: str, source_id: str, state: ReconcileState) -> bool: ...


class SeenRefs(Protocol):
    def get(self, provider: str, repository_id: str) -> dict[str, SeenRef]: ...


@dataclass
class ReconcileReport:
    source_id: str
    outcome: str = "skipped"  # unchanged | listed | baseline | failed | skipped
    reason: str = ""
    builds: list[str] = field(default_factory=list)
    calls: int = 0  # provider requests of the listing
    free: int = 0  # of them answered 304 (no rate limit spent)


def watched(source: Source, listing: RefListing) -> dict[str, str]:
    """The listed refs the source watches, by full ref name (`refs/heads/…`, `refs/tags/…`)."""
    refs = {f"{HEADS}{n}": sha for n, sha in listing.branches.items() if matches_any(n, source.branches)}
    if listing.tags is not None:
        refs.update({f"{TAGS}{n}": sha for n, sha in listing.tags.items() if matches_any(n, source.tags)})
    return refs


@dataclass(frozen=True)
class ReconcileService:
    sources: ReconciledSources
    connections: ConnectionStore
    secrets: ConnectionSecrets
    providers: Callable[[str], object]
    seen: SeenRefs
    queue: BuildQueue
    deliveries: DeliveryLog
    clock: Callable[[], float] = time.time

    def reconcile_one(self, team_id: str, source_id: str) -> ReconcileReport:
        """One pass over one source (read afresh: it may have changed or gone since it was found due)."""
        report = ReconcileReport(source_id)
        source = self.sources.get(team_id, source_id)
        if source is None or source.poll or not source.repository_id:
            report.reason = "gone, polled instead, or without a provider repository id"
            return report
        connection = self.connections.get(team_id, source.connection_id)
        provider = self.providers(source.provider)
        if connection is None or not isinstance(provider, ReconciledRefs) or not isinstance(provider, Webhooks):
            report.reason = "unlinked, or a provider whose sources are not reconciled"
            return report
        refusal = connection.refusal or source.refusal
        if refusal is not None or not connection.allows(source.repository):
            report.reason = refusal or "outside the connection's namespace restrictions"
            return report
        access = self.secrets.access(connection)
        previous = source.reconcile
        key = rules_key(source.branches, source.tags)
        validators = previous.validators if previous is not None and previous.rules == key else {}
        try:
            listing = provider.listed_refs(access, source.repository, tags=bool(source.tags), validators=validators)
        except GitconnectError as exc:  # nothing recorded: the next pass lists and compares again
            report.outcome, report.reason = "failed", exc.detail
            log.warning("reconcile failed", extra={"source_id": source.id, "reason": exc.detail})
            return report
        report.calls, report.free = listing.calls, listing.free
        if listing.unchanged and previous is not None:
            report.outcome = "unchanged"
            return report  # nothing moved since the last pass listed it: nothing to write either
        now = self.clock()
        refs = watched(source, listing)
        delivered = self.seen.get(source.provider, source.repository_id)
        # Listed for other globs (or never): only what deliveries named counts, the rest is the new baseline.
        missed = missed_refs(refs, previous if previous is not None and previous.rules == key else None, delivered)
        builds, reasons = self._decide(provider, access, source, missed)
        # Queue before recording: a failure here leaves the pass unrecorded, and the next one requests the same ids.
        self.queue.send(builds)
        built = {b.ref: b.sha for b in builds}
        kept = {ref: sha for ref, sha in (previous.recovered if previous else {}).items() if refs.get(ref) == sha}
        state = ReconcileState(now, refs, {**kept, **built}, listing.validators, key)
        if not self.sources.record_reconcile(team_id, source.id, state):
            report.reason = "deleted meanwhile"
            return report
        report.outcome = "listed" if previous is not None else "baseline"
        report.builds = [b.id for b in builds]
        if reasons:
            self.deliveries.put_many([_entry(source, connection, now, reasons, tuple(b.id for b in builds))])
        return report

    def _decide(
        self, provider: Webhooks, access: Access, source: Source, missed: list[Missed]
    ) -> tuple[list[Build], list[str]]:
        """Each missed ref decided as the push the provider would have sent (the router's rules and build id); path
        rules ask the compare API as the router does, and build with "changed files unknown" when it cannot say."""
        repo = RepoRef.named(source.repository, source.repository_id or source.repository)
        builds, reasons = [], []
        for move in missed:  # bounded by the source's watched refs in one listing
            event = PushEvent(
                account_key=None, repository=repo, ref=move.ref, before=move.before, after=move.after,
                created=move.before is None, deleted=False, commits=(), commits_complete=False, head_message=None,
            )
            files = None
            if has_path_rules(source) and not event.is_tag:
                try:
                    files = provider.changed_files(access, repo, move.before, move.after)
                except GitconnectError:
                    files = None  # unknown: built with the reason saying so
            decision = decide_push(source, event, files, "no webhook payload to read them from")
            reasons.append(f"recovered: no webhook arrived for {move.ref} at {move.after[:12]}: {decision.reason}")
            if decision.build:
                builds.append(requested_build(source, decision, event))
        return builds, reasons


def _entry(
    source: Source, connection: Connection, now: float, reasons: list[str], build_ids: tuple[str, ...]
) -> Delivery:
    """The pass's delivery log entry: `recovered` when it requested builds, else `ignored` (each ref's reason)."""
    at = iso(datetime.fromtimestamp(now, UTC))
    return Delivery(
        team_id=source.team_id,
        id=stable_id("rec", source.id, at),
        provider=source.provider,
        event=RECONCILE_EVENT,
        connection_id=connection.id,
        repository=source.repository,
        received_at=at,
        outcome="recovered" if build_ids else "ignored",
        reason=f"{source.name}: {' | '.join(reasons)}",
        build_ids=build_ids,
    )
