"""The GitHub App's JWT (claims, key formats, a bad key) and GitHub's timestamps. Installation tokens, against the
fake GitHub, are in tests/functional/test_github_app_auth.py."""

from __future__ import annotations

import time

import jwt
import pytest

from gitconnect.domain.errors import GitconnectError
from gitconnect.providers.github.app_auth import app_jwt, parse_timestamp
from tests.support.fake_github import rsa_key_pair


def test_app_jwt_claims() -> None:
    private_key, public_key = rsa_key_pair()
    token = app_jwt("123456", private_key, 1_700_000_000.7)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, public_key, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False})
    assert claims == {"iat": 1_700_000_000 - 60, "exp": 1_700_000_000 + 540, "iss": "123456"}
    assert claims["exp"] - claims["iat"] <= 600  # GitHub refuses a JWT that lives longer than 10 minutes


def test_app_jwt_accepts_a_key_with_escaped_newlines() -> None:
    private_key, public_key = rsa_key_pair()
    token = app_jwt("1", private_key.strip().replace("\n", "\\n"), time.time())
    assert jwt.decode(token, public_key, algorithms=["RS256"])["iss"] == "1"


def test_a_bad_private_key_says_which_setting_without_echoing_it() -> None:
    with pytest.raises(GitconnectError, match="GITHUB_APP_PRIVATE_KEY") as refused:
        app_jwt("1", "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END RSA PRIVATE KEY-----", 0)
    assert "c2VjcmV0" not in refused.value.detail


def test_github_timestamps_are_parsed() -> None:
    assert parse_timestamp("2016-07-11T22:14:10Z") == 1468275250.0
