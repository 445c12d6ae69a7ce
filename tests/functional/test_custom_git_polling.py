"""Polled Custom Git sources keep their promises, through the real handlers (in-process, moto) against a real
`git http-backend`, with the git CLI making the commits: path rules and skip flags decided on what dulwich fetched,
tag globs from ls-remote, pull requests refused, and a remote that goes away showing on the source."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gitconnect.providers import custom
from infra.local.git_server import GitHttpServer, WorkingCopy, git, init_bare
from tests.functional.test_custom_git_flow import link
from tests.support.inprocess import System


def polled_source(system: System, team: str, token: str, connection_id: str, **rules: Any) -> dict[str, Any]:
    reply = system.call("POST", f"/v1/teams/{team}/sources", token=token,
                        body={"connection_id": connection_id, "branches": ["main"], "poll": True, **rules})
    assert reply.status == 201, reply.body
    return reply.json()  # type: ignore[no-any-return]


def poll(system: System) -> list[tuple[str, str, str]]:
    """One scheduled sync, its builds published: (trigger, ref, sha) of each BuildRequested."""
    system.sync()
    system.drain()
    return [(e["detail"]["trigger"], e["detail"]["ref"], e["detail"]["sha"]) for e in system.bus_events()]


def log(system: System, team: str, token: str) -> list[dict[str, Any]]:
    """The team's poll entries in the delivery log, oldest first."""
    items = system.call("GET", f"/v1/teams/{team}/deliveries?limit=100", token=token).json()["items"]
    return [d for d in reversed(items) if d["event"] == "poll"]


def test_path_rules_and_skip_flags_decide_polled_pushes(system: System, team: str, admin: str,
                                                        remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    connection = link(system, team, admin, url)
    polled_source(system, team, admin, connection["id"], name="app", paths={"exclude": ["docs/**", "*.md"]})
    system.bus_events()  # forget earlier tests' events
    assert poll(system) == []

    # A push touching only excluded files builds nothing, and the log says why
    work.write("docs/guide.md", "how\n")
    work.write("README.md", "hello again\n")
    work.commit("docs")
    work.push()
    assert poll(system) == []
    assert [(d["outcome"], d["reason"]) for d in log(system, team, admin)] == [
        ("ignored", "app: refs/heads/main: none of the 2 changed file(s) match the source's path rules")]

    # One included file among excluded ones builds
    work.write("docs/guide.md", "how, again\n")
    work.write("src/app.py", "print(1)\n")
    built = work.commit("code and docs")
    work.push()
    assert poll(system) == [("poll", "refs/heads/main", built)]
    entry = log(system, team, admin)[-1]
    assert (entry["outcome"], entry["reason"]) == ("built", "app: refs/heads/main: push to main")
    assert len(entry["build_ids"]) == 1

    # A head commit with a skip flag builds nothing, even though it touches included files
    work.write("src/app.py", "print(2)\n")
    work.commit("tweak [skip ci]")
    work.push()
    assert poll(system) == []
    assert "the head commit asks to skip builds ([skip ci])" in log(system, team, admin)[-1]["reason"]

    # Two commits in one push: the files of both count, the head's message decides the skip flag
    work.write("src/app.py", "print(3)\n")
    work.commit("code")
    work.write("docs/guide.md", "only docs at the head\n")
    head = work.commit("docs")
    work.push()
    assert poll(system) == [("poll", "refs/heads/main", head)]


def test_a_push_too_large_to_inspect_builds_with_the_reason(system: System, team: str, admin: str,
                                                            remote: tuple[str, WorkingCopy],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    url, work = remote
    monkeypatch.setattr(custom, "INSPECT_MAX_BYTES", 64 * 1024)
    connection = link(system, team, admin, url)
    polled_source(system, team, admin, connection["id"], name="app", paths={"exclude": ["assets/**"]})
    system.bus_events()
    work.write("assets/blob.bin", os.urandom(256 * 1024))  # incompressible: the pack is larger than the cap
    head = work.commit("a large asset")
    work.push()
    assert poll(system) == [("poll", "refs/heads/main", head)]
    assert log(system, team, admin)[-1]["reason"] == (
        "app: refs/heads/main: changed files unknown (more than 65536 bytes to inspect): built")


def test_servers_that_allow_filters_send_no_blobs(system: System, team: str, admin: str,
                                                 remote: tuple[str, WorkingCopy], git_server: GitHttpServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url, work = remote
    bare = git_server.root / url.rsplit("/", 1)[-1]
    git("config", "uploadpack.allowFilter", "true", cwd=bare)
    monkeypatch.setattr(custom, "INSPECT_MAX_BYTES", 64 * 1024)
    connection = link(system, team, admin, url)
    polled_source(system, team, admin, connection["id"], name="app", paths={"exclude": ["assets/**"]})
    system.bus_events()
    work.write("assets/blob.bin", os.urandom(256 * 1024))  # blob:none leaves it out: the cap is not reached
    work.commit("a large asset")
    work.push()
    assert poll(system) == []
    assert log(system, team, admin)[-1]["reason"] == (
        "app: refs/heads/main: none of the 1 changed file(s) match the source's path rules")


def test_tag_globs_take_a_baseline_then_a_new_tag_builds_once(system: System, team: str, admin: str,
                                                              remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    work.tag("v0.9")  # there before the source: the baseline, never built
    connection = link(system, team, admin, url)
    created = polled_source(system, team, admin, connection["id"], name="app", branches=[], tags=["v*"])
    system.bus_events()
    assert poll(system) == []

    work.write("src/app.py", "print(1)\n")
    tagged = work.commit("release")
    work.push()
    work.tag("v1.0", message="the first release")  # annotated: ls-remote peels it to the commit
    work.tag("nightly")  # matches no glob
    assert poll(system) == [("tag", "refs/tags/v1.0", tagged)]
    assert poll(system) == []
    builds = system.call("GET", f"/v1/teams/{team}/builds?source_id={created['id']}", token=admin).json()["items"]
    assert [(b["trigger"], b["ref"], b["sha"]) for b in builds] == [("tag", "refs/tags/v1.0", tagged)]
    assert [d["reason"] for d in log(system, team, admin)] == ["app: refs/tags/v1.0: tag v1.0 pushed"]


def test_pull_request_settings_are_refused_on_a_custom_git_source(system: System, team: str, admin: str,
                                                                  remote: tuple[str, WorkingCopy]) -> None:
    url, _ = remote
    connection = link(system, team, admin, url)
    refused = system.call("POST", f"/v1/teams/{team}/sources", token=admin, body={
        "connection_id": connection["id"], "branches": ["main"], "pull_requests": {"enabled": True}})
    assert refused.status == 400 and refused.headers["content-type"] == "application/problem+json"
    assert "Custom Git has no pull requests" in refused.json()["detail"]
    assert system.call("GET", f"/v1/teams/{team}/sources", token=admin).json()["items"] == []

    source = polled_source(system, team, admin, connection["id"])
    path = f"/v1/teams/{team}/sources/{source['id']}"
    patched = system.call("PATCH", path, token=admin, body={"pull_requests": {"enabled": True}, "name": "x"})
    assert patched.status == 400 and patched.headers["content-type"] == "application/problem+json"
    assert system.call("GET", path, token=admin).json() == source  # nothing stored


def test_a_remote_taken_away_shows_on_the_source_and_logs_once_each_way(system: System, team: str, admin: str,
                                                                       tmp_path: Path) -> None:
    root = tmp_path / "remotes"
    root.mkdir()
    name = f"gone-{uuid.uuid4().hex[:8]}"
    init_bare(root, name)
    server = GitHttpServer(root)
    try:
        url = server.url_for(name)
        work = WorkingCopy.clone(url, tmp_path / "work")
        work.write("README.md", "hello\n")
        work.commit("first")
        work.push()
        connection = link(system, team, admin, url)
        source = polled_source(system, team, admin, connection["id"], name="app")
        path = f"/v1/teams/{team}/sources/{source['id']}"
        next_poll_at = source["polling"].pop("next_poll_at")
        assert source["polling"] == {"status": "pending", "last_error": None, "last_polled_at": None,
                                     "consecutive_failures": 0}
        due, created = (datetime.fromisoformat(v) for v in (next_poll_at, source["created_at"]))
        assert abs((due - created).total_seconds()) < 5  # GITCONNECT_POLL_SECONDS is 0 here: due at once
        system.bus_events()
        poll(system)
        assert system.call("GET", path, token=admin).json()["polling"]["status"] == "ok"

        # The server goes away: each poll fails, the count grows, the log says so once
        server.stop()
        failures = []
        for _ in range(3):
            poll(system)
            polling = system.call("GET", path, token=admin).json()["polling"]
            failures.append(polling["consecutive_failures"])
        assert polling["status"] == "failing" and failures == [1, 2, 3]
        assert polling["last_error"] == "the remote could not be reached: connection refused"
        assert polling["last_polled_at"] is not None
        entries = log(system, team, admin)
        assert [(d["outcome"], d["reason"]) for d in entries] == [
            ("ignored", f"polling {url} started failing: the remote could not be reached: connection refused")]

        # Back on the same address: ok again, one recovery entry, and a push made meanwhile builds once
        server = GitHttpServer(root, port=server.port)
        work.write("src/app.py", "print(1)\n")
        head = work.commit("while it was down")
        work.push()
        assert poll(system) == [("poll", "refs/heads/main", head)]
        poll(system)
        polling = system.call("GET", path, token=admin).json()["polling"]
        assert (polling["status"], polling["consecutive_failures"], polling["last_error"]) == ("ok", 0, None)
        reasons = [d["reason"] for d in log(system, team, admin)]
        assert reasons[0].startswith(f"polling {url} started failing")
        # (one poll's two entries share its time: the log orders them by id)
        assert sorted(reasons[1:]) == ["app: refs/heads/main: push to main",
                                       f"polling {url} recovered after 3 failed poll(s)"]

        # The repository deleted on a running server: failing again, with the server's answer as the reason
        shutil.rmtree(root / f"{name}.git")
        poll(system)
        poll(system)
        polling = system.call("GET", path, token=admin).json()["polling"]
        assert (polling["status"], polling["consecutive_failures"]) == ("failing", 2)
        assert len([d for d in log(system, team, admin) if "started failing" in d["reason"]]) == 2
    finally:
        server.stop()
