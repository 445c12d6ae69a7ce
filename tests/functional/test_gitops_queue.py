"""The FIFO gitops queue through the real handlers, moto's FIFO SQS (message groups, deduplication ids) and the GitHub
fake: pushes delivered out of order end in the branch head's content; one push delivered twice syncs once and runs
each triggered release flow once; the router only enqueues (nothing changes before GitOpsSyncFunction runs)."""

from __future__ import annotations

import json
from typing import Any

from gitconnect.services.gitops_queue import SyncRequest
from tests.functional.github_support import deliver
from tests.functional.test_github_flow import TEAM, admin, gh, linked, push_payload  # noqa: F401 - fixtures, reused
from tests.support.fake_github import FakeGitHub
from tests.support.inprocess import System


def _template(system: System, admin: str, linked: dict[str, Any], path: str, **extra: Any) -> str:  # noqa: F811
    gitops = {"connection_id": linked["connection_id"], "repository": "octo-org/app", "branch": "main", "path": path,
              "mode": "create"}
    created = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": path, "content": {"replicas": 1}, "gitops": gitops, **extra})
    assert created.status == 201, created.body
    return str(created.json()["id"])


def _versions(system: System, admin: str, tid: str) -> list[dict[str, Any]]:  # noqa: F811
    return system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}/versions", token=admin).json()["items"]


def _queued(system: System) -> list[dict[str, Any]]:
    """The gitops queue's messages, looked at and handed back (visibility 0), with their FIFO attributes."""
    sqs, url = system.client("sqs"), system.res.attrs["GitOpsQueue"]["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
    for m in got:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    return [{**json.loads(m["Body"]), "group": m["Attributes"]["MessageGroupId"]} for m in got]


def test_pushes_delivered_out_of_order_end_in_the_later_commits_content(
    gh: tuple[System, FakeGitHub], admin: str, linked: dict[str, Any]  # noqa: F811
) -> None:
    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    tid = _template(system, admin, linked, "queue/order.json", run_on_update=True)
    system.bus_events("RunRequested")
    first = repo.branches["main"]
    # Given two pushes to main, A then B (B's parent is A)
    a = fake.put_file("octo-org/app", "main", "queue/order.json", '{"replicas": 2}', "A")
    b = fake.put_file("octo-org/app", "main", "queue/order.json", '{"replicas": 3}', "B")
    # When their deliveries arrive newest first, and the router routes both
    assert deliver(system, "push", push_payload(installation, repo, "refs/heads/main", a, b)).status == 202
    assert deliver(system, "push", push_payload(installation, repo, "refs/heads/main", first, a)).status == 202
    system.drain("EventRouterFunction")
    # Then the router only enqueued: two requests in one message group (the branch), nothing synced yet
    queued = [m for m in _queued(system) if m["template_id"] == tid]
    assert [m["commit"] for m in queued] == [b, a] and len({m["group"] for m in queued}) == 1
    assert system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}", token=admin).json()["version"] == 1
    # When GitOpsSyncFunction applies them (in their arrival order: B, then A)
    system.drain("GitOpsSyncFunction")
    # Then the template has B's content, from commit B; A's content never became a version, and one run was asked for
    current = system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}", token=admin).json()
    assert current["content"] == {"replicas": 3} and current["version"] == 2
    assert [(v["version"], v["commit_sha"]) for v in _versions(system, admin, tid)][:1] == [(2, b)]
    runs = [e["detail"] for e in system.bus_events("RunRequested")]
    assert [(r["template_id"], r["version"]) for r in runs] == [(tid, 2)]
    assert system.queue_depth("GitOpsQueue") == 0 and system.queue_depth("GitOpsDLQ") == 0


def test_one_push_delivered_twice_syncs_once_and_runs_each_release_flow_once(
    gh: tuple[System, FakeGitHub], admin: str, linked: dict[str, Any]  # noqa: F811
) -> None:
    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    tid = _template(system, admin, linked, "queue/twice.json", run_on_update=True)
    flow = system.call("POST", f"/v1/teams/{TEAM}/templates", token=admin, body={
        "name": "release", "kind": "release_flow", "content": {"steps": []},
        "triggers": {"connection_id": linked["connection_id"], "repository": "octo-org/app", "branches": ["main"]}})
    assert flow.status == 201, flow.body
    system.bus_events("RunRequested")
    before = repo.branches["main"]
    pushed = fake.put_file("octo-org/app", "main", "queue/twice.json", '{"replicas": 5}', "five")
    payload = push_payload(installation, repo, "refs/heads/main", before, pushed)
    # When the same push arrives as two deliveries (two ids: as from two hooks of the repository), routed together
    for _ in range(2):
        assert deliver(system, "push", payload).status == 202
    system.drain("EventRouterFunction")
    # Then the queue took one sync request (the second had the same deduplication id: template + commit)
    assert [m["commit"] for m in _queued(system) if m["template_id"] == tid] == [pushed]
    system.drain("GitOpsSyncFunction")
    # And one version, one run for it, and one run of the release flow (its run id derived from the push)
    assert system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}", token=admin).json()["version"] == 2
    runs = [e["detail"] for e in system.bus_events("RunRequested")]
    assert sorted((r["template_id"], r.get("sha") or "") for r in runs) == sorted(
        [(tid, ""), (flow.json()["id"], pushed)]
    )
    listed = system.call("GET", f"/v1/teams/{TEAM}/templates/{flow.json()['id']}/runs", token=admin).json()["items"]
    assert len(listed) == 1 and listed[0]["sha"] == pushed


def test_a_poison_sync_ends_in_its_dlq_and_the_drift_check_catches_its_branch_up(
    gh: tuple[System, FakeGitHub], admin: str, linked: dict[str, Any]  # noqa: F811
) -> None:
    system, fake = gh
    repo, installation = linked["repo"], linked["installation"]
    tid = _template(system, admin, linked, "queue/poison.json")
    # Given a message no consumer can read, first in the branch's group, then a push to that branch
    group = _queued_group_of(system, tid, repo, installation, fake)
    system.drain("GitOpsSyncFunction", rounds=20)
    # Then it was tried five times (maxReceiveCount) and kept in GitOpsDLQ, with the syncs of its group that were
    # held back behind it each time (FIFO: a group never skips a failed message), and the queue is free again
    assert system.queue_depth("GitOpsQueue") == 0
    dlq = system.res.attrs["GitOpsDLQ"]["QueueUrl"]
    kept = _take_all(system, dlq)
    assert "not json" in [m["Body"] for m in kept] and {m["Attributes"]["MessageGroupId"] for m in kept} == {group}
    assert system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}", token=admin).json()["content"] == {"replicas": 1}
    # And nothing is lost: the next drift check sees the head moved and requests the sync again
    system.sync()
    assert system.call("GET", f"/v1/teams/{TEAM}/templates/{tid}", token=admin).json()["content"] == {"replicas": 9}


def _take_all(system: System, url: str) -> list[dict[str, Any]]:
    sqs, taken = system.client("sqs"), []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages"):
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        taken.extend(got)
    return taken


def _queued_group_of(system: System, tid: str, repo: Any, installation: int, fake: FakeGitHub) -> str:
    before = repo.branches["main"]
    after = fake.put_file("octo-org/app", "main", "queue/poison.json", '{"replicas": 9}', "nine")
    group = SyncRequest("x", tid, "octo-org/app", "main", after).group_id
    system.client("sqs").send_message(QueueUrl=system.res.attrs["GitOpsQueue"]["QueueUrl"], MessageBody="not json",
                                      MessageGroupId=group, MessageDeduplicationId="poison")
    assert deliver(system, "push", push_payload(installation, repo, "refs/heads/main", before, after)).status == 202
    system.drain("EventRouterFunction")
    return group
