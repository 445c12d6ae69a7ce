from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.api.auth import authorize
from gitconnect.api.idempotency import DOCUMENTED, once
from gitconnect.api.outputs import AuthorizeOut, ConnectionList, ConnectionOut, RegeneratedOut
from gitconnect.api.responses import answers, created, items, no_content
from gitconnect.api.schemas import AuthorizeIn, LinkRequest, RestrictionsIn
from gitconnect.domain.errors import BadRequestError, UnprocessableError
from gitconnect.providers import REGISTRY

router = APIGatewayHttpRouter()


@router.post(
    "/v1/teams/<team>/connections",
    summary="Link a Git account with credentials",
    tags=["connections"],
    responses=answers(
        201,
        ConnectionOut,
        {
            422: "The provider refused the credentials, could not be reached, or is linked in the browser "
            "(GitHub: install the App); or the Idempotency-Key was used with another body",
            409: "A request with this Idempotency-Key is still in progress",
        },
    ),
    openapi_extensions=DOCUMENTED,
)
def link(team: str, body: Annotated[LinkRequest, Body()]) -> Response[dict[str, Any]]:
    authorize(router, team, "admin")
    request = body.model_dump(exclude_none=True)
    return once(router, team, "link", request, lambda: created(wiring.connections().link(team, request)))


@router.get(
    "/v1/teams/<team>/connections",
    summary="List the team's connections",
    tags=["connections"],
    responses=answers(200, ConnectionList),
)
def list_connections(team: str) -> dict[str, object]:
    authorize(router, team)
    return items(wiring.connections().list(team))


@router.get(
    "/v1/teams/<team>/connections/<connection_id>",
    summary="Read a connection",
    tags=["connections"],
    responses=answers(200, ConnectionOut),
)
def get_connection(team: str, connection_id: str) -> dict[str, object]:
    authorize(router, team)
    return wiring.connections().get(team, connection_id).to_json()


@router.delete(
    "/v1/teams/<team>/connections/<connection_id>",
    summary="Unlink a connection",
    tags=["connections"],
    responses=answers(204, None),
)
def unlink(team: str, connection_id: str) -> Response[None]:
    authorize(router, team, "admin")
    wiring.connections().unlink(team, connection_id)
    return no_content()


@router.post(
    "/v1/teams/<team>/connections/<provider>/authorize",
    summary="Start linking in the browser",
    tags=["connections"],
    responses=answers(
        200, AuthorizeOut, {422: "The provider is not linked in the browser, or its app is not configured"}
    ),
)
def authorize_link(team: str, provider: str, body: Annotated[AuthorizeIn | None, Body()] = None) -> dict[str, object]:
    """GitHub: the App's install URL. GitLab: the OAuth authorize URL (PKCE), of gitlab.com or of a self-hosted
    `base_url` with the `client_id`/`client_secret` of the OAuth application registered there. Bitbucket: the OAuth
    consumer's authorize URL (no body). Always with a one-time, expiring `state` bound to this team and user."""
    principal = authorize(router, team, "admin")
    request = body.model_dump(exclude_none=True) if body else {}
    declaration = REGISTRY.get(provider)
    if request and declaration is not None and declaration.refuses_authorize_body:
        raise BadRequestError(declaration.refuses_authorize_body)  # before the flow is built: it reads secrets
    flow = wiring.browser_flow(provider)
    if flow is None:
        raise UnprocessableError(f"{provider!r} is not linked in the browser: link it with credentials")
    return {"url": flow.authorize(team, principal.user_id, request)}


@router.put(
    "/v1/teams/<team>/connections/<connection_id>/restrictions",
    summary="Restrict to namespaces",
    tags=["connections"],
    responses=answers(
        200, ConnectionOut, {422: "The connection's provider has no namespaces to restrict (Custom Git)"}
    ),
)
def restrict(team: str, connection_id: str, body: Annotated[RestrictionsIn, Body()]) -> dict[str, object]:
    """`{"mode":"unrestricted"}` or `{"mode":"restricted","namespaces":[…]}`; takes effect at once everywhere."""
    authorize(router, team, "admin")
    return wiring.connections().restrict(team, connection_id, body.mode, body.namespaces or []).to_json()


@router.post(
    "/v1/teams/<team>/connections/<connection_id>/webhooks/regenerate",
    summary="Regenerate webhooks",
    tags=["connections"],
    responses=answers(
        200, RegeneratedOut, {422: "gitconnect registers no webhooks for this provider, or the provider refused"}
    ),
)
def regenerate(team: str, connection_id: str) -> dict[str, object]:
    """A new secret on every webhook gitconnect registered for this connection (recreated where it was deleted);
    deliveries signed with the old secret stop building at once."""
    authorize(router, team, "admin")
    return {"regenerated": wiring.connections().regenerate_webhooks(team, connection_id)}
