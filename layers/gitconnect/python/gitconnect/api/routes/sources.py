from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.api.auth import authorize
from gitconnect.api.idempotency import DOCUMENTED, once
from gitconnect.api.outputs import SourceList, SourceOut
from gitconnect.api.responses import answers, created, items, no_content
from gitconnect.api.schemas import SourceCreate, SourcePatch

router = APIGatewayHttpRouter()


@router.post(
    "/v1/teams/<team>/sources",
    summary="Watch a repository of a connection",
    tags=["sources"],
    responses=answers(
        201,
        SourceOut,
        {
            422: "The repository is not one the connection reaches, the provider refused, or the "
            "Idempotency-Key was used with another body",
            409: "A request with this Idempotency-Key is still in progress",
        },
    ),
    openapi_extensions=DOCUMENTED,
)
def create_source(team: str, body: Annotated[SourceCreate, Body()]) -> Response[dict[str, Any]]:
    authorize(router, team)
    request = body.model_dump(exclude_unset=True)
    return once(router, team, "create_source", request, lambda: created(wiring.sources().create(team, request)))


@router.get("/v1/teams/<team>/sources", summary="List sources", tags=["sources"], responses=answers(200, SourceList))
def list_sources(team: str) -> dict[str, object]:
    authorize(router, team)
    return items(wiring.sources().list(team))


@router.get(
    "/v1/teams/<team>/sources/<source_id>", summary="Read a source", tags=["sources"], responses=answers(200, SourceOut)
)
def get_source(team: str, source_id: str) -> dict[str, object]:
    authorize(router, team)
    return wiring.sources().get(team, source_id).to_json()


@router.patch(
    "/v1/teams/<team>/sources/<source_id>",
    summary="Change a source's rules",
    tags=["sources"],
    responses=answers(200, SourceOut),
)
def update_source(team: str, source_id: str, body: Annotated[SourcePatch, Body()]) -> dict[str, object]:
    authorize(router, team)
    return wiring.sources().update(team, source_id, body.model_dump(exclude_unset=True)).to_json()


@router.delete(
    "/v1/teams/<team>/sources/<source_id>",
    summary="Stop watching a repository",
    tags=["sources"],
    responses=answers(204, None),
)
def delete_source(team: str, source_id: str) -> Response[None]:
    authorize(router, team)
    wiring.sources().delete(team, source_id)
    return no_content()
