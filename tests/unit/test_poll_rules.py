"""Polled Custom Git sources decided by the webhook path's rules (skip flags, path rules, tag globs), and their poll
health: in-memory stores and a scripted Git remote, no network."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gitconnect.domain.errors import RemoteUnreachableError
from gitconnect.domain.models import Build, Connection, PathRules, Source
from gitconnect.providers.base import Access, GitCredentials, ProviderPorts, PushFacts
from gitconnect.providers.custom import INSPECT_MAX_BYTES, CustomGitProvider
from gitconnect.services.sync import MAX_INSPECTED_HEADS, PollService
from tests.support.memory import MemoryDeliveries, MemorySources

URL = "https://git.example.com/team/app.git"
A, B, C, T1, T2 = "a" * 40, "b" * 40, "c" * 40, "1" * 40, "2" * 40


class ScriptedGit:
    """ls-remote answers `refs` (or raises it); inspect_push answers `facts` and records what it was asked."""

    def __init__(self, refs: dict[str, str] | Exception, facts: PushFacts | Exception | None = None) -> None:
        self.refs, self.facts = refs, facts or PushFacts("work", ())
        self.inspected: list[tuple[str | None, str, bool, int]] = []

    def ls_remote(self, url: str, credentials: GitCredentials | None) -> dict[str, str]:
        if isinstance(self.refs, Exception):
            raise self.refs
        return dict(self.refs)

    def inspect_push(self, url: str, credentials: GitCredentials | None, before: str | None, after: str, *,
                     files: bool, max_bytes: int) -> PushFacts:
        self.inspected.append((before, after, files, max_bytes))
        if isinstance(self.facts, Exception):
            raise self.facts
        return self.facts


class Connections:
    def get(self, team_id: str, connection_id: str) -> Connection | None:
        return Connection("t", "con_1", "custom", "app", None, URL, "active", "x")


class Secrets:
    def access(self, connection: Connection) -> Access:
        return Access(connection.base_url, None, None)


class Queue:
    def __init__(self) -> None:
        self.sent: list[Build] = []

    def send(self, builds: Sequence[Build]) -> None:
        self.sent.extend(builds)


def source(**overrides: object) -> Source:
    base = Source(team_id="t", id="src_1", name="app", connection_id="con_1", provider="custom",
                  repository="team/app", clone_url=URL, branches=("main",), created_at="x", updated_at="x",
                  poll=True, heads={"main": A})
    return replace(base, **overrides)  # type: ignore[arg-type]


class World:
    def __init__(self, git: ScriptedGit, *sources: Source) -> None:
        self.git, self.sources, self.queue, self.log = git, MemorySources(*sources), Queue(), MemoryDeliveries()
        provider = CustomGitProvider(ProviderPorts(git=git))
        self.minute = 0
        self.service = PollService(self.sources, Connections(), Secrets(), lambda _: provider,  # type: ignore[arg-type]
                                   self.queue, self.log, clock=self._now)

    def _now(self) -> datetime:
        self.minute += 1
        return datetime(2026, 1, 1, 0, self.minute, tzinfo=UTC)

    def poll(self) -> list[tuple[str, str, str]]:
        """(trigger, ref, sha) of the builds this poll requested."""
        before = len(self.queue.sent)
        self.service.poll()
        return [(b.trigger, b.ref, b.sha) for b in self.queue.sent[before:]]

    @property
    def stored(self) -> Source:
        found = self.sources.get("t", "src_1")
        assert found is not None
        return found

    @property
    def reasons(self) -> list[tuple[str, str]]:
        return [(d.outcome, d.reason) for d in self.log.items]


@pytest.mark.parametrize("message", ["fix docs [skip ci]", "Merge [CI SKIP] please"])
def test_a_head_commit_asking_to_skip_builds_nothing_and_says_why(message: str) -> None:
    world = World(ScriptedGit({"refs/heads/main": B}, PushFacts(message, None)), source())
    assert world.poll() == []
    assert world.stored.heads == {"main": B}  # recorded: the next poll does not look again
    assert world.git.inspected == [(A, B, False, INSPECT_MAX_BYTES)]  # no path rules: the head commit only
    assert len(world.reasons) == 1 and world.reasons[0][0] == "ignored"
    assert "refs/heads/main: the head commit asks to skip builds" in world.reasons[0][1]


def test_custom_skip_flags_replace_the_defaults() -> None:
    world = World(ScriptedGit({"refs/heads/main": B}, PushFacts("wip [skip ci]", None)), source(skip_flags=("[hold]",)))
    assert world.poll() == [("poll", "refs/heads/main", B)]
    world = World(ScriptedGit({"refs/heads/main": B}, PushFacts("wip [hold]", None)), source(skip_flags=("[hold]",)))
    assert world.poll() == []


def test_path_rules_decide_on_the_files_changed_since_the_previous_head() -> None:
    rules = source(paths=PathRules(include=("src/**",), exclude=("**/*.md",)))
    excluded = World(ScriptedGit({"refs/heads/main": B}, PushFacts("docs", ("README.md", "src/notes.md"))), rules)
    assert excluded.poll() == []
    assert excluded.git.inspected == [(A, B, True, INSPECT_MAX_BYTES)]
    assert excluded.reasons == [("ignored", "app: refs/heads/main: none of the 2 changed file(s) match the source's "
                                            "path rules")]
    included = World(ScriptedGit({"refs/heads/main": B}, PushFacts("code", ("README.md", "src/app.py"))), rules)
    assert included.poll() == [("poll", "refs/heads/main", B)]
    assert included.reasons[0][0] == "built" and included.log.items[0].build_ids == (included.queue.sent[0].id,)


def test_a_push_too_large_to_inspect_builds_with_the_reason() -> None:
    facts = PushFacts(None, None, f"more than {INSPECT_MAX_BYTES} bytes to inspect")
    world = World(ScriptedGit({"refs/heads/main": B}, facts), source(paths=PathRules(exclude=("docs/**",))))
    assert world.poll() == [("poll", "refs/heads/main", B)]
    assert world.reasons == [("built", f"app: refs/heads/main: changed files unknown (more than {INSPECT_MAX_BYTES} "
                                       "bytes to inspect): built")]


def test_commits_that_cannot_be_fetched_build_and_the_source_stays_healthy() -> None:
    git = ScriptedGit({"refs/heads/main": B}, RemoteUnreachableError("the remote did not answer as a Git server"))
    world = World(git, source())
    assert world.poll() == [("poll", "refs/heads/main", B)]
    assert "head commit not read: the commits could not be fetched" in world.reasons[0][1]
    assert world.stored.polling.status == "ok"


def test_inspection_is_bounded_per_poll() -> None:
    heads = {f"refs/heads/f{i:02}": B for i in range(MAX_INSPECTED_HEADS + 3)}
    world = World(ScriptedGit(heads, PushFacts("wip [skip ci]", None)), source(branches=("f*",), heads={}))
    built = world.poll()
    assert len(world.git.inspected) == MAX_INSPECTED_HEADS
    assert [ref for _, ref, _ in built] == [f"refs/heads/f{i:02}" for i in range(MAX_INSPECTED_HEADS, len(heads))]
    assert f"more than {MAX_INSPECTED_HEADS} heads moved in one poll" in world.reasons[0][1]


def test_tags_take_a_baseline_first_then_new_and_moved_tags_build_once() -> None:
    refs = {"refs/heads/main": A, "refs/tags/v1": T1, "refs/tags/other": T1}
    world = World(ScriptedGit(refs), source(tags=("v*",)))
    assert world.poll() == []  # the baseline: existing tags do not flood
    assert world.stored.tag_heads == {"v1": T1}
    world.git.refs = {**refs, "refs/tags/v2": T2, "refs/tags/nope": T2}
    assert world.poll() == [("tag", "refs/tags/v2", T2)]
    assert world.poll() == []
    world.git.refs = {**refs, "refs/tags/v1": T2}  # v1 moved (and v2 deleted: nothing to build)
    assert world.poll() == [("tag", "refs/tags/v1", T2)]
    assert world.stored.tag_heads == {"v1": T2}
    assert world.git.inspected == []  # tags need no commit read


def test_a_failing_remote_shows_on_the_source_and_logs_once_each_way() -> None:
    git = ScriptedGit(RemoteUnreachableError("the remote could not be reached: connection refused"))
    world = World(git, source())
    for _ in range(3):
        assert world.poll() == []
    health = world.stored.polling
    assert (health.status, health.consecutive_failures) == ("failing", 3)
    assert health.last_error == "the remote could not be reached: connection refused"
    assert world.reasons == [("ignored", f"polling {URL} started failing: the remote could not be reached: "
                                         "connection refused")]
    git.refs = {"refs/heads/main": A}
    world.poll()
    world.poll()
    health = world.stored.polling
    assert (health.status, health.consecutive_failures, health.last_error) == ("ok", 0, None)
    assert health.last_polled_at == "2026-01-01T00:05:00.000Z"
    assert [r for _, r in world.reasons] == [
        f"polling {URL} started failing: the remote could not be reached: connection refused",
        f"polling {URL} recovered after 3 failed poll(s)",
    ]


def test_a_source_deleted_during_a_poll_is_not_resurrected() -> None:
    world = World(ScriptedGit({"refs/heads/main": B}), source())
    world.sources.items.clear()
    world.service.poll()
    assert world.sources.get("t", "src_1") is None and world.log.items == []
