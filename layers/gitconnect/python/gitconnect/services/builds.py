"""Build requests: manual triggers, dispatch to the platform (BuildRequested), status reports."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gitconnect.domain.auth import Principal
from gitconnect.domain.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
    UnprocessableError,
)
from gitconnect.domain.events import RepoRef
from gitconnect.domain.ids import iso, new_id, utcnow
from gitconnect.domain.models import BUILD_STATUSES, FINAL_BUILD_STATUSES, Build, Page, Source
from gitconnect.domain.rules import is_glob, matches_any
from gitconnect.providers.base import Access, DefaultBranches, Provider, ShortHashes
from gitconnect.services.connections import ConnectionService
from gitconnect.services.ports import BuildQueue, BuildStore, EventBus, SourceStore, StatusRequests
from gitconnect.services.secrets import ConnectionSecrets

_SHA = re.compile(r"[0-9a-f]{7,40}|[0-9a-f]{64}")  # abbreviated or full (SHA-1; SHA-256 repositories: full only)
FULL_SHA_LENGTH = 40
_OPEN_STATUSES = tuple(s for s in BUILD_STATUSES if s not in FINAL_BUILD_STATUSES)


SHARED_ID_TRIGGERS = frozenset({"tag", "release"})  # one commit on one tag: one build for both


def new_build(source: Source, *, ref: str, sha: str, trigger: str, requested_by: str | None, build_id: str) -> Build:
    now = iso(utcnow())
    return Build(
        id=build_id,
        team_id=source.team_id,
        source_id=source.id,
        connection_id=source.connection_id,
        provider=source.provider,
        repository=source.repository,
        clone_url=source.clone_url,
        ref=ref,
        sha=sha,
        trigger=trigger,
        status="queued",
        created_at=now,
        updated_at=now,
        requested_by=requested_by,
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def commit_id(sha: str | None) -> str | None:
    """A manual build's `sha`, lower-cased: 7 to 40 hex digits (or a full SHA-256 id), never the null commit."""
    if sha is None:
        return None
    sha = sha.lower()
    if not _SHA.fullmatch(sha):
        raise BadRequestError("`sha` must be a commit id: 7 to 40 hex digits")
    if not sha.strip("0"):
        raise BadRequestError("`sha` is the null commit (all zeros), which names no commit")
    return sha


def default_branch_of(source: Source, default: str | None) -> str:
    """The branch a manual build without `branch` or `sha` builds: the repository's default branch when the source
    watches it (by name or glob), else the source's only literal branch."""
    if default is not None and matches_any(default, source.branches):
        return default
    literal = [b for b in source.branches if not is_glob(b)]
    if len(literal) == 1:
        return literal[0]
    watched = ", ".join(source.branches) or "no branches"
    named = f"the default branch {default!r}" if default else "the repository's default branch (unknown)"
    raise UnprocessableError(
        f"name the `branch` to build: {named} is not among the branches the source watches ({watched})"
    )


def _default_branch(provider: Provider, access: Access, repo: RepoRef) -> str | None:
    return provider.default_branch(access, repo) if isinstance(provider, DefaultBranches) else None


def _full_commit(provider: Provider, access: Access, repo: RepoRef, sha: str) -> str:
    """The full id of `sha`, which must be a commit of the repository where the provider can say (its API)."""
    if not isinstance(provider, ShortHashes):
        if len(sha) < FULL_SHA_LENGTH:
            raise UnprocessableError("this provider cannot look commits up: give the full commit id (40 hex digits)")
        return sha  # Custom Git: ls-remote names heads only; the builder's fetch is the check
    full = provider.full_commit(access, repo, sha)
    if full is None:
        raise UnprocessableError(f"{sha} is not a commit of {repo.full_name}")
    return full


class Reported(Protocol):
    """A record a status is reported for (a build, a run): its team and the hash of its own callback token."""

    @property
    def team_id(self) -> str: ...
    @property
    def callback_token_hash(self) -> str | None: ...


R = TypeVar("R", bound=Reported)


def reported(what: str, record_id: str, record: R | None, token: str, team_principal: Callable[[], Principal]) -> R:
    """The record a status report (build or run) is for, allowed with the record's own callback token or with a
    token of its team (`team_principal` verifies it, asked only when the token is not the callback token). A missing
    record is a 404 only once the token was found valid: ids cannot be probed without one."""
    stored = record.callback_token_hash if record else None
    if not (stored and hmac.compare_digest(stored, token_hash(token))):
        try:
            principal = team_principal()
        except UnauthorizedError as exc:
            wrong = f"the token is neither this {what}'s callback token nor a valid team token"
            raise UnauthorizedError(wrong) from exc
        if record is not None:
            principal.require(record.team_id)
    if record is None:
        raise NotFoundError(f"{what} {record_id!r} not found")
    return record


@dataclass(frozen=True)
class BuildService:
    builds: BuildStore
    sources: SourceStore
    connections: ConnectionService
    secrets: ConnectionSecrets
    providers: Callable[[str], Provider]
    queue: BuildQueue
    statuses: StatusRequests

    # ------------------------------------------------------------ manual trigger
    def trigger(self, team_id: str, source_id: str, *, branch: str | None, sha: str | None, user: str) -> Build:
        """A build of `sha` (checked with the provider where it has an API, and built by its full id), else of the
        head of `branch`, else of the head of the source's default branch (`default_branch_of`)."""
        source = self.sources.get(team_id, source_id)
        if source is None:
            raise NotFoundError(f"source {source_id!r} not found")
        sha = commit_id(sha)
        connection = self.connections.get(team_id, source.connection_id)
        if not connection.allows(source.repository):
            raise ForbiddenError(f"{source.repository} is outside the connection's namespace restrictions")
        refusal = connection.refusal or source.refusal
        if refusal is not None:
            raise ConflictError(f"nothing builds on this source: {refusal}")
        provider, access = self.providers(connection.provider), self.secrets.access(connection)
        repo = RepoRef.named(source.repository, source.repository_id or "")
        if sha is not None:
            sha = _full_commit(provider, access, repo, sha)
        else:
            branch = branch or default_branch_of(source, _default_branch(provider, access, repo))
            sha = provider.resolve_branch(access, source.repository, branch)
            if sha is None:
                raise UnprocessableError(f"the branch {branch!r} does not exist in {source.repository}")
        ref = f"refs/heads/{branch}" if branch else sha
        build = new_build(source, ref=ref, sha=sha, trigger="manual", requested_by=user, build_id=new_id("bld"))
        # Queue first: once SQS holds the request the build will happen (the consumer creates the record if
        # it is missing). Recording it here too makes it readable at once.
        self.queue.send([build])
        self.builds.put_if_absent(build)
        return build

    # ------------------------------------------------------------ reading
    def get(self, team_id: str, build_id: str) -> Build:
        build = self.builds.get(build_id)
        if build is None or build.team_id != team_id:
            raise NotFoundError(f"build {build_id!r} not found")
        return build

    def list(self, team_id: str, *, source_id: str | None, cursor: str | None, limit: int) -> Page[Build]:
        return self.builds.list(team_id, source_id=source_id, cursor=cursor, limit=limit)

    # ------------------------------------------------------------ status reports
    def build_for_report(self, build_id: str, token: str, team_principal: Callable[[], Principal]) -> Build:
        """The build whose status `token` may report: the build's own callback token (from BuildRequested), or a
        team token of the build's team (`team_principal` verifies it; only asked when the token is not the
        callback token)."""
        return reported("build", build_id, self.builds.get(build_id), token, team_principal)

    def report_status(self, build: Build, status: str, url: str | None, description: str | None) -> Build:
        if status == build.status and status in FINAL_BUILD_STATUSES:
            # The builder repeating its final report is not an error; if the first one's status request was lost,
            # this one asks again.
            if build.mirrored_status != build.status:
                self.statuses.request(build)
            return build
        allowed = ("queued",) if status == "queued" else _OPEN_STATUSES
        updated = self.builds.update_status(build.id, status, url, description, iso(utcnow()), allowed)
        # Shown on the provider's commit through the status queue: a provider outage delays it, never fails the
        # builder's report (the build's own record is the truth).
        self.statuses.request(updated)
        return updated


class BuildDispatcher:
    """Consumer side of the builds queue: each request becomes exactly one build record and one
    BuildRequested event (at least once on the bus; `build_id` is the builder's dedupe key)."""

    def __init__(
        self, builds: BuildStore, sources: SourceStore, bus: EventBus, public_url: str, statuses: StatusRequests
    ) -> None:
        self._builds = builds
        self._sources = sources
        self._bus = bus
        self._public_url = public_url.rstrip("/")
        self._statuses = statuses

    def dispatch(self, build: Build) -> str:
        # Only a tag's and a release's requests share an id (services/router.py requested_build); any other request
        # for an existing build is its own retry, which needs no trigger write.
        merging = build.trigger in SHARED_ID_TRIGGERS
        if not self._builds.put_if_absent(build) and merging and self._builds.add_trigger(build.id, build.trigger):
            # Another event asked for a build that exists (a release on the tag a push just built): one build, and
            # its first request publishes it (a second BuildRequested would replace the callback token in use).
            return "merged"
        if self._sources.get(build.team_id, build.source_id) is None:
            # Unlinked or deleted after the request was queued: nothing more is built for it.
            self._builds.update_status(
                build.id,
                "cancelled",
                None,
                "the source was removed before the build started",
                iso(utcnow()),
                ("queued",),
            )
            return "cancelled"
        # `pending` on the provider's commit at once; asked before publishing, so that a failure here is retried
        # before any builder holds a token (a retry after publishing would replace the token in use).
        self._statuses.request(build)
        callback_token = secrets.token_urlsafe(32)
        # The token's hash is stored before the event goes out: a builder may call back the moment it has it. A
        # publish that fails is retried (SQS) with a new token, which replaces this one.
        self._builds.mark_published(build.id, token_hash(callback_token), iso(utcnow()))
        self._bus.publish("BuildRequested", self.detail(build, callback_token))
        return "published"

    def detail(self, build: Build, callback_token: str) -> dict[str, object]:
        return {
            "build_id": build.id,
            "team_id": build.team_id,
            "source_id": build.source_id,
            "provider": build.provider,
            "repository": build.repository,
            "clone_url": build.clone_url,
            "ref": build.ref,
            "sha": build.sha,
            "trigger": build.trigger,
            "pull_request": build.pull_request,
            "callback_url": f"{self._public_url}/v1/builds/{build.id}/status",
            "callback_token": callback_token,
        }
