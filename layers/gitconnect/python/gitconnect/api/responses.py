"""The shapes every route answers with: a created or accepted resource, a list, a page, and the paging parameters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Protocol

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from gitconnect.domain.models import Page

# `cursor` is the `next_cursor` of the page before, opaque to the caller; `limit` bounds one page.
Cursor = Annotated[str | None, Query(max_length=2048)]
Limit = Annotated[int, Query(ge=1, le=100)]


class Resource(Protocol):
    def to_json(self) -> Mapping[str, object]: ...


def created(resource: Resource) -> Response[dict[str, Any]]:
    return Response(201, content_type="application/json", body=dict(resource.to_json()))


def accepted(resource: Resource) -> Response[dict[str, Any]]:
    """202: the work (a build, a run) is requested, not done."""
    return Response(202, content_type="application/json", body=dict(resource.to_json()))


def no_content() -> Response[None]:
    return Response(204)


def items(resources: Iterable[Resource]) -> dict[str, object]:
    return {"items": [r.to_json() for r in resources]}


def paged(found: Page[Any]) -> dict[str, object]:
    """One page of resources (or of plain JSON objects, as listed from a provider) and the cursor of the next."""
    return {
        "items": [i if isinstance(i, dict) else i.to_json() for i in found.items],
        "next_cursor": found.next_cursor,
    }
