"""StatusMirror on the in-memory ports: a message shows the build's status as it is when handled (late or out of order
still ends on the latest), a status already shown is not shown again, a provider refusing for now is retried (raised
for the queue), and one refusing for good is dropped with the reason."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, cast

import pytest

from gitconnect.domain.errors import NotFoundError, RemoteUnreachableError
from gitconnect.domain.models import Build, Connection, Source
from gitconnect.providers.base import Access, CommitCheck
from gitconnect.services.builds import new_build
from gitconnect.services.secrets import ConnectionSecrets
from gitconnect.services.statuses import StatusMirror, StatusRequests
from tests.support.memory import MemoryBuilds, MemoryConnections, PlainCipher

CONNECTION = Connection(team_id="t1", id="con_1", provider="stub", name="acme", account="acme", base_url=None,
                        status="active", created_at="t", account_key="stub#1")
SOURCE = Source(team_id="t1", id="src_1", name="app", connection_id="con_1", provider="stub", repository="acme/app",
                clone_url="https://git.example.com/acme/app.git", branches=("main",), created_at="t", updated_at="t")
BUILD = new_build(SOURCE, ref="refs/heads/main", sha="a" * 40, trigger="push", requested_by=None, build_id="bld_1")


@dataclass
class Statuses:
    """CommitStatuses: what was shown, and failures to raise first."""

    shown: list[tuple[str, str]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def report_status(self, access: Access, build: Build, url: str | None, description: str | None) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.shown.append((build.sha, build.status))


def mirror(provider: Any, *builds: Build) -> tuple[StatusMirror, MemoryBuilds]:
    store = MemoryBuilds()
    for build in builds:
        store.put_if_absent(build)
    providers = cast(Any, {"stub": provider}).__getitem__
    return StatusMirror(store, store, MemoryConnections(CONNECTION), ConnectionSecrets(PlainCipher()), providers), store


def test_the_current_status_is_shown_once_however_many_messages_ask() -> None:
    statuses = Statuses()
    service, store = mirror(statuses, BUILD)
    assert service.mirror("bld_1") == "shown"  # `pending` (queued) at once
    store.items["bld_1"] = replace(store.items["bld_1"], status="succeeded")
    # Two messages (the queued one handled late, and the report's): the latest status, once
    assert [service.mirror("bld_1"), service.mirror("bld_1")] == ["shown", "already shown"]
    assert statuses.shown == [("a" * 40, "queued"), ("a" * 40, "succeeded")]


def test_a_provider_refusing_for_now_is_retried_and_one_refusing_for_good_is_dropped() -> None:
    statuses = Statuses(failures=[RemoteUnreachableError("the provider timed out")])
    service, _ = mirror(statuses, BUILD)
    with pytest.raises(RemoteUnreachableError):
        service.mirror("bld_1")  # the queue redelivers it
    assert service.mirror("bld_1") == "shown" and statuses.shown == [("a" * 40, "queued")]
    gone = Statuses(failures=[NotFoundError("no such commit")])
    service, store = mirror(gone, BUILD)
    assert service.mirror("bld_1") == "refused: no such commit" and store.items["bld_1"].mirrored_status is None


def test_nothing_is_shown_for_a_build_or_connection_that_is_gone_or_a_provider_without_statuses() -> None:
    service, _ = mirror(Statuses())
    assert service.mirror("bld_missing") == "gone"
    service, _ = mirror(object(), BUILD)
    assert service.mirror("bld_1") == "nowhere to show it"


def test_statuses_are_asked_for_only_where_the_provider_shows_them() -> None:
    sent: list[str] = []

    class Queue:
        def send(self, body: str) -> None:
            sent.append(body)

    requests = StatusRequests(Queue(), lambda provider_id: provider_id == "stub")
    requests.request(BUILD)
    requests.request(replace(BUILD, id="bld_2", provider="custom"))
    assert sent == ['{"build_id": "bld_1"}']


def test_a_status_that_moves_while_it_is_shown_is_shown_again() -> None:
    # Another message's report lands while this one posts `queued`: the mirror ends on the newer status
    store_ref: list[MemoryBuilds] = []

    @dataclass
    class Racing(Statuses):
        def report_status(self, access: Access, build: Build, url: str | None, description: str | None) -> None:
            super().report_status(access, build, url, description)
            if build.status == "queued":
                store_ref[0].items["bld_1"] = replace(store_ref[0].items["bld_1"], status="succeeded")

    statuses = Racing()
    service, store = mirror(statuses, BUILD)
    store_ref.append(store)
    assert service.mirror("bld_1") == "shown"
    assert statuses.shown == [("a" * 40, "queued"), ("a" * 40, "succeeded")]
    assert store.items["bld_1"].mirrored_status == "succeeded"


@dataclass
class Checks:
    """CommitChecks: the checks shown, and failures to raise first."""

    shown: list[CommitCheck] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def report_check(self, access: Access, check: CommitCheck) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.shown.append(check)


def test_a_check_travels_the_status_queue_with_its_result_and_is_retried_like_a_status() -> None:
    # Given a check requested through StatusRequests (the message carries the result, not a build id)
    sent: list[str] = []

    class Queue:
        def send(self, body: str) -> None:
            sent.append(body)

    check = CommitCheck("acme/app", "b" * 40, "gitconnect/template", "failure", "app.json: not valid JSON: line 2",
                        "app.json: not valid JSON: line 2", "gitconnect/template", ref="feature")
    StatusRequests(Queue(), lambda provider: True).request_check(CONNECTION, check)
    checks = Checks(failures=[RemoteUnreachableError("the provider timed out")])
    service, _ = mirror(checks)
    # When the mirror handles it: a provider down is raised for the queue, then shown as sent
    with pytest.raises(RemoteUnreachableError):
        service.handle(json.loads(sent[0]))
    assert service.handle(json.loads(sent[0])) == "shown" and checks.shown == [check]
    # A refusal for good is dropped with the reason; a provider without checks shows nothing
    service, _ = mirror(Checks(failures=[NotFoundError("no such commit")]))
    assert service.handle(json.loads(sent[0])) == "refused: no such commit"
    service, _ = mirror(Statuses())
    assert service.handle(json.loads(sent[0])) == "nowhere to show it"
