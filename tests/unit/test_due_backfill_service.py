"""services/backfill.py on in-memory lanes: bounded per run (pages and deadline), resumable from its kept position,
done once."""

from __future__ import annotations

from typing import Any

from gitconnect.domain.schedule import DueItem
from gitconnect.services.backfill import PAGE_SIZE, BackfillLane, DueBackfill


class Items:
    """A lane's items in index order; `due` holds those with a due time."""

    def __init__(self, n: int, undue: set[int]) -> None:
        self.ids = [f"item{i:05d}" for i in range(n)]
        self.due: dict[str, float] = {i: 1.0 for k, i in enumerate(self.ids) if k not in undue}
        self.pages = 0

    def undue_page(self, start: str | None, limit: int) -> tuple[list[DueItem], str | None]:
        self.pages += 1
        at = int(start or 0)
        page = self.ids[at : at + limit]
        nxt = at + limit
        found = [DueItem("t", i, 0.0, None) for i in page if i not in self.due]
        return found, (str(nxt) if nxt < len(self.ids) else None)

    def set_due_if_absent(self, team_id: str, item_id: str, due_at: float) -> bool:
        if item_id in self.due:
            return False
        self.due[item_id] = due_at
        return True

    def lane(self, kind: str) -> BackfillLane:
        return BackfillLane(kind, self.undue_page, self.set_due_if_absent, 180.0)


class Progress:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def get(self, name: str) -> dict[str, Any] | None:
        return self.data.get(name)

    def put(self, name: str, data: dict[str, Any]) -> None:
        self.data[name] = dict(data)


def test_a_large_backlog_is_given_due_times_a_bounded_number_of_pages_per_run_and_resumes() -> None:
    # Given: 2 500 sources, every third without a due time, and 250 hooks all without
    sources, hooks = Items(2500, set(range(0, 2500, 3))), Items(250, set(range(250)))
    progress = Progress()
    backfill = DueBackfill([sources.lane("poll"), hooks.lane("hook")], progress, clock=lambda: 1000.0,
                           rand=lambda: 0.5, max_pages=10)
    # When: runs follow each other
    first = backfill.run(lambda: 60_000, margin_ms=10_000)
    # Then: each run reads at most 10 pages and keeps its position
    assert sources.pages == 10 and not first.done and first.given == {"poll": 334}
    reports = [first]
    while not reports[-1].done:
        reports.append(DueBackfill([sources.lane("poll"), hooks.lane("hook")], progress, clock=lambda: 1000.0,
                                   rand=lambda: 0.5, max_pages=10).run(lambda: 60_000, margin_ms=10_000))
    assert len(reports) == 3  # 25 + 3 pages at 10 a run
    assert sources.pages == 2500 // PAGE_SIZE and hooks.pages == 3
    assert sum(r.given.get("poll", 0) for r in reports) == 834 and sum(r.given.get("hook", 0) for r in reports) == 250
    assert all(at == 1000.0 + 90.0 for at in hooks.due.values())  # within the first interval, as a new item
    # ... and once done, a container does not read the lanes again, and a new one reads only the marker
    pages = sources.pages
    assert backfill.run(lambda: 60_000, margin_ms=10_000).done
    assert DueBackfill([sources.lane("poll")], progress).run(lambda: 60_000, margin_ms=10_000).done
    assert sources.pages == pages


def test_the_deadline_stops_a_run_before_any_page() -> None:
    sources, progress = Items(500, set(range(500))), Progress()
    report = DueBackfill([sources.lane("poll")], progress).run(lambda: 5_000, margin_ms=10_000)
    assert sources.pages == 0 and report.given == {} and not report.done
