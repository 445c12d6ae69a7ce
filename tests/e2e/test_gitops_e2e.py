"""GitOps through the local stack process (`python -m infra.local`, schedules every second), a real git http-backend
on 127.0.0.1 and the git CLI on the other side: create -> the file appears in the repository -> `git commit && git
push` -> a new version in the app -> save in the app -> the commit appears, no loop -> stale save 409 -> invalid JSON
pushed is refused, the last good content kept -> run on update under each concurrency policy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local.git_server import GitHttpServer, WorkingCopy, init_bare
from tests.support.local_stack import Stack, running_stack
from tests.support.waiting import until


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack({"GITCONNECT_LOCAL_SCHEDULE_SECONDS": "1", "GITCONNECT_LOCAL_DEMO": "0"}) as running:
        yield running


def test_gitops_end_to_end(stack: Stack, tmp_path: Path) -> None:
    init_bare(tmp_path, "infra")
    with GitHttpServer(tmp_path) as git:
        url = git.url_for("infra")
        work = WorkingCopy.clone(url, tmp_path / "work")
        work.write("README.md", "templates live here\n")
        work.commit("first")
        work.push("main")
        connection = stack.request("POST", "/v1/teams/demo/connections",
                                   json_body={"provider": "custom", "url": url}).json()
        gitops = {"connection_id": connection["id"], "branch": "main", "path": "/templates/app.json"}

        fetched = stack.request("POST", "/v1/teams/demo/gitops/fetch", json_body=gitops)
        assert fetched.json() == {"exists": False, "content": None, "sha": None}
        created = stack.request("POST", "/v1/teams/demo/templates", json_body={
            "name": "app", "content": {"replicas": 1}, "run_on_update": True, "concurrency": "queue",
            "gitops": {**gitops, "mode": "create", "commit_message": "Add app"}})
        assert created.status == 201, created.body
        tid = created.json()["id"]
        work.pull()
        assert json.loads((work.path / "templates/app.json").read_text()) == {"replicas": 1}

        def template() -> dict[str, Any]:
            return stack.request("GET", f"/v1/teams/demo/templates/{tid}").json()

        # git commit && git push: the scheduled sync makes it a version, which runs
        work.write("templates/app.json", '{"replicas": 2}')
        pushed = work.commit("scale to 2")
        work.push()
        assert until(lambda: template()["version"] == 2)
        versions = stack.request("GET", f"/v1/teams/demo/templates/{tid}/versions").json()["items"]
        assert (versions[0]["origin"], versions[0]["commit_sha"]) == ("git", pushed)
        runs = [e for e in stack.read_tap(at_least=1, wait_seconds=10) if e["detail-type"] == "RunRequested"]
        assert [r["detail"]["version"] for r in runs] == [2]

        # Save in the app: the commit appears; its echo is no new version and no run
        saved = stack.request("PUT", f"/v1/teams/demo/templates/{tid}",
                              json_body={"content": {"replicas": 3}, "base_version": 2, "commit_message": "scale"})
        assert saved.status == 200, saved.body
        work.pull()
        assert work.git("log", "-1", "--format=%s") == "scale"
        time.sleep(3)  # three scheduled syncs
        assert template()["version"] == 3
        # queue: the run of version 3 waits for the run of version 2
        assert stack.read_tap(at_least=1, wait_seconds=2) == []
        done = stack.request("POST", f"/v1/runs/{runs[0]['detail']['run_id']}/status",
                             json_body={"status": "succeeded"}, token=runs[0]["detail"]["callback_token"])
        assert done.status == 200, done.body
        next_run = stack.read_tap(at_least=1, wait_seconds=10)
        assert [(e["detail-type"], e["detail"]["version"]) for e in next_run] == [("RunRequested", 3)]

        # A stale save: 409 with both versions
        stale = stack.request("PUT", f"/v1/teams/demo/templates/{tid}",
                              json_body={"content": {"replicas": 9}, "base_version": 2})
        assert stale.status == 409 and stale.json()["current"]["version"] == 3

        # Invalid JSON pushed: refused, the last good content kept, the reason visible
        work.write("templates/app.json", '{"replicas": ')
        broken = work.commit("broken")
        work.push()
        assert until(lambda: template()["gitops"]["status"] == "error")
        current = template()
        assert current["version"] == 3 and current["content"] == {"replicas": 3}
        assert current["gitops"]["last_error"]["commit_sha"] == broken


@pytest.mark.parametrize(("policy", "started"), [("allow", [2, 3]), ("forbid", [2])])
def test_run_on_update_policies(stack: Stack, policy: str, started: list[int]) -> None:
    """Two saves in a row: `allow` starts both runs, `forbid` refuses the second while the first is active (`queue`
    is exercised above)."""
    stack.read_tap(at_least=100, wait_seconds=0.5)  # whatever earlier tests left on the tap
    tid = stack.request("POST", "/v1/teams/demo/templates", json_body={
        "name": f"e2e-{policy}", "content": {"n": 0}, "run_on_update": True, "concurrency": policy}).json()["id"]
    for n in (1, 2):
        saved = stack.request("PUT", f"/v1/teams/demo/templates/{tid}",
                              json_body={"content": {"n": n}, "base_version": n})
        assert saved.status == 200, saved.body
    events = stack.read_tap(at_least=len(started), wait_seconds=10)
    assert [(e["detail-type"], e["detail"]["version"]) for e in events] == [("RunRequested", v) for v in started]
    runs = stack.request("GET", f"/v1/teams/demo/templates/{tid}/runs").json()["items"]
    expected_second = "queued" if policy == "allow" else "cancelled"
    assert [(r["version"], r["status"]) for r in runs] == [(3, expected_second), (2, "queued")]
