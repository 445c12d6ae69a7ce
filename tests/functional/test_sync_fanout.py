"""Polls fanned out, through the real handlers (in-process, moto) against a real `git http-backend`: the scheduled sync
only claims what is due and sends it to SyncQueue; SyncFunction polls; intervals, backoff and `poll_seconds` hold."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from gitconnect import wiring
from infra.local.git_server import GitHttpServer, WorkingCopy
from tests.functional.test_custom_git_flow import link
from tests.functional.test_custom_git_polling import polled_source
from tests.support.inprocess import System


@pytest.fixture
def interval(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set GITCONNECT_POLL_SECONDS for the functions from here on (the suite runs with 0: every sync polls)."""

    def set_to(seconds: int) -> None:
        monkeypatch.setenv("GITCONNECT_POLL_SECONDS", str(seconds))
        wiring.reset()

    yield set_to
    monkeypatch.undo()
    wiring.reset()


def make_due(system: System, team: str, source_id: str) -> None:
    """Arrange: the source's next poll is now (as if its interval had passed)."""
    system.client("dynamodb").update_item(
        TableName=wiring.settings().sources_table, Key={"team_id": {"S": team}, "source_id": {"S": source_id}},
        UpdateExpression="SET poll_due_at = :now", ExpressionAttributeValues={":now": {"N": str(time.time() - 1)}})


def scheduled_ids(system: System) -> list[str]:
    """One scheduled sync: the ids it sent to SyncQueue, taken off the queue unprocessed."""
    system.fire_schedule()
    sqs, url, ids = system.client("sqs"), system.res.attrs["SyncQueue"]["QueueUrl"], []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            ids.append(json.loads(m["Body"])["id"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return ids


def next_poll_in(source: dict[str, Any]) -> float:
    return datetime.fromisoformat(source["polling"]["next_poll_at"]).timestamp() - time.time()


def ls_remotes(server: GitHttpServer, url: str) -> int:
    name = url.rsplit("/", 1)[-1]
    return sum(1 for method, path in server.requests if path.startswith(f"/{name}/info/refs"))


def settled_source(system: System, team: str, admin: str, url: str) -> dict[str, Any]:
    """A polled source on `url` whose first poll has run, with nothing left on the queues or the bus tap."""
    source = polled_source(system, team, admin, link(system, team, admin, url)["id"])
    system.sync()
    system.drain()
    system.bus_events()
    return source


def test_a_push_builds_once_after_the_schedule_and_the_sync_consumer(
        system: System, team: str, admin: str, remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    source = settled_source(system, team, admin, url)
    work.write("f.txt", "1")
    sha = work.commit("change")
    work.push()
    # The schedule alone polls nothing: it sends the due source to SyncQueue
    sent = system.fire_schedule()["sent"]
    assert sent.get("poll", 0) >= 1 and system.queue_depth("SyncQueue") == sent["poll"] + sent.get("hook", 0)
    system.drain()
    assert system.bus_events() == []
    # SyncFunction polls it; the build it requests is published once, and later syncs request nothing more
    system.drain("SyncFunction")
    system.drain()
    assert [(e["detail"]["sha"], e["detail"]["source_id"]) for e in system.bus_events()] == [(sha, source["id"])]
    system.sync()
    system.sync()
    system.drain()
    assert system.bus_events() == []
    assert system.queue_depth("SyncQueue") == 0 and system.queue_depth("SyncDLQ") == 0


def test_a_failing_remote_backs_off(system: System, team: str, admin: str, git_server: GitHttpServer,
                                    remote: tuple[str, WorkingCopy]) -> None:
    url, _ = remote
    connection = link(system, team, admin, url)
    source = polled_source(system, team, admin, connection["id"], poll_seconds=60)
    path = f"/v1/teams/{team}/sources/{source['id']}"
    assert source["poll_seconds"] == 60 and 0 <= next_poll_in(source) <= 60  # first poll: within the interval
    (git_server.root / f"{url.rsplit('/', 1)[-1]}").rename(git_server.root / "taken-away")  # the remote answers 404
    try:
        for failures, backoff in [(1, 120), (2, 240), (3, 480)]:
            make_due(system, team, source["id"])
            system.sync()
            current = system.call("GET", path, token=admin).json()
            assert current["polling"]["status"] == "failing"
            assert current["polling"]["consecutive_failures"] == failures
            assert backoff - 5 <= next_poll_in(current) <= backoff  # doubled per failure in a row
            assert source["id"] not in scheduled_ids(system)  # backed off: not due
    finally:
        (git_server.root / "taken-away").rename(git_server.root / url.rsplit("/", 1)[-1])
    make_due(system, team, source["id"])
    system.sync()
    recovered = system.call("GET", path, token=admin).json()
    assert recovered["polling"]["status"] == "ok"
    assert 54 - 5 <= next_poll_in(recovered) <= 66  # back to the interval, ± 10 %


def test_two_hundred_sources_are_each_polled_once_per_interval(
        system: System, team: str, admin: str, git_server: GitHttpServer, remote: tuple[str, WorkingCopy],
        interval: Any) -> None:
    url, _ = remote
    connection = link(system, team, admin, url)
    ids = {polled_source(system, team, admin, connection["id"], name=f"s{i}")["id"] for i in range(200)}
    # From now on ten minutes between polls (the 200 were created due at once): longer than this test takes on a
    # loaded machine, so the last sync is inside the interval however slow the drain was.
    interval(600)
    before = ls_remotes(git_server, url)
    fired = time.time()
    first, overlapping = system.fire_schedule(), system.fire_schedule()
    claimed = time.time()
    assert first["sent"]["poll"] >= 200 and overlapping["sent"].get("poll", 0) == 0  # claimed: none sent twice
    rounds = system.drain("SyncFunction", rounds=100)
    assert all(not r.failed_ids for r in rounds)
    assert ls_remotes(git_server, url) - before == 200  # each polled once
    listed = system.call("GET", f"/v1/teams/{team}/sources", token=admin).json()["items"]
    polled = {s["id"]: s for s in listed if s["id"] in ids}
    assert len(polled) == 200 and {s["polling"]["status"] for s in polled.values()} == {"ok"}
    due = [datetime.fromisoformat(s["polling"]["next_poll_at"]).timestamp() for s in polled.values()]
    assert all(fired + 540 <= d <= claimed + 660 for d in due)  # each next due one interval on, ± 10 %
    assert max(due) - min(due) > 60  # spread by the jitter, not all at once
    system.sync()
    assert ls_remotes(git_server, url) - before == 200  # within the interval: not again


@pytest.mark.parametrize("seconds", [59, 0, -60, 86401, "60", 60.5, True])
def test_poll_seconds_out_of_bounds_is_refused_and_nothing_is_stored(
        system: System, team: str, admin: str, remote: tuple[str, WorkingCopy], seconds: object) -> None:
    url, _ = remote
    connection = link(system, team, admin, url)
    reply = system.call("POST", f"/v1/teams/{team}/sources", token=admin,
                        body={"connection_id": connection["id"], "branches": ["main"], "poll": True,
                              "poll_seconds": seconds})
    assert reply.status == 400 and reply.headers["content-type"] == "application/problem+json"
    assert system.call("GET", f"/v1/teams/{team}/sources", token=admin).json()["items"] == []
    source = polled_source(system, team, admin, connection["id"])
    path = f"/v1/teams/{team}/sources/{source['id']}"
    patched = system.call("PATCH", path, token=admin, body={"poll_seconds": seconds})
    assert patched.status == 400 and patched.headers["content-type"] == "application/problem+json"
    assert system.call("GET", path, token=admin).json() == source


def test_a_patch_keeps_the_next_poll_and_turning_polling_off_takes_the_source_out(
        system: System, team: str, admin: str, remote: tuple[str, WorkingCopy]) -> None:
    url, _ = remote
    source = polled_source(system, team, admin, link(system, team, admin, url)["id"], poll_seconds=3600)
    path = f"/v1/teams/{team}/sources/{source['id']}"
    renamed = system.call("PATCH", path, token=admin, body={"name": "renamed", "poll_seconds": 600}).json()
    assert renamed["poll_seconds"] == 600
    assert renamed["polling"]["next_poll_at"] == source["polling"]["next_poll_at"]  # a PATCH never moves it
    off = system.call("PATCH", path, token=admin, body={"poll": False}).json()
    assert off["polling"] is None
    make_due(system, team, source["id"])  # even with a due time written, a source not polled is not in the index
    assert source["id"] not in scheduled_ids(system)
    on = system.call("PATCH", path, token=admin, body={"poll": True, "poll_seconds": None}).json()
    assert on["poll_seconds"] is None and on["polling"]["next_poll_at"] is not None


def test_a_poison_item_ends_in_the_dlq_without_blocking_the_polls_beside_it(
        system: System, team: str, admin: str, remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    source = settled_source(system, team, admin, url)
    work.write("f.txt", "poison")
    sha = work.commit("change")
    work.push()
    # A message no SyncFunction understands arrives with the schedule's batch
    queue = system.res.attrs["SyncQueue"]["QueueUrl"]
    system.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps({"kind": "reconcile", "team_id": team,
                                                                             "id": "x"}))
    system.fire_schedule()
    system.drain("SyncFunction")
    system.drain()
    # The poll beside it built; the poison item was tried five times (maxReceiveCount) and kept in SyncDLQ
    assert [(e["detail"]["sha"], e["detail"]["source_id"]) for e in system.bus_events()] == [(sha, source["id"])]
    assert system.queue_depth("SyncQueue") == 0 and system.queue_depth("SyncDLQ") == 1
    dlq = system.res.attrs["SyncDLQ"]["QueueUrl"]
    [kept] = system.client("sqs").receive_message(QueueUrl=dlq)["Messages"]
    assert json.loads(kept["Body"])["kind"] == "reconcile"
    system.client("sqs").delete_message(QueueUrl=dlq, ReceiptHandle=kept["ReceiptHandle"])
