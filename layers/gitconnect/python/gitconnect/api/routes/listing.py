from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.api.auth import authorize
from gitconnect.api.outputs import BranchPage, NamespaceList, RepositoryPage
from gitconnect.api.responses import Cursor, Limit, answers, paged

router = APIGatewayHttpRouter()
_TAGS = ["repositories"]
_REMOTE = {422: "The provider could not be reached or refused the connection's credentials"}


@router.get(
    "/v1/teams/<team>/connections/<connection_id>/repositories",
    summary="Repositories",
    tags=_TAGS,
    responses=answers(200, RepositoryPage, _REMOTE),
)
def repositories(
    team: str,
    connection_id: str,
    search: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, object]:
    """Every repository the connection reaches that its restrictions allow, by full_name (case-insensitively), then
    id; `search` is a case-insensitive part of full_name, over all of them. `next_cursor` until the last page (then
    null); a cursor is valid for this connection, for GITCONNECT_LISTING_CACHE_SECONDS."""
    authorize(router, team)
    page = wiring.listing().repositories(team, connection_id, search=search, cursor=cursor, limit=limit)
    return paged(page)


@router.get(
    "/v1/teams/<team>/connections/<connection_id>/namespaces",
    summary="Namespaces",
    tags=_TAGS,
    responses=answers(200, NamespaceList, _REMOTE),
)
def namespaces(team: str, connection_id: str) -> dict[str, object]:
    """What the connection reaches, each `{"name", "allowed"}` by its restrictions."""
    authorize(router, team)
    return {"items": wiring.listing().namespaces(team, connection_id)}


@router.get(
    "/v1/teams/<team>/connections/<connection_id>/branches",
    summary="Branches of a repository",
    tags=_TAGS,
    responses=answers(200, BranchPage, _REMOTE),
)
def branches(
    team: str,
    connection_id: str,
    repository: Annotated[str | None, Query(max_length=300)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, object]:
    """Every branch of the repository by name (case-insensitively), paged as repositories are."""
    authorize(router, team)
    page = wiring.listing().branches(team, connection_id, repository, cursor=cursor, limit=limit)
    return {"items": [{"name": b.name, "sha": b.sha} for b in page.items], "next_cursor": page.next_cursor}
