"""Items stored before the due-time indexes existed (issue 12, reliability): a polled source without `poll_due_at`,
a hook without `check_bucket`/`check_due_at` and a linked template without `drift_due_at` are in no index the
schedule queries. Through the real scheduled sync under moto: the backfill gives them a due time, the next run sends
them, and once the pass is done it is not repeated (its marker in the state table)."""

from __future__ import annotations

import json
import time

import pytest

from gitconnect import wiring
from gitconnect.adapters.dynamo import ProgressStore
from infra.local.git_server import WorkingCopy
from tests.functional.test_custom_git_flow import link
from tests.functional.test_custom_git_polling import polled_source
from tests.support.hook_deliveries import store_hook
from tests.support.inprocess import System


def sent_ids(system: System) -> list[str]:
    """One scheduled sync; the ids it sent to SyncQueue, taken off the queue unprocessed."""
    system.fire_schedule()
    sqs, url, ids = system.client("sqs"), system.res.attrs["SyncQueue"]["QueueUrl"], []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            ids.append(json.loads(m["Body"])["id"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return ids


@pytest.mark.slow
def test_items_stored_before_the_due_indexes_become_due_once(
        system: System, team: str, admin: str, remote: tuple[str, WorkingCopy]) -> None:
    # Given: a polled source and a hook as they were stored before poll_due_at / check_due_at existed
    url, _ = remote
    source = polled_source(system, team, admin, link(system, team, admin, url)["id"])
    hook_id, _ = store_hook("gitlab", team)
    ddb, s = system.client("dynamodb"), wiring.settings()
    ddb.update_item(TableName=s.sources_table, Key={"team_id": {"S": team}, "source_id": {"S": source["id"]}},
                    UpdateExpression="REMOVE poll_due_at")
    ddb.update_item(TableName=s.hooks_table, Key={"hook_id": {"S": hook_id}},
                    UpdateExpression="REMOVE check_bucket, check_due_at")
    # ... and a backfill that is already done (as if it had run before they were stored): the schedule never sees them
    done = {"cursor": None, "done": True}
    ProgressStore().put("due-backfill", {"poll": done, "hook": done})
    wiring.reset()
    assert source["id"] not in sent_ids(system) and hook_id not in sent_ids(system)
    # (a deployment whose pass never ran starts without the marker)
    ddb.delete_item(TableName=s.state_table, Key={"state_id": {"S": "progress#due-backfill"}})
    wiring.reset()
    # When: the scheduled sync runs (its backfill gives each a due time within its interval: 0 in this suite)
    result = system.fire_schedule()
    assert result["backfilled"] == {"poll": 1, "hook": 1}
    # Then: both are found due by index and sent, by the next run
    sent = sent_ids(system)
    assert source["id"] in sent and hook_id in sent
    stored = ddb.get_item(TableName=s.sources_table, Key={"team_id": {"S": team}, "source_id": {"S": source["id"]}})
    assert float(stored["Item"]["poll_due_at"]["N"]) <= time.time() + 1
    # ... and the pass is done: a new container reads its marker and backfills nothing more
    wiring.reset()
    ddb.update_item(TableName=s.hooks_table, Key={"hook_id": {"S": hook_id}},
                    UpdateExpression="REMOVE check_bucket, check_due_at")
    assert system.fire_schedule()["backfilled"] == {}


@pytest.mark.slow
def test_a_linked_template_stored_before_drift_due_times_is_checked_again(
        system: System, team: str, admin: str, remote: tuple[str, WorkingCopy]) -> None:
    # Given: a template linked to a Custom Git file, as stored before drift_due_at existed (no drift index keys)
    url, work = remote
    connection = link(system, team, admin, url)["id"]
    created = system.call("POST", f"/v1/teams/{team}/templates", token=admin, body={
        "name": "app", "content": {"replicas": 1},
        "gitops": {"connection_id": connection, "branch": "main", "path": "app.json", "mode": "create"}})
    assert created.status == 201, created.body
    tid = created.json()["id"]
    ddb, s = system.client("dynamodb"), wiring.settings()
    key = {"pk": {"S": f"team#{team}"}, "sk": {"S": f"tpl#{tid}"}}
    ddb.update_item(TableName=s.templates_table, Key=key,
                    UpdateExpression="REMOVE drift_bucket, drift_due_at, drift_group")
    done = {"cursor": None, "done": True}
    ProgressStore().put("due-backfill", {"poll": done, "hook": done})  # those lanes read through before
    wiring.reset()
    # ... changed in the repository meanwhile (no webhooks on Custom Git: only the drift check finds it)
    work.pull()
    work.write("app.json", '{"replicas": 2}\n')
    work.commit("two replicas")
    work.push("main")

    # When: the scheduled sync runs, its backfill gives the template its drift group's due time
    assert system.fire_schedule()["backfilled"] == {"drift": 1}
    stored = ddb.get_item(TableName=s.templates_table, Key=key)["Item"]
    assert stored["drift_bucket"]["S"] == "drift-polled" and "drift_group" in stored
    # Then: the next scheduled syncs check it and the template takes the repository's version
    deadline = time.monotonic() + 30
    while system.call("GET", f"/v1/teams/{team}/templates/{tid}", token=admin).json()["version"] != 2:
        assert time.monotonic() < deadline, "the backfilled template was never checked"
        system.sync()
    assert system.call("GET", f"/v1/teams/{team}/templates/{tid}", token=admin).json()["content"] == {"replicas": 2}
