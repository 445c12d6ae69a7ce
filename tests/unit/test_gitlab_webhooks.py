"""GitLab webhooks against the payload examples of GitLab's own "Webhook events" documentation
(`tests/fixtures/gitlab/`, see its README): token verification, delivery ids, and normalization."""

from __future__ import annotations

import copy
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from gitconnect.domain.events import Ignored, PullRequestEvent, PushEvent, ReleaseEvent
from gitconnect.domain.matching import push_files
from gitconnect.providers.github.webhooks import SPEC as GITHUB_SPEC
from gitconnect.providers.gitlab import webhooks
from gitconnect.providers.gitlab.webhooks import SPEC, normalize, token_valid, verify

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"
ZERO = "0" * 40

# fixture -> the X-Gitlab-Event header GitLab's documentation shows with it, and what it normalizes to
EVENTS: dict[str, tuple[str, type]] = {
    "push-hook.json": ("Push Hook", PushEvent),
    "tag-push-hook.json": ("Tag Push Hook", PushEvent),
    "merge-request-hook.json": ("Merge Request Hook", PullRequestEvent),
    "release-hook.json": ("Release Hook", ReleaseEvent),
    "issue-hook.json": ("Issue Hook", Ignored),
    "note-hook.json": ("Note Hook", Ignored),
    "note-hook-merge-request.json": ("Note Hook", Ignored),
    "pipeline-hook.json": ("Pipeline Hook", Ignored),
    "job-hook.json": ("Job Hook", Ignored),
    "wiki-page-hook.json": ("Wiki Page Hook", Ignored),
    "deployment-hook.json": ("Deployment Hook", Ignored),
    "member-hook.json": ("Member Hook", Ignored),
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def test_every_fixture_is_covered() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == sorted(EVENTS)


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_every_fixture_normalizes(name: str) -> None:
    event, kind = EVENTS[name]
    payload = load(name)
    result = normalize(event, payload)
    assert isinstance(result, kind), result
    assert result.account_key is None  # the router knows the connection from the hook id in the URL
    if isinstance(result, Ignored):
        assert event in result.reason
        project = payload.get("project")
        if project is not None:  # still says which project it was about, for the delivery log
            assert result.repository is not None
            assert result.repository.id == str(project["id"])
            assert result.repository.full_name == project["path_with_namespace"]
        else:
            assert result.repository is None


def test_push_hook() -> None:
    payload = load("push-hook.json")
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent)
    project = payload["project"]
    repo = result.repository
    assert (repo.id, repo.full_name, repo.owner) == (str(project["id"]), "mike/diaspora", "mike")
    assert repo.clone_url == project["git_http_url"] and repo.web_url == project["web_url"]
    assert repo.default_branch == project["default_branch"] and repo.private is True  # visibility_level 0
    assert result.ref == payload["ref"] == "refs/heads/master" and not result.is_tag and result.name == "master"
    assert (result.before, result.after) == (payload["before"], payload["after"])
    assert not result.created and not result.deleted
    assert [c.sha for c in result.commits] == [c["id"] for c in payload["commits"]]
    assert [c.message for c in result.commits] == [c["message"] for c in payload["commits"]]
    assert result.commits[0].files == ("CHANGELOG", "app/controller/application.rb")
    # The documented example lists 2 commits of `total_commits_count: 4`: the list is truncated
    assert payload["total_commits_count"] == 4 and not result.commits_complete
    assert push_files(result) is None
    # The head commit is the one at checkout_sha (here also the last one)
    assert result.head_message == "fixed readme"


def test_push_head_message_follows_checkout_sha_not_position() -> None:
    payload = load("push-hook.json")
    payload["checkout_sha"] = payload["commits"][0]["id"]
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent) and result.head_message == payload["commits"][0]["message"]
    payload["checkout_sha"] = None
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent) and result.head_message == payload["commits"][-1]["message"]


def test_complete_push_lists_its_files() -> None:
    payload = load("push-hook.json")
    payload["total_commits_count"] = len(payload["commits"])
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent) and result.commits_complete
    assert push_files(result) == ["CHANGELOG", "app/controller/application.rb"]


def test_truncated_commit_list_is_incomplete() -> None:
    payload = load("push-hook.json")
    commit = payload["commits"][-1]
    payload["commits"] = [dict(commit, id=f"{i:040x}") for i in range(webhooks.MAX_PUSH_COMMITS)]
    payload["total_commits_count"] = 57
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent) and len(result.commits) == 20 and not result.commits_complete
    payload["total_commits_count"] = 20
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent) and result.commits_complete
    del payload["total_commits_count"]  # a count we cannot see is not a complete list
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent) and not result.commits_complete


def test_commit_without_file_lists_has_unknown_files() -> None:
    payload = load("push-hook.json")
    del payload["commits"][0]["removed"]
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent) and result.commits[0].files is None and result.commits[1].files


def test_branch_created() -> None:
    """GitLab's documentation shows no branch-creation payload: derived from the push example (before all zeros;
    "If you create and push a branch without any new commits, the commits attribute in the payload is empty")."""
    payload = load("push-hook.json")
    payload.update(before=ZERO, ref="refs/heads/feature", commits=[], total_commits_count=0)
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent)
    assert result.created and not result.deleted
    assert result.before is None and result.after == payload["after"]
    assert result.commits == () and result.commits_complete and result.head_message is None
    assert push_files(result) == []  # a new branch with no new commits changed nothing


def test_branch_deleted() -> None:
    payload = load("push-hook.json")
    payload.update(after=ZERO, checkout_sha=None, commits=[], total_commits_count=0)
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent)
    assert result.deleted and not result.created
    assert result.after is None and result.before == payload["before"]


def test_tag_push_hook() -> None:
    payload = load("tag-push-hook.json")
    result = normalize("Tag Push Hook", payload)
    assert isinstance(result, PushEvent)
    assert result.ref == "refs/tags/v1.0.0" and result.is_tag and result.name == "v1.0.0"
    assert result.created and not result.deleted and result.before is None  # before is all zeros
    assert result.after == payload["checkout_sha"]
    assert result.repository.id == "1" and result.repository.full_name == "jsmith/example"
    assert result.repository.owner == "jsmith"
    assert result.commits == () and result.commits_complete


def test_annotated_tag_push_names_the_commit_not_the_tag_object() -> None:
    payload = load("tag-push-hook.json")
    payload["after"] = "f" * 40  # the tag object
    result = normalize("Tag Push Hook", payload)
    assert isinstance(result, PushEvent) and result.after == payload["checkout_sha"]


def test_tag_deleted() -> None:
    payload = load("tag-push-hook.json")
    payload.update(before=payload["after"], after=ZERO, checkout_sha=None)
    result = normalize("Tag Push Hook", payload)
    assert isinstance(result, PushEvent) and result.deleted and result.after is None and not result.created


def test_merge_request_hook() -> None:
    payload = load("merge-request-hook.json")
    attrs = payload["object_attributes"]
    result = normalize("Merge Request Hook", payload)
    assert isinstance(result, PullRequestEvent)
    assert result.action == "opened"  # action "open"
    assert result.number == attrs["iid"] == 1
    assert result.head_sha == attrs["last_commit"]["id"]
    assert (result.head_ref, result.base_ref) == (attrs["source_branch"], attrs["target_branch"])
    assert result.title == attrs["title"]
    assert result.from_fork is False  # source_project_id == target_project_id
    # The repository is the target project
    assert result.repository.id == str(attrs["target_project_id"])
    assert result.repository.full_name == attrs["target"]["path_with_namespace"]
    assert result.repository.clone_url == attrs["target"]["git_http_url"]
    assert result.repository.owner == "awesome_space"


def test_merge_request_from_a_fork() -> None:
    payload = load("merge-request-hook.json")
    payload["object_attributes"]["source_project_id"] = 99
    result = normalize("Merge Request Hook", payload)
    assert isinstance(result, PullRequestEvent) and result.from_fork is True
    assert result.repository.id == str(payload["object_attributes"]["target_project_id"])
    del payload["object_attributes"]["source_project_id"]
    result = normalize("Merge Request Hook", payload)
    assert isinstance(result, PullRequestEvent) and result.from_fork is None  # unknown, not a guess


def test_merge_request_without_target_uses_the_hooks_project() -> None:
    payload = load("merge-request-hook.json")
    del payload["object_attributes"]["target"]
    result = normalize("Merge Request Hook", payload)
    assert isinstance(result, PullRequestEvent)
    assert result.repository.full_name == payload["project"]["path_with_namespace"]


@pytest.mark.parametrize(
    ("action", "oldrev", "expected"),
    [
        ("open", None, "opened"),
        ("reopen", None, "reopened"),
        ("update", "95790bf891e76fee5e1747ab589903a6a1f80f22", "updated"),  # new commits on the source branch
        ("update", None, "other"),  # title, labels, description edited
        ("close", None, "closed"),
        ("merge", None, "closed"),
        ("approved", None, "other"),
        ("unapproved", None, "other"),
        ("approval", None, "other"),
        ("unapproval", None, "other"),
        ("something-new", None, "other"),
    ],
)
def test_merge_request_actions(action: str, oldrev: str | None, expected: str) -> None:
    payload = copy.deepcopy(load("merge-request-hook.json"))
    payload["object_attributes"]["action"] = action
    if oldrev:
        payload["object_attributes"]["oldrev"] = oldrev
    result = normalize("Merge Request Hook", payload)
    assert isinstance(result, PullRequestEvent) and result.action == expected


def test_release_hook() -> None:
    payload = load("release-hook.json")
    result = normalize("Release Hook", payload)
    assert isinstance(result, ReleaseEvent)
    assert result.action == "published" and result.tag == payload["tag"] == "v1.1"
    assert result.sha == payload["commit"]["id"]
    assert result.repository.id == "2" and result.repository.full_name == "gitlab-org/release-webhook-example"
    assert result.repository.owner == "gitlab-org"
    for action in ("update", "delete"):
        other = normalize("Release Hook", dict(payload, action=action))
        assert isinstance(other, ReleaseEvent) and other.action == "other"
    without_commit = normalize("Release Hook", {k: v for k, v in payload.items() if k != "commit"})
    assert isinstance(without_commit, ReleaseEvent) and without_commit.sha is None


def test_nested_group_owner() -> None:
    payload = load("push-hook.json")
    payload["project"]["path_with_namespace"] = "acme/platform/backend/api"
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent)
    assert result.repository.full_name == "acme/platform/backend/api"
    assert result.repository.owner == "acme/platform/backend"


def test_project_id_falls_back_to_the_top_level_field() -> None:
    payload = load("push-hook.json")
    del payload["project"]["id"]
    result = normalize("Push Hook", payload)
    assert isinstance(result, PushEvent) and result.repository.id == str(payload["project_id"])


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("Push Hook", {}),
        ("Push Hook", {"ref": "refs/heads/main", "project": {"id": 1}}),
        ("Tag Push Hook", {"ref": "refs/heads/main", "project": {"id": 1, "path_with_namespace": "a/b"}}),
        ("Merge Request Hook", {"project": {"id": 1, "path_with_namespace": "a/b"}}),
        ("Merge Request Hook", {"object_attributes": {"iid": 1}, "project": {"id": 1, "path_with_namespace": "a/b"}}),
        ("Release Hook", {"tag": "v1"}),
        ("System Hook", {"object_kind": "push"}),
        ("", {}),
    ],
)
def test_malformed_or_unknown_deliveries_are_ignored_not_raised(event: str, payload: dict[str, Any]) -> None:
    assert isinstance(normalize(event, payload), Ignored)


# ---------------------------------------------------------------------------------------------- verification
def test_token_verification() -> None:
    body = (FIXTURES / "push-hook.json").read_bytes()
    assert verify({"x-gitlab-token": "s3cret"}, body, ["s3cret"])
    assert not verify({"x-gitlab-token": "s3creT"}, body, ["s3cret"])  # wrong, same length
    assert not verify({"x-gitlab-token": "s3cret-and-more"}, body, ["s3cret"])
    assert not verify({"x-gitlab-token": "s3cre"}, body, ["s3cret"])
    assert not verify({}, body, ["s3cret"])  # missing
    assert not verify({"x-gitlab-token": ""}, body, ["s3cret"])  # empty
    assert not verify({"x-gitlab-token": ""}, body, [""])  # an empty secret never matches
    assert not verify({"x-gitlab-token": "s3cret"}, body, [])
    assert not verify({"X-Gitlab-Token": "s3cret"}, body, ["s3cret"])  # the intake lower-cases header names
    # Two secrets: either one verifies
    assert verify({"x-gitlab-token": "old"}, body, ["new", "old"])
    assert verify({"x-gitlab-token": "new"}, body, ["new", "old"])
    assert not verify({"x-gitlab-token": "other"}, body, ["new", "old"])
    assert token_valid("pässwörd", ["pässwörd"])


def test_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        assert isinstance(a, bytes) and isinstance(b, bytes)
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(webhooks.hmac, "compare_digest", spy)
    assert verify({"x-gitlab-token": "old"}, b"{}", ["old", "new"])
    assert len(calls) == 2  # every secret is compared: no early exit on the first match


def test_spec() -> None:
    assert SPEC.provider == "gitlab"
    assert (SPEC.event_header, SPEC.delivery_header) == ("x-gitlab-event", "x-gitlab-event-uuid")
    assert SPEC.ping_events == ()  # GitLab's "Test" button sends a normal event
    assert SPEC.verify is verify


def test_delivery_id_prefers_the_idempotency_key() -> None:
    both = {"idempotency-key": "f5e5f430-f57b-4e6e-9fac-d9128cd7232f",
            "x-gitlab-event-uuid": "13792a34-cac6-4fda-95a8-c58e00a3954e"}
    assert SPEC.delivery_id(both) == "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"
    assert SPEC.delivery_id({**both, "idempotency-key": " "}) == "13792a34-cac6-4fda-95a8-c58e00a3954e"
    assert SPEC.delivery_id({"x-gitlab-event-uuid": "13792a34-cac6-4fda-95a8-c58e00a3954e"}) == (
        "13792a34-cac6-4fda-95a8-c58e00a3954e")  # GitLab before 17.4
    assert SPEC.delivery_id({}) == ""


def test_specs_without_delivery_headers_keep_their_one_header() -> None:
    assert GITHUB_SPEC.delivery_headers == (GITHUB_SPEC.delivery_header,)
    assert GITHUB_SPEC.delivery_id({"x-github-delivery": " 72d3162e "}) == "72d3162e"
