"""ScheduledSyncFunction: sends the polled sources that are due to the sync queue (SyncFunction polls them), repairs
provider webhooks, syncs GitOps templates with their files (Custom Git has no webhooks; for the others it catches a
missed delivery), and asks GitHub to redeliver what it failed to deliver.

Only polling fans out: the other three stay here because each is already bounded (hook checks throttled per hook by
GITCONNECT_HOOK_CHECK_SECONDS, one head check per template branch, redelivery behind its lease); the fan-out runs
first so they never delay a poll."""

from typing import Any

from aws_lambda_powertools import Logger

from gitconnect import wiring

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    scheduled = wiring.sync_scheduler().run(context.get_remaining_time_in_millis)
    repaired = wiring.repair().run()
    templates = wiring.templates().sync_linked()
    recovered = wiring.recovery().run()
    logger.info("sync done", extra={"polls_due": scheduled.due, "polls_sent": scheduled.sent,
                                    "polls_taken": scheduled.taken, "stopped_early": scheduled.stopped_early,
                                    "hooks_checked": repaired.checked,
                                    "hooks_recreated": len(repaired.recreated), "missed_builds": len(repaired.builds),
                                    "templates": len(templates),
                                    "redelivered": sum(len(g) for g in recovered.redelivered.values())})
    return {"polls_due": scheduled.due, "polls_sent": scheduled.sent, "polls_taken": scheduled.taken,
            "stopped_early": scheduled.stopped_early, "hooks_recreated": repaired.recreated,
            "missed_builds": repaired.builds, "templates": templates, "redelivered": recovered.redelivered,
            "recovery_failed": recovered.failed}
