"""The scheduled sync's fan-out: find the work that is due — polled sources to poll, hooks to check — by index (no
Scan), claim each item by moving its due time, and send it to the sync queue in batches of ten for SyncFunction.
Work is O(due items): an item that is not due is never read. A run stops before its deadline and leaves the rest due
for the next run."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gitconnect.domain.schedule import DueItem, SyncItem, aligned_due, next_due

SEND_BATCH = 10  # SendMessageBatch's limit
MAX_ITEMS_PER_RUN = 20_000  # with the deadline, what bounds one run (≈ 110 000 sources at 3-minute intervals)
DEADLINE_MARGIN_MS = 10_000  # stop this long before the Lambda's deadline: the last batch must still be sent


class DueWork(Protocol):
    """A store whose items have a next-due time in an index (sources: `poll_due_at`; hooks: `check_due_at`)."""

    def due(self, now: float) -> Iterable[DueItem]: ...
    def claim(self, team_id: str, item_id: str, due_at: float, next_at: float) -> bool: ...


class Outbox(Protocol):
    def send_many(self, bodies: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class Lane:
    """One kind of due work: where it is found, and its interval when the item sets none."""

    kind: str  # SyncItem.kind: "poll", "hook" or "drift"
    store: DueWork
    interval: float
    # Items of one group (DueItem.group) moved to the group's own phase instead of a jittered interval, so they stay
    # due together and their shared work (one branch head check) is done once (template drift).
    aligned: bool = False


@dataclass
class ScheduleReport:
    sent: dict[str, int] = field(default_factory=dict)  # kind -> items claimed by this run and sent
    taken: int = 0  # claimed first by an overlapping run (that run sends them)
    stopped_early: bool = False  # the deadline or MAX_ITEMS_PER_RUN came first; the rest stays due


@dataclass(frozen=True)
class SyncScheduler:
    lanes: Sequence[Lane]
    queue: Outbox
    clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random
    max_items: int = MAX_ITEMS_PER_RUN

    def run(self, remaining_ms: Callable[[], int], margin_ms: int = DEADLINE_MARGIN_MS) -> ScheduleReport:
        """Claim and send what is due now, lane by lane (polls first). A claim moves the item's due time to one
        interval on (± 10 %), conditional on the due time read, so two overlapping runs send each item once. A claimed
        item whose message then fails to send waits one interval (the claim is not undone: sending twice is what it
        prevents); a poll that fails backs its source off itself."""
        report, now, read = ScheduleReport(), self.clock(), 0
        for lane in self.lanes:
            batch: list[str] = []
            claimed: set[str] = set()  # with interval 0 (tests) a claimed item is due again within this query
            # Bounded by the due items (index pages of 100), MAX_ITEMS_PER_RUN and the deadline.
            for item in lane.store.due(now):
                if read >= self.max_items or remaining_ms() < margin_ms:
                    report.stopped_early = True
                    break
                if item.id in claimed:
                    continue
                read += 1
                interval = item.interval or lane.interval
                if lane.aligned and item.group is not None:
                    next_at = aligned_due(now, interval, item.group)
                else:
                    next_at = next_due(now, interval, self.rand)
                if not lane.store.claim(item.team_id, item.id, item.due_at, next_at):
                    report.taken += 1
                    continue
                claimed.add(item.id)
                batch.append(json.dumps(SyncItem(lane.kind, item.team_id, item.id).to_message()))
                if len(batch) == SEND_BATCH:
                    self._send(lane.kind, batch, report)
                    batch = []
            if batch:
                self._send(lane.kind, batch, report)
            if report.stopped_early:
                break
        return report

    def _send(self, kind: str, batch: list[str], report: ScheduleReport) -> None:
        self.queue.send_many(batch)
        report.sent[kind] = report.sent.get(kind, 0) + len(batch)
