"""EventRouterFunction: consumes verified deliveries; each becomes build requests and delivery log entries once."""

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from gitconnect import wiring
from gitconnect.domain.deliveries import QueuedDelivery, decode
from gitconnect.domain.errors import RateLimitedError

DEFAULT_WAIT_SECONDS = 60  # a limit that named no reset
clock: Callable[[], float] = time.time  # (a test moves it past a reset)
DUPLICATE = "duplicate"  # marks the stored summary Powertools returns for a delivery routed before

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def seen_before(response: dict[str, Any], idempotent_data: DataRecord) -> dict[str, Any]:
    """Powertools' response hook: called, instead of `route`, for a delivery that was routed before, with the summary
    that routing stored (`response`)."""
    return {**response, DUPLICATE: True}


# Keyed on the value `QueuedDelivery.idempotency_key` computes (no key expression: the key is all there is to hash).
idempotency = wiring.idempotency_config("")
idempotency.response_hook = seen_before
_once: Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]] = idempotent_function(
    data_keyword_argument="key", config=idempotency, persistence_store=wiring.idempotency_store()
)


# The same delivery (a provider retry, a redelivery, SQS at-least-once) is routed once. (The records are named after
# this function, `route`.)
@_once
def route(*, key: tuple[str, str | None, str], delivery: QueuedDelivery) -> dict[str, Any]:
    return wiring.router().route(delivery).summary()


def record_handler(record: SQSRecord) -> None:
    room, now = wiring.waiting_room(), clock()
    not_before = room.not_before(record.message_attributes)
    if not_before is not None and not_before > now:  # still inside a provider's rate limit: wait on, call nothing
        room.wait(record.body, not_before, now)
        return
    delivery = decode(record.body)
    try:
        result = route(key=delivery.idempotency_key, delivery=delivery)
    except RateLimitedError as limited:
        # Nothing was queued or logged (the router writes only once every decision is made), and idempotency dropped
        # its in-progress record: the delivery waits for the reset and is routed then, its receives unspent.
        delay = room.wait(record.body, now + (limited.retry_after or DEFAULT_WAIT_SECONDS), now)
        logger.info("delivery waits for a rate limit", extra={"delivery_id": delivery.delivery_id, "delay": delay})
        return
    if result.get(DUPLICATE):
        wiring.router().log_duplicate(delivery)
    logger.info("delivery routed", extra={"message_id": record.message_id, "outcome": result["outcome"]})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
