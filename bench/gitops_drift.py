"""Figure 10: GitOps drift, bounded. Provider calls per hour for N = 10, 100, 1 000 linked templates, webhooked
(GitLab, checked every GITCONNECT_DRIFT_SECONDS for a missed delivery) and not (Custom Git, checked every
GITCONNECT_POLL_SECONDS: its only news of pushes); AWS calls per synced commit.

Measured in-process under moto with the real handlers (tests/support/inprocess.py), against a real git http-backend
(Custom Git: provider calls = the HTTP requests it served) and the GitLab fake (the API requests it served). The
templates sit ten to a branch (Custom Git: ten to a remote, whose one `ls-remote` shows every branch). One check round
is measured with every template due (drift groups are due together, at their own phase, so a round is what each
group costs once per interval): idle (nothing moved), then with one branch moved. Calls per hour = calls per round x
rounds per hour (3 600 / interval). The figure main had before (every linked template re-checked every minute, one
head per branch) is computed from its code: 60 head checks per branch per hour, whatever the interval.
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

from bench.aws_calls import EMPTY, Recorder, Step

SIZES = (10, 100, 1000)
PER_BRANCH = 10
POLL_SECONDS = 180.0  # GITCONNECT_POLL_SECONDS's default: Custom Git templates
DRIFT_SECONDS = 900.0  # GITCONNECT_DRIFT_SECONDS's default: templates a webhook keeps current


@dataclass
class Round:
    provider: str
    templates: int
    groups: int
    idle_provider: int  # provider requests of one round, nothing moved
    idle_aws: int
    moved_provider: int  # ... with one branch moved (its templates' files read)
    moved_aws: int
    interval: float

    @property
    def per_hour(self) -> float:
        return 3600 / self.interval


def _aws(step: Step) -> int:
    return sum(n for (_, _, operation), n in step.calls.items() if not operation.endswith(EMPTY))


def _round(system: Any, recorder: Recorder, requests: Any) -> tuple[int, int]:
    """Every template due now; one schedule, its drift checks and the syncs they requested: (provider, AWS) calls."""
    _all_due(system)
    step = Step()
    before = requests()
    with recorder.counting(step):
        system.fire_schedule()
        system.drain("SyncFunction", rounds=500)
        system.drain("GitOpsSyncFunction", rounds=500)
    return requests() - before, _aws(step)


def _all_due(system: Any) -> None:
    """Every template's next check moved to now (a due group's members share one due time: their claims are done by
    the same run)."""
    from gitconnect import wiring
    from gitconnect.adapters.template_store import DRIFT_BUCKET, POLLED_DRIFT_BUCKET, TemplateModel

    wiring._template_store()  # binds the table
    now = time.time() - 1  # a new due time each round: a remembered head is for one round only
    for bucket in (DRIFT_BUCKET, POLLED_DRIFT_BUCKET):
        for m in TemplateModel.by_drift_due.query(bucket):
            TemplateModel(m.pk, m.sk).update(actions=[TemplateModel.drift_due_at.set(now)])


def _clone(team: str, first_id: str, copies: list[tuple[str, str, str, str]]) -> None:
    """Templates like `first_id`, each linked to (connection, branch, path) at `head` (written straight to the
    store: creating 1 000 through the API would measure the API)."""
    from gitconnect import wiring
    from gitconnect.domain.templates import TemplateVersion

    store = wiring._template_store()
    first = store.get(team, first_id)
    assert first is not None
    assert first.gitops is not None
    version = TemplateVersion(first.id, 1, first.content, "git", first.created_at, first.gitops.last_synced_sha)
    for i, (connection_id, branch, path, head) in enumerate(copies):
        link = replace(first.gitops, connection_id=connection_id, branch=branch, path=path, last_synced_sha=head)
        copy = replace(first, id=f"tpl_bench{i:06d}", name=path, gitops=link)
        store.create(copy, replace(version, template_id=copy.id))


def _custom(system: Any, recorder: Recorder, root: Path, n: int) -> Round:
    from infra.local.git_server import GitHttpServer, WorkingCopy, init_bare

    team = f"bench-{uuid.uuid4().hex[:8]}"
    token = system.token({team: "admin"})
    groups = max(1, n // PER_BRANCH)
    (root / "repos").mkdir()
    with GitHttpServer(root / "repos") as server:
        copies, works, first_id = [], [], ""
        for g in range(groups):
            name = f"r{g}"
            init_bare(server.root, name)
            work = WorkingCopy.clone(server.url_for(name), root / name)
            for t in range(PER_BRANCH):
                work.write(f"t{t}.json", '{"n": 1}\n')
            head = work.commit("templates")
            work.push("main")
            works.append(work)
            connection = system.call("POST", f"/v1/teams/{team}/connections", token=token,
                                     body={"provider": "custom", "url": server.url_for(name)}).json()
            if g == 0:
                first_id = system.call("POST", f"/v1/teams/{team}/templates", token=token, body={
                    "name": "t", "gitops": {"connection_id": connection["id"], "branch": "main", "path": "t0.json",
                                            "mode": "link"}}).json()["id"]
            copies += [(connection["id"], "main", f"t{t}.json", head) for t in range(PER_BRANCH)][: n - len(copies)]
        _clone(team, first_id, copies[1:] if len(copies) > 1 else [])
        count = lambda: len(server.requests)  # noqa: E731 - the counter the round reads
        _round(system, recorder, count)  # warm: containers built, the first round's baseline
        idle = _round(system, recorder, count)
        works[0].write("t0.json", '{"n": 2}\n')
        works[0].commit("moved")
        works[0].push("main")
        moved = _round(system, recorder, count)
    return Round("custom", n, groups, *idle, *moved, POLL_SECONDS)


def _gitlab(system: Any, recorder: Recorder, fake: Any, n: int) -> Round:
    from tests.support.fake_gitlab import fake_sha

    team = f"bench-{uuid.uuid4().hex[:8]}"
    token = system.token({team: "admin"})
    user = fake.add_user(f"u{uuid.uuid4().hex[:6]}")
    group = fake.add_group(f"g{uuid.uuid4().hex[:6]}")
    fake.add_member(user, group)
    groups = max(1, n // PER_BRANCH)
    project = fake.add_project(group, "app", branches={f"b{g}": fake_sha(f"b{g}") for g in range(groups)})
    heads = {}
    for g in range(groups):
        for t in range(PER_BRANCH):
            heads[g] = fake.put_file(project, f"b{g}", f"t{t}.json", '{"n": 1}\n')
    connection = system.call("POST", f"/v1/teams/{team}/connections", token=token,
                             body={"provider": "gitlab", "token": fake.personal_token(user)}).json()
    repository = fake.path_with_namespace(project)
    first_id = system.call("POST", f"/v1/teams/{team}/templates", token=token, body={
        "name": "t", "gitops": {"connection_id": connection["id"], "repository": repository, "branch": "b0",
                                "path": "t0.json", "mode": "link"}}).json()["id"]
    copies = [(connection["id"], f"b{g}", f"t{t}.json", heads[g]) for g in range(groups) for t in range(PER_BRANCH)]
    _clone(team, first_id, copies[1:n])
    count = lambda: len(fake.log)  # noqa: E731 - the counter the round reads
    _round(system, recorder, count)
    idle = _round(system, recorder, count)
    fake.put_file(project, "b0", "t0.json", '{"n": 2}\n')
    moved = _round(system, recorder, count)
    return Round("gitlab", n, groups, *idle, *moved, DRIFT_SECONDS)


def _synced_commit(system: Any, recorder: Recorder, fake: Any) -> Counter[str]:
    """AWS calls, by function and operation, for one GitLab push that changes one linked file: intake, router
    (release flows none), the FIFO queue, GitOpsSyncFunction (read, version, no run)."""
    import json
    from urllib.parse import urlsplit

    from tests.functional.test_gitlab_flow import push
    from tests.support.fake_gitlab import fake_sha

    def deliver(hook: Any, headers: dict[str, str], payload: Any) -> int:
        return int(system.call("POST", urlsplit(hook.url).path, raw_body=json.dumps(payload).encode(),
                               headers={k.lower(): v for k, v in headers.items()}).status)

    fake.deliver = deliver
    team = f"bench-{uuid.uuid4().hex[:8]}"
    token = system.token({team: "admin"})
    user = fake.add_user(f"u{uuid.uuid4().hex[:6]}")
    group = fake.add_group(f"g{uuid.uuid4().hex[:6]}")
    fake.add_member(user, group)
    project = fake.add_project(group, "app", branches={"main": fake_sha("m")})
    fake.put_file(project, "main", "app.json", '{"n": 1}\n')
    connection = system.call("POST", f"/v1/teams/{team}/connections", token=token,
                             body={"provider": "gitlab", "token": fake.personal_token(user)}).json()
    system.call("POST", f"/v1/teams/{team}/templates", token=token, body={
        "name": "app", "gitops": {"connection_id": connection["id"], "repository": fake.path_with_namespace(project),
                                  "branch": "main", "path": "app.json", "mode": "link"}})
    out: Counter[str] = Counter()
    for attempt in range(2):  # the first warms the containers (secrets, clients); the second is counted
        before = project.branches["main"]
        after = fake.put_file(project, "main", "app.json", f'{{"n": {attempt + 2}}}\n')
        step = Step()
        with recorder.counting(step):
            fake.send_event(project, "push", push(fake, project, "refs/heads/main", before, after))
            system.drain("EventRouterFunction")
            system.drain("GitOpsSyncFunction")
        if attempt:
            for (who, service, operation), n in step.calls.items():
                if not operation.endswith(EMPTY):
                    out[f"{who}: {service}.{operation}"] += n
    return out


def _isolated(body: Any) -> Any:
    """`body(system, recorder, fake)` in a system of its own (moto, every resource, the GitLab fake): one size's
    templates are never checked in another's rounds."""
    from moto import mock_aws

    from tests.support.fake_gitlab import FakeGitLab
    from tests.support.inprocess import start_system

    recorder = Recorder()
    saved = dict(os.environ)
    try:
        with FakeGitLab() as fake, mock_aws(), recorder.patched():
            os.environ["GITLAB_URL"] = fake.base_url
            system = start_system()
            for function_id, fn in system.functions.items():
                recorder.wrap(function_id, fn)
            return body(system, recorder, fake)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from gitconnect import wiring

        wiring.reset()


def _custom_isolated(n: int) -> Round:
    def body(system: Any, recorder: Recorder, fake: Any) -> Round:
        with tempfile.TemporaryDirectory(prefix="gitconnect-bench-drift-") as tmp:
            return _custom(system, recorder, Path(tmp), n)

    return _isolated(body)  # type: ignore[no-any-return]


def measure() -> tuple[list[Round], Counter[str]]:
    rounds: list[Round] = []
    for n in SIZES:
        rounds.append(_custom_isolated(n))
        rounds.append(_isolated(lambda system, recorder, fake, n=n: _gitlab(system, recorder, fake, n)))
    return rounds, _isolated(_synced_commit)


def report(rounds: list[Round], synced: Counter[str]) -> list[str]:
    lines = [f"in-process (moto), real handlers; templates {PER_BRANCH} to a branch (Custom Git: to a remote); one "
             "round = every drift group checked once (provider calls: HTTP requests the remote or the fake served)",
             "",
             f"    {'provider':<10}{'templates':>10}{'groups':>8}{'idle/round':>12}{'moved/round':>13}"
             f"{'rounds/h':>10}{'idle calls/h':>14}{'main before/h':>15}{'AWS idle/round':>16}"]
    for r in rounds:
        before = 60 * r.groups * (2 if r.provider == "custom" else 1)  # per minute, one head (an ls-remote: 2 requests)
        lines.append(f"    {r.provider:<10}{r.templates:>10,}{r.groups:>8,}{r.idle_provider:>12,}"
                     f"{r.moved_provider:>13,}{r.per_hour:>10.0f}{r.idle_provider * r.per_hour:>14,.0f}"
                     f"{before:>15,}{r.idle_aws:>16,}")
    lines += ["", "  idle: heads only, no file read; moved: one branch moved, its templates' files read "
                  f"({PER_BRANCH} per branch) on top of the heads", "",
              f"  AWS calls per synced commit (a GitLab push changing one linked file; {sum(synced.values())} in all):"]
    lines += [f"      {label:<70}{n:>6}" for label, n in sorted(synced.items())]
    return lines


def run() -> tuple[tuple[list[Round], Counter[str]], list[str]]:
    measured = measure()
    return measured, report(*measured)
