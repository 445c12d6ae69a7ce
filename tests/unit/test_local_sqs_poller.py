"""SQS event source mapping, run locally: Lambda's record shape and its partial-batch-failure rules."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.sqs_poller import SqsSource, failed_message_ids, poll_once, sqs_event

ARN = "arn:aws:sqs:us-east-1:123456789012:q"


def _message(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "MessageId": f"m{n}", "ReceiptHandle": f"rh{n}", "Body": f"body{n}", "MD5OfBody": f"md5-{n}",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000", "SenderId": "AIDA",
                       "ApproximateFirstReceiveTimestamp": "1700000000001", "QueueArn": "not-in-lambda"},
        **extra,
    }


def test_record_has_lambdas_shape() -> None:
    msg = _message(1, MD5OfMessageAttributes="md5a", MessageAttributes={
        "s": {"DataType": "String", "StringValue": "x"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    })
    [record] = sqs_event([msg], ARN, "eu-west-1")["Records"]
    assert record == {
        "messageId": "m1", "receiptHandle": "rh1", "body": "body1",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000", "SenderId": "AIDA",
                       "ApproximateFirstReceiveTimestamp": "1700000000001"},
        "messageAttributes": {
            "s": {"stringValue": "x", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "b": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
        },
        "md5OfMessageAttributes": "md5a", "md5OfBody": "md5-1",
        "eventSource": "aws:sqs", "eventSourceARN": ARN, "awsRegion": "eu-west-1",
    }


def test_fifo_attributes_are_kept() -> None:
    msg = _message(1)
    msg["Attributes"] |= {"MessageGroupId": "g", "MessageDeduplicationId": "d", "SequenceNumber": "1"}
    attrs = sqs_event([msg], ARN + ".fifo", "us-east-1")["Records"][0]["attributes"]
    assert (attrs["MessageGroupId"], attrs["MessageDeduplicationId"], attrs["SequenceNumber"]) == ("g", "d", "1")


@pytest.mark.parametrize(("response", "failed"), [
    (None, []), ({}, []), ({"batchItemFailures": []}, []), ({"batchItemFailures": None}, []),
    ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, ["m2"]),
    ({"batchItemFailures": [{"itemIdentifier": "unknown"}]}, ["m1", "m2"]),  # unknown id: whole batch
    ({"batchItemFailures": [{"itemIdentifier": ""}]}, ["m1", "m2"]),
    ({"batchItemFailures": [{"wrong": "m1"}]}, ["m1", "m2"]),
    ("garbage", ["m1", "m2"]),
])
def test_batch_item_failures_rules(response: Any, failed: list[str]) -> None:
    assert failed_message_ids(response, ["m1", "m2"]) == failed


class FakeSqs:
    """Records calls; hands out one prepared batch."""

    def __init__(self, batch: list[dict[str, Any]]) -> None:
        self.batch = batch
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("receive", kwargs))
        batch, self.batch = self.batch, []
        return {"Messages": batch} if batch else {}

    def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("delete", kwargs))
        return {"Successful": kwargs["Entries"], "Failed": []}

    def change_message_visibility_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("visibility", kwargs))
        return {"Successful": kwargs["Entries"], "Failed": []}

    def handles(self, call: str) -> list[str]:
        return [e["ReceiptHandle"] for name, kw in self.calls if name == call for e in kw["Entries"]]


SOURCE = SqsSource("Fn", "http://q", ARN, batch_size=10, report_batch_item_failures=True)


def test_partial_failure_deletes_the_rest_and_releases_the_failed_quickly() -> None:
    sqs = FakeSqs([_message(1), _message(2), _message(3)])
    seen = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        seen.append([r["messageId"] for r in event["Records"]])
        return {"batchItemFailures": [{"itemIdentifier": "m2"}]}

    result = poll_once(sqs, SOURCE, handler, retry_seconds=1)
    assert seen == [["m1", "m2", "m3"]]
    assert (result.received, result.failed_ids) == (3, ["m2"])
    assert sqs.handles("delete") == ["rh1", "rh3"]
    assert sqs.handles("visibility") == ["rh2"]
    [(_, visibility)] = [c for c in sqs.calls if c[0] == "visibility"]
    assert visibility["Entries"][0]["VisibilityTimeout"] == 1
    receive = sqs.calls[0][1]
    assert (receive["MaxNumberOfMessages"], receive["WaitTimeSeconds"]) == (10, 1)
    assert receive["AttributeNames"] == ["All"]
    assert receive["MessageAttributeNames"] == ["All"]


def test_an_exception_fails_the_whole_batch(capsys: pytest.CaptureFixture[str]) -> None:
    sqs = FakeSqs([_message(1), _message(2)])

    def handler(event: dict[str, Any]) -> None:
        raise ValueError("poison")

    result = poll_once(sqs, SOURCE, handler)
    assert result.failed_ids == ["m1", "m2"]
    assert isinstance(result.error, ValueError)
    assert sqs.handles("delete") == []
    assert sqs.handles("visibility") == ["rh1", "rh2"]
    assert "ValueError: poison" in capsys.readouterr().err


def test_without_report_batch_item_failures_a_return_is_success() -> None:
    sqs = FakeSqs([_message(1), _message(2)])
    source = SqsSource("Fn", "http://q", ARN, batch_size=20, report_batch_item_failures=False)
    result = poll_once(sqs, source, lambda e: {"batchItemFailures": [{"itemIdentifier": "m1"}]})
    assert result.failed_ids == []
    assert sqs.handles("delete") == ["rh1", "rh2"]
    assert sqs.calls[0][1]["MaxNumberOfMessages"] == 10  # SQS's maximum


def test_an_empty_queue_invokes_nothing() -> None:
    sqs = FakeSqs([])
    result = poll_once(sqs, SOURCE, lambda e: pytest.fail("invoked"))
    assert result.received == 0
