"""Bitbucket Cloud webhooks against real payloads (`../shared/fixtures/bitbucket-cloud/`): signature verification
over the raw bytes, delivery ids, and normalization (several changes per push, short hashes in pull requests)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from gitconnect.domain.events import Ignored, PullRequestEvent, PushEvent
from gitconnect.providers.bitbucket.webhooks import SPEC, normalize, signature, verify
from tests.support.bitbucket_fixtures import EVENT_KEYS, fixture_names, payload, raw

REPO_UUID = "{673a6070-3421-46c9-9d48-90745f7bfe8e}"
BUILDS_ON = {
    "repo-push", "pull-request-created", "pull-request-updated", "pull-request-merged", "pull-request-declined",
}


def test_every_fixture_has_its_event_key() -> None:
    assert fixture_names() == sorted(EVENT_KEYS)


@pytest.mark.parametrize("name", sorted(EVENT_KEYS))
def test_every_fixture_normalizes(name: str) -> None:
    result = normalize(EVENT_KEYS[name], payload(name))
    events = result if isinstance(result, tuple) else (result,)
    assert events
    for event in events:
        assert event.account_key is None  # the router knows the connection from the hook id in the URL
        assert event.repository is not None and event.repository.id == REPO_UUID
        assert event.repository.full_name == "team_name/repo_name" and event.repository.owner == "team_name"
        if name in BUILDS_ON:
            assert isinstance(event, PushEvent | PullRequestEvent), event
        else:
            assert isinstance(event, Ignored) and EVENT_KEYS[name] in event.reason


def test_push_change_as_bitbucket_sends_it() -> None:
    (event,) = normalize("repo:push", payload("repo-push"))
    assert isinstance(event, PushEvent)
    assert (event.ref, event.before, event.after) == (
        "refs/heads/name-of-branch",
        "1e65c05c1d5171631d92438a13901ca7dae9618c",
        "709d658dc5b6d6afcd46049c2f332ee3f515a67d",
    )
    assert not event.created and not event.deleted and not event.is_tag
    assert event.head_message == "new commit message\n"
    assert [c.sha for c in event.commits] == ["03f4a7270240708834de475bcf21532d6134777e"]
    assert event.commits[0].files is None  # Bitbucket never lists files: path rules ask the diffstat API
    assert event.commits_complete  # `truncated: false`
    assert event.repository.private is True
    assert event.repository.web_url == "https://api.bitbucket.org/bitbucket/bitbucket"


def _change(kind: str, name: str, old: str | None, new: str | None, *, truncated: bool = False) -> dict[str, Any]:
    def side(sha: str | None) -> dict[str, Any] | None:
        return None if sha is None else {"type": kind, "name": name, "target": {"type": "commit", "hash": sha,
                                                                               "message": f"at {sha[:4]}\n"}}
    return {"old": side(old), "new": side(new), "created": old is None, "closed": new is None, "forced": False,
            "truncated": truncated, "commits": [] if new is None else [{"hash": new, "message": "m\n"}]}


def test_one_push_moving_several_refs_is_one_event_per_ref() -> None:
    body = payload("repo-push")
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    body["push"]["changes"] = [
        _change("branch", "feature/x", None, a),  # created
        _change("tag", "v1.2", None, b),  # tag created
        _change("branch", "old", c, None),  # deleted
        _change("branch", "main", a, b, truncated=True),
        {"old": None, "new": {"type": "bookmark", "name": "hg"}},  # not a Git ref
    ]
    events = normalize("repo:push", body)
    assert isinstance(events, tuple) and len(events) == 5
    created, tag, deleted, moved, other = events
    assert isinstance(created, PushEvent) and created.created and created.before is None and created.after == a
    assert isinstance(tag, PushEvent) and tag.is_tag and tag.ref == "refs/tags/v1.2" and tag.after == b
    assert isinstance(deleted, PushEvent) and deleted.deleted and deleted.after is None and deleted.before == c
    assert isinstance(moved, PushEvent) and not moved.commits_complete and moved.head_message == f"at {b[:4]}\n"
    assert isinstance(other, Ignored)


def test_push_without_changes_is_ignored() -> None:
    body = payload("repo-push")
    body["push"]["changes"] = []
    assert isinstance(normalize("repo:push", body), Ignored)


@pytest.mark.parametrize(("name", "action"), [("pull-request-created", "opened"), ("pull-request-updated", "updated"),
                                              ("pull-request-merged", "closed"), ("pull-request-declined", "closed")])
def test_pull_requests(name: str, action: str) -> None:
    event = normalize(EVENT_KEYS[name], payload(name))
    assert isinstance(event, PullRequestEvent)
    assert (event.action, event.number, event.head_ref, event.base_ref) == (action, 1, "branch2", "master")
    assert event.head_sha == "d3022fc0ca3d"  # Bitbucket's short hash: the router resolves it
    assert event.from_fork is False and event.title == "Title of pull request"


def test_pull_request_from_a_fork() -> None:
    body = payload("pull-request-created")
    body["pullrequest"]["source"]["repository"]["uuid"] = "{another}"
    event = normalize("pullrequest:created", body)
    assert isinstance(event, PullRequestEvent) and event.from_fork is True


def test_malformed_payloads_are_ignored_not_raised() -> None:
    assert isinstance(normalize("repo:push", {}), Ignored)
    assert isinstance(normalize("repo:push", {"repository": {"uuid": "{x}", "full_name": "w/r"}, "push": 1}), Ignored)
    assert isinstance(normalize("pullrequest:created", {"repository": {"uuid": "{x}", "full_name": "w/r"}}), Ignored)
    body = payload("repo-push")
    body["push"]["changes"] = ["nope"]
    (event,) = normalize("repo:push", body)
    assert isinstance(event, Ignored)


def test_signature_over_the_raw_bytes() -> None:
    body = raw("repo-push")
    secret = "s3cret"
    good = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert signature(secret, body) == good
    assert verify({"x-hub-signature": good}, body, [secret])
    assert verify({"x-hub-signature": good.upper().replace("SHA256=", "sha256=")}, body, [secret])
    assert verify({"x-hub-signature": good}, body, ["old", secret])  # any of the accepted secrets
    assert not verify({"x-hub-signature": good}, body + b" ", [secret])  # re-serialized bytes do not verify
    assert not verify({"x-hub-signature": good}, body, ["other"])
    assert not verify({"x-hub-signature": good[len("sha256="):]}, body, [secret])  # no algorithm prefix
    assert not verify({}, body, [secret])
    assert not verify({"x-hub-signature": "sha256="}, body, [""])  # an empty secret never matches


def test_the_documented_hmac_vector() -> None:
    """The same HMAC-SHA256 hex as GitHub's documented vector (Bitbucket signs the same way, in X-Hub-Signature)."""
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify({"x-hub-signature": expected}, b"Hello, World!", ["It's a Secret to Everybody"])


def test_delivery_id_and_event_headers() -> None:
    assert SPEC.provider == "bitbucket"
    assert SPEC.event_header == "x-event-key"
    assert SPEC.delivery_id({"x-request-uuid": " 5b4b5e8e-1f1b-4c3e ", "x-attempt-number": "2"}) == "5b4b5e8e-1f1b-4c3e"
    assert SPEC.delivery_id({}) == ""
