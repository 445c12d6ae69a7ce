"""SSRF rules for user-supplied URLs (DESIGN.md §3), the pure half: schemes, URL shape and address classes.

The I/O half (resolving names and connecting to the address that was checked) is gitconnect.adapters.net.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from gitconnect.domain.errors import UnsafeUrlError

_ALLOWED_SCHEMES = ("https", "http")


def address_refusal(address: str, *, allow_loopback: bool) -> str | None:
    """Why connecting to this IP address is refused, or None when it is a public address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return address_refusal(str(ip.ipv4_mapped), allow_loopback=allow_loopback)
    if ip.is_loopback:
        return None if allow_loopback else "it points at this machine (loopback)"
    if ip.is_link_local:
        return "it points at a link-local address (such as the cloud metadata service)"
    if ip.is_private:
        return "it points at a private network address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "it points at a non-public address"
    return None


def check_remote_url(url: str) -> str:
    """Validate the shape of a Git remote / API base URL and return it normalized (no trailing slash).

    Only http(s) is accepted: `file://`, `ssh://`, `git://`, `ext::` and scp-like `host:path` remotes can reach
    local files or run commands, and credentials belong in the credentials field, never in the URL.
    """
    if not isinstance(url, str) or not url.strip():
        raise UnsafeUrlError("the URL is empty")
    url = url.strip()
    if len(url) > 2048:
        raise UnsafeUrlError("the URL is longer than 2048 characters")
    if any(ord(c) < 0x20 or c in " \x7f\\" for c in url):
        raise UnsafeUrlError("the URL contains spaces, backslashes or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in _ALLOWED_SCHEMES or "://" not in url:
        raise UnsafeUrlError(
            f"only https:// and http:// remotes are supported (got {url.split(':', 1)[0]!r}); "
            "file://, ssh://, git:// and ext:: transports are refused"
        )
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrlError("put credentials in the `credentials` field, not in the URL")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"the URL's port is not valid: {exc}") from exc
    if not host:
        raise UnsafeUrlError("the URL has no host")
    if port == 0:
        raise UnsafeUrlError("the URL's port is not valid")
    if parts.query or parts.fragment:
        raise UnsafeUrlError("a remote URL takes no query string or fragment")
    return url.rstrip("/")
