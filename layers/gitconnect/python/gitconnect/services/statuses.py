"""Build statuses on the provider's commit (GitHub commit statuses, GitLab pipelines' statuses, Bitbucket build
statuses), through a queue: a requested build shows `pending` at once, every report after that is shown too, and a
provider that refuses for a while delays them (the queue retries, then its DLQ keeps them) instead of losing them.

A message names only the build: the consumer shows the build's status as it is when the message is handled, so
messages handled late or out of order still end on the latest status, and one already shown is not shown again.
A check that is not a build's (`gitconnect/template` on a pull request, services/pull_requests.py) travels the same
queue with its result in the message, and is shown the same way (CommitChecks)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gitconnect.domain.errors import GitconnectError, RateLimitedError, RemoteUnreachableError
from gitconnect.domain.models import Build, Connection
from gitconnect.providers.base import CommitCheck, CommitChecks, CommitStatuses, Provider
from gitconnect.services.ports import BuildStore
from gitconnect.services.secrets import ConnectionSecrets

log = logging.getLogger(__name__)
MAX_CATCH_UPS = 3  # a build whose status moves while it is shown is shown again, this many times at most


def _retryable(error: GitconnectError) -> bool:
    """A provider that could not be reached (timeouts, 5xx) or rate limits us may take the status later: the queue
    retries. A refusal (the commit or repository is gone, the credentials no longer allow it) will not change."""
    return isinstance(error, RemoteUnreachableError | RateLimitedError)  # (RemoteAuthError is a refusal)


class Queue(Protocol):
    def send(self, body: str) -> None: ...


class Connections(Protocol):
    def get(self, team_id: str, connection_id: str) -> Connection | None: ...


class MirroredStatuses(Protocol):
    def mark_mirrored(self, build_id: str, status: str) -> bool: ...


@dataclass(frozen=True)
class StatusRequests:
    """Asks for a build's status to be shown, for providers that show statuses (none is queued for Custom Git).
    Decided from the provider's class: nothing is built, so no provider secret is read where statuses are asked
    for (the builds consumer)."""

    queue: Queue
    shows_statuses: Callable[[str], bool]  # provider id -> whether its class implements CommitStatuses

    def request(self, build: Build) -> None:
        if self.shows_statuses(build.provider):
            self.queue.send(json.dumps({"build_id": build.id}))

    def request_check(self, connection: Connection, check: CommitCheck) -> None:
        """Show `check` on its commit, through the connection (the caller knows its provider shows checks)."""
        body = {"check": check.to_json(), "team_id": connection.team_id, "connection_id": connection.id}
        self.queue.send(json.dumps(body))


@dataclass(frozen=True)
class StatusMirror:
    builds: BuildStore
    mirrored: MirroredStatuses
    connections: Connections
    secrets: ConnectionSecrets
    providers: Callable[[str], Provider]

    def handle(self, message: dict[str, object]) -> str:
        """One status queue message: a build's status to show, or a check with its result."""
        check = message.get("check")
        if isinstance(check, dict):
            return self.mirror_check(str(message["team_id"]), str(message["connection_id"]), CommitCheck(**check))
        return self.mirror(str(message["build_id"]))

    def mirror_check(self, team_id: str, connection_id: str, check: CommitCheck) -> str:
        """Show a check; raises (for the queue to retry) as `mirror` does."""
        connection = self.connections.get(team_id, connection_id)
        if connection is None:
            return "nowhere to show it"
        provider = self.providers(connection.provider)
        if not isinstance(provider, CommitChecks):
            return "nowhere to show it"
        try:
            provider.report_check(self.secrets.access(connection), check)
        except GitconnectError as exc:
            if _retryable(exc):
                raise
            log.warning("check refused for good", extra={"sha": check.sha, "reason": exc.detail})
            return f"refused: {exc.detail}"
        return "shown"

    def mirror(self, build_id: str) -> str:
        """Show the build's current status; what was done. Raises (for the queue to retry) when the provider could
        not be reached or refused for now."""
        build = self.builds.get(build_id)
        if build is None:
            return "gone"
        if build.mirrored_status == build.status:
            return "already shown"
        provider = self.providers(build.provider)
        connection = self.connections.get(build.team_id, build.connection_id)
        if not isinstance(provider, CommitStatuses) or connection is None:
            return "nowhere to show it"
        access = self.secrets.access(connection)
        for _ in range(MAX_CATCH_UPS):
            try:
                provider.report_status(access, build, build.status_url, build.description)
            except GitconnectError as exc:
                if _retryable(exc):
                    raise
                log.warning("status refused for good", extra={"build_id": build.id, "reason": exc.detail})
                return f"refused: {exc.detail}"
            # Recorded only if the build still has the status just shown: one that moved meanwhile (another
            # message may have shown the newer one first) is shown again, so the provider ends on the latest.
            if self.mirrored.mark_mirrored(build.id, build.status):
                return "shown"
            latest = self.builds.get(build_id)
            if latest is None or latest.mirrored_status == latest.status:
                return "shown"
            build = latest
        raise RuntimeError(f"build {build_id} kept changing status while it was shown: retried by the queue")
