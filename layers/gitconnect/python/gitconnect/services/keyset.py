"""Keyset pages over a sorted list, with opaque cursors (domain/cursors.py) bound to their listing's scope.

A cursor carries the sort key of the last item it showed and when it was issued: the next page is what sorts after
that key, so it survives additions and removals between pages (nothing listed twice, nothing skipped that stayed)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gitconnect.domain.cursors import decode_cursor, encode_cursor
from gitconnect.domain.errors import BadRequestError

T = TypeVar("T")
SortKey = tuple[str, ...]

LIST_AGAIN = "list again from the first page (without `cursor`)"
INVALID = f"the cursor is not valid for this listing: {LIST_AGAIN}"
FUTURE_SKEW_SECONDS = 60.0  # clocks of two containers may differ a little; a cursor from further ahead is forged


@dataclass(frozen=True)
class Keyset(Generic[T]):
    """Pages of one listing (`scope`: its team, connection, kind), cursors valid for `lifetime` seconds."""

    scope: Mapping[str, str]
    key: Callable[[T], SortKey]
    lifetime: float

    def after(self, cursor: str | None, now: float) -> SortKey | None:
        """The sort key a cursor continues after (None: the first page); BadRequestError for a cursor that is
        garbled, of another scope, or stale."""
        if not cursor:
            return None
        position: Any = decode_cursor(cursor, self.scope, invalid=INVALID)
        if not isinstance(position, dict):
            raise BadRequestError(INVALID)
        after, issued = position.get("after"), position.get("at")
        if not (isinstance(after, list) and after and all(isinstance(part, str) for part in after)):
            raise BadRequestError(INVALID)
        if not isinstance(issued, int | float) or isinstance(issued, bool) or issued > now + FUTURE_SKEW_SECONDS:
            raise BadRequestError(INVALID)
        if now - issued > self.lifetime:
            raise BadRequestError(
                f"the cursor is older than the listing's cache lifetime ({self.lifetime:.0f} s): {LIST_AGAIN}"
            )
        return tuple(after)

    def page(self, ordered: Sequence[T], after: SortKey | None, limit: int, now: float) -> tuple[list[T], str | None]:
        """Up to `limit` items of `ordered` (sorted by `key`) after the key `after` (a cursor's, read first with
        `after()` so that a bad cursor costs no provider call), and the next page's cursor (None after the last)."""
        start = 0 if after is None else bisect.bisect_right(ordered, after, key=self.key)
        chunk = list(ordered[start : start + limit])
        if start + limit >= len(ordered) or not chunk:
            return chunk, None
        return chunk, encode_cursor(self.scope, {"after": list(self.key(chunk[-1])), "at": now})
