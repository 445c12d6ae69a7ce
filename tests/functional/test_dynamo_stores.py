"""The DynamoDB stores against moto: the items they write carry the key forms items in deployed tables already have
(read back here with the plain DynamoDB API), and their conditional writes answer as the services expect."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from gitconnect import wiring
from gitconnect.domain.errors import ConflictError, NotFoundError
from gitconnect.domain.models import Build, Connection, Delivery, PollHealth, Restrictions, Source
from gitconnect.domain.templates import Run, Template, TemplateVersion
from tests.support.inprocess import System

AT = "2026-01-02T03:04:05Z"


def item(system: System, table: str, **key: str) -> dict[str, Any] | None:
    answer = system.client("dynamodb").get_item(
        TableName=table, Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True
    )
    return answer.get("Item")  # type: ignore[no-any-return]


def test_template_version_and_run_items_keep_their_keys(system: System, team: str) -> None:
    store, table = wiring._template_store(), wiring.settings().templates_table
    template = Template(team, "tpl_k1", "t", "pipeline", {"a": 1}, 1, False, "allow", AT, AT)  # type: ignore[arg-type]
    store.create(template, TemplateVersion("tpl_k1", 1, {"a": 1}, "app", AT))
    store.put_run(Run("run_k1", team, "tpl_k1", 1, "queued", AT, AT))
    assert item(system, table, pk=f"team#{team}", sk="tpl#tpl_k1") is not None
    assert item(system, table, pk="tpl#tpl_k1", sk="v#0000000001") is not None
    run = item(system, table, pk="run#run_k1", sk="run")
    assert run is not None and run["template_key"] == {"S": "tpl#tpl_k1"}
    assert [t.id for t in store.list(team)] == ["tpl_k1"] and store.version_content("tpl_k1", 1) == {"a": 1}
    assert [r.id for r in store.runs("tpl_k1")] == ["run_k1"]
    with pytest.raises(ConflictError, match="exists"):
        store.put_run(Run("run_k1", team, "tpl_k1", 1, "queued", AT, AT))
    with pytest.raises(ConflictError, match="changed meanwhile"):
        store.save_version(template, None, expected_version=7)
    started = store.start_run(store.get_run("run_k1"), "hash", AT)  # type: ignore[arg-type]
    with pytest.raises(ConflictError, match="started or ended"):
        store.start_run(started, "hash", AT)


def test_two_saves_from_one_read_cannot_both_land(system: System, team: str) -> None:
    # A PATCH of the settings and a sync recording the commit it saw both keep the version: the revision tells them
    # apart, so the second to write gets a conflict instead of undoing the first's change.
    store, table = wiring._template_store(), wiring.settings().templates_table
    template = Template(team, "tpl_r1", "t", "pipeline", {"a": 1}, 1, False, "allow", AT, AT)  # type: ignore[arg-type]
    store.create(template, TemplateVersion("tpl_r1", 1, {"a": 1}, "app", AT))
    key = {"pk": {"S": f"team#{team}"}, "sk": {"S": "tpl#tpl_r1"}}
    system.client("dynamodb").update_item(TableName=table, Key=key, UpdateExpression="REMOVE revision")  # as before
    read = store.get(team, "tpl_r1")
    assert read is not None and read.revision == 0
    store.save_version(replace(read, name="renamed"), None, expected_version=1)
    with pytest.raises(ConflictError, match="changed meanwhile"):
        store.save_version(replace(read, run_on_update=True), None, expected_version=1)
    again = store.get(team, "tpl_r1")
    assert again is not None and (again.name, again.run_on_update, again.revision) == ("renamed", False, 1)
    store.save_version(replace(again, run_on_update=True), None, expected_version=1)  # read afresh: it lands
    last = store.get(team, "tpl_r1")
    assert last is not None and (last.name, last.run_on_update, last.revision) == ("renamed", True, 2)


def test_delivery_and_source_items_keep_their_keys(system: System, team: str) -> None:
    wiring.stores().deliveries.put_many([Delivery(team, "d-1", "github", "push", "con_1", "o/r", AT, "ignored", "x")])
    logged = item(system, wiring.settings().deliveries_table, team_id=team, received_key=f"{AT}#d-1#con_1")
    assert logged is not None and logged["delivery_id"] == {"S": "d-1"}
    source = Source(
        team,
        "src_k1",
        "s",
        "con_1",
        "github",
        "o/r",
        "https://x/o/r.git",
        ("main",),
        AT,
        AT,
        poll=True,
        repository_id="99",
    )
    wiring.stores().sources.create(source)
    stored = item(system, wiring.settings().sources_table, team_id=team, source_id="src_k1")
    assert stored is not None and stored["repo_key"] == {"S": "github#99"} and stored["poll_bucket"] == {"S": "poll"}
    assert "src_k1" in [s.id for s in wiring.stores().sources.for_repository("github", "99")]
    wiring.stores().sources.delete(team, "src_k1")
    with pytest.raises(ConflictError, match="deleted meanwhile"):
        wiring.stores().sources.replace(source)
    assert wiring.stores().sources.record_poll(team, "src_k1", {"main": "abc"}, None, AT, was_failing=False) == "gone"
    assert wiring.stores().sources.record_poll_failure(team, "src_k1", "down", AT, was_failing=True) == "gone"
    assert wiring.stores().sources.get(team, "src_k1") is None  # nothing resurrected


def test_poll_health_transitions_are_decided_by_the_writes_and_a_patch_keeps_them(system: System, team: str) -> None:
    store = wiring.stores().sources
    source = Source(team, "src_h1", "app", "con_1", "custom", "app", "https://x/app.git", ("main",), AT, AT, poll=True,
                    heads={"main": "a"}, tags=("v*",))
    store.create(source)
    assert store.get(team, "src_h1").polling.status == "pending"  # type: ignore[union-attr]
    # Two overlapping polls that both read the source as healthy: only one write begins the failing streak
    assert store.record_poll_failure(team, "src_h1", "refused", AT, was_failing=False) == "started"
    assert store.record_poll_failure(team, "src_h1", "refused", AT, was_failing=False) == "continued"
    later = "2026-01-02T03:06:00Z"
    assert store.record_poll_failure(team, "src_h1", "timed out", later, was_failing=True) == "continued"
    # A user's PATCH saves its settings with one targeted update: the health written meanwhile stays
    store.replace(replace(source, name="renamed", updated_at="2026-01-02T03:07:00Z"))
    failing = store.get(team, "src_h1")
    assert failing is not None and failing.name == "renamed"
    assert failing.polling == PollHealth("failing", "timed out", later, 3)
    # Recovery: reported once, by the write that ended the streak, even when both polls read it failing
    assert store.record_poll(team, "src_h1", {"main": "b"}, {"v1": "c"}, AT, was_failing=True) == "recovered"
    assert store.record_poll(team, "src_h1", {"main": "b"}, {"v1": "c"}, AT, was_failing=True) == "ok"
    healthy = store.get(team, "src_h1")
    assert healthy is not None and healthy.polling == PollHealth("ok", None, AT, 0)
    assert (healthy.heads, healthy.tag_heads, healthy.name) == ({"main": "b"}, {"v1": "c"}, "renamed")
    stored = item(system, wiring.settings().sources_table, team_id=team, source_id="src_h1")
    assert stored is not None and stored["poll_status"] == {"S": "ok"} and "poll_error" not in stored


def test_updates_never_create_and_creates_never_overwrite(system: System, team: str) -> None:
    connections = wiring.stores().connections
    assert connections.update_status(team, "con_gone", "active") is False
    assert connections.set_secret(team, "con_gone", b"x") is False
    with pytest.raises(NotFoundError):
        connections.set_restrictions(team, "con_gone", Restrictions())
    assert connections.get(team, "con_gone") is None
    connections.put(Connection(team, "con_k1", "custom", "n", None, None, "active", AT))
    assert connections.update_status(team, "con_k1", "needs_relink") is True
    assert connections.get(team, "con_k1").status == "needs_relink"  # type: ignore[union-attr]
    build = Build(
        "bld_k1", team, "src_1", "con_k1", "custom", "o/r", "u", "refs/heads/main", "a" * 40, "manual", "queued", AT, AT
    )
    assert wiring.stores().builds.put_if_absent(build) is True
    assert wiring.stores().builds.put_if_absent(build) is False
    wiring.stores().builds.update_status("bld_k1", "succeeded", None, None, AT, allowed_from=("queued",))
    with pytest.raises(ConflictError, match="cannot move"):
        wiring.stores().builds.update_status("bld_k1", "running", None, None, AT, allowed_from=("queued",))
    hooks = wiring.stores().hooks
    assert hooks.set_checked("hook_gone", 1.0) is False and hooks.get("hook_gone") is None


def test_listing_epoch_and_confirmed_restrictions(system: System, team: str) -> None:
    """The epoch is only ever ADDed to (concurrent bumps all count); records from before the prompt read confirmed."""
    from concurrent.futures import ThreadPoolExecutor

    connections, table = wiring.stores().connections, wiring.settings().connections_table
    connections.put(Connection(team, "con_e1", "gitlab", "n", None, None, "active", AT,
                               restrictions=Restrictions(confirmed=False)))
    stored = item(system, table, team_id=team, connection_id="con_e1")
    assert stored is not None and stored["restrictions_confirmed"] == {"BOOL": False} and "listing_epoch" not in stored
    assert connections.get(team, "con_e1").listing_epoch == 0  # type: ignore[union-attr]
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(lambda _: connections.bump_listing_epoch(team, "con_e1"), range(8)))
    assert connections.get(team, "con_e1").listing_epoch == 8  # type: ignore[union-attr]
    connections.set_restrictions(team, "con_e1", Restrictions("restricted", ("acme",), confirmed=True))
    after = connections.get(team, "con_e1")
    assert after is not None and after.listing_epoch == 9 and after.restrictions.confirmed is True
    assert connections.bump_listing_epoch(team, "con_gone") is False and connections.get(team, "con_gone") is None
    system.client("dynamodb").update_item(  # an item written before the attribute existed
        TableName=table, Key={"team_id": {"S": team}, "connection_id": {"S": "con_e1"}},
        UpdateExpression="REMOVE restrictions_confirmed")
    assert connections.get(team, "con_e1").restrictions.confirmed is True  # type: ignore[union-attr]


def test_leases_and_one_time_states_share_the_state_table(system: System) -> None:
    table, leases, states = wiring.settings().state_table, wiring.stores().leases, wiring.stores().states
    expires = int(time.time()) + 30
    assert leases.acquire("refresh#con_k1", expires) is True
    assert item(system, table, state_id="refresh#con_k1") == {
        "state_id": {"S": "refresh#con_k1"},
        "team_id": {"S": "-"},
        "user_id": {"S": "-"},
        "provider": {"S": "lease"},
        "expires_at": {"N": str(expires)},
    }
    assert leases.acquire("refresh#con_k1", int(time.time()) + 30) is False
    leases.release("refresh#con_k1")
    assert leases.acquire("refresh#con_k1", int(time.time()) - 1) is True
    assert leases.acquire("refresh#con_k1", int(time.time()) + 30) is True  # the expired holder loses it
    states.put("s" * 64, "team-a", "user-1", "gitlab", {"verifier": "v"}, int(time.time()) + 600)
    taken = states.take("s" * 64)
    assert taken is not None and taken["data"] == {"verifier": "v"} and taken["provider"] == "gitlab"
    assert states.take("s" * 64) is None


def test_a_hooks_last_check_is_read_back(system: System) -> None:
    """The scheduled sync skips hooks checked within GITCONNECT_HOOK_CHECK_SECONDS: only if the time comes back."""
    from gitconnect.domain.models import Hook

    store = wiring.stores().hooks
    hook = Hook("hook_checkedat0000000000000000", "t-1", "c-1", "s-1", "gitlab", "42", "g/p", "7", b"sealed", 1, AT)
    store.put(hook)
    assert store.get(hook.id).checked_at is None  # type: ignore[union-attr]
    assert store.set_checked(hook.id, 1_700_000_000.5)
    assert store.get(hook.id).checked_at == 1_700_000_000.5  # type: ignore[union-attr]
    assert [h.checked_at for h in store.for_provider("gitlab") if h.id == hook.id] == [1_700_000_000.5]
    assert [h.checked_at for h in store.for_connection("c-1")] == [1_700_000_000.5]


def test_source_status_and_connection_moves_and_connection_refreshes(system: System, team: str) -> None:
    sources, connections = wiring.stores().sources, wiring.stores().connections
    source = Source(team, "src_st1", "s", "con_a", "github", "o/r", "https://x/o/r.git", ("main",), AT, AT,
                    repository_id="77")
    sources.create(source)
    table = wiring.settings().sources_table
    # A record written before statuses existed (no attribute) reads `active`
    system.client("dynamodb").update_item(TableName=table, Key={"team_id": {"S": team}, "source_id": {"S": "src_st1"}},
                                          UpdateExpression="REMOVE #s", ExpressionAttributeNames={"#s": "status"})
    assert sources.get(team, "src_st1").status == "active"  # type: ignore[union-attr]
    assert sources.set_status(team, "src_st1", "access_revoked") is True
    assert sources.get(team, "src_st1").to_json()["status"] == "access_revoked"  # type: ignore[union-attr]
    assert sources.move(team, "src_st1", "con_b") is True
    assert sources.ids_for_connection("con_b") == [(team, "src_st1")] and sources.ids_for_connection("con_a") == []
    assert [s.connection_id for s in sources.for_repository("github", "77")] == ["con_b"]
    sources.delete(team, "src_st1")
    assert sources.set_status(team, "src_st1", "active") is False and sources.move(team, "src_st1", "con_a") is False
    assert sources.get(team, "src_st1") is None  # nothing resurrected
    connection = Connection(team, "con_r1", "github", "acme", "acme", None, "active", AT, account_key="github#5",
                            details={"repository_selection": "all"}, secret=b"sealed")
    connections.put(connection)
    refreshed = Connection(team, "con_r1", "github", "acme-renamed", "acme-renamed", None, "suspended", AT,
                           details={"repository_selection": "selected", "repositories": ["acme-renamed/api"]})
    assert connections.refresh(refreshed) is True
    read = connections.get(team, "con_r1")
    assert read is not None and (read.name, read.status, read.details["repositories"]) == (
        "acme-renamed", "suspended", ["acme-renamed/api"])
    assert (read.secret, read.account_key) == (b"sealed", "github#5")  # credentials and keys stay
    assert [c.id for c in connections.by_account("github#5")] == ["con_r1"]
    assert connections.refresh(replace(refreshed, id="con_gone")) is False
    assert connections.get(team, "con_gone") is None
