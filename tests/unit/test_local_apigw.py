"""API Gateway HTTP API emulation: route precedence, payload 2.0 events, response translation."""

from __future__ import annotations

import base64
import json

import pytest

from infra.local import template as tpl
from infra.local.apigw import Route, http_event, match_route, translate_response

ROUTES = [
    Route("Greedy", "ANY", "/v1/teams/{team}/{proxy+}"),
    Route("Repos", "GET", "/v1/teams/{team}/connections/{connection_id}/repositories"),
    Route("AnyRepos", "ANY", "/v1/teams/{team}/connections/{connection_id}/repositories"),
    Route("Literal", "GET", "/v1/teams/{team}/connections/special/repositories"),
    Route("Health", "GET", "/v1/health"),
    Route("Param", "GET", "/v1/{what}"),
    Route("Status", "POST", "/v1/builds/{build_id}/status"),
]


@pytest.mark.parametrize(("method", "path", "expected", "params"), [
    ("GET", "/v1/health", "Health", {}),  # literal beats {what}
    ("GET", "/v1/other", "Param", {"what": "other"}),
    ("GET", "/v1/teams/t1/connections/c1/repositories", "Repos", {"team": "t1", "connection_id": "c1"}),
    ("POST", "/v1/teams/t1/connections/c1/repositories", "AnyRepos", {"team": "t1", "connection_id": "c1"}),
    ("GET", "/v1/teams/t1/connections/special/repositories", "Literal", {"team": "t1"}),
    ("DELETE", "/v1/teams/t1/connections/c1", "Greedy", {"team": "t1", "proxy": "connections/c1"}),
    ("GET", "/v1/teams/t%201/a%2Fb/c", "Greedy", {"team": "t 1", "proxy": "a/b/c"}),
    ("POST", "/v1/builds/b1/status", "Status", {"build_id": "b1"}),
])
def test_route_precedence(method: str, path: str, expected: str, params: dict) -> None:
    found = match_route(ROUTES, method, path)
    assert found is not None
    route, got = found
    assert (route.function_id, got) == (expected, params)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/builds/b1/status"),  # method not declared
    ("GET", "/v1/teams/t1"),  # {proxy+} needs at least one segment
    ("GET", "/v1/teams/t1/"),
    ("GET", "/v1//"),  # an empty segment is no {param}
    ("GET", "/nope"),
])
def test_no_route_is_none(method: str, path: str) -> None:
    assert match_route(ROUTES, method, path) is None


def test_default_route_catches_the_rest() -> None:
    routes = [*ROUTES, Route("Default", "", "")]
    route, _ = match_route(routes, "PUT", "/anything/at/all")  # type: ignore[misc]
    assert (route.function_id, route.route_key) == ("Default", "$default")
    assert match_route(routes, "GET", "/v1/health")[0].function_id == "Health"  # type: ignore[index]


def test_template_routes_pick_repo_listing_over_the_greedy_team_api() -> None:
    routes = [Route(r.function_id, r.method, r.path) for r in tpl.http_routes(tpl.load_template())]
    assert match_route(routes, "GET", "/v1/teams/demo/connections/c1/branches")[0].function_id == "RepoListingFunction"  # type: ignore[index]
    assert match_route(routes, "GET", "/v1/teams/demo/connections")[0].function_id == "ConnectionsFunction"  # type: ignore[index]
    # The template's $default route: unknown paths reach our handler (a 404/405 problem), not API Gateway's own 404.
    route, _ = match_route(routes, "GET", "/v1/unknown")  # type: ignore[misc]
    assert (route.function_id, route.route_key) == ("ConnectionsFunction", "$default")


# ---------------------------------------------------------------------------------------------------- events

GREEDY = ROUTES[0]


def test_http_event_has_the_v2_shape() -> None:
    headers = [("Host", "api.local"), ("User-Agent", "curl/8"), ("X-Multi", "1"), ("x-multi", "2"),
               ("Cookie", "a=1; b=2"), ("Content-Type", "application/json")]
    event = http_event("post", "/v1/teams/demo/connections/c%201", headers, b'{"k": "v"}', "q=1&q=2&e=&s=a%20b",
                       GREEDY, source_ip="10.0.0.9", domain_name="api.local", request_id="rid", now=1700000000.5)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /v1/teams/{team}/{proxy+}"
    assert event["rawPath"] == "/v1/teams/demo/connections/c%201"
    assert event["rawQueryString"] == "q=1&q=2&e=&s=a%20b"
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["x-multi"] == "1,2"
    assert event["headers"]["content-type"] == "application/json"
    assert "cookie" not in event["headers"]
    assert all(name == name.lower() for name in event["headers"])
    assert event["queryStringParameters"] == {"q": "1,2", "e": "", "s": "a b"}
    assert event["pathParameters"] == {"team": "demo", "proxy": "connections/c 1"}
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": "v"}', False)
    ctx = event["requestContext"]
    assert ctx["http"] == {"method": "POST", "path": "/v1/teams/demo/connections/c%201", "protocol": "HTTP/1.1",
                           "sourceIp": "10.0.0.9", "userAgent": "curl/8"}
    assert (ctx["requestId"], ctx["routeKey"], ctx["stage"]) == ("rid", event["routeKey"], "$default")
    assert (ctx["timeEpoch"], ctx["time"]) == (1700000000500, "14/Nov/2023:22:13:20 +0000")
    assert (ctx["domainName"], ctx["accountId"], ctx["apiId"]) == ("api.local", "123456789012", "local")


def test_binary_body_is_base64_and_empty_parts_are_absent() -> None:
    event = http_event("POST", "/v1/teams/t/x", {}, b"\xff\x00\xfe", None, GREEDY)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00\xfe"
    bare = http_event("GET", "/v1/health", {}, None, None, Route("H", "GET", "/v1/health"))
    for key in ("body", "cookies", "queryStringParameters", "pathParameters"):
        assert key not in bare
    assert bare["rawQueryString"] == ""


def test_query_in_path_is_split_off() -> None:
    event = http_event("GET", "/v1/teams/t/x?a=1", {}, None, None, GREEDY)
    assert (event["rawPath"], event["rawQueryString"]) == ("/v1/teams/t/x", "a=1")


# ---------------------------------------------------------------------------------------------------- responses


def test_plain_values_are_200_json() -> None:
    for value in ({"status": "ok"}, "hello", [1, 2], None):
        resp = translate_response(value)
        assert resp.status == 200
        assert ("content-type", "application/json") in resp.headers
        assert json.loads(resp.body) == value


def test_full_response_with_headers_cookies_and_base64() -> None:
    resp = translate_response({
        "statusCode": 201, "headers": {"Location": "/x", "X-Flag": True},
        "multiValueHeaders": {"X-Many": ["1", "2"]}, "cookies": ["a=1; HttpOnly", "b=2"],
        "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True,
    })
    assert resp.status == 201
    assert resp.body == b"\x00\x01"
    assert resp.headers == [("Location", "/x"), ("X-Flag", "true"), ("X-Many", "1"), ("X-Many", "2"),
                            ("set-cookie", "a=1; HttpOnly"), ("set-cookie", "b=2")]
    assert translate_response({"statusCode": 204}).body == b""
    assert translate_response({"statusCode": "302", "body": "moved"}).status == 302


@pytest.mark.parametrize("bad", [
    {"statusCode": "abc"}, {"statusCode": 700}, {"statusCode": 200, "body": "!!", "isBase64Encoded": True},
    {"statusCode": 200, "headers": "nope"}, {1, 2},
])
def test_unusable_responses_are_500(bad: object) -> None:
    resp = translate_response(bad)
    assert (resp.status, json.loads(resp.body)) == (500, {"message": "Internal Server Error"})
