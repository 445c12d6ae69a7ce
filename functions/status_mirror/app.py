"""StatusMirrorFunction: consumes the status queue; each message shows its build's current status on the provider."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from gitconnect import observability, wiring
from gitconnect.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


# A provider that cannot be reached or refuses for now fails the record: SQS redelivers it after the visibility
# timeout, five times, then keeps it in the DLQ (alarmed). Records of one batch never wait on each other.
def record_handler(record: SQSRecord) -> None:
    build_id = str(json.loads(record.body)["build_id"])
    observability.bind(build_id=build_id)
    try:
        outcome = wiring.status_mirror().mirror(build_id)
    except Exception:
        metrics.count("StatusMirrorFailures")
        raise
    metrics.count("StatusesMirrored", outcome=outcome)
    logger.info("status mirrored", extra={"outcome": outcome})


@observability.lambda_handler
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return observability.consume(event, context, processor, record_handler)
