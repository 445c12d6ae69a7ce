"""ScheduledSyncFunction: polls branch heads of sources with polling on, repairs provider webhooks, syncs GitOps
templates with their files (Custom Git has no webhooks; for the others it catches a missed delivery), and asks GitHub
to redeliver what it failed to deliver."""

from typing import Any

from aws_lambda_powertools import Logger

from gitconnect import wiring

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    polled = wiring.poller().poll()
    repaired = wiring.repair().run()
    templates = wiring.templates().sync_linked()
    recovered = wiring.recovery().run()
    logger.info("sync done", extra={"sources": polled.sources, "requested": len(polled.requested),
                                    "poll_failed": len(polled.failed), "poll_skipped": len(polled.skipped),
                                    "hooks_checked": repaired.checked,
                                    "hooks_recreated": len(repaired.recreated), "missed_builds": len(repaired.builds),
                                    "templates": len(templates),
                                    "redelivered": sum(len(g) for g in recovered.redelivered.values())})
    return {"sources": polled.sources, "requested": polled.requested, "failed": polled.failed,
            "skipped": polled.skipped, "hooks_recreated": repaired.recreated, "missed_builds": repaired.builds,
            "templates": templates, "redelivered": recovered.redelivered, "recovery_failed": recovered.failed}
