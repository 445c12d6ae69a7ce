"""No poison from validly signed deliveries (issue 17): real payloads of each provider, re-addressed to a linked
repository and signed with the right secret, with one value at a documented key (or nested in one) replaced by
null, an array, a number, a boolean, a string, an object or a huge integer, sent through the real intake and router.

Every delivery the intake accepts is acknowledged by the router (the events queue and its DLQ end empty). Each one
that concerns the team is in its delivery log: `rejected` with a reason starting `malformed` when the value has a
type the provider does not document there, built or ignored when the mutation kept the delivery valid, and exactly
as the unmutated payload when the value is one the normalizer does not read (see tests/support/payload_mutation.py).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gitconnect.providers.bitbucket.webhooks import signature
from tests.functional.conftest import system_with
from tests.functional.github_support import deliver, example, github_system, readdress
from tests.functional.test_github_flow import install
from tests.support import webhook_shapes as shapes
from tests.support.bitbucket_fixtures import payload as bitbucket_fixture
from tests.support.fake_bitbucket import FakeBitbucket
from tests.support.fake_github import fake_sha
from tests.support.fake_gitlab import FakeGitLab
from tests.support.inprocess import System
from tests.support.payload_mutation import Base, Case, plan, value_at

BUDGET = 200  # deliveries per provider, the unmutated bases included
UNREAD = 20  # of which at paths the normalizer does not read


@dataclass
class Figures:
    sent: int = 0
    accepted: int = 0
    concerning: int = 0
    rejected: int = 0
    built: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    left_in_queue: int = 0
    failed_receives: int = 0
    problems: list[str] = field(default_factory=list)


FIGURES: dict[str, Figures] = {}  # per provider, for whoever runs this module (the test asserts on them)


@dataclass
class World:
    system: System
    team: str
    token: str
    send: Callable[[Case], int]
    concerns: Callable[[Case], bool]


# ------------------------------------------------------------------------------------------------------- GitHub
GITHUB_TEAM = "fuzz-github"


@contextmanager
def github_world() -> Iterator[tuple[World, list[Base]]]:
    with github_system() as (system, fake):
        installation = fake.add_installation("octo-org")
        repo = fake.add_repo(installation, "octo-org/app")
        token = system.token({GITHUB_TEAM: "admin"})
        outcome = install(system, fake, token, installation, user_installs=[installation], team=GITHUB_TEAM)
        assert outcome["outcome"] == ["linked"], outcome
        source = system.call("POST", f"/v1/teams/{GITHUB_TEAM}/sources", token=token, body={
            "connection_id": outcome["connection_id"][0], "repository": "octo-org/app", "branches": ["**"],
            "tags": ["**"], "releases": True, "pull_requests": {"enabled": True, "forks": "build"}})
        assert source.status == 201, source.body
        tagged = fake.add_commit(repo.full_name, fake_sha("fuzz-release"))
        fake.add_tag(repo.full_name, "v1.0.0", tagged)

        def ours(event: str, **where: Any) -> dict[str, Any]:
            return readdress(example(event, **where), installation, repo)

        branch_push = ours("push", where=lambda p: p["ref"].startswith("refs/heads/") and p["commits"])
        branch_push["commits"][0].update(added=["README.md"], modified=["src/app.py"], removed=["old.txt"])
        tag_deleted = ours("push", where=lambda p: p["deleted"] and p["head_commit"] is None)
        tag_created = ours("push", where=lambda p: p["created"] and p["ref"].startswith("refs/tags/"))
        release = ours("release", action="published")
        release["release"]["tag_name"] = "v1.0.0"
        create = ours("create", where=lambda p: p["ref_type"] == "tag")
        create["ref"] = "v1.0.0"
        installed = example("installation", action="created")
        installed["installation"]["id"] = installation
        added = example("installation_repositories", action="added")
        added["installation"]["id"] = installation
        bases = [
            Base("push branch", "push", branch_push, shapes.GITHUB_PUSH),
            Base("push tag deleted", "push", tag_deleted, shapes.GITHUB_PUSH),
            Base("push tag created", "push", tag_created, shapes.GITHUB_PUSH),
            *(Base(f"pull_request {action}", "pull_request", ours("pull_request", action=action),
                   shapes.GITHUB_PULL_REQUEST) for action in ("opened", "synchronize", "closed")),
            Base("create tag", "create", create, shapes.GITHUB_CREATE),
            Base("delete tag", "delete", ours("delete"), shapes.GITHUB_DELETE),
            Base("release published", "release", release, shapes.GITHUB_RELEASE),
            Base("installation created", "installation", installed, shapes.GITHUB_INSTALLED),
            Base("installation_repositories added", "installation_repositories", added,
                 shapes.GITHUB_REPOSITORIES_CHANGED),
        ]

        def send(case: Case) -> int:
            return deliver(system, case.base.event, case.payload, delivery_id=case.id).status

        def concerns(case: Case) -> bool:
            """The router can tell which installation a delivery is about (an int, or a digit string)."""
            found, value = value_at(case.payload, ("installation", "id"))
            return found and not isinstance(value, bool) and value in (installation, str(installation))

        yield World(system, GITHUB_TEAM, token, send, concerns), bases


# ------------------------------------------------------------------------------------------------------- GitLab
GITLAB_TEAM = "fuzz-gitlab"
GITLAB_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"


@contextmanager
def gitlab_world() -> Iterator[tuple[World, list[Base]]]:
    with FakeGitLab() as fake, system_with({"GITLAB_URL": fake.base_url}) as system:
        alice = fake.add_user("alice")
        group = fake.add_group("acme")
        fake.add_member(alice, group)
        project = fake.add_project(group, "app", branches={"main": fake_sha("main-1")})
        token = system.token({GITLAB_TEAM: "admin"})
        reply = system.call("POST", f"/v1/teams/{GITLAB_TEAM}/connections", token=token,
                            body={"provider": "gitlab", "token": fake.personal_token(alice)})
        assert reply.status == 201, reply.body
        source = system.call("POST", f"/v1/teams/{GITLAB_TEAM}/sources", token=token, body={
            "connection_id": reply.json()["id"], "repository": "acme/app", "branches": ["**"], "tags": ["**"],
            "releases": True, "pull_requests": {"enabled": True, "forks": "build"}})
        assert source.status == 201, source.body
        (hook,) = project.hooks.values()
        path = urlsplit(hook.url).path

        def ours(name: str) -> dict[str, Any]:
            body = gitlab_fixture(name)
            if isinstance(body.get("project"), dict):
                body["project"].update({"id": project.id, "path_with_namespace": "acme/app", "namespace": "acme"})
            if "project_id" in body:
                body["project_id"] = project.id
            attrs = body.get("object_attributes")
            if name == "merge-request-hook.json" and isinstance(attrs, dict):
                attrs.update({"target_project_id": project.id, "source_project_id": project.id,
                              "target_branch": "main"})
                for side in ("source", "target"):
                    attrs[side].update({"path_with_namespace": "acme/app", "namespace": "acme"})
            return body

        push = ours("push-hook.json")
        push.update({"ref": "refs/heads/main", "total_commits_count": len(push["commits"])})
        bases = [
            Base("Push Hook", "Push Hook", push, shapes.GITLAB_PUSH),
            Base("Tag Push Hook", "Tag Push Hook", ours("tag-push-hook.json"), shapes.GITLAB_PUSH),
            Base("Merge Request Hook", "Merge Request Hook", ours("merge-request-hook.json"),
                 shapes.GITLAB_MERGE_REQUEST),
            Base("Release Hook", "Release Hook", ours("release-hook.json"), shapes.GITLAB_RELEASE),
            Base("Note Hook", "Note Hook", ours("note-hook.json"), {}),  # not used: nothing read but for the log
        ]

        def send(case: Case) -> int:
            headers = {"x-gitlab-event": case.base.event, "x-gitlab-token": hook.token or "",
                       "x-gitlab-event-uuid": case.id, "content-type": "application/json"}
            return system.call("POST", path, raw_body=_json(case.payload), headers=headers).status

        yield World(system, GITLAB_TEAM, token, send, lambda case: True), bases


def gitlab_fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GITLAB_FIXTURES / name).read_text())
    return loaded


# ---------------------------------------------------------------------------------------------------- Bitbucket
BITBUCKET_TEAM = "fuzz-bitbucket"


@contextmanager
def bitbucket_world() -> Iterator[tuple[World, list[Base]]]:
    with FakeBitbucket() as fake, system_with(
            {"BITBUCKET_API_URL": fake.api_url, "BITBUCKET_WEB_URL": fake.web_url}) as system:
        alice = fake.add_user("alice", email="alice@example.com")
        acme = fake.add_workspace("acme", members=[alice])
        app = fake.add_repo(acme, "app", branches={"main": fake_sha("main-1")})
        token = system.token({BITBUCKET_TEAM: "admin"})
        reply = system.call("POST", f"/v1/teams/{BITBUCKET_TEAM}/connections", token=token, body={
            "provider": "bitbucket", "workspace": "acme", "username": "alice@example.com",
            "api_token": fake.api_token(alice)})
        assert reply.status == 201, reply.body
        source = system.call("POST", f"/v1/teams/{BITBUCKET_TEAM}/sources", token=token, body={
            "connection_id": reply.json()["id"], "repository": "acme/app", "branches": ["**"], "tags": ["**"],
            "pull_requests": {"enabled": True, "forks": "build"}})
        assert source.status == 201, source.body
        (hook,) = app.hooks.values()
        path = urlsplit(hook.url).path
        fake.add_commit(app, "d3022fc0ca3d" + "0" * 28, parents=[app.branches["main"]])  # the fixtures' PR head

        def ours(name: str) -> dict[str, Any]:
            body = bitbucket_fixture(name)
            pr = body.get("pullrequest")
            repos = [body.get("repository")]
            if isinstance(pr, dict):
                repos += [pr["source"]["repository"], pr["destination"]["repository"]]
                pr["destination"]["branch"]["name"] = "main"
            for repo in repos:
                if isinstance(repo, dict):
                    repo.update({"uuid": app.uuid, "full_name": "acme/app", "name": "app"})
            for change in (body.get("push") or {}).get("changes") or ():
                for side in ("old", "new"):
                    if change.get(side):
                        change[side]["name"] = "main"
            return body

        bases = [
            Base("repo:push", "repo:push", ours("repo-push"), shapes.BITBUCKET_PUSH),
            *(Base(event, event, ours(fixture), shapes.BITBUCKET_PULL_REQUEST) for event, fixture in (
                ("pullrequest:created", "pull-request-created"), ("pullrequest:updated", "pull-request-updated"),
                ("pullrequest:fulfilled", "pull-request-merged"))),
            Base("repo:updated", "repo:updated", ours("repo-updated"), {}),  # not used: nothing read but for the log
        ]

        def send(case: Case) -> int:
            body = _json(case.payload)
            headers = {"x-event-key": case.base.event, "x-request-uuid": case.id, "x-attempt-number": "1",
                       "x-hook-uuid": hook.uuid.strip("{}"), "x-hub-signature": signature(hook.secret or "", body),
                       "content-type": "application/json"}
            return system.call("POST", path, raw_body=body, headers=headers).status

        yield World(system, BITBUCKET_TEAM, token, send, lambda case: True), bases


# ------------------------------------------------------------------------------------------------------ the run
WORLDS = {"github": github_world, "gitlab": gitlab_world, "bitbucket": bitbucket_world}
SEEDS = {"github": 1701, "gitlab": 1702, "bitbucket": 1703}


def _json(payload: object) -> bytes:
    return json.dumps(payload).encode()


def delivery_log(world: World) -> dict[str, list[dict[str, Any]]]:
    """The team's whole delivery log, by delivery id."""
    found: dict[str, list[dict[str, Any]]] = {}
    cursor = ""
    while True:
        page = world.system.call("GET", f"/v1/teams/{world.team}/deliveries?limit=100{cursor}",
                                 token=world.token).json()
        for item in page["items"]:
            found.setdefault(item["id"], []).append(item)
        if not page["next_cursor"]:
            return found
        cursor = f"&cursor={page['next_cursor']}"


def run(provider: str) -> Figures:
    figures = FIGURES.setdefault(provider, Figures())
    with WORLDS[provider]() as (world, bases):
        rng = random.Random(SEEDS[provider])  # noqa: S311 - a reproducible plan, not a secret
        cases = plan(bases, rng, BUDGET, UNREAD, provider)
        statuses = {case.id: world.send(case) for case in cases}
        figures.sent = len(cases)
        figures.accepted = sum(1 for s in statuses.values() if s == 202)
        results = world.system.drain("EventRouterFunction", rounds=2000)
        figures.failed_receives = sum(len(r.failed_ids) for r in results)
        figures.dead_lettered = world.system.queue_depth("EventsDLQ")
        figures.left_in_queue = world.system.queue_depth("EventsQueue")
        log = delivery_log(world)
        figures.problems = judge(cases, statuses, log, world.concerns, figures)
    return figures


def judge(cases: list[Case], statuses: Mapping[str, int], log: Mapping[str, list[dict[str, Any]]],
          concerns: Callable[[Case], bool], figures: Figures) -> list[str]:
    problems = []
    base_entries = {c.base.name: (log.get(c.id) or [{}])[0] for c in cases if c.expect == "base"}
    for case in cases:
        if statuses[case.id] != 202:
            problems.append(f"{case.label}: the intake answered {statuses[case.id]}")
            continue
        entries = log.get(case.id, [])
        if not concerns(case):
            if entries:
                problems.append(f"{case.label}: logged for a team it does not concern: {entries}")
            continue
        figures.concerning += 1
        if len(entries) != 1:
            problems.append(f"{case.label}: {len(entries)} delivery log entries")
            continue
        entry = entries[0]
        outcome, reason = entry["outcome"], entry["reason"]
        malformed = outcome == "rejected" and reason.startswith("malformed")
        figures.rejected += malformed
        figures.built += outcome == "built"
        figures.ignored += outcome == "ignored"
        base = base_entries[case.base.name]
        if case.expect == "base" and outcome not in ("built", "ignored"):
            problems.append(f"{case.label}: a real payload was {outcome}: {reason}")
        elif case.expect == "rejected" and not malformed:
            problems.append(f"{case.label}: {outcome} ({reason}), not rejected as malformed")
        elif case.expect == "valid" and not (malformed or outcome in ("built", "ignored")):
            problems.append(f"{case.label}: {outcome}: {reason}")
        elif case.expect == "same" and (outcome, entry["build_ids"]) != (base.get("outcome"), base.get("build_ids")):
            problems.append(f"{case.label}: {outcome} ({reason}) where the real payload was "
                            f"{base.get('outcome')} ({base.get('reason')})")
    return problems


@pytest.mark.parametrize("provider", sorted(WORLDS))
def test_validly_signed_malformed_deliveries_are_rejected_never_poison(provider: str) -> None:
    figures = run(provider)
    assert figures.accepted == figures.sent, figures
    assert (figures.dead_lettered, figures.left_in_queue, figures.failed_receives) == (0, 0, 0), figures
    assert not figures.problems, "\n".join(figures.problems[:40])
    assert figures.built and figures.ignored and figures.rejected, figures  # the set-up really builds
