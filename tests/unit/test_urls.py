"""SSRF rules, the pure half: address classes and URL shapes (no network)."""

from __future__ import annotations

import pytest

from gitconnect.domain.errors import UnsafeUrlError
from gitconnect.domain.urls import address_refusal, check_remote_url


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.1.2.3", "::1",                     # loopback
        "10.0.0.5", "172.16.3.4", "192.168.1.1", "fd00::1",   # private
        "169.254.169.254", "fe80::1",                         # link-local, cloud metadata
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.1.1.1",  # IPv4-mapped IPv6
        "0.0.0.0", "::", "100.64.0.1", "224.0.0.1", "240.0.0.1", "fd00:ec2::254",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert address_refusal(address, allow_loopback=False) is not None


@pytest.mark.parametrize("address", ["140.82.112.3", "2606:4700::6810:85e5", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(address, allow_loopback=False) is None


def test_loopback_only_with_the_flag_and_never_private() -> None:
    assert address_refusal("127.0.0.1", allow_loopback=True) is None
    assert address_refusal("::ffff:127.0.0.1", allow_loopback=True) is None
    assert address_refusal("10.0.0.1", allow_loopback=True) is not None
    assert address_refusal("169.254.169.254", allow_loopback=True) is not None


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd", "ext::sh -c touch% /tmp/pwned", "ssh://git@example.com/a.git",
        "git://example.com/a.git", "git@example.com:team/app.git", "ftp://example.com/a",
        "https://user:secret@example.com/a.git", "https://example.com/a.git?x=1", "https:///nohost",
        "https://example.com:0/a", "https://exa mple.com/a", "", "   ", "https://example.com:99999/a",
        "https://example.com/a\\b", "https://example.com/\x00",
    ],
)
def test_unsupported_or_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_remote_url(url)


def test_valid_urls_are_normalized() -> None:
    assert check_remote_url(" https://git.example.com/team/app.git/ ") == "https://git.example.com/team/app.git"
    assert check_remote_url("http://127.0.0.1:8080/a.git") == "http://127.0.0.1:8080/a.git"
