"""What a connection's and a source's status mean for building (manual builds 409, polls skipped), a manual build's
sha and default branch, the granted repositories a connection keeps, and a reinstalled GitHub App taking over the
sources of the uninstalled one. In-memory ports (tests/support/memory.py), no network."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gitconnect.domain.errors import BadRequestError, ConflictError, UnprocessableError
from gitconnect.domain.grants import MAX_LISTED_REPOSITORIES, grant_details, regranted
from gitconnect.domain.models import Connection, Source
from gitconnect.providers.base import Access, Branch
from gitconnect.providers.github.webhooks import normalize
from gitconnect.services.builds import BuildService, commit_id, default_branch_of
from gitconnect.services.installations import GitHubInstallations
from gitconnect.services.sync import PollService
from tests.support.memory import MemoryBuilds, MemoryConnections, MemoryDeliveries, MemorySources, Recorder


def connection(**changes: Any) -> Connection:
    base = Connection("t", "con_1", "github", "acme", "acme", "https://github.example", "active", "x",
                      account_key="github#1", details={"repository_selection": "selected"})
    return replace(base, **changes)


def source(**changes: Any) -> Source:
    base = Source(team_id="t", id="src_1", name="api", connection_id="con_1", provider="github",
                  repository="acme/api", clone_url="https://github.example/acme/api.git", branches=("main",),
                  created_at="x", updated_at="x", repository_id="11", poll=True)
    return replace(base, **changes)


class Provider:
    """Records every call: a refused build or a skipped poll must not reach the provider."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def branches(self, access: Access, repository: str) -> list[Branch]:
        self.calls.append("branches")
        return [Branch("main", "b" * 40)]

    def resolve_branch(self, access: Access, repository: str, branch: str) -> str | None:
        self.calls.append(f"resolve {branch}")
        return "c" * 40


class Connections:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, team_id: str, connection_id: str) -> Connection:
        return self.connection


class Secrets:
    def access(self, connection: Connection) -> Access:
        return Access(connection.base_url, connection.account_key, None)


def builds(connection: Connection, source: Source, provider: Provider) -> tuple[BuildService, Recorder]:
    queue = Recorder()
    service = BuildService(MemoryBuilds(), MemorySources(source), Connections(connection),  # type: ignore[arg-type]
                           Secrets(), lambda _: provider, queue, Recorder())  # type: ignore[arg-type]
    return service, queue


@pytest.mark.parametrize(("status", "words"), [
    ("suspended", "installation on acme was suspended"),
    ("uninstalled", "the GitHub App was removed from acme"),
    ("needs_relink", "needs to be linked again: github refused its credentials"),
    ("paused", "the connection is paused"),
])
def test_a_manual_build_on_a_connection_that_is_not_active_is_a_conflict(status: str, words: str) -> None:
    provider = Provider()
    service, queue = builds(connection(status=status), source(), provider)
    with pytest.raises(ConflictError) as refused:
        service.trigger("t", "src_1", branch="main", sha=None, user="u")
    assert words in refused.value.detail and refused.value.status == 409
    assert (queue.sent, provider.calls) == ([], [])


def test_a_manual_build_on_a_revoked_source_is_a_conflict() -> None:
    provider = Provider()
    service, queue = builds(connection(), source(status="access_revoked"), provider)
    with pytest.raises(ConflictError, match="access to acme/api was revoked from the GitHub App"):
        service.trigger("t", "src_1", branch=None, sha=None, user="u")
    assert (queue.sent, provider.calls) == ([], [])


def test_polls_skip_what_cannot_build_and_say_why() -> None:
    provider = Provider()
    sources = MemorySources(source(), source(id="src_2", connection_id="con_2"),
                            source(id="src_3", connection_id="con_3", status="access_revoked"))
    connections = MemoryConnections(connection(), connection(id="con_2", status="suspended"),
                                    connection(id="con_3"))
    report = PollService(sources, connections, Secrets(), lambda _: provider, Recorder(),  # type: ignore[arg-type]
                         MemoryDeliveries()).poll()
    assert report.sources == 3 and provider.calls == ["branches"]  # src_1 only
    assert set(report.skipped) == {"src_2", "src_3"}
    assert "suspended" in report.skipped["src_2"]
    assert report.skipped["src_3"] == "access to acme/api was revoked from the GitHub App"
    assert report.requested and report.failed == {}


@pytest.mark.parametrize("sha", ["0" * 40, "0" * 7, "abc123", "x" * 40, "a" * 41, "a" * 63, " " + "a" * 39, ""])
def test_a_sha_is_7_to_40_hex_digits_and_never_the_null_commit(sha: str) -> None:
    with pytest.raises(BadRequestError):
        commit_id(sha)


def test_a_sha_is_lower_cased_and_full_sha256_ids_pass() -> None:
    assert commit_id("ABCDEF1") == "abcdef1"
    assert commit_id("a" * 40) == "a" * 40 and commit_id("b" * 64) == "b" * 64
    assert commit_id(None) is None


@pytest.mark.parametrize(("branches", "default", "built"), [
    (("main",), "main", "main"),
    (("release/*", "ma*"), "main", "main"),  # a glob that matches the default branch
    (("dev",), "main", "dev"),  # the only literal branch
    (("dev", "release/*"), "main", "dev"),
    (("dev",), None, "dev"),  # an empty repository, or a provider that cannot say
])
def test_the_branch_a_build_without_one_builds(branches: tuple[str, ...], default: str | None, built: str) -> None:
    assert default_branch_of(source(branches=branches), default) == built


@pytest.mark.parametrize(("branches", "default"), [(("dev", "hotfix"), "main"), (("release/*",), "main"), ((), "x")])
def test_a_build_without_a_branch_names_what_to_name(branches: tuple[str, ...], default: str) -> None:
    with pytest.raises(UnprocessableError, match="name the `branch` to build") as refused:
        default_branch_of(source(branches=branches), default)
    assert repr(default) in refused.value.detail


def test_the_granted_list_is_bounded_for_dynamodbs_item_limit() -> None:
    names = [f"acme/repo-{n:05d}" for n in range(MAX_LISTED_REPOSITORIES + 5)]
    details = grant_details("selected", reversed(names))
    assert details["repositories"] == names[:MAX_LISTED_REPOSITORIES] and details["repositories_truncated"] is True
    assert len(str(details).encode()) < 100 * 1024  # far under one item's 400 KB
    assert grant_details("all", names) == {"repository_selection": "all", "repositories": None,
                                           "repositories_truncated": False}


def test_regranted_follows_additions_removals_and_the_selection() -> None:
    details = {"installation_id": "1", **grant_details("selected", ["acme/api", "acme/web"])}
    after = regranted(details, "selected", ["acme/docs"], ["ACME/API"])
    assert after["repositories"] == ["acme/docs", "acme/web"] and after["installation_id"] == "1"
    assert regranted(details, "all", [], [])["repositories"] is None
    assert regranted({"repository_selection": "selected"}, None, ["acme/x"], [])["repositories"] == ["acme/x"]
    truncated = {**details, "repositories_truncated": True}
    assert regranted(truncated, "selected", [], ["acme/web"])["repositories_truncated"] is True


def test_a_reinstall_takes_over_the_sources_of_the_same_teams_uninstalled_connection() -> None:
    old = connection(id="con_old", status="uninstalled", account="ACME")
    new = connection(id="con_new", account_key="github#2")
    unrelated = [connection(id="con_live", account="acme"),  # not uninstalled
                 connection(id="con_user", status="uninstalled", account="mona"),  # another account
                 connection(id="con_lab", provider="gitlab", status="uninstalled")]  # another provider
    other_team = connection(team_id="t2", id="con_t2", status="uninstalled")
    connections = MemoryConnections(old, new, other_team, *unrelated)
    sources = MemorySources(source(id="s1", connection_id="con_old"), source(id="s2", connection_id="con_old"),
                            *(source(id=f"s-{c.id}", connection_id=c.id) for c in unrelated),
                            source(team_id="t2", id="s-t2", connection_id="con_t2"))
    moved = GitHubInstallations(connections, sources).take_over(new)
    assert sorted(moved) == ["s1", "s2"]
    assert sources.ids_for_connection("con_old") == [] and connections.get("t", "con_old").status == "uninstalled"
    assert {s.id for s in sources.items.values() if s.connection_id == "con_new"} == {"s1", "s2"}
    assert sources.get("t2", "s-t2").connection_id == "con_t2"


def test_sources_follow_the_granted_repositories() -> None:
    sources = MemorySources(source(id="s1", repository_id="11"),
                            source(id="s2", repository_id="12", status="access_revoked"),
                            source(id="s3", repository_id="13"))
    installations = GitHubInstallations(MemoryConnections(connection()), sources)
    installations.follow_grant(connection(), frozenset({"12", "13"}))
    assert [sources.get("t", s).status for s in ("s1", "s2", "s3")] == ["access_revoked", "active", "active"]
    installations.follow_grant(connection(), None)  # unknown (suspended): nothing changes
    assert sources.get("t", "s1").status == "access_revoked"
    installations.follow_grant(connection(details={"repository_selection": "all"}), None)
    assert {s.status for s in sources.items.values()} == {"active"}


def test_installation_repositories_name_the_selection_they_leave() -> None:
    payload = {"action": "removed", "installation": {"id": 7, "account": {"login": "acme"}},
               "repository_selection": "selected", "repositories_added": [],
               "repositories_removed": [{"id": 11, "full_name": "acme/api", "private": True}]}
    event = normalize("installation_repositories", payload)
    assert (event.kind, getattr(event, "repository_selection", None)) == ("installation", "selected")
    assert [r.full_name for r in getattr(event, "removed", ())] == ["acme/api"]
    odd = normalize("installation_repositories", {**payload, "repository_selection": "some"})
    assert getattr(odd, "repository_selection", "x") is None
