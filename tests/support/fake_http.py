"""What the provider fakes share: serving over real HTTP on 127.0.0.1, the request log, fault injection, and the
plumbing of an answer. A fake subclasses `FakeServer` and keeps only its provider's endpoints and documented
behaviour:

- `locate(path)`: the path as logged (without the API prefix), whether it is an API request, and whether it is one of
  the fake's paths at all (faults apply to those, and `answer` answers them; `no_route` the others);
- `answer(method, path, query, headers, body, raw_body, api)`: (status, payload, headers), or `raise Reply(...)`;
- `fault_answer(status, headers, body)`: the body and headers a provider sends with an injected status when the test
  gives none (its own error shapes);
- optionally `common_headers(api)` (what every answer carries), `parse_request_body`, `on_bug` (a bug in the fake:
  answered 500, or raised), `server_version`, `json_type`, `text_type`.

A payload that is a str or bytes is sent as is (`content-type` from the reply's headers, else `text_type`); anything
else is JSON. Every request is in `log` as a `Recorded`, with what it was answered; `requests(...)` filters it.
Faults: `fail_next(path_prefix, status, headers, body)` answers the next matching requests with a status (a 403 rate
limit with Retry-After, a 500, a redirect); `slow_next(path_prefix, seconds)` answers them normally, late.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

# The reason phrases of the fakes' default fault bodies (each provider wraps them in its own error shape).
REASONS = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
HTML = "text/html; charset=utf-8"


def fake_sha(seed: str) -> str:
    """A commit id made from a seed: the same seed, the same sha, in every fake."""
    return hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()


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


def post_webhook(url: str, body: bytes, headers: dict[str, str]) -> int:
    """The provider's side of a webhook delivery: POST these bytes to the URL it was given; the receiver's status
    (0: it could not be reached)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


@dataclass
class Recorded:
    """One request as the fake received it, and what it answered."""

    method: str
    path: str  # as sent (percent-encoded), without the fake's API prefix for API requests
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, a form as {name: value}, text, or None
    api: bool  # False for the web host's routes (OAuth)
    status: int = 0
    response: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    prefix: str
    method: str | None
    status: int | None  # None: answered normally, after `delay`
    headers: dict[str, str]
    body: Any
    delay: float
    times: int


class Reply(Exception):  # a control-flow signal: "answer this now"
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class FakeHandler(BaseHTTPRequestHandler):
    """Serves every method through `fake.handle(method, path, lower-case headers, raw body)`."""

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


class FakeServer:
    """A provider fake's lifecycle, log, faults and answer plumbing. Use as a context manager, or start()/stop()."""

    server_version = "nginx"  # the Server header
    json_type = "application/json; charset=utf-8"
    text_type = "text/plain; charset=utf-8"  # a str or bytes payload without a content-type of its own

    def __init__(self) -> None:
        self.log: list[Recorded] = []
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> Self:
        handler = type(f"{type(self).__name__}Handler", (FakeHandler,),
                       {"fake": self, "server_version": self.server_version})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"fake-{type(self).__name__.removeprefix('Fake').lower()}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- faults and the log -------------------------------------------------------------------------------------

    def fail_next(
        self,
        path_prefix: str,
        status: int,
        headers: dict[str, str] | None = None,
        body: Any = None,
        *,
        times: int = 1,
        method: str | None = None,
    ) -> None:
        """The next `times` requests whose path (as logged: without the API prefix) starts with `path_prefix` get
        this status; the body (and extra headers) default to the provider's own (`fault_answer`)."""
        body, fault_headers = self.fault_answer(status, dict(headers or {}), body)
        with self._lock:
            self._faults.append(Fault(path_prefix, method and method.upper(), status, fault_headers, body, 0.0, times))

    def slow_next(self, path_prefix: str, seconds: float, *, times: int = 1, method: str | None = None) -> None:
        """The next matching requests are answered normally, after `seconds`."""
        with self._lock:
            self._faults.append(Fault(path_prefix, method and method.upper(), None, {}, None, seconds, times))

    def requests(self, method: str | None = None, path_prefix: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.log
                    if (method is None or r.method == method.upper()) and r.path.startswith(path_prefix)]

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.prefix) and fault.method in (None, method):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- what a provider says -----------------------------------------------------------------------------------

    def locate(self, path: str) -> tuple[str, bool, bool]:
        """(the path as logged, an API request?, one of the fake's paths?)"""
        return path, True, True

    def no_route(self, method: str, path: str) -> tuple[int, Any, dict[str, str]]:
        """The answer to a path outside the fake (e.g. outside a self-managed instance's sub-path)."""
        raise Reply(404, "Not Found", {"content-type": self.text_type})

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any,
        raw_body: bytes, api: bool,
    ) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def fault_answer(self, status: int, headers: dict[str, str], body: Any) -> tuple[Any, dict[str, str]]:
        return body, headers

    def common_headers(self, api: bool) -> dict[str, str]:
        return {}

    def parse_request_body(self, headers: dict[str, str], raw: bytes) -> Any:
        return parse_body(headers, raw)

    def on_bug(self, exc: Exception) -> tuple[int, Any, dict[str, str]]:
        """A bug in the fake: raised by default (the test sees the traceback, the client a dropped connection)."""
        raise exc

    # -- request handling ---------------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str],
               raw_body: bytes) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(raw_path)
        query = parse_qs(split.query, keep_blank_values=True)
        path, api, known = self.locate(split.path)
        body = self.parse_request_body(headers, raw_body)
        record = Recorded(method, path, query, dict(headers), body, api)
        with self._lock:
            self.log.append(record)
        try:
            fault = self._take_fault(method, path) if known else None
            if fault is not None:
                time.sleep(fault.delay)
                if fault.status is not None:
                    raise Reply(fault.status, fault.body, fault.headers)
            if known:
                status, payload, reply_headers = self.answer(method, path, query, headers, body, raw_body, api)
            else:
                status, payload, reply_headers = self.no_route(method, path)
        except Reply as reply:
            status, payload, reply_headers = reply.status, reply.body, reply.headers
        except Exception as exc:
            status, payload, reply_headers = self.on_bug(exc)
        reply_headers = dict(reply_headers)
        encoded, content_type = b"", self.json_type
        if isinstance(payload, bytes | str):
            encoded = payload.encode() if isinstance(payload, str) else payload
            content_type = reply_headers.pop("content-type", self.text_type)
        elif payload is not None:
            encoded = json.dumps(payload).encode()
        out = {"Content-Type": content_type, **self.common_headers(api)}
        for name, value in reply_headers.items():  # an answer's own headers (a fault's) win, whatever their case
            out = {k: v for k, v in out.items() if k.lower() != name.lower()}
            out[name] = value
        record.status, record.response = status, payload
        record.response_headers = {k.lower(): v for k, v in out.items()}
        return status, out, encoded
