"""The `gitconnect/template` check of a pull request (services/pull_requests.py) over a stub provider's commits: only
the linked files the head changes are checked, one result covers them all (failure names the first broken file and
its line), a removed file fails, a fork's check names the pull request's ref, and a pull request that changes none gets
no check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from gitconnect.domain.events import PullRequestEvent, RepoRef
from gitconnect.domain.templates import GitOpsLink, Template
from gitconnect.providers.base import Access
from gitconnect.services.pull_requests import CHECK_NAME, check_pull_request

ACCESS = Access(None, None, None)
BASE, HEAD = "b" * 40, "h" * 40


@dataclass
class Commits:
    """file_at and resolve_branch over {commit: {path: bytes}}; main's head is BASE."""

    trees: dict[str, dict[str, bytes]]

    def file_at(self, access: Access, repository: str, commit: str, path: str) -> bytes | None:
        return self.trees[commit].get(path)

    def resolve_branch(self, access: Access, repository: str, branch: str) -> str | None:
        return BASE if branch == "main" else None


def _template(path: str) -> Template:
    return Template("t1", f"tpl_{path}", path, "template", {}, 1, False, "allow", "t", "t",
                    gitops=GitOpsLink("con_1", "acme/app", "main", path))


def _event(*, fork: bool = False) -> PullRequestEvent:
    return PullRequestEvent(None, RepoRef.named("acme/app", "1"), "opened", 4, HEAD, "feature", "main", fork,
                            "change", "refs/pull/4/head")


def _check(trees: dict[str, dict[str, bytes]], *paths: str, fork: bool = False) -> Any:
    return check_pull_request(cast(Any, Commits(trees)), ACCESS, _event(fork=fork), [_template(p) for p in paths])


def test_only_changed_linked_files_are_checked_and_one_result_covers_them() -> None:
    base = {"a.json": b'{"a": 1}', "b.json": b'{"b": 1}'}
    same = _check({BASE: base, HEAD: dict(base)}, "a.json", "b.json")
    assert same is None  # changes no linked file: no check at all
    one_broken = _check({BASE: base, HEAD: {**base, "b.json": b'{"b": 2,\n oops}'}}, "a.json", "b.json")
    assert (one_broken.name, one_broken.state, one_broken.sha, one_broken.ref) == (CHECK_NAME, "failure", HEAD,
                                                                                 "feature")
    assert one_broken.title.startswith("b.json: not valid JSON") and "line 2" in one_broken.title
    assert one_broken.summary.splitlines() == [one_broken.title]  # a.json is unchanged: not in the summary
    both_fine = _check({BASE: base, HEAD: {"a.json": b'{"a": 2}', "b.json": b'{"b": 2}'}}, "a.json", "b.json")
    assert (both_fine.state, both_fine.title) == ("success", "2 linked file(s) valid")


def test_a_removed_or_non_object_file_fails_and_a_fork_names_the_pull_request_ref() -> None:
    base = {"a.json": b'{"a": 1}'}
    removed = _check({BASE: base, HEAD: {}}, "a.json")
    assert (removed.state, removed.title) == ("failure", "a.json: the pull request removes the linked file")
    listed = _check({BASE: base, HEAD: {"a.json": b"[1, 2]"}}, "a.json", fork=True)
    assert listed.state == "failure" and "not a JSON object" in listed.title and listed.ref == "refs/pull/4/head"
    added = _check({BASE: {}, HEAD: {"a.json": b'{"a": 1}'}}, "a.json")
    assert (added.state, added.title) == ("success", "a.json is valid")
