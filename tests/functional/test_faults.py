"""Faults injected at AWS call sites: the request is retried or lands in a DLQ; nothing is built twice."""

from __future__ import annotations

import json

import pytest

from infra.local.git_server import WorkingCopy
from tests.functional.test_custom_git_flow import link
from tests.support.faults import failing
from tests.support.inprocess import System


@pytest.fixture
def source(system: System, team: str, admin: str, remote: tuple[str, WorkingCopy]) -> dict:
    connection = link(system, team, admin, remote[0])
    reply = system.call("POST", f"/v1/teams/{team}/sources", token=admin,
                        body={"connection_id": connection["id"], "branches": ["main"], "poll": True})
    assert reply.status == 201
    system.drain()
    system.bus_events()
    return reply.json()


def builds_of(system: System, team: str, token: str, source_id: str) -> list[dict]:
    return system.call("GET", f"/v1/teams/{team}/builds?source_id={source_id}", token=token).json()["items"]


@pytest.mark.parametrize(
    ("operation", "match"),
    [
        ("PutItem", {"TableName": "BuildsTable"}),        # recording the build
        ("GetItem", {"TableName": "SourcesTable"}),       # checking the source still exists
        ("PutEvents", {}),                                # publishing BuildRequested
        ("PutItem", {"TableName": "IdempotencyTable"}),   # the idempotency record
    ],
)
def test_transient_consumer_fault_is_retried_and_builds_once(system: System, team: str, admin: str, source: dict,
                                                             remote: tuple[str, WorkingCopy], operation: str,
                                                             match: dict[str, str]) -> None:
    _, work = remote
    work.write("f.txt", "1")
    sha = work.commit("change")
    work.push()
    system.sync()
    with failing(operation, times=2, **match) as fault:
        system.drain()
    assert fault.injected == 2
    events = system.bus_events()
    assert [e["detail"]["sha"] for e in events] == [sha]
    assert [b["sha"] for b in builds_of(system, team, admin, source["id"])] == [sha]
    assert system.queue_depth("BuildsQueue") == 0 and system.queue_depth("BuildsDLQ") == 0


def test_persistent_consumer_fault_lands_in_dlq_and_redrive_builds_once(
        system: System, team: str, admin: str, source: dict, remote: tuple[str, WorkingCopy]) -> None:
    _, work = remote
    work.write("f.txt", "2")
    sha = work.commit("change")
    work.push()
    system.sync()
    with failing("PutEvents") as fault:
        system.drain(rounds=10)
    # maxReceiveCount is 5 in template.yaml: five tries, then the DLQ holds it
    assert fault.injected == 5
    assert system.bus_events() == []
    assert system.queue_depth("BuildsQueue") == 0 and system.queue_depth("BuildsDLQ") == 1
    # Redrive after the cause is fixed: built exactly once
    sqs = system.client("sqs")
    dlq, queue = system.res.attrs["BuildsDLQ"]["QueueUrl"], system.res.attrs["BuildsQueue"]["QueueUrl"]
    for message in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]:
        sqs.send_message(QueueUrl=queue, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    system.drain()
    assert [e["detail"]["sha"] for e in system.bus_events()] == [sha]
    assert len(builds_of(system, team, admin, source["id"])) == 1


def test_duplicate_request_messages_publish_once(system: System, team: str, admin: str, source: dict,
                                                 remote: tuple[str, WorkingCopy]) -> None:
    reply = system.call("POST", f"/v1/teams/{team}/sources/{source['id']}/builds", token=admin,
                        body={"branch": "main"})
    build = reply.json()
    # SQS delivers at least once: the same request arrives three more times
    queue = system.res.attrs["BuildsQueue"]["QueueUrl"]
    stored = system.client("sqs").receive_message(QueueUrl=queue)["Messages"][0]
    for _ in range(3):
        system.client("sqs").send_message(QueueUrl=queue, MessageBody=stored["Body"])
    system.drain()
    assert [e["detail"]["build_id"] for e in system.bus_events()] == [build["id"]]


def test_sqs_fault_during_poll_is_retried_by_sqs(system: System, team: str, admin: str, source: dict,
                                                remote: tuple[str, WorkingCopy]) -> None:
    """The poll's build request fails to send: the sync record fails, nothing is recorded, SQS hands it out again and
    the retried poll requests the same (stable) build."""
    _, work = remote
    work.write("f.txt", "3")
    sha = work.commit("change")
    work.push()
    system.fire_schedule()
    with failing("SendMessage", times=1) as fault:
        rounds = system.drain("SyncFunction")
    assert fault.injected == 1
    assert [len(r.failed_ids) for r in rounds][:1] == [1]  # the first try failed, a later one did the poll
    assert system.queue_depth("SyncQueue") == 0 and system.queue_depth("SyncDLQ") == 0
    system.sync()
    system.drain()
    assert [e["detail"]["sha"] for e in system.bus_events()] == [sha]
    assert [b["sha"] for b in builds_of(system, team, admin, source["id"])] == [sha]


def test_sqs_fault_during_manual_build_stores_nothing(system: System, team: str, admin: str, source: dict) -> None:
    with failing("SendMessage"):
        reply = system.call("POST", f"/v1/teams/{team}/sources/{source['id']}/builds", token=admin,
                            body={"branch": "main"})
    assert reply.status == 503 and reply.headers["retry-after"] == "1"
    assert reply.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in reply.body.decode() and json.loads(reply.body)["status"] == 503
    assert builds_of(system, team, admin, source["id"]) == []


def test_a_builder_that_calls_back_at_once_is_recognized(system: System, team: str, admin: str, source: dict) -> None:
    """The builder reports the moment BuildRequested reaches it (here: while PutEvents is still returning): the
    callback token must already be known. (It was stored after the publish once: a fast builder got a 401.)"""
    from unittest import mock

    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    answers: list[int] = []

    def put_events_then_call_back(client: BaseClient, operation: str, params: dict) -> object:
        result = original(client, operation, params)
        if operation == "PutEvents":
            detail = json.loads(params["Entries"][0]["Detail"])
            if "build_id" in detail:
                answers.append(system.call("POST", f"/v1/builds/{detail['build_id']}/status",
                                           token=detail["callback_token"], body={"status": "running"}).status)
        return result

    with mock.patch.object(BaseClient, "_make_api_call", put_events_then_call_back):
        reply = system.call("POST", f"/v1/teams/{team}/sources/{source['id']}/builds", token=admin,
                            body={"branch": "main"})
        assert reply.status == 202
        system.drain("BuildTriggerFunction")
    assert answers == [200]
