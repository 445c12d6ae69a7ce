"""Figure 8: heads reconciled (issue 13): provider calls per reconcile pass for N = 100 and 1 000 GitHub sources,
with and without 304s, the AWS calls of a pass, and its $ per month at GITCONNECT_RECONCILE_SECONDS (900).

Measured in-process under moto with the real handlers (ScheduledSyncFunction's reconcile lane, SyncFunction) against
the fake GitHub over HTTP: N sources (branches `main`, tags `v*`), each on its own repository of one installation, all
due. Three passes are counted: the first (no validators yet: every listing is a 200, what a GitLab or Bitbucket pass
costs, as they document no conditional request), an idle one (every listing answers 304: no rate limit spent), and
one where a tenth of the repositories moved with no webhook (their branch list 200, their tags read again, one build
each). The $ per month is the idle pass's AWS requests and Lambda time, 2 880 passes a month per source.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from bench import cost
from bench.aws_calls import EMPTY, Recorder, Step

SIZES = (100, 1000)
INTERVAL = 900.0  # GITCONNECT_RECONCILE_SECONDS's default
PASSES_PER_MONTH = 30 * 86400 / INTERVAL
MOVED_SHARE = 10  # one repository in ten moves between the idle pass and the third


@dataclass
class Pass:
    label: str
    provider_calls: int
    not_modified: int  # of them 304 (GitHub spends no rate limit on those)
    aws: Counter[str]  # billable AWS calls, by service.operation
    invocations: int
    lambda_gb_s: float
    builds: int

    @property
    def rate_limited(self) -> int:
        return self.provider_calls - self.not_modified

    @property
    def aws_calls(self) -> int:
        return sum(self.aws.values())

    def dollars(self) -> float:
        """The pass's price: AWS requests as bench/cost.py prices them, Lambda requests and GB-s."""
        prices = cost.PRICES
        total = self.invocations * prices.lambda_request + self.lambda_gb_s * prices.lambda_gb_second
        per_item = {"SQS": prices.sqs_request, "DynamoDB writes": prices.dynamodb_write_unit,
                    "DynamoDB reads": prices.dynamodb_read_unit, "KMS": prices.kms_request,
                    "EventBridge": prices.eventbridge_event}
        for label, n in self.aws.items():
            service, operation = label.split(".", 1)
            total += n * per_item.get(cost.category(service, operation.split(" ")[0]), 0.0)
        return total


def _counted(step: Step) -> tuple[Counter[str], int, float]:
    calls: Counter[str] = Counter()
    for (_who, service, operation), n in step.calls.items():
        if not operation.endswith(EMPTY):
            calls[f"{service}.{operation}"] += n
    gb_s = sum(i.memory_mb / 1024 * max(1.0, i.duration_ms) / 1000 for i in step.invocations)
    return calls, len(step.invocations), gb_s


def _populate(system: Any, fake: Any, n: int) -> tuple[str, list[Any], list[str]]:
    """One linked installation with `n` repositories and a source on each, all due now; their ids."""
    from bench.webhooks import _link
    from gitconnect import wiring
    from tests.support.fake_github import fake_sha

    team = f"rec-bench-{n}"
    installation, connection_id, token = _link(system, fake, f"rec-bench-{n}", team)
    repos = [fake.add_repo(installation, f"rec-bench-{n}/r{i:04d}", branches={"main": fake_sha(f"{n}-{i}-1")})
             for i in range(n)]
    first = system.call("POST", f"/v1/teams/{team}/sources", token=token, body={
        "connection_id": connection_id, "repository": repos[0].full_name, "branches": ["main"], "tags": ["v*"]})
    if first.status != 201:
        raise RuntimeError(f"the first source was refused: {first.body}")
    store = wiring.stores().sources
    template = store.get(team, first.json()["id"])
    assert template is not None  # just created
    store.delete(team, template.id)
    ids = []
    for i, repo in enumerate(repos):  # as sources would be, their first pass still to come
        source = replace(template, id=f"src_rec{i:06d}", name=f"r{i}", repository=repo.full_name,
                         repository_id=str(repo.id), reconcile=None, reconcile_due_at=0.0, heads={})
        store.create(source)
        ids.append(source.id)
    return team, repos, ids


def _one_pass(system: Any, fake: Any, recorder: Recorder, label: str, n: int) -> Pass:
    fake.clear_log()
    before = fake.not_modified
    step = Step()
    with recorder.counting(step):
        system.fire_schedule()
        system.drain("SyncFunction", rounds=10 + n)
        system.drain("BuildTriggerFunction", rounds=10 + n)
    builds = len(system.bus_events())
    calls, invocations, gb_s = _counted(step)
    listed = [r for r in fake.log if r.path.endswith(("/branches", "/tags"))]
    return Pass(label, len(listed), fake.not_modified - before, calls, invocations, gb_s, builds)


def measure(n: int) -> list[Pass]:
    from bench.webhooks import _github
    from tests.support.fake_github import fake_sha

    recorder = Recorder()
    saved = os.environ.get("GITCONNECT_RECONCILE_SECONDS")
    os.environ["GITCONNECT_RECONCILE_SECONDS"] = "0"  # every scheduled sync finds every source due (one pass each)
    try:
        with _github(recorder) as (system, fake):
            _, repos, _ = _populate(system, fake, n)
            passes = [_one_pass(system, fake, recorder, "first pass (no validators: every listing 200)", n),
                      _one_pass(system, fake, recorder, "idle pass (every listing 304)", n)]
            for i, repo in enumerate(repos):
                if i % MOVED_SHARE == 0:
                    repo.branches["main"] = fake.add_commit(repo.full_name, fake_sha(f"{n}-{i}-2"))
            passes.append(_one_pass(system, fake, recorder, f"1 in {MOVED_SHARE} moved without a webhook", n))
            return passes
    finally:
        if saved is None:
            os.environ.pop("GITCONNECT_RECONCILE_SECONDS", None)
        else:
            os.environ["GITCONNECT_RECONCILE_SECONDS"] = saved


def report(measured: dict[int, list[Pass]]) -> list[str]:
    lines = [f"in-process (moto), real handlers, fake GitHub over HTTP; each source watches `main` and `v*` (two "
             f"listings: branches, tags); every source due at each pass; $ per month at one pass every "
             f"{INTERVAL:g} s ({PASSES_PER_MONTH:,.0f} passes a month), priced as bench/cost.py prices (AWS requests "
             "+ Lambda requests and GB-s at the measured durations; GitHub's API is free)", ""]
    header = f"    {'N':>6}  {'pass':<46}{'provider calls':>15}{'304s':>7}{'rate-limited':>13}{'AWS calls':>11}" \
             f"{'builds':>8}"
    lines.append(header)
    for n, passes in measured.items():
        for p in passes:
            lines.append(f"    {n:>6,}  {p.label:<46}{p.provider_calls:>15,}{p.not_modified:>7,}{p.rate_limited:>13,}"
                         f"{p.aws_calls:>11,}{p.builds:>8,}")
    lines.append("")
    for n, passes in measured.items():
        idle = passes[1]
        per_source = idle.provider_calls / n
        lines.append(f"  N = {n:,}: {per_source:.1f} provider calls per source and pass, {idle.rate_limited} of them "
                     f"rate-limited when idle (GitLab, Bitbucket: all {passes[0].provider_calls:,}); AWS calls per "
                     f"idle pass {idle.aws_calls:,} ({idle.aws_calls / n:.2f} per source: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(idle.aws.items())) + ")")
        monthly = idle.dollars() * PASSES_PER_MONTH
        lines.append(f"    $ per month of reconcile: ${monthly:,.2f} (idle); a pass where 1 in {MOVED_SHARE} moved: "
                     f"${passes[2].dollars():.4f}; Lambda GB-s per idle pass {idle.lambda_gb_s:.2f}")
    lines.append("  (the router's share: one UpdateItem per push delivery on a watched ref records what it named; "
                 "figure 5.5 counts it)")
    return lines


def run() -> tuple[dict[int, list[Pass]], list[str]]:
    measured = {n: measure(n) for n in SIZES}
    return measured, report(measured)
