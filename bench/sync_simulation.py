"""Figure 8: a synthetic 10 000-source run of the fan-out, in simulated time (an hour of it in seconds of CPU).

The real scheduler (services/schedule.py SyncScheduler: index order, conditional claims, batches of ten, deadline)
and the real consumer (services/sync.py PollService.poll_one, the CustomGit provider's rules) run over in-memory
stores with the tables' conditional semantics (tests/support/memory.py). Only time is simulated, by a discrete-event
loop: the schedule fires every PERIOD s; each claim costs CLAIM_S and each SendMessageBatch SEND_S of the scheduled
invocation's time (messages become visible as they are sent); SyncFunction instances take batches of up to ten
visible messages and poll them one after another, each poll LS_REMOTE_S against the slow fake remote (the heads never
move: every poll finds nothing) plus RECORD_S for its DynamoDB reads and write. The event source mapping starts with
ESM_START instances and adds up to ESM_STEP a minute while messages wait (AWS's documented scale-up for standard
queues, the slower figure), up to ESM_MAX.

Checked over the half hour after the first interval (when first due times, spread over one interval, have passed):
every source polled within its interval + 1 minute (no gap between two of its polls over (1 + jitter) x interval +
60 s), none twice in one interval (no gap under (1 - jitter) x interval, and no poll without a claim of its own). The
lag from a due time to its poll is shown: a due item waits for the next scheduled run (every minute), its claim's turn
in that run and a free SyncFunction.
"""

from __future__ import annotations

import heapq
import json
import random
import statistics
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

N = 10_000
INTERVAL = 180.0  # GITCONNECT_POLL_SECONDS's default
PERIOD = 60.0  # the schedule's rate (template.yaml)
SIMULATED_MINUTES = 33  # the first interval (warm-up) and ten intervals after it
LS_REMOTE_S = 0.200  # the slow fake remote: one ls-remote
RECORD_S = 0.030  # a poll's DynamoDB calls (read the source and its connection, record the poll): ~10 ms each
CLAIM_S = 0.006  # one conditional UpdateItem from the scheduled function
SEND_S = 0.010  # one SendMessageBatch
QUERY_PAGE_S = 0.010  # one index Query page of 100
ESM_START, ESM_STEP, ESM_MAX = 5, 300, 1000
TIMEOUT_S = 120.0  # ScheduledSyncFunction's Timeout (template.yaml)
EPOCH = 1_800_000_000.0
SHA = "a" * 40


@dataclass
class Simulated:
    sources: int
    minutes: int
    polls: int = 0
    claims: int = 0
    lags: list[float] = field(default_factory=list)  # poll start - the due time it was claimed at
    gaps: list[float] = field(default_factory=list)  # between two polls of one source
    unclaimed_polls: int = 0  # polls with no claim of their own (a source polled twice for one claim)
    never_polled: int = 0  # sources with no poll in the checked hour
    peak_backlog: int = 0
    peak_instances: int = 0
    schedule_seconds: list[float] = field(default_factory=list)  # each scheduled invocation's simulated duration
    stopped_early: int = 0
    wall_seconds: float = 0.0


def simulate(n: int = N, minutes: int = SIMULATED_MINUTES, seed: int = 12) -> Simulated:
    from gitconnect.domain.models import Connection, Source
    from gitconnect.domain.schedule import first_due
    from gitconnect.providers.base import Access, GitCredentials, ProviderPorts, PushFacts
    from gitconnect.providers.custom import CustomGitProvider
    from gitconnect.services.schedule import Lane, SyncScheduler
    from gitconnect.services.sync import PollService
    from tests.support.memory import MemoryDeliveries, MemorySources

    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 (jitter in a simulation, not a secret)
    url = "https://git.example.com/team/app.git"
    store = MemorySources(*(
        Source(team_id="t", id=f"src_{i:05d}", name="app", connection_id="con_1", provider="custom",
               repository="team/app", clone_url=url, branches=("main",), created_at="x", updated_at="x", poll=True,
               heads={"main": SHA}, poll_due_at=first_due(EPOCH, INTERVAL, rng.random))
        for i in range(n)))
    clock = [EPOCH]  # what the stores and services see as now
    result = Simulated(n, minutes)
    claimed: dict[str, deque[float]] = {}  # source id -> due times claimed and not yet polled
    last_poll: dict[str, float] = {}
    queue: deque[tuple[float, str]] = deque()  # (visible at, source id), in send order
    check_from = EPOCH + INTERVAL

    class TimedStore:
        def due(self, now: float) -> Iterable[Any]:
            items = list(store.due(now))
            clock[0] += QUERY_PAGE_S * (len(items) // 100 + 1)
            return items

        def claim(self, team_id: str, item_id: str, due_at: float, next_at: float) -> bool:
            clock[0] += CLAIM_S
            won = store.claim(team_id, item_id, due_at, next_at)
            if won:
                claimed.setdefault(item_id, deque()).append(due_at)
                result.claims += clock[0] >= check_from
            return won

    class Outbox:
        def send_many(self, bodies: Sequence[str]) -> None:
            clock[0] += SEND_S
            queue.extend((clock[0], json.loads(b)["id"]) for b in bodies)

    class SlowRemote:
        def ls_remote(self, url: str, credentials: GitCredentials | None) -> dict[str, str]:
            return {"refs/heads/main": SHA}

        def inspect_push(self, url: str, credentials: GitCredentials | None, before: str | None, after: str, *,
                         files: bool, max_bytes: int) -> PushFacts:
            raise AssertionError("the heads never move here")

    class Connections:
        def get(self, team_id: str, connection_id: str) -> Connection | None:
            return Connection("t", "con_1", "custom", "app", None, url, "active", "x")

    class Secrets:
        def access(self, connection: Connection) -> Access:
            return Access(connection.base_url, None, None)

    class Builds:
        def send(self, builds: Sequence[Any]) -> None:
            if builds:
                raise AssertionError("nothing moved: nothing builds")

    provider = CustomGitProvider(ProviderPorts(git=SlowRemote()))
    polls = PollService(store, Connections(), Secrets(), lambda _: provider,  # type: ignore[arg-type]
                        Builds(), MemoryDeliveries(), clock=lambda: datetime.fromtimestamp(clock[0], UTC),
                        poll_seconds=INTERVAL)
    scheduler = SyncScheduler([Lane("poll", TimedStore(), INTERVAL)], Outbox(), clock=lambda: clock[0],
                              rand=rng.random)

    end = EPOCH + minutes * 60
    events: list[tuple[float, int, str, int]] = []  # (time, order, kind, instance)
    order = 0

    def at(t: float, kind: str, instance: int = -1) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (t, order, kind, instance))

    for k in range(int(minutes * 60 // PERIOD) + 1):
        at(EPOCH + k * PERIOD, "schedule")
    batches: dict[int, deque[str]] = {}
    idle: list[int] = []
    instances = 0

    def add_instances(count: int, t: float) -> None:
        nonlocal instances
        for _ in range(count):
            batches[instances] = deque()
            at(t, "instance", instances)
            instances += 1

    add_instances(ESM_START, EPOCH)
    # Bounded by the simulated hour: every event is at most `end`, and each instance's next one is later than its last.
    while events:
        t, _, kind, instance = heapq.heappop(events)
        if t > end:
            break
        if kind == "schedule":
            backlog = len(queue)  # sent by earlier runs and still not received: the mapping scales up
            if backlog and instances < ESM_MAX:
                add_instances(min(ESM_STEP, ESM_MAX - instances), t)
            clock[0] = t
            fired = t
            report = scheduler.run(lambda fired=fired: int((TIMEOUT_S - (clock[0] - fired)) * 1000))
            result.stopped_early += report.stopped_early
            result.schedule_seconds.append(clock[0] - t)
            result.peak_backlog = max(result.peak_backlog, len(queue))
            result.peak_instances = max(result.peak_instances, instances)
            for waiting_instance in idle:
                at(queue[0][0] if queue else t + PERIOD, "instance", waiting_instance)
            idle.clear()
            continue
        batch = batches[instance]
        if not batch:  # receive: up to ten visible messages
            while queue and queue[0][0] <= t and len(batch) < 10:
                batch.append(queue.popleft()[1])
            if not batch:
                if queue:
                    at(queue[0][0], "instance", instance)
                else:
                    idle.append(instance)
                continue
        source_id = batch.popleft()
        clock[0] = t
        due = claimed.get(source_id)
        if t >= check_from:
            result.polls += 1
            if due:
                result.lags.append(t - due[0])
            else:
                result.unclaimed_polls += 1
            if last_poll.get(source_id, 0.0) >= check_from:  # both polls in the checked window
                result.gaps.append(t - last_poll[source_id])
        if due:
            due.popleft()
        last_poll[source_id] = t
        polls.poll_one("t", source_id)
        at(t + LS_REMOTE_S + RECORD_S, "instance", instance)
    result.never_polled = sum(1 for i in range(n) if last_poll.get(f"src_{i:05d}", 0.0) < check_from)
    result.wall_seconds = time.perf_counter() - started
    return result


def report(r: Simulated) -> list[str]:
    from gitconnect.domain.schedule import JITTER

    low, high = (1 - JITTER) * INTERVAL, (1 + JITTER) * INTERVAL + 60
    within = bool(r.gaps) and max(r.gaps) <= high and r.never_polled == 0
    once = bool(r.gaps) and min(r.gaps) >= low and r.unclaimed_polls == 0
    per_poll = LS_REMOTE_S + RECORD_S
    return [
        "simulated time (discrete events; the real SyncScheduler and PollService over in-memory stores): "
        f"{r.sources:,} polled sources, interval {INTERVAL:g} s ± {JITTER:.0%}, schedule every {PERIOD:g} s, "
        f"{r.minutes} minutes",
        f"(the first interval is warm-up); each poll {LS_REMOTE_S * 1000:.0f} ms of ls-remote (slow fake remote) + "
        f"{RECORD_S * 1000:.0f} ms of DynamoDB; a claim {CLAIM_S * 1000:.0f} ms, a SendMessageBatch "
        f"{SEND_S * 1000:.0f} ms; SyncFunction instances: {ESM_START}, +{ESM_STEP}/minute while messages wait, at "
        f"most {ESM_MAX}",
        "",
        f"  checked {r.minutes - INTERVAL / 60:.0f} minutes: {r.polls:,} polls for {r.claims:,} claims; polls with no "
        f"claim of their own: {r.unclaimed_polls}; sources never polled: {r.never_polled}",
        f"  between two polls of a source: max {max(r.gaps):.1f} s (budget: interval + 1 minute, <= {high:.0f} s)   "
        f"-> {'ok' if within else 'FAILED'}",
        f"                                 min {min(r.gaps):.1f} s (none twice in one interval: >= {low:.0f} s)   "
        f"-> {'ok' if once else 'FAILED'}",
        f"  due -> polled: median {statistics.median(r.lags):.1f} s, max {max(r.lags):.1f} s",
        f"  scheduled invocations: median {statistics.median(r.schedule_seconds):.1f} s, max "
        f"{max(r.schedule_seconds):.1f} s of their {TIMEOUT_S:g} s; stopped early {r.stopped_early}x; peak queue "
        f"{r.peak_backlog:,} messages; SyncFunction instances {r.peak_instances} (steady state needs "
        f"{r.sources / INTERVAL * per_poll:.1f}: {r.sources / INTERVAL:.1f} polls/s x {per_poll:.2f} s)",
        f"  ({r.wall_seconds:.1f} s of wall time for {r.minutes} simulated minutes)",
    ]


def run() -> tuple[Simulated, list[str]]:
    result = simulate()
    return result, report(result)
