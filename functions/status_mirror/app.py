"""StatusMirrorFunction: consumes the status queue; each message shows its build's current status (or a pull
request's `gitconnect/template` check) on the provider."""

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from gitconnect import wiring

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


# A provider that cannot be reached or refuses for now fails the record: SQS redelivers it after the visibility
# timeout, five times, then keeps it in the DLQ (alarmed). Records of one batch never wait on each other.
def record_handler(record: SQSRecord) -> None:
    message = json.loads(record.body)
    outcome = wiring.status_mirror().handle(message)
    logger.info("status mirrored", extra={"build_id": message.get("build_id"), "outcome": outcome})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
