"""Every payload example of GitLab's webhook events documentation (tests/fixtures/gitlab), with GitLab's headers,
through the real intake and router on a hook gitconnect registered: never a 5xx, never a poison message."""

from __future__ import annotations

import json
from pathlib import Path

from tests.functional.test_gitlab_flow import TEAM, admin, lab, linked  # noqa: F401 - its fixtures, reused
from tests.support.fake_gitlab import FakeGitLab
from tests.support.inprocess import System

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"
EVENTS = {"push-hook": "Push Hook", "tag-push-hook": "Tag Push Hook", "merge-request-hook": "Merge Request Hook",
          "release-hook": "Release Hook", "issue-hook": "Issue Hook", "note-hook": "Note Hook",
          "note-hook-merge-request": "Note Hook", "pipeline-hook": "Pipeline Hook", "job-hook": "Job Hook",
          "wiki-page-hook": "Wiki Page Hook", "deployment-hook": "Deployment Hook", "member-hook": "Member Hook"}


def test_every_documented_example_through_intake_and_router(lab: tuple[System, FakeGitLab, dict],  # noqa: F811
                                                            linked: dict) -> None:  # noqa: F811
    system, _, world = lab
    hook = next(iter(world["project"].hooks.values()))
    path = "/v1/webhooks/gitlab/" + hook.url.rsplit("/", 1)[-1]
    files = sorted(FIXTURES.glob("*.json"))
    assert {f.stem for f in files} == set(EVENTS)
    statuses = []
    for i, file in enumerate(files):
        headers = {"x-gitlab-event": EVENTS[file.stem], "x-gitlab-token": hook.token or "",
                   "x-gitlab-event-uuid": f"doc-{i}", "content-type": "application/json"}
        statuses.append(system.call("POST", path, raw_body=file.read_bytes(), headers=headers).status)
    assert statuses == [202] * len(files)
    results = system.drain("EventRouterFunction", rounds=20)
    assert sum(r.received for r in results) == len(files)
    assert all(not r.failed_ids and r.error is None for r in results)
    assert system.queue_depth("EventsDLQ") == 0
    log = system.call("GET", f"/v1/teams/{TEAM}/deliveries", token=system.token({TEAM: "admin"})).json()["items"]
    reasons = {d["id"]: d["reason"] for d in log}
    # The documented payloads are about other projects than the hook's: each is explained, none builds
    assert all(reasons.get(f"doc-{i}") for i in range(len(files))), reasons
    assert json.loads((FIXTURES / "push-hook.json").read_text())["object_kind"] == "push"
