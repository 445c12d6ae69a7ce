"""Team API tokens for the local stack and tests (HS256, signed with GITCONNECT_JWT_SECRET)."""

from __future__ import annotations

import time

import jwt


def mint_token(secret: str, sub: str, teams: dict[str, str], ttl_seconds: int = 86400, *,
               issuer: str | None = None, audience: str | None = None,
               profile: dict[str, str] | None = None) -> str:
    """A bearer token: claims ``sub``, ``teams`` (team id -> "admin" | "member"), ``iat`` and ``exp``
    (plus ``iss``/``aud`` when given, for a stack configured with GITCONNECT_JWT_ISSUER/AUDIENCE; ``profile``: claims
    such as ``name`` and ``email``, which author the user's GitOps commits)."""
    now = int(time.time())
    claims: dict[str, object] = {**(profile or {}), "sub": sub, "teams": teams, "iat": now, "exp": now + ttl_seconds}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
