"""SyncFunction: consumes the sync queue; each message is one due item the scheduled sync claimed (today: poll one
source). Providers and HTTP clients are the container's (wiring caches them), so a batch reuses its connections."""

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from gitconnect import wiring
from gitconnect.domain.schedule import SyncItem

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


# A remote that cannot be reached is a recorded, backed-off poll, not a failed record. A record fails only when the
# poll could not even be recorded (DynamoDB, SQS): SQS redelivers it (polls are idempotent: build ids are stable),
# five times, then keeps it in SyncDLQ (alarmed). Records of one batch never wait on each other.
def record_handler(record: SQSRecord) -> None:
    item = SyncItem.from_message(json.loads(record.body))
    if item.kind != "poll":
        raise ValueError(f"unknown sync item kind {item.kind!r}")  # a newer schedule's item: kept in the DLQ
    report = wiring.poller().poll_one(item.team_id, item.source_id)
    logger.info("source polled", extra={"source_id": item.source_id, "requested": len(report.requested),
                                        "failed": report.failed.get(item.source_id),
                                        "skipped": report.skipped.get(item.source_id)})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
