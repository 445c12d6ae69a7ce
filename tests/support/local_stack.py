"""Run the local stack (``python -m infra.local``) as a subprocess for e2e tests.

    with running_stack({"GITHUB_API_URL": fake.url}) as stack:
        resp = stack.request("GET", "/v1/teams/demo/connections")   # admin token of team "demo" unless token=/auth=
        events = stack.read_tap()                                    # what the functions put on the bus

The stack gets free ports, its own moto server, and is stopped (SIGINT, then kill) when the block exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Response", "Stack", "StackError", "running_stack"]

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "GITCONNECT_READY "
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers to assert on (the OAuth callback's), not to follow."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class StackError(RuntimeError):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names (repeated headers comma-joined)
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Stack:
    process: subprocess.Popen[str]
    api_url: str
    aws_endpoint: str
    region: str
    token: str  # admin of team "demo"
    tap_queue_url: str
    env: dict[str, str]  # the functions' environment, incl. GITCONNECT_JWT_SECRET
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """A boto3 client on the stack's moto (cached per service)."""
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(
                service, endpoint_url=self.aws_endpoint, region_name=self.region,
                aws_access_key_id="testing", aws_secret_access_key="testing")
        return self._clients[service]

    def token_for(self, sub: str, teams: dict[str, str], ttl_seconds: int = 3600) -> str:
        from infra.local.tokens import mint_token

        return mint_token(self.env["GITCONNECT_JWT_SECRET"], sub, teams, ttl_seconds)

    def request(self, method: str, path: str, *, json_body: Any = None, body: bytes | None = None,
                headers: dict[str, str] | None = None, token: str | None = None, auth: bool = True,
                timeout: float = 30) -> Response:
        """An HTTP request to the API with ``token`` (default: the demo admin token; ``auth=False``: none)."""
        all_headers = dict(headers or {})
        token = token or self.token
        if auth:
            all_headers.setdefault("Authorization", f"Bearer {token}")
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.api_url + path, data=body, headers=all_headers, method=method)
        try:
            with _NO_PROXY.open(req, timeout=timeout) as resp:
                return Response(resp.status, _headers(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, _headers(err.headers), err.read())

    def read_tap(self, *, wait_seconds: float = 5, at_least: int = 1) -> list[dict[str, Any]]:
        """Events the functions put on the bus since the last read (waits until ``at_least`` or the deadline)."""
        sqs = self.client("sqs")
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait_seconds
        while True:
            for msg in sqs.receive_message(QueueUrl=self.tap_queue_url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", []):
                events.append(json.loads(msg["Body"]))
                sqs.delete_message(QueueUrl=self.tap_queue_url, ReceiptHandle=msg["ReceiptHandle"])
            if len(events) >= at_least or time.monotonic() >= deadline:
                return events

    @property
    def logs(self) -> str:
        return "".join(self.stderr)

    def stop(self, timeout: float = 30, sig: int = signal.SIGINT) -> int:
        """SIGINT (Ctrl-C) or ``sig``, then kill after ``timeout`` (generous: a loaded 2-core CI machine is slow to
        join the pollers); returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def _headers(message: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pump(stream: Any, sink: list[str], ready: list[str], event: threading.Event) -> None:
    for line in stream:
        sink.append(line)
        if line.startswith(READY_PREFIX) and not ready:
            ready.append(line[len(READY_PREFIX):])
            event.set()
    event.set()  # EOF: the process ended


@contextlib.contextmanager
def running_stack(env: dict[str, str] | None = None, *, timeout: float = 60) -> Iterator[Stack]:
    """Start ``python -m infra.local`` on free ports with ``env`` added to the environment; stop it at exit."""
    child_env = {**os.environ, **(env or {})}
    child_env.setdefault("GITCONNECT_PORT", str(_free_port()))
    child_env.setdefault("GITCONNECT_LOCAL_AWS_PORT", str(_free_port()))
    # Tests leave the user's own stack alone: no demo remote in the repo's .local/, no shared state file.
    child_env.setdefault("GITCONNECT_LOCAL_DEMO", "0")
    state_dir = tempfile.mkdtemp(prefix="gitconnect-state-")
    child_env.setdefault("GITCONNECT_LOCAL_STATE", os.path.join(state_dir, "stack.json"))
    paths = [str(REPO_ROOT), str(REPO_ROOT / "layers" / "gitconnect" / "python")]
    child_env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [child_env.get("PYTHONPATH")] if p])
    child_env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen([sys.executable, "-m", "infra.local"], cwd=REPO_ROOT, env=child_env, text=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout: list[str] = []
    stderr: list[str] = []
    ready: list[str] = []
    got_ready = threading.Event()
    threading.Thread(target=_pump, args=(process.stdout, stdout, ready, got_ready), daemon=True).start()
    threading.Thread(target=_pump, args=(process.stderr, stderr, [], threading.Event()), daemon=True).start()
    try:
        if not got_ready.wait(timeout) or not ready:
            raise StackError(f"the local stack did not get ready within {timeout:.0f} s "
                             f"(exit code {process.poll()}):\n{''.join(stderr)[-4000:]}")
        info = json.loads(ready[0])
        stack = Stack(process=process, api_url=info["api_url"], aws_endpoint=info["aws_endpoint"],
                      region=info["region"], token=info["token"], tap_queue_url=info["tap_queue_url"],
                      env=info["env"], stdout=stdout, stderr=stderr)
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        shutil.rmtree(state_dir, ignore_errors=True)
