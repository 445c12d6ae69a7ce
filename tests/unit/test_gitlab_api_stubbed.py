"""GitLabApi's pure pieces and a scripted HTTP client: path encoding, next-page headers and links, error messages in
every shape GitLab answers. The calls against the fake GitLab are in tests/functional/test_gitlab_api.py."""

from __future__ import annotations

from typing import Any

import pytest

from gitconnect.domain.errors import UnprocessableError
from gitconnect.providers.base import HttpResponse
from gitconnect.providers.gitlab.api import GitLabApi, gitlab_message, next_link, next_page, segment


def test_path_segments_are_url_encoded() -> None:
    assert segment("acme/platform/web") == "acme%2Fplatform%2Fweb"
    assert segment("feature/login") == "feature%2Flogin"
    assert segment(42) == "42"
    with pytest.raises(UnprocessableError):
        segment("")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-next-page": "3", "link": '<https://h/api/v4/x?page=9>; rel="next"'}, {"page": "3"}),
        ({"x-next-page": "", "link": '<https://h/api/v4/x?page=1>; rel="first"'}, None),
        ({"link": '<https://h/api/v4/x?page_token=b&per_page=2>; rel="next"'}, {"page_token": "b", "per_page": "2"}),
        ({"link": '<https://h/x?page=1>; rel="prev", <https://h/x?page=3&per_page=20>; rel="next"'},
         {"page": "3", "per_page": "20"}),
        ({}, None),
    ],
)
def test_next_page_prefers_x_next_page_then_link(headers: dict[str, str], expected: dict[str, str] | None) -> None:
    assert next_page(HttpResponse(200, headers, b"[]")) == expected


def test_next_link_reads_rel_next_only() -> None:
    assert next_link('<https://a/x?page=2>; rel="next", <https://a/x?page=5>; rel="last"') == "https://a/x?page=2"
    assert next_link('<https://a/x?a=1,2&page=2>; title="a, b"; rel="next"') == "https://a/x?a=1,2&page=2"
    assert next_link('<https://a/x?page=1>; rel="first"') is None
    assert next_link(None) is None


def test_gitlab_messages_are_read_from_every_error_shape() -> None:
    assert gitlab_message(HttpResponse(404, {}, b'{"message":"404 Project Not Found"}')) == "404 Project Not Found"
    assert gitlab_message(HttpResponse(400, {}, b'{"error":"url is missing"}')) == "url is missing"
    validation = b'{"message":{"url":["is blocked: Requests to localhost are not allowed"]}}'
    assert gitlab_message(HttpResponse(422, {}, validation)) == "url is blocked: Requests to localhost are not allowed"
    oauth = b'{"error":"invalid_token","error_description":"Token is expired."}'
    assert gitlab_message(HttpResponse(401, {}, oauth)) == "Token is expired."
    assert gitlab_message(HttpResponse(502, {}, b"<html>Bad Gateway</html>")) == "HTTP 502"


class _Scripted:
    """An HttpClient answering from a list, recording where it was sent."""

    def __init__(self, *responses: HttpResponse) -> None:
        self.responses = list(responses)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        self.calls.append((url, dict(kwargs.get("params") or {})))
        return self.responses.pop(0)


def test_x_next_page_alone_is_followed() -> None:
    http = _Scripted(HttpResponse(200, {"x-next-page": "2"}, b'[{"id": 1}]'),
                     HttpResponse(200, {"x-next-page": ""}, b'[{"id": 2}]'))
    assert GitLabApi(http, "https://git.example.com/").namespaces("t") == [{"id": 1}, {"id": 2}]
    assert http.calls == [("https://git.example.com/api/v4/namespaces", {"per_page": 100}),
                          ("https://git.example.com/api/v4/namespaces", {"per_page": 100, "page": "2"})]
