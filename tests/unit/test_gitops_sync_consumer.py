"""GitOpsSyncFunction's FIFO batch semantics, with Powertools' real SqsFifoPartialProcessor: a record that fails fails
the records of its message group behind it (they come back, in order, after it) while other groups go on; a
template that is gone or unlinked, or a remote that cannot be read, is an outcome, not a failure."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import process_partial_response

from functions.gitops_sync import app
from gitconnect import wiring
from gitconnect.domain.errors import ConflictError, UnprocessableError
from gitconnect.domain.templates import GitOpsLink, Template
from gitconnect.services.gitops_queue import GitOpsSyncConsumer, SyncRequest


def record(n: int, request: SyncRequest) -> dict[str, Any]:
    body, group, dedup = request.to_message()
    return {"messageId": f"m{n}", "receiptHandle": f"r{n}", "body": body, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:gitops.fifo", "awsRegion": "us-east-1",
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "x",
                           "ApproximateFirstReceiveTimestamp": "0", "MessageGroupId": group,
                           "MessageDeduplicationId": dedup, "SequenceNumber": str(n)},
            "messageAttributes": {}}


@dataclass
class Applied:
    failing: set[str]
    seen: list[str] = field(default_factory=list)

    def apply(self, request: SyncRequest) -> str:
        self.seen.append(request.template_id)
        if request.template_id in self.failing:
            raise ConflictError("the template changed meanwhile: read it again")
        return "updated"


def test_a_failure_holds_back_its_group_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a batch: main of acme/app (t1 fails, then t2, t3), and another branch (t4)
    consumer = Applied({"t1"})
    monkeypatch.setattr(wiring, "gitops_consumer", lambda: consumer)
    main = [SyncRequest("team", f"t{i}", "acme/app", "main", f"c{i}") for i in (1, 2, 3)]
    other = SyncRequest("team", "t4", "acme/app", "release", "c4")
    event = {"Records": [record(1, main[0]), record(2, main[1]), record(3, other), record(4, main[2])]}
    # When the function's processor runs it
    response = process_partial_response(event=event, record_handler=app.record_handler, processor=app.processor)
    # Then the failed record and the rest of its group come back; the other group was applied
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ["m1", "m2", "m4"]
    assert consumer.seen == ["t1", "t4"]


@dataclass
class Templates:
    template: Template | None
    error: Exception | None = None
    synced: list[str | None] = field(default_factory=list)

    def get(self, team_id: str, template_id: str) -> Template:
        if self.template is None:
            raise UnprocessableError("gone")
        return self.template

    def sync(self, template: Template, *, commit_hint: str | None = None) -> str:
        if self.error is not None:
            raise self.error
        self.synced.append(commit_hint)
        return "updated"


LINKED = Template("team", "t1", "app", "template", {}, 1, False, "allow", "t", "t",
                  gitops=GitOpsLink("con", "acme/app", "main", "app.json"))


@pytest.mark.parametrize(("template", "error", "outcome"), [
    (LINKED, None, "updated"),
    (None, None, "gone"),
    (Template(**{**LINKED.__dict__, "gitops": GitOpsLink("con", "acme/app", "other", "app.json")}), None, "gone"),
    (LINKED, UnprocessableError("the remote could not be reached"), "failed: the remote could not be reached"),
])
def test_outcomes(template: Template | None, error: Exception | None, outcome: str) -> None:
    templates = Templates(template, error)
    assert GitOpsSyncConsumer(templates).apply(SyncRequest("team", "t1", "acme/app", "main", "abc")) == outcome
    assert templates.synced == (["abc"] if outcome == "updated" else [])


def test_a_raced_save_fails_the_message() -> None:
    with pytest.raises(ConflictError):
        GitOpsSyncConsumer(Templates(LINKED, ConflictError("raced"))).apply(
            SyncRequest("team", "t1", "acme/app", "main", "abc"))


def test_the_message_names_its_group_and_deduplication_id() -> None:
    a = SyncRequest("team", "t1", "acme/app", "main", "c1")
    body, group, dedup = a.to_message()
    assert SyncRequest.from_body(body) == a and json.loads(body)["commit"] == "c1"
    assert group == SyncRequest("other-team", "t9", "acme/app", "main", "c7").group_id  # the branch, whoever asks
    assert group != SyncRequest("team", "t1", "acme/app", "dev", "c1").group_id
    assert dedup == SyncRequest("team", "t1", "acme/app", "main", "c1").deduplication_id  # template + commit
    assert dedup != SyncRequest("team", "t2", "acme/app", "main", "c1").deduplication_id
    assert len(group) <= 128 and len(dedup) <= 128  # SQS's limits
