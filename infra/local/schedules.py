"""Schedule events, run locally (moto's EventBridge does not fire rules): a thread per schedule that invokes the
function with a real "Scheduled Event" payload every period. The first fire is one period after start.

``rate(...)`` expressions run at their rate; ``GITCONNECT_LOCAL_SCHEDULE_SECONDS`` overrides every period.
``cron(...)`` is not evaluated locally: it fires only at that override, and is skipped without one.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from infra.local.lambdas import report_exception

log = logging.getLogger("infra.local")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    """Seconds between fires of ``rate(N unit)``; None for anything else (cron, at(...))."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def scheduled_event(*, rule_arn: str, region: str, account_id: str, now: float | None = None) -> dict[str, Any]:
    """The EventBridge event a scheduled rule delivers to Lambda."""
    moment = time.gmtime(time.time() if now is None else now)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", moment),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class ScheduleThread(threading.Thread):
    """Fires ``invoke(event)`` every ``period`` seconds until stopped."""

    def __init__(self, name: str, period: float, make_event: Callable[[], Any], invoke: Callable[[Any], Any], *,
                 stop: threading.Event | None = None) -> None:
        super().__init__(name=f"schedule-{name}", daemon=True)
        self.label = name
        self.period = period
        self.make_event = make_event
        self.invoke = invoke
        self.stop_event = stop or threading.Event()
        self.fired = 0

    def run(self) -> None:
        while not self.stop_event.wait(self.period):
            self.fired += 1
            try:
                self.invoke(self.make_event())
            except Exception:  # logged as Lambda would log it; the schedule goes on
                report_exception(f"{self.label} (schedule)")


def schedule_period(expression: str, override: float | None) -> float | None:
    """The local period of a schedule expression, or None when it cannot run locally."""
    if override:
        return override
    seconds = rate_seconds(expression)
    if seconds is None:
        log.warning("%s is not evaluated locally; set GITCONNECT_LOCAL_SCHEDULE_SECONDS to fire it", expression)
    return seconds


def schedule_event_factory(input_json: str | None, *, rule_arn: str, region: str,
                           account_id: str) -> Callable[[], Any]:
    """The event of each fire: the schedule's fixed ``Input`` when it has one, else a Scheduled Event."""
    if input_json is not None:
        fixed = json.loads(input_json) if isinstance(input_json, str) else input_json
        return lambda: fixed
    return lambda: scheduled_event(rule_arn=rule_arn, region=region, account_id=account_id)
