"""The FIFO `gitops` queue (DESIGN.md §3): every sync of a linked template with its file goes through it.

- The router (a push to the linked branch) and the drift check (the branch head moved) only send a `SyncRequest`;
  GitOpsSyncFunction applies them.
- Message group = the repository and branch (hashed: SQS allows 128 characters): the syncs of one branch are applied
  one at a time, in the order they were sent, and a failed one holds back the ones behind it (its group) until it
  succeeds or goes to the DLQ.
- Deduplication id = template + commit: one push that reaches several hooks (or a webhook and a drift check of the
  same head) is applied once within SQS's five-minute window; after it, applying again finds nothing to do.
- Order of content is Git's, not arrival's: a sync reads the file at the branch head when it is applied, so a request
  for an older commit that is applied after a newer one finds the newer content already there and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gitconnect.domain.errors import ConflictError, GitconnectError, RateLimitedError
from gitconnect.domain.templates import Template

log = logging.getLogger(__name__)


class FifoOutbox(Protocol):
    def send_many(self, messages: Sequence[tuple[str, str, str]]) -> None: ...


class TemplateSync(Protocol):
    def get(self, team_id: str, template_id: str) -> Template: ...
    def sync(self, template: Template, *, commit_hint: str | None = None) -> str: ...


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class SyncRequest:
    """`{"team_id", "template_id", "repository", "branch", "commit"}`: bring the template up to its file; `commit` is
    the head that was seen (a webhook's `after`, a drift check's head; "" when the branch is gone)."""

    team_id: str
    template_id: str
    repository: str
    branch: str
    commit: str

    @property
    def group_id(self) -> str:
        return f"branch-{_digest(self.repository, self.branch)[:56]}"

    @property
    def deduplication_id(self) -> str:
        return _digest(self.template_id, self.commit)

    def to_message(self) -> tuple[str, str, str]:
        body = {
            "team_id": self.team_id,
            "template_id": self.template_id,
            "repository": self.repository,
            "branch": self.branch,
            "commit": self.commit,
        }
        return json.dumps(body), self.group_id, self.deduplication_id

    @classmethod
    def from_body(cls, body: str) -> SyncRequest:
        data = json.loads(body)
        return cls(*(str(data[k]) for k in ("team_id", "template_id", "repository", "branch", "commit")))

    @classmethod
    def of(cls, template: Template, commit: str | None) -> SyncRequest:
        link = template.linked
        if link is None:
            raise ValueError(f"template {template.id} is not linked to a file")
        return cls(template.team_id, template.id, link.repository, link.branch, commit or "")


@dataclass(frozen=True)
class SyncRequests:
    """The sending side (router, drift check)."""

    queue: FifoOutbox

    def send(self, requests: Sequence[SyncRequest]) -> None:
        if requests:
            self.queue.send_many([r.to_message() for r in requests])


@dataclass(frozen=True)
class GitOpsSyncConsumer:
    """The receiving side (GitOpsSyncFunction): one request at a time, in its group's order."""

    templates: TemplateSync

    def apply(self, request: SyncRequest) -> str:
        """The sync's outcome. A template gone or unlinked meanwhile: nothing. A provider that cannot be reached, or
        a file that cannot be read, is an outcome too (logged; the next drift check tries again), so a broken remote
        does not hold its branch's queue; a save that raced this sync (ConflictError) or a rate limit fails the
        message, which SQS hands out again, ahead of the rest of its group."""
        try:
            template = self.templates.get(request.team_id, request.template_id)
        except GitconnectError:
            return "gone"
        link = template.linked
        if link is None or (link.repository, link.branch) != (request.repository, request.branch):
            return "gone"  # unlinked, or linked to another file since: that link has its own requests
        try:
            return self.templates.sync(template, commit_hint=request.commit or None)
        except (ConflictError, RateLimitedError):
            raise
        except GitconnectError as exc:
            log.warning("template sync failed", extra={"template_id": template.id, "reason": exc.detail})
            return f"failed: {exc.detail}"
