"""Schedules, run locally: rate expressions, the Scheduled Event payload, the firing thread."""

from __future__ import annotations

import threading
import time

import pytest

from infra.local import schedules


@pytest.mark.parametrize(("expression", "seconds"), [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 hours)", 7200),
    ("rate(1 day)", 86400), ("rate(3 days)", 259200), ("cron(0 12 * * ? *)", None), ("rate(1 fortnight)", None),
])
def test_rate_seconds(expression: str, seconds: int | None) -> None:
    assert schedules.rate_seconds(expression) == seconds


def test_period_override_and_cron() -> None:
    assert schedules.schedule_period("rate(1 hour)", None) == 3600
    assert schedules.schedule_period("rate(1 hour)", 2.0) == 2.0
    assert schedules.schedule_period("cron(0 12 * * ? *)", None) is None
    assert schedules.schedule_period("cron(0 12 * * ? *)", 5.0) == 5.0


def test_scheduled_event_shape() -> None:
    event = schedules.scheduled_event(rule_arn="arn:aws:events:eu-west-1:111:rule/r", region="eu-west-1",
                                      account_id="111", now=1700000000)
    assert event.pop("id")
    assert event == {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "account": "111",
                     "time": "2023-11-14T22:13:20Z", "region": "eu-west-1",
                     "resources": ["arn:aws:events:eu-west-1:111:rule/r"], "detail": {}}


def test_fixed_input_replaces_the_event() -> None:
    make = schedules.schedule_event_factory('{"task": "sync"}', rule_arn="r", region="r", account_id="1")
    assert make() == {"task": "sync"}


def test_thread_fires_after_each_period_and_stops() -> None:
    fired: list[float] = []
    stop = threading.Event()
    started = time.monotonic()
    thread = schedules.ScheduleThread("t", 0.1, lambda: {"n": 1}, lambda e: fired.append(time.monotonic()),
                                      stop=stop)
    thread.start()
    time.sleep(0.35)
    stop.set()
    thread.join(1)
    assert not thread.is_alive()
    assert 2 <= len(fired) <= 4
    assert fired[0] - started >= 0.09  # not at start: one period first


def test_a_failing_run_does_not_end_the_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    calls = []

    def boom(event: object) -> None:
        calls.append(event)
        raise RuntimeError("sync failed")

    stop = threading.Event()
    thread = schedules.ScheduleThread("t", 0.05, dict, boom, stop=stop)
    thread.start()
    time.sleep(0.2)
    stop.set()
    thread.join(1)
    assert len(calls) >= 2
    assert "RuntimeError: sync failed" in capsys.readouterr().err
