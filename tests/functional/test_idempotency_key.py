"""`Idempotency-Key` on the creating requests: a retried request gets the first answer and nothing is created twice;
the same key with another body, or a malformed key, is refused with nothing stored."""

from __future__ import annotations

from typing import Any

from infra.local.git_server import GitHttpServer, WorkingCopy, init_bare
from tests.support.inprocess import System


def post(system: System, token: str, path: str, body: dict[str, Any], key: str | None) -> Any:
    return system.call("POST", path, token=token, body=body, headers={"Idempotency-Key": key} if key else {})


def test_a_retried_link_source_and_build_answer_the_first_result(system: System, team: str, admin: str,
                                                                 remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    connections, sources = f"/v1/teams/{team}/connections", f"/v1/teams/{team}/sources"
    link = {"provider": "custom", "url": url}
    first = post(system, admin, connections, link, "link-1")
    again = post(system, admin, connections, link, "link-1")
    assert first.status == again.status == 201 and again.json() == first.json()
    assert len(system.call("GET", connections, token=admin).json()["items"]) == 1
    # Another key is another request
    other = post(system, admin, connections, link, "link-2")
    assert other.status == 201 and other.json()["id"] != first.json()["id"]

    source_body = {"connection_id": first.json()["id"], "branches": ["main"]}
    made = post(system, admin, sources, source_body, "src-1")
    assert post(system, admin, sources, source_body, "src-1").json() == made.json()
    assert [s["id"] for s in system.call("GET", sources, token=admin).json()["items"]] == [made.json()["id"]]

    builds = f"{sources}/{made.json()['id']}/builds"
    build = post(system, admin, builds, {"branch": "main"}, "build-1")
    work.write("more.txt", "more\n")
    work.commit("more")
    work.push("main")
    # The retry answers the first build (the head it built then), not a build of the new head
    repeated = post(system, admin, builds, {"branch": "main"}, "build-1")
    assert build.status == repeated.status == 202 and repeated.json() == build.json()
    listed = system.call("GET", f"/v1/teams/{team}/builds?source_id={made.json()['id']}", token=admin).json()
    assert [b["id"] for b in listed["items"]] == [build.json()["id"]]


def test_a_reused_key_with_another_body_or_a_malformed_key_is_refused(system: System, team: str, admin: str,
                                                                      git_server: GitHttpServer,
                                                                      remote: tuple[str, WorkingCopy]) -> None:
    url, _ = remote
    connections = f"/v1/teams/{team}/connections"
    assert post(system, admin, connections, {"provider": "custom", "url": url}, "k").status == 201
    reused = post(system, admin, connections, {"provider": "custom", "url": url + "?x"}, "k")
    assert reused.status == 422 and reused.headers["content-type"] == "application/problem+json"
    assert "another request body" in reused.json()["detail"]
    for bad in ("has space", "x" * 256, "é"):
        refused = post(system, admin, connections, {"provider": "custom", "url": url}, bad)
        assert refused.status == 400 and refused.headers["content-type"] == "application/problem+json", bad
    assert len(system.call("GET", connections, token=admin).json()["items"]) == 1
    # A request that failed keeps no record: its retry (fixed on the provider's side) runs again
    name = f"later-{team}"
    missing = git_server.url_for(name)
    failed = post(system, admin, connections, {"provider": "custom", "url": missing}, "retry")
    assert 400 <= failed.status < 500, failed.body
    init_bare(git_server.root, name)
    assert post(system, admin, connections, {"provider": "custom", "url": missing}, "retry").status == 201
    # And keys are per team: another team's key "k" is its own
    other_team = f"{team}-b"
    other = system.token({other_team: "admin"})
    assert post(system, other, f"/v1/teams/{other_team}/connections", {"provider": "custom", "url": url},
                "k").status == 201
