"""Release flow Git triggers on Custom Git (no webhooks), through the real handlers against a real `git http-backend`
with the git CLI pushing: the drift check's `ls-remote` finds each watched head that moved and decides it as a push
(branch globs, path rules from what Git itself says changed), the first check takes the baseline, and a head seen
again requests nothing (the run id is derived from the template, the trigger and the commit)."""

from __future__ import annotations

from typing import Any

from infra.local.git_server import WorkingCopy
from tests.functional.test_custom_git_flow import link
from tests.support.inprocess import System


def runs(system: System) -> list[tuple[str, str, str]]:
    """One scheduled sync and what it sent done: (template, ref, sha) of each RunRequested."""
    system.sync()
    return [(e["detail"]["template_id"], e["detail"].get("ref"), e["detail"].get("sha"))
            for e in system.bus_events("RunRequested")]


def test_release_flow_triggers_fire_through_polling(system: System, team: str, admin: str,
                                                    remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    connection = link(system, team, admin, url)
    flow = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": "release", "kind": "release_flow", "content": {"steps": ["deploy"]},
        "triggers": {"connection_id": connection["id"], "branches": ["main", "release/*"],
                     "paths": {"exclude": ["docs/**"]}}})
    assert flow.status == 201, flow.body
    fid = flow.json()["id"]
    system.bus_events("RunRequested")
    # The first check takes the baseline: what was there when the triggers were set never runs
    assert runs(system) == []
    # A push to main runs the flow once, at that commit
    work.write("app.txt", "1\n")
    first = work.commit("change the app")
    work.push()
    assert runs(system) == [(fid, "refs/heads/main", first)]
    assert runs(system) == []  # the same head again: nothing
    # A push touching only excluded paths: no run (the changed files come from Git itself)
    work.write("docs/readme.md", "words\n")
    work.commit("docs only")
    work.push()
    assert runs(system) == []
    # A new release branch matches `release/*`
    work.git("checkout", "-b", "release/1")
    work.write("app.txt", "2\n")
    release = work.commit("release 1")
    work.push("release/1")
    assert runs(system) == [(fid, "refs/heads/release/1", release)]
    listed: list[dict[str, Any]] = system.call("GET", f"/v1/teams/{team}/templates/{fid}/runs",
                                               token=admin).json()["items"]
    assert sorted((r["ref"], r["sha"]) for r in listed) == sorted([("refs/heads/main", first),
                                                                  ("refs/heads/release/1", release)])
