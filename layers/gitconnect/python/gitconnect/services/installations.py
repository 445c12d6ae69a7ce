"""GitHub App installations kept in step with GitHub's own view of them: a connection's account, status and granted
repositories, its sources' access to those repositories, and a reinstalled App taking over the sources of the
connection the uninstalled one left behind."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gitconnect.domain.models import Connection
from gitconnect.services.ports import ConnectionStore, SourceStore

if TYPE_CHECKING:
    from gitconnect.providers.github.provider import InstallationView


@dataclass(frozen=True)
class GitHubInstallations:
    connections: ConnectionStore
    sources: SourceStore

    def refresh(self, connection: Connection, view: InstallationView) -> Connection:
        """The connection as GitHub now describes its installation; its sources follow the granted repositories."""
        linked = view.account
        updated = replace(
            connection,
            name=linked.name,
            account=linked.account,
            status=view.status,
            details={**connection.details, **linked.details},
        )
        self.connections.refresh(updated)
        self.follow_grant(updated, view.repository_ids)
        return updated

    def take_over(self, connection: Connection) -> list[str]:
        """A new connection of a reinstalled App takes the sources of its team's connections to the same account that
        GitHub uninstalled (repository ids are stable on GitHub, so they keep matching deliveries); the old
        connections stay `uninstalled`, with no sources. The ids of the sources moved."""
        moved: list[str] = []
        login = (connection.account or "").lower()
        # Bounded by the team's connections, and the sources of each.
        for old in self.connections.list(connection.team_id):
            if old.id == connection.id or old.provider != connection.provider or old.status != "uninstalled":
                continue
            if not login or (old.account or "").lower() != login:
                continue
            for team_id, source_id in self.sources.ids_for_connection(old.id):
                if self.sources.move(team_id, source_id, connection.id):
                    moved.append(source_id)
        return moved

    def follow_grant(self, connection: Connection, granted_ids: frozenset[str] | None) -> None:
        """Sources on repositories the installation no longer grants are `access_revoked`, the others `active`.
        `granted_ids` None: every repository when the selection is `all`, else unknown (nothing changes)."""
        every = connection.details.get("repository_selection") != "selected"
        if granted_ids is None and not every:
            return
        # Bounded by the sources of one connection.
        for team_id, source_id in self.sources.ids_for_connection(connection.id):
            source = self.sources.get(team_id, source_id)
            if source is None:
                continue
            granted = every or (granted_ids is not None and source.repository_id in granted_ids)
            status = "active" if granted else "access_revoked"
            if source.status != status:
                self.sources.set_status(team_id, source_id, status)
