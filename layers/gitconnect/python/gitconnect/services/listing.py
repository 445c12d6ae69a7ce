"""What a connection can reach: repositories, namespaces, branches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from gitconnect.domain.errors import ForbiddenError
from gitconnect.domain.models import Page
from gitconnect.providers.base import Branch, Provider
from gitconnect.services.connections import ConnectionService
from gitconnect.services.secrets import ConnectionSecrets


@dataclass(frozen=True)
class ListingService:
    connections: ConnectionService
    secrets: ConnectionSecrets
    providers: Callable[[str], Provider]

    def repositories(self, team_id: str, connection_id: str, *, search: str | None, limit: int) -> Page[dict[str, Any]]:
        connection = self.connections.get(team_id, connection_id)
        found = self.providers(connection.provider).repositories(self.secrets.access(connection), search)
        allowed = [r for r in found if connection.allows(r.full_name)]
        return Page(items=[asdict(r) for r in allowed[:limit]], next_cursor=None)

    def namespaces(self, team_id: str, connection_id: str) -> list[str]:
        connection = self.connections.get(team_id, connection_id)
        return self.providers(connection.provider).namespaces(self.secrets.access(connection))

    def branches(self, team_id: str, connection_id: str, repository: str | None) -> list[Branch]:
        connection = self.connections.get(team_id, connection_id)
        provider = self.providers(connection.provider)
        access = self.secrets.access(connection)
        repo = provider.repository(access, repository)
        if not connection.allows(repo.repository):
            raise ForbiddenError(f"{repo.repository} is outside the connection's namespace restrictions")
        return provider.branches(access, repo.repository)
