from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.domain.errors import NotFoundError

router = APIGatewayHttpRouter()


@router.get("/v1/oauth/<provider>/callback", summary="The provider's redirect after linking", tags=["connections"])
def callback(provider: str) -> Response[None]:
    """Finishes linking, then sends the browser to the dashboard with `outcome=linked|error` (no token needed:
    the one-time `state` names the team and user)."""
    flows = {
        "github": wiring.github_install_flow,
        "gitlab": wiring.gitlab_oauth_flow,
        "bitbucket": wiring.bitbucket_oauth_flow,
    }
    if provider not in flows:
        raise NotFoundError(f"no browser linking for {provider!r}")
    params = dict(router.current_event.query_string_parameters or {})
    location = flows[provider]().callback(params)
    return Response(302, headers={"Location": location, "Cache-Control": "no-store"})
