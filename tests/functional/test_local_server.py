"""The local API Gateway over real sockets, with stub handlers: routing, error mapping, bodies."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.apigw import Route
from infra.local.lambdas import LocalFunction
from infra.local.server import ApiServer
from infra.local.template import FunctionSpec

SECRET_IN_TRACEBACK = "do-not-leak-this-traceback"


def _echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event["rawPath"].endswith("/boom"):
        raise RuntimeError(SECRET_IN_TRACEBACK)
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event["isBase64Encoded"] else body.encode()
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "cookies": ["s=1"],
            "body": json.dumps({"routeKey": event["routeKey"], "params": event.get("pathParameters"),
                                "len": len(raw), "b64": event["isBase64Encoded"], "fn": context.function_name})}


@pytest.fixture
def server() -> Iterator[ApiServer]:
    spec = FunctionSpec("Echo", "x/", "app.handler", 30, 128, {})
    functions = {"Echo": LocalFunction(spec, name="local-Echo", arn="arn:echo", loader=lambda s: _echo)}
    routes = [Route("Echo", "ANY", "/v1/teams/{team}/{proxy+}"), Route("Echo", "GET", "/v1/health")]
    srv = ApiServer(("127.0.0.1", 0), routes, functions)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _call(srv: ApiServer, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None, chunked: bool = False) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    conn.request(method, path, body=iter([body]) if chunked else body, headers=headers or {},
                 encode_chunked=chunked)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def test_routes_to_the_function_with_a_v2_event(server: ApiServer) -> None:
    status, headers, body = _call(server, "PUT", "/v1/teams/demo/sources/s1", b'{"a": 1}')
    assert status == 200
    assert json.loads(body) == {"routeKey": "ANY /v1/teams/{team}/{proxy+}",
                                "params": {"team": "demo", "proxy": "sources/s1"}, "len": 8, "b64": False,
                                "fn": "local-Echo"}
    assert headers["set-cookie"] == "s=1"
    assert headers["apigw-requestid"]


def test_unknown_route_is_apigateways_404(server: ApiServer) -> None:
    status, _, body = _call(server, "GET", "/v2/nothing")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    assert _call(server, "POST", "/v1/health")[0] == 404  # declared for GET only


def test_handler_exception_is_a_bare_500(server: ApiServer, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, body = _call(server, "GET", "/v1/teams/demo/boom")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert SECRET_IN_TRACEBACK.encode() not in body
    assert SECRET_IN_TRACEBACK in capsys.readouterr().err  # the traceback goes to the runner's stderr


def test_binary_and_chunked_bodies(server: ApiServer) -> None:
    payload = bytes(range(256)) * 40
    status, _, body = _call(server, "POST", "/v1/teams/demo/upload", payload)
    assert (status, json.loads(body)["len"], json.loads(body)["b64"]) == (200, len(payload), True)
    status, _, body = _call(server, "POST", "/v1/teams/demo/upload", b"x" * 5000, chunked=True)
    assert (status, json.loads(body)["len"]) == (200, 5000)


def test_head_has_no_body(server: ApiServer) -> None:
    status, headers, body = _call(server, "HEAD", "/v1/teams/demo/x")
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) > 0
    assert _call(server, "HEAD", "/v1/health")[0] == 404  # a GET route does not take HEAD
