"""Bearer-token authentication of the team API: 401 without a valid token, 403 for another team.

The token is verified once per request, before the body is validated (`gitconnect.api.app` calls
`authenticate_event` first and keeps the principal in the resolver's context); the routes read it from there."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.domain.auth import Principal, Role
from gitconnect.domain.errors import UnauthorizedError

# Every path under TEAM_API takes a team token (a JWT), checked before routing; the status callbacks take a bearer
# token the route checks (a build's or run's callback token, or a team token). No other route takes a token.
TEAM_API = "/v1/teams/"
CALLBACK_PATHS = re.compile(r"^/v1/(builds|runs)/[^/]+/status$")


def bearer_token_of(event: Mapping[str, Any]) -> str:
    headers = event.get("headers") or {}
    header = str(headers.get("authorization") or headers.get("Authorization") or "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("send `Authorization: Bearer <token>`")
    return token.strip()


def authenticate_event(event: Mapping[str, Any]) -> Principal:
    return wiring.token_verifier().verify(bearer_token_of(event))


def bearer_token(router: APIGatewayHttpRouter) -> str:
    return bearer_token_of(router.current_event.raw_event)


def authenticate(router: APIGatewayHttpRouter) -> Principal:
    principal = router.context.get("principal")
    if isinstance(principal, Principal):
        return principal
    return authenticate_event(router.current_event.raw_event)


def authorize(router: APIGatewayHttpRouter, team_id: str, role: Role = "member") -> Principal:
    principal = authenticate(router)
    principal.require(team_id, role)
    return principal
