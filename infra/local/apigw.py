"""API Gateway HTTP API emulation: route matching, payload format 2.0 events, and response translation.

Pure functions (no sockets): the HTTP server in ``server.py`` and the unit tests both use them.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from infra.local.resources import LOCAL_ACCOUNT_ID

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit


@dataclass(frozen=True)
class Route:
    function_id: str
    method: str  # upper case, "ANY", or "" for the $default route
    path: str  # "/v1/teams/{team}/{proxy+}", or "" for the $default route
    _segments: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_segments", tuple(self.path.split("/")[1:]) if self.path else ())

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}" if self.path else "$default"

    @property
    def is_default(self) -> bool:
        return not self.path

    @property
    def greedy(self) -> bool:
        return bool(self._segments) and self._segments[-1].endswith("+}")

    def path_params(self, path: str) -> dict[str, str] | None:
        """The path parameters if ``path`` (raw, percent-encoded, without query) fits this route, else None."""
        if self.is_default:
            return {}
        parts = path.split("/")[1:] if path.startswith("/") else None
        if parts is None:
            return None
        fixed = self._segments[:-1] if self.greedy else self._segments
        if len(parts) < len(fixed) or (not self.greedy and len(parts) != len(fixed)):
            return None
        params: dict[str, str] = {}
        for pattern, part in zip(fixed, parts, strict=False):
            if _is_param(pattern):
                if not part:
                    return None
                params[pattern[1:-1]] = unquote(part)
            elif pattern != unquote(part):
                return None
        if self.greedy:
            rest = "/".join(parts[len(fixed):])
            if not rest:  # {proxy+} needs at least one character
                return None
            params[self._segments[-1][1:-2]] = unquote(rest)
        return params

    def accepts(self, method: str) -> bool:
        return self.is_default or self.method in ("ANY", method.upper())

    def priority(self) -> tuple[Any, ...]:
        """Sort key: lower is more specific (API Gateway's order of precedence)."""
        shape = tuple(1 if _is_param(s) else 0 for s in self._segments)  # a literal early beats a literal late
        return (self.is_default, self.greedy, shape.count(1) - len(shape), shape, self.method == "ANY")


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def match_route(routes: Iterable[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route API Gateway would pick: exact method+path first, then most literal segments, greedy, $default."""
    found = []
    for route in routes:
        if not route.accepts(method):
            continue
        params = route.path_params(path)
        if params is not None:
            found.append((route.priority(), route, params))
    if not found:
        return None
    found.sort(key=lambda item: item[0])
    return found[0][1], found[0][2]


# ---------------------------------------------------------------------------------------------------- events

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def http_event(method: str, path: str, headers: Headers, body: bytes | str | None, query: str | None,
               route: Route, *, source_ip: str = "127.0.0.1", domain_name: str = "127.0.0.1",
               request_id: str | None = None, now: float | None = None, stage: str = "$default",
               api_id: str = "local", account_id: str = LOCAL_ACCOUNT_ID) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event, as Lambda receives it.

    ``path`` is the raw request path (percent-encoded; a ``?query`` suffix is split off when ``query`` is None).
    """
    if query is None and "?" in path:
        path, query = path.split("?", 1)
    query = query or ""
    now = time.time() if now is None else now
    request_id = request_id or _request_id()
    merged: dict[str, str] = {}
    cookies: list[str] = []
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        key = name.lower()
        if key == "cookie":  # v2.0 moves cookies to their own field
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    merged.setdefault("x-forwarded-for", source_ip)
    merged.setdefault("x-forwarded-proto", "http")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": merged,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".")[0],
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    path_params = route.path_params(path)
    if path_params:
        event["pathParameters"] = path_params
    if body:
        raw = body.encode() if isinstance(body, str) else body
        try:
            event["body"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(raw).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def _request_id() -> str:
    return base64.b32encode(uuid.uuid4().bytes[:10]).decode().rstrip("=")[:14] + "="


# ---------------------------------------------------------------------------------------------------- responses


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_error(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps({"message": message}).encode())


NOT_FOUND = json_error(404, "Not Found")


def internal_error() -> HttpResponse:
    return json_error(500, "Internal Server Error")


def translate_response(result: Any) -> HttpResponse:
    """What API Gateway sends the client for a handler's return value (payload format 2.0 rules).

    A dict with ``statusCode`` is a full response; anything else that serializes as JSON becomes a 200 JSON body.
    An unusable response is a 500, as API Gateway answers a malformed integration response.
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        try:
            return HttpResponse(200, [("content-type", "application/json")], json.dumps(result).encode())
        except (TypeError, ValueError):
            return internal_error()
    try:
        status = int(result["statusCode"])
        headers = [(str(k), _header_value(v)) for k, v in (result.get("headers") or {}).items()]
        present = {(k.lower(), v) for k, v in headers}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.extend((name, str(v)) for v in values if (name.lower(), str(v)) not in present)
        headers.extend(("set-cookie", str(c)) for c in result.get("cookies") or [])
        body = result.get("body")
        if body is None:
            data = b""
        elif result.get("isBase64Encoded"):
            data = base64.b64decode(body, validate=True)
        else:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
    except (TypeError, ValueError, AttributeError, binascii.Error):
        return internal_error()
    if not 100 <= status <= 599:
        return internal_error()
    return HttpResponse(status, headers, data)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
