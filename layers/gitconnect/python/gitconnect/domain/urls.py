"""SSRF rules for user-supplied URLs (DESIGN.md §3), the pure half: schemes, URL shape and address classes.

The I/O half (resolving names and connecting to the address that was checked) is gitconnect.adapters.net.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from gitconnect.domain.errors import UnsafeUrlError

_ALLOWED_SCHEMES = ("https", "http")


# IPv6 ranges that carry an IPv4 address inside them; a packet to one may reach that IPv4 address (through a 6to4
# relay, a NAT64 gateway or a Teredo server), so the embedded address is judged as if it were the one connected to.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix (DNS64 in IPv6-only subnets uses it)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291 §2.5.5.1 (deprecated, still routed by some stacks)
# Written out rather than left to `ipaddress.is_global`, whose tables differ between Python versions (3.11 here,
# 3.13 in Lambda): what is refused must not depend on the runtime.
_NON_PUBLIC_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/128", "::1/128", "::ffff:0:0/96", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",
        "64:ff9b:1::/48",  # RFC 8215 local-use NAT64: a translator of the network's own, to any address it likes
        "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)
_NON_PUBLIC_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    )
)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address maps or embeds (mapped, 6to4, NAT64, Teredo, IPv4-compatible), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address (Teredo names a relay server too)
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # `::` and `::1` are the unspecified and loopback addresses
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(address: str, *, allow_loopback: bool) -> str | None:
    """Why connecting to this IP address is refused, or None when it is a public address.

    One rule set for every outbound connection (the HTTP client and the Git client both resolve through
    gitconnect.adapters.net, and it judges the address actually connected to)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if ip.teredo is not None:  # a tunnel through a relay of someone else's choosing, whatever it embeds
            return f"it is a Teredo address (2001::/32), which tunnels to {inner}"
        if inner is not None:
            reason = address_refusal(str(inner), allow_loopback=allow_loopback)
            return f"{reason} (embedded in the IPv6 address {ip})" if reason else None
    if ip.is_loopback:
        return None if allow_loopback else "it points at this machine (loopback)"
    if ip.is_unspecified:
        return "it is the unspecified address (this machine)"
    if ip.is_link_local:
        return "it points at a link-local address (such as the cloud metadata service)"
    if ip.is_private:
        return "it points at a private network address"
    if ip.is_multicast:
        return "it is a multicast address"
    if isinstance(ip, ipaddress.IPv6Address):
        special = any(ip in net for net in _NON_PUBLIC_V6)
    else:
        special = any(ip in net for net in _NON_PUBLIC_V4)
    if special or ip.is_reserved or not ip.is_global:
        return "it points at a non-public address (reserved, documentation or special-purpose range)"
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
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL": an unbalanced bracket
        raise UnsafeUrlError(f"the URL is not valid: {exc}") from exc
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
