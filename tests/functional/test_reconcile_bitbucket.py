"""Heads reconciled on Bitbucket Cloud (issue 13 item 2): Bitbucket delivers no payload over 256 KB and has no replay
API, so such pushes are found by the reconcile (`GET …/refs`, branches and tags in one list, pages of 100), built once
with the router's build id; the connection shows Bitbucket's X-RateLimit-* (a rolling hour: no reset). Bitbucket is
the faithful fake."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from gitconnect.domain.ids import stable_id
from tests.functional.conftest import system_with
from tests.functional.test_reconcile import TEAM, deliveries, reconciled
from tests.support.fake_bitbucket import FakeBitbucket
from tests.support.fake_gitlab import fake_sha
from tests.support.inprocess import System

pytestmark = pytest.mark.slow  # a moto system and a provider fake: seconds


@pytest.fixture(scope="module")
def bb() -> Iterator[tuple[System, FakeBitbucket]]:
    os.environ["GITCONNECT_RECONCILE_SECONDS"] = "0"
    try:
        with FakeBitbucket() as fake, system_with({"BITBUCKET_API_URL": fake.api_url,
                                                   "BITBUCKET_WEB_URL": fake.web_url}) as system:
            def deliver(hook: Any, headers: dict[str, str], body: Any) -> int:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                return system.call("POST", urlsplit(hook.url).path, raw_body=raw,
                                   headers={k.lower(): v for k, v in headers.items()}).status

            fake.deliver = deliver
            yield system, fake
    finally:
        os.environ.pop("GITCONNECT_RECONCILE_SECONDS", None)


def test_bitbucket_refs_moved_without_a_delivery_build_once_each(bb: tuple[System, FakeBitbucket]) -> None:
    system, fake = bb
    admin = system.token({TEAM: "admin"})
    alice = fake.add_user("alice", email="alice@example.com")
    acme = fake.add_workspace("acme", members=[alice])
    repo = fake.add_repo(acme, "app", branches={"main": fake_sha("bb-main-1")})
    connection = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin, body={
        "provider": "bitbucket", "workspace": "acme", "username": "alice@example.com",
        "api_token": fake.api_token(alice)}).json()
    source = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": connection["id"], "repository": "acme/app", "branches": ["main", "topic/*"],
        "tags": ["v*"]})
    assert source.status == 201, source.body
    assert reconciled(system) == []  # the baseline
    # Given a push over 256 KB (no delivery): a moved main, two new branches, two tags; and 120 unwatched refs
    moved = fake_sha("bb-main-2")
    fake.add_commit(repo, moved, parents=[fake_sha("bb-main-1")])
    repo.branches["main"] = moved
    for n in range(2):
        repo.branches[f"topic/{n}"] = fake.add_commit(repo, fake_sha(f"bb-topic-{n}"))
        repo.tags[f"v{n}"] = fake.add_commit(repo, fake_sha(f"bb-tag-{n}"))
    for n in range(120):  # two pages of refs
        repo.branches[f"other/{n:03d}"] = fake_sha("bb-main-1")
    fake.clear_log()
    built = reconciled(system)
    assert sorted((b["trigger"], b["ref"], b["sha"]) for b in built) == sorted(
        [("push", "refs/heads/main", moved)]
        + [("push", f"refs/heads/topic/{n}", fake_sha(f"bb-topic-{n}")) for n in range(2)]
        + [("tag", f"refs/tags/v{n}", fake_sha(f"bb-tag-{n}")) for n in range(2)])
    main = next(b for b in built if b["ref"] == "refs/heads/main")
    assert main["build_id"] == stable_id("bld", source.json()["id"], "push", "refs/heads/main", moved,
                                         fake_sha("bb-main-1"))
    listed = fake.requests("GET", f"/repositories/{repo.full_name}/refs")
    assert [r.path for r in listed] == [f"/repositories/{repo.full_name}/refs"] * 2  # one list, two pages
    assert all(r.query.get("pagelen") == ["100"] for r in listed[:1])
    [entry] = [d for d in deliveries(system, TEAM, "reconcile") if d["outcome"] == "recovered"]
    assert "recovered: no webhook arrived for refs/tags/v1" in entry["reason"]
    assert reconciled(system) == []
    # Bitbucket's X-RateLimit-* on the connection: a rolling hour, so no reset time
    shown = system.call("GET", f"/v1/teams/{TEAM}/connections/{connection['id']}", token=admin).json()["rate_limit"]
    assert shown["limit"] == 1000 and 0 < shown["remaining"] < 1000 and shown["reset_at"] is None
