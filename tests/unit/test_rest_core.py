"""The REST core the provider API clients share (gitconnect.providers.rest), with no network: a stub HttpClient
answers from a script. Status → error mapping for every provider, each pagination strategy, the Link parser and
the same-origin rule for followed `next` links."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from gitconnect.domain.errors import (
    ConflictError,
    GitconnectError,
    NotFoundError,
    RateLimitedError,
    RemoteAuthError,
    RemoteUnreachableError,
    UnprocessableError,
)
from gitconnect.providers.base import HttpResponse
from gitconnect.providers.bitbucket.api import BITBUCKET
from gitconnect.providers.github.api import GITHUB
from gitconnect.providers.gitlab.api import GITLAB
from gitconnect.providers.rest import (
    BodyNext,
    Dialect,
    LinkHeader,
    ListTooLongError,
    NextPageHeader,
    RestClient,
    next_link,
    retry_after,
    same_origin,
    segment,
    segments,
    without_none,
)

NOW = 1_700_000_000.0
API = "https://api.example.com/v4"


def _answer(status: int = 200, body: Any = None, headers: Mapping[str, str] | None = None) -> HttpResponse:
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return HttpResponse(status, dict(headers or {}), raw)


class StubHttp:
    """An HttpClient answering from a script, recording every request."""

    def __init__(self, *answers: HttpResponse) -> None:
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        self.sent.append({"method": method, "url": url, "headers": dict(headers or {}),
                          "params": None if params is None else dict(params), "json": json_body, "form": form})
        assert self.answers, f"{method} {url}: the script has no more answers"
        return self.answers.pop(0)

    @property
    def urls(self) -> list[str]:
        return [s["url"] for s in self.sent]


def _message(response: HttpResponse) -> str:
    body = json.loads(response.body) if response.body.startswith(b"{") else {}
    return str(body.get("message") or f"HTTP {response.status}")


CORE = Dialect("Remote", _message, LinkHeader())


def _client(*answers: HttpResponse, dialect: Dialect = CORE, max_pages: int = 100) -> tuple[RestClient, StubHttp]:
    http = StubHttp(*answers)
    return RestClient(http, API, dialect, max_pages=max_pages, clock=lambda: NOW), http


# -- status → error ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [GITHUB, GITLAB, BITBUCKET], ids=lambda d: d.name)
@pytest.mark.parametrize(
    ("status", "error", "wording"),
    [
        (400, UnprocessableError, "refused"),  # GitLab, Bitbucket: bad parameters; GitHub: a body it cannot parse
        (401, RemoteAuthError, "refused the credentials"),
        (403, RemoteAuthError, "did not allow"),
        (404, NotFoundError, "answered"),
        (409, ConflictError, "refused"),
        (422, UnprocessableError, "refused"),  # GitHub: "Validation Failed"
        (429, RateLimitedError, "rate limiting"),
        (500, RemoteUnreachableError, "failed to answer"),
        (502, RemoteUnreachableError, "failed to answer"),
        (503, RemoteUnreachableError, "failed to answer"),
        (555, RemoteUnreachableError, "failed to answer"),  # Bitbucket: a diff that timed out
        (410, RemoteUnreachableError, "answered the thing with HTTP 410"),
        (304, RemoteUnreachableError, "answered the thing with HTTP 304"),
    ],
)
def test_each_status_is_one_error_for_every_provider(
    dialect: Dialect, status: int, error: type[GitconnectError], wording: str
) -> None:
    with pytest.raises(GitconnectError) as raised:
        dialect.raise_for_status(_answer(status, b"<html>oops</html>"), "the thing", now=NOW)
    assert type(raised.value) is error  # exactly: RemoteUnreachableError is also an UnprocessableError
    assert wording in raised.value.detail
    assert dialect.name in raised.value.detail


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_no_error(status: int) -> None:
    CORE.raise_for_status(_answer(status), "the thing", now=NOW)


def test_the_providers_own_message_is_in_the_detail_and_not_found_can_be_reworded() -> None:
    with pytest.raises(UnprocessableError, match=r"Remote refused the thing: Validation Failed"):
        CORE.raise_for_status(_answer(422, {"message": "Validation Failed"}), "the thing", now=NOW)
    with pytest.raises(NotFoundError, match=r"^the repo is gone$"):
        CORE.raise_for_status(_answer(404), "the thing", not_found="the repo is gone", now=NOW)
    with pytest.raises(ConflictError, match="the thing") as conflict:  # not_found is for a 404 only
        CORE.raise_for_status(_answer(409), "the thing", not_found="the repo is gone", now=NOW)
    assert "gone" not in conflict.value.detail


def test_gitlab_oauth_codes_go_into_auth_errors_only() -> None:
    expired = _answer(401, {"error": "invalid_token", "error_description": "Token is expired."})
    with pytest.raises(RemoteAuthError, match="Token is expired") as raised:
        GITLAB.raise_for_status(expired, "the user", now=NOW)
    assert raised.value.extra == {"error": "invalid_token"}
    with pytest.raises(UnprocessableError) as bad:
        GITLAB.raise_for_status(_answer(400, {"error": "url is missing"}), "a hook", now=NOW)
    assert bad.value.extra == {}


@pytest.mark.parametrize(
    ("status", "headers", "body", "wait"),
    [
        (429, {"retry-after": "30"}, None, 30.0),
        (429, {"retry-after": "Tue, 14 Nov 2023 22:13:40 GMT"}, None, 20.0),  # an HTTP date, 20 s after NOW
        (429, {}, None, None),  # Bitbucket: no hint
        (429, {"ratelimit-reset": str(int(NOW) + 90)}, None, 90.0),  # GitLab
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 120)}, None, 120.0),  # GitHub
        (403, {"retry-after": "60"}, None, 60.0),  # GitHub's secondary limit
        (403, {}, {"message": "You have exceeded a secondary rate limit"}, None),
        (429, {"x-ratelimit-reset": str(int(NOW) - 5)}, None, 0.0),  # already reset
    ],
)
def test_rate_limits_carry_the_wait_until_the_reset(
    status: int, headers: dict[str, str], body: Any, wait: float | None
) -> None:
    with pytest.raises(RateLimitedError) as raised:
        CORE.raise_for_status(_answer(status, body, headers), "the thing", now=NOW)
    assert raised.value.retry_after == wait


def test_a_plain_403_is_a_refusal_not_a_rate_limit() -> None:
    with pytest.raises(RemoteAuthError):
        CORE.raise_for_status(_answer(403, {"message": "Resource not accessible by integration"}), "x", now=NOW)
    with pytest.raises(RemoteAuthError):
        CORE.raise_for_status(_answer(403, None, {"x-ratelimit-remaining": "4999"}), "x", now=NOW)


def test_retry_after_prefers_retry_after_to_the_reset_time() -> None:
    assert retry_after({"retry-after": "5", "x-ratelimit-reset": str(int(NOW) + 100)}, NOW) == 5.0
    assert retry_after({"retry-after": "soon", "x-ratelimit-reset": str(int(NOW) + 100)}, NOW) == 100.0
    assert retry_after({}, NOW) is None


# -- request: missing, decoding, headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "missing", "expected"),
    [
        (_answer(404), {404}, None),
        (_answer(409), {404, 409}, None),
        (_answer(200, {"a": 1}), {404}, {"a": 1}),
        (_answer(404, {"message": "Not Found"}), lambda r: _message(r) == "Not Found", None),
        (_answer(503), lambda r: r.status >= 500, None),
        (_answer(200, {"a": 1}), lambda r: True, {"a": 1}),  # a 2xx is never "missing"
    ],
)
def test_missing_answers_are_none_where_the_caller_asks(answer: HttpResponse, missing: Any, expected: Any) -> None:
    rest, _ = _client(answer)
    assert rest.request("GET", "/x", "t", "the thing", missing=missing) == expected


def test_an_answer_not_named_missing_still_raises() -> None:
    rest, _ = _client(_answer(404, {"message": "No commit found for the ref"}))
    with pytest.raises(NotFoundError, match="No commit found"):
        rest.request("GET", "/x", "t", "the thing", missing=lambda r: _message(r) == "Not Found")


@pytest.mark.parametrize(("body", "match"), [(b"", "without a body"), (b"<html>", "not JSON"), (b"\xff", "not JSON")])
def test_a_2xx_without_json_is_unreachable(body: bytes, match: str) -> None:
    rest, _ = _client(_answer(200, body))
    with pytest.raises(RemoteUnreachableError, match=match):
        rest.request("GET", "/x", "t", "the thing")


def test_done_says_whether_the_remote_did_it() -> None:
    rest, http = _client(_answer(204), _answer(404), _answer(422), _answer(404))
    assert rest.done("DELETE", "/hooks/1", "t", "deleting hook 1") is True
    assert rest.done("DELETE", "/hooks/1", "t", "deleting hook 1") is False
    assert rest.done("POST", "/hooks/1/test", "t", "a test", missing={422}) is False
    with pytest.raises(NotFoundError, match="hook 1 not found"):
        rest.done("POST", "/hooks/1/test", "t", "a test", missing={422}, not_found="hook 1 not found")
    assert [s["method"] for s in http.sent] == ["DELETE", "DELETE", "POST", "POST"]


def test_requests_carry_the_dialects_headers_and_authorization() -> None:
    answers = [_answer(200, {}) for _ in range(4)]
    for dialect, token, authorization in [
        (GITHUB, "ghs_x", "Bearer ghs_x"),
        (GITLAB, "glpat-x", "Bearer glpat-x"),
        (BITBUCKET, "Basic dXNlcjp0b2tlbg==", "Basic dXNlcjp0b2tlbg=="),  # Bitbucket: the header value as given
    ]:
        rest, http = _client(*answers[:1], dialect=dialect)
        rest.request("POST", "/a/b", token, "the thing", json_body={"k": "v"}, params={"q": 1})
        [sent] = http.sent
        assert sent["url"] == f"{API}/a/b"
        assert sent["headers"]["Authorization"] == authorization
        assert sent["headers"]["User-Agent"] == "gitconnect"
        assert (sent["json"], sent["params"]) == ({"k": "v"}, {"q": 1})
    assert GITHUB.headers["X-GitHub-Api-Version"] == "2022-11-28"
    rest, http = _client(answers[3])
    rest.request("GET", "/version", None, "the version")
    assert "Authorization" not in http.sent[0]["headers"]  # no token, no header


# -- pagination -------------------------------------------------------------------------------------------------------


def test_github_follows_the_link_header_as_given() -> None:
    page2, page3 = "https://api.example.com/v4/repositories/7/branches?page=2", "https://api.example.com/v4/x?page=3"
    rest, http = _client(
        _answer(200, [1, 2], {"link": f'<{page2}>; rel="next", <{page3}>; rel="last"'}),
        _answer(200, [3, 4], {"link": f'<{page3}>; rel="next"'}),
        _answer(200, [5], {"link": f'<{page2}>; rel="prev"'}),
        dialect=Dialect("GitHub", _message, LinkHeader(per_page=2)),
    )
    assert rest.pages("/repos/o/r/branches", "t", "the branches", params={"sort": "x"}) == [1, 2, 3, 4, 5]
    assert http.urls == [f"{API}/repos/o/r/branches", page2, page3]
    assert [s["params"] for s in http.sent] == [{"sort": "x", "per_page": 2}, None, None]  # the link says it all


def test_github_items_under_a_key() -> None:
    rest, _ = _client(_answer(200, {"total_count": 2, "repositories": [{"id": 1}, {"id": 2}]}))
    assert rest.pages("/installation/repositories", "t", "repos", items_key="repositories") == [{"id": 1}, {"id": 2}]


def test_gitlab_follows_x_next_page_with_our_own_parameters() -> None:
    rest, http = _client(
        _answer(200, [1], {"x-next-page": "2", "link": '<https://elsewhere.example/x?page=2>; rel="next"'}),
        _answer(200, [2], {"x-next-page": ""}),
        dialect=Dialect("GitLab", _message, NextPageHeader()),
    )
    assert rest.pages("/projects", "t", "the projects", params={"membership": "true"}) == [1, 2]
    assert http.urls == [f"{API}/projects", f"{API}/projects"]
    assert [s["params"] for s in http.sent] == [{"membership": "true", "per_page": 100},
                                                {"membership": "true", "per_page": 100, "page": "2"}]


def test_gitlab_keyset_links_are_reused_on_our_own_url_even_from_another_host() -> None:
    """GitLab builds Link on its external_url: only the query is taken, the token stays on our URL."""
    elsewhere = "https://gitlab.example.com/api/v4/projects/1/repository/branches"
    link = f'<{elsewhere}?page_token=b&pagination=keyset>; rel="next"'
    rest, http = _client(
        _answer(200, [1], {"link": link}),
        _answer(200, [], {}),
        dialect=Dialect("GitLab", _message, NextPageHeader()),
    )
    assert rest.pages("/projects/1/repository/branches", "t", "branches", params={"pagination": "keyset"}) == [1]
    assert http.urls == [f"{API}/projects/1/repository/branches"] * 2
    assert http.sent[1]["params"] == {"page_token": "b", "pagination": "keyset"}


def test_bitbucket_follows_next_in_the_body() -> None:
    page2 = f"{API}/repositories/ws?pagelen=100&page=2&role=member"
    rest, http = _client(
        _answer(200, {"values": [1, 2], "next": page2}),
        _answer(200, {"values": [3]}),
        dialect=Dialect("Bitbucket", _message, BodyNext()),
    )
    assert rest.pages("/repositories/ws", "t", "repos", params={"role": "member"}) == [1, 2, 3]
    assert http.urls == [f"{API}/repositories/ws", page2]
    assert [s["params"] for s in http.sent] == [{"role": "member", "pagelen": 100}, None]


@pytest.mark.parametrize(
    ("strategy", "page"),
    [
        (LinkHeader(), lambda n: _answer(200, [n], {"link": f'<{API}/x?page={n + 1}>; rel="next"'})),
        (NextPageHeader(), lambda n: _answer(200, [n], {"x-next-page": str(n + 1)})),
        (BodyNext(), lambda n: _answer(200, {"values": [n], "next": f"{API}/x?page={n + 1}"})),
    ],
    ids=["link", "x-next-page", "body-next"],
)
def test_pagination_is_bounded_and_says_so(strategy: Any, page: Any) -> None:
    """A list longer than max_pages is an error naming the bound, never a silently short list."""
    rest, http = _client(*(page(n) for n in range(1, 4)), dialect=Dialect("R", _message, strategy), max_pages=3)
    with pytest.raises(ListTooLongError, match="more than 3 pages"):
        rest.pages("/x", "t", "the list")
    assert len(http.sent) == 3


def test_a_list_of_exactly_max_pages_is_read_whole() -> None:
    pages = [_answer(200, [1], {"link": f'<{API}/x?page=2>; rel="next"'}), _answer(200, [2])]
    rest, http = _client(*pages, dialect=Dialect("R", _message, LinkHeader()), max_pages=2)
    assert rest.pages("/x", "t", "the list") == [1, 2]
    assert len(http.sent) == 2


@pytest.mark.parametrize(
    ("strategy", "body"),
    [(LinkHeader(), {"not": "a list"}), (NextPageHeader(), {"message": "x"}), (BodyNext(), [1, 2]),
     (LinkHeader(items_key="repositories"), [1])],
)
def test_a_page_of_another_shape_is_unreachable(strategy: Any, body: Any) -> None:
    rest, _ = _client(_answer(200, body), dialect=Dialect("R", _message, strategy))
    with pytest.raises(RemoteUnreachableError, match="unexpected shape"):
        rest.pages("/x", "t", "the list")


def test_an_error_page_raises_as_any_request() -> None:
    rest, _ = _client(_answer(200, [1], {"link": f'<{API}/x?page=2>; rel="next"'}), _answer(500, {"message": "boom"}))
    with pytest.raises(RemoteUnreachableError, match="boom"):
        rest.pages("/x", "t", "the list")


@pytest.mark.parametrize(
    ("strategy", "answer"),
    [
        (LinkHeader(), _answer(200, [1], {"link": '<https://evil.example/steal?page=2>; rel="next"'})),
        (BodyNext(), _answer(200, {"values": [1], "next": "https://evil.example/2.0/steal?page=2"})),
        (BodyNext(), _answer(200, {"values": [1], "next": "http://api.example.com/v4/x?page=2"})),  # a downgrade
    ],
    ids=["github-link", "bitbucket-next", "bitbucket-http"],
)
def test_a_next_link_off_the_api_origin_is_never_followed(strategy: Any, answer: HttpResponse) -> None:
    rest, http = _client(answer, dialect=Dialect("R", _message, strategy))
    with pytest.raises(RemoteUnreachableError, match=r"pagination link for the list leaves api\.example\.com"):
        rest.pages("/x", "t", "the list")
    assert http.urls == [f"{API}/x"]  # the token went nowhere else


# -- the Link parser --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://a/x?page=2>; rel="next", <https://a/x?page=5>; rel="last"', "https://a/x?page=2"),
        ('<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next"', "https://a/x?page=3"),
        ('<https://a/x?page=4>; rel="prev", <https://a/x?page=1>; rel="first"', None),
        ("<https://a/x?page=2>; rel=next", "https://a/x?page=2"),
        ("<https://a/x?page=2>; REL=NEXT", "https://a/x?page=2"),
        ('<https://a/x?page=2>;rel="next last"', "https://a/x?page=2"),
        ('<https://a/x?a=1,2&page=2>; title="a, b"; rel="next"', "https://a/x?a=1,2&page=2"),
        ('<https://a/x?p=1>; title="rel=\\"next\\", sneaky"; rel="prev", <https://a/x?p=2>; rel="next"',
         "https://a/x?p=2"),
        ('<https://a/x?p=1>; rel="nextish", <https://a/x?p=2>; rel="next"', "https://a/x?p=2"),
        ('< https://a/x?p=2 >; rel="next"', "https://a/x?p=2"),
        ('<https://a/x?p=2; rel="next"', None),  # no closing bracket
        ("<https://a/x?p=2>", None),  # no rel at all
        ("", None),
        (None, None),
    ],
)
def test_the_link_parser(header: str | None, expected: str | None) -> None:
    assert next_link(header) == expected


# -- the same-origin rule ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/v4/x?page=2", True),
        ("https://api.example.com/repositories/7?page=2", True),  # another path on the same origin
        ("https://API.Example.com/v4/x", True),  # host names are case-insensitive
        ("https://evil.example/v4/x", False),
        ("http://api.example.com/v4/x", False),  # a downgrade to plain HTTP
        ("https://api.example.com:8443/v4/x", False),
        ("https://api.example.com:443/v4/x", False),  # another spelling of the origin: exact, as before
        ("https://api.example.com.evil.example/v4/x", False),
        ("https://api.example.com@evil.example/v4/x", False),
        ("https://user:pw@api.example.com/v4/x", False),  # user info is never sent along
        ("//api.example.com/v4/x", False),  # scheme-relative
        ("/v4/x?page=2", False),  # relative
        ("https://api.exa\tmple.com/v4/x", False),  # urlsplit drops the tab; another parser may not
        ("https://api.example.com/v4/x\n", False),
        ("https://api.example.com\\@evil.example/", False),
        ("https://[::1/v4/x", False),  # unparseable
        ("https://api.example.com/v4/x\u00e9", False),  # not ASCII
        ("", False),
    ],
)
def test_the_same_origin_rule(url: str, expected: bool) -> None:
    assert same_origin(url, API) is expected


# -- path segments ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("feature/login", "feature%2Flogin"), ("group/sub/app", "group%2Fsub%2Fapp"), ("a b?#%", "a%20b%3F%23%25"),
     ("...", "..."), ("é", "%C3%A9"), (42, "42"), ("{uuid}", "%7Buuid%7D")],
)
def test_segment_quotes_one_path_segment(value: str | int, expected: str) -> None:
    assert segment(value) == expected


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_a_segment_that_is_empty_or_moves_the_request_is_refused(value: str) -> None:
    with pytest.raises(UnprocessableError):
        segment(value)


@pytest.mark.parametrize("path", ["../../user", "docs/../../x", "./a", "a/."])
def test_a_file_path_that_moves_the_request_is_refused(path: str) -> None:
    with pytest.raises(UnprocessableError):
        segments(path)


def test_file_paths_keep_their_slashes() -> None:
    assert segments("docs/..a/b..") == "docs/..a/b.."
    assert segments("docs/a b/c#d.md") == "docs/a%20b/c%23d.md"
    assert segments("") == ""


def test_request_bodies_leave_out_the_fields_not_given() -> None:
    assert without_none(state="pending", target_url=None, description="", name=None) == {
        "state": "pending", "description": ""}
