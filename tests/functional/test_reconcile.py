"""Heads reconciled (issue 13 item 2) through the real handlers: pushes whose webhooks never came (GitHub sends no
push event for more than three tags pushed at once; GitLab none for a push of more than three refs) are found by the
reconcile pass that the scheduled sync fans out, and built once with the router's build id; a webhook arriving later
builds nothing more; a reconcile racing a webhook builds once; an idle pass costs GitHub two 304s and no rate limit; a
provider 5xx loses nothing. GitHub is the faithful fake; payloads are octokit's examples (GitLab:
test_reconcile_gitlab.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from gitconnect import wiring
from gitconnect.domain.ids import stable_id
from tests.functional.github_support import deliver, github_system
from tests.functional.test_github_flow import install, push_payload
from tests.support.fake_github import FakeGitHub, FakeRepo, fake_sha
from tests.support.inprocess import System

pytestmark = pytest.mark.slow  # a moto system and a provider fake per module: seconds

TEAM = "rec-team"
NULL = "0" * 40


@pytest.fixture(scope="module")
def gh() -> Iterator[tuple[System, FakeGitHub]]:
    os.environ["GITCONNECT_RECONCILE_SECONDS"] = "0"  # every scheduled sync reconciles every source (tests)
    try:
        with github_system() as pair:
            yield pair
    finally:
        os.environ.pop("GITCONNECT_RECONCILE_SECONDS", None)


def routed(system: System) -> list[dict[str, Any]]:
    system.drain("EventRouterFunction")
    system.drain("BuildTriggerFunction")
    return [e["detail"] for e in system.bus_events()]


def reconciled(system: System) -> list[dict[str, Any]]:
    """The scheduled sync finds the due reconciles (by_reconcile_due), SyncFunction runs them; what was built."""
    system.fire_schedule()
    system.drain("SyncFunction")
    return routed(system)


def github_source(
    system: System, fake: FakeGitHub, team: str, name: str, **rules: Any
) -> tuple[FakeRepo, dict[str, Any], int]:
    admin = system.token({team: "admin"}, sub="octocat")
    installation = fake.add_installation(f"{name}-org")
    repo = fake.add_repo(installation, f"{name}-org/app", branches={"main": fake_sha(f"{name}-main-1")})
    outcome = install(system, fake, admin, installation, user_installs=[installation], team=team)
    body = {"connection_id": outcome["connection_id"][0], "repository": repo.full_name, **rules}
    source = system.call("POST", f"/v1/teams/{team}/sources", token=admin, body=body)
    assert source.status == 201, source.body
    reconciled(system)  # the first passes: nothing moved since the baseline taken at create
    return repo, source.json(), installation


def deliveries(system: System, team: str, event: str) -> list[dict[str, Any]]:
    admin = system.token({team: "admin"})
    return [d for d in system.call("GET", f"/v1/teams/{team}/deliveries", token=admin).json()["items"]
            if d["event"] == event]


def tag_push(installation: int, repo: FakeRepo, tag: str, sha: str) -> dict[str, Any]:
    payload = push_payload(installation, repo, f"refs/tags/{tag}", NULL, sha)
    payload.update({"created": True, "base_ref": None})
    return payload


def test_four_tags_and_four_branches_pushed_without_webhooks_build_once_each(gh: tuple[System, FakeGitHub]) -> None:
    system, fake = gh
    repo, source, installation = github_source(system, fake, TEAM, "quad", branches=["main", "feature/*"],
                                               tags=["v*"])
    # Given four branches and four tags (one annotated) pushed at once: GitHub sends no push event for them
    for n in range(4):
        repo.branches[f"feature/{n}"] = fake.add_commit(repo.full_name, fake_sha(f"feature-{n}"))
        fake.add_tag(repo.full_name, f"v{n}", fake_sha(f"release-{n}"), annotated=n == 0)
    repo.branches["unwatched"] = fake_sha("unwatched")
    # When the scheduled sync reconciles
    built = reconciled(system)
    # Then each watched ref builds once, at its commit (the annotated tag's commit, not its tag object)
    assert sorted((b["trigger"], b["ref"], b["sha"]) for b in built) == sorted(
        [("push", f"refs/heads/feature/{n}", fake_sha(f"feature-{n}")) for n in range(4)]
        + [("tag", f"refs/tags/v{n}", fake_sha(f"release-{n}")) for n in range(4)])
    # With the ids the router gives those pushes (services/router.requested_build: a created branch has no before)
    ids = {b["ref"]: b["build_id"] for b in built}
    assert ids["refs/heads/feature/0"] == stable_id("bld", source["id"], "push", "refs/heads/feature/0",
                                                    fake_sha("feature-0"), "")
    assert ids["refs/tags/v1"] == stable_id("bld", source["id"], "tag", "refs/tags/v1", fake_sha("release-1"))
    # And the delivery log says they were recovered
    [entry] = [d for d in deliveries(system, TEAM, "reconcile") if d["outcome"] == "recovered"]
    assert sorted(entry["build_ids"]) == sorted(ids.values())
    assert "recovered: no webhook arrived for refs/heads/feature/2" in entry["reason"]
    assert "recovered: no webhook arrived for refs/tags/v3" in entry["reason"]
    # A second pass builds nothing more
    assert reconciled(system) == []

    # When the webhooks turn up after all (late): nothing more is built, and the log says why
    late = [push_payload(installation, repo, "refs/heads/feature/1", NULL, fake_sha("feature-1")),
            tag_push(installation, repo, "v2", fake_sha("release-2"))]
    late[0].update({"created": True})
    for n, payload in enumerate(late):
        assert deliver(system, "push", payload, delivery_id=f"late-{n}").status == 202
    assert routed(system) == []
    reasons = [d["reason"] for d in deliveries(system, TEAM, "push") if d["id"].startswith("late-")]
    assert len(reasons) == 2 and all("built already by the reconcile" in r for r in reasons), reasons


def test_a_moved_head_builds_with_the_router_id_and_a_racing_webhook_builds_once(
        gh: tuple[System, FakeGitHub]) -> None:
    system, fake = gh
    repo, source, installation = github_source(system, fake, "race-team", "race", branches=["main"])
    first = fake_sha("race-main-1")
    # A push GitHub failed to deliver: the reconcile builds it as the router would have (before = the old head)
    moved = repo.branches["main"] = fake.add_commit(repo.full_name, fake_sha("race-main-2"))
    [built] = reconciled(system)
    assert built["build_id"] == stable_id("bld", source["id"], "push", "refs/heads/main", moved, first)
    # A webhook queued before a pass and routed after it (the race): one build in all
    racing = repo.branches["main"] = fake.add_commit(repo.full_name, fake_sha("race-main-3"))
    assert deliver(system, "push", push_payload(installation, repo, "refs/heads/main", moved, racing)).status == 202
    system.fire_schedule()
    system.drain("SyncFunction")  # the reconcile sees the move before the router does
    assert [b["sha"] for b in routed(system)] == [racing]
    # The other order: the router first, then the pass: one build in all
    after = repo.branches["main"] = fake.add_commit(repo.full_name, fake_sha("race-main-4"))
    deliver(system, "push", push_payload(installation, repo, "refs/heads/main", racing, after))
    system.drain("EventRouterFunction")
    assert [b["sha"] for b in reconciled(system)] == [after]
    # Interleaved: the pass read what deliveries recorded before the router wrote, and both request the build:
    # the same id (the router's), so the builds consumer publishes it once
    stale = wiring.stores().seen.get("github", str(repo.id))
    last = repo.branches["main"] = fake.add_commit(repo.full_name, fake_sha("race-main-5"))
    deliver(system, "push", push_payload(installation, repo, "refs/heads/main", after, last))
    system.drain("EventRouterFunction")
    assert system.queue_depth("BuildsQueue") == 1
    report = replace(wiring.reconciler(), seen=_Frozen(stale)).reconcile_one("race-team", source["id"])
    assert report.builds == [stable_id("bld", source["id"], "push", "refs/heads/main", last, after)]
    assert system.queue_depth("BuildsQueue") == 2
    system.drain("BuildTriggerFunction")
    assert [b["detail"]["sha"] for b in system.bus_events()] == [last]


class _Frozen:
    """What deliveries had recorded when a pass read it (a pass that read before the router wrote)."""

    def __init__(self, refs: dict[str, Any]) -> None:
        self._refs = refs

    def get(self, provider: str, repository_id: str) -> dict[str, Any]:
        return self._refs


def test_an_idle_pass_costs_two_304s_and_no_rate_limit(gh: tuple[System, FakeGitHub]) -> None:
    system, fake = gh
    repo, source, _ = github_source(system, fake, "idle-team", "idle", branches=["main"], tags=["v*"])
    fake.clear_log()
    report = wiring.reconciler().reconcile_one("idle-team", source["id"])
    assert (report.outcome, report.calls, report.free) == ("unchanged", 2, 2)
    listed = fake.requests("GET", f"/repos/{repo.full_name}/")
    assert [(r.path.rsplit("/", 1)[1], r.status) for r in listed] == [("branches", 304), ("tags", 304)]
    assert all(r.headers.get("if-none-match", "").startswith('W/"') for r in listed)
    remaining = [int(r.response_headers["x-ratelimit-remaining"]) for r in listed]
    spent = [int(r.response_headers["x-ratelimit-used"]) for r in listed]
    assert remaining[0] == remaining[1] and spent[0] == spent[1]  # the second 304 spent nothing either
    # A moved branch: that listing answers 200 (a rate-limited call), and the tags are read again to be whole
    repo.branches["main"] = fake.add_commit(repo.full_name, fake_sha("idle-main-2"))
    moved = wiring.reconciler().reconcile_one("idle-team", source["id"])
    assert moved.outcome == "listed" and len(moved.builds) == 1 and moved.free == 1
    routed(system)


def test_a_provider_5xx_during_a_pass_loses_nothing(gh: tuple[System, FakeGitHub]) -> None:
    system, fake = gh
    repo, source, _ = github_source(system, fake, "fault-team", "fault", branches=["main"])
    moved = repo.branches["main"] = fake.add_commit(repo.full_name, fake_sha("fault-main-2"))
    # GitHub answers 502 to every try of the listing in this pass (the HTTP client's retries included)
    fake.fail_next(f"/repos/{repo.full_name}/branches", 502, times=10)
    report = wiring.reconciler().reconcile_one("fault-team", source["id"])
    assert report.outcome == "failed" and "502" in report.reason
    assert routed(system) == []
    fake._faults.clear()  # GitHub is back (the fault list is the fake's own)
    # The next pass sees the same move and builds it, once
    assert [b["sha"] for b in reconciled(system)] == [moved]
    assert reconciled(system) == []


def test_the_connection_shows_the_rate_limit_of_githubs_last_answer(gh: tuple[System, FakeGitHub]) -> None:
    system, fake = gh
    team = "limit-team"
    repo, source, _ = github_source(system, fake, team, "limit", branches=["main"])
    admin = system.token({team: "admin"})
    path = f"/v1/teams/{team}/connections/{source['connection_id']}"
    shown = system.call("GET", path, token=admin).json()["rate_limit"]
    last = [r for r in fake.log if r.path.startswith(f"/repos/{repo.full_name}/")][-1].response_headers
    assert shown["limit"] == 5000 and shown["remaining"] <= int(last["x-ratelimit-remaining"]) + 500
    assert shown["reset_at"].endswith("Z") and shown["observed_at"]
    listed = system.call("GET", f"/v1/teams/{team}/connections", token=admin).json()["items"]
    assert [c["rate_limit"] for c in listed] == [shown]
    # Recorded cheaply: a few hundred more calls for the connection write it a few times, not once per call
    writes = wiring.rate_limits().writes
    for _ in range(40):
        wiring.reconciler().reconcile_one(team, source["id"])
    assert wiring.rate_limits().writes - writes <= 2
