"""EventRouter on the in-memory ports (tests/support/memory.py) with stub providers over the real normalizers: what a
delivery builds, and the reason each team's delivery log gives for what it did not build."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import pytest

from gitconnect.domain.deliveries import QueuedDelivery, decode
from gitconnect.domain.events import RepoRef, WebhookEvent
from gitconnect.domain.models import Connection, Hook, PathRules, Restrictions, Source
from gitconnect.providers.base import Access, Provider
from gitconnect.providers.github import webhooks as github
from gitconnect.providers.gitlab import webhooks as gitlab
from gitconnect.services.router import REGENERATED_SINCE, EventRouter
from gitconnect.services.secrets import ConnectionSecrets
from tests.support.memory import MemoryConnections, MemoryDeliveries, MemoryHooks, MemorySources, PlainCipher, Recorder

SHA_A, SHA_B, SHA_C = "a" * 40, "b" * 40, "c" * 40
GITLAB_PUSH = json.loads((Path(__file__).parents[1] / "fixtures" / "gitlab" / "push-hook.json").read_text())


def delivery(payload: Any, *, provider: str = "github", event: str = "push", hook_id: str | None = None,
             secret_version: int | None = None, delivery_id: str = "d-1") -> QueuedDelivery:
    """A delivery as the router reads it off the events queue."""
    return decode(json.dumps({"provider": provider, "delivery_id": delivery_id, "event": event, "hook_id": hook_id,
                              "secret_version": secret_version, "received_at": "2024-01-02T03:04:05Z",
                              "payload": payload}))


def push(ref: str = "refs/heads/main", *, files: list[str] | None = None, message: str = "change",
         deleted: bool = False, repository_id: int = 7, full_name: str = "octo-org/app",
         **extra: Any) -> dict[str, Any]:
    """A GitHub App push delivery: one commit touching `files` (None: the payload lists no files)."""
    commit = {"id": SHA_B, "message": message}
    if files is not None:
        commit.update({"added": [], "modified": files, "removed": []})
    return {"ref": ref, "before": SHA_A, "after": "0" * 40 if deleted else SHA_B, "created": False,
            "deleted": deleted, "commits": [] if deleted else [commit], "head_commit": None if deleted else commit,
            "repository": {"id": repository_id, "full_name": full_name, "owner": {"login": full_name.split("/")[0]}},
            "installation": {"id": 42}, **extra}


@dataclass
class StubProvider:
    """A provider with webhooks: the real normalizer, and API answers a test sets (each call recorded)."""

    normalizer: Callable[[str, Any], WebhookEvent | tuple[WebhookEvent, ...]]
    files: list[str] | None = None
    calls: list[str] = field(default_factory=list)

    def normalize(self, event: str, payload: Mapping[str, Any]) -> WebhookEvent | tuple[WebhookEvent, ...]:
        return self.normalizer(event, payload)

    def changed_files(self, access: Access, repo: RepoRef, before: str | None, after: str) -> list[str] | None:
        self.calls.append(f"compare {repo.full_name} {before}...{after}")
        return self.files

    def tag_commit(self, access: Access, repo: RepoRef, tag: str) -> str | None:
        self.calls.append(f"tag {tag}")
        return SHA_C


def connection(team: str = "t1", cid: str = "con_1", *, provider: str = "github", key: str = "github#42",
               **changes: Any) -> Connection:
    made = Connection(team_id=team, id=cid, provider=provider, name="octo-org", account="octo-org", base_url=None,
                      status="active", created_at="2024-01-01T00:00:00Z", account_key=key)
    return replace(made, **changes)


def source(sid: str = "src_1", *, name: str = "app", team: str = "t1", cid: str = "con_1", provider: str = "github",
           repository: str = "octo-org/app", repository_id: str = "7", **changes: Any) -> Source:
    made = Source(team_id=team, id=sid, name=name, connection_id=cid, provider=provider,
                  repository=repository, clone_url=f"https://example.com/{repository}.git", branches=("main",),
                  created_at="t", updated_at="t", repository_id=repository_id)
    return replace(made, **changes)


@dataclass
class World:
    router: EventRouter
    connections: MemoryConnections
    sources: MemorySources
    log: MemoryDeliveries
    queue: Recorder
    hooks: MemoryHooks
    providers: dict[str, StubProvider]


def world(*, connections: tuple[Connection, ...] = (), sources: tuple[Source, ...] = (), hooks: tuple[Hook, ...] = (),
          files: list[str] | None = None) -> World:
    stores = (MemoryConnections(*connections), MemorySources(*sources), MemoryDeliveries(), Recorder(),
              MemoryHooks(*hooks))
    providers = {"github": StubProvider(github.normalize, files), "gitlab": StubProvider(gitlab.normalize, files)}
    lookup = cast(Callable[[str], Provider], providers.__getitem__)  # the router needs only their webhooks
    router = EventRouter(stores[0], stores[1], stores[2], stores[3], lookup, ConnectionSecrets(PlainCipher()),
                         stores[4])
    return World(router, *stores, providers)


# ------------------------------------------------------------------------------------------------- one GitHub source

EXCLUDE_DOCS = {"paths": PathRules(exclude=("docs/**",))}

CASES = [
    # name, source changes, connection changes, payload, outcome, builds, the delivery log's reason
    ("push to a watched branch", {}, {}, push(), "built", 1, "app: push to main"),
    ("push to another branch", {}, {}, push("refs/heads/feature/x"), "ignored", 0,
     "app: branch feature/x is not watched (watched: main)"),
    ("push touching only excluded paths", EXCLUDE_DOCS, {}, push(files=["docs/guide.md"]), "ignored", 0,
     "app: none of the 1 changed file(s) match the source's path rules"),
    ("push touching an included path", EXCLUDE_DOCS, {}, push(files=["docs/guide.md", "src/app.py"]), "built", 1,
     "app: push to main"),
    ("head commit asks to skip", {}, {}, push(message="fix typo [skip ci]"), "ignored", 0,
     "app: the head commit asks to skip builds ([skip ci])"),
    ("branch deleted", {}, {}, push(deleted=True), "ignored", 0, "app: branch main deleted: nothing to build"),
    ("a repository no source watches", {}, {}, push(repository_id=8, full_name="octo-org/other"), "ignored", 0,
     "no source watches octo-org/other"),
    ("outside the namespace restrictions", {}, {"restrictions": Restrictions("restricted", ("other-org",))}, push(),
     "ignored", 0, "octo-org/app is outside the connection's namespace restrictions"),
    ("a suspended installation", {}, {"status": "suspended"}, push(), "ignored", 0,
     "the connection is suspended: its GitHub App installation on octo-org was suspended (unsuspend it on GitHub)"),
    ("a source whose repository the App no longer may access", {"status": "access_revoked"}, {}, push(), "ignored", 0,
     "app: access to octo-org/app was revoked from the GitHub App"),
    ("a malformed payload", {}, {}, push(ref={"name": "main"}), "rejected", 0,
     "malformed push payload: ref is not a string (got object)"),
]


@pytest.mark.parametrize(("source_changes", "connection_changes", "payload", "outcome", "builds", "reason"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_github_delivery(source_changes: dict[str, Any], connection_changes: dict[str, Any],
                           payload: dict[str, Any], outcome: str, builds: int, reason: str) -> None:
    # Given one team's connection to the App's installation and one source watching main
    w = world(connections=(connection(**connection_changes),), sources=(source(**source_changes),))
    # When the delivery is routed
    report = w.router.route(delivery(payload))
    # Then the queue holds its builds, and the team's log says why
    assert (report.outcome, len(report.builds)) == (outcome, builds)
    assert w.queue.sent == report.builds
    assert [(d.team_id, d.connection_id, d.outcome, d.reason) for d in w.log.items] == [("t1", "con_1", outcome,
                                                                                          reason)]
    assert [d.build_ids for d in w.log.items] == [tuple(b.id for b in report.builds)]
    assert w.providers["github"].calls == []  # the payload said it all


def test_the_build_names_the_push() -> None:
    w = world(connections=(connection(),), sources=(source(),))
    [build] = w.router.route(delivery(push())).builds
    assert (build.team_id, build.source_id, build.connection_id, build.repository) == ("t1", "src_1", "con_1",
                                                                                       "octo-org/app")
    assert (build.ref, build.sha, build.trigger, build.status) == ("refs/heads/main", SHA_B, "push", "queued")


def test_no_installation_named_logs_for_no_team() -> None:
    w = world(connections=(connection(),), sources=(source(),))
    payload = {k: v for k, v in push().items() if k != "installation"}  # a repository hook, not the App's
    report = w.router.route(delivery(payload))
    assert (report.outcome, report.builds, w.log.items, w.queue.sent) == ("ignored", [], [], [])


def test_a_truncated_file_list_is_completed_from_the_api() -> None:
    w = world(connections=(connection(),), sources=(source(**EXCLUDE_DOCS),), files=["docs/guide.md"])
    payload = push(files=None)  # the commit lists no files: the router asks the compare API
    report = w.router.route(delivery(payload))
    assert report.outcome == "ignored"
    assert w.providers["github"].calls == [f"compare octo-org/app {SHA_A}...{SHA_B}"]
    w.providers["github"].files = None  # the API cannot say either: built, and the log says so
    assert w.router.route(delivery(payload)).outcome == "built"
    assert w.log.items[-1].reason == "app: changed files unknown (list truncated and not available from the API): built"


def test_every_team_linked_to_the_account_decides_for_its_own_sources() -> None:
    w = world(connections=(connection("t1", "con_1"), connection("t2", "con_2"),
                           connection("t3", "con_3", provider="gitlab")),  # another provider's account key clash
              sources=(source("src_1"), source("src_2", name="api", team="t2", cid="con_2", branches=("release/*",))))
    report = w.router.route(delivery(push()))
    assert [b.source_id for b in report.builds] == ["src_1"]
    assert [(d.team_id, d.outcome, d.reason) for d in w.log.items] == [
        ("t1", "built", "app: push to main"), ("t2", "ignored", "api: branch main is not watched (watched: release/*)")]


def test_a_retried_delivery_requests_the_same_build_and_a_duplicate_builds_nothing() -> None:
    w = world(connections=(connection(),), sources=(source(),))
    first = w.router.route(delivery(push()))
    again = w.router.route(delivery(push()))  # SQS redelivered it before its idempotency record was written
    assert [b.id for b in again.builds] == [b.id for b in first.builds]  # the builds consumer creates it once
    w.log.items.clear()
    w.router.log_duplicate(delivery(push()))  # idempotency caught the copy
    assert [(d.team_id, d.connection_id, d.outcome) for d in w.log.items] == [("t1", "con_1", "duplicate")]
    assert len(w.queue.sent) == 2  # the copy queued nothing


def test_one_push_to_5000_teams_keeps_a_fixed_size_idempotency_record() -> None:
    # Given 5 000 teams linked to one installation, each with a source on the pushed repository
    teams = [f"t{i}" for i in range(5000)]
    w = world(connections=tuple(connection(t, f"con_{t}") for t in teams),
              sources=tuple(source(f"src_{t}", team=t, cid=f"con_{t}") for t in teams))
    # When one push is routed
    report = w.router.route(delivery(push()))
    # Then every team builds and logs it, and what idempotency stores does not grow with them
    assert len(report.builds) == len(report.deliveries) == 5000
    summary = report.summary()
    assert (summary["builds"], summary["teams"], summary["outcome"]) == (5000, 5000, "built")
    assert len(json.dumps(summary)) < 300
    one_team = world(connections=(connection(),), sources=(source(),)).router.route(delivery(push())).summary()
    assert len(json.dumps(one_team)) == len(json.dumps(summary)) - 6  # "1" vs "5000", twice
    # And a duplicate is still logged for each of those teams, found again from the delivery
    w.log.items.clear()
    w.router.log_duplicate(delivery(push()))
    assert sorted(d.team_id for d in w.log.items) == sorted(teams)
    assert {d.outcome for d in w.log.items} == {"duplicate"}


def test_a_duplicate_per_hook_delivery_is_logged_for_the_hooks_team() -> None:
    w = gitlab_world()
    w.log.items.clear()
    w.router.log_duplicate(delivery(GITLAB_PUSH, provider="gitlab", event="Push Hook", hook_id="hook_1",
                                    secret_version=1))
    assert [(d.team_id, d.connection_id, d.outcome) for d in w.log.items] == [("lab", "con_lab", "duplicate")]


# --------------------------------------------------------------------------------------- a per-hook GitLab delivery

def gitlab_world() -> World:
    lab = connection("lab", "con_lab", provider="gitlab", key="gitlab#https://gitlab.example.com#4")
    hook = Hook(id="hook_1", team_id="lab", connection_id="con_lab", source_id="src_hooked", provider="gitlab",
                repository_id="15", repository="mike/diaspora", provider_hook_id="9", secret=b"", secret_version=2,
                created_at="t")
    watching = [source(f"src_{name}", name=name, team="lab", cid="con_lab", provider="gitlab",
                       repository="mike/diaspora", repository_id="15", branches=("master",))
                for name in ("hooked", "other")]
    return world(connections=(lab,), sources=tuple(watching), hooks=(hook,))


@pytest.mark.parametrize(("secret_version", "outcome", "built", "reason"), [
    (2, "built", ["src_hooked"], "hooked: push to master"),  # the hook's own source only, not the other one
    (1, "rejected", [], REGENERATED_SINCE),  # signed with the secret before a regeneration
])
def test_a_per_hook_delivery(secret_version: int, outcome: str, built: list[str], reason: str) -> None:
    w = gitlab_world()
    report = w.router.route(delivery(copy.deepcopy(GITLAB_PUSH), provider="gitlab", event="Push Hook",
                                     hook_id="hook_1", secret_version=secret_version))
    assert (report.outcome, [b.source_id for b in report.builds]) == (outcome, built)
    assert [(d.team_id, d.connection_id, d.outcome, d.reason) for d in w.log.items] == [("lab", "con_lab", outcome,
                                                                                          reason)]


def test_a_delivery_for_a_removed_hook_is_acknowledged_and_logged_nowhere() -> None:
    w = gitlab_world()
    report = w.router.route(delivery(GITLAB_PUSH, provider="gitlab", event="Push Hook", hook_id="hook_gone",
                                     secret_version=1))
    assert (report.outcome, w.log.items, w.queue.sent) == ("ignored", [], [])


@pytest.mark.parametrize(("event", "payload"), [
    ("installation_repositories", {"action": "added", "installation": {"id": 42}, "repository_selection": "selected",
                                   "repositories_added": [{"id": 9, "full_name": "octo-org/new", "name": "new"}],
                                   "repositories_removed": []}),
    ("installation", {"action": "suspend", "installation": {"id": 42, "account": {"login": "octo-org"}}}),
])
def test_installation_events_drop_every_teams_cached_listing(event: str, payload: dict[str, Any]) -> None:
    # Given two teams linked to the installation, and a third team's connection elsewhere
    w = world(connections=(connection(), connection("t2", "con_2"), connection("t3", "con_3", key="github#7")))
    # When GitHub says the installation changed
    w.router.route(delivery(payload, event=event))
    # Then both teams' listing epochs moved (their cached listings are dropped in every container), the other not
    assert [(c.id, c.listing_epoch) for c in w.connections.items.values()] == [("con_1", 1), ("con_2", 1),
                                                                               ("con_3", 0)]
