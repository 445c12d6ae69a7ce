"""Opaque page cursors: base64url JSON of a position and the scope it was issued for (a team, a connection, a
listing). One mechanism for every paged list: DynamoDB pages (adapters/dynamo/cursors.py) and provider listings
(services/listing.py) each name their scope; a cursor opened in any other scope is refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from gitconnect.domain.errors import BadRequestError

INVALID = "the cursor is not valid"


def encode_cursor(scope: Mapping[str, Any], position: Any) -> str:
    """`position` (JSON) wrapped with its `scope`, as one URL-safe token (no padding)."""
    raw = json.dumps({**scope, "k": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, scope: Mapping[str, Any], *, invalid: str = INVALID) -> Any:
    """The position inside a cursor issued for exactly this `scope`; BadRequestError(`invalid`) for anything else
    (garbled, not ours, another team's or listing's)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, RecursionError) as exc:  # not base64 (binascii.Error), not UTF-8, not JSON, nested too deep
        raise BadRequestError(invalid) from exc
    if not isinstance(data, dict) or "k" not in data:
        raise BadRequestError(invalid)
    if {k: v for k, v in data.items() if k != "k"} != dict(scope):
        raise BadRequestError(invalid)
    return data["k"]
