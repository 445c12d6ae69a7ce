"""Sources: create, list, read, change, delete — and polling follows the changes."""

from __future__ import annotations

from infra.local.git_server import WorkingCopy
from tests.functional.test_custom_git_flow import link
from tests.support.inprocess import System


def test_source_lifecycle(system: System, team: str, admin: str, remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    connection = link(system, team, admin, url)
    member = system.token({team: "member"}, sub="bob")
    created = system.call("POST", f"/v1/teams/{team}/sources", token=member, body={
        "connection_id": connection["id"], "branches": ["release/*"], "tags": ["v*"],
        "pull_requests": {"enabled": False, "forks": "build"}, "paths": {"include": ["src/**"]},
        "skip_flags": ["[skip ci]"]})
    assert created.status == 201, created.body
    source = created.json()
    assert source["name"] == url.rsplit("/", 1)[-1].removesuffix(".git")
    assert (source["branches"], source["tags"], source["poll"]) == (["release/*"], ["v*"], False)
    assert source["pull_requests"] == {"enabled": False, "branches": [], "forks": "build"}
    assert source["paths"] == {"include": ["src/**"], "exclude": []}
    path = f"/v1/teams/{team}/sources/{source['id']}"
    assert system.call("GET", path, token=member).json() == source
    assert [s["id"] for s in system.call("GET", f"/v1/teams/{team}/sources", token=member).json()["items"]] == [
        source["id"]]

    # Turning polling on takes the current heads as the baseline: only later pushes build
    changed = system.call("PATCH", path, token=member, body={"branches": ["main"], "poll": True, "name": "renamed"})
    assert changed.status == 200, changed.body
    assert (changed.json()["branches"], changed.json()["poll"], changed.json()["name"]) == (["main"], True, "renamed")
    assert changed.json()["tags"] == ["v*"]  # fields left out keep their value
    system.sync()
    system.drain()
    assert system.bus_events() == []
    work.write("src/x", "1")  # inside the path rules
    sha = work.commit("x")
    work.push()
    system.sync()
    system.drain()
    assert [e["detail"]["sha"] for e in system.bus_events()] == [sha]

    # Deleting the source stops polling it; a deleted source cannot be changed or built
    assert system.call("DELETE", path, token=member).status == 204
    work.write("src/x", "2")
    work.commit("y")
    work.push()
    system.sync()
    system.drain()
    assert system.bus_events() == []
    assert system.call("GET", path, token=member).status == 404
    assert system.call("PATCH", path, token=member, body={"poll": False}).status == 404
    assert system.call("POST", f"{path}/builds", token=member, body={"branch": "main"}).status == 404
    assert system.call("DELETE", path, token=member).status == 404
