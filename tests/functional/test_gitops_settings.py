"""Settings after creation (`PATCH /v1/teams/{team}/templates/{id}`) and fixing a broken file from the app
(`replaces_commit`), through the real handlers against a real Git server (git http-backend) with the git CLI on the
other side."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.local.git_server import WorkingCopy
from tests.support.inprocess import System


@pytest.fixture
def repo(system: System, team: str, admin: str, remote: tuple[str, WorkingCopy]) -> dict[str, Any]:
    url, work = remote
    reply = system.call("POST", f"/v1/teams/{team}/connections", token=admin, body={"provider": "custom", "url": url})
    assert reply.status == 201, reply.body
    return {"connection_id": reply.json()["id"], "work": work, "url": url}


def _template(system: System, team: str, admin: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body=body)
    assert reply.status == 201, reply.body
    return reply.json()


def _get(system: System, team: str, admin: str, tid: str) -> dict[str, Any]:
    return system.call("GET", f"/v1/teams/{team}/templates/{tid}", token=admin).json()


def _versions(system: System, team: str, admin: str, tid: str) -> list[dict[str, Any]]:
    return system.call("GET", f"/v1/teams/{team}/templates/{tid}/versions", token=admin).json()["items"]


def test_patch_changes_settings_and_keeps_the_rest(system: System, team: str, admin: str) -> None:
    tid = _template(system, team, admin, {"name": "app", "content": {"a": 1}})["id"]
    reply = system.call("PATCH", f"/v1/teams/{team}/templates/{tid}", token=admin,
                        body={"name": "renamed", "run_on_update": True, "concurrency": "forbid"})
    assert reply.status == 200, reply.body
    after = _get(system, team, admin, tid)
    assert (after["name"], after["run_on_update"], after["concurrency"]) == ("renamed", True, "forbid")
    assert after["content"] == {"a": 1} and after["version"] == 1  # settings are not versions
    # Only what is present changes
    system.call("PATCH", f"/v1/teams/{team}/templates/{tid}", token=admin, body={"concurrency": "queue"})
    after = _get(system, team, admin, tid)
    assert (after["name"], after["run_on_update"], after["concurrency"]) == ("renamed", True, "queue")
    assert len(_versions(system, team, admin, tid)) == 1


def test_patch_turns_gitops_on_with_create_then_off(system: System, team: str, admin: str,
                                                    repo: dict[str, Any]) -> None:
    work: WorkingCopy = repo["work"]
    tid = _template(system, team, admin, {"name": "app", "content": {"services": ["web"]}})["id"]
    gitops = {"connection_id": repo["connection_id"], "branch": "main", "path": "/t/app.json", "mode": "create",
              "commit_message": "Add app from settings"}
    reply = system.call("PATCH", f"/v1/teams/{team}/templates/{tid}", token=admin, body={"gitops": gitops})
    assert reply.status == 200, reply.body
    linked = reply.json()
    work.pull()
    assert json.loads((work.path / "t/app.json").read_text()) == {"services": ["web"]}
    assert work.git("log", "-1", "--format=%s") == "Add app from settings"
    assert linked["gitops"]["status"] == "synced" and linked["gitops"]["last_synced_sha"] == work.head()
    assert linked["gitops"]["path"] == "t/app.json" and linked["version"] == 1
    # Linked now: a push is a new version
    work.write("t/app.json", json.dumps({"services": ["web", "worker"]}))
    work.commit("worker")
    work.push()
    system.sync()
    assert _get(system, team, admin, tid)["version"] == 2
    # Linking again while linked: 409, nothing committed
    head = work.head()
    again = system.call("PATCH", f"/v1/teams/{team}/templates/{tid}", token=admin,
                        body={"gitops": {**gitops, "path": "t/other.json"}})
    assert again.status == 409 and again.headers["content-type"] == "application/problem+json"
    work.pull()
    assert work.head() == head
    # Off: the file stays, the template keeps its content and versions, pushes no longer sync
    off = system.call("PATCH", f"/v1/teams/{team}/templates/{tid}", token=admin, body={"gitops": None})
    assert off.status == 200, off.body
    assert off.json()["gitops"] is None and off.json()["content"] == {"services": ["web", "worker"]}
    work.write("t/app.json", json.dumps({"services": ["ignored"]}))
    work.commit("after off")
    work.push()
    system.sync()
    kept = _get(system, team, admin, tid)
    assert kept["version"] == 2 and kept["content"] == {"services": ["web", "worker"]} and kept["gitops"] is None
    assert [v["version"] for v in _versions(system, team, admin, tid)] == [2, 1]
    assert (work.path / "t/app.json").exists()
    # A save now stays in the app: nothing committed
    head = work.head()
    saved = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=admin,
                        body={"content": {"services": ["app-only"]}, "base_version": 2})
    assert saved.status == 200 and saved.json()["version"] == 3
    work.pull()
    assert work.head() == head


def test_patch_turns_gitops_on_with_link(system: System, team: str, admin: str, repo: dict[str, Any]) -> None:
    work: WorkingCopy = repo["work"]
    work.write("flows/release.json", '{"steps": ["build"]}')
    sha = work.commit("flow")
    work.push()
    tid = _template(system, team, admin, {"name": "release", "kind": "release_flow", "content": {"steps": []}})["id"]
    gitops = {"connection_id": repo["connection_id"], "branch": "main", "path": "flows/release.json", "mode": "link"}
    reply = system.call("PATCH", f"/v1/teams/{team}/templates/{tid}", token=admin, body={
        "gitops": gitops, "triggers": {"connection_id": repo["connection_id"], "branches": ["main"]}})
    assert reply.status == 200, reply.body
    linked = reply.json()
    assert linked["content"] == {"steps": ["build"]} and linked["version"] == 2
    assert linked["gitops"]["last_synced_sha"] == sha and linked["triggers"]["branches"] == ["main"]
    assert [(v["version"], v["origin"], v["commit_sha"]) for v in _versions(system, team, admin, tid)] == [
        (2, "git", sha), (1, "app", None)]
    # Triggers removed with null
    cleared = system.call("PATCH", f"/v1/teams/{team}/templates/{tid}", token=admin, body={"triggers": None})
    assert cleared.status == 200 and cleared.json()["triggers"] is None


def test_patch_bad_input_stores_nothing(system: System, team: str, admin: str, repo: dict[str, Any]) -> None:
    work: WorkingCopy = repo["work"]
    work.write("bad.json", "[1, 2]")
    work.commit("not an object")
    work.push()
    tid = _template(system, team, admin, {"name": "app", "content": {"a": 1}})["id"]
    before = _get(system, team, admin, tid)
    head = work.head()
    base = {"connection_id": repo["connection_id"], "branch": "main", "mode": "create"}
    other = system.call("POST", f"/v1/teams/{team}/connections", token=admin,
                        body={"provider": "custom", "url": repo["url"], "name": "second"}).json()["id"]
    cases = [
        ({"name": None}, 400),
        ({"name": ""}, 400),
        ({"concurrency": "sometimes"}, 400),
        ({"run_on_update": None}, 400),
        ({"content": {"b": 2}}, 400),  # content is saved with PUT, not PATCH
        ({"gitops": {**base, "path": "../x.json"}}, 400),
        ({"gitops": {**base, "path": "x.json", "mode": "sideways"}}, 400),
        ({"gitops": {**base, "path": "x.json", "branch": "nope"}}, 404),
        ({"gitops": {**base, "path": "x.json", "connection_id": "con_nope"}}, 404),
        ({"gitops": {**base, "path": "none.json", "mode": "link"}}, 422),
        ({"gitops": {**base, "path": "bad.json", "mode": "link"}}, 422),
        ({"gitops": {**base, "path": "README.md"}}, 409),  # the file exists
        ({"triggers": {"connection_id": repo["connection_id"]}}, 400),  # triggers are for release flows
        ({"name": "renamed", "gitops": {**base, "path": "new.json"},  # refused as a whole: nothing committed
          "triggers": {"connection_id": repo["connection_id"], "branches": ["main"]}}, 400),
    ]
    for body, status in cases:
        reply = system.call("PATCH", f"/v1/teams/{team}/templates/{tid}", token=admin, body=body)
        assert reply.status == status, (body, reply.body)
        assert reply.headers["content-type"] == "application/problem+json"
    flow = _template(system, team, admin, {"name": "flow", "kind": "release_flow", "content": {}})["id"]
    mixed = system.call("PATCH", f"/v1/teams/{team}/templates/{flow}", token=admin, body={
        "gitops": {**base, "path": "flow.json"}, "triggers": {"connection_id": other, "branches": ["main"]}})
    assert mixed.status == 400  # one connection per template
    assert _get(system, team, admin, tid) == before
    assert _get(system, team, admin, flow)["gitops"] is None
    work.pull()
    assert work.head() == head  # nothing committed
    assert system.call("PATCH", f"/v1/teams/{team}/templates/tpl_nope", token=admin, body={"name": "x"}).status == 404
    outsider = system.token({"other-team": "admin"})
    assert system.call("PATCH", f"/v1/teams/{team}/templates/{tid}", token=outsider,
                       body={"name": "x"}).status == 403


def test_a_broken_file_is_replaced_only_when_named(system: System, team: str, admin: str,
                                                   repo: dict[str, Any]) -> None:
    work: WorkingCopy = repo["work"]
    gitops = {"connection_id": repo["connection_id"], "branch": "main", "path": "app.json", "mode": "create"}
    tid = _template(system, team, admin, {"name": "app", "content": {"n": 1}, "gitops": gitops})["id"]
    work.pull()
    work.write("app.json", '{"n": ')
    broken = work.commit("oops")
    work.push()
    system.sync()
    assert _get(system, team, admin, tid)["gitops"]["status"] == "error"
    # A plain save: 409 saying the repository holds an invalid file, naming its commit; nothing committed
    plain = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=admin,
                        body={"content": {"n": 2}, "base_version": 1})
    assert plain.status == 409 and plain.headers["content-type"] == "application/problem+json"
    problem = plain.json()
    assert problem["commit_sha"] == broken and "invalid" in problem["detail"] and broken in problem["detail"]
    assert "not valid JSON" in problem["reason"]
    # Naming another commit: 409 again
    wrong = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=admin,
                        body={"content": {"n": 2}, "base_version": 1, "replaces_commit": "0" * 40})
    assert wrong.status == 409 and wrong.json()["commit_sha"] == broken
    work.pull()
    assert work.head() == broken
    # A newer push (still broken) after the sync saw `broken`: the save naming `broken` is refused by the commit
    work.write("app.json", '{"n": [')
    newer = work.commit("oops again")
    work.push()
    stale = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=admin,
                        body={"content": {"n": 2}, "base_version": 1, "replaces_commit": broken})
    assert stale.status == 409 and stale.json()["repository"]["sha"] == newer
    work.pull()
    assert work.head() == newer  # nothing overwritten
    system.sync()
    assert _get(system, team, admin, tid)["gitops"]["last_error"]["commit_sha"] == newer
    # Naming the commit the 409 names: the app's content is committed over the broken file
    fixed = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=admin,
                        body={"content": {"n": 2}, "base_version": 1, "replaces_commit": newer,
                              "commit_message": "Fix app.json from gitconnect"})
    assert fixed.status == 200, fixed.body
    body = fixed.json()
    assert body["version"] == 2 and body["gitops"]["status"] == "synced" and body["gitops"]["last_error"] is None
    work.pull()
    assert json.loads((work.path / "app.json").read_text()) == {"n": 2}
    assert work.git("log", "-1", "--format=%s") == "Fix app.json from gitconnect"
    assert work.git("log", "-2", "--format=%H").splitlines()[1] == newer  # on top of it: a fast-forward
    system.sync()
    assert _get(system, team, admin, tid)["version"] == 2  # its own commit does not come back
    # While nothing is broken, `replaces_commit` overwrites nothing: 409
    again = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=admin,
                        body={"content": {"n": 3}, "base_version": 2, "replaces_commit": newer})
    assert again.status == 409
    unlinked = _template(system, team, admin, {"name": "plain", "content": {}})["id"]
    assert system.call("PUT", f"/v1/teams/{team}/templates/{unlinked}", token=admin,
                       body={"content": {"x": 1}, "base_version": 1, "replaces_commit": newer}).status == 409
    assert system.call("PUT", f"/v1/teams/{team}/templates/{unlinked}", token=admin,
                       body={"content": {"x": 1}, "base_version": 1, "replaces_commit": "not-a-sha"}).status == 400


def test_app_commits_are_authored_by_the_saver(system: System, team: str, repo: dict[str, Any]) -> None:
    """Custom Git (dulwich): the token's `name`/`email` author the commit, gitconnect commits it; without them
    gitconnect authors it too and the message names the user in a Co-authored-by trailer."""
    work: WorkingCopy = repo["work"]
    ada = system.token({team: "admin"}, "user-ada", {"name": "Ada Lovelace", "email": "ada@example.com"})
    plain = system.token({team: "admin"}, "auth0|42")
    gitops = {"connection_id": repo["connection_id"], "branch": "main", "path": "authored.json", "mode": "create"}
    tid = _template(system, team, ada, {"name": "authored", "content": {"n": 1}, "gitops": gitops})["id"]
    work.pull()
    assert work.git("log", "-1", "--format=%an/%ae") == "Ada Lovelace/ada@example.com"
    assert work.git("log", "-1", "--format=%cn/%ce") == "gitconnect/gitconnect@users.noreply.invalid"
    assert "Co-authored-by" not in work.git("log", "-1", "--format=%B")
    saved = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=plain,
                        body={"content": {"n": 2}, "base_version": 1, "commit_message": "Bump"})
    assert saved.status == 200, saved.body
    work.pull()
    assert work.git("log", "-1", "--format=%an/%ae") == "gitconnect/gitconnect@users.noreply.invalid"
    trailer = "Co-authored-by: auth0|42 <auth0-42@users.gitconnect>"
    assert work.git("log", "-1", "--format=%B").strip() == f"Bump\n\n{trailer}"
    assert work.git("log", "-1", "--format=%(trailers:key=Co-authored-by,valueonly)").strip() == (
        "auth0|42 <auth0-42@users.gitconnect>")
    # A name or email that would forge another identity line is cleaned, not passed through
    sneaky = system.token({team: "admin"}, "user-x", {"name": "Eve <eve@evil.example>\nX", "email": "not an email"})
    saved = system.call("PUT", f"/v1/teams/{team}/templates/{tid}", token=sneaky,
                        body={"content": {"n": 3}, "base_version": 2})
    assert saved.status == 200, saved.body
    work.pull()
    assert work.git("log", "-1", "--format=%an/%ae") == "gitconnect/gitconnect@users.noreply.invalid"
    versions = _versions(system, team, ada, tid)
    assert [v["author"] for v in versions] == ["user-x", "auth0|42", "user-ada"]
