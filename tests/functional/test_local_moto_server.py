"""What the local stack relies on in moto's *server* (not mock_aws): SQS moves a message to the DLQ after
maxReceiveCount receives when the poller hands failures back, and EventBridge PutEvents reaches an SQS target."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.local import resources
from infra.local import template as tpl
from infra.local.moto_server import MotoServer
from infra.local.sqs_poller import SqsSource, poll_once


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()
    assert server.process is not None
    assert server.process.poll() is not None


@pytest.fixture(scope="module")
def session(moto: MotoServer) -> boto3.Session:
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


@pytest.fixture(scope="module")
def created(moto: MotoServer, session: boto3.Session) -> dict[str, Any]:
    template = tpl.load_template()
    clients = _EndpointSession(session, moto.url)
    res = resources.create_resources(template, clients, stack_name="gitconnect-local")  # type: ignore[arg-type]
    tap = resources.create_bus_tap(clients, res.attrs["EventBus"]["Ref"])  # type: ignore[arg-type]
    return {"res": res, "tap": tap, "sqs": clients.client("sqs"), "events": clients.client("events")}


class _EndpointSession:
    """A boto3 session whose clients all talk to one endpoint (without touching os.environ)."""

    def __init__(self, session: boto3.Session, endpoint: str) -> None:
        self._session = session
        self._endpoint = endpoint
        self.region_name = session.region_name

    def client(self, name: str, **kwargs: Any) -> Any:
        return self._session.client(name, endpoint_url=self._endpoint, **kwargs)


@pytest.mark.slow
def test_a_poison_message_reaches_the_dlq_after_max_receive_count(created: dict[str, Any]) -> None:
    res, sqs = created["res"], created["sqs"]
    queue, dlq = res.attrs["BuildsQueue"], res.attrs["BuildsDLQ"]
    source = SqsSource("BuildTriggerFunction", queue["QueueUrl"], queue["Arn"], 10, True)
    sqs.send_message(QueueUrl=queue["QueueUrl"], MessageBody="poison")
    sqs.send_message(QueueUrl=queue["QueueUrl"], MessageBody="fine")
    receives: list[str] = []

    def consumer(event: dict[str, Any]) -> dict[str, Any]:
        receives.extend(r["body"] for r in event["Records"])
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                      if r["body"] == "poison"]}

    deadline = time.monotonic() + 30
    moved = []
    while time.monotonic() < deadline and not moved:
        poll_once(sqs, source, consumer, retry_seconds=1)
        moved = sqs.receive_message(QueueUrl=dlq["QueueUrl"], WaitTimeSeconds=0).get("Messages", [])
    assert [m["Body"] for m in moved] == ["poison"]
    assert receives.count("poison") == 5  # maxReceiveCount in template.yaml
    assert receives.count("fine") == 1  # deleted after its success
    assert sqs.receive_message(QueueUrl=queue["QueueUrl"], WaitTimeSeconds=1).get("Messages") is None


def test_put_events_reach_the_bus_tap(created: dict[str, Any]) -> None:
    res, sqs, events = created["res"], created["sqs"], created["events"]
    bus = res.attrs["EventBus"]["Ref"]
    events.put_events(Entries=[
        {"Source": "gitconnect", "DetailType": "BuildRequested", "Detail": json.dumps({"build_id": "b1"}),
         "EventBusName": bus},
        {"Source": "someone.else", "DetailType": "Other", "Detail": "{}", "EventBusName": bus},
        {"Source": "gitconnect", "DetailType": "OnDefaultBus", "Detail": "{}"},
    ])
    messages = sqs.receive_message(QueueUrl=created["tap"], MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    bodies = [json.loads(m["Body"]) for m in messages]
    assert [(b["source"], b["detail-type"], b["detail"]) for b in bodies] == [
        ("gitconnect", "BuildRequested", {"build_id": "b1"})]
