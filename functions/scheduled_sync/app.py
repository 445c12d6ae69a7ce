"""ScheduledSyncFunction: polls the branch heads of sources with polling on."""

from typing import Any

from aws_lambda_powertools import Logger

from gitconnect import wiring

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = wiring.poller().poll()
    logger.info(
        "poll done", extra={"sources": report.sources, "requested": len(report.requested), "failed": len(report.failed)}
    )
    return {"sources": report.sources, "requested": report.requested, "failed": report.failed}
