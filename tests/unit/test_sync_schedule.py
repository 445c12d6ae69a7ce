"""Due work fanned out (issue 12 item 1): when a source is due next (jitter, backoff), what the scheduled sync claims
and sends (each due item once however runs overlap; stopping at its deadline and leaving the rest due), and a single
source polled alone with its failure backed off. In-memory stores, no network."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gitconnect.domain.errors import RemoteUnreachableError
from gitconnect.domain.models import Source
from gitconnect.domain.schedule import (
    MAX_BACKOFF_SECONDS,
    DueItem,
    SyncItem,
    aligned_due,
    backoff_due,
    first_due,
    next_due,
)
from gitconnect.providers.base import ProviderPorts
from gitconnect.providers.custom import CustomGitProvider
from gitconnect.services.schedule import SEND_BATCH, Lane, SyncScheduler
from gitconnect.services.sync import PollService
from tests.support.memory import MemoryDeliveries, MemorySources
from tests.unit.test_poll_rules import A, B, Connections, Queue, ScriptedGit, Secrets

NOW = 1_800_000_000.0


def polled(n: int, *, due: float = NOW - 1, poll_seconds: int | None = None) -> list[Source]:
    return [Source(team_id="t", id=f"src_{i:05d}", name="app", connection_id="con_1", provider="custom",
                   repository="team/app", clone_url="https://git.example.com/a.git", branches=("main",),
                   created_at="x", updated_at="x", poll=True, poll_due_at=due, poll_seconds=poll_seconds)
            for i in range(n)]


class Outbox:
    def __init__(self) -> None:
        self.calls: list[list[SyncItem]] = []

    def send_many(self, bodies: Sequence[str]) -> None:
        assert len(bodies) <= SEND_BATCH  # SendMessageBatch's limit
        self.calls.append([SyncItem.from_message(json.loads(b)) for b in bodies])

    @property
    def ids(self) -> list[str]:
        return [item.id for call in self.calls for item in call]


def scheduler(store: MemorySources, outbox: Outbox, *, now: float = NOW, interval: float = 180.0,
              rand: float = 0.5) -> SyncScheduler:
    return SyncScheduler([Lane("poll", store, interval)], outbox, clock=lambda: now, rand=lambda: rand)


def always(ms: int = 60_000) -> int:
    return ms


# ---------------------------------------------------------------- when a source is due

@pytest.mark.parametrize("rand", [0.0, 0.25, 0.999999])
def test_the_first_poll_falls_within_the_first_interval(rand: float) -> None:
    assert NOW <= first_due(NOW, 180, lambda: rand) < NOW + 180
    assert first_due(NOW, 0, lambda: rand) == NOW  # interval 0 (tests): due at once


@pytest.mark.parametrize(("rand", "expected"), [(0.0, NOW + 162), (0.5, NOW + 180), (0.999999, NOW + 198)])
def test_the_next_poll_is_one_interval_on_within_ten_percent(rand: float, expected: float) -> None:
    assert next_due(NOW, 180, lambda: rand) == pytest.approx(expected, abs=0.001)


@pytest.mark.parametrize(("failures", "delay"), [
    (1, 360), (2, 720), (3, 1440), (4, 2880), (5, MAX_BACKOFF_SECONDS), (40, MAX_BACKOFF_SECONDS),
])
def test_a_failing_source_backs_off_doubling_up_to_an_hour(failures: int, delay: float) -> None:
    assert backoff_due(NOW, 180, failures) == NOW + delay


def test_a_source_polled_less_often_than_hourly_is_never_backed_off_below_its_interval() -> None:
    assert backoff_due(NOW, 7200, 3) == NOW + 7200


# ---------------------------------------------------------------- what a scheduled sync sends

def test_only_due_sources_are_sent_in_batches_of_ten_and_moved_to_their_next_poll() -> None:
    later = polled(3, due=NOW + 30)
    store = MemorySources(*polled(25), *[replace(s, id=f"later_{i}") for i, s in enumerate(later)])
    outbox = Outbox()
    report = scheduler(store, outbox).run(always)
    assert [len(c) for c in outbox.calls] == [10, 10, 5]
    assert sorted(outbox.ids) == [f"src_{i:05d}" for i in range(25)] and report.sent == {"poll": 25}
    assert {item.kind for call in outbox.calls for item in call} == {"poll"}
    assert {s.poll_due_at for s in store.items.values() if s.id.startswith("src_")} == {NOW + 180}
    assert {s.poll_due_at for s in store.items.values() if s.id.startswith("later_")} == {NOW + 30}  # untouched


def test_a_source_with_its_own_interval_is_next_due_by_it() -> None:
    store, outbox = MemorySources(*polled(1, poll_seconds=600)), Outbox()
    scheduler(store, outbox).run(always)
    assert store.items[("t", "src_00000")].poll_due_at == NOW + 600


def test_overlapping_schedules_send_each_due_source_once() -> None:
    # Given two runs that read the due sources before either claimed any (an index page is a snapshot)
    store = MemorySources(*polled(35))
    first_read, second_read = list(store.due(NOW)), list(store.due(NOW))

    class Snapshot:
        def __init__(self, items: list[DueItem]) -> None:
            self.items = items

        def due(self, now: float) -> Iterable[DueItem]:
            return self.items

        def claim(self, team_id: str, item_id: str, due_at: float, next_at: float) -> bool:
            return store.claim(team_id, item_id, due_at, next_at)

    one, two = Outbox(), Outbox()
    a = SyncScheduler([Lane("poll", Snapshot(first_read), 180)], one, clock=lambda: NOW, rand=lambda: 0.3)
    b = SyncScheduler([Lane("poll", Snapshot(second_read), 180)], two, clock=lambda: NOW + 1, rand=lambda: 0.7)
    # When both run
    report_a, report_b = a.run(always), b.run(always)
    # Then every source went out once, by the run that claimed it first
    assert sorted(one.ids + two.ids) == sorted(s.id for s in store.items.values())
    assert len(set(one.ids + two.ids)) == 35
    assert (report_a.sent, report_b.sent, report_b.taken) == ({"poll": 35}, {}, 35)


def test_a_run_stops_before_its_deadline_and_the_next_one_sends_the_rest() -> None:
    store, outbox = MemorySources(*polled(50)), Outbox()
    left = iter([60_000] * 12 + [9_000] * 100)  # the 13th due source meets the margin (10 s)
    report = scheduler(store, outbox).run(lambda: next(left))
    assert report.stopped_early and report.sent == {"poll": 12} and len(outbox.ids) == 12
    following = scheduler(store, outbox, now=NOW + 60).run(always)
    assert not following.stopped_early and following.sent == {"poll": 38}
    assert sorted(outbox.ids) == sorted(s.id for s in store.items.values())  # each once over the two runs


def test_a_run_sends_at_most_its_item_bound() -> None:
    store, outbox = MemorySources(*polled(30)), Outbox()
    bounded = SyncScheduler([Lane("poll", store, 180)], outbox, clock=lambda: NOW, rand=lambda: 0.5, max_items=20)
    assert bounded.run(always).sent == {"poll": 20}


def test_with_interval_zero_a_claimed_source_is_sent_once_per_run() -> None:
    store, outbox = MemorySources(*polled(3, due=NOW)), Outbox()

    class Requery:
        """Sees its own claims, as a later index page does."""

        def due(self, now: float) -> Iterable[DueItem]:
            for _ in range(3):
                yield from store.due(now)

        def claim(self, team_id: str, item_id: str, due_at: float, next_at: float) -> bool:
            return store.claim(team_id, item_id, due_at, next_at)

    requery = Requery()
    SyncScheduler([Lane("poll", requery, 0)], outbox, clock=lambda: NOW).run(always)
    assert sorted(outbox.ids) == ["src_00000", "src_00001", "src_00002"]


def test_sources_with_polling_turned_off_are_never_due() -> None:
    store, outbox = MemorySources(*[replace(s, poll=False) for s in polled(4)]), Outbox()
    assert scheduler(store, outbox).run(always).sent == {} and outbox.calls == []


# ---------------------------------------------------------------- one source polled alone

def world(git: ScriptedGit, *sources: Source) -> tuple[PollService, MemorySources, Queue]:
    store, queue = MemorySources(*sources), Queue()
    provider = CustomGitProvider(ProviderPorts(git=git))
    at = datetime.fromtimestamp(NOW, UTC)
    service = PollService(store, Connections(), Secrets(), lambda _: provider,  # type: ignore[arg-type]
                          queue, MemoryDeliveries(), clock=lambda: at, poll_seconds=180)
    return service, store, queue


def test_one_source_is_polled_alone() -> None:
    other = replace(polled(1)[0], id="src_other", heads={"main": A})
    service, store, queue = world(ScriptedGit({"refs/heads/main": B}), replace(polled(1)[0], heads={"main": A}),
                                  other)
    report = service.poll_one("t", "src_00000")
    assert report.sources == 1 and [b.sha for b in queue.sent] == [B]
    assert store.items[("t", "src_00000")].heads == {"main": B}
    assert store.items[("t", "src_other")].heads == {"main": A}  # not polled
    assert service.poll_one("t", "src_missing").sources == 0  # deleted meanwhile: nothing


def test_a_failed_poll_backs_the_source_off() -> None:
    down = ScriptedGit(RemoteUnreachableError("the remote could not be reached: connection refused"))
    service, store, _ = world(down, polled(1, poll_seconds=60)[0])
    expected = []
    for _ in range(3):
        service.poll_one("t", "src_00000")
        expected.append(store.items[("t", "src_00000")].poll_due_at)
    assert expected == [NOW + 120, NOW + 240, NOW + 480]
    assert store.items[("t", "src_00000")].polling.consecutive_failures == 3


def test_a_poll_of_a_source_turned_off_meanwhile_does_nothing() -> None:
    service, _, queue = world(ScriptedGit({"refs/heads/main": B}), replace(polled(1)[0], poll=False))
    assert service.poll_one("t", "src_00000").sources == 0 and queue.sent == []


# ---------------------------------------------------------------- drift groups (templates on one branch)

class GroupedDue:
    """Due work whose items belong to groups (a drift lane): claims recorded."""

    def __init__(self, items: list[DueItem]) -> None:
        self.items: dict[str, DueItem] = {i.id: i for i in items}
        self.claimed: dict[str, float] = {}

    def due(self, now: float) -> Iterable[DueItem]:
        return sorted((i for i in self.items.values() if i.due_at <= now), key=lambda i: i.due_at)

    def claim(self, team_id: str, item_id: str, due_at: float, next_at: float) -> bool:
        if self.items[item_id].due_at != due_at:
            return False
        self.items[item_id] = replace(self.items[item_id], due_at=next_at)
        self.claimed[item_id] = next_at
        return True


def test_a_groups_members_stay_due_together_at_the_groups_phase() -> None:
    # Given three templates on branch A and two on branch B, due at scattered times
    items = [DueItem("t", f"a{i}", NOW - 10 - i, None, "con|repo|A") for i in range(3)]
    items += [DueItem("t", f"b{i}", NOW - 5 - i, None, "con|repo|B") for i in range(2)]
    store, outbox = GroupedDue(items), Outbox()
    # When one scheduled run claims them (an aligned lane)
    SyncScheduler([Lane("drift", store, 900.0, aligned=True)], outbox, clock=lambda: NOW).run(always)
    # Then each group's members have one next due time, the group's own, half an interval to one and a half away
    a = {store.claimed[f"a{i}"] for i in range(3)}
    b = {store.claimed[f"b{i}"] for i in range(2)}
    assert len(a) == 1 and len(b) == 1 and a != b
    for next_at in (*a, *b):
        assert NOW + 450 <= next_at < NOW + 1350
        assert aligned_due(next_at, 900.0, "con|repo|A" if next_at in a else "con|repo|B") == next_at + 900
    assert sorted(outbox.ids) == ["a0", "a1", "a2", "b0", "b1"]


@pytest.mark.parametrize("now", [NOW, NOW + 123.4, NOW + 899.9])
def test_aligned_due_is_the_groups_phase_whenever_it_is_asked(now: float) -> None:
    first = aligned_due(now, 900.0, "con|repo|main")
    assert now + 450 <= first < now + 1350
    assert (first - aligned_due(NOW, 900.0, "con|repo|main")) % 900 == pytest.approx(0, abs=1e-6)
