"""Figure 2: AWS API calls per manual build and per polled build, by service and operation.

The real handlers run in-process under moto (tests/support/inprocess.py) against a real Git smart-HTTP server.
Every botocore call is counted by wrapping ``BaseClient._make_api_call`` (boto3 clients and PynamoDB's own
botocore clients alike). Calls made inside a function invocation are the functions'; the others during a drain
are the SQS event source mapping's (the Lambda service's ReceiveMessage / DeleteMessageBatch).

Each flow runs once untimed (cold imports, cached clients) and then ``REPEATS`` times measured.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from bench.cost import Usage

REPEATS = 10
ESM = "event source mapping"  # who made a call that no function made
EMPTY = "(empty)"  # a ReceiveMessage that returned nothing: idle polling, not charged to a build


@dataclass
class Invocation:
    function_id: str
    memory_mb: int
    duration_ms: float


@dataclass
class Step:
    """What one step of a build (an API request, a schedule fire, a queue drain) cost."""

    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (caller, service, operation)
    invocations: list[Invocation] = field(default_factory=list)
    call_seconds: Counter[str] = field(default_factory=Counter)  # caller -> wall time spent inside its AWS calls


class Recorder:
    """Counts botocore API calls and function invocations into the active step (None: not counting)."""

    def __init__(self) -> None:
        self.step: Step | None = None
        self._local = threading.local()

    @contextlib.contextmanager
    def counting(self, step: Step) -> Iterator[Step]:
        self.step = step
        try:
            yield step
        finally:
            self.step = None

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        original = BaseClient._make_api_call
        recorder = self

        def counting_call(client: BaseClient, operation_name: str, api_params: Any) -> Any:
            result: Any = None
            error = ""
            started = time.perf_counter()
            try:
                result = original(client, operation_name, api_params)
                return result
            except ClientError as exc:
                error = str(exc.response.get("Error", {}).get("Code", "error"))
                raise
            finally:  # a call that raised (e.g. a failed condition) was made and billed all the same
                step = recorder.step
                if step is not None:
                    caller = getattr(recorder._local, "function", None) or ESM
                    operation = operation_name
                    if error:
                        operation = f"{operation_name} ({error})"
                    elif caller == ESM and operation_name == "ReceiveMessage" and not (result or {}).get("Messages"):
                        operation = f"{operation_name} {EMPTY}"
                    step.calls[(caller, client.meta.service_model.service_id, operation)] += 1
                    step.call_seconds[caller] += time.perf_counter() - started

        BaseClient._make_api_call = counting_call  # type: ignore[method-assign]
        try:
            yield
        finally:
            BaseClient._make_api_call = original  # type: ignore[method-assign]

    def wrap(self, function_id: str, fn: Any) -> None:
        """Time and attribute every invocation of a LocalFunction."""
        invoke, recorder = fn.invoke, self

        def timed_invoke(event: Any) -> Any:
            recorder._local.function = function_id
            start = time.perf_counter()
            try:
                return invoke(event)
            finally:
                elapsed = (time.perf_counter() - start) * 1000
                recorder._local.function = None
                if recorder.step is not None:
                    recorder.step.invocations.append(Invocation(function_id, fn.spec.memory_mb, elapsed))

        fn.invoke = timed_invoke


@dataclass
class Flow:
    """One kind of build (manual or polled) on one kind of remote, measured REPEATS times."""

    name: str
    remote: str
    step_names: tuple[str, ...]
    api_requests: int  # API Gateway requests per build
    runs: list[list[Step]] = field(default_factory=list)  # per repetition, one Step per step name
    warmup: list[Step] = field(default_factory=list)

    def calls(self, run: int = 0) -> Counter[tuple[str, str, str, str]]:
        """(step, caller, service, operation) -> count, for one repetition."""
        out: Counter[tuple[str, str, str, str]] = Counter()
        for name, step in zip(self.step_names, self.runs[run], strict=True):
            for (caller, service, operation), n in step.calls.items():
                out[(name, caller, service, operation)] += n
        return out

    @property
    def stable(self) -> bool:
        return all(self.calls(i) == self.calls(0) for i in range(len(self.runs)))

    @property
    def warm_equals_cold(self) -> bool:
        cold: Counter[tuple[str, str, str, str]] = Counter()
        for name, step in zip(self.step_names, self.warmup, strict=True):
            for (caller, service, operation), n in step.calls.items():
                cold[(name, caller, service, operation)] += n
        return cold == self.calls(0)

    def median_durations(self) -> list[tuple[str, int, float]]:
        """(function, memory MB, median ms) per invocation position of a build."""
        per_position = list(zip(*[[i for step in run for i in step.invocations] for run in self.runs], strict=True))
        return [(inv[0].function_id, inv[0].memory_mb, statistics.median(i.duration_ms for i in inv))
                for inv in per_position]

    def usage(self) -> Usage:
        """One build's billable usage: function calls, plus the event source mapping's non-empty polls."""
        billable: Counter[tuple[str, str]] = Counter()
        for (_, _, service, operation), n in self.calls(0).items():
            if not operation.endswith(EMPTY):
                billable[(service, operation.split(" ")[0])] += n
        return Usage(invocations=tuple((ms, mb) for _, mb, ms in self.median_durations()),
                     api_requests=self.api_requests, calls=billable)


@dataclass
class Measurement:
    flows: list[Flow]
    idle_poll: Step | None  # a scheduled poll of one source that finds nothing new

    def idle_usage(self) -> Usage | None:
        if self.idle_poll is None:
            return None
        calls: Counter[tuple[str, str]] = Counter()
        for (_, service, operation), n in self.idle_poll.calls.items():
            if not operation.endswith(EMPTY):
                calls[(service, operation.split(" ")[0])] += n
        return Usage(invocations=tuple((i.duration_ms, i.memory_mb) for i in self.idle_poll.invocations), calls=calls)


class Scenario:
    """A linked custom remote with a polled source on main, in one System."""

    def __init__(self, system: Any, server: Any, work_root: Path, *, credentials: dict[str, str] | None) -> None:
        from infra.local.git_server import WorkingCopy, init_bare

        self.system = system
        self.team = f"bench-{uuid.uuid4().hex[:8]}"
        self.token = system.token({self.team: "admin"})
        name = f"app-{uuid.uuid4().hex[:6]}"
        init_bare(server.root, name)
        creds = credentials or {}
        self.work = WorkingCopy.clone(server.url_for(name, username=creds.get("username"),
                                                     password=creds.get("password")), work_root / name)
        self.work.write("README.md", "hello\n")
        self.work.commit("first")
        self.work.push("main")
        body: dict[str, Any] = {"provider": "custom", "url": server.url_for(name)}
        if credentials:
            body["credentials"] = credentials
        self.connection_id = self._ok("POST", f"/v1/teams/{self.team}/connections", body, 201)["id"]
        self.source_id = self._ok("POST", f"/v1/teams/{self.team}/sources",
                                  {"name": "app", "connection_id": self.connection_id, "branches": ["main"],
                                   "poll": True}, 201)["id"]
        self.commits = 0

    def _ok(self, method: str, path: str, body: Any, status: int) -> Any:
        reply = self.system.call(method, path, token=self.token, body=body)
        if reply.status != status:
            raise RuntimeError(f"{method} {path}: {reply.status} {reply.body[:500]!r}")
        return reply.json() if reply.body else None

    def manual_build(self, recorder: Recorder) -> list[Step]:
        request, consumer = Step(), Step()
        with recorder.counting(request):
            build = self._ok("POST", f"/v1/teams/{self.team}/sources/{self.source_id}/builds", {"branch": "main"}, 202)
        with recorder.counting(consumer):
            self.system.drain()
        self._expect_event(build["sha"], "manual")
        return [request, consumer]

    def push(self) -> str:
        self.commits += 1
        self.work.write("app.py", f"print({self.commits})\n")
        sha = self.work.commit(f"change {self.commits}")
        self.work.push("main")
        return sha

    def polled_build(self, recorder: Recorder) -> list[Step]:
        sha = self.push()
        schedule, sync, consumer = Step(), Step(), Step()
        with recorder.counting(schedule):
            result = self.system.fire_schedule()
        if result["sent"] != {"poll": 1}:
            raise RuntimeError(f"the schedule should send exactly the one polled source: {result}")
        with recorder.counting(sync):
            self.system.drain("SyncFunction")
        with recorder.counting(consumer):
            self.system.drain()
        self._expect_event(sha, "poll")
        return [schedule, sync, consumer]

    def idle_poll(self, recorder: Recorder) -> Step:
        step = Step()
        with recorder.counting(step):
            self.system.fire_schedule()
            self.system.drain("SyncFunction")
            self.system.drain()
        if self.system.bus_events():
            raise RuntimeError("an idle poll requested builds")
        return step

    def _expect_event(self, sha: str, trigger: str) -> None:
        events = self.system.bus_events()
        if [(e["detail"]["sha"], e["detail"]["trigger"]) for e in events] != [(sha, trigger)]:
            raise RuntimeError(f"expected one BuildRequested for {sha} ({trigger}), got {events}")

    def unlink(self) -> None:
        self._ok("DELETE", f"/v1/teams/{self.team}/connections/{self.connection_id}", None, 204)


REMOTES = {
    "public remote": None,
    "private remote (credentials)": {"username": "bench", "password": "s3cret-bench-password"},
}


def measure(repeats: int = REPEATS) -> Measurement:
    from moto import mock_aws

    from infra.local.git_server import GitHttpServer
    from tests.support.inprocess import start_system

    recorder: Recorder = Recorder()
    flows: list[Flow] = []
    idle: Step | None = None
    saved_env = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="gitconnect-bench-") as tmp, mock_aws(), recorder.patched():
            system = start_system()
            system.bus_events()
            for function_id, fn in system.functions.items():
                recorder.wrap(function_id, fn)
            for remote, credentials in REMOTES.items():
                root = Path(tmp) / remote.split()[0]
                (root / "repos").mkdir(parents=True)
                creds = credentials or {}
                with GitHttpServer(root / "repos", username=creds.get("username"),
                                   password=creds.get("password")) as server:
                    scenario = Scenario(system, server, root, credentials=credentials)
                    manual = Flow("manual build", remote, ("POST /builds", "consumer"), api_requests=1)
                    polled = Flow("polled build", remote, ("schedule", "sync", "consumer"), api_requests=0)
                    manual.warmup = scenario.manual_build(recorder)
                    polled.warmup = scenario.polled_build(recorder)
                    for _ in range(repeats):
                        manual.runs.append(scenario.manual_build(recorder))
                        polled.runs.append(scenario.polled_build(recorder))
                    if credentials:
                        idle = scenario.idle_poll(recorder)
                    scenario.unlink()  # its source must not be polled with the next scenario's
                    flows += [manual, polled]
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    return Measurement(flows, idle)


def _label(esm: bool, service: str, operation: str) -> str:
    return f"{service}.{operation}" + ("  [event source mapping]" if esm else "")


def _rows(calls: Counter[tuple[str, str, str, str]]) -> dict[tuple[bool, str, str], Counter[str]]:
    """(by the event source mapping?, service, operation) -> step -> count, functions' calls first."""
    rows: dict[tuple[bool, str, str], Counter[str]] = {}
    for (step, caller, service, operation), n in calls.items():
        rows.setdefault((caller == ESM, service, operation), Counter())[step] += n
    return dict(sorted(rows.items()))


def report(m: Measurement) -> list[str]:
    lines = [
        f"in-process (moto), real git http-backend; each flow once untimed, then {REPEATS} measured builds;",
        "calls by the functions unless marked [event source mapping] (the Lambda service polling SQS);",
        "(Code): the call failed with that error (still a billed request)",
    ]
    for flow in m.flows:
        calls, steps = flow.calls(0), flow.step_names
        lines += ["", f"  {flow.name}, {flow.remote}"]
        lines.append(f"    {'service.operation':<56}" + "".join(f"{s:>14}" for s in steps) + f"{'total':>8}")
        fn_totals: Counter[str] = Counter()
        all_totals: Counter[str] = Counter()
        for (esm, service, operation), per_step in _rows(calls).items():
            lines.append(f"    {_label(esm, service, operation):<56}"
                         + "".join(f"{per_step[s] or '-':>14}" for s in steps) + f"{sum(per_step.values()):>8}")
            all_totals.update(per_step)
            if not esm:
                fn_totals.update(per_step)
        for title, totals in (("AWS calls by the functions", fn_totals), ("AWS calls in all", all_totals)):
            lines.append(f"    {title:<56}" + "".join(f"{totals[s]:>14}" for s in steps)
                         + f"{sum(totals.values()):>8}")
        durations = ", ".join(f"{fid} {ms:.1f} ms" for fid, _, ms in flow.median_durations())
        lines.append(f"    median duration: {durations}")
        if not flow.stable:
            lines.append("    note: THE CALLS DIFFER BETWEEN REPETITIONS (the first is shown)")
        if not flow.warm_equals_cold:
            lines.append("    note: the untimed first run (cold) made different calls")
    if m.idle_poll is not None:
        lines += ["", "  a scheduled poll that finds nothing new (one polled source, private remote)"]
        idle = Counter({("poll", c, s, o): n for (c, s, o), n in m.idle_poll.calls.items()})
        for (esm, service, operation), per_step in _rows(idle).items():
            lines.append(f"    {_label(esm, service, operation):<56}{per_step['poll']:>14}")
    return lines


def run() -> tuple[Measurement, list[str]]:
    m = measure()
    return m, report(m)
