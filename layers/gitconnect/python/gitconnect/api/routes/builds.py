from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.api.auth import authenticate, authorize, bearer_token
from gitconnect.api.idempotency import DOCUMENTED, once
from gitconnect.api.outputs import BuildOut, BuildPage
from gitconnect.api.responses import Cursor, Limit, accepted, answers, paged
from gitconnect.api.schemas import BuildStatusIn, BuildTriggerIn

router = APIGatewayHttpRouter()


@router.post(
    "/v1/teams/<team>/sources/<source_id>/builds",
    summary="Trigger a build",
    tags=["builds"],
    responses=answers(
        202,
        BuildOut,
        {
            409: "Nothing builds on this source (its connection or repository is not active), or a request with "
            "this Idempotency-Key is still in progress",
            422: "The branch or commit does not exist, or the Idempotency-Key was used with another body",
        },
    ),
    openapi_extensions=DOCUMENTED,
)
def trigger(
    team: str, source_id: str, body: Annotated[BuildTriggerIn | None, Body()] = None
) -> Response[dict[str, Any]]:
    """No body (or `{}`): the head of the source's default branch."""
    principal = authorize(router, team)
    wanted = body or BuildTriggerIn()

    def requested() -> Response[dict[str, Any]]:
        return accepted(
            wiring.builds().trigger(team, source_id, branch=wanted.branch, sha=wanted.sha, user=principal.user_id)
        )

    return once(router, team, f"build {source_id}", wanted.model_dump(), requested)


@router.get(
    "/v1/teams/<team>/builds", summary="List builds, newest first", tags=["builds"], responses=answers(200, BuildPage)
)
def list_builds(
    team: str,
    source_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = 25,
) -> dict[str, object]:
    authorize(router, team)
    page = wiring.builds().list(team, source_id=source_id, cursor=cursor, limit=limit)
    return paged(page)


@router.get(
    "/v1/teams/<team>/builds/<build_id>", summary="Read a build", tags=["builds"], responses=answers(200, BuildOut)
)
def get_build(team: str, build_id: str) -> dict[str, object]:
    authorize(router, team)
    return wiring.builds().get(team, build_id).to_json()


@router.post(
    "/v1/builds/<build_id>/status",
    summary="Report a build's status (builder callback)",
    tags=["builds"],
    responses=answers(200, BuildOut, {409: "The build already has a final status"}),
)
def report_status(build_id: str, body: Annotated[BuildStatusIn, Body()]) -> dict[str, object]:
    """Authenticated by the build's own callback token (from BuildRequested) or by a team token."""
    service = wiring.builds()
    build = service.build_for_report(build_id, bearer_token(router), lambda: authenticate(router))
    return service.report_status(build, body.status, body.url, body.description).to_json()
