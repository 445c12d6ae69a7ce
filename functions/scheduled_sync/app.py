"""ScheduledSyncFunction: sends the work that is due — polled sources to poll, provider webhooks to check — to the
sync queue (SyncFunction does it), syncs GitOps templates with their files (Custom Git has no webhooks; for the others
it catches a missed delivery), and asks GitHub to redeliver what it failed to deliver.

Template drift and redelivery stay here: each is already bounded (one head check per template branch; redelivery
behind its lease, once per GITCONNECT_REDELIVERY_SECONDS). The fan-out runs first and stops before the deadline."""

from typing import Any

from aws_lambda_powertools import Logger

from gitconnect import wiring

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    scheduled = wiring.sync_scheduler().run(context.get_remaining_time_in_millis)
    # Items stored before the due-time indexes get a due time (a bounded pass, once; then a no-op).
    backfilled = wiring.due_backfill().run(context.get_remaining_time_in_millis, margin_ms=10_000)
    templates = wiring.templates().sync_linked()
    recovered = wiring.recovery().run()
    logger.info("sync done", extra={"sent": scheduled.sent, "taken": scheduled.taken,
                                    "stopped_early": scheduled.stopped_early, "templates": len(templates),
                                    "redelivered": sum(len(g) for g in recovered.redelivered.values())})
    return {"sent": scheduled.sent, "taken": scheduled.taken, "stopped_early": scheduled.stopped_early,
            "backfilled": backfilled.given,
            "templates": templates, "redelivered": recovered.redelivered, "recovery_failed": recovered.failed}
