"""SQS and EventBridge: the builds queue and the platform's event bus."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gitconnect.domain.models import Build

_SQS_BATCH = 10  # SendMessageBatch limit


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
