"""BuildTriggerFunction: consumes the builds queue; each request becomes one build and one BuildRequested."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function

from gitconnect import observability, wiring
from gitconnect.domain.models import Build
from gitconnect.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)
idempotency = wiring.idempotency_config("[id, trigger]")


# Two copies of one request (SQS delivers at least once) dispatch once: keyed on the build id and its trigger (another
# trigger of the same build, a release on a tag just built, reaches the dispatcher, which merges it into the build).
# (The decorator is untyped; its name is part of the idempotency key, so it stays a decorator on `dispatch`.)
@idempotent_function(  # type: ignore[untyped-decorator]  # Powertools' decorator has no annotations
    data_keyword_argument="request", config=idempotency, persistence_store=wiring.idempotency_store()
)
def dispatch(request: dict[str, Any]) -> str:
    return wiring.dispatcher().dispatch(Build.from_message(request))


# The delivery id came with the message's attributes (observability.consume); the build id is the request's own.
def record_handler(record: SQSRecord) -> None:
    request = json.loads(record.body)
    observability.bind(build_id=str(request.get("id") or ""))
    outcome = dispatch(request=request)
    metrics.count("BuildsRequested", trigger=str(request.get("trigger")), outcome=outcome)
    logger.info("build request handled", extra={"message_id": record.message_id, "outcome": outcome})


@observability.lambda_handler
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    return observability.consume(event, context, processor, record_handler)
