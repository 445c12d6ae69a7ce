"""The local API Gateway: a ThreadingHTTPServer that routes each request to its function's handler."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.local import apigw
from infra.local.lambdas import LocalFunction, report_exception

log = logging.getLogger("infra.local")


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], routes: list[apigw.Route],
                 functions: Mapping[str, LocalFunction], *, account_id: str = apigw.LOCAL_ACCOUNT_ID) -> None:
        super().__init__(address, _Handler)
        self.routes = routes
        self.functions = functions
        self.account_id = account_id

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries a Content-Length

    def _serve(self) -> None:
        started = time.monotonic()
        request_id = apigw._request_id()
        path, _, query = self.path.partition("?")
        function_id = "-"
        try:
            body = self._read_body()
        except ValueError as exc:
            response = apigw.json_error(413, "Request Entity Too Large") if str(exc) == "too large" \
                else apigw.json_error(400, "Bad Request")
        else:
            found = apigw.match_route(self.server.routes, self.command, path)
            if found is None:
                response = apigw.NOT_FOUND
            else:
                route, _ = found
                function_id = route.function_id
                response = self._invoke(route, path, query, body, request_id)
        self._send(response, request_id)
        log.info("%s %s -> %d (%s, %.0f ms)", self.command, self.path, response.status, function_id,
                 (time.monotonic() - started) * 1000)

    def _invoke(self, route: apigw.Route, path: str, query: str, body: bytes, request_id: str) -> apigw.HttpResponse:
        event = apigw.http_event(
            self.command, path, self.headers.items(), body, query, route,
            source_ip=self.client_address[0], domain_name=self.headers.get("host", "127.0.0.1"),
            request_id=request_id, account_id=self.server.account_id,
        )
        try:
            result: Any = self.server.functions[route.function_id].invoke(event)
        except Exception:
            report_exception(f"{route.function_id} ({route.route_key})")
            return apigw.internal_error()
        return apigw.translate_response(result)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > apigw.MAX_REQUEST_BYTES:
                    raise ValueError("too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        if length > apigw.MAX_REQUEST_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            raise ValueError("too large")
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: apigw.HttpResponse, request_id: str) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            self.send_header(name, value)
        self.send_header("apigw-requestid", request_id)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is logged by _serve
