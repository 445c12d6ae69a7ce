"""The three webhook normalizers are total and strict about types (issue 17): a value of another type than the
provider documents at any key a normalizer reads raises MalformedPayloadError naming the event and that key; any
value anywhere gives either a well-typed event or that error, never AttributeError, KeyError or TypeError; and what
the providers document as optional or nullable is still accepted.

Shapes: tests/support/webhook_shapes.py. Payloads: GitLab's documented examples (tests/fixtures/gitlab), the
Bitbucket Cloud fixtures, and GitHub payloads written here after GitHub's schema (the octokit examples come from npm:
the contract tests use them, this tier stays offline)."""

from __future__ import annotations

import copy
import dataclasses
import json
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitconnect.domain import events as events_module
from gitconnect.domain.errors import MalformedPayloadError
from gitconnect.domain.events import Ignored, InstallationEvent, PullRequestEvent, PushEvent, ReleaseEvent, TagEvent
from gitconnect.providers.bitbucket import webhooks as bitbucket
from gitconnect.providers.github import webhooks as github
from gitconnect.providers.gitlab import webhooks as gitlab
from tests.support import webhook_shapes as shapes
from tests.support.bitbucket_fixtures import payload as bitbucket_payload
from tests.support.payload_mutation import REPLACEMENTS, Base, json_type, mutated, show, walk

GITLAB_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"
SHA_A, SHA_B, SHA_C = "a" * 40, "b" * 40, "c" * 40
Normalize = Callable[[str, Any], object]

# --------------------------------------------------------------------------------- GitHub, after its schema
Json = dict[str, Any]
USER: Json = {"login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": False}
REPO: Json = {
    "id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "app", "full_name": "octo-org/app",
    "private": True, "owner": {**USER, "login": "octo-org", "type": "Organization"},
    "html_url": "https://github.com/octo-org/app", "clone_url": "https://github.com/octo-org/app.git",
    "default_branch": "main", "master_branch": "main", "fork": False,
}
INSTALLATION: Json = {"id": 42, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI="}
COMMIT: Json = {
    "id": SHA_B, "tree_id": SHA_C, "distinct": True, "message": "change\n", "url": "https://x",
    "timestamp": "2024-01-02T03:04:05Z", "author": {"name": "o", "email": "o@example.com"},
    "committer": {"name": "o", "email": "o@example.com"}, "added": ["a.txt"], "modified": ["b.txt"],
    "removed": ["c.txt"],
}
PUSH: Json = {
    "ref": "refs/heads/main", "before": SHA_A, "after": SHA_B, "created": False, "deleted": False, "forced": False,
    "base_ref": None, "compare": "https://x", "commits": [COMMIT], "head_commit": COMMIT, "repository": REPO,
    "pusher": {"name": "o"}, "sender": USER, "installation": INSTALLATION,
}
PULL_REQUEST: Json = {
    "action": "synchronize", "number": 7, "repository": REPO, "sender": USER, "installation": INSTALLATION,
    "pull_request": {
        "number": 7, "title": "Add a thing", "state": "open", "user": USER,
        "head": {"label": "octo-org:feature", "ref": "feature", "sha": SHA_B, "user": USER, "repo": REPO},
        "base": {"label": "octo-org:main", "ref": "main", "sha": SHA_A, "user": USER, "repo": REPO},
    },
}
CREATE: Json = {
    "ref": "v1.0.0", "ref_type": "tag", "master_branch": "main", "pusher_type": "user", "repository": REPO,
    "sender": USER, "installation": INSTALLATION,
}
DELETE: Json = {**CREATE}
RELEASE: Json = {
    "action": "published", "release": {"id": 1, "tag_name": "v1.0.0", "target_commitish": "main"},
    "repository": REPO, "sender": USER, "installation": INSTALLATION,
}
LISTED: Json = {"id": 1296269, "node_id": "x", "name": "app", "full_name": "octo-org/app", "private": True}
INSTALLED: Json = {
    "action": "created", "installation": {**INSTALLATION, "account": {**USER, "login": "octo-org"}},
    "repositories": [LISTED], "sender": USER,
}
REPOSITORIES_CHANGED: Json = {
    "action": "added", "installation": {**INSTALLATION, "account": {**USER, "login": "octo-org"}},
    "repository_selection": "selected", "repositories_added": [LISTED],
    "repositories_removed": [{**LISTED, "id": 9, "full_name": "octo-org/old"}], "sender": USER,
}


def gitlab_payload(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GITLAB_FIXTURES / name).read_text())
    return loaded


# provider, normalize, the X-*-Event value, a valid payload, its shape
BASES: list[tuple[str, Normalize, str, dict[str, Any], shapes.Shape]] = [
    ("github", github.normalize, "push", PUSH, shapes.GITHUB_PUSH),
    ("github", github.normalize, "pull_request", PULL_REQUEST, shapes.GITHUB_PULL_REQUEST),
    ("github", github.normalize, "create", CREATE, shapes.GITHUB_CREATE),
    ("github", github.normalize, "delete", DELETE, shapes.GITHUB_DELETE),
    ("github", github.normalize, "release", RELEASE, shapes.GITHUB_RELEASE),
    ("github", github.normalize, "installation", INSTALLED, shapes.GITHUB_INSTALLED),
    ("github", github.normalize, "installation_repositories", REPOSITORIES_CHANGED,
     shapes.GITHUB_REPOSITORIES_CHANGED),
    ("gitlab", gitlab.normalize, "Push Hook", gitlab_payload("push-hook.json"), shapes.GITLAB_PUSH),
    ("gitlab", gitlab.normalize, "Tag Push Hook", gitlab_payload("tag-push-hook.json"), shapes.GITLAB_PUSH),
    ("gitlab", gitlab.normalize, "Merge Request Hook", gitlab_payload("merge-request-hook.json"),
     shapes.GITLAB_MERGE_REQUEST),
    ("gitlab", gitlab.normalize, "Release Hook", gitlab_payload("release-hook.json"), shapes.GITLAB_RELEASE),
    ("bitbucket", bitbucket.normalize, "repo:push", bitbucket_payload("repo-push"), shapes.BITBUCKET_PUSH),
    ("bitbucket", bitbucket.normalize, "pullrequest:created", bitbucket_payload("pull-request-created"),
     shapes.BITBUCKET_PULL_REQUEST),
    ("bitbucket", bitbucket.normalize, "pullrequest:fulfilled", bitbucket_payload("pull-request-merged"),
     shapes.BITBUCKET_PULL_REQUEST),
]


def events_of(result: object) -> tuple[object, ...]:
    return result if isinstance(result, tuple) else (result,)


# ------------------------------------------------------------------------------------------ a type checker
def assert_typed(value: object, hint: Any, where: str) -> None:
    """`value` is of the (resolved) annotation `hint`: what the router, the tables and the bus may rely on."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                assert_typed(value, option, where)
                return
            except AssertionError:
                continue
        raise AssertionError(f"{where}: {value!r} is none of {hint}")
    if origin is typing.Literal:
        assert value in typing.get_args(hint), f"{where}: {value!r} is not one of {typing.get_args(hint)}"
    elif origin is tuple:
        item = typing.get_args(hint)[0]
        assert isinstance(value, tuple), f"{where}: {value!r} is not a tuple"
        for i, v in enumerate(value):
            assert_typed(v, item, f"{where}[{i}]")
    elif hint is type(None):
        assert value is None, f"{where}: {value!r} is not None"
    elif dataclasses.is_dataclass(hint):
        assert type(value) is hint, f"{where}: {value!r} is not a {hint}"
        for name, field_hint in typing.get_type_hints(hint, vars(events_module)).items():
            assert_typed(getattr(value, name), field_hint, f"{where}.{name}")
    elif hint is int:
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r} is not an int"
    else:
        assert type(value) is hint, f"{where}: {value!r} is not a {hint}"


def assert_event(event: object, where: str) -> None:
    assert isinstance(event, PushEvent | PullRequestEvent | TagEvent | ReleaseEvent | InstallationEvent | Ignored)
    assert_typed(event, type(event), where)


# ------------------------------------------------------------------------------------------ the tables
def wrong_type_cases() -> Iterator[Any]:
    for provider, normalize, event, payload, shape in BASES:
        base = Base(event, event, payload, shape)
        for path in base.read_paths():
            wrong = [r for r in REPLACEMENTS if json_type(r.value) not in base.documented(path)]
            if wrong and mutated(payload, path, wrong[0].value) is not None:
                yield pytest.param(normalize, base, path, id=f"{provider}-{event}-{show(path)}")


@pytest.mark.parametrize("provider", ["github", "gitlab", "bitbucket"])
def test_the_bases_are_valid_and_well_typed(provider: str) -> None:
    for name, normalize, event, payload, _ in BASES:
        if name == provider:
            for e in events_of(normalize(event, copy.deepcopy(payload))):
                assert_event(e, event)
                assert not isinstance(e, Ignored) or event in ("delete", "pullrequest:fulfilled"), e


@pytest.mark.parametrize(("normalize", "base", "path"), list(wrong_type_cases()))
def test_a_value_of_another_type_at_a_read_key_is_malformed_and_named(normalize: Normalize, base: Base,
                                                                      path: tuple[str | int, ...]) -> None:
    for replacement in REPLACEMENTS:
        if json_type(replacement.value) in base.documented(path):
            continue
        payload = mutated(base.payload, path, replacement.value)
        assert payload is not None
        with pytest.raises(MalformedPayloadError) as raised:
            normalize(base.event, payload)
        reason = raised.value.reason
        assert reason.startswith(f"malformed {base.event} payload: {show(path)} "), (replacement.kind, reason)


@pytest.mark.parametrize(("normalize", "base"), [
    pytest.param(normalize, Base(event, event, payload, shape), id=f"{provider}-{event}")
    for provider, normalize, event, payload, shape in BASES])
def test_any_value_anywhere_gives_a_well_typed_event_or_the_domain_error(normalize: Normalize, base: Base) -> None:
    tried, refused = 0, []
    for path in walk(base.payload, depth=6):
        for replacement in REPLACEMENTS:
            payload = mutated(base.payload, path, replacement.value)
            if payload is None:
                continue
            tried += 1
            try:
                result = normalize(base.event, payload)
            except MalformedPayloadError as error:
                refused.append(error.reason)
                continue
            for e in events_of(result):
                assert_event(e, f"{show(path)} := {replacement.kind}")
    assert tried > 100
    assert all(r.startswith(f"malformed {base.event} payload: ") for r in refused), refused


@pytest.mark.parametrize("payload", [None, [], "x", 1, True, 1.5])
@pytest.mark.parametrize(("normalize", "event"), [(github.normalize, "push"), (gitlab.normalize, "Push Hook"),
                                                  (bitbucket.normalize, "repo:push")])
def test_a_payload_that_is_not_an_object(normalize: Normalize, event: str, payload: object) -> None:
    with pytest.raises(MalformedPayloadError, match=f"^malformed {event} payload: the payload is not an object"):
        normalize(event, payload)


# ------------------------------------------------------------------------------------ documented as optional
def test_github_optional_and_nullable_keys() -> None:
    deleted = {**copy.deepcopy(PUSH), "after": "0" * 40, "deleted": True, "commits": [], "head_commit": None}
    event = github.normalize("push", deleted)
    assert isinstance(event, PushEvent) and event.after is None and event.head_message is None
    no_app = {k: v for k, v in copy.deepcopy(PUSH).items() if k != "installation"}  # a repository hook's delivery
    event = github.normalize("push", no_app)
    assert isinstance(event, PushEvent) and event.account_key is None
    no_lists = copy.deepcopy(PUSH)
    no_lists["commits"][0].update(added=None)
    event = github.normalize("push", no_lists)
    assert isinstance(event, PushEvent) and event.commits[0].files is None
    fork_gone = copy.deepcopy(PULL_REQUEST)
    fork_gone["pull_request"]["head"]["repo"] = None
    event = github.normalize("pull_request", fork_gone)
    assert isinstance(event, PullRequestEvent) and event.from_fork is None and event.action == "updated"
    fork = copy.deepcopy(PULL_REQUEST)
    fork["pull_request"]["head"]["repo"] = {**REPO, "id": 99, "full_name": "mallory/app"}
    event = github.normalize("pull_request", fork)
    assert isinstance(event, PullRequestEvent) and event.from_fork is True and event.number == 7
    untitled = copy.deepcopy(PULL_REQUEST)
    untitled["pull_request"]["title"] = None
    del untitled["number"]
    event = github.normalize("pull_request", untitled)
    assert isinstance(event, PullRequestEvent) and event.title is None and event.number == 7
    digits = copy.deepcopy(PUSH)
    digits["installation"]["id"] = "42"
    assert github.normalize("push", digits).account_key == "github#42"
    bare = {"id": 5, "full_name": "octo-org/app"}  # no owner, no URLs: what the name says
    event = github.normalize("create", {**CREATE, "repository": bare})
    assert isinstance(event, TagEvent) and event.repository.owner == "octo-org" and event.repository.private is None
    assert isinstance(github.normalize("issues", {"action": "opened", "repository": []}), Ignored)  # not used


def test_github_refuses_what_would_break_downstream() -> None:
    cases: list[tuple[tuple[str, ...], object, str]] = [
        (("pull_request", "head", "sha"), "d3022fc", "pull_request.head.sha is not a commit sha"),
        (("repository", "full_name"), "app", "repository.full_name is not a repository's full name"),
        (("installation", "id"), "x", "installation.id is not an integer (got string)"),
        (("installation", "id"), -1, "installation.id is not an installation id"),
        (("installation", "id"), "9" * 40, "installation.id is not an integer (got string)"),
        (("number",), True, "number is not an integer (got boolean)"),
        (("repository", "id"), "", "repository.id is not an id"),
    ]
    for path, value, problem in cases:
        payload = mutated(PULL_REQUEST, path, value)
        assert payload is not None
        with pytest.raises(MalformedPayloadError) as raised:
            github.normalize("pull_request", payload)
        assert raised.value.reason.startswith(f"malformed pull_request payload: {problem}"), raised.value.reason
    with pytest.raises(MalformedPayloadError, match=r"release\.tag_name is empty"):
        github.normalize("release", mutated(RELEASE, ("release", "tag_name"), ""))


def test_the_account_of_a_delivery_that_cannot_be_normalized() -> None:
    assert github.account_key_of({"installation": {"id": 42}, "ref": None}) == "github#42"
    assert github.account_key_of({"installation": {"id": "42"}}) == "github#42"
    unreadable: list[object] = [
        {}, [], None, {"installation": []}, {"installation": {"id": True}}, {"installation": {"id": 1.0}},
        {"installation": {"id": "x"}}, {"installation": {"id": -3}}, {"installation": {"id": "9" * 5000}},
        {"installation": {"id": 2**64}}, {"installation": None}]
    for payload in unreadable:
        assert github.account_key_of(payload) is None, payload


def test_gitlab_optional_and_nullable_keys() -> None:
    deleted = gitlab_payload("push-hook.json")
    deleted.update(after="0" * 40, checkout_sha=None, commits=[], total_commits_count=0)
    event = gitlab.normalize("Push Hook", deleted)
    assert isinstance(event, PushEvent) and event.deleted and event.after is None
    no_commits = gitlab_payload("push-hook.json")
    del no_commits["commits"], no_commits["total_commits_count"]
    event = gitlab.normalize("Push Hook", no_commits)
    assert isinstance(event, PushEvent) and event.commits == () and not event.commits_complete
    mr = gitlab_payload("merge-request-hook.json")
    mr["object_attributes"]["title"] = None
    mr["object_attributes"]["oldrev"] = None
    event = gitlab.normalize("Merge Request Hook", mr)
    assert isinstance(event, PullRequestEvent) and event.title is None
    release = gitlab_payload("release-hook.json")
    release["commit"] = None
    event = gitlab.normalize("Release Hook", release)
    assert isinstance(event, ReleaseEvent) and event.sha is None
    unnamed = gitlab_payload("push-hook.json")
    unnamed["project"]["path_with_namespace"] = ""
    assert isinstance(gitlab.normalize("Push Hook", unnamed), Ignored)
    assert isinstance(gitlab.normalize("Note Hook", {"project": "x"}), Ignored)  # not used: nothing to judge
    flat = gitlab_payload("push-hook.json")
    flat["project"]["path_with_namespace"] = "diaspora"
    with pytest.raises(MalformedPayloadError, match=r"project\.path_with_namespace is not a repository's full name"):
        gitlab.normalize("Push Hook", flat)


def test_bitbucket_optional_and_nullable_keys() -> None:
    deleted = bitbucket_payload("repo-push")
    deleted["push"]["changes"][0].update(new=None, commits=None, truncated=None)
    (event,) = events_of(bitbucket.normalize("repo:push", deleted))
    assert isinstance(event, PushEvent) and event.deleted and event.after is None and not event.commits_complete
    no_repos = bitbucket_payload("pull-request-created")
    no_repos["pullrequest"]["source"]["repository"] = None
    no_repos["pullrequest"]["title"] = None
    event = bitbucket.normalize("pullrequest:created", no_repos)
    assert isinstance(event, PullRequestEvent) and event.from_fork is None and event.title is None
    bare = bitbucket_payload("repo-push")
    bare["repository"] = {"uuid": "{x}", "full_name": "team_name/repo_name"}
    (event,) = events_of(bitbucket.normalize("repo:push", bare))
    assert isinstance(event, PushEvent) and event.repository.web_url is None and event.repository.private is None
    assert isinstance(bitbucket.normalize("issue:created", {"repository": 7}), Ignored)  # not used
    short = bitbucket_payload("repo-push")
    short["push"]["changes"][0]["new"]["target"]["hash"] = "709d658dc5b6"  # pushes name full hashes
    with pytest.raises(MalformedPayloadError, match=r"push\.changes\[0\]\.new\.target\.hash is not a commit sha"):
        bitbucket.normalize("repo:push", short)
