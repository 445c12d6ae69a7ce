"""EventRouterFunction: consumes verified deliveries; each becomes build requests and delivery log entries once."""

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function

from gitconnect import wiring

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)
idempotency = wiring.idempotency_config("[provider, hook_id, delivery_id]")
routed: list[str] = []  # appended to each time `route` really runs (a duplicate returns the stored result instead)


# The same delivery (a provider retry, a redelivery, SQS at-least-once) is routed once. Keyed on the hook too: one
# GitLab event fires every hook of a project with the same event UUID, and each hook feeds its own source.
@idempotent_function(data_keyword_argument="delivery", config=idempotency, persistence_store=wiring.idempotency_store())
def route(delivery: dict[str, Any]) -> dict[str, Any]:
    routed.append(delivery["delivery_id"])
    return wiring.router().route(delivery).summary()


def record_handler(record: SQSRecord) -> None:
    delivery = json.loads(record.body)
    runs = len(routed)
    result = route(delivery=delivery)
    if len(routed) == runs:
        wiring.router().log_duplicate(delivery, result)
    logger.info("delivery routed", extra={"message_id": record.message_id, "outcome": result["outcome"]})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    routed.clear()
    idempotency.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
