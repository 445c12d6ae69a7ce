"""Heads reconciled on GitLab (issue 13 item 2): GitLab fires no push webhook for a push that changes more than three
branches or tags (its default limit), so such pushes are found by the reconcile the scheduled sync fans out (the
branch and tag lists, paged), each built once with the router's build id; a webhook arriving after builds nothing
more. GitLab is the faithful fake; the push payload is GitLab's documented example."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from gitconnect.domain.ids import stable_id
from tests.functional.conftest import system_with
from tests.functional.test_gitlab_flow import push as gitlab_push
from tests.functional.test_reconcile import NULL, TEAM, deliveries, reconciled, routed
from tests.support.fake_gitlab import FakeGitLab, FakeHook, fake_sha
from tests.support.inprocess import System

pytestmark = pytest.mark.slow  # a moto system and a provider fake: seconds


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[System, FakeGitLab]]:
    os.environ["GITCONNECT_RECONCILE_SECONDS"] = "0"
    try:
        with FakeGitLab() as fake, system_with({"GITLAB_URL": fake.base_url}) as system:
            def send(hook: FakeHook, headers: dict[str, str], payload: Any) -> int:
                return system.call("POST", urlsplit(hook.url).path, raw_body=json.dumps(payload).encode(),
                                   headers={k.lower(): v for k, v in headers.items()}).status

            fake.deliver = send
            yield system, fake
    finally:
        os.environ.pop("GITCONNECT_RECONCILE_SECONDS", None)


def test_gitlab_four_tags_and_four_branches_without_webhooks_build_once_each(lab: tuple[System, FakeGitLab]) -> None:
    system, fake = lab
    admin = system.token({TEAM: "admin"})
    alice = fake.add_user("alice")
    group = fake.add_group("acme")
    fake.add_member(alice, group)
    project = fake.add_project(group, "app", branches={"main": fake_sha("lab-main-1")})
    connection = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin,
                             body={"provider": "gitlab", "token": fake.personal_token(alice)}).json()
    source = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": connection["id"], "repository": "acme/app", "branches": ["main", "topic/*"],
        "tags": ["v*"]})
    assert source.status == 201, source.body
    assert reconciled(system) == []  # the baseline
    # Given one push of four branches and four tags: more than GitLab's default limit of three refs, so no webhook
    for n in range(4):
        fake.set_branch(project, f"topic/{n}", fake.add_commit(project, fake_sha(f"topic-{n}")))
        fake.set_tag(project, f"v{n}", fake.add_commit(project, fake_sha(f"lab-tag-{n}")),
                     message="annotated" if n == 0 else None)
    built = reconciled(system)
    assert sorted((b["trigger"], b["ref"], b["sha"]) for b in built) == sorted(
        [("push", f"refs/heads/topic/{n}", fake_sha(f"topic-{n}")) for n in range(4)]
        + [("tag", f"refs/tags/v{n}", fake_sha(f"lab-tag-{n}")) for n in range(4)])
    assert reconciled(system) == []
    [entry] = [d for d in deliveries(system, TEAM, "reconcile") if d["outcome"] == "recovered"]
    assert "recovered: no webhook arrived for refs/heads/topic/0" in entry["reason"]
    # A webhook for one of them after all: nothing more
    fake.send_event(project, "push", gitlab_push(fake, project, "refs/heads/topic/3", NULL, fake_sha("topic-3")))
    assert routed(system) == []
    # A moved head with no webhook: built with the router's id (before: the head the last pass listed)
    after = fake.add_commit(project, fake_sha("lab-main-2"))
    fake.set_branch(project, "main", after)
    [moved] = reconciled(system)
    assert moved["build_id"] == stable_id("bld", source.json()["id"], "push", "refs/heads/main", after,
                                          fake_sha("lab-main-1"))
    # The connection shows GitLab's RateLimit-* of its last answer
    shown = system.call("GET", f"/v1/teams/{TEAM}/connections/{connection['id']}", token=admin).json()["rate_limit"]
    assert shown["limit"] == 2000 and 0 < shown["remaining"] < 2000 and shown["reset_at"].endswith("Z")
