"""What a connection can reach: repositories, namespaces, branches, paged and cached.

Each connection's full, sorted lists are read from the provider once (every page, at its largest page size:
⌈repositories/100⌉ calls, DESIGN.md §8) and kept in this container for `cache_seconds`. The cache key holds the
connection's `listing_epoch`, which the table bumps when what it may list changes (restrictions, GitHub installation
events): the connection record is read on every request, so every container stops using an old listing at once.
Restrictions and `search` are applied to the cached list on each request; pages are keysets (services/keyset.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gitconnect.domain.errors import ForbiddenError, NotFoundError
from gitconnect.domain.models import Connection, Page
from gitconnect.providers.base import Access, Branch, Provider, Repository
from gitconnect.services.connections import ConnectionService
from gitconnect.services.keyset import Keyset, SortKey
from gitconnect.services.secrets import ConnectionSecrets
from gitconnect.services.ttl_cache import TtlCache

# Lists kept per container, the least recently used forgotten first: one of 5 000 repositories holds about 4.7 MB
# (measured), so even 32 of those stay well within RepoListingFunction's 512 MB.
CACHE_ENTRIES = 32


def repository_key(repo: Repository) -> SortKey:
    """full_name case-insensitively, then the provider's id: a stable order whatever the provider's."""
    return (repo.full_name.casefold(), repo.id)


def branch_key(branch: Branch) -> SortKey:
    return (branch.name.casefold(), branch.name)


@dataclass(frozen=True)
class ListingService:
    connections: ConnectionService
    secrets: ConnectionSecrets
    providers: Callable[[str], Provider]
    cache_seconds: float = 300.0
    clock: Callable[[], float] = time.time  # wall time: cursors travel between containers
    _cache: TtlCache[Sequence[Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cache = TtlCache[Sequence[Any]](None, self.cache_seconds, size=CACHE_ENTRIES, clock=self.clock)
        object.__setattr__(self, "_cache", cache)  # built here: its lifetime and clock are the service's

    def _cached(self, connection: Connection, what: str, load: Callable[[Access], Sequence[Any]]) -> Sequence[Any]:
        """One list of the connection's, read from the provider only on a miss (credentials opened only then)."""
        key = f"{connection.team_id}#{connection.id}#{connection.listing_epoch}#{what}"
        return self._cache.lookup(key, lambda: load(self.secrets.access(connection)))

    def _repositories(self, connection: Connection) -> Sequence[Repository]:
        provider = self.providers(connection.provider)
        return self._cached(connection, "repositories", lambda a: sorted(provider.repositories(a), key=repository_key))

    def repositories(
        self, team_id: str, connection_id: str, *, search: str | None, cursor: str | None, limit: int
    ) -> Page[dict[str, Any]]:
        """Every repository the connection reaches that its restrictions allow, `search` (a case-insensitive part of
        full_name) over all of them, one keyset page at a time."""
        connection = self.connections.get(team_id, connection_id)
        keyset = Keyset({"t": team_id, "c": connection_id, "l": "repositories"}, repository_key, self.cache_seconds)
        now = self.clock()
        after = keyset.after(cursor, now)
        needle = (search or "").casefold()
        # Bounded by the provider read (RestClient's max_pages): at most 10 000 repositories per list.
        allowed = [
            r
            for r in self._repositories(connection)
            if connection.allows(r.full_name) and needle in r.full_name.casefold()
        ]
        chunk, next_cursor = keyset.page(allowed, after, limit, now)
        return Page(items=[asdict(r) for r in chunk], next_cursor=next_cursor)

    def namespaces(self, team_id: str, connection_id: str) -> list[dict[str, object]]:
        """What the connection reaches, each marked whether its restrictions allow it."""
        connection = self.connections.get(team_id, connection_id)
        reachable = self.reachable_namespaces(connection)
        return [{"name": n, "allowed": connection.restrictions.allows_namespace(n)} for n in reachable]

    def reachable_namespaces(self, connection: Connection) -> Sequence[str]:
        provider = self.providers(connection.provider)
        return self._cached(connection, "namespaces", lambda a: sorted(provider.namespaces(a), key=str.casefold))

    def branches(
        self, team_id: str, connection_id: str, repository: str | None, *, cursor: str | None, limit: int
    ) -> Page[Branch]:
        connection = self.connections.get(team_id, connection_id)
        # The cursor first (bound to the repository as asked for): a bad one costs no provider call
        scope = {"t": team_id, "c": connection_id, "l": "branches", "r": (repository or "").casefold()}
        keyset = Keyset(scope, branch_key, self.cache_seconds)
        now = self.clock()
        after = keyset.after(cursor, now)
        name = self._repository_name(connection, repository)
        if not connection.allows(name):
            raise ForbiddenError(f"{name} is outside the connection's namespace restrictions")
        provider = self.providers(connection.provider)
        branches = self._cached(
            connection, f"branches#{name.casefold()}", lambda a: sorted(provider.branches(a, name), key=branch_key)
        )
        chunk, next_cursor = keyset.page(branches, after, limit, now)
        return Page(items=chunk, next_cursor=next_cursor)

    def _repository_name(self, connection: Connection, repository: str | None) -> str:
        """The repository's own name, found in the cached listing (no provider call when warm); asked of the
        provider when it is not there (added since, or named another way, e.g. by id)."""
        if repository:
            wanted = repository.casefold()
            for repo in self._repositories(connection):  # bounded: the cached listing
                if wanted in (repo.full_name.casefold(), repo.id.casefold()):
                    return repo.full_name
        provider = self.providers(connection.provider)
        try:
            return provider.repository(self.secrets.access(connection), repository).repository
        except NotFoundError:
            raise NotFoundError(f"{repository} is not among the repositories the connection reaches") from None
