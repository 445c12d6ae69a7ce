"""A real Git smart-HTTP server for tests, plus helpers that drive the git CLI.

`GitHttpServer` runs `git http-backend` as a CGI per request (written out here because
`http.server.CGIHTTPRequestHandler` is deprecated and cannot decode chunked bodies), so clients talk
to the same server code as on a real Git host. `WorkingCopy` makes commits and pushes with the CLI.

Every git process gets a scrubbed environment: inherited GIT_* variables, proxies, askpass programs,
and the user's global/system config (credential helpers!) would otherwise leak into the tests.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import socketserver
import subprocess
import sys
import threading
from email.utils import parseaddr
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO
from urllib.parse import quote, unquote, urlsplit

__all__ = ["GitCommandError", "GitHttpServer", "WorkingCopy", "init_bare", "ls_remote"]

GIT_TIMEOUT = 120  # seconds; a hung git process should fail the test, not hang the suite
_DROPPED_ENV = {"GIT_ASKPASS", "SSH_ASKPASS", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}


def _clean_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") and key.upper() not in _DROPPED_ENV
    }
    env |= {
        "GIT_TERMINAL_PROMPT": "0",  # a missing/wrong password must fail, never wait on a prompt
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "NO_PROXY": "*",
        "no_proxy": "*",
    }
    return env


class GitCommandError(RuntimeError):
    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"{' '.join(args)} exited with {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


def git(*args: str, cwd: Path | None = None) -> str:
    """Run the git CLI hermetically; return stdout (stripped) or raise GitCommandError."""
    cmd = ["git", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=GIT_TIMEOUT)
    if proc.returncode != 0:
        raise GitCommandError(cmd, proc.returncode, proc.stderr)
    return proc.stdout.strip()


def init_bare(root: Path, name: str) -> Path:
    path = Path(root) / (name if name.endswith(".git") else f"{name}.git")
    git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
    git("config", "http.receivepack", "true", cwd=path)
    return path


def ls_remote(url: str) -> dict[str, str]:
    """ref -> sha as the server advertises it (includes "HEAD" once the default branch exists)."""
    refs = {}
    for line in git("ls-remote", url).splitlines():
        sha, ref = line.split("\t", 1)
        refs[ref] = sha
    return refs


class WorkingCopy:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def clone(cls, url: str, dest: Path) -> WorkingCopy:
        # Cloning an empty repo: protocol v2 advertises the server's unborn HEAD (main); the default
        # branch setting is only the fallback if that ever stops working.
        git("-c", "init.defaultBranch=main", "clone", "--quiet", url, str(dest))
        return cls(dest)

    def git(self, *args: str) -> str:
        return git(*args, cwd=self.path)

    def write(self, path: str, content: str | bytes) -> Path:
        target = self.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        return target

    def commit(self, message: str, *, author: str = "Test <test@example.com>") -> str:
        name, email = parseaddr(author)
        self.git("add", "-A")
        # -c user.* sets both author and committer; the global config is hidden from these processes.
        self.git("-c", f"user.name={name}", "-c", f"user.email={email}", "commit", "--quiet", "-m", message)
        return self.head()

    def push(self, branch: str = "main", *, force: bool = False) -> None:
        ref = f"refs/heads/{branch}"
        self.git("push", "--quiet", *(["--force"] if force else []), "origin", f"{ref}:{ref}")

    def tag(self, name: str, *, message: str | None = None, author: str = "Test <test@example.com>") -> None:
        """A lightweight tag at HEAD, or an annotated one (a tag object) with a message; pushed."""
        user, email = parseaddr(author)
        annotated = ["-a", "-m", message] if message is not None else []
        self.git("-c", f"user.name={user}", "-c", f"user.email={email}", "tag", *annotated, name)
        self.git("push", "--quiet", "origin", f"refs/tags/{name}:refs/tags/{name}")

    def checkout_new(self, branch: str) -> None:
        self.git("checkout", "--quiet", "-b", branch)

    def head(self, branch: str = "HEAD") -> str:
        return self.git("rev-parse", "--verify", f"{branch}^{{commit}}")

    def pull(self) -> None:
        self.git("pull", "--quiet", "--ff-only")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_port = False  # a port another process listens on must fail, not be shared

    def __init__(self, root: Path, username: str | None, password: str | None, port: int = 0) -> None:
        self.root = root
        self.credentials = None if username is None else f"{username}:{password or ''}".encode()
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str]] = []
        self.chunked_requests = 0
        self.bytes_sent = 0  # response bodies (the CGI's output), for figures of what a client fetched
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away mid-answer (e.g. it stopped reading a pack past its byte cap)
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) we don't need; can be slow offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, and a response body without Content-Length ends at close,
    # so the CGI output can be streamed as-is without re-framing it as chunked.
    protocol_version = "HTTP/1.0"
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: object) -> None:  # the request log is `requests`
        pass

    def _handle(self) -> None:
        with self.server.lock:
            self.server.seen.append((self.command, self.path))
        user = self._authenticate()
        body = self._read_body() if self.command == "POST" else None  # read even when rejecting, see below
        if user is False:
            # Unread request bytes at close() make the kernel send RST, which can eat this 401.
            message = b"Authentication required\n"
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
            return
        self._run_cgi(user, body)

    def _authenticate(self) -> str | bool | None:
        """None: no auth configured; the user name: accepted; False: reject."""
        expected = self.server.credentials
        if expected is None:
            return None
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except ValueError:
            return False
        if not hmac.compare_digest(given, expected):
            return False
        return given.split(b":", 1)[0].decode()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            # git switches to chunked uploads once a pack exceeds http.postBuffer (1 MiB by default).
            with self.server.lock:
                self.server.chunked_requests += 1
            return self._read_chunked()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)  # ignore chunk extensions
            if size == 0:
                while self.rfile.readline().strip():  # trailers, up to the final blank line
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # CRLF after each chunk

    def _run_cgi(self, user: str | None, body: bytes | None) -> None:
        url = urlsplit(self.path)
        env = _clean_env() | {
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            # Let pushes work for repos not made by init_bare too; http-backend otherwise only allows
            # receive-pack for authenticated (REMOTE_USER) requests.
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": self.request_version,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(url.path),
            "QUERY_STRING": url.query,
            "REMOTE_ADDR": self.client_address[0],
        }
        optional = {
            "REMOTE_USER": user,
            "CONTENT_TYPE": self.headers.get("Content-Type"),
            # http-backend reads exactly CONTENT_LENGTH bytes; after de-chunking that is len(body).
            "CONTENT_LENGTH": None if body is None else str(len(body)),
            # Gzip stays encoded: http-backend inflates it itself when it sees this header.
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding"),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol"),  # opts into protocol v2
        }
        env |= {key: value for key, value in optional.items() if value is not None}

        # stderr is inherited: under pytest it lands in the captured output of a failing test.
        proc = subprocess.Popen(
            ["git", "http-backend"],
            stdin=subprocess.DEVNULL if body is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        writer = None
        if body is not None:
            # Feed stdin from another thread: the CGI may start answering before it has read it all.
            writer = threading.Thread(target=_feed, args=(proc.stdin, body), daemon=True)
            writer.start()
        try:
            status, reason, headers = _read_cgi_headers(proc.stdout)
            self.send_response(status, reason)
            for key, value in headers:
                self.send_header(key, value)
            self.end_headers()
            while chunk := proc.stdout.read1(65536):
                self.wfile.write(chunk)
                with self.server.lock:
                    self.server.bytes_sent += len(chunk)
        except BaseException:
            proc.kill()  # e.g. the client went away: don't leave the CGI blocked on a full pipe
            raise
        finally:
            proc.stdout.close()
            proc.wait(timeout=GIT_TIMEOUT)
            if writer is not None:
                writer.join(timeout=GIT_TIMEOUT)


def _feed(stdin: IO[bytes], body: bytes) -> None:
    # BrokenPipeError: the CGI exited without reading everything; its response says why.
    with contextlib.suppress(BrokenPipeError):
        stdin.write(body)
    with contextlib.suppress(BrokenPipeError):
        stdin.close()


def _read_cgi_headers(stdout: IO[bytes]) -> tuple[int, str | None, list[tuple[str, str]]]:
    status, reason, headers = 200, None, []
    while line := stdout.readline().rstrip(b"\r\n"):
        key, _, value = line.decode("latin-1").partition(":")
        key, value = key.strip(), value.strip()
        if key.lower() == "status":
            code, _, text = value.partition(" ")
            status, reason = int(code), text or None
        else:
            headers.append((key, value))
    return status, reason, headers


class GitHttpServer:
    """Serves the bare repos under `root` at http://127.0.0.1:<port>/<name>.git until stop()/exit.

    Starts serving on construction, so it works both as a context manager and as a plain object.
    With username set, every request needs exactly that HTTP Basic user/password.
    """

    def __init__(self, root: Path, *, username: str | None = None, password: str | None = None,
                 port: int = 0) -> None:
        self.root = Path(root).resolve()
        self._server = _Server(self.root, username, password, port)
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="git-http-server", daemon=True)
        self._thread.start()
        self._stopped = False

    def url_for(self, name: str, *, username: str | None = None, password: str | None = None) -> str:
        """URL of repo `name` (".git" optional); with username, credentials are embedded in it."""
        path = name if name.endswith(".git") else f"{name}.git"
        if username is None:
            return f"{self.base_url}/{path}"
        userinfo = quote(username, safe="") + ("" if password is None else ":" + quote(password, safe=""))
        return f"http://{userinfo}@127.0.0.1:{self.port}/{path}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Snapshot of (method, path-with-query) for every request received, including rejected ones."""
        with self._server.lock:
            return list(self._server.seen)

    @property
    def bytes_sent(self) -> int:
        """Response body bytes served so far (what clients fetched: refs advertisements and packs)."""
        with self._server.lock:
            return self._server.bytes_sent

    @property
    def chunked_requests(self) -> int:
        """How many request bodies arrived with Transfer-Encoding: chunked."""
        with self._server.lock:
            return self._server.chunked_requests

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()  # closes the listening socket: the port is free afterwards
        self._thread.join()

    def __enter__(self) -> GitHttpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
