"""Items stored before their due-time index existed — polled sources without `poll_due_at`, hooks without
`check_due_at`, linked templates without `drift_due_at` — are in no index the schedule queries, so they would never
be polled or checked. The scheduled sync gives each its first due time (anywhere within its first interval, as a new
item gets; a template at its drift group's phase), a bounded number of pages per run, keeping its position in the
state table, until every lane has been read through once; from then on it costs one read per container (then
nothing: a container remembers it is done). New items are written with a due time, so one pass is all it takes.
(Webhook-fed sources stored before `reconcile_due_at` get theirs at their next save: no index lists them all.)"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gitconnect.domain.schedule import DueItem, first_due

NAME = "due-backfill"
PAGE_SIZE = 100
MAX_PAGES_PER_RUN = 20  # with the deadline, what bounds one run: 2 000 items read


class Progress(Protocol):
    def get(self, name: str) -> dict[str, Any] | None: ...
    def put(self, name: str, data: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class BackfillLane:
    kind: str  # "poll", "hook" or "drift", as the schedule's lanes
    # (position or None, limit) -> (the page's items without a due time, the next position or None: none left)
    undue_page: Callable[[str | None, int], tuple[list[DueItem], str | None]]
    set_due_if_absent: Callable[[str, str, float], bool]  # (team id, item id, due at) -> written
    interval: float  # when the item sets none


@dataclass
class BackfillReport:
    given: dict[str, int] = field(default_factory=dict)  # kind -> items given a due time by this run
    done: bool = False


@dataclass(frozen=True)
class DueBackfill:
    lanes: Sequence[BackfillLane]
    progress: Progress
    clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random
    max_pages: int = MAX_PAGES_PER_RUN
    _finished: list[bool] = field(default_factory=lambda: [False])  # this container saw it done

    def run(self, remaining_ms: Callable[[], int], margin_ms: int) -> BackfillReport:
        report = BackfillReport()
        if self._finished[0]:
            report.done = True
            return report
        state = self.progress.get(NAME) or {}
        pages, now = 0, self.clock()
        for lane in self.lanes:
            position = state.get(lane.kind, {"cursor": None, "done": False})
            # Bounded by max_pages pages of PAGE_SIZE per run and by the deadline; the position is kept per page.
            while not position["done"] and pages < self.max_pages and remaining_ms() >= margin_ms:
                items, cursor = lane.undue_page(position["cursor"], PAGE_SIZE)
                for item in items:
                    due = first_due(now, item.interval or lane.interval, self.rand)
                    if lane.set_due_if_absent(item.team_id, item.id, due):
                        report.given[lane.kind] = report.given.get(lane.kind, 0) + 1
                position = {"cursor": cursor, "done": cursor is None}
                state[lane.kind] = position
                self.progress.put(NAME, state)
                pages += 1
        report.done = all(state.get(lane.kind, {}).get("done") for lane in self.lanes)
        self._finished[0] = report.done
        return report
