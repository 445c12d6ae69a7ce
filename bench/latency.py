"""Figure 3: push-to-poll-build latency on the local stack.

``python -m infra.local`` with every schedule at ``PERIOD`` seconds, a custom remote served by a real git
http-backend on 127.0.0.1, a polled source on main. Each sample: wait a fraction of the period, push a commit with
the git CLI, and time from the push's return until the BuildRequested event with that sha is on the bus tap.

A sample ends just after a poll, so the wait before the next push sets where in the schedule's period it lands;
the waits are spread evenly over the period instead of drawn at random, so five samples already cover the
phase. Expected: about PERIOD/2 (waiting for the next poll) plus the poll, the queue hop and
the consumer. A thread timestamps the requests the Git server receives, so each sample splits into the wait for
the poll (push returned -> the poll's ls-remote reaches the remote) and the processing after it.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PERIOD = 1.0  # seconds between scheduled polls (GITCONNECT_LOCAL_SCHEDULE_SECONDS)
SAMPLES = 5
TEAM = "demo"  # the stack's token is an admin of this team
TIMEOUT = 30.0  # per sample


@dataclass
class Sample:
    sha: str
    push_s: float  # how long `git push` took
    latency_s: float  # push returned -> BuildRequested on the tap
    poll_s: float | None  # push returned -> the next ls-remote (git-upload-pack) reached the Git server


class RequestClock(threading.Thread):
    """Timestamps (within ~2 ms) each request the Git server receives, from its public request log."""

    def __init__(self, server: Any) -> None:
        super().__init__(name="bench-request-clock", daemon=True)
        self.server = server
        self.seen: list[tuple[float, str, str]] = []  # (perf_counter, method, path)
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.002):
            requests = self.server.requests
            now = time.perf_counter()
            self.seen += [(now, method, path) for method, path in requests[len(self.seen):]]

    def first_fetch_after(self, moment: float) -> float | None:
        return next((t for t, _, path in list(self.seen) if t > moment and "git-upload-pack" in path), None)

    def stop(self) -> None:
        self.stop_event.set()
        self.join()


def _wait_for_build(stack: Any, sha: str, since: float) -> float:
    sqs = stack.client("sqs")
    deadline = since + TIMEOUT
    while time.perf_counter() < deadline:
        messages = sqs.receive_message(QueueUrl=stack.tap_queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", [])
        seen = time.perf_counter()
        for message in messages:
            sqs.delete_message(QueueUrl=stack.tap_queue_url, ReceiptHandle=message["ReceiptHandle"])
            event = json.loads(message["Body"])
            if event.get("detail-type") == "BuildRequested" and event["detail"].get("sha") == sha:
                return seen - since
    raise TimeoutError(f"no BuildRequested for {sha} within {TIMEOUT:.0f} s of the push")


def _ok(stack: Any, method: str, path: str, body: Any, status: int) -> Any:
    reply = stack.request(method, path, json_body=body)
    if reply.status != status:
        raise RuntimeError(f"{method} {path}: {reply.status} {reply.body[:500]!r}\n{stack.logs[-3000:]}")
    return reply.json()


def phase_waits(samples: int, period: float) -> list[float]:
    """Waits at the middle of ``samples`` equal slices of the period."""
    return [(n + 0.5) / samples * period for n in range(samples)]


def measure(samples: int = SAMPLES, period: float = PERIOD) -> list[Sample]:
    from infra.local.git_server import GitHttpServer, WorkingCopy, init_bare
    from tests.support.local_stack import running_stack

    out: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="gitconnect-bench-latency-") as tmp:
        root = Path(tmp)
        (root / "repos").mkdir()
        (root / "stack-tmp").mkdir()  # the stack's temp files (moto's log) go here, and away with it
        with GitHttpServer(root / "repos") as server:
            init_bare(server.root, "app")
            url = server.url_for("app")
            work = WorkingCopy.clone(url, root / "app")
            work.write("README.md", "hello\n")
            work.commit("first")
            work.push("main")
            env = {"GITCONNECT_LOCAL_SCHEDULE_SECONDS": f"{period:g}", "TMPDIR": str(root / "stack-tmp")}
            clock = RequestClock(server)
            clock.start()
            with contextlib.ExitStack() as cleanup:
                cleanup.callback(clock.stop)
                stack = cleanup.enter_context(running_stack(env))
                connection = _ok(stack, "POST", f"/v1/teams/{TEAM}/connections", {"provider": "custom", "url": url},
                                 201)
                _ok(stack, "POST", f"/v1/teams/{TEAM}/sources",
                    {"name": "app", "connection_id": connection["id"], "branches": ["main"], "poll": True}, 201)
                # The first push is untimed: it finds the consumer cold (its first invocation imports it).
                for n, wait in enumerate([0.0, *phase_waits(samples, period)]):
                    work.write("app.py", f"print({n})\n")
                    sha = work.commit(f"change {n}")
                    time.sleep(wait)
                    start = time.perf_counter()
                    work.push("main")
                    pushed = time.perf_counter()
                    latency = _wait_for_build(stack, sha, pushed)
                    polled = clock.first_fetch_after(pushed)
                    out.append(Sample(sha, pushed - start, latency, None if polled is None else polled - pushed))
    return out[1:]


def report(samples: list[Sample], period: float = PERIOD) -> list[str]:
    latencies = [s.latency_s for s in samples]
    processing = [s.latency_s - s.poll_s for s in samples if s.poll_s is not None]
    lines = [
        f"local stack (python -m infra.local), schedule period {period:g} s, {len(samples)} pushes with the git CLI",
        "(after one untimed push that warms the functions)",
        "after waits spread evenly over the period; latency: `git push` returned -> BuildRequested on the bus tap,",
        "split into the wait for the next poll (-> its ls-remote reaches the Git server) and the processing after it",
        "",
        f"  {'push':<6}{'sha':<14}{'git push s':>12}{'latency s':>12}{'poll wait s':>13}{'processing s':>14}",
    ]
    for n, s in enumerate(samples, 1):
        wait = "?" if s.poll_s is None else f"{s.poll_s:.3f}"
        rest = "?" if s.poll_s is None else f"{s.latency_s - s.poll_s:.3f}"
        lines.append(f"  {n:<6}{s.sha[:12]:<14}{s.push_s:>12.3f}{s.latency_s:>12.3f}{wait:>13}{rest:>14}")
    lines += [
        "",
        f"  {'median latency':<34}{statistics.median(latencies):>8.3f} s",
        f"  {'max latency':<34}{max(latencies):>8.3f} s",
    ]
    if processing:
        lines.append(f"  {'median processing after the poll':<34}{statistics.median(processing):>8.3f} s")
    lines.append(f"  {'expected: period/2 + processing':<34}{period / 2:>8.3f} s + processing")
    return lines


def run() -> tuple[list[Sample], list[str]]:
    samples = measure()
    return samples, report(samples)
