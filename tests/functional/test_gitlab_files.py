"""GitOps through GitLab's Repository Files and Commits APIs: optimistic concurrency is GitLab's own
(`last_commit_id`), so a stale save is refused by GitLab, not by a read-then-write race on our side."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gitconnect.adapters.http import RequestsHttpClient
from gitconnect.domain.errors import ConflictError, NotFoundError
from gitconnect.providers.base import Access, FileChange, ProviderPorts
from gitconnect.providers.gitlab.provider import GitLabProvider
from tests.support.fake_gitlab import FakeGitLab, FakeProject


@pytest.fixture
def lab(http: RequestsHttpClient) -> Iterator[tuple[FakeGitLab, FakeProject, GitLabProvider, Access]]:
    with FakeGitLab() as fake:
        alice = fake.add_user("alice")
        group = fake.add_group("acme")
        fake.add_member(alice, group)
        project = fake.add_project(group, "infra")
        provider = GitLabProvider(ProviderPorts(git=None, http=http, config={"GITLAB_URL": fake.base_url}))  # type: ignore[arg-type]
        yield fake, project, provider, Access(fake.base_url, "gitlab#c", {"token": fake.personal_token(alice)})


def test_create_read_update_and_conflicts(lab: tuple[FakeGitLab, FakeProject, GitLabProvider, Access]) -> None:
    fake, project, provider, access = lab
    document = json.dumps({"kind": "template", "spec": {"replicas": 1}}).encode()
    assert provider.read_file(access, "acme/infra", "main", "/templates/app.json") is None
    first = provider.commit_file(
        access, "acme/infra", FileChange("main", "/templates/app.json", document, "Add app", None)
    ).sha
    assert project.branches["main"] == first
    with pytest.raises(ConflictError, match="already exists"):
        provider.commit_file(access, "acme/infra", FileChange("main", "templates/app.json", document, "Again", None))
    read = provider.read_file(access, "acme/infra", "main", "templates/app.json")
    assert read is not None and read.content == document and read.version == first
    second = provider.commit_file(
        access, "acme/infra", FileChange("main", "templates/app.json", b"{}", "Edit", read.version)
    ).sha
    assert second != first
    # Someone pushes a change meanwhile: a save based on the old version is refused by GitLab
    fake.put_file(project, "main", "templates/app.json", b'{"changed": true}')
    with pytest.raises(ConflictError, match="changed"):
        provider.commit_file(access, "acme/infra", FileChange("main", "templates/app.json", b"{}", "Stale", second))
    assert provider.read_file(access, "acme/infra", "main", "templates/app.json").content == b'{"changed": true}'  # type: ignore[union-attr]
    commits = fake.requests("POST", "/projects/acme%2Finfra/repository/commits")
    assert len(commits) == 4  # create, refused create, update, refused stale update
    assert all("last_commit_id" in a for r in commits for a in r.body["actions"] if a["action"] == "update")


def test_a_missing_branch_is_not_found(lab: tuple[FakeGitLab, FakeProject, GitLabProvider, Access]) -> None:
    _, _, provider, access = lab
    with pytest.raises(NotFoundError):
        provider.read_file(access, "acme/infra", "no-such-branch", "a.json")
