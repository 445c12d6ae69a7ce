"""EventRouterFunction: consumes verified deliveries; each becomes build requests and delivery log entries once."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function

from gitconnect import observability, wiring
from gitconnect.domain.deliveries import QueuedDelivery, decode

DUPLICATE = "duplicate"  # marks the stored summary Powertools returns for a delivery routed before

processor = BatchProcessor(event_type=EventType.SQS)


# Powertools' response hook: called, instead of `route`, for a delivery that was routed before, with the summary that
# routing stored (`response`).
def seen_before(response: dict[str, Any], idempotent_data: Any) -> dict[str, Any]:  # (a DataRecord)
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
@observability.metrics.timed("RoutingLatency")
def route(*, key: tuple[str, str | None, str], delivery: QueuedDelivery) -> dict[str, Any]:
    return wiring.router().route(delivery).summary()


# A delivery that meets a provider's rate limit waits for the reset on its queue, its receives unspent: nothing was
# queued or logged (the router writes once every decision is made), and idempotency dropped its record.
def record_handler(record: SQSRecord) -> None:
    delivery = decode(record.body)
    observability.bind(delivery_id=delivery.delivery_id)  # on every line, and on every message routing sends
    result = wiring.waiting_room().run_or_wait(
        record.body, record.message_attributes, lambda: route(key=delivery.idempotency_key, delivery=delivery)
    )
    if result is None:
        observability.logger.info("delivery waits for a rate limit")
        return
    if result.get(DUPLICATE):
        wiring.router().log_duplicate(delivery)
    else:  # routed now: once per delivery
        observability.metrics.count("FanOut", result["builds"], provider=delivery.provider)
    observability.logger.info("delivery routed", extra={"message_id": record.message_id, "outcome": result["outcome"]})


@observability.lambda_handler
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    return observability.consume(event, context, processor, record_handler)
