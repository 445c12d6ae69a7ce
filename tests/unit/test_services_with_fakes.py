"""Services and the Custom Git provider with in-memory fakes: no AWS, no network."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import replace

import pytest

from gitconnect.adapters.net import resolve_checked
from gitconnect.domain.errors import BadRequestError, RemoteUnreachableError, UnprocessableError, UnsafeUrlError
from gitconnect.domain.models import Build, Connection, Source
from gitconnect.providers.base import Access, GitCredentials, ProviderPorts, PushFacts
from gitconnect.providers.custom import CustomGitProvider, credentials_from_request, repository_name
from gitconnect.services.sync import PollService, moved_heads
from tests.support.memory import MemoryDeliveries, MemorySources

URL = "https://git.example.com/team/app.git"


class FakeGit:
    def __init__(self, refs: dict[str, str]) -> None:
        self.refs = refs
        self.calls: list[tuple[str, GitCredentials | None]] = []

    def ls_remote(self, url: str, credentials: GitCredentials | None) -> dict[str, str]:
        self.calls.append((url, credentials))
        if isinstance(self.refs, Exception):
            raise self.refs
        return dict(self.refs)

    def inspect_push(self, url: str, credentials: GitCredentials | None, before: str | None, after: str, *,
                     files: bool, max_bytes: int) -> PushFacts:
        return PushFacts("a commit", None)


def test_link_reaches_the_remote_with_the_credentials_before_anything_else() -> None:
    git = FakeGit({"refs/heads/main": "a" * 40})
    linked = CustomGitProvider(ProviderPorts(git=git)).link(
        {"url": URL + "/", "credentials": {"username": "ci", "token": "t0k"}})
    assert git.calls == [(URL, GitCredentials("ci", "t0k"))]
    assert (linked.name, linked.account, linked.base_url) == ("team/app", "ci", URL)
    assert linked.credentials == {"username": "ci", "secret": "t0k"}


def test_link_refuses_unsafe_urls_without_touching_the_network() -> None:
    git = FakeGit({})
    with pytest.raises(UnsafeUrlError):
        CustomGitProvider(ProviderPorts(git=git)).link({"url": "file:///srv/repo.git"})
    assert git.calls == []


def test_credentials_need_exactly_one_secret() -> None:
    assert credentials_from_request({"token": "x"}) == {"username": "git", "secret": "x"}
    with pytest.raises(BadRequestError):
        credentials_from_request({"username": "u"})
    with pytest.raises(BadRequestError):
        credentials_from_request({"token": "x", "password": "y"})


def test_branches_are_heads_only_and_sorted() -> None:
    git = FakeGit({"HEAD": "1" * 40, "refs/heads/main": "2" * 40, "refs/heads/dev": "3" * 40,
                   "refs/tags/v1": "4" * 40, "refs/pull/1/head": "5" * 40})
    provider = CustomGitProvider(ProviderPorts(git=git))
    access = Access(URL, None, None)
    assert [(b.name, b.sha) for b in provider.branches(access, "team/app")] == [("dev", "3" * 40),
                                                                               ("main", "2" * 40)]
    assert provider.resolve_branch(access, "team/app", "nope") is None
    with pytest.raises(BadRequestError):
        provider.repository(access, "other/repo")
    with pytest.raises(UnprocessableError):
        provider.namespaces(access)
    assert repository_name("https://host/x.git") == "x"


# ---------------------------------------------------------------------------------------------------- polling
def source(**overrides: object) -> Source:
    base = Source(team_id="t", id="src_1", name="app", connection_id="con_1", provider="custom",
                  repository="team/app", clone_url=URL, branches=("main", "release/*"), created_at="x",
                  updated_at="x", poll=True, heads={"main": "a" * 40})
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_moved_heads_reports_new_and_moved_watched_branches() -> None:
    heads = {"main": "b" * 40, "release/1": "c" * 40}
    assert moved_heads(source(), heads) == [("main", "a" * 40, "b" * 40), ("release/1", "", "c" * 40)]
    assert moved_heads(source(), {"main": "a" * 40}) == []


class MemoryConnections:
    def __init__(self, connections: list[Connection]) -> None:
        self.items = {c.id: c for c in connections}

    def get(self, team_id: str, connection_id: str) -> Connection | None:
        return self.items.get(connection_id)


class PlainSecrets:
    def access(self, connection: Connection) -> Access:
        return Access(connection.base_url, connection.account_key, None)


class MemoryQueue:
    def __init__(self, fail: int = 0) -> None:
        self.sent: list[Build] = []
        self.fail = fail

    def send(self, builds: Sequence[Build]) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("queue down")
        self.sent.extend(builds)


def poller(git: FakeGit, sources: MemorySources, queue: MemoryQueue, connected: bool = True) -> PollService:
    connection = Connection("t", "con_1", "custom", "app", None, URL, "active", "x")
    provider = CustomGitProvider(ProviderPorts(git=git))
    return PollService(sources, MemoryConnections([connection] if connected else []), PlainSecrets(),  # type: ignore[arg-type]
                       lambda _: provider, queue, MemoryDeliveries())


def test_poll_requests_one_build_per_moved_head_and_is_idempotent_across_retries() -> None:
    git = FakeGit({"refs/heads/main": "b" * 40, "refs/heads/feature": "f" * 40})
    sources, queue = MemorySources(source()), MemoryQueue(fail=1)
    service = poller(git, sources, queue)
    with pytest.raises(RuntimeError):
        service.poll()  # the queue failed: heads stay unrecorded
    assert sources.items[("t", "src_1")].heads == {"main": "a" * 40}
    first = service.poll()
    assert [(b.ref, b.sha, b.trigger) for b in queue.sent] == [("refs/heads/main", "b" * 40, "poll")]
    assert first.requested == [queue.sent[0].id]
    assert service.poll().requested == []  # nothing moved since
    # A lost head update would re-request the same build id: the consumer dedupes on it
    sources.items[("t", "src_1")] = source()
    service.poll()
    assert queue.sent[0].id == queue.sent[1].id


def test_poll_skips_unlinked_connections_and_reports_unreachable_remotes() -> None:
    queue = MemoryQueue()
    assert poller(FakeGit({"refs/heads/main": "b" * 40}), MemorySources(source()), queue,
                  connected=False).poll().requested == []
    down = FakeGit(RemoteUnreachableError("the remote could not be reached: timed out"))  # type: ignore[arg-type]
    report = poller(down, MemorySources(source()), queue).poll()
    assert report.failed == {"src_1": "the remote could not be reached: timed out"}
    assert queue.sent == []


# ---------------------------------------------------------------------------------------------------- SSRF guard
@pytest.mark.parametrize("address", ["10.1.2.3", "169.254.169.254", "::ffff:192.168.0.1", "127.0.0.1"])
def test_names_resolving_to_refused_addresses_are_refused(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def fake_getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeUrlError, match=r"git\.evil\.example"):
        resolve_checked("git.evil.example", 443, allow_loopback=False)


def test_one_refused_address_among_public_ones_refuses_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("140.82.112.3", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeUrlError):
        resolve_checked("rebind.example", 443, allow_loopback=False)


# ---------------------------------------------------------------------------------------------------- secrets
class CountingCipher:
    def __init__(self) -> None:
        self.decrypts = 0

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> bytes:
        return b"sealed:" + plaintext

    def decrypt(self, blob: bytes, context: dict[str, str]) -> bytes:
        self.decrypts += 1
        return blob.removeprefix(b"sealed:")


def test_opened_credentials_are_cached_briefly_and_never_across_relinks() -> None:
    from gitconnect.services.secrets import ConnectionSecrets

    now = [0.0]
    cipher = CountingCipher()
    secrets = ConnectionSecrets(cipher, clock=lambda: now[0])
    blob = secrets.seal("t", "con_1", {"username": "u", "secret": "one"})
    connection = Connection("t", "con_1", "custom", "app", None, URL, "active", "x", secret=blob)
    assert secrets.open(connection) == {"username": "u", "secret": "one"}
    assert secrets.open(connection) == {"username": "u", "secret": "one"}
    assert cipher.decrypts == 1
    relinked = replace(connection, secret=secrets.seal("t", "con_1", {"username": "u", "secret": "two"}))
    assert secrets.open(relinked)["secret"] == "two"
    now[0] = 301.0
    secrets.open(connection)
    assert cipher.decrypts == 3
