"""`queue` and `forbid` hold under concurrency: 20 simultaneous run requests under moto (its DynamoDB writes made
atomic per item, as DynamoDB's are: tests/functional/conftest.py).

The local stack runs each function like one warm container, one invocation at a time (infra/local/lambdas.py), so
simultaneous requests are what the route does (`wiring.runs().request(..., manual=True)`, the real service on the
real table) called from 20 threads at once, as 20 Lambda containers would; everything else goes through the API."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.inprocess import System

REQUESTS = 20


@pytest.fixture
def busy_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Threads switched as often as possible, and a template's runs read slowly (as from a loaded table): a decision
    taken from what was read, then written, would let several requests through (measured with the check-then-write
    policy this replaced: 12, 3 and 8 of the 20 started under `forbid` in three runs; with the run slot, 1)."""
    from gitconnect.adapters.template_store import TemplateStore

    read = TemplateStore.runs

    def slow_runs(self: TemplateStore, template_id: str) -> list[Any]:
        found = read(self, template_id)
        time.sleep(0.02)
        return found

    monkeypatch.setattr(TemplateStore, "runs", slow_runs)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(switch)


def _requested(system: System) -> list[str]:
    return [e["detail"]["run_id"] for e in system.bus_events("RunRequested")]


def _simultaneous_runs(system: System, team: str, admin: str, tid: str) -> list[tuple[int, dict[str, Any]]]:
    """What POST …/runs answers to each of 20 simultaneous requests: 202 and the run, or 409 and the problem."""
    from gitconnect import wiring
    from gitconnect.domain.errors import ConflictError

    template = wiring.templates().get(team, tid)
    barrier = threading.Barrier(REQUESTS)
    replies: list[tuple[int, dict[str, Any]]] = []

    def request() -> None:
        barrier.wait()
        try:
            run = wiring.runs().request(template, "requested by user-1", manual=True)
        except ConflictError as exc:
            replies.append((409, {"detail": exc.detail}))
        else:
            replies.append((202, run.to_json()))

    threads = [threading.Thread(target=request) for _ in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return replies


def _template(system: System, team: str, admin: str, concurrency: str) -> str:
    reply = system.call("POST", f"/v1/teams/{team}/templates", token=admin,
                        body={"name": concurrency, "content": {}, "concurrency": concurrency})
    assert reply.status == 201, reply.body
    return str(reply.json()["id"])


def test_forbid_starts_exactly_one(system: System, team: str, admin: str, busy_threads: None) -> None:
    tid = _template(system, team, admin, "forbid")
    _requested(system)  # what earlier tests left
    replies = _simultaneous_runs(system, team, admin, tid)
    assert sorted(status for status, _ in replies) == [202] + [409] * (REQUESTS - 1)
    refused = [body for status, body in replies if status == 409]
    assert all(body["detail"].endswith("this template forbids concurrent runs") for body in refused)
    [(_, started)] = [(s, body) for s, body in replies if s == 202]
    assert _requested(system) == [started["id"]]
    runs = system.call("GET", f"/v1/teams/{team}/templates/{tid}/runs", token=admin).json()["items"]
    assert [r["id"] for r in runs] == [started["id"]]  # nothing stored for the refused requests
    # Its final report frees the template: the next request starts
    system.call("POST", f"/v1/runs/{started['id']}/status", token=admin, body={"status": "succeeded"})
    after = system.call("POST", f"/v1/teams/{team}/templates/{tid}/runs", token=admin)
    assert after.status == 202 and _requested(system) == [after.json()["id"]]


def test_queue_runs_one_at_a_time_in_request_order(system: System, team: str, admin: str,
                                                    busy_threads: None) -> None:
    tid = _template(system, team, admin, "queue")
    _requested(system)
    replies = _simultaneous_runs(system, team, admin, tid)
    assert [status for status, _ in replies] == [202] * REQUESTS
    by_position = sorted((body for _, body in replies), key=lambda body: body["position"])
    assert [body["position"] for body in by_position] == list(range(1, REQUESTS + 1))  # one number each, no gaps
    started = _requested(system)
    assert started == [by_position[0]["id"]]  # exactly one runs: the first in request order
    assert [body["status"] for body in by_position[1:]] == ["queued"] * (REQUESTS - 1)
    # Each final report starts the next one, in order, and only it
    order = list(started)
    for body in by_position:
        reported = system.call("POST", f"/v1/runs/{body['id']}/status", token=admin, body={"status": "succeeded"})
        assert reported.status == 200, reported.body
        order += _requested(system)
    assert order == [body["id"] for body in by_position]
    runs = system.call("GET", f"/v1/teams/{team}/templates/{tid}/runs", token=admin).json()["items"]
    assert len(runs) == REQUESTS and {r["status"] for r in runs} == {"succeeded"}


def test_queue_order_holds_while_a_run_is_active(system: System, team: str, admin: str) -> None:
    """Requests one after another on a busy template: each waits behind the earlier ones."""
    tid = _template(system, team, admin, "queue")
    _requested(system)
    ids = [system.call("POST", f"/v1/teams/{team}/templates/{tid}/runs", token=admin).json()["id"] for _ in range(4)]
    assert _requested(system) == ids[:1]
    system.call("POST", f"/v1/runs/{ids[0]}/status", token=admin, body={"status": "running"})
    assert _requested(system) == []  # not final: nothing else starts
    system.call("POST", f"/v1/runs/{ids[0]}/status", token=admin, body={"status": "failed"})
    assert _requested(system) == ids[1:2]
    system.call("POST", f"/v1/runs/{ids[1]}/status", token=admin, body={"status": "cancelled"})
    assert _requested(system) == ids[2:3]
