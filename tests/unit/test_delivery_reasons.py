"""What the delivery log says for an event that builds nothing: the words a person reading it understands (which ref,
what is watched, what happened to the pull request), from the real normalizers where a payload is at hand."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from gitconnect.domain.events import MergeGroupEvent, PullRequestEvent, PushEvent, RepoRef, TagEvent
from gitconnect.domain.matching import decide_merge_group, decide_pull_request, decide_push, decide_tag
from gitconnect.domain.models import PullRequestRules, Source
from gitconnect.providers.gitlab.webhooks import normalize as gitlab_normalize

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"
REPO = RepoRef(id="7", full_name="acme/app", owner="acme")
SOURCE = Source(team_id="t1", id="src_1", name="app", connection_id="con_1", provider="github", repository="acme/app",
                clone_url="https://example.com/acme/app.git", branches=("main", "release/*"), created_at="t",
                updated_at="t", tags=("v*",), pull_requests=PullRequestRules(enabled=True))


def push(ref: str, *, deleted: bool = False) -> PushEvent:
    return PushEvent(account_key=None, repository=REPO, ref=ref, before="a" * 40, after=None if deleted else "b" * 40,
                     created=False, deleted=deleted, commits=(), commits_complete=True, head_message="change")


@pytest.mark.parametrize(("source", "event", "reason"), [
    (SOURCE, push("refs/heads/feature/x"), "branch feature/x is not watched (watched: main, release/*)"),
    (replace(SOURCE, branches=()), push("refs/heads/main"),
     "branch main is not watched (the source watches no branches)"),
    (SOURCE, push("refs/heads/main", deleted=True), "branch main deleted: nothing to build"),
    (SOURCE, push("refs/tags/v1", deleted=True), "tag v1 deleted: nothing to build"),
    (SOURCE, push("refs/tags/nightly"), "tag nightly is not watched (watched: v*)"),
    (replace(SOURCE, tags=()), push("refs/tags/v1"), "tag v1: the source builds no tags"),
])
def test_pushes_that_build_nothing_say_why(source: Source, event: PushEvent, reason: str) -> None:
    decision = decide_push(source, event, None)
    assert (decision.build, decision.reason) == (False, reason)


def test_a_created_tag_that_is_not_watched_names_the_patterns() -> None:
    decision = decide_tag(SOURCE, TagEvent(account_key=None, repository=REPO, tag="nightly"), "c" * 40)
    assert decision.reason == "tag nightly is not watched (watched: v*)"


def test_a_merge_request_updated_without_new_commits() -> None:
    # GitLab's own example, edited as GitLab sends a title change: action "update" without `oldrev`
    payload = json.loads((FIXTURES / "merge-request-hook.json").read_text())
    payload["object_attributes"].update(action="update", target_branch="main")
    payload["object_attributes"].pop("oldrev", None)
    event = gitlab_normalize("Merge Request Hook", payload)
    assert isinstance(event, PullRequestEvent) and event.action == "other"
    decision = decide_pull_request(SOURCE, event)
    assert not decision.build
    assert decision.reason == (
        f"pull request #{event.number} updated without new commits: only opening, reopening or new commits build")
    # With `oldrev` (the source branch moved) it is an update that builds
    payload["object_attributes"]["oldrev"] = "d" * 40
    moved = gitlab_normalize("Merge Request Hook", payload)
    assert isinstance(moved, PullRequestEvent) and decide_pull_request(SOURCE, moved).build


def test_a_github_pull_request_edited_or_labeled_names_the_action() -> None:
    event = PullRequestEvent(account_key=None, repository=REPO, action="other", number=5, head_sha="e" * 40,
                             head_ref="feature", base_ref="main", from_fork=False, title="t",
                             fetch_ref="refs/pull/5/head", other_action="labeled")
    assert decide_pull_request(SOURCE, event).reason == (
        "pull request #5 labeled: only opening, reopening or new commits build")


def test_a_merge_queue_branch_push_is_left_to_its_merge_group_event() -> None:
    everything = replace(SOURCE, branches=("**",))
    decision = decide_push(everything, push("refs/heads/gh-readonly-queue/main/pr-7-abc"), None)
    assert (decision.build, decision.reason) == (
        False, "branch gh-readonly-queue/main/pr-7-abc is a merge queue's: its merge_group event builds it")


@pytest.mark.parametrize(("action", "base", "built", "reason"), [
    ("checks_requested", "refs/heads/main", True, "merge group into main"),
    ("checks_requested", "refs/heads/release/2", True, "merge group into release/2"),
    ("checks_requested", "refs/heads/develop", False,
     "merge groups into develop are not built (watched: main, release/*)"),
    ("destroyed", "refs/heads/main", False, "merge group destroyed: builds already requested are left alone"),
])
def test_merge_groups(action: str, base: str, built: bool, reason: str) -> None:
    event = MergeGroupEvent(account_key=None, repository=REPO, action=action, head_sha="f" * 40,
                            head_ref="refs/heads/gh-readonly-queue/main/pr-7-abc", base_ref=base)
    decision = decide_merge_group(SOURCE, event)
    assert (decision.build, decision.reason) == (built, reason)
    if built:
        assert (decision.trigger, decision.ref, decision.sha) == ("merge_group", event.head_ref, "f" * 40)


def test_an_annotated_tag_push_builds_the_commit_it_tags() -> None:
    from gitconnect.providers.github.webhooks import normalize

    tag_object, commit = "7" * 40, "8" * 40
    payload = {"ref": "refs/tags/v1.2.0", "before": "0" * 40, "after": tag_object, "created": True,
               "deleted": False, "commits": [], "head_commit": {"id": commit, "message": "release 1.2"},
               "repository": {"id": 7, "full_name": "acme/app", "owner": {"login": "acme"}},
               "installation": {"id": 42}}
    event = normalize("push", payload)
    assert isinstance(event, PushEvent) and event.after == commit
    decision = decide_push(SOURCE, event, None)
    assert (decision.build, decision.sha, decision.ref) == (True, commit, "refs/tags/v1.2.0")
