"""Link, read and unlink connections."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gitconnect.domain.errors import BadRequestError, NotFoundError, UnprocessableError
from gitconnect.domain.ids import iso, new_id, utcnow
from gitconnect.domain.models import Connection, Restrictions
from gitconnect.providers import REGISTRY
from gitconnect.providers.base import Provider
from gitconnect.services.hooks import HookService
from gitconnect.services.ports import ConnectionStore, SourceStore
from gitconnect.services.secrets import ConnectionSecrets


@dataclass(frozen=True)
class ConnectionService:
    connections: ConnectionStore
    sources: SourceStore
    secrets: ConnectionSecrets
    providers: Callable[[str], Provider]
    hooks: HookService
    # GitOps: templates linked through the connection stop syncing.
    on_unlink: Callable[[str], None] = lambda connection_id: None
    # The namespaces a connection reaches (wiring: the listing service's cached list); None: asked of the provider.
    reachable_namespaces: Callable[[Connection], Sequence[str]] | None = None

    def link(self, team_id: str, request: dict[str, Any]) -> Connection:
        provider_id = request["provider"]
        if provider_id not in REGISTRY:
            raise UnprocessableError(f"the provider {provider_id!r} is unknown")
        linked = self.providers(provider_id).link(request)
        connection_id = new_id("con")
        connection = Connection(
            team_id=team_id,
            id=connection_id,
            provider=provider_id,
            name=linked.name,
            account=linked.account,
            base_url=linked.base_url,
            status="active",
            created_at=iso(utcnow()),
            # Webhooks that name the account (GitHub installations) find it by that key; per-hook webhooks (GitLab,
            # Bitbucket) name the connection itself.
            account_key=linked.account_key or f"{provider_id}#{connection_id}",
            details=linked.details,
            secret=self.secrets.seal(team_id, connection_id, linked.credentials),
            restrictions=Restrictions(confirmed=not REGISTRY[provider_id].asks_restrictions),
        )
        self.connections.put(connection)
        return connection

    def get(self, team_id: str, connection_id: str) -> Connection:
        connection = self.connections.get(team_id, connection_id)
        if connection is None:
            raise NotFoundError(f"connection {connection_id!r} not found")
        return connection

    def find(self, team_id: str, connection_id: str) -> Connection | None:
        return self.connections.get(team_id, connection_id)

    def list(self, team_id: str) -> list[Connection]:
        return self.connections.list(team_id)

    def restrict(self, team_id: str, connection_id: str, mode: str, namespaces: Sequence[str]) -> Connection:
        """Takes effect at once: listing, new sources, builds and webhooks all check it on every request. Every
        namespace named must be one the connection reaches (422 naming the others; nothing stored). The answer is
        the admin's: `confirmed` from now on."""
        connection = self.get(team_id, connection_id)
        declaration = REGISTRY.get(connection.provider)
        if declaration is not None and not declaration.namespaces:
            raise UnprocessableError(
                f"a {declaration.title} connection is one repository: there is no namespace to restrict"
            )
        if mode == "restricted" and not namespaces:
            raise BadRequestError("a restricted connection needs at least one namespace")
        if mode not in ("unrestricted", "restricted"):
            raise BadRequestError("mode is `unrestricted` or `restricted`")
        kept = tuple(dict.fromkeys(n.strip().strip("/") for n in namespaces))
        if mode == "restricted":
            self._check_reachable(connection, kept)
        restrictions = Restrictions("restricted" if mode == "restricted" else "unrestricted", kept, confirmed=True)
        self.connections.set_restrictions(team_id, connection_id, restrictions)
        return replace(connection, restrictions=restrictions, listing_epoch=connection.listing_epoch + 1)

    def _check_reachable(self, connection: Connection, namespaces: Sequence[str]) -> None:
        """A namespace is reachable when the connection reaches it, a group above one it reaches, or a subgroup of
        one (GitLab lists the groups a user is a member of; their subgroups come with them)."""
        if self.reachable_namespaces is not None:
            reachable = [r.lower() for r in self.reachable_namespaces(connection)]
        else:
            provider = self.providers(connection.provider)
            reachable = [r.lower() for r in provider.namespaces(self.secrets.access(connection))]

        def reached(namespace: str) -> bool:
            n = namespace.lower()
            return any(r == n or r.startswith(n + "/") or n.startswith(r + "/") for r in reachable)

        unreachable = [n for n in namespaces if not reached(n)]  # bounded: the request's namespaces
        if unreachable:
            raise UnprocessableError(
                f"the connection cannot reach {', '.join(unreachable)}: restrict it to namespaces it reaches "
                "(GET …/namespaces lists them)",
                unreachable=unreachable,
            )

    def unlink(self, team_id: str, connection_id: str) -> None:
        """The connection record (and its sealed credentials) goes first: from that moment no poll, manual
        build or webhook can use it. Its sources go next; builds stay readable."""
        connection = self.get(team_id, connection_id)
        hooks = self.hooks.for_connection(connection_id)
        access = self.secrets.access(connection) if hooks else None  # opened before the sealed credentials go
        self.connections.delete(team_id, connection_id)
        for source_team, source_id in self.sources.ids_for_connection(connection_id):
            self.sources.delete(source_team, source_id)
        self.hooks.remove(access, hooks)
        self.on_unlink(connection_id)

    def regenerate_webhooks(self, team_id: str, connection_id: str) -> int:
        connection = self.get(team_id, connection_id)
        if not self.hooks.manages(connection.provider):
            raise UnprocessableError(
                f"{connection.provider!r} connections have no webhooks of gitconnect's to regenerate"
            )
        return self.hooks.regenerate(connection)
