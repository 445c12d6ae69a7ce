"""SQS and EventBridge: the builds queue and the platform's event bus."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

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
            if len(chunk) == 1:
                self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(chunk[0].to_message()))
                continue
            result = self._sqs.send_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "MessageBody": json.dumps(b.to_message())} for i, b in enumerate(chunk)],
            )
            if result.get("Failed"):
                raise RuntimeError(f"SQS refused {len(result['Failed'])} build request(s): {result['Failed'][0]}")


NOT_BEFORE = "gitconnect-not-before"  # message attribute: epoch seconds before which the message waits again
MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds


class WaitingRoom:
    """A message that met a provider's rate limit waits here until the limit resets: sent again with a delay (up to
    15 minutes at a time, then again) instead of failing, so waiting spends none of the queue's receives before the
    DLQ. The caller lets the original go (it succeeded, as far as the queue knows)."""

    DEFAULT_WAIT_SECONDS = 60.0  # a limit that named no reset

    def __init__(self, sqs_client: Any, queue_url: str, clock: Callable[[], float] = time.time) -> None:
        self._sqs = sqs_client
        self._url = queue_url
        self.clock = clock

    def run_or_wait(self, body: str, message_attributes: Any, run: Callable[[], T]) -> T | None:
        """`run()` for the message, or None when it waits instead: it came back before its reset (nothing is run),
        or `run` met a rate limit (RateLimitedError: nothing may have been written by it) and it waits for the reset."""
        if self.holds(body, message_attributes):
            return None
        try:
            return run()
        except RateLimitedError as limited:
            self.wait_out(body, limited)
            return None

    def holds(self, body: str, message_attributes: Any) -> bool:
        """True when the message came back before its reset: sent back to wait on (nothing else is done with it)."""
        not_before = self.not_before(message_attributes)
        if not_before is None or not_before <= self.clock():
            return False
        self._send(body, not_before)
        return True

    def wait_out(self, body: str, limited: RateLimitedError) -> int:
        """Send `body` back to wait for the reset `limited` names; the delay used (seconds)."""
        return self._send(body, self.clock() + (limited.retry_after or self.DEFAULT_WAIT_SECONDS))

    def _send(self, body: str, not_before: float) -> int:
        delay = max(1, min(MAX_DELAY_SECONDS, math.ceil(not_before - self.clock())))
        self._sqs.send_message(
            QueueUrl=self._url,
            MessageBody=body,
            DelaySeconds=delay,
            MessageAttributes={NOT_BEFORE: {"DataType": "Number", "StringValue": str(math.ceil(not_before))}},
        )
        return delay

    @staticmethod
    def not_before(message_attributes: Any) -> float | None:
        """When a message sent back here may run again (None: at any time). Lambda's SQS records spell the
        attribute's value `stringValue`, SQS's own API `StringValue`."""
        attribute = (message_attributes or {}).get(NOT_BEFORE) or {}
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
        self._sqs.send_message(QueueUrl=self._url, MessageBody=body)

    def send_many(self, bodies: Sequence[str]) -> None:
        """Ten per SendMessageBatch; raises if any entry was refused (the caller's item stays claimed: see
        services/schedule.py)."""
        for start in range(0, len(bodies), _SQS_BATCH):
            chunk = bodies[start : start + _SQS_BATCH]
            result = self._sqs.send_message_batch(
                QueueUrl=self._url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)]
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
