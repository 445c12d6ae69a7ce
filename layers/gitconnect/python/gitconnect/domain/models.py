"""The records every service works with. Storage adapters map them to tables; the API maps them to JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar, cast

from gitconnect.domain.events import RepoRef
from gitconnect.domain.ids import iso
from gitconnect.domain.ratelimits import RateLimit
from gitconnect.domain.reconcile import ReconcileState

T = TypeVar("T")

BuildStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Trigger = Literal["push", "pull_request", "tag", "release", "manual", "poll"]

BUILD_STATUSES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
SOURCE_STATUSES: tuple[str, ...] = ("active", "access_revoked")
# Why a connection that is not `active` builds nothing (manual builds, polls, webhooks alike).
_CONNECTION_REFUSALS = {
    "suspended": "the connection is suspended: its GitHub App installation on {account} was suspended (unsuspend it "
    "on GitHub)",
    "uninstalled": "the connection is uninstalled: the GitHub App was removed from {account} (install it again)",
    "needs_relink": "the connection needs to be linked again: {provider} refused its credentials",
}
_SOURCE_REFUSALS = {"access_revoked": "access to {repository} was revoked from the GitHub App"}
FINAL_BUILD_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class Restrictions:
    mode: Literal["unrestricted", "restricted"] = "unrestricted"
    namespaces: tuple[str, ...] = ()
    # False until an admin answers `PUT …/restrictions` on a connection whose provider asks (GitLab, Bitbucket:
    # a token reaches every group of its user), so a client knows to prompt.
    confirmed: bool = True

    def to_json(self) -> dict[str, object]:
        if self.mode == "unrestricted":
            return {"mode": "unrestricted", "confirmed": self.confirmed}
        return {"mode": "restricted", "namespaces": list(self.namespaces), "confirmed": self.confirmed}

    def allows(self, repository: str) -> bool:
        """Whether `owner/name` (or `group/sub/name`) lies in an allowed namespace (case-insensitive, like the
        providers' own names); a namespace also allows its subgroups."""
        return self.allows_namespace(repository.rsplit("/", 1)[0])

    def allows_namespace(self, namespace: str) -> bool:
        """Whether repositories in `namespace` (a group, a workspace, an owner) are allowed."""
        if self.mode == "unrestricted":
            return True
        wanted = namespace.lower()
        return any(wanted == n.lower() or wanted.startswith(n.lower() + "/") for n in self.namespaces)


@dataclass(frozen=True)
class Connection:
    team_id: str
    id: str
    provider: str
    name: str
    account: str | None
    base_url: str | None
    status: str
    created_at: str
    restrictions: Restrictions = field(default_factory=Restrictions)
    account_key: str | None = None  # how webhooks name the account (e.g. `github#<installation id>`)
    details: dict[str, object] = field(default_factory=dict)  # provider facts worth showing (e.g. settings_url)
    # KMS envelope of the credentials JSON; opaque outside the cipher adapter, never returned by the API.
    secret: bytes | None = None
    # Part of the listing cache's key: bumped (atomically, in the table) when what the connection may list changes
    # (restrictions, GitHub installation events), so every container stops serving its cached listing.
    listing_epoch: int = 0
    # The provider's limit as its last answer for this connection stated it (services/ratelimits.py); None: unknown.
    rate_limit: RateLimit | None = None

    def allows(self, repository: str) -> bool:
        """Namespace restrictions, enforced for listing, sources, builds, polls and webhooks alike (a Custom Git
        connection is one repository: nothing to restrict)."""
        return self.provider == "custom" or self.restrictions.allows(repository)

    @property
    def refusal(self) -> str | None:
        """Why nothing builds on this connection, or None when it is `active`."""
        if self.status == "active":
            return None
        reason = _CONNECTION_REFUSALS.get(self.status, "the connection is {status}")
        return reason.format(account=self.account or self.name, provider=self.provider, status=self.status)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "provider": self.provider,
            "name": self.name,
            "account": self.account,
            "base_url": self.base_url,
            "status": self.status,
            "restrictions": self.restrictions.to_json(),
            "created_at": self.created_at,
            "rate_limit": None if self.rate_limit is None else self.rate_limit.to_json(),
            **self.details,
        }


@dataclass(frozen=True)
class PullRequestRules:
    enabled: bool = False
    branches: tuple[str, ...] = ()
    forks: Literal["skip", "build"] = "skip"


@dataclass(frozen=True)
class PathRules:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


PollStatus = Literal["pending", "ok", "failing"]
PollRecorded = Literal["ok", "recovered", "gone"]  # a poll that reached the remote, as its record landed
PollFailed = Literal["started", "continued", "gone"]  # a poll that did not, as its record landed


@dataclass(frozen=True)
class PollHealth:
    """How the scheduled sync fares with a polled source's remote: `pending` until its first poll, then `ok`, or
    `failing` with the last error and how many polls in a row failed."""

    status: PollStatus = "pending"
    last_error: str | None = None
    last_polled_at: str | None = None
    consecutive_failures: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "last_error": self.last_error,
            "last_polled_at": self.last_polled_at,
            "consecutive_failures": self.consecutive_failures,
        }


def _at(epoch: float | None) -> str | None:
    return None if epoch is None else iso(datetime.fromtimestamp(epoch, UTC))


@dataclass(frozen=True)
class Source:
    team_id: str
    id: str
    name: str
    connection_id: str
    provider: str
    repository: str
    clone_url: str
    branches: tuple[str, ...]
    created_at: str
    updated_at: str
    pull_requests: PullRequestRules = field(default_factory=PullRequestRules)
    tags: tuple[str, ...] = ()
    releases: bool = False
    paths: PathRules = field(default_factory=PathRules)
    skip_flags: tuple[str, ...] = ()
    poll: bool = False
    repository_id: str | None = None  # the provider's stable id: webhooks find sources by it
    # Branch heads the last poll saw (branch name -> sha): a build is requested only when a head moves.
    heads: dict[str, str] = field(default_factory=dict)
    # Watched tags the last poll saw (tag name -> commit); None until a poll took the baseline (then nothing builds).
    tag_heads: dict[str, str] | None = None
    polling: PollHealth = field(default_factory=PollHealth)  # written by the scheduled sync only
    poll_seconds: int | None = None  # this source's polling interval; None: GITCONNECT_POLL_SECONDS
    # Epoch seconds of the next poll (None when poll is off): set at create, then moved only by the schedule's claim
    # and by a failed poll's backoff; a settings change keeps it.
    poll_due_at: float | None = None
    # `active`, or `access_revoked` while the provider withholds the repository (a GitHub App's repositories).
    status: str = "active"
    # Webhook-fed sources (domain/reconcile.py): the last reconcile pass, and the epoch seconds of the next one (set at
    # create, moved only by the schedule's claim).
    reconcile: ReconcileState | None = None
    reconcile_due_at: float | None = None

    @property
    def refusal(self) -> str | None:
        """Why this source builds nothing, or None when it is `active`."""
        if self.status == "active":
            return None
        return _SOURCE_REFUSALS.get(self.status, "the source is {status}").format(
            repository=self.repository, status=self.status
        )

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "connection_id": self.connection_id,
            "provider": self.provider,
            "repository": self.repository,
            "repository_id": self.repository_id,
            "branches": list(self.branches),
            "pull_requests": {
                "enabled": self.pull_requests.enabled,
                "branches": list(self.pull_requests.branches),
                "forks": self.pull_requests.forks,
            },
            "tags": list(self.tags),
            "releases": self.releases,
            "paths": {"include": list(self.paths.include), "exclude": list(self.paths.exclude)},
            "skip_flags": list(self.skip_flags),
            "poll": self.poll,
            "poll_seconds": self.poll_seconds,
            "polling": {**self.polling.to_json(), "next_poll_at": _at(self.poll_due_at)} if self.poll else None,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Build:
    id: str
    team_id: str
    source_id: str
    connection_id: str
    provider: str
    repository: str
    clone_url: str
    ref: str
    sha: str
    trigger: str
    status: str
    created_at: str
    updated_at: str
    pull_request: dict[str, object] | None = None
    status_url: str | None = None
    description: str | None = None
    requested_by: str | None = None
    # When BuildRequested was handed to the bus (set just before, with the callback token's hash; a failed publish is
    # retried with a new token).
    published_at: str | None = None
    # sha256 of the callback token handed to the builder in BuildRequested (the token itself is never stored).
    callback_token_hash: str | None = None
    # Every trigger that asked for this build (a tag's push, its `create` and its release name one commit on one ref:
    # one build); () on records written before they were kept, read as (trigger,).
    triggers: tuple[str, ...] = ()
    mirrored_status: str | None = None  # the status last shown on the provider's commit (services/statuses.py)

    @property
    def created_key(self) -> str:
        """Sort key of the listing indexes: newest last, ties broken by id."""
        return f"{self.created_at}#{self.id}"

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "source_id": self.source_id,
            "connection_id": self.connection_id,
            "provider": self.provider,
            "repository": self.repository,
            "ref": self.ref,
            "sha": self.sha,
            "trigger": self.trigger,
            "triggers": list(self.triggers or (self.trigger,)),
            "status": self.status,
            "pull_request": self.pull_request,
            "url": self.status_url,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def to_message(self) -> dict[str, object]:
        """What travels on the builds queue (no secrets in it: the callback token is minted at publish time)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("callback_token_hash",)}

    @classmethod
    def from_message(cls, data: dict[str, object]) -> Build:
        known = {f for f in cls.__dataclass_fields__}
        # The message is what to_message wrote (the same fields; JSON made the triggers a list).
        fields = {k: v for k, v in data.items() if k in known}
        fields["triggers"] = tuple(cast(list[str], fields.get("triggers") or ()))
        return cls(**cast(dict[str, Any], fields))


@dataclass(frozen=True)
class Delivery:
    team_id: str
    id: str
    provider: str
    event: str
    connection_id: str | None
    repository: str | None
    received_at: str
    # recovered: a delivery the provider failed to make, which gitconnect asked it to make again
    outcome: Literal["built", "ignored", "duplicate", "rejected", "recovered"]
    reason: str
    build_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "provider": self.provider,
            "event": self.event,
            "connection_id": self.connection_id,
            "repository": self.repository,
            "received_at": self.received_at,
            "outcome": self.outcome,
            "reason": self.reason,
            "build_ids": list(self.build_ids),
        }


@dataclass(frozen=True)
class Hook:
    """A webhook gitconnect registered on a provider; its URL is /v1/webhooks/<provider>/<id>. Since issue 14 one per
    repository per connection (`source_id` None), shared by the connection's sources, linked templates and release
    flow triggers on that repository; hooks registered before then serve one source (`source_id`)."""

    id: str
    team_id: str
    connection_id: str
    source_id: str | None
    provider: str
    repository_id: str
    repository: str
    provider_hook_id: str
    secret: bytes  # the per-hook secret, KMS-sealed; the intake opens it once per container
    secret_version: int
    created_at: str
    checked_at: float | None = None  # epoch seconds of the last health check

    @property
    def repo(self) -> RepoRef:
        """The watched repository, as provider webhook calls take it (its id and its name)."""
        return RepoRef.named(self.repository, self.repository_id)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; `next_cursor` is opaque to clients."""

    items: list[T]
    next_cursor: str | None
