"""SSRF, every URL form against both clients (the HTTP client providers use, and dulwich for Git) and through the API.

The signal is positive: every connection our guarded pools open goes through `urllib3.util.connection
.create_connection`, which is recorded here (and never really dialled). A refused form must raise before any
connection, and the recorder must not see one refused address; the public controls at the end prove the recorder
sees what is connected to."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3.util.connection as u3connection

from gitconnect.adapters.git_remote import DulwichGitRemote
from gitconnect.adapters.http import RequestsHttpClient
from gitconnect.adapters.net import guarded_pool_manager
from gitconnect.domain.errors import GitconnectError, UnsafeUrlError
from gitconnect.domain.urls import address_refusal
from tests.support.inprocess import System

FORBIDDEN_HOSTS = [
    # loopback, however it is spelled
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1", "017700000001",
    "127.255.255.254", "localhost", "localhost.", "[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    # this machine, unspecified
    "0.0.0.0", "0", "[::]",
    # link-local: cloud metadata services
    "169.254.169.254", "0xa9fea9fe", "2852039166", "0251.0376.0251.0376", "[::ffff:169.254.169.254]",
    "[fe80::1]", "[fd00:ec2::254]", "100.100.100.200", "192.0.0.192",
    # private networks
    "10.0.0.1", "172.16.0.1", "192.168.1.1", "[fc00::1]", "[fd12:3456::1]", "[::ffff:10.0.0.1]",
    # IPv6 embeddings of refused IPv4 addresses: 6to4, NAT64 (well-known and local-use), Teredo, IPv4-compatible
    "[2002:a9fe:a9fe::]", "[2002:7f00:1::]", "[2002:0a00:0001::1]", "[2002:c0a8:0101::]",
    "[64:ff9b::a9fe:a9fe]", "[64:ff9b::7f00:1]", "[64:ff9b::10.0.0.1]", "[64:ff9b:1::808:808]",
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "[2001::1]", "[::a9fe:a9fe]", "[::127.0.0.1]", "[::10.0.0.1]",
    # shared, documentation, benchmarking, multicast, reserved, site-local
    "100.64.0.1", "192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1", "224.0.0.1", "239.255.255.250",
    "240.0.0.1", "255.255.255.255", "[2001:db8::1]", "[3fff::1]", "[ff02::1]", "[fec0::1]", "[100::1]",
]
PORTS = ["", ":80", ":8081", ":22"]
BAD_SHAPES = [
    "file:///etc/passwd", "ext::sh -c id", "git://example.com/repo.git", "ssh://git@example.com/repo.git",
    "git@example.com:team/repo.git", "ftp://example.com/repo", "gopher://127.0.0.1:25/x", "data:text/plain,hi",
    "http://user:pw@example.com/repo.git", "http://example.com@127.0.0.1/repo.git", "http://127.0.0.1\\@example.com/",
    "http://example.com/repo.git\r\nHost: 169.254.169.254", "http://exa mple.com/", "http:///nohost",
    "http://[::1/", "https://example.com:0/", "https://example.com:99999/",
]
# Public addresses the rules must let through (nothing is dialled: the recorder refuses every connection).
PUBLIC = ["140.82.112.3", "[2606:4700::6810:85e5]", "[2002:808:808::]", "[64:ff9b::808:808]", "[::ffff:8.8.8.8]"]


def forbidden_urls() -> list[str]:
    urls = [f"http://{host}{port}/repo.git" for host in FORBIDDEN_HOSTS for port in PORTS[:2]]
    urls += [f"https://{host}/api/v4/version" for host in FORBIDDEN_HOSTS[::3]]
    urls += [f"http://{host}{port}/" for host in ("[2002:7f00:1::]", "[2002:a9fe:a9fe::]") for port in PORTS[2:]]
    return urls + BAD_SHAPES


class Dialled(ConnectionRefusedError):
    """Raised instead of connecting (as a refused connection, which the clients handle): the recorder is the only
    'network' these tests have."""


@pytest.fixture
def dialled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []

    def record(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        seen.append(str(address[0]))
        raise Dialled(str(address[0]))

    monkeypatch.setattr(u3connection, "create_connection", record)
    return seen


def http_get(url: str) -> None:
    RequestsHttpClient(allow_loopback=False, timeout=2.0, retries=0, sleep=lambda s: None).request("GET", url)


def git_ls_remote(url: str) -> None:
    DulwichGitRemote(lambda: guarded_pool_manager(allow_loopback=False, timeout=2.0, retries=0)).ls_remote(url, None)


CLIENTS = {"http": http_get, "git": git_ls_remote}


def refused_dials(seen: list[str], *, allow_loopback: bool = False) -> list[str]:
    return [a for a in seen if address_refusal(a, allow_loopback=allow_loopback) is not None]


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_every_forbidden_form_is_refused_before_connecting(client: str, dialled: list[str]) -> None:
    urls = forbidden_urls()
    assert len(urls) >= 150
    not_refused = []
    for url in urls:
        try:
            CLIENTS[client](url)
        except UnsafeUrlError:
            continue
        except GitconnectError as exc:  # only "could not be resolved" is acceptable besides a refusal
            if "resolved" not in str(exc):
                not_refused.append(f"{url}: {type(exc).__name__} {exc}")
            continue
        not_refused.append(f"{url}: fetched")
    assert refused_dials(dialled) == []
    assert not_refused == []


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_public_addresses_are_connected_to_as_resolved(client: str, dialled: list[str]) -> None:
    """The control: the same clients do dial public addresses (so the recorder would have seen a forbidden one)."""
    for host in PUBLIC:
        with pytest.raises(GitconnectError, match="could not be reached"):
            CLIENTS[client](f"http://{host}/repo.git")
    dialled_ips = {str(ipaddress.ip_address(a)) for a in dialled}
    assert dialled_ips == {str(ipaddress.ip_address(h.strip("[]"))) for h in PUBLIC}


def _loopback(url: str) -> bool:
    """Whether the URL's host resolves to loopback (which the test system, like `make run`, allows)."""
    try:
        host = urlsplit(url).hostname
        return bool(host) and any(
            ipaddress.ip_address(info[4][0]).is_loopback
            for info in socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)
        )
    except (OSError, ValueError):
        return False


API_FORMS = [u for u in forbidden_urls() if not _loopback(u)][::3]


@pytest.mark.slow
def test_the_api_refuses_them_for_custom_git_and_gitlab_and_stores_nothing(
    system: System, team: str, admin: str, dialled: list[str]
) -> None:
    """Through the real handlers (the test system allows loopback, as `make run` does: loopback forms are left
    out here, and refused by the clients above)."""
    assert len(API_FORMS) >= 25
    for url in API_FORMS:
        for body in ({"provider": "custom", "url": url}, {"provider": "gitlab", "base_url": url, "token": "t"}):
            reply = system.call("POST", f"/v1/teams/{team}/connections", token=admin, body=body)
            assert reply.status in (400, 422), (url, reply.status, reply.body)
            assert reply.headers["content-type"] == "application/problem+json"
    assert refused_dials(dialled, allow_loopback=True) == []
    assert system.call("GET", f"/v1/teams/{team}/connections", token=admin).json()["items"] == []
