"""The listing service with in-memory fakes and a hand-driven clock: keyset pages that survive changes between pages,
the order, the cache (lifetime, epoch), cursor scopes and staleness. No AWS, no network."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from gitconnect.domain.cursors import decode_cursor, encode_cursor
from gitconnect.domain.errors import BadRequestError, ForbiddenError
from gitconnect.domain.models import Connection, Restrictions
from gitconnect.providers.base import Access, Branch, Repository, RepositoryRef
from gitconnect.services.listing import ListingService
from tests.support.memory import MemoryConnections, PlainCipher

TEAM, CONNECTION = "t", "con_1"


def repo(full_name: str, ident: str | None = None) -> Repository:
    return Repository(ident or full_name, full_name, full_name.rsplit("/", 1)[0], "main", True, "", None)


class CountingProvider:
    id = "stub"

    def __init__(self, repositories: list[Repository]) -> None:
        self.listed = list(repositories)
        self.calls: list[str] = []

    def repositories(self, access: Access) -> list[Repository]:
        self.calls.append("repositories")
        return list(reversed(self.listed))  # in no useful order: the service sorts

    def namespaces(self, access: Access) -> list[str]:
        self.calls.append("namespaces")
        return sorted({r.namespace or "" for r in self.listed})

    def branches(self, access: Access, repository: str) -> list[Branch]:
        self.calls.append(f"branches {repository}")
        return [Branch(f"b{n}", str(n)) for n in range(7)]

    def repository(self, access: Access, requested: str | None) -> RepositoryRef:
        raise AssertionError("named repositories are found in the cached listing")


class Connections:
    """ListingService's view of the connection service: `get`, over the memory store."""

    def __init__(self, store: MemoryConnections) -> None:
        self.store = store

    def get(self, team_id: str, connection_id: str) -> Connection:
        found = self.store.get(team_id, connection_id)
        assert found is not None
        return found


def service(provider: CountingProvider, now: list[float], restrictions: Restrictions | None = None
            ) -> tuple[ListingService, MemoryConnections]:
    from gitconnect.services.secrets import ConnectionSecrets

    store = MemoryConnections(Connection(TEAM, CONNECTION, "stub", "x", None, None, "active", "x",
                                         restrictions=restrictions or Restrictions()))
    listing = ListingService(Connections(store), ConnectionSecrets(PlainCipher()),  # type: ignore[arg-type]
                             lambda _: provider, cache_seconds=300, clock=lambda: now[0])  # type: ignore[arg-type,return-value]
    return listing, store


def names(page: object) -> list[str]:
    return [r["full_name"] for r in page.items]  # type: ignore[attr-defined]


def test_order_is_case_insensitive_then_by_id() -> None:
    provider = CountingProvider([repo("a/b"), repo("A/a", "2"), repo("a/A", "1"), repo("Z/z"), repo("m/M")])
    listing, _ = service(provider, [0.0])
    page = listing.repositories(TEAM, CONNECTION, search=None, cursor=None, limit=10)
    assert [(r["full_name"], r["id"]) for r in page.items] == [("a/A", "1"), ("A/a", "2"), ("a/b", "a/b"),
                                                               ("m/M", "m/M"), ("Z/z", "Z/z")]
    assert page.next_cursor is None


def test_pages_survive_additions_and_removals_between_them() -> None:
    provider = CountingProvider([repo(f"o/r{n}") for n in range(1, 10)])  # o/r1 … o/r9
    now = [0.0]
    listing, store = service(provider, now)
    first = listing.repositories(TEAM, CONNECTION, search=None, cursor=None, limit=3)
    assert names(first) == ["o/r1", "o/r2", "o/r3"]
    # Between pages: one added before the cursor, one after it, the cursor's own item and a later one removed, and
    # the cache dropped (as an installation_repositories delivery does)
    provider.listed = [r for r in provider.listed if r.full_name not in ("o/r3", "o/r5")]
    provider.listed += [repo("o/r0"), repo("o/r45")]
    store.bump_listing_epoch(TEAM, CONNECTION)
    rest: list[str] = []
    cursor = first.next_cursor
    while cursor:  # bounded: 9 items, pages of 3
        page = listing.repositories(TEAM, CONNECTION, search=None, cursor=cursor, limit=3)
        rest += names(page)
        cursor = page.next_cursor
    assert rest == ["o/r4", "o/r45", "o/r6", "o/r7", "o/r8", "o/r9"]  # nothing twice, nothing that stayed skipped


def test_the_cache_lives_its_lifetime_and_its_epoch() -> None:
    provider = CountingProvider([repo("o/a"), repo("o/b")])
    now = [1000.0]
    listing, store = service(provider, now)
    for _ in range(3):
        listing.repositories(TEAM, CONNECTION, search="a", cursor=None, limit=1)
    assert provider.calls == ["repositories"]
    now[0] += 299
    listing.repositories(TEAM, CONNECTION, search=None, cursor=None, limit=1)
    assert provider.calls == ["repositories"]
    now[0] += 2
    listing.repositories(TEAM, CONNECTION, search=None, cursor=None, limit=1)
    assert provider.calls == ["repositories"] * 2
    store.bump_listing_epoch(TEAM, CONNECTION)
    listing.repositories(TEAM, CONNECTION, search=None, cursor=None, limit=1)
    assert provider.calls == ["repositories"] * 3


def test_a_cursor_is_stale_after_the_cache_lifetime() -> None:
    provider = CountingProvider([repo(f"o/r{n}") for n in range(5)])
    now = [1000.0]
    listing, _ = service(provider, now)
    cursor = listing.repositories(TEAM, CONNECTION, search=None, cursor=None, limit=2).next_cursor
    now[0] += 300
    assert names(listing.repositories(TEAM, CONNECTION, search=None, cursor=cursor, limit=2)) == ["o/r2", "o/r3"]
    now[0] += 1
    with pytest.raises(BadRequestError, match="older than the listing's cache lifetime"):
        listing.repositories(TEAM, CONNECTION, search=None, cursor=cursor, limit=2)


def test_cursors_are_bound_to_their_listing() -> None:
    provider = CountingProvider([repo(f"o/r{n}") for n in range(5)])
    listing, _ = service(provider, [0.0])
    repositories = listing.repositories(TEAM, CONNECTION, search=None, cursor=None, limit=2).next_cursor
    branches = listing.branches(TEAM, CONNECTION, "o/r1", cursor=None, limit=2).next_cursor
    with pytest.raises(BadRequestError, match="list again from the first page"):
        listing.branches(TEAM, CONNECTION, "o/r1", cursor=repositories, limit=2)
    with pytest.raises(BadRequestError, match="list again from the first page"):
        listing.branches(TEAM, CONNECTION, "o/r2", cursor=branches, limit=2)
    with pytest.raises(BadRequestError, match="list again from the first page"):
        listing.repositories(TEAM, CONNECTION, search=None, cursor=branches, limit=2)
    assert [b.name for b in listing.branches(TEAM, CONNECTION, "O/R1", cursor=branches, limit=2).items] == ["b2",
                                                                                                        "b3"]
    assert provider.calls == ["repositories", "branches o/r1"]  # the repository was found in the cached listing
    fresh, _ = service(CountingProvider([]), [0.0])
    with pytest.raises(BadRequestError):
        fresh.branches(TEAM, CONNECTION, "o/r1", cursor="garbled", limit=2)
    with pytest.raises(BadRequestError):
        fresh.repositories(TEAM, CONNECTION, search=None, cursor="garbled", limit=2)
    assert fresh.providers("stub").calls == []  # type: ignore[attr-defined]  # refused before any provider call


def test_restrictions_filter_listing_namespaces_and_branches() -> None:
    provider = CountingProvider([repo("acme/app"), repo("acme/sub/lib"), repo("other/x")])
    listing, _ = service(provider, [0.0], Restrictions("restricted", ("ACME",)))
    assert names(listing.repositories(TEAM, CONNECTION, search=None, cursor=None, limit=10)) == ["acme/app",
                                                                                                 "acme/sub/lib"]
    assert names(listing.repositories(TEAM, CONNECTION, search="LIB", cursor=None, limit=10)) == ["acme/sub/lib"]
    assert listing.namespaces(TEAM, CONNECTION) == [{"name": "acme", "allowed": True},
                                                    {"name": "acme/sub", "allowed": True},
                                                    {"name": "other", "allowed": False}]
    with pytest.raises(ForbiddenError):
        listing.branches(TEAM, CONNECTION, "other/x", cursor=None, limit=10)


def test_one_cursor_mechanism_for_dynamo_pages_and_listings() -> None:
    from gitconnect.adapters.dynamo.cursors import decode_cursor as dynamo_decode
    from gitconnect.adapters.dynamo.cursors import encode_cursor as dynamo_encode

    key = {"pk": {"S": "x"}}
    cursor = dynamo_encode(key, team_id="t")
    assert cursor == encode_cursor({"t": "t"}, key) and dynamo_decode(cursor, team_id="t") == key
    with pytest.raises(BadRequestError):
        dynamo_decode(cursor, team_id="u")
    with pytest.raises(BadRequestError):
        decode_cursor(encode_cursor({"t": "t", "c": "con_1"}, [1]), {"t": "t"})  # a wider scope is another scope
    encoded = [base64.urlsafe_b64encode(raw).decode() for raw in (b"[" * 1500, b"\xff", b"[1]")]
    for garbled in ("%%%", "gA", encode_cursor({"t": "t"}, None)[:-2], *encoded):
        with pytest.raises(BadRequestError):  # never anything else (a RecursionError would be a 500)
            decode_cursor(garbled, {"t": "t"})
    assert replace(Restrictions(), confirmed=False).to_json() == {"mode": "unrestricted", "confirmed": False}
