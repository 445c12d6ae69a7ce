"""BuildDispatcher (the builds queue's consumer) on the in-memory ports: each request becomes one build record and a
BuildRequested event whose callback token is the one whose hash the record keeps."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gitconnect.domain.models import Source
from gitconnect.services.builds import BuildDispatcher, new_build, token_hash
from tests.support.memory import MemoryBuilds, MemorySources, Recorder

SOURCE = Source(team_id="t1", id="src_1", name="app", connection_id="con_1", provider="github",
                repository="octo-org/app", clone_url="https://github.com/octo-org/app.git", branches=("main",),
                created_at="t", updated_at="t", repository_id="7")
BUILD = new_build(SOURCE, ref="refs/heads/main", sha="b" * 40, trigger="push", requested_by=None, build_id="bld_1")


def dispatcher(*, source: bool = True, bus_outages: int = 0) -> tuple[BuildDispatcher, MemoryBuilds, Recorder]:
    builds, bus = MemoryBuilds(), Recorder(fail=bus_outages)
    sources = MemorySources(SOURCE) if source else MemorySources()
    return BuildDispatcher(builds, sources, bus, "https://gitconnect.example.com/"), builds, bus


@pytest.mark.parametrize(("source", "recorded", "outcome", "status", "published"), [
    (True, False, "published", "queued", 1),  # the usual case: the router queued it, nothing recorded yet
    (True, True, "published", "queued", 1),  # a manual build: the API recorded it before queueing
    (False, False, "cancelled", "cancelled", 0),  # unlinked after the request was queued
    (False, True, "cancelled", "cancelled", 0),
])
def test_a_queued_build(source: bool, recorded: bool, outcome: str, status: str, published: int) -> None:
    # Given the builds queue's message for a build
    service, builds, bus = dispatcher(source=source)
    if recorded:
        builds.put_if_absent(BUILD)
    # When it is dispatched
    assert service.dispatch(BUILD) == outcome
    # Then there is one record, with the outcome, and BuildRequested went out if the source is still there
    assert list(builds.items) == ["bld_1"]
    assert builds.items["bld_1"].status == status
    assert len(bus.published) == published
    if not source:
        assert builds.items["bld_1"].description == "the source was removed before the build started"


def test_the_event_carries_the_token_whose_hash_is_stored() -> None:
    service, builds, bus = dispatcher()
    service.dispatch(BUILD)
    [(detail_type, detail)] = bus.published
    assert detail_type == "BuildRequested"
    assert detail["callback_url"] == "https://gitconnect.example.com/v1/builds/bld_1/status"
    assert {k: detail[k] for k in ("build_id", "team_id", "source_id", "ref", "sha", "trigger")} == {
        "build_id": "bld_1", "team_id": "t1", "source_id": "src_1", "ref": "refs/heads/main", "sha": "b" * 40,
        "trigger": "push"}
    stored = builds.items["bld_1"]
    assert stored.callback_token_hash == token_hash(str(detail["callback_token"]))
    assert stored.published_at is not None


def test_a_failed_publish_is_retried_with_a_new_token_that_replaces_the_first() -> None:
    service, builds, bus = dispatcher(bus_outages=1)
    with pytest.raises(RuntimeError):
        service.dispatch(BUILD)  # SQS redelivers the message
    first_hash = builds.items["bld_1"].callback_token_hash
    assert first_hash is not None and bus.published == []
    assert service.dispatch(BUILD) == "published"
    [(_, detail)] = bus.published
    assert builds.items["bld_1"].callback_token_hash == token_hash(str(detail["callback_token"])) != first_hash


def test_another_trigger_for_a_dispatched_build_is_merged_into_it_without_a_second_event() -> None:
    # Given a tag's build, dispatched (its BuildRequested out, the builder holding its callback token)
    service, builds, bus = dispatcher()
    tag = replace(BUILD, ref="refs/tags/v1", trigger="tag")
    assert service.dispatch(tag) == "published"
    token_hash_before = builds.items["bld_1"].callback_token_hash
    # When the release published on that tag asks for the same build (same id: same source, ref and commit)
    assert service.dispatch(replace(tag, trigger="release")) == "merged"
    # Then there is still one build and one event; the record lists both triggers; the builder's token still works
    assert len(bus.published) == 1
    assert builds.items["bld_1"].triggers == ("release", "tag")
    assert builds.items["bld_1"].callback_token_hash == token_hash_before
    assert builds.items["bld_1"].to_json()["triggers"] == ["release", "tag"]

