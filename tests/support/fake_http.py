"""What the provider fakes share: parsing a request body, and a handler that serves every method through
`fake.handle(method, path, lower-case headers, raw body) -> (status, headers, body)`."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs


def parse_body(headers: dict[str, str], raw: bytes) -> Any:
    """A form as {name: last value}, JSON parsed, anything else as text; None when empty."""
    if not raw:
        return None
    if "application/x-www-form-urlencoded" in headers.get("content-type", ""):
        return {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


class FakeHandler(BaseHTTPRequestHandler):
    fake: Any  # set by a subclass per server: the object whose `handle` answers
    protocol_version = "HTTP/1.1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, reply_headers, body = self.fake.handle(self.command, self.path, headers, raw)
        self.send_response(status)
        for name, value in reply_headers.items():
            self.send_header(name, value)
        if status != 204:  # HTTP: a 204 has neither a body nor a length
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status != 204:
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
