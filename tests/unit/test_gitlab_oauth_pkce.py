"""GitLab OAuth's pure pieces: PKCE verifiers and challenges, the authorize URL, and the tokens' repr and expiry. The
code exchange and the refresh, against the fake GitLab's token endpoint: tests/functional/test_gitlab_oauth.py."""

from __future__ import annotations

import string
from urllib.parse import parse_qs, urlsplit

import pytest

from gitconnect.adapters.http import RequestsHttpClient
from gitconnect.providers.gitlab import oauth
from gitconnect.providers.gitlab.oauth import Tokens, authorize_url, challenge, new_verifier

REDIRECT = "https://gitconnect.example.com/v1/oauth/gitlab/callback"


def test_pkce_vector_of_rfc_7636_appendix_b() -> None:
    assert challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_vector_of_gitlabs_oauth_documentation() -> None:
    assert challenge("ks02i3jdikdo2k0dkfodf3m39rjfjsdk0wk349rj3jrhf") == "2i0WFA-0AerkjQm4X4oDEhqA17QIAKNjXpagHBXmO_U"


def test_verifiers_are_random_strings_of_the_unreserved_set() -> None:
    allowed = set(string.ascii_letters + string.digits + "-._~")
    verifiers = {new_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    assert all(43 <= len(v) <= 128 and set(v) <= allowed for v in verifiers)
    assert len(new_verifier(43)) == 43 and len(new_verifier(128)) == 128
    for bad_length in (42, 129):
        with pytest.raises(ValueError, match="43 to 128"):
            new_verifier(bad_length)
    for bad in ("short", "x" * 129, "a b" * 20, "é" * 43):
        with pytest.raises(ValueError, match="not a PKCE code verifier"):
            challenge(bad)
    assert "=" not in challenge(new_verifier()) and len(challenge(new_verifier())) == 43


def test_authorize_url() -> None:
    url = authorize_url("https://git.example.com/gitlab/", "app-id", REDIRECT, "st4te", "ch4llenge",
                        scopes=("api", "read_user"))
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "git.example.com", "/gitlab/oauth/authorize")
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "client_id": "app-id", "redirect_uri": REDIRECT, "response_type": "code", "state": "st4te",
        "scope": "api read_user", "code_challenge": "ch4llenge", "code_challenge_method": "S256"}


def test_tokens_never_show_in_repr() -> None:
    tokens = Tokens("access-canary", "refresh-canary", 1.0, "api")
    assert "canary" not in repr(tokens) and "canary" not in str(tokens)


def test_expiry_defaults(http: RequestsHttpClient) -> None:
    never = Tokens("a", "r", None)
    assert not never.expires_within(10**9, 0)
    assert oauth.ACCESS_TOKEN_LIFETIME == 7200
