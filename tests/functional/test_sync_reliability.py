"""The fan-out's reliability (issue 12), through the real handlers under moto against a real `git http-backend`:
a SyncFunction that dies in the middle of a poll leaves the item to run again (and it builds once); two scheduled
syncs running at the same moment send each due source once (the conditional claim on its due time). The poison item
ending in SyncDLQ is tests/functional/test_sync_fanout.py's."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any
from unittest import mock

import pytest
from botocore.client import BaseClient

from gitconnect import wiring
from infra.local.git_server import WorkingCopy
from tests.functional.test_custom_git_flow import link
from tests.functional.test_custom_git_polling import polled_source
from tests.functional.test_sync_fanout import settled_source
from tests.support.inprocess import System


class Died(BaseException):
    """The Lambda going away mid-invocation (timeout, out of memory): nothing in the handler can catch it."""


@pytest.mark.slow
def test_a_consumer_that_dies_mid_poll_leaves_the_item_to_run_again_and_it_builds_once(
        system: System, team: str, admin: str, remote: tuple[str, WorkingCopy]) -> None:
    # Given: a polled source whose remote moved, sent to SyncQueue by the schedule
    url, work = remote
    source = settled_source(system, team, admin, url)
    work.write("f.txt", "died")
    sha = work.commit("change")
    work.push()
    assert system.fire_schedule()["sent"].get("poll", 0) >= 1
    # When: the first SyncFunction dies after the poll ran ls-remote and queued its build, before recording the poll
    original, died = BaseClient._make_api_call, []

    def dying(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "UpdateItem" and str(params.get("TableName", "")).endswith("SourcesTable") and not died:
            died.append(operation)
            raise Died
        return original(client, operation, params)

    function = system.functions["SyncFunction"]
    invoke = function.invoke

    def invoke_as_lambda(event: Any) -> Any:
        try:
            return invoke(event)
        except Died as exc:  # the runtime reports a failed invocation: the whole batch stays on the queue
            raise RuntimeError("SyncFunction died") from exc

    with mock.patch.object(BaseClient, "_make_api_call", dying), \
            mock.patch.object(function, "invoke", invoke_as_lambda):
        rounds = system.drain("SyncFunction")
    # Then: the message came back (visibility) and a later invocation polled; one build, the poll recorded
    assert died and len(rounds) >= 2
    assert system.queue_depth("SyncQueue") == 0 and system.queue_depth("SyncDLQ") == 0
    system.drain()
    assert [e["detail"]["sha"] for e in system.bus_events()] == [sha]
    builds = system.call("GET", f"/v1/teams/{team}/builds?source_id={source['id']}", token=admin).json()["items"]
    assert [b["sha"] for b in builds].count(sha) == 1
    polled = system.call("GET", f"/v1/teams/{team}/sources/{source['id']}", token=admin).json()
    assert polled["polling"]["status"] == "ok" and polled["polling"]["last_polled_at"]


@pytest.mark.slow
def test_two_schedules_at_the_same_moment_send_each_due_source_once(
        system: System, team: str, admin: str, remote: tuple[str, WorkingCopy],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: 40 polled sources, all due (created under the suite's interval 0), then a minute between polls
    url, _ = remote
    connection = link(system, team, admin, url)
    ids = {polled_source(system, team, admin, connection["id"], name=f"s{i}")["id"] for i in range(40)}
    monkeypatch.setenv("GITCONNECT_POLL_SECONDS", "60")
    wiring.reset()
    sqs, queue = system.client("sqs"), system.res.attrs["SyncQueue"]["QueueUrl"]
    # When: two scheduled syncs run concurrently
    barrier, results = threading.Barrier(2), []

    def fire() -> None:
        barrier.wait()
        results.append(system.fire_schedule())

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then: each source was claimed by exactly one of them and sent once
    sent: Counter[str] = Counter()
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            sent[json.loads(m["Body"])["id"]] += 1
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    ours = {i: n for i, n in sent.items() if i in ids}
    assert set(ours) == ids and set(ours.values()) == {1}
    assert sum(r["sent"].get("poll", 0) for r in results) == sum(sent.values())
    monkeypatch.undo()
    wiring.reset()
