"""Figure 7: the scheduled sync's AWS calls per invocation for N polled sources at 3-minute intervals.

Measured in-process under moto (tests/support/inprocess.py) with the real handlers: N polled sources on one real
git http-backend remote, their due times spread over the interval as jitter spreads them in steady state (each minute
a third of them falls due). One scheduled invocation is counted (the fan-out: index Query pages, one conditional
UpdateItem claim per due source, SendMessageBatch per ten), then SyncFunction's polls of what it sent. The per-item and
fixed costs are fitted from the measured runs (N = 100 and 1 000) and the figure for 10 000 is computed from them.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.aws_calls import EMPTY, ESM, Recorder, Step

INTERVAL = 180  # seconds: GITCONNECT_POLL_SECONDS's default
PERIOD = 60  # seconds: the schedule's rate (template.yaml)
MEASURED = (100, 1000)
COMPUTED = (100, 1000, 10_000)


@dataclass
class Run:
    sources: int
    due: int  # sources due at the invocation
    sent: int
    schedule: Counter[str]  # ScheduledSyncFunction's AWS calls, by service.operation
    sync: Counter[str]  # SyncFunction's (and its event source mapping's) AWS calls for what was sent
    schedule_ms: float

    @property
    def schedule_calls(self) -> int:
        return sum(self.schedule.values())

    @property
    def sync_calls(self) -> int:
        return sum(self.sync.values())


def _billable(step: Step, caller: str | None = None) -> Counter[str]:
    out: Counter[str] = Counter()
    for (who, service, operation), n in step.calls.items():
        if operation.endswith(EMPTY) or (caller is not None and who != caller):
            continue
        out[f"{service}.{operation}" + ("  [esm]" if who == ESM else "")] += n
    return out


def _populate(system: Any, server: Any, root: Path, n: int) -> tuple[str, str]:
    """A team with one linked remote and `n` polled sources on it, due times spread over the interval."""
    from gitconnect import wiring
    from infra.local.git_server import WorkingCopy, init_bare

    team = f"bench-{uuid.uuid4().hex[:8]}"
    token = system.token({team: "admin"})
    name = f"app-{uuid.uuid4().hex[:6]}"
    init_bare(server.root, name)
    work = WorkingCopy.clone(server.url_for(name), root / name)
    work.write("README.md", "hello\n")
    work.commit("first")
    work.push("main")
    connection = system.call("POST", f"/v1/teams/{team}/connections", token=token,
                             body={"provider": "custom", "url": server.url_for(name)}).json()
    first = system.call("POST", f"/v1/teams/{team}/sources", token=token,
                        body={"name": "s0", "connection_id": connection["id"], "branches": ["main"],
                              "poll": True}).json()
    store = wiring.stores().sources
    template = store.get(team, first["id"])
    assert template is not None
    store.delete(team, first["id"])
    now = time.time()
    # Steady state: due times uniform over one interval; those in the last minute are due now.
    for i in range(n):
        due = now - PERIOD + (i + 0.5) * INTERVAL / n
        store.create(replace(template, id=f"src_bench{i:06d}", name=f"s{i}", poll_due_at=due))
    return team, token


def measure_one(n: int) -> Run:
    from moto import mock_aws

    from infra.local.git_server import GitHttpServer
    from tests.support.inprocess import start_system

    recorder = Recorder()
    saved = dict(os.environ)
    try:
        os.environ["GITCONNECT_POLL_SECONDS"] = str(INTERVAL)
        with tempfile.TemporaryDirectory(prefix="gitconnect-bench-sync-") as tmp, mock_aws(), recorder.patched():
            system = start_system()
            os.environ["GITCONNECT_POLL_SECONDS"] = str(INTERVAL)  # start_system sets 0 for the tests
            from gitconnect import wiring

            wiring.reset()
            for function_id, fn in system.functions.items():
                recorder.wrap(function_id, fn)
            (Path(tmp) / "repos").mkdir()
            with GitHttpServer(Path(tmp) / "repos") as server:
                _populate(system, server, Path(tmp), n)
                due = sum(1 for _ in wiring.stores().sources.due(time.time()))
                schedule, sync = Step(), Step()
                with recorder.counting(schedule):
                    started = time.perf_counter()
                    result = system.fire_schedule()
                    elapsed = (time.perf_counter() - started) * 1000
                with recorder.counting(sync):
                    system.drain("SyncFunction", rounds=10 + n)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from gitconnect import wiring

        wiring.reset()
    return Run(n, due, int(result["sent"].get("poll", 0)), _billable(schedule, "ScheduledSyncFunction"),
               _billable(sync), elapsed)


def _fit(runs: list[Run], calls: str) -> tuple[float, float]:
    """(fixed, per due item) through the two measured runs."""
    a, b = runs[0], runs[-1]
    ya, yb = getattr(a, calls), getattr(b, calls)
    per_item = (yb - ya) / (b.sent - a.sent)
    return ya - per_item * a.sent, per_item


def report(runs: list[Run]) -> list[str]:
    lines = [f"in-process (moto), real handlers, one real git http-backend remote; intervals {INTERVAL} s (jitter "
             f"spreads due times evenly), schedule every {PERIOD} s: {PERIOD / INTERVAL:.0%} of the sources are due "
             "per invocation;",
             f"measured at N = {', '.join(f'{r.sources:,}' for r in runs)}; N = 10,000 computed from the fitted "
             "fixed + per-item costs (billable calls; empty ReceiveMessage polls left out)", ""]
    for r in runs:
        lines.append(f"  measured N = {r.sources:,}: {r.due} due, {r.sent} sent; schedule {r.schedule_calls} AWS calls "
                     f"in {r.schedule_ms:.0f} ms; SyncFunction {r.sync_calls} AWS calls for the {r.sent} polls")
        for label, n in sorted(r.schedule.items()):
            lines.append(f"      schedule  {label:<48}{n:>8}")
    s_fixed, s_item = _fit(runs, "schedule_calls")
    c_fixed, c_item = _fit(runs, "sync_calls")
    lines += ["", f"  per scheduled invocation: {s_fixed:.1f} fixed + {s_item:.2f} per due source (schedule); "
                  f"{c_item:.2f} per poll (SyncFunction, its event source mapping included)", "",
              f"    {'N polled sources':>18}{'due / minute':>14}{'schedule calls / min':>22}"
              f"{'sync calls / min':>18}{'all / min':>12}"]
    by_n = {r.sources: r for r in runs}
    for n in COMPUTED:
        if n in by_n:
            r = by_n[n]
            due, schedule, sync, how = float(r.sent), float(r.schedule_calls), float(r.sync_calls), "measured"
        else:
            due = n * PERIOD / INTERVAL
            schedule, sync, how = s_fixed + s_item * due, c_fixed + c_item * due, "computed"
        lines.append(f"    {n:>18,}{due:>14,.0f}{schedule:>22,.0f}{sync:>18,.0f}{schedule + sync:>12,.0f}  ({how})")
    return lines


# Real network, per poll (what moto in-process leaves out): the remote's ls-remote, and each AWS call's round trip.
REAL_LS_REMOTE_S = 0.200
REAL_AWS_CALL_S = 0.010
SYNC_BATCH = 10  # SyncFunction's BatchSize: one invocation per ten polls


def per_poll_calls(runs: list[Run]) -> dict[str, float]:
    """Billable calls per poll, by service.operation, from the two measured runs (fixed costs cancel out): the
    schedule's claim and its share of queries and sends, SyncFunction's own and its event source mapping's."""
    a, b = runs[0], runs[-1]
    out: dict[str, float] = {}
    for label in sorted(set(a.schedule) | set(b.schedule) | set(a.sync) | set(b.sync)):
        delta = (b.schedule[label] + b.sync[label]) - (a.schedule[label] + a.sync[label])
        if delta > 0:
            out[label] = delta / (b.sent - a.sent)
    return out


def cost_per_source(runs: list[Run], memory_mb: int) -> list[str]:
    """$ per polled source per 30 days at a 3-minute interval, with the real-network assumptions stated."""
    from bench.cost import PRICES

    calls = per_poll_calls(runs)
    polls = 30 * 86400 / INTERVAL
    aws_calls = sum(calls.values())
    own_calls = sum(n for label, n in calls.items() if "[esm]" not in label and "Batch" not in label
                    and "Query" not in label)
    seconds = REAL_LS_REMOTE_S + own_calls * REAL_AWS_CALL_S
    dollars = {
        "Lambda GB-s": seconds * memory_mb / 1024 * PRICES.lambda_gb_second,
        "Lambda requests": PRICES.lambda_request / SYNC_BATCH,
        "SQS": sum(n for label, n in calls.items() if label.startswith("SQS.")) * PRICES.sqs_request,
        "DynamoDB writes": sum(n for label, n in calls.items()
                               if label.startswith("DynamoDB.") and ("Update" in label or "Put" in label
                                                                     or "Write" in label)) * PRICES.dynamodb_write_unit,
        "DynamoDB reads": sum(n for label, n in calls.items()
                              if label.startswith("DynamoDB.") and ("Get" in label or "Query" in label))
        * PRICES.dynamodb_read_unit,
    }
    per_poll = sum(dollars.values())
    lines = [f"  per polled source, 30 days at a {INTERVAL:g}-second interval ({polls:,.0f} polls): "
             f"${per_poll * polls:.4f}  (${per_poll * 1e6:.2f} per million polls)",
             f"    assumptions: each poll {REAL_LS_REMOTE_S * 1000:.0f} ms of ls-remote over the real network and "
             f"{REAL_AWS_CALL_S * 1000:.0f} ms of Lambda time per AWS call made for it ({own_calls:.1f}, the claim "
             "included); SyncFunction "
             f"{memory_mb} MB arm64, one invocation per {SYNC_BATCH} polls; {aws_calls:.2f} billable AWS calls per "
             "poll (figure 7's measured calls per poll); a poll that finds nothing; no free tier",
             "    " + ", ".join(f"{item} ${d * polls:.4f}" for item, d in dollars.items())]
    return lines


def run() -> tuple[list[Run], list[str]]:
    from infra.local import template as tpl

    runs = [measure_one(n) for n in MEASURED]
    memory = tpl.functions(tpl.load_template())["SyncFunction"].memory_mb
    return runs, [*report(runs), "", *cost_per_source(runs, memory)]
