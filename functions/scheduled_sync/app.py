"""ScheduledSyncFunction: sends the work that is due — polled sources to poll, provider webhooks to check, templates
whose drift check is due — to the sync queue (SyncFunction does it), and asks GitHub to redeliver what it failed to
deliver.

Redelivery stays here: it is already bounded (behind its lease, once per GITCONNECT_REDELIVERY_SECONDS). The fan-out
runs first and stops before the deadline."""

from typing import Any

from aws_lambda_powertools import Logger

from gitconnect import wiring

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    scheduled = wiring.sync_scheduler().run(context.get_remaining_time_in_millis)
    recovered = wiring.recovery().run()
    logger.info("sync done", extra={"sent": scheduled.sent, "taken": scheduled.taken,
                                    "stopped_early": scheduled.stopped_early,
                                    "redelivered": sum(len(g) for g in recovered.redelivered.values())})
    return {"sent": scheduled.sent, "taken": scheduled.taken, "stopped_early": scheduled.stopped_early,
            "redelivered": recovered.redelivered, "recovery_failed": recovered.failed}
