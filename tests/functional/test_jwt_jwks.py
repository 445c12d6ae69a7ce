"""Team API tokens in production: RS256 with the keys of a JWKS endpoint (served on 127.0.0.1 here). HS256 and the
configuration checks are in tests/unit/test_jwt_verifier.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gitconnect.adapters.tokens import JwtVerifier
from gitconnect.domain.errors import UnauthorizedError

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims(**extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "u1", "teams": {"t1": "admin"}, "iat": now, "exp": now + 60, **extra}


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


def test_rs256_from_jwks_with_issuer_and_audience(jwks_url: str) -> None:
    verifier = JwtVerifier(secret="", jwks_url=jwks_url, issuer="https://idp.example", audience="gitconnect")
    good = jwt.encode(claims(iss="https://idp.example", aud="gitconnect"), KEY, "RS256", headers={"kid": "k1"})
    principal = verifier.verify(good)
    assert (principal.user_id, principal.teams) == ("u1", {"t1": "admin"})
    refused = [
        jwt.encode(claims(iss="https://idp.example", aud="other"), KEY, "RS256", headers={"kid": "k1"}),
        jwt.encode(claims(iss="https://evil.example", aud="gitconnect"), KEY, "RS256", headers={"kid": "k1"}),
        jwt.encode(claims(iss="https://idp.example", aud="gitconnect"), OTHER_KEY, "RS256", headers={"kid": "k1"}),
        jwt.encode(claims(iss="https://idp.example", aud="gitconnect", exp=int(time.time()) - 10), KEY, "RS256",
                   headers={"kid": "k1"}),
        # Algorithm confusion: an HS256 token "signed" with something public must not pass in production mode
        jwt.encode(claims(iss="https://idp.example", aud="gitconnect"), "a-shared-secret-of-32-bytes-or-more!",
                   "HS256", headers={"kid": "k1"}),
    ]
    for token in refused:
        with pytest.raises(UnauthorizedError):
            verifier.verify(token)
