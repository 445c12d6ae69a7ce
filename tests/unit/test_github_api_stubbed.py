"""GitHubApi's pure pieces and a scripted HTTP client: link parsing, path quoting, error messages, and a pagination
link that leaves the API's origin. The calls against the fake GitHub are in tests/functional/test_github_api.py."""

from __future__ import annotations

from typing import Any

import pytest

from gitconnect.domain.errors import RemoteUnreachableError, UnprocessableError
from gitconnect.providers.base import HttpResponse
from gitconnect.providers.github.api import GitHubApi, github_message, next_link, segment


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last"',
         "https://api.github.com/x?page=2"),
        ('<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next"', "https://a/x?page=3"),
        ('<https://a/x?page=4>; rel="prev", <https://a/x?page=1>; rel="first"', None),
        ("<https://a/x?page=2>; rel=next", "https://a/x?page=2"),
        ('<https://a/x?page=2>;rel="next last"', "https://a/x?page=2"),
        ('<https://a/x?a=1,2&page=2>; title="a, b"; rel="next"', "https://a/x?a=1,2&page=2"),
        ("", None),
        (None, None),
    ],
)
def test_next_link_is_parsed_from_the_link_header(header: str | None, expected: str | None) -> None:
    assert next_link(header) == expected


def test_path_segments_are_quoted() -> None:
    assert segment("feature/login") == "feature%2Flogin"
    assert segment("a b?#%") == "a%20b%3F%23%25"
    assert segment(42) == "42"
    with pytest.raises(UnprocessableError):
        segment("")


def test_github_message_is_taken_from_the_error_body() -> None:
    body = b'{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}'
    assert github_message(HttpResponse(404, {}, body)) == "Not Found"
    assert github_message(HttpResponse(502, {}, b"<html>bad gateway</html>")) == "HTTP 502"


class _Scripted:
    """An HttpClient answering from a list, recording where it was sent."""

    def __init__(self, *responses: HttpResponse) -> None:
        self.responses = list(responses)
        self.urls: list[str] = []

    def request(self, method: str, url: str, **_: Any) -> HttpResponse:
        self.urls.append(url)
        return self.responses.pop(0)


def test_a_pagination_link_off_the_api_origin_is_not_followed() -> None:
    link = {"link": '<https://evil.example/steal?page=2>; rel="next"'}
    http = _Scripted(HttpResponse(200, link, b'{"total_count": 1, "repositories": [{"id": 1}]}'))
    with pytest.raises(RemoteUnreachableError, match=r"leaves api\.github\.com"):
        GitHubApi(http).installation_repositories("ghs_x")
    assert http.urls == ["https://api.github.com/installation/repositories"]
