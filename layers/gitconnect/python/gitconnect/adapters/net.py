"""SSRF guard, the I/O half: every outbound connection resolves the name itself, checks every address it
resolves to, and connects to the checked address (so DNS rebinding between check and use cannot happen).

It sits below urllib3, so the Git client (dulwich) and the HTTP client (requests) share it, and redirects
are checked like first requests: they open new connections through the same classes.
"""

from __future__ import annotations

import socket
from typing import Any, cast

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import connection as u3connection

from gitconnect.domain.errors import RemoteUnreachableError, UnsafeUrlError
from gitconnect.domain.urls import address_refusal


def resolve_checked(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """All addresses of `host`, or UnsafeUrlError when any of them is refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RemoteUnreachableError(f"the host {host!r} could not be resolved") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        reason = address_refusal(address, allow_loopback=allow_loopback)
        if reason:
            raise UnsafeUrlError(f"the host {host!r} is refused: {reason}")
    return addresses


class _GuardMixin:
    allow_loopback = False
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        addresses = resolve_checked(self.host, self.port, allow_loopback=self.allow_loopback)
        last: OSError | None = None
        for address in addresses:
            try:
                return u3connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:
                last = exc
        # (The mixin only ever sits in front of HTTPConnection: see guarded_pool_classes.)
        connection = cast(HTTPConnection, self)
        raise urllib3.exceptions.NewConnectionError(connection, f"could not connect to {self.host}: {last}")


def guarded_pool_classes(*, allow_loopback: bool) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pool classes (by scheme) whose every connection goes through the guard.

    urllib3's PoolManager and requests' HTTPAdapter both take them as `pool_classes_by_scheme`."""

    class Http(_GuardMixin, HTTPConnection):
        pass

    class Https(_GuardMixin, HTTPSConnection):
        pass

    Http.allow_loopback = Https.allow_loopback = allow_loopback

    class HttpPool(HTTPConnectionPool):
        ConnectionCls = Http

    class HttpsPool(HTTPSConnectionPool):
        ConnectionCls = Https

    return {"http": HttpPool, "https": HttpsPool}


def guarded_pool_manager(*, allow_loopback: bool, timeout: float, retries: int = 2) -> urllib3.PoolManager:
    """A PoolManager whose every connection goes through the guard; no proxies (they would bypass it)."""
    manager = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
        retries=urllib3.Retry(total=retries, connect=retries, read=0, redirect=5, backoff_factor=0.2),
    )
    manager.pool_classes_by_scheme = guarded_pool_classes(allow_loopback=allow_loopback)
    return manager
