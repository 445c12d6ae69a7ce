"""GitOps through the real handlers against a real Git server (git http-backend on 127.0.0.1) with the git CLI on the
other side: fetch, create (the file appears in the repository), a push changes it (a new version from that commit),
a save in the app commits (and its own push does not come back as a version: no loop), stale saves are 409s, invalid
JSON pushed is refused and visible, runs on update under each concurrency policy, unlink stops syncing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.local.git_server import GitHttpServer, WorkingCopy
from tests.support.inprocess import System


@pytest.fixture
def linked_remote(system: System, team: str, admin: str, remote: tuple[str, WorkingCopy]) -> dict[str, Any]:
    url, work = remote
    reply = system.call("POST", f"/v1/teams/{team}/connections", token=admin, body={"provider": "custom", "url": url})
    assert reply.status == 201, reply.body
    return {"connection_id": reply.json()["id"], "work": work, "url": url}


class RunTap:
    """Every RunRequested published since the test began (the bus tap hands each event out once)."""

    def __init__(self, system: System) -> None:
        self.system, self.seen = system, []
        system.bus_events("RunRequested")  # what earlier tests left

    def __call__(self) -> list[dict[str, Any]]:
        self.seen += [e["detail"] for e in self.system.bus_events("RunRequested")]
        return list(self.seen)


@pytest.fixture
def runs_on_bus(system: System) -> RunTap:
    return RunTap(system)


def versions(system: System, team: str, admin: str, template_id: str) -> list[dict[str, Any]]:
    return system.call("GET", f"/v1/teams/{team}/templates/{template_id}/versions", token=admin).json()["items"]


def test_fetch(system: System, team: str, admin: str, linked_remote: dict[str, Any]) -> None:
    work: WorkingCopy = linked_remote["work"]
    work.write("infra/app.json", '{"kind": "template"}')
    sha = work.commit("add app")
    work.push()
    body = {"connection_id": linked_remote["connection_id"], "branch": "main"}
    for path in ("/infra/app.json", "infra/app.json"):
        found = system.call("POST", f"/v1/teams/{team}/gitops/fetch", token=admin, body={**body, "path": path})
        assert found.json() == {"exists": True, "content": {"kind": "template"}, "sha": sha}
    absent = system.call("POST", f"/v1/teams/{team}/gitops/fetch", token=admin, body={**body, "path": "nope.json"})
    assert absent.json() == {"exists": False, "content": None, "sha": None}
    not_json = system.call("POST", f"/v1/teams/{team}/gitops/fetch", token=admin, body={**body, "path": "README.md"})
    assert not_json.status == 422 and "not valid JSON" in not_json.json()["detail"]
    for path in ("../etc/passwd", "https://evil.example/x.json", "a/../../b"):
        bad = system.call("POST", f"/v1/teams/{team}/gitops/fetch", token=admin, body={**body, "path": path})
        assert bad.status == 400, path
    missing = system.call("POST", f"/v1/teams/{team}/gitops/fetch", token=admin,
                          body={**body, "branch": "no-such-branch", "path": "a.json"})
    assert missing.status == 404


def test_create_push_save_conflicts_and_invalid_json(system: System, team: str, admin: str,
                                                      linked_remote: dict[str, Any], runs_on_bus: RunTap) -> None:
    work: WorkingCopy = linked_remote["work"]
    gitops = {"connection_id": linked_remote["connection_id"], "branch": "main", "path": "/templates/app.json",
              "mode": "create", "commit_message": "Add the app template"}
    created = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": "app", "content": {"services": ["web"]}, "gitops": gitops, "run_on_update": True})
    assert created.status == 201, created.body
    template = created.json()
    tid = template["id"]
    assert template["version"] == 1 and template["gitops"]["status"] == "synced"
    work.pull()
    assert json.loads((work.path / "templates/app.json").read_text()) == {"services": ["web"]}
    assert work.git("log", "-1", "--format=%s") == "Add the app template"
    assert template["gitops"]["last_synced_sha"] == work.head()
    # The same file again: refused, nothing committed
    again = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": "dup", "content": {}, "gitops": gitops})
    assert again.status == 409
    # A developer changes it with git: the scheduled sync makes it a new version from that commit, and a run
    work.write("templates/app.json", json.dumps({"services": ["web", "worker"]}))
    pushed = work.commit("add a worker")
    work.push()
    system.sync()
    current = system.call("GET", f"/v1/teams/{team}/templates/{tid}", token=admin).json()
    assert current["version"] == 2 and current["content"] == {"services": ["web", "worker"]}
    history = versions(system, team, admin, tid)
    assert [(v["version"], v["origin"], v["commit_sha"]) for v in history[:1]] == [(2, "git", pushed)]
    assert history[0]["author"] == "Test <test@example.com>"  # the commit's author (the git CLI's, here)
    assert history[1]["author"] == "user-1"  # the app user who created it
    assert [(r["version"], r["template_id"]) for r in runs_on_bus()] == [(2, tid)]
    # Saving in the app commits the new content; the next sync sees gitconnect's own commit: no new version, no run
    saved = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=admin, body={
        "content": {"services": ["web", "worker", "cron"]}, "base_version": 2, "commit_message": "Add cron"})
    assert saved.status == 200, saved.body
    assert saved.json()["version"] == 3
    work.pull()
    assert json.loads((work.path / "templates/app.json").read_text())["services"][-1] == "cron"
    assert work.git("log", "-1", "--format=%s") == "Add cron"
    system.sync()
    system.sync()
    assert system.call("GET", f"/v1/teams/{team}/templates/{tid}", token=admin).json()["version"] == 3
    assert [v["origin"] for v in versions(system, team, admin, tid)] == ["app", "git", "app"]
    assert [r["version"] for r in runs_on_bus()] == [2, 3]  # one run per new version, none for the echo
    # A save based on an old version: 409 with both versions
    stale = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=admin, body={
        "content": {"services": []}, "base_version": 2})
    assert stale.status == 409
    problem = stale.json()
    assert problem["current"]["version"] == 3 and problem["yours"]["content"] == {"services": []}
    # The file changed in the repository since the last sync: the save is refused with the repository's content
    work.write("templates/app.json", json.dumps({"services": ["by-hand"]}))
    by_hand = work.commit("by hand")
    work.push()
    conflict = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=admin, body={
        "content": {"services": ["mine"]}, "base_version": 3})
    assert conflict.status == 409
    assert conflict.json()["repository"] == {"sha": by_hand, "content": {"services": ["by-hand"]}}
    work.pull()
    assert work.head() == by_hand  # nothing was overwritten
    # Invalid JSON pushed: refused, the template keeps its last good version, the link says why and where
    system.sync()
    assert system.call("GET", f"/v1/teams/{team}/templates/{tid}", token=admin).json()["version"] == 4
    work.write("templates/app.json", '{"services": [')
    broken = work.commit("oops")
    work.push()
    system.sync()
    after = system.call("GET", f"/v1/teams/{team}/templates/{tid}", token=admin).json()
    assert after["version"] == 4 and after["content"] == {"services": ["by-hand"]}
    assert after["gitops"]["status"] == "error"
    assert after["gitops"]["last_error"]["commit_sha"] == broken
    assert "not valid JSON" in after["gitops"]["last_error"]["reason"]
    # Fixed by the next push
    work.write("templates/app.json", '{"services": ["fixed"]}')
    work.commit("fix")
    work.push()
    system.sync()
    fixed = system.call("GET", f"/v1/teams/{team}/templates/{tid}", token=admin).json()
    assert fixed["version"] == 5 and fixed["gitops"]["status"] == "synced" and fixed["gitops"]["last_error"] is None


def test_link_an_existing_file_and_unlink(system: System, team: str, admin: str,
                                          linked_remote: dict[str, Any]) -> None:
    work: WorkingCopy = linked_remote["work"]
    work.write("flows/release.json", '{"steps": ["build", "deploy"]}')
    sha = work.commit("flow")
    work.push()
    created = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": "release", "kind": "release_flow",
        "gitops": {"connection_id": linked_remote["connection_id"], "branch": "main",
                   "path": "flows/release.json", "mode": "link"}})
    assert created.status == 201, created.body
    template = created.json()
    assert template["content"] == {"steps": ["build", "deploy"]} and template["gitops"]["last_synced_sha"] == sha
    assert [(v["origin"], v["commit_sha"]) for v in versions(system, team, admin, template["id"])] == [("git", sha)]
    missing = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": "x", "gitops": {"connection_id": linked_remote["connection_id"], "branch": "main",
                                "path": "flows/none.json", "mode": "link"}})
    assert missing.status == 422
    assert system.call("DELETE", f"/v1/teams/{team}/connections/{linked_remote['connection_id']}",
                       token=admin).status == 204
    work.write("flows/release.json", '{"steps": ["changed"]}')
    work.commit("after unlink")
    work.push()
    system.sync()
    kept = system.call("GET", f"/v1/teams/{team}/templates/{template['id']}", token=admin).json()
    assert kept["content"] == {"steps": ["build", "deploy"]} and kept["gitops"]["status"] == "unlinked"


@pytest.mark.parametrize("policy", ["allow", "queue", "forbid"])
def test_run_on_update_concurrency(system: System, team: str, admin: str, policy: str, runs_on_bus: RunTap) -> None:
    created = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": f"t-{policy}", "content": {"n": 0}, "run_on_update": True, "concurrency": policy}).json()
    tid = created["id"]
    before = len(runs_on_bus())
    for n in (1, 2, 3):
        reply = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=admin,
                            body={"content": {"n": n}, "base_version": n})
        assert reply.status == 200, reply.body
    runs = system.call("GET", f"/v1/teams/{team}/templates/{tid}/runs", token=admin).json()["items"]
    assert [r["version"] for r in reversed(runs)] == [2, 3, 4]
    started = runs_on_bus()[before:]
    if policy == "allow":
        assert [r["version"] for r in started] == [2, 3, 4]
    elif policy == "queue":
        assert [r["version"] for r in started] == [2]  # the others wait their turn
        for expected_next in (3, 4):
            first = started[-1]
            done = system.call("POST", f"/v1/runs/{first['run_id']}/status", token=first["callback_token"],
                               body={"status": "succeeded"})
            assert done.status == 200, done.body
            started = runs_on_bus()[before:]
            assert started[-1]["version"] == expected_next
            assert started[-1]["content"] == {"n": expected_next - 1}  # that version's content, not the latest
    else:
        assert [r["version"] for r in started] == [2]
        statuses = {r["version"]: (r["status"], r["reason"]) for r in runs}
        assert statuses[3][0] == "cancelled" and statuses[4][0] == "cancelled"
        manual = system.call("POST", f"/v1/teams/{team}/templates/{tid}/runs", token=admin)
        assert manual.status == 409
        first = started[0]
        system.call("POST", f"/v1/runs/{first['run_id']}/status", token=first["callback_token"],
                    body={"status": "failed"})
        assert system.call("POST", f"/v1/teams/{team}/templates/{tid}/runs", token=admin).status == 202


def test_run_callbacks_are_authenticated(system: System, team: str, admin: str, runs_on_bus: RunTap) -> None:
    tid = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": "t", "content": {}}).json()["id"]
    run = system.call("POST", f"/v1/teams/{team}/templates/{tid}/runs", token=admin).json()
    event = runs_on_bus()[-1]
    assert event["run_id"] == run["id"] and event["content"] == {} and event["callback_url"].endswith(
        f"/v1/runs/{run['id']}/status")
    assert system.call("POST", f"/v1/runs/{run['id']}/status", token="forged", body={"status": "running"}).status == 401
    other = system.token({"another-team": "admin"})
    assert system.call("POST", f"/v1/runs/{run['id']}/status", token=other, body={"status": "running"}).status == 403
    ok = system.call("POST", f"/v1/runs/{run['id']}/status", token=event["callback_token"], body={"status": "running"})
    assert ok.status == 200 and ok.json()["status"] == "running"


def test_bad_input(system: System, team: str, admin: str, linked_remote: dict[str, Any],
                   git_server: GitHttpServer, tmp_path: Path) -> None:
    base = {"connection_id": linked_remote["connection_id"], "branch": "main", "mode": "create"}
    cases = [
        ({"name": "a", "content": {}, "gitops": {**base, "path": "../x.json"}}, 400),
        ({"name": "a", "content": {}, "gitops": {**base, "path": "https://example.com/x.json"}}, 400),
        ({"name": "a", "content": {}, "gitops": {**base, "path": "x.json", "branch": "nope"}}, 404),
        ({"name": "a", "content": {"big": "x" * 400_000}}, 413),
        ({"name": "a", "content": [1, 2]}, 400),
        ({"name": "a", "content": {}, "concurrency": "sometimes"}, 400),
        ({"name": "a", "content": {}, "gitops": {**base, "path": "x.json", "connection_id": "con_nope"}}, 404),
        ({"name": "a", "content": {}, "triggers": {"connection_id": linked_remote["connection_id"]}}, 400),
        ({"name": "a", "content": {}, "gitops": {**base, "path": "new.json"},  # triggers on a template: not committed
          "triggers": {"connection_id": linked_remote["connection_id"]}}, 400),
    ]
    other = system.call("POST", f"/v1/teams/{team}/connections", token=admin,
                        body={"provider": "custom", "url": linked_remote["url"], "name": "second"}).json()["id"]
    cases.append(({"name": "a", "kind": "release_flow", "gitops": {**base, "path": "x.json", "mode": "link"},
                   "triggers": {"connection_id": other, "branches": ["main"]}}, 400))
    work: WorkingCopy = linked_remote["work"]
    head = work.head()
    for body, status in cases:
        reply = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body=body)
        assert reply.status == status, (body, reply.body)
        assert reply.headers["content-type"] == "application/problem+json"
    assert system.call("GET", f"/v1/teams/{team}/templates", token=admin).json()["items"] == []
    work.pull()
    assert work.head() == head  # nothing committed
    other = system.token({"other-team": "admin"})
    assert system.call("POST", f"/v1/teams/{team}/templates", token=other,
                       body={"name": "a", "content": {}}).status == 403


def test_a_run_that_could_not_be_published_does_not_block_the_queue(system: System, team: str, admin: str,
                                                                     runs_on_bus: RunTap) -> None:
    """PutEvents failing for good (past botocore's retries): the manual run answers 503 and stays waiting, not
    "started"; the next request starts the first waiting run, in request order (`queue` is not stuck behind a run
    nobody was told about), and its own follows."""
    from tests.support.faults import failing

    tid = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": "q", "content": {}, "concurrency": "queue"}).json()["id"]
    with failing("PutEvents"):
        assert system.call("POST", f"/v1/teams/{team}/templates/{tid}/runs", token=admin).status == 503
    assert runs_on_bus() == []
    [first] = system.call("GET", f"/v1/teams/{team}/templates/{tid}/runs", token=admin).json()["items"]
    second = system.call("POST", f"/v1/teams/{team}/templates/{tid}/runs", token=admin)
    assert second.status == 202 and second.json()["position"] == 2
    assert [r["run_id"] for r in runs_on_bus()] == [first["id"]]
    reported = system.call("POST", f"/v1/runs/{first['id']}/status", token=admin, body={"status": "succeeded"})
    assert reported.status == 200, reported.body
    assert [r["run_id"] for r in runs_on_bus()] == [first["id"], second.json()["id"]]


def test_a_repeated_final_report_starts_the_next_queued_run(system: System, team: str, admin: str,
                                                             runs_on_bus: RunTap) -> None:
    """The next queued run could not be published when the active one ended (the report answered 503): the runner
    repeating its report starts it."""
    from tests.support.faults import failing

    tid = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": "q2", "content": {}, "concurrency": "queue"}).json()["id"]
    first = system.call("POST", f"/v1/teams/{team}/templates/{tid}/runs", token=admin).json()
    second = system.call("POST", f"/v1/teams/{team}/templates/{tid}/runs", token=admin).json()
    (started,) = runs_on_bus()
    assert started["run_id"] == first["id"]
    report = {"status": "succeeded"}
    with failing("PutEvents"):
        failed = system.call("POST", f"/v1/runs/{first['id']}/status", token=started["callback_token"], body=report)
    assert failed.status == 503
    again = system.call("POST", f"/v1/runs/{first['id']}/status", token=started["callback_token"], body=report)
    assert again.status == 200 and again.json()["status"] == "succeeded"
    assert [r["run_id"] for r in runs_on_bus()] == [first["id"], second["id"]]
