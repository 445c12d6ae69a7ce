"""Team API tokens (DESIGN.md §4): RS256 from a JWKS in production, HS256 with a shared secret locally."""

from __future__ import annotations

from typing import Any

import jwt
from jwt.types import Options

from gitconnect.domain.auth import Principal
from gitconnect.domain.errors import UnauthorizedError


class JwtVerifier:
    def __init__(self, *, secret: str, jwks_url: str, issuer: str, audience: str) -> None:
        if not secret and not jwks_url:
            raise RuntimeError("set GITCONNECT_JWKS_URL (production) or GITCONNECT_JWT_SECRET (local)")
        self._secret = secret
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=600, timeout=5) if jwks_url else None
        self._issuer = issuer or None
        self._audience = audience or None

    def verify(self, token: str) -> Principal:
        options: Options = {"require": ["exp", "sub"], "verify_aud": self._audience is not None}
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256"]
            else:
                key, algorithms = self._secret, ["HS256"]
            claims = jwt.decode(
                token, key, algorithms=algorithms, issuer=self._issuer, audience=self._audience, options=options
            )
        except jwt.PyJWTError as exc:
            raise UnauthorizedError(f"the bearer token is not valid: {exc}") from exc
        teams = claims.get("teams")
        if not isinstance(teams, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in teams.items()):
            raise UnauthorizedError("the bearer token has no valid `teams` claim")
        name, email = claims.get("name"), claims.get("email")
        return Principal(
            user_id=str(claims["sub"]),
            teams=teams,
            name=name if isinstance(name, str) else None,
            email=email if isinstance(email, str) else None,
        )
