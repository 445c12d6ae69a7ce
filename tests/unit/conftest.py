"""The unit tier runs in this process only: no socket (not even to 127.0.0.1), no subprocess, no registry download.

While a unit test (or one of its fixtures) runs, opening a connection, binding a server, resolving a name or starting
a process raises `IsolationError` and fails the test, even when the code under test swallows the error. Tests that
need a server, git, a tool or the registries belong in another tier (README "Tests")."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from gitconnect.adapters.http import RequestsHttpClient


class IsolationError(BaseException):
    """A BaseException, so that `except Exception` (or `except OSError`) in the code under test cannot turn an
    attempted connection into an ordinary, tested-for failure."""


_state: dict[str, Any] = {"active": False, "attempts": []}

# What the tier may not call: (owner, attribute, how the attempt is described, whether it is a method).
_GUARDED: list[tuple[Any, str, str, bool]] = [
    (socket.socket, "connect", "socket.connect", True),
    (socket.socket, "connect_ex", "socket.connect_ex", True),
    (socket.socket, "bind", "socket.bind", True),
    (socket, "create_connection", "socket.create_connection", False),
    (socket, "getaddrinfo", "socket.getaddrinfo", False),
    (subprocess.Popen, "__init__", "subprocess.Popen", True),
    (os, "system", "os.system", False),
    (os, "posix_spawn", "os.posix_spawn", False),
    (os, "posix_spawnp", "os.posix_spawnp", False),
    (os, "fork", "os.fork", False),
]


def _guard(original: Callable[..., Any], name: str, method: bool) -> Callable[..., Any]:
    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not _state["active"]:
            return original(*args, **kwargs)
        target = args[1:2] if method else args[:1]  # never the half-made object itself: its repr may fail
        _state["attempts"].append(f"{name}({', '.join(repr(t) for t in target)})")
        raise IsolationError(f"{name} in tests/unit: this tier opens no socket and starts no process; move the test "
                             "to tests/functional, tests/contract, tests/template or tests/static")

    guarded.__unit_isolation__ = True  # type: ignore[attr-defined]
    return guarded


# Installed once, switched on only around unit tests: a test's own monkeypatch (a fake getaddrinfo, say) layers over
# the guard and is undone onto it, and the other tiers of a whole-suite run call straight through.
for _owner, _attribute, _name, _method in _GUARDED:
    _original = getattr(_owner, _attribute, None)
    if _original is not None and not getattr(_original, "__unit_isolation__", False):
        setattr(_owner, _attribute, _guard(_original, _name, _method))


def _isolated(phase: str) -> Generator[None, Any, Any]:
    _state["active"], _state["attempts"] = True, []
    try:
        result = yield
    finally:
        _state["active"] = False
    if _state["attempts"]:
        pytest.fail(f"tests/unit tried the network or a subprocess during {phase}: {', '.join(_state['attempts'])}",
                    pytrace=False)
    return result


# Setup (the test's fixtures, whatever their scope) and the test are isolated. Teardown is not: in a whole-suite run
# the last unit test's teardown also finishes the other tiers' session fixtures.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _isolated("setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _isolated("the test"))



@pytest.fixture
def http() -> Iterator[RequestsHttpClient]:
    """The real HTTP client, built as the other tiers build it; here nothing it is handed to may connect."""
    client = RequestsHttpClient(allow_loopback=True, timeout=5, sleep=lambda _: None)
    yield client
    client.close()
