"""Build statuses on the provider's commit (GitHub commit statuses, GitLab pipelines' statuses, Bitbucket build
statuses), through a queue: a requested build shows `pending` at once, every report after that is shown too, and a
provider that refuses for a while delays them (the queue retries, then its DLQ keeps them) instead of losing them.

A message names only the build: the consumer shows the build's status as it is when the message is handled, so
messages handled late or out of order still end on the latest status, and one already shown is not shown again."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gitconnect.domain.errors import GitconnectError, RateLimitedError, RemoteUnreachableError
from gitconnect.domain.models import Build, Connection
from gitconnect.providers.base import CommitStatuses, Provider
from gitconnect.services.ports import BuildStore
from gitconnect.services.secrets import ConnectionSecrets

log = logging.getLogger(__name__)


def _retryable(error: GitconnectError) -> bool:
    """A provider that could not be reached (timeouts, 5xx) or rate limits us may take the status later: the queue
    retries. A refusal (the commit or repository is gone, the credentials no longer allow it) will not change."""
    return isinstance(error, RemoteUnreachableError | RateLimitedError)  # (RemoteAuthError is a refusal)


class Queue(Protocol):
    def send(self, body: str) -> None: ...


class Connections(Protocol):
    def get(self, team_id: str, connection_id: str) -> Connection | None: ...


class MirroredStatuses(Protocol):
    def mark_mirrored(self, build_id: str, status: str) -> None: ...


@dataclass(frozen=True)
class StatusRequests:
    """Asks for a build's status to be shown, for providers that show statuses (none is queued for Custom Git)."""

    queue: Queue
    providers: Callable[[str], Provider]

    def request(self, build: Build) -> None:
        if isinstance(self.providers(build.provider), CommitStatuses):
            self.queue.send(json.dumps({"build_id": build.id}))


@dataclass(frozen=True)
class StatusMirror:
    builds: BuildStore
    mirrored: MirroredStatuses
    connections: Connections
    secrets: ConnectionSecrets
    providers: Callable[[str], Provider]

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
        try:
            provider.report_status(self.secrets.access(connection), build, build.status_url, build.description)
        except GitconnectError as exc:
            if _retryable(exc):
                raise
            log.warning("status refused for good", extra={"build_id": build.id, "reason": exc.detail})
            return f"refused: {exc.detail}"
        self.mirrored.mark_mirrored(build.id, build.status)
        return "shown"
