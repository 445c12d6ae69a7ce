"""A save in pull-request mode (services/pull_requests.propose) over a stub provider: with nothing open the branch
starts at the linked branch's head and a pull request is opened; with one open the commit goes on top and it is
updated; a pull request another save opened meanwhile (the provider refuses a second one) is updated, not doubled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from gitconnect.domain.errors import UnprocessableError
from gitconnect.domain.templates import GitOpsLink
from gitconnect.providers.base import Access, ChangeRequest, Committed, FileChange, RepoFile
from gitconnect.services.pull_requests import Proposal, propose

ACCESS = Access(None, None, None)
LINK = GitOpsLink("con_1", "acme/app", "main", "app.json", write="pull_request")
PROPOSAL = Proposal(b'{"a": 2}\n', "Update app", None, "Update app", "from the app")


@dataclass
class Stub:
    """The calls propose makes, recorded; `open_after_refusal`: another save opened the pull request first."""

    open: ChangeRequest | None = None
    open_after_refusal: ChangeRequest | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def open_change_request(self, access: Access, repository: str, head: str, base: str) -> ChangeRequest | None:
        self.calls.append(("find", head))
        return self.open

    def resolve_branch(self, access: Access, repository: str, branch: str) -> str | None:
        return "base-head"

    def start_branch(self, access: Access, repository: str, branch: str, sha: str) -> None:
        self.calls.append(("start", (branch, sha)))

    def read_file(self, access: Access, repository: str, branch: str, path: str) -> RepoFile | None:
        return RepoFile(path, b"{}", f"v-{branch}")

    def commit_file(self, access: Access, repository: str, change: FileChange) -> Committed:
        self.calls.append(("commit", (change.branch, change.expected)))
        return Committed("new-commit", "new-commit")

    def create_change_request(self, access: Access, repository: str, head: str, base: str, title: str,
                              description: str) -> ChangeRequest:
        self.calls.append(("create", (head, base)))
        if self.open_after_refusal is not None:
            self.open = self.open_after_refusal
            raise UnprocessableError("GitHub refused a pull request: A pull request already exists")
        return ChangeRequest(1, "https://example/pull/1")

    def update_change_request(self, access: Access, repository: str, number: int, title: str,
                              description: str) -> ChangeRequest:
        self.calls.append(("update", number))
        return ChangeRequest(number, f"https://example/pull/{number}")


def _propose(stub: Stub) -> dict[str, Any]:
    return propose(cast(Any, stub), ACCESS, LINK, "tpl_1", PROPOSAL)


def test_nothing_open_starts_the_branch_at_the_linked_head_and_opens() -> None:
    stub = Stub()
    assert _propose(stub) == {"number": 1, "url": "https://example/pull/1", "branch": "gitconnect/tpl_1",
                              "commit_sha": "new-commit", "action": "opened"}
    assert stub.calls == [("find", "gitconnect/tpl_1"), ("start", ("gitconnect/tpl_1", "base-head")),
                          ("commit", ("gitconnect/tpl_1", "v-gitconnect/tpl_1")),
                          ("create", ("gitconnect/tpl_1", "main"))]


def test_an_open_pull_request_gets_the_commit_on_top_and_is_updated() -> None:
    stub = Stub(open=ChangeRequest(4, "https://example/pull/4"))
    assert _propose(stub)["action"] == "updated"
    assert [c[0] for c in stub.calls] == ["find", "commit", "update"]  # the branch is left where it is


def test_a_pull_request_opened_meanwhile_is_updated_not_doubled() -> None:
    stub = Stub(open_after_refusal=ChangeRequest(5, "https://example/pull/5"))
    proposed = _propose(stub)
    assert (proposed["action"], proposed["number"]) == ("updated", 5)
    assert [c[0] for c in stub.calls] == ["find", "start", "commit", "create", "find", "update"]


def test_a_refusal_with_nothing_open_stands() -> None:
    class Refusing(Stub):
        def create_change_request(self, access: Access, repository: str, head: str, base: str, title: str,
                                  description: str) -> ChangeRequest:
            raise UnprocessableError("GitHub refused a pull request: Validation Failed")

    with pytest.raises(UnprocessableError):
        _propose(Refusing())
