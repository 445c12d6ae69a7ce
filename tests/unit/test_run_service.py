"""RunService on the in-memory ports: the template's concurrency policy decides whether a second run starts at once
(`allow`), waits for the first to end (`queue`), or is refused (`forbid`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from gitconnect.domain.errors import ConflictError
from gitconnect.domain.templates import Template, TemplateVersion
from gitconnect.services import runs as runs_module
from gitconnect.services.builds import token_hash
from gitconnect.services.runs import RunService
from tests.support.memory import MemoryTemplates, Recorder

TEMPLATE = Template(team_id="t1", id="tpl_1", name="deploy", kind="template", content={"steps": ["v2"]}, version=2,
                    run_on_update=True, concurrency="allow", created_at="t", updated_at="t")


@pytest.fixture(autouse=True)
def ticking_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second per reading: runs are ordered by when they were requested (ties within a millisecond would sort by
    their random ids, in the table as here)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ticks = (start + timedelta(seconds=n) for n in itertools.count())
    monkeypatch.setattr(runs_module, "utcnow", lambda: next(ticks))


@dataclass
class Given:
    runs: RunService
    store: MemoryTemplates
    bus: Recorder
    template: Template  # at version 2; version 1 is in the store too


def given(concurrency: str = "allow", *, bus_outages: int = 0) -> Given:
    store, bus = MemoryTemplates(), Recorder(fail=bus_outages)
    template = replace(TEMPLATE, concurrency=concurrency)
    store.create(replace(template, version=1, content={"steps": ["v1"]}),
                 TemplateVersion("tpl_1", 1, {"steps": ["v1"]}, "app", "t"))
    store.save_version(template, TemplateVersion("tpl_1", 2, template.content, "app", "t"), 1)
    return Given(RunService(store, store, bus, "https://gitconnect.example.com"), store, bus, template)


def started(bus: Recorder) -> list[str]:
    return [str(detail["run_id"]) for kind, detail in bus.published if kind == "RunRequested"]


@pytest.mark.parametrize(("concurrency", "second_status", "second_started", "second_description"), [
    ("allow", "queued", True, None),  # both run at once
    ("queue", "queued", False, None),  # the second waits for the first
    ("forbid", "cancelled", False, "refused: run {first} was in progress"),  # the second is refused, and says why
])
def test_a_second_run_while_the_first_is_active(concurrency: str, second_status: str, second_started: bool,
                                                second_description: str | None) -> None:
    # Given a template whose first run started
    g = given(concurrency)
    first = g.runs.request(g.template, "version 2 saved in the app")
    assert first.started and started(g.bus) == [first.id]
    # When a second run is requested automatically (a new version, a push)
    second = g.runs.request(g.template, "version 3 from a push")
    # Then the policy decides
    assert (second.status, second.started) == (second_status, second_started)
    assert second.description == (second_description and second_description.format(first=first.id))
    assert started(g.bus) == ([first.id, second.id] if second_started else [first.id])
    assert [r.id for r in g.runs.list("tpl_1")] == [second.id, first.id]  # newest first


@pytest.mark.parametrize("concurrency", ["allow", "queue", "forbid"])
def test_nothing_active_starts_at_once(concurrency: str) -> None:
    g = given(concurrency)
    first = g.runs.request(g.template, "r1")
    g.runs.report(first, "succeeded", None)
    second = g.runs.request(g.template, "r2")
    assert second.started and started(g.bus) == [first.id, second.id]


def test_a_manual_run_of_a_forbid_template_is_a_conflict() -> None:
    g = given("forbid")
    first = g.runs.request(g.template, "r1")
    with pytest.raises(ConflictError, match=f"run {first.id} is in progress"):
        g.runs.request(g.template, "by hand", manual=True)
    assert [r.id for r in g.store.runs("tpl_1")] == [first.id]  # nothing recorded


def test_queued_runs_start_in_order_as_each_ends() -> None:
    g = given("queue")
    first, second, third = (g.runs.request(g.template, f"r{n}") for n in range(3))
    assert started(g.bus) == [first.id]
    g.runs.report(first, "running", None)
    assert started(g.bus) == [first.id]  # still active
    g.runs.report(g.store.run_items[first.id], "failed", "boom")
    assert started(g.bus) == [first.id, second.id]
    g.runs.report(g.store.run_items[second.id], "succeeded", None)
    assert started(g.bus) == [first.id, second.id, third.id]


def test_a_queued_run_of_an_older_version_runs_that_version() -> None:
    g = given("queue")
    first = g.runs.request(g.template, "r1")
    older = replace(g.template, version=1)  # requested for version 1 while version 2 is the template's
    waiting = g.runs.request(older, "r2")
    g.runs.report(first, "succeeded", None)
    [(_, detail)] = [(k, d) for k, d in g.bus.published if d["run_id"] == waiting.id]
    assert (detail["version"], detail["content"]) == (1, {"steps": ["v1"]})


def test_the_event_carries_the_token_whose_hash_is_stored() -> None:
    g = given()
    run = g.runs.request(g.template, "r1", details={"ref": "refs/heads/main"})
    [(_, detail)] = g.bus.published
    assert detail["callback_url"] == f"https://gitconnect.example.com/v1/runs/{run.id}/status"
    assert detail["ref"] == "refs/heads/main" and detail["content"] == {"steps": ["v2"]}
    assert g.store.run_items[run.id].callback_token_hash == token_hash(str(detail["callback_token"]))


def test_a_failed_publish_unmarks_the_run_so_a_queue_does_not_wait_on_it() -> None:
    g = given("queue", bus_outages=1)
    with pytest.raises(RuntimeError):
        g.runs.request(g.template, "r1")
    [run] = g.store.runs("tpl_1")
    assert (run.status, run.started, run.callback_token_hash) == ("queued", False, None)
    second = g.runs.request(g.template, "r2")  # nothing is active: the first in request order starts, r1
    assert not second.started and second.position == 2 and started(g.bus) == [run.id]
    g.runs.report(g.store.run_items[run.id], "succeeded", None)
    assert started(g.bus) == [run.id, second.id]


def test_a_repeated_final_report_is_accepted_and_a_late_one_refused() -> None:
    g = given()
    run = g.runs.request(g.template, "r1")
    done = g.runs.report(run, "succeeded", None)
    assert g.runs.report(done, "succeeded", None) is done  # the runner repeating itself
    with pytest.raises(ConflictError, match="cannot move to 'running'"):
        g.runs.report(done, "running", None)


@pytest.mark.parametrize("concurrency", ["allow", "queue", "forbid"])
def test_a_derived_run_id_requested_twice_is_one_run(concurrency: str) -> None:
    # Given a release flow's trigger run, requested under an id derived from the push
    g = given(concurrency)
    details = {"trigger": "push", "ref": "refs/heads/main", "sha": "a" * 40}
    first = g.runs.request(g.template, "push to main", details=details, run_id="run_derived")
    # When the same push asks again (a second hook of the repository), then once it has ended
    again = g.runs.request(g.template, "push to main", details=details, run_id="run_derived")
    g.runs.report(g.store.get_run("run_derived") or first, "succeeded", None)
    after = g.runs.request(g.template, "push to main", details=details, run_id="run_derived")
    # Then there is one run, started once, and every request answers it
    assert first.id == again.id == after.id == "run_derived"
    assert [r.id for r in g.store.runs(g.template.id)] == ["run_derived"]
    assert started(g.bus) == ["run_derived"]
