"""GitOps files on a Custom Git remote, through Git itself: a real `git http-backend` on 127.0.0.1 and the git CLI on
the other side. A file is read from a shallow fetch of the branch; a commit is pushed only as a fast-forward of the
head that was read, so a push made meanwhile turns the save into a conflict instead of being overwritten."""

from __future__ import annotations

import json

import pytest

from gitconnect.adapters.git_remote import DulwichGitRemote
from gitconnect.adapters.net import guarded_pool_manager
from gitconnect.domain.errors import ConflictError, NotFoundError, UnprocessableError
from gitconnect.providers.base import GITCONNECT, Access, FileChange, ProviderPorts
from gitconnect.providers.custom import CustomGitProvider
from infra.local.git_server import WorkingCopy


@pytest.fixture
def provider() -> CustomGitProvider:
    git = DulwichGitRemote(lambda: guarded_pool_manager(allow_loopback=True, timeout=10))
    return CustomGitProvider(ProviderPorts(git=git))


def test_create_read_update_and_conflicts(provider: CustomGitProvider, remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    access = Access(url, None, None)
    document = json.dumps({"kind": "template", "spec": {"replicas": 1}}, indent=2).encode()
    assert provider.read_file(access, "r", "main", "/templates/app.json") is None
    first = provider.commit_file(access, "r", FileChange("main", "/templates/app.json", document, "Add app", None)).sha
    work.pull()
    assert work.head() == first
    assert (work.path / "templates" / "app.json").read_bytes() == document
    assert work.git("log", "-1", "--format=%an <%ae>|%s") == f"{GITCONNECT.line}|Add app"
    assert (work.path / "README.md").read_text() == "hello\n"  # the rest of the tree is kept
    with pytest.raises(ConflictError, match="already exists"):
        provider.commit_file(access, "r", FileChange("main", "templates/app.json", document, "Again", None))
    read = provider.read_file(access, "r", "main", "templates/app.json")
    assert read is not None and read.content == document and read.version == first
    second = provider.commit_file(
        access, "r", FileChange("main", "templates/app.json", b"{}", "Edit", read.version)
    ).sha
    # Someone pushes with the git CLI meanwhile: a save based on the old version is refused, nothing is lost
    work.pull()
    work.write("templates/app.json", '{"changed": true}')
    pushed = work.commit("edit by hand")
    work.push()
    with pytest.raises(ConflictError, match="changed"):
        provider.commit_file(access, "r", FileChange("main", "templates/app.json", b"{}", "Stale", second))
    latest = provider.read_file(access, "r", "main", "templates/app.json")
    assert latest is not None and latest.content == b'{"changed": true}' and latest.version == pushed
    work.pull()
    assert work.head() == pushed


def test_missing_branch_and_bad_paths(provider: CustomGitProvider, remote: tuple[str, WorkingCopy]) -> None:
    url, _ = remote
    access = Access(url, None, None)
    with pytest.raises(NotFoundError):
        provider.read_file(access, "r", "no-such-branch", "a.json")
    with pytest.raises(NotFoundError):
        provider.commit_file(access, "r", FileChange("no-such-branch", "a.json", b"{}", "x", None))
    for path in ("../outside.json", "a/../../b.json", "/", ""):
        with pytest.raises(UnprocessableError):
            provider.read_file(access, "r", "main", path)
    assert provider.read_file(access, "r", "main", "README.md").content == b"hello\n"  # type: ignore[union-attr]
    assert provider.read_file(access, "r", "main", "README.md/x") is None  # a path under a file is no file
