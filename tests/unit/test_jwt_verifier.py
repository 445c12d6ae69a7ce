"""Team API tokens: HS256 with a shared secret locally (RS256 from a JWKS endpoint in production:
tests/functional/test_jwt_jwks.py)."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gitconnect.adapters.tokens import JwtVerifier
from gitconnect.domain.errors import UnauthorizedError

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims(**extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "u1", "teams": {"t1": "admin"}, "iat": now, "exp": now + 60, **extra}


def test_hs256_locally_and_teams_claim_shape() -> None:
    secret = "local-secret-local-secret-local-secret"
    verifier = JwtVerifier(secret=secret, jwks_url="", issuer="", audience="")
    assert verifier.verify(jwt.encode(claims(), secret, "HS256")).teams == {"t1": "admin"}
    for bad in (claims(teams=["t1"]), claims(teams={"t1": 1}), {k: v for k, v in claims().items() if k != "exp"}):
        with pytest.raises(UnauthorizedError):
            verifier.verify(jwt.encode(bad, secret, "HS256"))
    with pytest.raises(UnauthorizedError):
        verifier.verify(jwt.encode(claims(), "another-secret-another-secret-another", "HS256"))
    with pytest.raises(UnauthorizedError):
        verifier.verify(jwt.encode(claims(), KEY, "RS256"))


def test_no_configuration_is_an_error_not_an_open_door() -> None:
    with pytest.raises(RuntimeError):
        JwtVerifier(secret="", jwks_url="", issuer="", audience="")
