from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.api.auth import authorize

router = APIGatewayHttpRouter()


@router.get("/v1/teams/<team>/deliveries", summary="The webhook delivery log", tags=["deliveries"])
def list_deliveries(
    team: str,
    connection_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> dict[str, object]:
    authorize(router, team)
    page = wiring.delivery_store().list(team, connection_id=connection_id, cursor=cursor, limit=limit)
    return {"items": [d.to_json() for d in page.items], "next_cursor": page.next_cursor}
