from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.api.responses import answers
from gitconnect.domain.errors import NotFoundError

router = APIGatewayHttpRouter()


@router.get(
    "/v1/oauth/<provider>/callback",
    summary="The provider's redirect after linking",
    tags=["connections"],
    responses=answers(302, None),
)
def callback(provider: str) -> Response[None]:
    """Finishes linking, then sends the browser to the dashboard with `outcome=linked|error` (no token needed:
    the one-time `state` names the team and user)."""
    flow = wiring.browser_flow(provider)
    if flow is None:
        raise NotFoundError(f"no browser linking for {provider!r}")
    params = dict(router.current_event.query_string_parameters or {})
    location = flow.callback(params)
    return Response(302, headers={"Location": location, "Cache-Control": "no-store"})
