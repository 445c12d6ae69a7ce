"""Page cursors: the last evaluated key wrapped with its team."""

from __future__ import annotations

import base64
import json
from typing import Any

from gitconnect.domain.errors import BadRequestError


def encode_cursor(key: dict[str, Any] | None, *, team_id: str) -> str | None:
    if not key:
        return None
    raw = json.dumps({"t": team_id, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, team_id: str) -> dict[str, Any] | None:
    """A cursor wraps the last evaluated key with its team: it cannot walk into another team's records."""
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        owner, key = data["t"], data["k"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequestError("the cursor is not valid") from exc
    if owner != team_id or not isinstance(key, dict):
        raise BadRequestError("the cursor is not valid")
    return key
