"""SyncFunction: one due item per message (poll, hook, reconcile, drift), with the container's reused connections."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from gitconnect import observability, wiring
from gitconnect.domain.schedule import SyncItem
from gitconnect.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


# A remote or provider that cannot be reached is a recorded outcome (a poll backed off, a hook tried again next
# interval), not a failed record. A record fails only when its outcome could not be recorded (DynamoDB, SQS): SQS
# hands it out again (polls are idempotent: build ids are stable), five times, then keeps it in SyncDLQ (alarmed).
# Records of one batch never wait on each other.
def record_handler(record: SQSRecord) -> None:
    item = SyncItem.from_message(json.loads(record.body))
    if item.kind == "poll":
        polled = wiring.poller().poll_one(item.team_id, item.id)
        logger.info("source polled", extra={"source_id": item.id, "requested": len(polled.requested),
                                            "failed": polled.failed.get(item.id), "skip": polled.skipped.get(item.id)})
        metrics.count("Polls", outcome="failed" if item.id in polled.failed else "ok")
    elif item.kind == "hook":
        checked = wiring.repair().check(item.id)
        logger.info("webhook checked", extra={"hook_id": item.id, "recreated": bool(checked.recreated),
                                              "missed": len(checked.builds), "failed": checked.failed.get(item.id)})
        outcome = "failed" if item.id in checked.failed else "recreated" if checked.recreated else "ok"
        metrics.count("HookChecks", outcome=outcome)
    elif item.kind == "reconcile":
        reconciled = wiring.reconciler().reconcile_one(item.team_id, item.id)
        logger.info("source reconciled", extra={"source_id": item.id, "outcome": reconciled.outcome,
                                                "builds": len(reconciled.builds), "calls": reconciled.calls,
                                                "not_modified": reconciled.free})
        metrics.count("HeadReconciles", outcome=reconciled.outcome)
    elif item.kind == "drift":
        drifted = wiring.drift().check(item.team_id, item.id)
        logger.info("template checked", extra={"template": item.id, "outcome": drifted.outcome, "runs": drifted.runs})
        metrics.count("Reconciles", outcome=drifted.outcome.split(":")[0])
    else:
        raise ValueError(f"unknown sync item kind {item.kind!r}")  # a newer schedule's item: kept in the DLQ


@observability.lambda_handler
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return observability.consume(event, context, processor, record_handler)
