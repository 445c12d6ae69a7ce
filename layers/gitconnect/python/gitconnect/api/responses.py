"""The shapes every route answers with: a created or accepted resource, a list, a page, and the paging parameters;
`answers`, what a route declares it answers (the OpenAPI document's responses)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from gitconnect.api.outputs import Problem
from gitconnect.api.problems import PROBLEM_JSON
from gitconnect.domain.models import Page

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
    from pydantic import BaseModel

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


_SUCCESS = {200: "OK", 201: "Created", 202: "Accepted: requested, not done", 204: "Done; no body", 302: "Redirect"}


def answers(
    status: int,
    model: type[BaseModel] | None,
    why: Mapping[int, str] | None = None,
    also: Mapping[int, tuple[str, type[BaseModel]]] | None = None,
) -> dict[int, OpenAPIResponse]:
    """A route's `responses=`: its success `status` with the `model` of its body (None: no body), and the refusals
    only this route gives (`why`: status -> when), as problem+json; `also`: another success it answers (status ->
    (when, model)). The refusals every route of a kind gives (401/403 of the team API, 400/413/415 of a body, 404 of
    a path parameter, 503) are added to the document by `gitconnect.api.reference`, from the rules that answer them."""
    # (No content at all would make Powertools document the return annotation: an empty map says "no body".)
    success: OpenAPIResponse = {"description": _SUCCESS[status], "content": {}}
    if model is not None:
        success["content"] = {"application/json": {"model": model}}
    declared: dict[int, OpenAPIResponse] = {status: success}
    for code, (when, other) in (also or {}).items():  # another success (`when`), with its own body
        declared[code] = {"description": when, "content": {"application/json": {"model": other}}}
    for code, when in (why or {}).items():
        declared[code] = {"description": when, "content": {PROBLEM_JSON: {"model": Problem}}}
    return declared
