"""The real Bitbucket Cloud webhook payloads beside the project (`../shared/fixtures/bitbucket-cloud/`, MIT, from
go-playground/webhooks) and the `X-Event-Key` Bitbucket sends each with."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "bitbucket-cloud"

EVENT_KEYS = {
    "commit-comment-created": "repo:commit_comment_created",
    "issue-comment-created": "issue:comment_created",
    "issue-created": "issue:created",
    "issue-updated": "issue:updated",
    "pull-request-approval-removed": "pullrequest:unapproved",
    "pull-request-approved": "pullrequest:approved",
    "pull-request-comment-created": "pullrequest:comment_created",
    "pull-request-comment-deleted": "pullrequest:comment_deleted",
    "pull-request-comment-updated": "pullrequest:comment_updated",
    "pull-request-created": "pullrequest:created",
    "pull-request-declined": "pullrequest:rejected",
    "pull-request-merged": "pullrequest:fulfilled",
    "pull-request-updated": "pullrequest:updated",
    "repo-commit-status-created": "repo:commit_status_created",
    "repo-commit-status-updated": "repo:commit_status_updated",
    "repo-fork": "repo:fork",
    "repo-push": "repo:push",
    "repo-updated": "repo:updated",
}


def fixture_names() -> list[str]:
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert names, f"no Bitbucket Cloud fixtures in {FIXTURES}: ../shared must be beside the project"
    return names


@cache
def _raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def raw(name: str) -> bytes:
    """The file's bytes, exactly as stored (what a signature is computed over)."""
    return _raw(name)


def payload(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads(_raw(name)))
