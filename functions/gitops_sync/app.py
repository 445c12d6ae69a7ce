"""GitOpsSyncFunction: consumes the FIFO gitops queue; each message is one template to bring up to its file
(services/gitops_queue.py). FIFO batch processing: a record that fails fails the records of its message group behind
it in the batch (they come back, in order, after it), while other groups' records go on."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from gitconnect import wiring
from gitconnect.services.gitops_queue import SyncRequest

logger = Logger()
processor = SqsFifoPartialProcessor(skip_group_on_error=True)


def record_handler(record: SQSRecord) -> None:
    request = SyncRequest.from_body(record.body)
    outcome = wiring.gitops_consumer().apply(request)
    logger.info("template synced", extra={"template_id": request.template_id, "commit": request.commit,
                                          "outcome": outcome})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
