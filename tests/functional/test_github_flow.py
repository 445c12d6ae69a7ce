"""GitHub end to end through the real handlers: App install flow, repositories, webhooks to builds, status back.
GitHub itself is the faithful fake (tests/support/fake_github.py); payloads are octokit's real examples."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gitconnect import wiring
from gitconnect.domain.models import Restrictions
from tests.functional.github_support import DASHBOARD, deliver, example, github_system, readdress
from tests.support.fake_github import FakeGitHub, FakeRepo, fake_sha
from tests.support.inprocess import System

TEAM = "octo-team"


@pytest.fixture(scope="module")
def gh() -> Iterator[tuple[System, FakeGitHub]]:
    with github_system() as pair:
        yield pair


@pytest.fixture(scope="module")
def admin(gh: tuple[System, FakeGitHub]) -> str:
    return gh[0].token({TEAM: "admin"}, sub="octocat")


def install(system: System, fake: FakeGitHub, token: str, installation_id: int, *, user_installs: list[int],
            team: str = TEAM) -> dict[str, list[str]]:
    """The browser's round trip: authorize -> GitHub -> callback; returns the dashboard redirect's query."""
    reply = system.call("POST", f"/v1/teams/{team}/connections/github/authorize", token=token)
    assert reply.status == 200, reply.body
    url = reply.json()["url"]
    assert url.startswith(f"{fake.web_url}/apps/{fake.app_slug}/installations/new?state=")
    state = parse_qs(urlsplit(url).query)["state"][0]
    code = fake.issue_code(fake.add_user("octocat", user_installs))
    back = system.call("GET", f"/v1/oauth/github/callback?installation_id={installation_id}&setup_action=install"
                              f"&code={code}&state={state}")
    assert back.status == 302
    location = back.headers["location"]
    assert location.startswith(DASHBOARD + "?")
    return parse_qs(urlsplit(location).query) | {"_state": [state]}


@pytest.fixture(scope="module")
def linked(gh: tuple[System, FakeGitHub], admin: str) -> dict[str, Any]:
    system, fake = gh
    installation = fake.add_installation("octo-org")
    repo = fake.add_repo(installation, "octo-org/app", branches={"main": fake_sha("main-1"), "dev": fake_sha("d")})
    fake.add_repo(installation, "octo-org/other")
    outcome = install(system, fake, admin, installation, user_installs=[installation])
    assert outcome["outcome"] == ["linked"], outcome
    source = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": outcome["connection_id"][0], "repository": "octo-org/app", "branches": ["main"],
        "tags": ["v*"], "releases": True, "pull_requests": {"enabled": True, "forks": "skip"}})
    assert source.status == 201, source.body
    return {"installation": installation, "repo": repo, "connection_id": outcome["connection_id"][0],
            "source": source.json()}


def routed(system: System) -> list[dict[str, Any]]:
    """Run the router and the builds consumer; the BuildRequested events published."""
    system.drain("EventRouterFunction")
    system.drain("BuildTriggerFunction")
    return [e["detail"] for e in system.bus_events()]


def push_payload(installation: int, repo: FakeRepo, ref: str, before: str, after: str,
                 message: str = "change") -> dict[str, Any]:
    payload = readdress(example("push", where=lambda p: p["ref"].startswith("refs/heads/") and p["commits"]),
                        installation, repo)
    payload.update({"ref": ref, "before": before, "after": after, "created": False, "deleted": False})
    payload["head_commit"] = {**(payload.get("head_commit") or {}), "id": after, "message": message}
    payload["commits"] = [{**payload["commits"][0], "id": after, "message": message}]
    return payload


def test_install_link_is_verified_and_one_time(gh: tuple[System, FakeGitHub], admin: str,
                                               linked: dict[str, Any]) -> None:
    system, fake = gh
    connection = system.call("GET", f"/v1/teams/{TEAM}/connections/{linked['connection_id']}", token=admin).json()
    assert (connection["provider"], connection["account"], connection["status"]) == ("github", "octo-org", "active")
    assert connection["installation_id"] == str(linked["installation"])
    assert connection["settings_url"]  # "edit installation" goes there
    # A spoofed installation id (the user cannot access it) is refused, and nothing is stored
    foreign = fake.add_installation("someone-else")
    refused = install(system, fake, admin, foreign, user_installs=[linked["installation"]])
    assert refused["outcome"] == ["error"] and "not accessible" in refused["reason"][0]
    # A reused state is refused
    again = system.call("GET", f"/v1/oauth/github/callback?installation_id={foreign}&code=x"
                               f"&state={refused['_state'][0]}")
    assert "already used" in parse_qs(urlsplit(again.headers["location"]).query)["reason"][0]
    forged = system.call("GET", f"/v1/oauth/github/callback?installation_id={foreign}&code=x&state=forged")
    assert parse_qs(urlsplit(forged.headers["location"]).query)["outcome"] == ["error"]
    items = system.call("GET", f"/v1/teams/{TEAM}/connections", token=admin).json()["items"]
    assert [c["id"] for c in items] == [linked["connection_id"]]
    # Only admins start a link
    member = system.token({TEAM: "member"})
    assert system.call("POST", f"/v1/teams/{TEAM}/connections/github/authorize", token=member).status == 403


def test_repositories_and_branches(gh: tuple[System, FakeGitHub], admin: str, linked: dict[str, Any]) -> None:
    system, _ = gh
    base = f"/v1/teams/{TEAM}/connections/{linked['connection_id']}"
    repos = system.call("GET", f"{base}/repositories", token=admin).json()["items"]
    assert [r["full_name"] for r in repos] == ["octo-org/app", "octo-org/other"]
    assert system.call("GET", f"{base}/repositories?search=oth", token=admin).json()["items"][0]["full_name"] == (
        "octo-org/other")
    branches = system.call("GET", f"{base}/branches?repository=octo-org/app", token=admin).json()["items"]
    assert branches == [{"name": "dev", "sha": fake_sha("d")}, {"name": "main", "sha": fake_sha("main-1")}]
    assert system.call("GET", f"{base}/namespaces", token=admin).json()["items"] == [{"name": "octo-org",
                                                                                       "allowed": True}]


def test_push_builds_once_and_status_goes_back(gh: tuple[System, FakeGitHub], admin: str,
                                               linked: dict[str, Any]) -> None:
    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    after = fake.add_commit(repo.full_name, fake_sha("main-2"))
    payload = push_payload(installation, repo, "refs/heads/main", fake_sha("main-1"), after)
    replies = [deliver(system, "push", payload, delivery_id="delivery-push-1") for _ in range(4)]
    assert [r.status for r in replies] == [202] * 4
    events = routed(system)
    assert [(e["sha"], e["trigger"], e["ref"]) for e in events] == [(after, "push", "refs/heads/main")]
    # The builder reports back; GitHub shows a commit status
    report = system.call("POST", f"/v1/builds/{events[0]['build_id']}/status", token=events[0]["callback_token"],
                         body={"status": "succeeded", "url": "https://ci.example/1", "description": "ok"})
    assert report.status == 200
    system.drain("StatusMirrorFunction")  # statuses go to GitHub through their queue
    assert [(s["state"], s["context"], s["target_url"]) for s in fake.statuses(repo.full_name, after)] == [
        ("success", "gitconnect", "https://ci.example/1")]
    log = system.call("GET", f"/v1/teams/{TEAM}/deliveries", token=admin).json()["items"]
    assert sorted((d["id"], d["outcome"], d["build_ids"]) for d in log) == [
        ("delivery-push-1", "built", [events[0]["build_id"]])] + [("delivery-push-1", "duplicate", [])] * 3


def test_unwatched_branch_skip_flag_and_ping_are_explained(gh: tuple[System, FakeGitHub], admin: str,
                                                           linked: dict[str, Any]) -> None:
    system, _ = gh
    repo, installation = linked["repo"], linked["installation"]
    deliver(system, "push", push_payload(installation, repo, "refs/heads/dev", fake_sha("d"), fake_sha("d2")),
            delivery_id="d-dev")
    deliver(system, "push", push_payload(installation, repo, "refs/heads/main", fake_sha("m2"), fake_sha("m3"),
                                         message="docs [skip ci]"), delivery_id="d-skip")
    ping = deliver(system, "ping", example("ping"))
    assert ping.status == 200
    assert routed(system) == []
    reasons = {d["id"]: d["reason"] for d in
               system.call("GET", f"/v1/teams/{TEAM}/deliveries", token=admin).json()["items"]}
    assert "branch dev is not watched" in reasons["d-dev"]
    assert "[skip ci]" in reasons["d-skip"]


def test_pull_requests_forks_tags_and_releases(gh: tuple[System, FakeGitHub], linked: dict[str, Any]) -> None:
    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    pr = readdress(example("pull_request", action="opened"), installation, repo)
    pr["pull_request"]["base"]["ref"] = "main"
    head = pr["pull_request"]["head"]["sha"]
    fork = readdress(example("pull_request", action="opened"), installation, repo)
    fork["pull_request"]["head"]["repo"] = {**(fork["pull_request"]["head"]["repo"] or {}), "id": 999999,
                                            "full_name": "mallory/app", "fork": True}
    closed = readdress(example("pull_request", action="closed"), installation, repo)
    for event, payload in (("pull_request", pr), ("pull_request", fork), ("pull_request", closed)):
        assert deliver(system, event, payload).status == 202
    built = routed(system)
    number = pr["pull_request"]["number"]
    assert [(e["trigger"], e["sha"], e["pull_request"]["number"], e["ref"], e["clone_url"]) for e in built] == [
        ("pull_request", head, number, f"refs/pull/{number}/head", f"{fake.web_url}/{repo.full_name}.git")]

    # A tag arrives twice (its push and its `create`): one build; the `create` resolves the sha through the API
    commit = fake_sha("release-commit")
    fake.add_tag(repo.full_name, "v1.0.0", commit, annotated=True)
    tag_push = push_payload(installation, repo, "refs/tags/v1.0.0", "0" * 40, commit)
    tag_push["created"] = True
    create = readdress(example("create", where=lambda p: p["ref_type"] == "tag"), installation, repo)
    create["ref"] = "v1.0.0"
    deliver(system, "push", tag_push)
    deliver(system, "create", create)
    assert [(e["trigger"], e["ref"], e["sha"]) for e in routed(system)] == [("tag", "refs/tags/v1.0.0", commit)]

    release = readdress(example("release", action="published"), installation, repo)
    release["release"]["tag_name"] = "v1.0.0"
    deliver(system, "release", release)
    # The release names the tag just built: the same build (no second BuildRequested), which lists both triggers
    assert routed(system) == []
    builds = system.call("GET", f"/v1/teams/{TEAM}/builds?source_id={linked['source']['id']}",
                         token=system.token({TEAM: "member"})).json()["items"]
    [tag_build] = [b for b in builds if b["ref"] == "refs/tags/v1.0.0"]
    assert (tag_build["trigger"], tag_build["triggers"], tag_build["sha"]) == ("tag", ["release", "tag"], commit)


def test_manual_build_resolves_the_head_through_the_api(gh: tuple[System, FakeGitHub], admin: str,
                                                        linked: dict[str, Any]) -> None:
    system, fake = gh
    fake.repo("octo-org/app").branches["main"] = head = fake.add_commit("octo-org/app", fake_sha("main-9"))
    reply = system.call("POST", f"/v1/teams/{TEAM}/sources/{linked['source']['id']}/builds", token=admin,
                        body={"branch": "main"})
    assert reply.status == 202 and reply.json()["sha"] == head
    assert [e["sha"] for e in routed(system)] == [head]


def test_sources_watching_only_releases_tags_or_pull_requests(gh: tuple[System, FakeGitHub], admin: str,
                                                             linked: dict[str, Any]) -> None:
    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]

    def create(**rules: Any) -> Any:
        return system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
            "connection_id": linked["connection_id"], "repository": "octo-org/other", **rules})

    # Any one trigger is enough; none at all (or pull requests switched off) is a 400, and nothing is stored
    before = system.call("GET", f"/v1/teams/{TEAM}/sources", token=admin).json()["items"]
    for nothing in ({}, {"branches": []}, {"releases": False}, {"pull_requests": {"enabled": False}}):
        refused = create(**nothing)
        assert refused.status == 400 and "at least one of" in refused.json()["detail"], (nothing, refused.body)
    assert system.call("GET", f"/v1/teams/{TEAM}/sources", token=admin).json()["items"] == before
    for only in ({"releases": True}, {"tags": ["v*"]}, {"pull_requests": {"enabled": True}}):
        made = create(**only)
        assert made.status == 201, (only, made.body)
        assert made.json()["branches"] == []
        assert system.call("DELETE", f"/v1/teams/{TEAM}/sources/{made.json()['id']}", token=admin).status == 204
    # A releases-only source builds the published release, and nothing of a push to main
    releases_only = system.call("PATCH", f"/v1/teams/{TEAM}/sources/{linked['source']['id']}", token=admin,
                                body={"branches": [], "tags": [], "pull_requests": {"enabled": False}})
    assert releases_only.status == 200 and releases_only.json()["releases"] is True
    try:
        push = push_payload(installation, repo, "refs/heads/main", fake_sha("ro-1"), fake_sha("ro-2"))
        deliver(system, "push", push)
        assert routed(system) == []
        commit = fake_sha("release-only-commit")
        fake.add_tag(repo.full_name, "v2.0.0", commit)
        release = readdress(example("release", action="published"), installation, repo)
        release["release"]["tag_name"] = "v2.0.0"
        deliver(system, "release", release)
        assert [(e["trigger"], e["ref"], e["sha"]) for e in routed(system)] == [
            ("release", "refs/tags/v2.0.0", commit)]
        # Leaving a source with nothing to watch is a 400 too, and the source keeps its rules
        emptied = system.call("PATCH", f"/v1/teams/{TEAM}/sources/{linked['source']['id']}", token=admin,
                              body={"releases": False})
        assert emptied.status == 400
        assert system.call("GET", f"/v1/teams/{TEAM}/sources/{linked['source']['id']}",
                           token=admin).json()["releases"] is True
    finally:
        system.call("PATCH", f"/v1/teams/{TEAM}/sources/{linked['source']['id']}", token=admin, body={
            "branches": ["main"], "tags": ["v*"], "pull_requests": {"enabled": True, "forks": "skip"}})



def test_a_merge_queue_group_builds_once_and_its_status_lands_on_its_head(gh: tuple[System, FakeGitHub],
                                                                         linked: dict[str, Any]) -> None:
    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    # Given a merge queue on main asking for checks (octokit's real merge_group example, re-addressed)
    group = readdress(example("merge_group", action="checks_requested"), installation, repo)
    head = fake.add_commit(repo.full_name, fake_sha("merge-group-head"))
    queue_branch = "gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64"
    group["merge_group"].update(head_sha=head, head_ref=f"refs/heads/{queue_branch}", base_ref="refs/heads/main")
    # When GitHub sends it twice (and the queue's branch push, which a `**` source would otherwise build)
    assert deliver(system, "merge_group", group).status == 202
    assert deliver(system, "merge_group", group).status == 202
    deliver(system, "push", push_payload(installation, repo, f"refs/heads/{queue_branch}", "0" * 40, head))
    # Then one build of the group's head commit, on the queue's ref
    [built] = routed(system)
    assert (built["trigger"], built["ref"], built["sha"]) == ("merge_group", f"refs/heads/{queue_branch}", head)
    # And its status lands on that commit, where the merge queue waits for it
    report = system.call("POST", f"/v1/builds/{built['build_id']}/status", token=built["callback_token"],
                         body={"status": "succeeded"})
    assert report.status == 200
    system.drain("StatusMirrorFunction")
    assert [(s["state"], s["context"]) for s in fake.statuses(repo.full_name, head)] == [("success", "gitconnect")]
    # A group into a branch the source does not watch builds nothing, and says why
    other = readdress(example("merge_group", action="checks_requested"), installation, repo)
    other["merge_group"].update(head_sha=fake_sha("other-group"), base_ref="refs/heads/develop",
                                head_ref="refs/heads/gh-readonly-queue/develop/pr-1-x")
    deliver(system, "merge_group", other, delivery_id="group-develop")
    assert routed(system) == []
    log = system.call("GET", f"/v1/teams/{TEAM}/deliveries", token=system.token({TEAM: "member"})).json()["items"]
    [entry] = [d for d in log if d["id"] == "group-develop"]
    assert "merge groups into develop are not built" in entry["reason"]


def test_a_github_rate_limit_is_a_503_with_retry_after(gh: tuple[System, FakeGitHub], admin: str,
                                                       linked: dict[str, Any]) -> None:
    system, fake = gh
    reset = int(fake.clock()) + 1800
    fake.fail_next("/repos/octo-org/app", 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
                   body={"message": "API rate limit exceeded for installation ID 1.",
                         "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})
    reply = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": linked["connection_id"], "repository": "octo-org/app", "branches": ["main"]})
    assert reply.status == 503 and reply.headers["content-type"] == "application/problem+json"
    assert 1790 <= int(reply.headers["retry-after"]) <= 1800
    assert reply.json()["retry_after"] == int(reply.headers["retry-after"])


def _release_delayed(system: System, logical_id: str) -> int:
    """What SQS does when a message's DelaySeconds pass (moto keeps real time; a test cannot wait 15 minutes)."""
    from moto.sqs.models import sqs_backends

    name = system.res.attrs[logical_id]["QueueName"]
    queue = sqs_backends[system.res.account_id][system.res.region].queues[name]
    delayed = [m for m in queue._messages if m.delayed]
    for message in delayed:
        message.delayed_until = 0
    return len(delayed)


def test_a_rate_limit_in_the_router_waits_for_the_reset_and_builds_then(
        gh: tuple[System, FakeGitHub], linked: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from gitconnect import wiring

    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    commit = fake_sha("limited-tag")
    fake.add_tag(repo.full_name, "v7.0.0", commit)
    # Given GitHub's installation rate limit, reset in an hour, on the call the router needs (the tag's commit)
    reset = int(fake.clock()) + 3600
    ref = f"/repos/{repo.full_name}/git/ref/tags/v7.0.0"
    fake.fail_next(ref, 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
                   body={"message": "API rate limit exceeded for installation ID 1.",
                         "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})
    create = readdress(example("create", where=lambda p: p["ref_type"] == "tag"), installation, repo)
    create["ref"] = "v7.0.0"
    assert deliver(system, "create", create, delivery_id="limited-create").status == 202
    # When the router meets it
    assert routed(system) == []
    # Then the delivery waits on its queue, delayed (not failed, not dead-lettered)
    assert _release_delayed(system, "EventsQueue") == 1 and system.queue_depth("EventsDLQ") == 0
    asked = len(fake.requests("GET", ref))
    # Fifteen minutes on, the limit still holds: it waits again without asking GitHub
    assert routed(system) == [] and len(fake.requests("GET", ref)) == asked
    assert _release_delayed(system, "EventsQueue") == 1
    # After the reset it is routed: one build, logged as usual
    monkeypatch.setattr(wiring.waiting_room(), "clock", lambda: reset + 1.0)
    assert [(e["trigger"], e["ref"], e["sha"]) for e in routed(system)] == [("tag", "refs/tags/v7.0.0", commit)]
    assert system.queue_depth("EventsDLQ") == 0


class _FreeLease:
    def acquire(self, lease_id: str, expires_at: int) -> bool:
        return True


def test_deliveries_github_failed_to_make_are_asked_for_once_and_build(
        gh: tuple[System, FakeGitHub], admin: str, linked: dict[str, Any]) -> None:
    from dataclasses import replace

    from gitconnect import wiring

    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    fake.send_webhook = lambda guid, event, payload: deliver(system, event, payload, delivery_id=guid).status
    lost = fake.add_commit(repo.full_name, fake_sha("lost-push"))
    # Given GitHub's log: a push it could not deliver (our intake timed out), one it did, one we refused (401)
    fake.record_delivery("lost-push-1", "push", push_payload(installation, repo, "refs/heads/main",
                                                             fake_sha("lost-before"), lost), 0)
    fake.record_delivery("fine-push-1", "push", push_payload(installation, repo, "refs/heads/main",
                                                             fake_sha("f1"), fake_sha("f2")), 202)
    fake.record_delivery("refused-1", "push", push_payload(installation, repo, "refs/heads/main",
                                                           fake_sha("r1"), fake_sha("r2")), 401)
    # When the scheduled sync runs
    report = system.fire_schedule()
    # Then GitHub was asked to deliver the lost one again (only that one), and it built
    assert report["redelivered"] == {"github": ["lost-push-1"]}
    assert [(e["trigger"], e["sha"]) for e in routed(system)] == [("push", lost)]
    log = [d for d in system.call("GET", f"/v1/teams/{TEAM}/deliveries", token=admin).json()["items"]
           if d["id"] == "lost-push-1"]
    assert sorted(d["outcome"] for d in log) == ["built", "recovered"]
    [recovered] = [d for d in log if d["outcome"] == "recovered"]
    assert "timed out" in recovered["reason"] and "asked it to deliver it again" in recovered["reason"]
    # A later pass asks for nothing: GitHub's log shows the redelivery
    again = replace(wiring.recovery(), leases=_FreeLease()).run()
    assert again.redelivered == {} and again.failed == {}
    assert len([d for d in fake.hook_deliveries if d["guid"] == "lost-push-1"]) == 2
    # And a pass within the interval does not even read GitHub's log
    asked = len(fake.requests("GET", "/app/hook/deliveries"))
    assert system.fire_schedule()["redelivered"] == {}
    assert len(fake.requests("GET", "/app/hook/deliveries")) == asked


def test_a_pass_near_its_deadline_leaves_the_rest_for_the_next_one(
        gh: tuple[System, FakeGitHub], linked: dict[str, Any]) -> None:
    from dataclasses import replace

    from gitconnect import wiring

    _, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    fake.send_webhook = lambda guid, event, payload: 502  # GitHub cannot reach us: the redeliveries fail too
    for n in (1, 2, 3):
        fake.record_delivery(f"late-{n}", "push", push_payload(installation, repo, "refs/heads/dev", fake_sha(f"l{n}"),
                                                               fake_sha(f"m{n}")), 502)
    def asked() -> int:
        return len(fake.requests("POST", "/app/hook/deliveries/"))

    before = asked()
    # Given a Lambda whose time runs out after the first delivery is asked for (each check takes a second off)
    clock = iter([60_000, 1_000, 1_000, 1_000])
    first = replace(wiring.recovery(), leases=_FreeLease()).run(lambda: next(clock), margin_ms=5_000)
    assert sum(len(g) for g in first.redelivered.values()) == 1
    assert first.skipped["github"].startswith("stopped before the deadline")
    # Then the next pass asks for the two left, and nothing twice
    second = replace(wiring.recovery(), leases=_FreeLease()).run(lambda: 60_000)
    assert sorted(first.redelivered["github"] + second.redelivered["github"]) == ["late-1", "late-2", "late-3"]
    assert asked() - before == 3  # each once


def test_a_delivery_github_keeps_failing_is_asked_for_once(
        gh: tuple[System, FakeGitHub], linked: dict[str, Any]) -> None:
    from dataclasses import replace

    from gitconnect import wiring

    _, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    fake.send_webhook = lambda guid, event, payload: 502  # a long outage: every attempt fails, redeliveries too
    fake.record_delivery("outage-1", "push", push_payload(installation, repo, "refs/heads/dev", fake_sha("o1"),
                                                          fake_sha("o2")), 502)

    def attempts() -> int:
        return len(fake.requests("POST", "/app/hook/deliveries/"))

    def run() -> Any:
        return replace(wiring.recovery(), leases=_FreeLease()).run()  # every pass past the interval lease

    before = attempts()
    assert run().redelivered == {"github": ["outage-1"]}
    assert attempts() == before + 1
    assert [d["status_code"] for d in fake.hook_deliveries if d["guid"] == "outage-1"] == [502, 502]
    # GitHub's log shows the failed redelivery: later passes ask for nothing
    assert run().redelivered == {} and attempts() == before + 1
    # Even when GitHub's log does not show the redelivery (yet, or no more): the GUID is remembered
    fake.hook_deliveries = [d for d in fake.hook_deliveries if not (d["guid"] == "outage-1" and d["redelivery"])]
    again = run()
    assert again.redelivered == {} and again.skipped.get("outage-1") == "asked for once already"
    assert attempts() == before + 1
    # A request GitHub refused (5xx) was not a request: the next pass asks, once
    fake.record_delivery("outage-2", "push", push_payload(installation, repo, "refs/heads/dev", fake_sha("o3"),
                                                          fake_sha("o4")), 0)
    fake.fail_next("/app/hook/deliveries/", 500, method="POST", times=10)
    refused = run()
    assert "outage-2" in refused.failed and refused.redelivered == {}
    fake._faults.clear()  # GitHub answers again (the fault list is the fake's own)
    assert run().redelivered == {"github": ["outage-2"]}
    assert run().redelivered == {}
    assert attempts() == before + 3  # outage-1 once; outage-2 refused once (a POST is not retried), then asked once


def test_the_delivery_log_is_read_by_cursor_and_bounded_per_pass(
        gh: tuple[System, FakeGitHub], linked: dict[str, Any]) -> None:
    from dataclasses import replace

    from gitconnect import wiring

    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    fake.send_webhook = lambda guid, event, payload: deliver(system, event, payload, delivery_id=guid).status
    # Given a failed delivery behind 250 that went through (three pages of 100)
    fake.record_delivery("deep-failure", "push", push_payload(installation, repo, "refs/heads/dev", fake_sha("x"),
                                                              fake_sha("y")), 502)
    for i in range(250):
        fake.record_delivery(f"ok-{i}", "ping", {"zen": "ok", "installation": {"id": installation}}, 200)
    fake.clear_log()
    # A pass bounded to two pages does not reach it (and reads exactly two pages)
    shallow = replace(wiring.recovery(), leases=_FreeLease(), max_pages=2).run()
    assert shallow.redelivered == {} and len(fake.requests("GET", "/app/hook/deliveries")) == 2
    # Three pages, following GitHub's cursor links, do
    deep = replace(wiring.recovery(), leases=_FreeLease(), max_pages=3).run()
    assert deep.redelivered == {"github": ["deep-failure"]}
    pages = fake.requests("GET", "/app/hook/deliveries")
    assert len(pages) == 2 + 3 and pages[-1].query["cursor"][0].startswith("v1_")
    routed(system)


def test_a_build_shows_pending_at_once_and_statuses_outlive_a_provider_outage(
        gh: tuple[System, FakeGitHub], linked: dict[str, Any]) -> None:
    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    after = fake.add_commit(repo.full_name, fake_sha("pending-2"))
    deliver(system, "push", push_payload(installation, repo, "refs/heads/main", fake_sha("pending-1"), after))
    [built] = routed(system)
    # Requested: `pending` on the commit before the builder says anything
    system.drain("StatusMirrorFunction")
    assert [s["state"] for s in fake.statuses(repo.full_name, after)] == ["pending"]
    # GitHub fails twice while the builder reports success: the status waits on its queue, then arrives
    fake.fail_next(f"/repos/{repo.full_name}/statuses/{after}", 502, times=2)
    report = system.call("POST", f"/v1/builds/{built['build_id']}/status", token=built["callback_token"],
                         body={"status": "succeeded", "url": "https://ci.example/2"})
    assert report.status == 200  # the builder's report never waits for GitHub
    system.drain("StatusMirrorFunction")
    assert [s["state"] for s in fake.statuses(repo.full_name, after)] == ["pending", "success"]
    assert system.queue_depth("StatusDLQ") == 0


def test_an_installation_with_the_checks_permission_gets_check_runs(gh: tuple[System, FakeGitHub]) -> None:
    system, fake = gh
    team = "checks-team"
    admin = system.token({team: "admin"}, sub="octocat")
    installation = fake.add_installation("checked-org")
    fake.installations[installation].permissions["checks"] = "write"
    repo = fake.add_repo(installation, "checked-org/app", branches={"main": fake_sha("checked-1")})
    outcome = install(system, fake, admin, installation, user_installs=[installation], team=team)
    source = system.call("POST", f"/v1/teams/{team}/sources", token=admin, body={
        "connection_id": outcome["connection_id"][0], "repository": repo.full_name, "branches": ["main"]})
    assert source.status == 201, source.body
    after = fake.add_commit(repo.full_name, fake_sha("checked-2"))
    deliver(system, "push", push_payload(installation, repo, "refs/heads/main", fake_sha("checked-1"), after))
    [built] = routed(system)
    system.drain("StatusMirrorFunction")
    system.call("POST", f"/v1/builds/{built['build_id']}/status", token=built["callback_token"],
                body={"status": "failed", "url": "https://ci.example/9", "description": "2 tests failed"})
    system.drain("StatusMirrorFunction")
    # One check run for the build: queued at once, then completed with the conclusion; no commit statuses
    [run] = fake.check_runs(repo.full_name, after)
    assert (run["name"], run["status"], run["conclusion"], run["updates"]) == ("gitconnect", "completed", "failure", 1)
    assert (run["details_url"], run["output"]["summary"]) == ("https://ci.example/9", "2 tests failed")
    assert run["external_id"] == built["build_id"]
    assert fake.statuses(repo.full_name, after) == []

def test_bad_deliveries(gh: tuple[System, FakeGitHub], linked: dict[str, Any]) -> None:
    system, _ = gh
    payload = push_payload(linked["installation"], linked["repo"], "refs/heads/main", fake_sha("a"), fake_sha("b"))
    assert deliver(system, "push", payload, secret="wrong secret").status == 401
    unsigned = system.call("POST", "/v1/webhooks/github", raw_body=b"{}", headers={"x-github-event": "push",
                                                                                  "x-github-delivery": "x"})
    assert unsigned.status == 401 and unsigned.headers["content-type"] == "application/problem+json"
    assert deliver(system, "push", None, raw=b'{"ref": ').status == 400
    assert deliver(system, "push", None, raw=b"x" * (6 * 1024 * 1024)).status == 413
    unknown = readdress(payload, 123456789, linked["repo"])
    assert deliver(system, "push", unknown).status == 202
    assert deliver(system, "watch", readdress(example("watch"), linked["installation"], linked["repo"])).status == 202
    assert routed(system) == []


def test_namespace_restrictions_apply_at_once(gh: tuple[System, FakeGitHub], admin: str,
                                              linked: dict[str, Any]) -> None:
    system, fake = gh
    connection = f"/v1/teams/{TEAM}/connections/{linked['connection_id']}"
    fake.add_repo(linked["installation"], "octo-org/app-two")
    # An installation reaches its account only: restricting it elsewhere is refused, and nothing is stored
    refused = system.call("PUT", f"{connection}/restrictions", token=admin,
                          body={"mode": "restricted", "namespaces": ["someone-else"]})
    assert refused.status == 422 and "someone-else" in refused.json()["detail"], refused.body
    assert system.call("GET", connection, token=admin).json()["restrictions"] == {"mode": "unrestricted",
                                                                                  "confirmed": True}
    # A restriction to an account the installation no longer reaches (stored as an earlier PUT would have)
    wiring.stores().connections.set_restrictions(TEAM, linked["connection_id"],
                                                 Restrictions("restricted", ("someone-else",)))
    # Listing, new sources, manual builds and webhooks all stop at once
    assert system.call("GET", f"{connection}/repositories", token=admin).json()["items"] == []
    assert system.call("GET", f"{connection}/branches?repository=octo-org/app", token=admin).status == 403
    assert system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": linked["connection_id"], "repository": "octo-org/app-two", "branches": ["main"]}).status == 403
    assert system.call("POST", f"/v1/teams/{TEAM}/sources/{linked['source']['id']}/builds", token=admin,
                       body={"branch": "main"}).status == 403
    payload = push_payload(linked["installation"], linked["repo"], "refs/heads/main", fake_sha("r1"), fake_sha("r2"))
    deliver(system, "push", payload, delivery_id="restricted-push")
    assert routed(system) == []
    log = system.call("GET", f"/v1/teams/{TEAM}/deliveries", token=admin).json()["items"]
    assert "namespace restrictions" in next(d["reason"] for d in log if d["id"] == "restricted-push")
    # Members may not change restrictions; bad bodies are 4xx
    member = system.token({TEAM: "member"})
    assert system.call("PUT", f"{connection}/restrictions", token=member, body={"mode": "unrestricted"}).status == 403
    assert system.call("PUT", f"{connection}/restrictions", token=admin, body={"mode": "restricted"}).status == 400
    assert system.call("PUT", f"{connection}/restrictions", token=admin, body={"mode": "open"}).status == 400
    # Allowing the owner again restores everything
    system.call("PUT", f"{connection}/restrictions", token=admin,
                body={"mode": "restricted", "namespaces": ["OCTO-ORG"]})
    assert len(system.call("GET", f"{connection}/repositories", token=admin).json()["items"]) == 3
    system.call("PUT", f"{connection}/restrictions", token=admin, body={"mode": "unrestricted"})


def test_path_filters_use_every_commit_and_the_compare_api_when_truncated(
        gh: tuple[System, FakeGitHub], admin: str, linked: dict[str, Any]) -> None:
    system, fake = gh
    source = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "name": "api-only", "connection_id": linked["connection_id"], "repository": "octo-org/app",
        "branches": ["release"], "paths": {"include": ["api/**"], "exclude": ["api/docs/**"]}}).json()
    repo, installation = linked["repo"], linked["installation"]

    def push(before: str, after: str, files_per_commit: list[list[str]] | None) -> dict[str, Any]:
        payload = push_payload(installation, repo, "refs/heads/release", before, after)
        template = payload["commits"][0]
        payload["commits"] = [
            {**template, "id": fake_sha(f"{after}{i}"), "added": [], "removed": [], "modified": files}
            for i, files in enumerate(files_per_commit or [])]
        return payload

    # The second of two commits touches api/: built. Only docs under api/: not built.
    deliver(system, "push", push(fake_sha("p0"), fake_sha("p1"), [["README.md"], ["api/app.py"]]))
    deliver(system, "push", push(fake_sha("p1"), fake_sha("p2"), [["api/docs/x.md"]]))
    # A forced push listing no commits: the compare API says what changed
    fake.set_compare(repo.full_name, fake_sha("p2"), fake_sha("p3"), ["api/models.py"])
    deliver(system, "push", push(fake_sha("p2"), fake_sha("p3"), None))
    # The compare API cannot say (unknown range): the explicit fallback builds, and says so
    deliver(system, "push", push(fake_sha("p3"), fake_sha("p4"), None), delivery_id="unknown-files")
    built = [(e["sha"], e["source_id"]) for e in routed(system)]
    assert built == [(fake_sha("p1"), source["id"]), (fake_sha("p3"), source["id"]), (fake_sha("p4"), source["id"])]
    compares = fake.requests("GET", "/repos/octo-org/app/compare/")
    assert len(compares) == 2
    log = system.call("GET", f"/v1/teams/{TEAM}/deliveries", token=admin).json()["items"]
    assert "changed files unknown" in next(d["reason"] for d in log if d["id"] == "unknown-files")
    system.call("DELETE", f"/v1/teams/{TEAM}/sources/{source['id']}", token=admin)


def test_same_delivery_concurrently_builds_once(gh: tuple[System, FakeGitHub], linked: dict[str, Any]) -> None:
    """Ten copies of one delivery, routed by two router containers at the same time: one build."""
    import threading

    from infra.local.lambdas import LocalFunction
    from infra.local.sqs_poller import poll_once

    system, fake = gh
    after = fake.add_commit(linked["repo"].full_name, fake_sha("concurrent"))
    payload = push_payload(linked["installation"], linked["repo"], "refs/heads/main", fake_sha("c0"), after)
    for _ in range(10):
        assert deliver(system, "push", payload, delivery_id="same-delivery").status == 202
    spec = system.functions["EventRouterFunction"].spec
    containers = [LocalFunction(spec, name=f"router-{i}", arn="arn:aws:lambda:us-east-1:1:function:r") for i in (1, 2)]
    source = system.sqs_source("EventRouterFunction")

    def work(container: LocalFunction) -> None:
        for _ in range(20):
            result = poll_once(system.client("sqs"), source, container.invoke, retry_seconds=0, wait_seconds=0)
            if not result.received and system.queue_depth("EventsQueue") == 0:
                return

    threads = [threading.Thread(target=work, args=(c,)) for c in containers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    system.drain("EventRouterFunction")
    system.drain("BuildTriggerFunction")
    assert [e["detail"]["sha"] for e in system.bus_events()] == [after]


def test_second_installation_and_unlink(gh: tuple[System, FakeGitHub], admin: str) -> None:
    """A team links a second installation (a user account); unlinking it stops its builds at once."""
    system, fake = gh
    installation = fake.add_installation("octocat", account_type="User")
    repo = fake.add_repo(installation, "octocat/dotfiles", branches={"main": fake_sha("u1")})
    outcome = install(system, fake, admin, installation, user_installs=[installation])
    connection_id = outcome["connection_id"][0]
    assert len(system.call("GET", f"/v1/teams/{TEAM}/connections", token=admin).json()["items"]) == 2
    source = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": connection_id, "repository": "octocat/dotfiles", "branches": ["main"]}).json()
    deliver(system, "push", push_payload(installation, repo, "refs/heads/main", fake_sha("u1"), fake_sha("u2")))
    assert [e["source_id"] for e in routed(system)] == [source["id"]]
    assert system.call("DELETE", f"/v1/teams/{TEAM}/connections/{connection_id}", token=admin).status == 204
    deliver(system, "push", push_payload(installation, repo, "refs/heads/main", fake_sha("u2"), fake_sha("u3")))
    assert routed(system) == []
    assert system.call("GET", f"/v1/teams/{TEAM}/sources/{source['id']}", token=admin).status == 404


# Runs last: it uninstalls the shared installation.
def test_installation_lifecycle_stops_builds(gh: tuple[System, FakeGitHub], admin: str,
                                             linked: dict[str, Any]) -> None:
    system, _ = gh
    repo, installation = linked["repo"], linked["installation"]
    for action, status in (("suspend", "suspended"), ("unsuspend", "active"), ("deleted", "uninstalled")):
        payload = example("installation", action=action)
        payload["installation"] = {**payload["installation"], "id": installation}
        assert deliver(system, "installation", payload).status == 202
        routed(system)
        connection = system.call("GET", f"/v1/teams/{TEAM}/connections/{linked['connection_id']}", token=admin)
        assert connection.json()["status"] == status
    changed = example("installation_repositories", action="added")
    changed["installation"] = {**changed["installation"], "id": installation}
    deliver(system, "installation_repositories", changed, delivery_id="repos-added")
    deliver(system, "push", push_payload(installation, repo, "refs/heads/main", fake_sha("x"), fake_sha("y")),
            delivery_id="after-uninstall")
    assert routed(system) == []
    log = system.call("GET", f"/v1/teams/{TEAM}/deliveries", token=admin).json()["items"]
    assert "uninstalled" in next(d["reason"] for d in log if d["id"] == "after-uninstall")
    added = [r["full_name"] for r in changed["repositories_added"]]
    assert f"repositories granted: {', '.join(added)}" in next(d["reason"] for d in log if d["id"] == "repos-added")


def test_a_source_on_a_large_installation_costs_one_repository_read(gh: tuple[System, FakeGitHub],
                                                                    admin: str) -> None:
    # Given an installation with 1 000 repositories (ten pages of the installation's listing)
    system, fake = gh
    installation = fake.add_installation("big-org")
    for i in range(1000):
        fake.add_repo(installation, f"big-org/repo-{i:04d}")
    outcome = install(system, fake, admin, installation, user_installs=[installation])
    assert outcome["outcome"] == ["linked"], outcome
    fake.clear_log()  # forget what linking asked
    # When a source names the last of them
    made = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": outcome["connection_id"][0], "repository": "big-org/repo-0999", "branches": ["main"]})
    # Then GitHub was asked about that repository once, and never for the installation's list
    assert made.status == 201, made.body
    paths = [r.path for r in fake.requests()]
    assert paths.count("/repos/big-org/repo-0999") == 1
    assert not [p for p in paths if p.startswith("/installation/repositories")]
    # A repository the App cannot access is a 404, as GitHub says nothing more about it
    missing = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": outcome["connection_id"][0], "repository": "big-org/not-granted", "branches": ["main"]})
    assert missing.status == 404 and "not among the repositories" in missing.json()["detail"]
