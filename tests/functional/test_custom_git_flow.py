"""Custom Git end to end through the real handlers (in-process, moto), against a real git http-backend."""

from __future__ import annotations

from infra.local.git_server import WorkingCopy
from tests.support.inprocess import System


def link(system: System, team: str, token: str, url: str, **extra: object) -> dict:
    reply = system.call("POST", f"/v1/teams/{team}/connections", token=token,
                        body={"provider": "custom", "url": url, **extra})
    assert reply.status == 201, reply.body
    return reply.json()


def test_link_source_manual_build_poll_unlink(system: System, team: str, admin: str,
                                              remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    # Given a linked remote
    connection = link(system, team, admin, url)
    assert connection["provider"] == "custom" and connection["base_url"] == url and connection["status"] == "active"
    branches = system.call("GET", f"/v1/teams/{team}/connections/{connection['id']}/branches", token=admin).json()
    assert branches["items"] == [{"name": "main", "sha": work.head()}]

    # When a polled source is created and a build is triggered by branch
    source = system.call("POST", f"/v1/teams/{team}/sources", token=admin,
                         body={"name": "app", "connection_id": connection["id"], "branches": ["main"], "poll": True})
    assert source.status == 201, source.body
    source_id = source.json()["id"]
    system.bus_events()  # forget earlier tests' events
    reply = system.call("POST", f"/v1/teams/{team}/sources/{source_id}/builds", token=admin, body={"branch": "main"})
    # Then the build is recorded with the head's sha, and BuildRequested reaches the bus once
    assert reply.status == 202, reply.body
    build = reply.json()
    assert (build["sha"], build["ref"], build["trigger"], build["status"]) == (
        work.head(), "refs/heads/main", "manual", "queued")
    system.drain()
    events = system.bus_events()
    assert [e["detail"]["build_id"] for e in events] == [build["id"]]
    detail = events[0]["detail"]
    assert detail["sha"] == work.head() and detail["clone_url"] == url and detail["callback_token"]
    assert detail["callback_url"] == f"http://gitconnect.test/v1/builds/{build['id']}/status"

    # The builder reports status with its callback token
    status = system.call("POST", f"/v1/builds/{build['id']}/status", token=detail["callback_token"],
                         body={"status": "running"})
    assert status.status == 200 and status.json()["status"] == "running"
    done = system.call("POST", f"/v1/builds/{build['id']}/status", token=detail["callback_token"],
                       body={"status": "succeeded", "url": "https://ci.example.com/1"})
    assert done.json()["status"] == "succeeded"
    back = system.call("POST", f"/v1/builds/{build['id']}/status", token=detail["callback_token"],
                       body={"status": "running"})
    assert back.status == 409

    # When nothing moved, a poll builds nothing
    system.sync()
    system.drain()
    assert system.bus_events() == []

    # When a commit is pushed, the next poll builds it exactly once
    work.write("app.py", "print(1)\n")
    new_sha = work.commit("second")
    work.push("main")
    system.sync()
    system.sync()
    system.drain()
    polled = system.bus_events()
    assert [(e["detail"]["sha"], e["detail"]["trigger"]) for e in polled] == [(new_sha, "poll")]
    listed = system.call("GET", f"/v1/teams/{team}/builds?source_id={source_id}", token=admin).json()["items"]
    assert [(b["trigger"], b["sha"]) for b in listed] == [("poll", new_sha), ("manual", build["sha"])]

    # When the connection is unlinked, pushes no longer build and manual builds are refused; builds stay readable
    assert system.call("DELETE", f"/v1/teams/{team}/connections/{connection['id']}", token=admin).status == 204
    work.write("app.py", "print(2)\n")
    work.commit("third")
    work.push("main")
    system.sync()
    system.drain()
    assert system.bus_events() == []
    again = system.call("POST", f"/v1/teams/{team}/sources/{source_id}/builds", token=admin, body={"branch": "main"})
    assert again.status == 404
    assert system.call("GET", f"/v1/teams/{team}/builds/{build['id']}", token=admin).json()["status"] == "succeeded"
