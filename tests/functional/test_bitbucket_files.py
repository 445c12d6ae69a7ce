"""GitOps through Bitbucket's `src` endpoint: a file is read at the branch's head commit, and a commit names that
commit in `parents`, so Bitbucket itself refuses (409) a save based on a stale read: no read-then-write race here."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gitconnect.adapters.http import RequestsHttpClient
from gitconnect.domain.errors import ConflictError, NotFoundError
from gitconnect.providers.base import Access, FileChange, ProviderPorts
from gitconnect.providers.bitbucket.provider import BitbucketProvider
from tests.support.fake_bitbucket import FakeBitbucket, FakeRepo
from tests.support.fake_gitlab import fake_sha

World = tuple[FakeBitbucket, FakeRepo, BitbucketProvider, Access]


@pytest.fixture
def world(http: RequestsHttpClient) -> Iterator[World]:
    with FakeBitbucket() as fake:
        alice = fake.add_user("alice", email="alice@example.com")
        acme = fake.add_workspace("acme", members=[alice])
        repo = fake.add_repo(acme, "infra", branches={"main": fake_sha("root")})
        config = {"BITBUCKET_API_URL": fake.api_url, "BITBUCKET_WEB_URL": fake.web_url}
        provider = BitbucketProvider(ProviderPorts(git=None, http=http, config=config))  # type: ignore[arg-type]
        credentials = {"kind": "api_token", "username": "alice@example.com", "token": fake.api_token(alice),
                       "workspace": "acme"}
        yield fake, repo, provider, Access(fake.web_url, "bitbucket#c", credentials)


def test_create_read_update_and_conflicts(world: World) -> None:
    fake, repo, provider, access = world
    document = json.dumps({"kind": "template", "spec": {"replicas": 1}}).encode()
    assert provider.read_file(access, "acme/infra", "main", "/templates/app.json") is None
    first = provider.commit_file(
        access, "acme/infra", FileChange("main", "/templates/app.json", document, "Add app", None)
    ).sha
    assert repo.branches["main"] == first and len(first) == 40
    with pytest.raises(ConflictError, match="already exists"):
        provider.commit_file(access, "acme/infra", FileChange("main", "templates/app.json", document, "Again", None))
    read = provider.read_file(access, "acme/infra", "main", "templates/app.json")
    assert read is not None and read.content == document and read.version == first
    second = provider.commit_file(
        access, "acme/infra", FileChange("main", "templates/app.json", b"{}", "Edit", read.version)
    ).sha
    assert second != first and repo.branches["main"] == second
    # Someone pushes meanwhile: a save based on the old version is refused by Bitbucket (parents is not the tip)
    fake.put_file(repo, "main", "templates/app.json", b'{"changed": true}')
    with pytest.raises(ConflictError, match="changed"):
        provider.commit_file(access, "acme/infra", FileChange("main", "templates/app.json", b"{}", "Stale", second))
    assert provider.read_file(access, "acme/infra", "main", "templates/app.json").content == b'{"changed": true}'  # type: ignore[union-attr]
    commits = fake.requests("POST", "/repositories/acme/infra/src")
    assert len(commits) == 3  # create, update, refused stale update (the refused create never reached Bitbucket)
    assert all(r.body.get("parents") and r.body.get("branch") == "main" for r in commits)


def test_a_missing_branch_is_not_found(world: World) -> None:
    _, _, provider, access = world
    with pytest.raises(NotFoundError):
        provider.read_file(access, "acme/infra", "no-such-branch", "a.json")
    with pytest.raises(NotFoundError):
        provider.commit_file(access, "acme/infra", FileChange("no-such-branch", "a.json", b"{}", "x", None))
