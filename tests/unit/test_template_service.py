"""TemplateService on the in-memory ports, with a stub GitOps provider: saves are optimistic (a stale `base_version`
or a file changed in the repository is a 409 that overwrites nothing), a push becomes a version, and a version runs
when the template runs on update."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, cast

import pytest

from gitconnect.domain.auth import Principal
from gitconnect.domain.errors import ConflictError
from gitconnect.domain.models import Connection
from gitconnect.domain.templates import TemplateVersion
from gitconnect.providers.base import Access, Committed, FileChange, RepoFile, RepositoryRef
from gitconnect.services.drift import DriftCheck
from gitconnect.services.gitops_queue import GitOpsSyncConsumer, SyncRequest, SyncRequests
from gitconnect.services.runs import RunService
from gitconnect.services.secrets import ConnectionSecrets
from gitconnect.services.templates import TemplateService
from tests.support.memory import MemoryConnections, MemoryTemplates, PlainCipher, Recorder

CONNECTION = Connection(team_id="t1", id="con_1", provider="stub", name="acme", account="acme", base_url=None,
                        status="active", created_at="t", account_key="stub#1")
LINK = {"connection_id": "con_1", "repository": "acme/app", "branch": "main", "path": "deploy.json"}

U1 = Principal("u1", {"t1": "admin"})


@dataclass
class StubGitOps:
    """A provider with GitOps files: one commit per write, the file's version its blob hash (GitHub's way)."""

    files: dict[tuple[str, str, str], tuple[bytes, str]] = field(default_factory=dict)  # -> (content, commit)
    commits: list[str] = field(default_factory=list)
    heads: dict[tuple[str, str], str] = field(default_factory=dict)  # (repository, branch) -> its last commit
    calls: list[str] = field(default_factory=list)  # "head <repository> <branch>", "read <path>"

    @staticmethod
    def version(content: bytes) -> str:
        return hashlib.sha1(content, usedforsecurity=False).hexdigest()

    def push(self, repository: str, branch: str, path: str, content: bytes) -> str:
        """A commit made outside gitconnect."""
        sha = hashlib.sha1(f"{len(self.commits)} {path}".encode(), usedforsecurity=False).hexdigest()
        self.files[(repository, branch, path)] = (content, sha)
        # The branch moved: every file on it is now read at the new commit
        for (repo, on, other), (kept, _) in list(self.files.items()):
            if (repo, on) == (repository, branch):
                self.files[(repo, on, other)] = (kept, sha)
        self.heads[(repository, branch)] = sha
        self.commits.append(sha)
        return sha

    def resolve_branch(self, access: Access, repository: str, branch: str) -> str | None:
        self.calls.append(f"head {repository} {branch}")
        return self.heads.get((repository, branch))

    def repository(self, access: Access, requested: str | None) -> RepositoryRef:
        name = requested or "acme/app"
        return RepositoryRef(name, f"https://git.example.com/{name}.git", "1")

    def read_file(self, access: Access, repository: str, branch: str, path: str) -> RepoFile | None:
        self.calls.append(f"read {path}")
        found = self.files.get((repository, branch, path))
        if found is None:
            return None
        content, commit = found
        return RepoFile(path, content, self.version(content), "mona", commit)

    def commit_file(self, access: Access, repository: str, change: FileChange) -> Committed:
        current = self.files.get((repository, change.branch, change.path))
        if (None if current is None else self.version(current[0])) != change.expected:
            raise ConflictError(f"{change.path} does not match {change.expected}")
        sha = self.push(repository, change.branch, change.path, change.content)
        return Committed(sha, self.version(change.content))


@dataclass
class Given:
    service: TemplateService
    store: MemoryTemplates
    bus: Recorder
    git: StubGitOps


def given(store: MemoryTemplates | None = None) -> Given:
    store, bus, git = store or MemoryTemplates(), Recorder(), StubGitOps()
    runs = RunService(store, store, bus, "https://gitconnect.example.com")
    providers = cast(Any, {"stub": git}).__getitem__  # the service needs only its GitOps files
    service = TemplateService(store, MemoryConnections(CONNECTION), ConnectionSecrets(PlainCipher()), providers, runs)
    return Given(service, store, bus, git)


def document(n: int) -> dict[str, Any]:
    return {"replicas": n}


def run_reasons(bus: Recorder) -> list[str]:
    return [str(detail["reason"]) for kind, detail in bus.published if kind == "RunRequested"]


# ------------------------------------------------------------------------------------------------ saves in the app

@pytest.mark.parametrize(("base_version", "saved"), [(2, True), (1, False), (3, False)])
def test_a_save_lands_only_on_the_latest_version(base_version: int, saved: bool) -> None:
    # Given a template at version 2
    g = given()
    template = g.service.create("t1", U1, {"name": "web", "content": document(1), "run_on_update": True})
    g.service.update("t1", U1, template.id, document(2), 1, None)
    # When a save is based on `base_version`
    if saved:
        result = g.service.update("t1", U1, template.id, document(3), base_version, None)
        assert result.version == 3
    else:
        with pytest.raises(ConflictError) as conflict:
            g.service.update("t1", U1, template.id, document(3), base_version, None)
        # Then a stale one is a 409 with both sides, and nothing is saved or run
        assert conflict.value.extra == {"current": {"version": 2, "content": document(2)},
                                        "yours": {"base_version": base_version, "content": document(3)}}
    versions = [(v.version, v.content, v.origin) for v in g.service.versions("t1", template.id)]
    expected = [(2, document(2), "app"), (1, document(1), "app")]
    assert versions == ([(3, document(3), "app"), *expected] if saved else expected)
    assert run_reasons(g.bus) == ["version 2 saved in the app"] + (["version 3 saved in the app"] if saved else [])


def test_a_save_raced_by_another_writer_is_a_conflict() -> None:
    class Raced(MemoryTemplates):
        """Another save lands between this one's read and its write."""

        def save_version(self, template: Any, version: TemplateVersion | None, expected_version: int) -> None:
            if version is not None and version.author == "slow":
                other = TemplateVersion(template.id, template.version, document(9), "app", "t", None, "fast")
                super().save_version(template, other, expected_version)
            super().save_version(template, version, expected_version)

    g = given(Raced())
    template = g.service.create("t1", U1, {"name": "web", "content": document(1)})
    with pytest.raises(ConflictError, match="changed meanwhile"):
        g.service.update("t1", Principal("slow", {"t1": "admin"}), template.id, document(2), 1, None)
    assert [(v.version, v.author) for v in g.service.versions("t1", template.id)] == [(2, "fast"), (1, "u1")]


# ------------------------------------------------------------------------------------------------- a linked file

def linked(g: Given) -> str:
    g.git.push("acme/app", "main", "deploy.json", json.dumps(document(1)).encode())
    template = g.service.create("t1", U1, {"name": "web", "gitops": {**LINK, "mode": "link"}, "run_on_update": True})
    return template.id


def test_a_save_commits_the_file_at_the_version_it_was_read() -> None:
    g = given()
    template_id = linked(g)
    saved = g.service.update("t1", U1, template_id, document(2), 1, "scale up")
    assert json.loads(g.git.files[("acme/app", "main", "deploy.json")][0]) == document(2)
    assert saved.gitops is not None and saved.gitops.last_synced_sha == g.git.commits[-1]
    assert g.service.sync(saved) == "unchanged"  # gitconnect's own commit is not a new version


def test_a_file_changed_in_the_repository_makes_the_save_a_conflict() -> None:
    g = given()
    template_id = linked(g)
    g.git.push("acme/app", "main", "deploy.json", b'{"replicas": 5}\n')  # someone pushed; no sync yet
    with pytest.raises(ConflictError, match="changed in the repository since the last sync") as conflict:
        g.service.update("t1", U1, template_id, document(2), 1, None)
    assert conflict.value.extra["repository"] == {"sha": g.git.commits[-1], "content": {"replicas": 5}}
    assert g.service.get("t1", template_id).version == 1  # nothing saved, nothing overwritten
    assert json.loads(g.git.files[("acme/app", "main", "deploy.json")][0]) == {"replicas": 5}


@pytest.mark.parametrize(("pushed", "outcome", "version", "runs"), [
    (b'{"replicas": 4}', "updated", 2, 1),  # a new version from the commit, and its run
    (b'{ "replicas" : 1 }', "synced", 1, 0),  # the same document at a newer commit
    (b"{not json", "invalid", 1, 0),  # refused: the template keeps its last good version
])
def test_a_push_to_the_linked_file(pushed: bytes, outcome: str, version: int, runs: int) -> None:
    g = given()
    template_id = linked(g)
    commit = g.git.push("acme/app", "main", "deploy.json", pushed)
    assert g.service.sync(g.service.get("t1", template_id)) == outcome
    template = g.service.get("t1", template_id)
    assert template.version == version and len(run_reasons(g.bus)) == runs
    assert template.gitops is not None
    if outcome == "invalid":
        assert (template.gitops.status, (template.gitops.last_error or {}).get("commit_sha")) == ("error", commit)
    else:
        assert (template.gitops.status, template.gitops.last_synced_sha) == ("synced", commit)


# ------------------------------------------------------------------------------------------------ drift checks

def test_a_linked_template_stored_without_a_drift_due_time_gets_its_groups() -> None:
    # Given two templates linked on one branch, one of them stored before drift due times existed
    g = given()
    for path in ("a.json", "b.json"):
        g.git.push("acme/app", "main", path, json.dumps(document(1)).encode())
    first, second = (g.service.create("t1", U1, {"name": p, "gitops": {**LINK, "path": p, "mode": "link"}}).id
                     for p in ("a.json", "b.json"))
    key = ("t1", second)
    g.store.templates[key] = replace(g.store.templates[key], drift_due_at=None)
    # When the backfill asks for it (twice: the second finds it has one)
    assert g.service.schedule_drift_if_absent("t1", second) is True
    assert g.service.schedule_drift_if_absent("t1", second) is False
    # Then it is due with its group, as a template saved today is
    assert g.service.get("t1", second).drift_due_at == g.service.get("t1", first).drift_due_at is not None
    assert g.service.schedule_drift_if_absent("t1", "tpl_gone") is False


@dataclass
class Fifo:
    """The gitops queue: what was sent, in order (SQS's own dedup window is not modelled here)."""

    sent: list[SyncRequest] = field(default_factory=list)

    def send_many(self, messages: Any) -> None:
        self.sent.extend(SyncRequest.from_body(body) for body, _group, _dedup in messages)


def drift_of(g: Given) -> tuple[DriftCheck, Fifo, GitOpsSyncConsumer]:
    fifo = Fifo()
    runs = RunService(g.store, g.store, g.bus, "https://gitconnect.example.com")
    providers = cast(Any, {"stub": g.git}).__getitem__
    check = DriftCheck(g.store, MemoryConnections(CONNECTION), ConnectionSecrets(PlainCipher()), providers,
                       SyncRequests(fifo), runs, clock=lambda: 0.0)
    return check, fifo, GitOpsSyncConsumer(g.service)


def next_round(g: Given) -> None:
    """The scheduler's claims of the next check round: every template moved to its group's next due time (a head
    remembered in the last round is not used in this one)."""
    for key, template in g.store.templates.items():
        g.store.templates[key] = replace(template, drift_due_at=(template.drift_due_at or 0) + 180)


def check_all(check: DriftCheck, fifo: Fifo, consumer: GitOpsSyncConsumer, ids: list[str]) -> dict[str, str]:
    """Every template's drift check, then the syncs they requested applied (the scheduled sync, then the queue)."""
    outcomes = {i: check.check("t1", i).outcome for i in ids}
    while fifo.sent:
        request = fifo.sent.pop(0)
        outcomes[request.template_id] = consumer.apply(request)
    return outcomes


def test_drift_is_found_with_one_head_check_per_branch_and_files_read_only_when_it_moved() -> None:
    # Given ten templates linked to ten files on one branch (one drift group: due together, checked in one container)
    g = given()
    check, fifo, consumer = drift_of(g)
    paths = [f"apps/{i}.json" for i in range(10)]
    for path in paths:
        g.git.push("acme/app", "main", path, json.dumps(document(1)).encode())
    ids = [g.service.create("t1", U1, {"name": path, "gitops": {**LINK, "path": path, "mode": "link"},
                                         "run_on_update": False}).id for path in paths]
    assert len({g.service.get("t1", i).drift_due_at for i in ids}) == 1  # one group, one due time
    # When their drift checks run while nothing changed
    g.git.calls.clear()
    assert set(check_all(check, fifo, consumer, ids).values()) == {"unchanged"}
    # Then the branch head was asked for once and no file was read
    assert g.git.calls == ["head acme/app main"]
    # When one file changes, every template on the moved branch gets a sync request, and each file is read once
    g.git.push("acme/app", "main", paths[3], json.dumps(document(7)).encode())
    next_round(g)
    g.git.calls.clear()
    outcomes = check_all(check, fifo, consumer, ids)
    assert outcomes[ids[3]] == "updated" and [outcomes[i] for i in ids].count("unchanged") == 9
    assert g.git.calls == ["head acme/app main", *(f"read {p}" for p in paths)]
    # And the next check reads nothing again: each template remembers the commit it was checked at
    next_round(g)
    g.git.calls.clear()
    assert set(check_all(check, fifo, consumer, ids).values()) == {"unchanged"}
    assert g.git.calls == ["head acme/app main"]
    assert g.service.get("t1", ids[3]).content == document(7)


def test_a_refused_file_is_not_read_again_until_the_branch_moves() -> None:
    g = given()
    check, fifo, consumer = drift_of(g)
    template_id = linked(g)
    bad = g.git.push("acme/app", "main", "deploy.json", b"{not json")
    assert check_all(check, fifo, consumer, [template_id]) == {template_id: "invalid"}
    next_round(g)
    g.git.calls.clear()
    assert check_all(check, fifo, consumer, [template_id]) == {template_id: "unchanged"}
    assert g.git.calls == ["head acme/app main"]
    link = g.service.get("t1", template_id).gitops
    assert link is not None and (link.status, (link.last_error or {}).get("commit_sha")) == ("error", bad)


def test_syncs_applied_out_of_order_end_in_the_branch_heads_content() -> None:
    # Given a linked template, and two pushes whose sync requests are applied newest first
    g = given()
    _check, _fifo, consumer = drift_of(g)
    template_id = linked(g)
    first = g.git.push("acme/app", "main", "deploy.json", json.dumps(document(2)).encode())
    second = g.git.push("acme/app", "main", "deploy.json", json.dumps(document(3)).encode())
    template = g.service.get("t1", template_id)
    newer, older = SyncRequest.of(template, second), SyncRequest.of(template, first)
    assert newer.group_id == older.group_id and newer.deduplication_id != older.deduplication_id
    # When they are applied newest first, then oldest
    assert [consumer.apply(newer), consumer.apply(older)] == ["updated", "unchanged"]
    # Then the template has the later commit's content, from that commit
    current = g.service.get("t1", template_id)
    assert current.content == document(3) and current.gitops is not None
    assert current.version == 2 and g.store.versions(template_id)[0].commit_sha == second
