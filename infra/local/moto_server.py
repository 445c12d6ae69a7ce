"""moto's server as a child process: the embedded AWS of the local stack."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import MutableMapping
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM the child if the runner dies without cleaning up (kill -9, a crashed test)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class MotoStartError(RuntimeError):
    pass


class MotoServer:
    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None
        # moto logs every request; keep that out of the runner's console but at hand.
        self.log_path = Path(tempfile.gettempdir()) / f"gitconnect-local-moto-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        with socket.socket() as probe:  # else we might wait on, and then use, someone else's server on that port
            probe.bind((self.host, self.port))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                # moto.server with DynamoDB writes made atomic, as they are on AWS (moto_atomic.py)
                [sys.executable, "-m", "infra.local.moto_atomic", "-H", self.host, "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],  # where `infra` is importable from
                start_new_session=True,  # a Ctrl-C in the terminal is ours to handle, not moto's
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MotoStartError(f"moto server exited with {self.process.returncode}: {self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise MotoStartError(f"moto server did not answer on {self.url} within {timeout:.0f} s: {self._log_tail()}")

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def aws_environment(endpoint: str, environ: MutableMapping[str, str]) -> None:
    """Point every boto3/PynamoDB client at moto, with fake credentials: nothing can reach a real account."""
    environ["AWS_ENDPOINT_URL"] = endpoint
    environ["AWS_ACCESS_KEY_ID"] = "testing"
    environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # noqa: S105 - moto accepts any credentials
    region = environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_REGION") or "us-east-1"
    environ["AWS_DEFAULT_REGION"] = region
    environ["AWS_REGION"] = region
    for name in [n for n in environ if n.startswith("AWS_ENDPOINT_URL_")] + ["AWS_PROFILE", "AWS_SESSION_TOKEN"]:
        environ.pop(name, None)
    # An HTTP(S)_PROXY of the user's must not capture the calls to moto (or to the local API).
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in environ.get(name, "").split(",") if h]
        environ[name] = ",".join(hosts + [h for h in ("127.0.0.1", "localhost") if h not in hosts])
