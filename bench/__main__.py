"""``python -m bench`` (``make bench``): the budget figures of DESIGN.md §8 for the foundation, in one run.

1. cold import of each function module / cold ``import boto3``      (bench/imports.py)
2. AWS calls per manual and per polled build, by operation          (bench/aws_calls.py)
3. push-to-poll-build latency on the local stack                    (bench/latency.py)
4. AWS requests and $ per million builds                            (bench/cost.py)
5. GitHub webhooks: intake calls, cold start, CPU; $ per million webhooks; a push matching N sources
                                                                    (bench/webhooks.py)
6. listing 5 000 repositories: provider calls and wall time, cold, next pages, warm
                                                                    (bench/listing.py)
7. scheduled sync: AWS calls per scheduled invocation for N polled sources at 3-minute intervals, and $ per polled
   source per month                                                 (bench/scheduled_sync.py)
8. a synthetic 10 000-source run of the fan-out against a slow remote, in simulated time (bench/sync_simulation.py)
9. GitOps drift checks for 100 unchanged templates: bytes fetched and provider calls per hour (bench/drift.py)
10. heads reconciled: provider calls per pass for N = 100 and 1 000 sources, with and without 304s; $ per month
                                                                    (bench/reconcile.py)
11. GitOps drift per check round and per hour for 10 / 100 / 1 000 linked templates, webhooked and not; AWS calls per
    synced commit                                                    (bench/gitops_drift.py)
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import textwrap
import time
import traceback
from collections.abc import Callable
from typing import Any, TextIO

from bench import (
    aws_calls,
    cost,
    drift,
    gitops_drift,
    imports,
    latency,
    listing,
    reconcile,
    scheduled_sync,
    sync_simulation,
    webhooks,
)


class _WithoutMetricLines(io.TextIOBase):
    """stdout without the EMF lines the in-process functions' Powertools Metrics print (CloudWatch reads them from a
    function's log; here they would bury the figures). print() writes a line's text and its newline apart."""

    def __init__(self, out: TextIO) -> None:
        self.out, self._dropped = out, False

    def write(self, text: str) -> int:
        dropped, self._dropped = self._dropped, text.startswith('{"_aws"')
        if not (self._dropped or (dropped and text == "\n")):
            self.out.write(text)
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def _section(title: str, body: Callable[[], tuple[Any, list[str]]], failures: list[str]) -> Any:
    print(f"\n{title}\n{'-' * len(title)}", flush=True)
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(_WithoutMetricLines(sys.stdout)):
            result, lines = body()
    except Exception:
        failures.append(title)
        print("FAILED:\n" + traceback.format_exc(), flush=True)
        return None
    print("\n".join(lines), flush=True)
    print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)
    return result


def _cost(m: aws_calls.Measurement) -> tuple[None, list[str]]:
    from infra.local import schedules
    from infra.local import template as tpl

    memory = sorted({mb for flow in m.flows for _, mb, _ in flow.median_durations()})
    columns = [(f"{flow.name.split()[0]}/{flow.remote.split()[0]}", flow.usage()) for flow in m.flows]
    assumptions = [*cost.ASSUMPTIONS,
                   f"MemorySize (template.yaml): {', '.join(f'{mb} MB' for mb in memory)}; durations: the medians of "
                   "figure 2; AWS requests = Lambda invocations + API requests + AWS API calls"]
    lines = [wrapped for a in assumptions
             for wrapped in textwrap.wrap(a, 116, initial_indent="  - ", subsequent_indent="    ")] + [""]
    lines += cost.report(columns)
    idle = m.idle_usage()
    if idle is not None:
        period = next((schedules.rate_seconds(s.expression) for s in tpl.schedules(tpl.load_template())
                       if s.function_id == "ScheduledSyncFunction"), None) or 60
        polls = 30 * 86400 / period
        lines += ["", f"  a poll finding nothing (one private source): {cost.aws_requests(idle)} AWS requests, "
                      f"${cost.per_million(idle):.2f} per million polls;",
                  f"  at one poll every {period:g} s that is ${cost.per_million(idle) * polls / 1e6:.4f} per source "
                  "and 30 days"]
    return None, lines


def main() -> int:
    started = time.perf_counter()
    print(f"gitconnect bench: python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)
    failures: list[str] = []
    _section("1. Cold import of each function module (ratio to cold `import boto3`)", imports.run, failures)
    measured = _section("2. AWS API calls per build", aws_calls.run, failures)
    _section("3. Push-to-poll-build latency (local stack)", latency.run, failures)
    if measured is not None:
        _section("4. Cost per build", lambda: _cost(measured), failures)
    else:
        failures.append("4. Cost per build (needs figure 2)")
    delivered = _section("5.1 Webhooks: AWS calls per delivery (intake, cold and warm; one routed push)",
                         webhooks.run_deliveries, failures)
    _section("5.2 Webhook intake cold start (ratio to cold `import boto3`)", webhooks.run_cold, failures)
    _section("5.3 Webhook intake warm CPU per delivery, AWS stubbed", webhooks.run_cpu, failures)
    if delivered is not None:
        _section("5.4 Cost per webhook", lambda: (None, webhooks.report_cost(delivered)), failures)
    else:
        failures.append("5.4 Cost per webhook (needs figure 5.1)")
    _section("5.5 A push matching N sources: the router's AWS calls and time", webhooks.run_fanout, failures)
    _section("6. Listing 5 000 repositories (GitHub): provider calls and wall time", listing.run, failures)
    _section("7. Scheduled sync: AWS calls per scheduled invocation for N = 100, 1 000, 10 000 polled sources with "
             "3-minute intervals; $ per polled source per month", scheduled_sync.run, failures)
    _section("8. A synthetic 10 000-source run of the sync consumer against a slow remote (simulated time)",
             sync_simulation.run, failures)
    _section("9. GitOps drift checks for 100 unchanged templates: bytes fetched and provider calls per hour",
             drift.run, failures)
    _section("10. Heads reconciled: provider calls per pass for N = 100 and 1 000 GitHub sources (with and without "
             "304s), AWS calls, $ per month", reconcile.run, failures)
    _section("11. GitOps drift: provider calls per hour for 10, 100, 1 000 linked templates (webhooked and not); AWS "
             "calls per synced commit", gitops_drift.run, failures)
    print(f"\n({time.perf_counter() - started:.0f} s in all)")
    if failures:
        print(f"bench: FAILED: {'; '.join(failures)}")
        return 1
    print("bench: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
