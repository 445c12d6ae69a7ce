"""What the listing tests share: walking a listing to its end, problem answers, tampered cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.support.inprocess import Reply, System

TEAM = "scale-team"


def walk(system: System, token: str, url: str, *, limit: int = 100) -> tuple[list[dict[str, Any]], int]:
    """Every item of a listing, following next_cursor to the end; (items, pages)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for pages in range(1, 1_000):  # bounded: far more pages than any listing here has
        separator = "&" if "?" in url else "?"
        reply = system.call("GET", f"{url}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else ""),
                            token=token)
        assert reply.status == 200, reply.body
        body = reply.json()
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
    raise AssertionError("the listing never ended")


def refused(reply: Reply, status: int = 400) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = reply.json()
    return problem


def reissued(cursor: str, **changes: Any) -> str:
    """The same cursor with some of its fields changed (what a client tampering with it would send)."""
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for name, value in changes.items():
        if name in data:
            data[name] = value
        else:
            data["k"][name] = value
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
