"""WaitingRoom: a message that meets a provider's rate limit is sent back delayed (15 minutes at most at a time)
with when it may run and since when it waits; back early, it waits on without running; after a day it fails."""

from __future__ import annotations

from typing import Any

import pytest

from gitconnect.adapters.messaging import NOT_BEFORE, WAITING_SINCE, WaitingRoom
from gitconnect.domain.errors import RateLimitedError


class Sqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


def lambda_attributes(message: dict[str, Any]) -> dict[str, Any]:
    """The attributes as Lambda's SQS event spells them."""
    return {k: {"stringValue": v["StringValue"], "dataType": "Number"} for k, v in message["MessageAttributes"].items()}


def test_a_limited_message_waits_for_the_reset_and_runs_after_it() -> None:
    sqs, now = Sqs(), [1000.0]
    room = WaitingRoom(sqs, "https://sqs/q", clock=lambda: now[0])

    def limited() -> str:
        raise RateLimitedError(retry_after=3600)

    assert room.run_or_wait("body", {}, limited) is None
    [first] = sqs.sent
    assert first["DelaySeconds"] == 900 and first["MessageBody"] == "body"
    assert first["MessageAttributes"][NOT_BEFORE]["StringValue"] == "4600"
    assert first["MessageAttributes"][WAITING_SINCE]["StringValue"] == "1000"
    # Back after 15 minutes: still limited, it waits on without running, keeping since when it waits
    now[0] = 1900.0
    ran: list[str] = []
    assert room.run_or_wait("body", lambda_attributes(first), lambda: ran.append("x") or "done") is None
    assert ran == [] and sqs.sent[-1]["DelaySeconds"] == 900
    assert sqs.sent[-1]["MessageAttributes"][WAITING_SINCE]["StringValue"] == "1000"
    # After the reset it runs
    now[0] = 4601.0
    assert room.run_or_wait("body", lambda_attributes(sqs.sent[-1]), lambda: "done") == "done"


def test_a_message_waiting_more_than_a_day_fails_to_its_dlq() -> None:
    sqs, now = Sqs(), [0.0]
    room = WaitingRoom(sqs, "https://sqs/q", clock=lambda: now[0])
    attributes = {WAITING_SINCE: {"stringValue": "0"}, NOT_BEFORE: {"stringValue": "90000"}}
    now[0] = 24 * 3600 + 1.0
    with pytest.raises(RuntimeError, match="given up"):
        room.run_or_wait("body", attributes, lambda: "done")
    assert sqs.sent == []
