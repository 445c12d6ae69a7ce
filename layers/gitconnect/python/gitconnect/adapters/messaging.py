"""SQS and EventBridge: the builds queue and the platform's event bus. Every SQS message carries the correlation ids
bound when it is sent (delivery, build, run: gitconnect/observability.py) as message attributes."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from gitconnect import observability
from gitconnect.domain.errors import RateLimitedError
from gitconnect.domain.models import Build

_SQS_BATCH = 10  # SendMessageBatch limit
T = TypeVar("T")


class BuildsQueue:
    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, builds: Sequence[Build]) -> None:
        """Enqueue build requests, ten per call. Raises if any entry was refused, so the caller retries
        (duplicates are harmless: build ids are stable and the consumer creates each build once)."""
        for start in range(0, len(builds), _SQS_BATCH):
            chunk = builds[start : start + _SQS_BATCH]
            attributes = observability.message_attributes()
            if len(chunk) == 1:
                self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(chunk[0].to_message()),
                                       **_with(attributes))
                continue
            result = self._sqs.send_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "MessageBody": json.dumps(b.to_message()), **_with(attributes)}
                         for i, b in enumerate(chunk)],
            )
            if result.get("Failed"):
                raise RuntimeError(f"SQS refused {len(result['Failed'])} build request(s): {result['Failed'][0]}")


NOT_BEFORE = "gitconnect-not-before"  # message attribute: epoch seconds before which the message waits again
WAITING_SINCE = "gitconnect-waiting-since"  # message attribute: when it first met a rate limit
MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds


class WaitingRoom:
    """A message that met a provider's rate limit waits here until the limit resets: sent again with a delay (up to
    15 minutes at a time, then again) instead of failing, so waiting spends none of the queue's receives before the
    DLQ. The caller lets the original go (it succeeded, as far as the queue knows). A message that has waited
    MAX_WAIT_SECONDS in all fails instead (a limit that never clears is a fault to see, not to hide)."""

    DEFAULT_WAIT_SECONDS = 60.0  # a limit that named no reset
    MAX_WAIT_SECONDS = 24 * 3600.0

    def __init__(self, sqs_client: Any, queue_url: str, clock: Callable[[], float] = time.time) -> None:
        self._sqs = sqs_client
        self._url = queue_url
        self.clock = clock

    def run_or_wait(self, body: str, message_attributes: Any, run: Callable[[], T]) -> T | None:
        """`run()` for the message, or None when it waits instead: it came back before its reset (nothing is run),
        or `run` met a rate limit (RateLimitedError) and it waits for the reset."""
        since = _number(message_attributes, WAITING_SINCE)
        if since is not None and self.clock() - since > self.MAX_WAIT_SECONDS:
            raise RuntimeError(f"the message has waited for rate limits since {since:.0f}: given up, to its DLQ")
        not_before = _number(message_attributes, NOT_BEFORE)
        if not_before is not None and not_before > self.clock():
            self._send(body, not_before, since)  # still inside the limit: call nothing, wait on
            return None
        try:
            return run()
        except RateLimitedError as limited:
            self.wait_out(body, limited, since)
            return None

    def wait_out(self, body: str, limited: RateLimitedError, since: float | None = None) -> int:
        """Send `body` back to wait for the reset `limited` names; the delay used (seconds)."""
        return self._send(body, self.clock() + (limited.retry_after or self.DEFAULT_WAIT_SECONDS), since)

    def _send(self, body: str, not_before: float, since: float | None) -> int:
        now = self.clock()
        delay = max(1, min(MAX_DELAY_SECONDS, math.ceil(not_before - now)))
        observability.metrics.count("RateLimitWaits")
        attributes = {
            **observability.message_attributes(),
            NOT_BEFORE: {"DataType": "Number", "StringValue": str(math.ceil(not_before))},
            WAITING_SINCE: {"DataType": "Number", "StringValue": str(math.floor(now if since is None else since))},
        }
        self._sqs.send_message(QueueUrl=self._url, MessageBody=body, DelaySeconds=delay, MessageAttributes=attributes)
        return delay


def _with(attributes: dict[str, dict[str, str]]) -> dict[str, Any]:
    """SendMessage's MessageAttributes argument, left out when there are none (SQS refuses an empty map)."""
    return {"MessageAttributes": attributes} if attributes else {}


def _number(message_attributes: Any, name: str) -> float | None:
    """A Number attribute of a message sent back by the waiting room (None: absent). Lambda's SQS records spell its
    value `stringValue`, SQS's own API `StringValue`."""
    attribute = (message_attributes or {}).get(name) or {}
    value = attribute.get("stringValue") or attribute.get("StringValue")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class MessageQueue:
    """One queue's messages, sent as they are (the status queue: `{"build_id": …}`)."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, body: str) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=body, **_with(observability.message_attributes()))

    def send_many(self, bodies: Sequence[str]) -> None:
        """Ten per SendMessageBatch; raises if any entry was refused (the caller's item stays claimed: see
        services/schedule.py)."""
        for start in range(0, len(bodies), _SQS_BATCH):
            chunk = bodies[start : start + _SQS_BATCH]
            attributes = _with(observability.message_attributes())
            result = self._sqs.send_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "MessageBody": b, **attributes} for i, b in enumerate(chunk)],
            )
            if result.get("Failed"):
                raise RuntimeError(f"SQS refused {len(result['Failed'])} message(s): {result['Failed'][0]}")


class PlatformBus:
    def __init__(self, events_client: Any, bus_name: str) -> None:
        self._events = events_client
        self._bus = bus_name

    def publish(self, detail_type: str, detail: dict[str, object]) -> None:
        result = self._events.put_events(
            Entries=[
                {
                    "Source": "gitconnect",
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self._bus,
                }
            ]
        )
        if result.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the {detail_type} event: {result['Entries'][0]}")


class FifoQueue:
    """A FIFO queue's messages, each with its message group (delivered in order, one at a time per group) and its
    deduplication id (a second message with the same id within SQS's five-minute window is accepted and dropped)."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def send_many(self, messages: Sequence[tuple[str, str, str]]) -> None:
        """(body, group id, deduplication id) ten per SendMessageBatch; raises if any entry was refused, so the
        caller retries (a message sent twice is dropped by its deduplication id)."""
        for start in range(0, len(messages), _SQS_BATCH):
            chunk = messages[start : start + _SQS_BATCH]
            entries = [
                {"Id": str(i), "MessageBody": body, "MessageGroupId": group, "MessageDeduplicationId": dedup}
                for i, (body, group, dedup) in enumerate(chunk)
            ]
            result = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            if result.get("Failed"):
                raise RuntimeError(f"SQS refused {len(result['Failed'])} message(s): {result['Failed'][0]}")
