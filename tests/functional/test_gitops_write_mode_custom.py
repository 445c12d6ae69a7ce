"""`gitops.write` on Custom Git, through the real handlers against a real Git server (git http-backend): a plain Git
remote has no pull requests, so pull-request mode is refused (422 problem+json) at creation and by PATCH, anything
but `direct`/`pull_request` is a 400, and nothing is committed or stored."""

from __future__ import annotations

from typing import Any

from infra.local.git_server import WorkingCopy
from tests.functional.test_gitops_settings import _get, _template, repo  # noqa: F401 - fixture, reused
from tests.support.inprocess import System


def test_pull_request_mode_is_refused_on_custom_git(system: System, team: str, admin: str,
                                                    repo: dict[str, Any]) -> None:  # noqa: F811
    work: WorkingCopy = repo["work"]
    head = work.head()
    base = {"connection_id": repo["connection_id"], "branch": "main", "path": "pr.json", "mode": "create"}
    refused = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": "app", "content": {"a": 1}, "gitops": {**base, "write": "pull_request"}})
    assert refused.status == 422 and refused.headers["content-type"] == "application/problem+json"
    assert "no pull requests" in refused.json()["detail"]
    bogus = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": "app", "content": {"a": 1}, "gitops": {**base, "write": "sometimes"}})
    assert bogus.status == 400 and bogus.headers["content-type"] == "application/problem+json"
    assert system.call("GET", f"/v1/teams/{team}/templates", token=admin).json()["items"] == []

    # A template in the app only has no file to choose a write mode for: 409
    loose = _template(system, team, admin, {"name": "loose", "content": {"a": 1}})["id"]
    unlinked = system.call("PATCH", f"/v1/teams/{team}/templates/{loose}", token=admin,
                           body={"gitops": {"write": "pull_request"}})
    assert unlinked.status == 409 and "not linked" in unlinked.json()["detail"]

    # A linked template: direct by default; pull_request refused, and the setting stays as it was
    linked = _template(system, team, admin, {"name": "linked", "content": {"a": 1}, "gitops": base})
    assert linked["gitops"]["write"] == "direct"
    for write, status in (("pull_request", 422), ("merge_request", 400), (None, 400)):
        reply = system.call("PATCH", f"/v1/teams/{team}/templates/{linked['id']}", token=admin,
                            body={"gitops": {"write": write}})
        assert reply.status == status, (write, reply.body)
    assert _get(system, team, admin, linked["id"])["gitops"]["write"] == "direct"
    work.pull()
    assert work.git("rev-list", f"{head}..HEAD").split() == [linked["gitops"]["last_synced_sha"]]  # its create only
