"""Every example delivery of npm @octokit/webhooks-examples for the events we handle, signed at test time, through
the real intake and router: never a 5xx, never a poison message; each normalizes to what its event means."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest

from gitconnect.domain.events import Ignored, InstallationEvent, PullRequestEvent, PushEvent, ReleaseEvent, TagEvent
from gitconnect.providers.github.webhooks import normalize, signature_valid
from tests.functional.github_support import deliver, github_system, readdress
from tests.functional.test_github_flow import TEAM, install
from tests.support.fake_github import FakeGitHub
from tests.support.inprocess import System
from tests.support.registry import github_webhook_examples

EVENTS = ("push", "pull_request", "create", "delete", "release", "installation", "installation_repositories", "ping")


def examples() -> list[tuple[str, int, dict[str, Any]]]:
    found = github_webhook_examples()
    return [(event, i, payload) for event in EVENTS for i, payload in enumerate(found[event])]


def test_githubs_documented_signature_vector() -> None:
    body, secret = b"Hello, World!", "It's a Secret to Everybody"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() == expected
    assert signature_valid(body, expected, [secret])
    assert signature_valid(body, expected, ["the new secret", secret])  # rotation: either secret
    assert not signature_valid(body, expected, ["another secret"])
    assert not signature_valid(body + b" ", expected, [secret])
    assert not signature_valid(body, expected.replace("sha256=", "sha1="), [secret])
    assert not signature_valid(body, None, [secret])
    assert not signature_valid(body, expected, [""])


KINDS = {"push": PushEvent, "pull_request": PullRequestEvent, "release": ReleaseEvent,
         "installation": InstallationEvent, "installation_repositories": InstallationEvent}


@pytest.mark.parametrize(("event", "index", "payload"), examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_example_normalizes(event: str, index: int, payload: dict[str, Any]) -> None:
    result = normalize(event, payload)
    if event == "ping" or event == "delete":
        assert isinstance(result, Ignored)
    elif event == "create":
        assert isinstance(result, TagEvent if payload["ref_type"] == "tag" else Ignored)
    elif event == "installation" and payload["action"] not in ("created", "deleted", "suspend", "unsuspend"):
        assert isinstance(result, Ignored)
    else:
        assert isinstance(result, KINDS[event]), result
    if isinstance(result, PushEvent):
        assert result.ref == payload["ref"] and (result.after is None) == payload["deleted"]
        assert result.commits_complete and len(result.commits) == len(payload["commits"])
    if isinstance(result, PullRequestEvent):
        assert result.number == payload["number"] and result.head_sha == payload["pull_request"]["head"]["sha"]


@pytest.fixture(scope="module")
def gh() -> Iterator[tuple[System, FakeGitHub, dict[str, Any]]]:
    with github_system() as (system, fake):
        installation = fake.add_installation("octo-org")
        repo = fake.add_repo(installation, "octo-org/app")
        token = system.token({TEAM: "admin"})
        outcome = install(system, fake, token, installation, user_installs=[installation])
        system.call("POST", f"/v1/teams/{TEAM}/sources", token=token, body={
            "connection_id": outcome["connection_id"][0], "repository": "octo-org/app", "branches": ["**"],
            "tags": ["**"], "releases": True, "pull_requests": {"enabled": True, "forks": "build"}})
        yield system, fake, {"installation": installation, "repo": repo}


def test_every_example_through_intake_and_router(gh: tuple[System, FakeGitHub, dict[str, Any]]) -> None:
    system, _, linked = gh
    statuses = []
    for event, _index, payload in examples():
        # As GitHub sent it (an installation we do not know), and re-addressed to the linked repository
        statuses.append(deliver(system, event, payload).status)
        if event not in ("installation", "installation_repositories"):  # those would unlink our installation
            statuses.append(deliver(system, event, readdress(dict(payload), linked["installation"],
                                                             linked["repo"])).status)
    assert set(statuses) <= {200, 202}
    results = system.drain("EventRouterFunction", rounds=50)
    assert sum(r.received for r in results) == sum(1 for s in statuses if s == 202)
    assert all(not r.failed_ids and r.error is None for r in results)
    assert system.queue_depth("EventsDLQ") == 0
    system.drain("BuildTriggerFunction", rounds=50)
    assert system.queue_depth("BuildsDLQ") == 0
    built = system.bus_events()
    assert {e["detail"]["trigger"] for e in built} >= {"push", "pull_request"}
