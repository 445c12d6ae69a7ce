"""Event router: a verified delivery -> normalized event -> the sources it concerns -> build requests, and one
delivery log entry per team that answers "why did (or didn't) this build?"."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from gitconnect.domain.deliveries import QueuedDelivery
from gitconnect.domain.errors import GitconnectError, MalformedPayloadError
from gitconnect.domain.events import (
    Ignored,
    InstallationEvent,
    MergeGroupEvent,
    PullRequestEvent,
    PushEvent,
    ReleaseEvent,
    RepoRef,
    TagEvent,
    WebhookEvent,
    repository_of,
)
from gitconnect.domain.grants import regranted
from gitconnect.domain.ids import stable_id
from gitconnect.domain.matching import (
    Decision,
    decide_merge_group,
    decide_pull_request,
    decide_push,
    decide_release,
    decide_tag,
    has_path_rules,
    push_files,
)
from gitconnect.domain.models import Build, Connection, Delivery, Hook, Source
from gitconnect.domain.reconcile import SeenRef, recovered_already
from gitconnect.domain.rules import matches_any
from gitconnect.providers.base import Access, Provider, ShortHashes, Webhooks
from gitconnect.providers.github.webhooks import account_key_of as github_account_key_of
from gitconnect.services.builds import SHARED_ID_TRIGGERS, new_build
from gitconnect.services.ports import BuildQueue, DeliveryLog
from gitconnect.services.secrets import ConnectionSecrets

if TYPE_CHECKING:  # annotations only: loading the router does not load the GitOps service
    from gitconnect.services.templates import RepositoryTemplates

log = logging.getLogger(__name__)

FULL_SHA_LENGTH = 40
MAX_LOGGED_NAME = 512
_INSTALLATION_STATUS = {"deleted": "uninstalled", "suspended": "suspended", "unsuspended": "active"}
REGENERATED_SINCE = "signed with a webhook secret that was regenerated since: not built"
# Deliveries that do not come through a per-hook URL name their account in the payload (a GitHub App's
# `installation.id`): read leniently, to tell its teams about a delivery that could not be normalized.
_ACCOUNT_NAMED_IN_PAYLOAD: dict[str, Callable[[object], str | None]] = {"github": github_account_key_of}


class AccountConnections(Protocol):
    def get(self, team_id: str, connection_id: str) -> Connection | None: ...
    def by_account(self, account_key: str) -> list[Connection]: ...
    def update_status(self, team_id: str, connection_id: str, status: str) -> bool: ...
    def refresh(self, c: Connection) -> bool: ...
    def set_details(self, team_id: str, connection_id: str, details: dict[str, object] | None) -> bool: ...
    def bump_listing_epoch(self, team_id: str, connection_id: str) -> bool: ...


class RepositorySources(Protocol):
    def for_repository(self, provider: str, repository_id: str) -> list[Source]: ...
    def set_status(self, team_id: str, source_id: str, status: str) -> bool: ...


class HookLookup(Protocol):
    def get(self, hook_id: str) -> Hook | None: ...


class SeenRecorder(Protocol):
    def record(self, provider: str, repository_id: str, heads: Mapping[str, str], at: float) -> dict[str, SeenRef]:
        ...


class GitOpsSync(Protocol):
    def for_repository(self, repository: str) -> RepositoryTemplates: ...
    def on_delivery(
        self,
        connection: Connection,
        events: tuple[WebhookEvent, ...],
        found: RepositoryTemplates,
        files: Callable[[PushEvent], list[str] | None],
    ) -> list[str]: ...


_Outcome = tuple[Literal["built", "ignored"], str, list[Build]]  # per connection: outcome, reason, builds


@dataclass
class RouteReport:
    event: str
    outcome: str
    deliveries: list[Delivery] = field(default_factory=list)
    builds: list[Build] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """What the idempotency record keeps: a fixed size however many teams a delivery fans out to (DynamoDB's item
        limit is 400 KB). A later duplicate finds its teams again from the delivery itself (`log_duplicate`)."""
        ids = sorted(b.id for b in self.builds)
        return {
            "event": self.event,
            "outcome": self.outcome,
            "builds": len(ids),
            "teams": len({d.team_id for d in self.deliveries}),
            "digest": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        }


@dataclass(frozen=True)
class EventRouter:
    connections: AccountConnections
    sources: RepositorySources
    deliveries: DeliveryLog
    queue: BuildQueue
    providers: Callable[[str], Provider]
    secrets: ConnectionSecrets
    hooks: HookLookup
    gitops: Callable[[], GitOpsSync] | None = None
    seen: SeenRecorder | None = None  # the heads push deliveries name, for the reconcile (None: not recorded)
    clock: Callable[[], float] = time.time

    def route(self, delivery: QueuedDelivery) -> RouteReport:
        provider_id, event_name = delivery.provider, delivery.event
        provider = self.providers(provider_id)
        report = RouteReport(event_name, "ignored")
        if not isinstance(provider, Webhooks):  # the intake queues deliveries only for providers with webhooks
            log.warning("delivery for a provider without webhooks", extra={"delivery_id": delivery.delivery_id})
            return report
        hook: Hook | None = None
        if delivery.hook_id:
            # A per-hook URL names one hook of one source: its connection is the account, its source the only one.
            hook = self.hooks.get(delivery.hook_id)
            if hook is None:
                log.info("delivery for a removed hook", extra={"delivery_id": delivery.delivery_id})
                return report
            if delivery.secret_version != hook.secret_version:
                return self._rejected(delivery, report, REGENERATED_SINCE, [_Concerned.hook(hook)])
        payload = delivery.payload
        try:
            normalized = provider.normalize(event_name, payload)
        except MalformedPayloadError as error:
            return self._malformed(delivery, payload, hook, report, error.reason)
        except GitconnectError:
            raise
        except Exception as error:  # a backstop: a normalizer's bug must not make a verified delivery poison
            log.warning("a normalizer failed on a delivery", exc_info=True,
                        extra={"delivery_id": delivery.delivery_id, "provider": provider_id})
            reason = f"malformed {event_name} payload: it could not be read ({type(error).__name__})"
            return self._malformed(delivery, payload, hook, report, reason)
        events = normalized if isinstance(normalized, tuple) else (normalized,)
        event = _representative(events)
        only_source = None
        if hook is not None:
            connection = self.connections.get(hook.team_id, hook.connection_id)
            if connection is None:
                return report
            events = tuple(
                e if isinstance(e, InstallationEvent) else replace(e, account_key=connection.account_key)
                for e in events
            )  # (an installation, the account itself, never comes to a per-hook URL)
            event = _representative(events)
            only_source = hook.source_id
        if event.account_key is None:
            reason = event.reason if isinstance(event, Ignored) else "no installation named: not sent by the App"
            log.info("delivery ignored", extra={"delivery_id": delivery.delivery_id, "reason": reason})
            return report
        if hook is not None and hook.source_id is None:
            # A repository's shared hook serves its own connection (every other connection has a hook of its own).
            connections = [c for c in self.connections.by_account(event.account_key) if c.id == hook.connection_id]
        else:
            connections = [c for c in self.connections.by_account(event.account_key) if c.provider == provider_id]
        if not connections:
            log.info("delivery for no linked account", extra={"delivery_id": delivery.delivery_id})
            return report
        outcomes: list[_Outcome]
        if isinstance(event, InstallationEvent):
            outcomes = [self._installation(c, event) for c in connections]
        else:
            repo_sources = [s for s in self._repository_sources(provider_id, event) if only_source in (None, s.id)]
            seen_before = self._record_seen(provider_id, events, repo_sources)
            outcomes = []
            templates = _OnceOrNone(self._templates_for, event)
            for connection in connections:
                builds, reason = self._decide_all(provider, connection, events, repo_sources, seen_before)
                synced = self._gitops_events(provider, connection, events, templates)
                report.builds.extend(builds)
                outcomes.append(("built" if builds else "ignored", "; ".join([reason, *synced]), builds))
        # Queue first: a failure here retries the whole delivery, and stable build ids make the retry harmless.
        self.queue.send(report.builds)
        repository = repository_of(event)
        for connection, (outcome, reason, builds) in zip(connections, outcomes, strict=True):
            report.deliveries.append(
                Delivery(
                    team_id=connection.team_id,
                    id=delivery.delivery_id,
                    provider=provider_id,
                    event=event_name,
                    connection_id=connection.id,
                    repository=repository.full_name if repository else None,
                    received_at=delivery.received_at,
                    outcome=outcome,
                    reason=reason,
                    build_ids=tuple(b.id for b in builds),
                )
            )
        self.deliveries.put_many(report.deliveries)
        report.outcome = "built" if report.builds else "ignored"
        return report

    def _malformed(
        self, delivery: QueuedDelivery, payload: object, hook: Hook | None, report: RouteReport, reason: str
    ) -> RouteReport:
        """Verified, but not the shape the provider documents: refused for good (the same bytes would fail the
        same way on every retry), and each team it concerns sees why. The teams are the hook's for a per-hook
        delivery; else those linked to the account the payload names, when that much of it can be read."""
        log.info("delivery rejected as malformed", extra={"delivery_id": delivery.delivery_id, "reason": reason})
        if hook is not None:
            return self._rejected(delivery, report, reason, [_Concerned.hook(hook)])
        return self._rejected(delivery, report, reason, self._named_in_payload(delivery.provider, payload))

    def _named_in_payload(self, provider_id: str, payload: object) -> list[_Concerned]:
        """The teams linked to the account a payload names, read without judging the rest of it."""
        account_of = _ACCOUNT_NAMED_IN_PAYLOAD.get(provider_id)
        key = None if account_of is None else account_of(payload)
        connections = [] if key is None else self.connections.by_account(key)
        repository = _named_repository(payload)
        return [_Concerned(c.team_id, c.id, repository) for c in connections if c.provider == provider_id]

    def _rejected(
        self, delivery: QueuedDelivery, report: RouteReport, reason: str, concerned: Sequence[_Concerned]
    ) -> RouteReport:
        """Refused for good (acknowledged, never retried): a `rejected` entry with the reason for each team."""
        report.outcome = "rejected"
        report.deliveries = [
            Delivery(
                team_id=c.team_id,
                id=delivery.delivery_id,
                provider=delivery.provider,
                event=delivery.event,
                connection_id=c.connection_id,
                repository=c.repository,
                received_at=delivery.received_at,
                outcome="rejected",
                reason=reason,
            )
            for c in concerned
        ]
        if report.deliveries:
            self.deliveries.put_many(report.deliveries)
        return report

    def log_duplicate(self, delivery: QueuedDelivery) -> None:
        """A delivery seen before: each team it concerns sees the copy as a duplicate (nothing built). The teams are
        found again as routing found them (the hook's, or those linked to the account the payload names): the first
        routing's record keeps no list of them."""
        if delivery.hook_id:
            hook = self.hooks.get(delivery.hook_id)
            concerned = [] if hook is None else [_Concerned.hook(hook)]
        else:
            concerned = self._named_in_payload(delivery.provider, delivery.payload)
        # Bounded by the account's linked teams, as the first routing was; written in batches by the log.
        self.deliveries.put_many(
            [
                Delivery(
                    team_id=c.team_id,
                    id=delivery.delivery_id,
                    provider=delivery.provider,
                    event=delivery.event,
                    connection_id=c.connection_id,
                    repository=c.repository,
                    received_at=delivery.received_at,
                    outcome="duplicate",
                    reason="this delivery was already routed; the copy builds nothing",
                )
                for c in concerned
            ]
        )

    # ------------------------------------------------------------------ installation changes
    def _installation(self, connection: Connection, event: InstallationEvent) -> _Outcome:
        self.connections.bump_listing_epoch(connection.team_id, connection.id)  # what it reaches may have changed
        status = _INSTALLATION_STATUS.get(event.action)
        if status is None:
            return self._repositories_changed(connection, event)
        self.connections.update_status(connection.team_id, connection.id, status)
        return "ignored", f"installation {event.action}: connection marked {status}", []

    def _repositories_changed(self, connection: Connection, event: InstallationEvent) -> _Outcome:
        """The account granted or revoked repositories: the connection's list follows, and so do the sources on
        them (`access_revoked` build nothing until the repository is granted again)."""
        added, removed = [r.full_name for r in event.added], [r.full_name for r in event.removed]
        details = regranted(connection.details, event.repository_selection, added, removed)
        self.connections.set_details(connection.team_id, connection.id, details)
        revoked = self._set_source_status(connection, event.removed, "access_revoked")
        restored = self._set_source_status(connection, event.added, "active")
        reason = f"repositories granted: {', '.join(added) or 'none'}; revoked: {', '.join(removed) or 'none'}"
        if revoked:
            reason += f"; sources without access: {', '.join(revoked)}"
        if restored:
            reason += f"; sources restored: {', '.join(restored)}"
        return "ignored", reason, []

    def _set_source_status(self, connection: Connection, repos: tuple[RepoRef, ...], status: str) -> list[str]:
        """The names of this connection's sources on `repos` whose status changed to `status`. Bounded by the
        repositories GitHub lists in one delivery and the sources on each."""
        changed = []
        for repo in repos:
            for source in self.sources.for_repository(connection.provider, repo.id):
                if source.connection_id != connection.id or source.status == status:
                    continue
                if self.sources.set_status(source.team_id, source.id, status):
                    changed.append(source.name)
        return changed

    # ------------------------------------------------------------------ repository events
    def _repository_sources(self, provider_id: str, event: WebhookEvent) -> list[Source]:
        repo = repository_of(event)
        if isinstance(event, Ignored) or repo is None:
            return []
        return self.sources.for_repository(provider_id, repo.id)

    def _templates_for(self, event: WebhookEvent) -> RepositoryTemplates | None:
        if self.gitops is None or not isinstance(event, PushEvent | PullRequestEvent):
            return None
        return self.gitops().for_repository(event.repository.full_name)

    def _gitops_events(
        self,
        provider: Webhooks,
        connection: Connection,
        events: tuple[WebhookEvent, ...],
        templates: _OnceOrNone,
    ) -> list[str]:
        """GitOps: templates linked to a branch this delivery moved are synced with their file, and release flows
        whose Git triggers match request a run. Syncing is best effort (the scheduled sync catches up with what fails
        here); a failed run request fails the delivery, which is retried."""
        relevant = tuple(
            e
            for e in events
            if isinstance(e, PushEvent | PullRequestEvent) and connection.allows(e.repository.full_name)
        )
        if self.gitops is None or connection.status != "active" or not relevant:
            return []
        found = templates()  # read once per delivery, on the first connection that needs it
        if found is None:
            return []
        facts: list[_LazyFacts] = []

        def files(event: PushEvent) -> list[str] | None:
            if not facts:  # credentials opened only when a release flow's path rules need the files
                facts.append(_LazyFacts(provider, self.secrets.access(connection), event.repository))
            return facts[0].push_files(event)

        return self.gitops().on_delivery(connection, relevant, found, files)

    def _record_seen(
        self, provider_id: str, events: tuple[WebhookEvent, ...], repo_sources: list[Source]
    ) -> dict[str, SeenRef]:
        """Record the heads this delivery names on refs a source watches (one UpdateItem per delivery, however many
        sources), before deciding: a reconcile then knows a webhook came, and what was recorded before tells whether
        the reconcile built this push already. A retry after a failure records the same heads again."""
        pushes = [
            e for e in events
            if isinstance(e, PushEvent) and not e.deleted and e.after is not None
            and any(matches_any(e.name, s.tags if e.is_tag else s.branches) for s in repo_sources)
        ]
        if self.seen is None or not pushes:
            return {}
        heads = {e.ref: str(e.after) for e in pushes}
        return self.seen.record(provider_id, pushes[0].repository.id, heads, self.clock())

    def _decide_all(
        self,
        provider: Webhooks,
        connection: Connection,
        events: tuple[WebhookEvent, ...],
        repo_sources: list[Source],
        seen_before: Mapping[str, SeenRef],
    ) -> tuple[list[Build], str]:
        """The builds of every event of one delivery; the reason names each ref when a push moved several."""
        if len(events) == 1:
            return self._decide(provider, connection, events[0], repo_sources, seen_before)
        builds, reasons = [], []
        for event in events:
            event_builds, reason = self._decide(provider, connection, event, repo_sources, seen_before)
            builds.extend(event_builds)
            reasons.append(f"{event.ref}: {reason}" if isinstance(event, PushEvent) else reason)
        return builds, " | ".join(reasons)

    def _decide(
        self,
        provider: Webhooks,
        connection: Connection,
        event: WebhookEvent,
        repo_sources: list[Source],
        seen_before: Mapping[str, SeenRef],
    ) -> tuple[list[Build], str]:
        if isinstance(event, Ignored):
            return [], event.reason
        if connection.refusal is not None:
            return [], connection.refusal
        repo = repository_of(event)
        if repo is None:  # an installation event: routed as one, never decided
            return [], f"{event.kind} events do not build"
        if not connection.allows(repo.full_name):
            return [], f"{repo.full_name} is outside the connection's namespace restrictions"
        sources = [s for s in repo_sources if s.connection_id == connection.id]
        if not sources:
            return [], f"no source watches {repo.full_name}"
        resolver = _LazyFacts(provider, self.secrets.access(connection), repo)
        builds, reasons = [], []
        for source in sources:
            if source.refusal is not None:
                reasons.append(f"{source.name}: {source.refusal}")
                continue
            if isinstance(event, PushEvent) and recovered_already(
                source.reconcile, event.ref, event.after, seen_before.get(event.ref)
            ):
                reasons.append(f"{source.name}: {event.ref} at {str(event.after)[:12]} was built already by the "
                               "reconcile (recovered: no webhook had arrived for it)")
                continue
            decision = self._decision(source, event, resolver)
            reasons.append(f"{source.name}: {decision.reason}")
            if decision.build:
                builds.append(requested_build(source, decision, event))
        return builds, "; ".join(reasons)

    @staticmethod
    def _decision(source: Source, event: WebhookEvent, facts: _LazyFacts) -> Decision:
        if isinstance(event, PushEvent):
            files = facts.push_files(event) if has_path_rules(source) and not event.is_tag else None
            return decide_push(source, event, files)
        if isinstance(event, PullRequestEvent):
            if len(event.head_sha) < FULL_SHA_LENGTH:
                full = facts.full_commit(event.head_sha)
                if full is None:
                    return Decision(False, f"the commit {event.head_sha} could not be resolved to a full hash")
                event = replace(event, head_sha=full)
            return decide_pull_request(source, event)
        if isinstance(event, TagEvent):
            return decide_tag(source, event, facts.tag_commit(event.tag) if source.tags else None)
        if isinstance(event, MergeGroupEvent):
            return decide_merge_group(source, event)
        if isinstance(event, ReleaseEvent):
            wants = event.action == "published" and source.releases
            return decide_release(source, event, event.sha or (facts.tag_commit(event.tag) if wants else None))
        return Decision(False, f"{event.kind} events do not build")


def requested_build(source: Source, decision: Decision, event: WebhookEvent) -> Build:
    """The build a delivery's decision requests: its ref and clone URL are what a builder can fetch."""
    # Stable ids: a retried delivery, or two events about one change (a tag's push and create), request the
    # same build, and the builds consumer creates it once.
    # A release names its tag: the tag's own build (same commit, same ref) is the release's build too.
    identity = "tag" if decision.trigger in SHARED_ID_TRIGGERS else str(decision.trigger)
    parts = [source.id, identity, str(decision.ref), str(decision.sha)]
    if isinstance(event, PushEvent) and not event.is_tag:
        parts.append(event.before or "")
    build = new_build(
        source,
        ref=str(decision.ref),
        sha=str(decision.sha),
        trigger=str(decision.trigger),
        requested_by=None,
        build_id=stable_id("bld", *parts),
    )
    if decision.pull_request is None:
        return build
    return replace(build, pull_request=decision.pull_request, clone_url=decision.clone_url or build.clone_url)


@dataclass(frozen=True)
class _Concerned:
    """A team a delivery is about, through one of its connections."""

    team_id: str
    connection_id: str | None
    repository: str | None

    @classmethod
    def hook(cls, hook: Hook) -> _Concerned:
        return cls(hook.team_id, hook.connection_id, hook.repository)


def _named_repository(payload: object) -> str | None:
    """`repository.full_name` when the payload has a readable one (for the delivery log only)."""
    repository = payload.get("repository") if isinstance(payload, Mapping) else None
    full_name = repository.get("full_name") if isinstance(repository, Mapping) else None
    return full_name if isinstance(full_name, str) and 0 < len(full_name) <= MAX_LOGGED_NAME else None


class _OnceOrNone:
    """A value computed on first use, then remembered (per delivery)."""

    def __init__(self, fn: Callable[[WebhookEvent], Any], event: WebhookEvent) -> None:
        self._fn, self._event, self._done, self._value = fn, event, False, None

    def __call__(self) -> Any:
        if not self._done:
            self._value, self._done = self._fn(self._event), True
        return self._value


def _representative(events: tuple[WebhookEvent, ...]) -> WebhookEvent:
    """The event that speaks for a delivery's account and repository (all of its events share them): the first
    one acted upon, else the first."""
    return next((e for e in events if not isinstance(e, Ignored)), events[0])


class _LazyFacts:
    """Provider API answers the payload left out, fetched at most once per delivery and connection."""

    def __init__(self, provider: Webhooks, access: Access, repo: RepoRef) -> None:
        self._provider, self._access, self._repo = provider, access, repo
        self._files: dict[str, list[str] | None] = {}
        self._tags: dict[str, str | None] = {}
        self._commits: dict[str, str | None] = {}

    def push_files(self, event: PushEvent) -> list[str] | None:
        files = push_files(event)
        if files is not None or event.after is None:
            return files
        if event.after not in self._files:
            # The payload's list is truncated or missing: ask the compare API; None there too means "unknown".
            self._files[event.after] = self._provider.changed_files(self._access, self._repo, event.before, event.after)
        return self._files[event.after]

    def full_commit(self, sha: str) -> str | None:
        if sha not in self._commits:
            provider = self._provider  # only providers that resolve short hashes send them
            full = provider.full_commit(self._access, self._repo, sha) if isinstance(provider, ShortHashes) else None
            self._commits[sha] = full
        return self._commits[sha]

    def tag_commit(self, tag: str) -> str | None:
        if tag not in self._tags:
            self._tags[tag] = self._provider.tag_commit(self._access, self._repo, tag)
        return self._tags[tag]
