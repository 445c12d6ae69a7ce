"""Bearer-token authentication of the team API: 401 without a valid token, 403 for another team."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.domain.auth import Principal, Role
from gitconnect.domain.errors import UnauthorizedError


def bearer_token(router: APIGatewayHttpRouter) -> str:
    header = router.current_event.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("send `Authorization: Bearer <token>`")
    return token.strip()


def authenticate(router: APIGatewayHttpRouter) -> Principal:
    return wiring.token_verifier().verify(bearer_token(router))


def authorize(router: APIGatewayHttpRouter, team_id: str, role: Role = "member") -> Principal:
    principal = authenticate(router)
    principal.require(team_id, role)
    return principal
