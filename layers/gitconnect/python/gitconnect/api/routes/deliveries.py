from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.api.auth import authorize
from gitconnect.api.outputs import DeliveryPage
from gitconnect.api.responses import Cursor, Limit, answers, paged

router = APIGatewayHttpRouter()


@router.get(
    "/v1/teams/<team>/deliveries",
    summary="The webhook delivery log",
    tags=["deliveries"],
    responses=answers(200, DeliveryPage),
)
def list_deliveries(
    team: str,
    connection_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = 25,
) -> dict[str, object]:
    authorize(router, team)
    page = wiring.stores().deliveries.list(team, connection_id=connection_id, cursor=cursor, limit=limit)
    return paged(page)
