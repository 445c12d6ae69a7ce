"""Page cursors: the last evaluated key wrapped with its team (domain/cursors.py is the mechanism)."""

from __future__ import annotations

from typing import Any

from gitconnect.domain.cursors import decode_cursor as _decode
from gitconnect.domain.cursors import encode_cursor as _encode
from gitconnect.domain.errors import BadRequestError


def encode_cursor(key: dict[str, Any] | None, *, team_id: str) -> str | None:
    return _encode({"t": team_id}, key) if key else None


def decode_cursor(cursor: str | None, *, team_id: str) -> dict[str, Any] | None:
    """A cursor wraps the last evaluated key with its team: it cannot walk into another team's records."""
    if not cursor:
        return None
    key = _decode(cursor, {"t": team_id})
    if not isinstance(key, dict):
        raise BadRequestError("the cursor is not valid")
    return key
