"""SQS event source mappings, run locally: receive a batch, invoke the consumer with a real Lambda SQS event,
delete what succeeded, hand back what failed.

Deviation from AWS (on purpose): a failed message is made visible again after ``GITCONNECT_LOCAL_RETRY_SECONDS``
(default 1 s, via ChangeMessageVisibilityBatch) instead of after the queue's full VisibilityTimeout, so retries and
the move to the DLQ (which SQS - and moto - do on the receive after ``maxReceiveCount``) take seconds, not minutes.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from infra.local.lambdas import report_exception

log = logging.getLogger("infra.local")

# The message system attributes Lambda puts in a record (AWS returns more with AttributeNames=All).
_RECORD_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
                      "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "AWSTraceHeader",
                      "DeadLetterQueueSourceArn")


@dataclass(frozen=True)
class SqsSource:
    """One SQS event of a function, resolved against the created queues."""

    function_id: str
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    region: str = "us-east-1"


@dataclass
class PollResult:
    received: int = 0
    failed_ids: list[str] = field(default_factory=list)  # message ids handed back to the queue
    error: BaseException | None = None  # the handler's exception when the whole batch failed


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of a Lambda SQS event, from a ReceiveMessage message (boto3 shape)."""
    attributes = message.get("Attributes") or {}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: attributes[k] for k in _RECORD_ATTRIBUTES if k in attributes},
        "messageAttributes": {name: _message_attribute(value)
                              for name, value in (message.get("MessageAttributes") or {}).items()},
        "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """boto3's ``{"StringValue", "BinaryValue": bytes, ...}`` -> Lambda's camelCase, binaries base64-encoded."""
    out: dict[str, Any] = {}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = _b64(value["BinaryValue"])
    out["stringListValues"] = list(value.get("StringListValues") or [])
    out["binaryListValues"] = [_b64(v) for v in value.get("BinaryListValues") or []]
    out["dataType"] = value["DataType"]
    return out


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode("ascii")


def sqs_event(messages: Iterable[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


def failed_message_ids(response: Any, message_ids: list[str]) -> list[str]:
    """Lambda's reading of a ReportBatchItemFailures response: the ids to retry.

    Empty/None response or list -> all succeeded; a malformed response or an unknown id -> the whole batch failed.
    """
    if response is None or response == {} or response == "":
        return []
    if not isinstance(response, dict):
        return list(message_ids)
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return list(message_ids)
    failed = []
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in message_ids:
            return list(message_ids)
        failed.append(ident)
    return failed


def poll_once(sqs: Any, source: SqsSource, invoke: Callable[[dict[str, Any]], Any], *,
              retry_seconds: int = 1, wait_seconds: int = 1) -> PollResult:
    """Receive one batch from ``source``, invoke the consumer once, then delete or release each message."""
    received = sqs.receive_message(
        QueueUrl=source.queue_url,
        MaxNumberOfMessages=max(1, min(source.batch_size, 10)),
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages") or []
    if not received:
        return PollResult()
    ids = [m["MessageId"] for m in received]
    result = PollResult(received=len(received))
    try:
        response = invoke(sqs_event(received, source.queue_arn, source.region))
    except Exception as exc:  # a raised exception fails the whole batch, as in Lambda
        report_exception(f"{source.function_id} (SQS batch of {len(received)})")
        result.error = exc
        failed = set(ids)
    else:
        failed = set(failed_message_ids(response, ids)) if source.report_batch_item_failures else set()
    result.failed_ids = [i for i in ids if i in failed]
    done = [m for m in received if m["MessageId"] not in failed]
    retry = [m for m in received if m["MessageId"] in failed]
    for chunk in _chunks(done):
        sqs.delete_message_batch(QueueUrl=source.queue_url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)])
    for chunk in _chunks(retry):
        sqs.change_message_visibility_batch(QueueUrl=source.queue_url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": retry_seconds}
            for n, m in enumerate(chunk)])
    return result


def _chunks(items: list[dict[str, Any]], size: int = 10) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class SqsPoller(threading.Thread):
    """Runs ``poll_once`` until stopped (long polls of 1 s, so stopping takes about a second)."""

    def __init__(self, sqs: Any, source: SqsSource, invoke: Callable[[dict[str, Any]], Any], *,
                 retry_seconds: int = 1, stop: threading.Event | None = None) -> None:
        super().__init__(name=f"sqs-{source.function_id}", daemon=True)
        self.sqs = sqs
        self.source = source
        self.invoke = invoke
        self.retry_seconds = retry_seconds
        self.stop_event = stop or threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                result = poll_once(self.sqs, self.source, self.invoke, retry_seconds=self.retry_seconds)
            except Exception as exc:  # e.g. moto going away during shutdown: keep the thread alive, quietly
                if self.stop_event.is_set():
                    return
                log.warning("%s: polling %s failed: %s", self.source.function_id, self.source.queue_url, exc)
                self.stop_event.wait(1)
                continue
            if result.received:
                log.info("%s: SQS batch of %d, %d failed", self.source.function_id, result.received,
                         len(result.failed_ids))
