"""The scheduled sync's fan-out: find the polled sources that are due (an index query, no Scan), claim each by moving
its due time, and send them to the sync queue in batches of ten for SyncFunction to poll. Work is O(due items): a
source that is not due is never read. A run stops before its deadline and leaves the rest due for the next run."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gitconnect.domain.schedule import DueSource, SyncItem, next_due

SEND_BATCH = 10  # SendMessageBatch's limit
MAX_ITEMS_PER_RUN = 20_000  # with the deadline, what bounds one run (≈ 110 000 sources at 3-minute intervals)
DEADLINE_MARGIN_MS = 10_000  # stop this long before the Lambda's deadline: the last batch must still be sent


class DueSources(Protocol):
    def due(self, now: float) -> Iterable[DueSource]: ...
    def claim(self, team_id: str, source_id: str, due_at: float, next_at: float) -> bool: ...


class Outbox(Protocol):
    def send_many(self, bodies: Sequence[str]) -> None: ...


@dataclass
class ScheduleReport:
    due: int = 0  # due items read
    sent: int = 0  # claimed by this run and sent
    taken: int = 0  # claimed by an overlapping run first (that run sends them)
    stopped_early: bool = False  # the deadline or MAX_ITEMS_PER_RUN came first; the rest stays due


@dataclass(frozen=True)
class SyncScheduler:
    sources: DueSources
    queue: Outbox
    poll_seconds: float  # GITCONNECT_POLL_SECONDS, for sources without their own
    clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random
    max_items: int = MAX_ITEMS_PER_RUN

    def run(self, remaining_ms: Callable[[], int], margin_ms: int = DEADLINE_MARGIN_MS) -> ScheduleReport:
        """Claim and send what is due now. A claim moves the source's due time to its next poll (interval ± 10 %),
        conditional on the due time read, so two overlapping runs send each source once. A claimed source whose
        message then fails to send waits one interval (the claim is not undone: sending twice is what it prevents);
        a source whose poll fails is backed off by the poll itself."""
        report, batch = ScheduleReport(), []
        now = self.clock()
        claimed: set[tuple[str, str]] = set()  # with interval 0 (tests) a claimed source is due again in this query
        # Bounded by the due items (index pages of 100), MAX_ITEMS_PER_RUN and the deadline.
        for item in self.sources.due(now):
            if report.due >= self.max_items or remaining_ms() < margin_ms:
                report.stopped_early = True
                break
            key = (item.team_id, item.source_id)
            if key in claimed:
                continue
            report.due += 1
            next_at = next_due(now, item.poll_seconds or self.poll_seconds, self.rand)
            if not self.sources.claim(item.team_id, item.source_id, item.due_at, next_at):
                report.taken += 1
                continue
            claimed.add(key)
            batch.append(json.dumps(SyncItem("poll", item.team_id, item.source_id).to_message()))
            if len(batch) == SEND_BATCH:
                self.queue.send_many(batch)
                report.sent, batch = report.sent + len(batch), []
        if batch:
            self.queue.send_many(batch)
            report.sent += len(batch)
        return report
