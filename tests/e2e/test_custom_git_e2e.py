"""Custom Git through the local stack process (`python -m infra.local`), a real git http-backend on 127.0.0.1
and the git CLI: link -> source -> manual build with the right sha -> push -> poll build -> unlink -> no builds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.git_server import GitHttpServer, WorkingCopy, init_bare, ls_remote
from tests.support.local_stack import Stack, running_stack

SCHEDULE_SECONDS = 1


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack({"GITCONNECT_LOCAL_SCHEDULE_SECONDS": str(SCHEDULE_SECONDS),
                        "GITCONNECT_POLL_SECONDS": "0",  # polled at every schedule: SyncFunction runs by itself
                        "GITCONNECT_LOCAL_DEMO": "0"}) as running:
        yield running


def test_custom_git_end_to_end(stack: Stack, tmp_path: Path) -> None:
    root = tmp_path / "remotes"
    root.mkdir()
    init_bare(root, "app")
    with GitHttpServer(root) as git:
        url = git.url_for("app")
        work = WorkingCopy.clone(url, tmp_path / "work")
        work.write("README.md", "hello\n")
        first = work.commit("first")
        work.push("main")

        # Link: the remote is reached before anything is stored
        reply = stack.request("POST", "/v1/teams/demo/connections", json_body={"provider": "custom", "url": url})
        assert reply.status == 201, reply.body
        connection = reply.json()
        branches = stack.request("GET", f"/v1/teams/demo/connections/{connection['id']}/branches").json()
        assert branches["items"] == [{"name": "main", "sha": first}]

        # A polled source, and a manual build of main's head
        source = stack.request("POST", "/v1/teams/demo/sources", json_body={
            "name": "app", "connection_id": connection["id"], "branches": ["main"], "poll": True}).json()
        manual = stack.request("POST", f"/v1/teams/demo/sources/{source['id']}/builds", json_body={"branch": "main"})
        assert manual.status == 202
        assert manual.json()["sha"] == first == ls_remote(url)["refs/heads/main"]
        events = stack.read_tap(at_least=1)
        assert [(e["detail-type"], e["detail"]["sha"], e["detail"]["trigger"]) for e in events] == [
            ("BuildRequested", first, "manual")]

        # The builder reports back with the callback token it was given
        detail = events[0]["detail"]
        status = stack.request("POST", f"/v1/builds/{detail['build_id']}/status",
                               json_body={"status": "succeeded"}, token=detail["callback_token"])
        assert status.status == 200, status.body

        # A push becomes a poll build, once
        work.write("app.py", "print('v2')\n")
        second = work.commit("second")
        work.push("main")
        polled = stack.read_tap(at_least=1, wait_seconds=15)
        assert [(e["detail"]["sha"], e["detail"]["trigger"]) for e in polled] == [(second, "poll")]
        time.sleep(3 * SCHEDULE_SECONDS)
        assert stack.read_tap(at_least=1, wait_seconds=1) == []

        # Unlink: the next pushes build nothing; builds stay readable
        assert stack.request("DELETE", f"/v1/teams/demo/connections/{connection['id']}").status == 204
        work.write("app.py", "print('v3')\n")
        work.commit("third")
        work.push("main")
        time.sleep(4 * SCHEDULE_SECONDS)
        assert stack.read_tap(at_least=1, wait_seconds=1) == []
        after = stack.request("POST", f"/v1/teams/demo/sources/{source['id']}/builds", json_body={"branch": "main"})
        assert after.status == 404
        builds = stack.request("GET", "/v1/teams/demo/builds").json()["items"]
        assert [(b["trigger"], b["sha"], b["status"]) for b in builds] == [
            ("poll", second, "queued"), ("manual", first, "succeeded")]
