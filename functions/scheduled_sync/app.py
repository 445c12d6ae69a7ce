"""ScheduledSyncFunction: sends the work that is due — polled sources to poll, provider webhooks to check, templates
whose drift check is due — to the sync queue (SyncFunction does it), and asks GitHub to redeliver what it failed to
deliver.

Redelivery stays here: it is already bounded (behind its lease, once per GITCONNECT_REDELIVERY_SECONDS). The fan-out
runs first and stops before the deadline."""

from typing import Any

from gitconnect import observability, wiring
from gitconnect.observability import logger, metrics


@observability.lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    scheduled = wiring.sync_scheduler().run(context.get_remaining_time_in_millis)
    # Items stored before the due-time indexes get a due time (a bounded pass, once; then a no-op).
    backfilled = wiring.due_backfill().run(context.get_remaining_time_in_millis, margin_ms=10_000)
    recovered = wiring.recovery().run(context.get_remaining_time_in_millis)
    for kind, n in scheduled.sent.items():
        metrics.count("SyncItemsSent", n, kind=kind)
    metrics.count("Redeliveries", sum(len(g) for g in recovered.redelivered.values()), outcome="requested")
    metrics.count("Redeliveries", len(recovered.failed), outcome="failed")
    logger.info("sync done", extra={"sent": scheduled.sent, "taken": scheduled.taken,
                                    "stopped_early": scheduled.stopped_early,
                                    "redelivered": sum(len(g) for g in recovered.redelivered.values())})
    return {"sent": scheduled.sent, "taken": scheduled.taken, "stopped_early": scheduled.stopped_early,
            "backfilled": backfilled.given,
            "redelivered": recovered.redelivered, "recovery_failed": recovered.failed}
