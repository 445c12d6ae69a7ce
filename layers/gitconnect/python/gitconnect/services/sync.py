"""Scheduled sync: poll the branch heads of sources with `poll` on and request a build for each moved head."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from gitconnect.domain.errors import GitconnectError
from gitconnect.domain.ids import stable_id
from gitconnect.domain.models import Build, Connection, Source
from gitconnect.domain.rules import matches_any
from gitconnect.providers.base import Provider
from gitconnect.services.builds import new_build
from gitconnect.services.ports import BuildQueue, ConnectionStore, SourceStore
from gitconnect.services.secrets import ConnectionSecrets

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class PollService:
    sources: SourceStore
    connections: ConnectionStore
    secrets: ConnectionSecrets
    providers: Callable[[str], Provider]
    queue: BuildQueue

    def _heads(self, source: Source, connection: Connection) -> dict[str, str]:
        branches = self.providers(connection.provider).branches(self.secrets.access(connection), source.repository)
        return {b.name: b.sha for b in branches if matches_any(b.name, source.branches)}

    def poll(self) -> PollReport:
        report = PollReport()
        pending: list[tuple[Source, dict[str, str], list[Build]]] = []
        connections: dict[tuple[str, str], Connection | None] = {}  # one read per connection per poll
        for source in self.sources.polled():
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
            try:
                heads = self._heads(source, connection)
            except GitconnectError as exc:
                report.failed[source.id] = exc.detail
                log.warning("poll failed", extra={"source_id": source.id, "reason": exc.detail})
                continue
            builds = [
                # The id is derived from the transition, so a poll retried after a partial failure
                # requests the same build again and the consumer creates it once.
                new_build(
                    source,
                    ref=f"refs/heads/{name}",
                    sha=sha,
                    trigger="poll",
                    requested_by=None,
                    build_id=stable_id("bld", source.id, "poll", name, previous, sha),
                )
                for name, previous, sha in moved_heads(source, heads)
            ]
            if builds or heads != source.heads:
                pending.append((source, heads, builds))
        # Queue every build before recording any head: a failure here leaves the heads unrecorded,
        # and the next poll requests the same (stable) builds again.
        self.queue.send([b for _, _, builds in pending for b in builds])
        for source, heads, builds in pending:
            if self.sources.set_heads(source.team_id, source.id, heads):
                report.requested.extend(b.id for b in builds)
        return report
