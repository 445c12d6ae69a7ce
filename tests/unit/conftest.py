from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitconnect.adapters.http import RequestsHttpClient


@pytest.fixture
def http() -> Iterator[RequestsHttpClient]:
    """The real HTTP client (SSRF guard on, loopback allowed for the fakes on 127.0.0.1), never sleeping."""
    client = RequestsHttpClient(allow_loopback=True, timeout=5, sleep=lambda _: None)
    yield client
    client.close()
