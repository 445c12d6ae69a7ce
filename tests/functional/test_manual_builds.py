"""Manual builds ("Trigger build") on GitLab, Bitbucket and Custom Git through the real handlers: no body builds the
head of the default branch (the provider's own default: GitLab's `default_branch`, Bitbucket's `mainbranch`, the Git
remote's HEAD symref), a sha must be a commit of the repository where the provider can say (422 otherwise) and the
build carries its full id, malformed and null shas are 400s. GitHub's are in test_github_lifecycle.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.git_server import GitHttpServer, WorkingCopy, git
from tests.functional.conftest import system_with
from tests.support.fake_bitbucket import FakeBitbucket
from tests.support.fake_gitlab import FakeGitLab, fake_sha
from tests.support.inprocess import Reply, System

TEAM = "manual-team"


@pytest.fixture  # one system at a time: each test tears its own down
def gitlab() -> Iterator[tuple[System, FakeGitLab, str]]:
    with FakeGitLab() as fake, system_with({"GITLAB_URL": fake.base_url}) as system:
        alice = fake.add_user("alice")
        group = fake.add_group("acme")
        fake.add_member(alice, group)
        fake.add_project(group, "app", default_branch="develop",
                         branches={"develop": fake_sha("gl-develop"), "main": fake_sha("gl-main")})
        yield system, fake, fake.personal_token(alice)


@pytest.fixture  # one system at a time: each test tears its own down
def bitbucket() -> Iterator[tuple[System, FakeBitbucket, str]]:
    with FakeBitbucket() as fake, system_with({"BITBUCKET_API_URL": fake.api_url,
                                               "BITBUCKET_WEB_URL": fake.web_url}) as system:
        alice = fake.add_user("alice", email="alice@example.com")
        acme = fake.add_workspace("acme", members=[alice])
        fake.add_repo(acme, "app", main="trunk", branches={"trunk": fake_sha("bb-trunk"), "dev": fake_sha("bb-d")})
        yield system, fake, fake.api_token(alice)


def linked(system: System, admin: str, link: dict[str, Any], branches: list[str], repository: str | None) -> str:
    connection = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin, body=link)
    assert connection.status == 201, connection.body
    body: dict[str, Any] = {"connection_id": connection.json()["id"], "branches": branches}
    if repository:
        body["repository"] = repository
    source = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body=body)
    assert source.status == 201, source.body
    return str(source.json()["id"])


def build(system: System, admin: str, source_id: str, body: Any = None) -> Reply:
    return system.call("POST", f"/v1/teams/{TEAM}/sources/{source_id}/builds", token=admin, body=body)


def published(system: System) -> list[tuple[str, str]]:
    system.drain("BuildTriggerFunction")
    return [(e["detail"]["ref"], e["detail"]["sha"]) for e in system.bus_events()]


def refuses_bad_shas(system: System, admin: str, source_id: str) -> None:
    for bad in ("0" * 40, "000000000", "not-hex", "abc12", "f" * 41):
        reply = build(system, admin, source_id, {"sha": bad})
        assert reply.status == 400, (bad, reply.body)
        assert reply.headers["content-type"] == "application/problem+json"


def test_gitlab(gitlab: tuple[System, FakeGitLab, str]) -> None:
    system, _, token = gitlab
    admin = system.token({TEAM: "admin"})
    source_id = linked(system, admin, {"provider": "gitlab", "token": token}, ["develop", "main"], "acme/app")
    # No body, or {}: GitLab's default branch (develop), which the source watches
    assert build(system, admin, source_id).json()["ref"] == "refs/heads/develop"
    assert build(system, admin, source_id, {}).json()["sha"] == fake_sha("gl-develop")
    # A short sha is resolved through GitLab's commits API; an unknown one is a 422, and nothing is queued
    short = build(system, admin, source_id, {"sha": fake_sha("gl-main")[:8]})
    assert short.status == 202 and short.json()["sha"] == fake_sha("gl-main")
    unknown = build(system, admin, source_id, {"sha": fake_sha("nowhere")})
    assert unknown.status == 422 and "is not a commit of acme/app" in unknown.json()["detail"]
    refuses_bad_shas(system, admin, source_id)
    assert published(system) == [("refs/heads/develop", fake_sha("gl-develop"))] * 2 + [
        (fake_sha("gl-main"), fake_sha("gl-main"))]


def test_bitbucket(bitbucket: tuple[System, FakeBitbucket, str]) -> None:
    system, _, token = bitbucket
    admin = system.token({TEAM: "admin"})
    link = {"provider": "bitbucket", "workspace": "acme", "username": "alice@example.com", "api_token": token}
    # The source watches a glob that matches Bitbucket's main branch (trunk)
    source_id = linked(system, admin, link, ["t*", "dev"], "acme/app")
    assert build(system, admin, source_id).json()["ref"] == "refs/heads/trunk"
    assert build(system, admin, source_id, {"branch": "dev"}).json()["sha"] == fake_sha("bb-d")
    unknown = build(system, admin, source_id, {"sha": fake_sha("nowhere")[:12]})
    assert unknown.status == 422 and "is not a commit of acme/app" in unknown.json()["detail"]
    full = build(system, admin, source_id, {"sha": fake_sha("bb-trunk")[:12]})
    assert full.status == 202 and full.json()["sha"] == fake_sha("bb-trunk")
    refuses_bad_shas(system, admin, source_id)
    assert [sha for _, sha in published(system)] == [fake_sha("bb-trunk"), fake_sha("bb-d"), fake_sha("bb-trunk")]


def test_custom_git_builds_the_remotes_head(system: System, git_server: GitHttpServer,
                                            remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    admin = system.token({TEAM: "admin"})
    work.checkout_new("develop")
    work.write("feature.txt", "x\n")
    develop = work.commit("on develop")
    work.push("develop")
    bare = git_server.root / url.rsplit("/", 1)[-1]  # url_for names the bare repository `<name>.git`
    git("symbolic-ref", "HEAD", "refs/heads/develop", cwd=bare)  # the remote's default is develop now
    system.bus_events()
    source_id = linked(system, admin, {"provider": "custom", "url": url}, ["main", "develop"], None)
    reply = build(system, admin, source_id)
    assert reply.status == 202, reply.body
    assert (reply.json()["ref"], reply.json()["sha"]) == ("refs/heads/develop", develop)
    # Custom Git cannot look a commit up: a short sha must be the full id; a full one is taken as given
    short = build(system, admin, source_id, {"sha": develop[:10]})
    assert short.status == 422 and "full commit id" in short.json()["detail"]
    refuses_bad_shas(system, admin, source_id)
    # A source watching neither HEAD's branch nor exactly one literal branch is told to name one
    picky = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": system.call("GET", f"/v1/teams/{TEAM}/sources/{source_id}", token=admin).json()[
            "connection_id"], "branches": ["main", "hotfix", "release/*"]}).json()
    refused = build(system, admin, picky["id"])
    assert refused.status == 422 and "'develop'" in refused.json()["detail"]
    assert published(system) == [("refs/heads/develop", develop)]
