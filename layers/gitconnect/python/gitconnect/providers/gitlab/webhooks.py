"""GitLab webhooks, sans I/O: verify a delivery by its secret token, then normalize its payload.

Headers (GitLab's "Webhooks" documentation, "Delivery headers"):
- `X-Gitlab-Token`: the hook's secret token, sent as is (GitLab signs nothing; the token is the proof).
- `X-Gitlab-Event`: `Push Hook`, `Tag Push Hook`, `Merge Request Hook`, `Release Hook`, ... The "Test" button sends
  a normal event of the chosen kind: there is no ping.
- `Idempotency-Key` (GitLab 17.4+): unique per delivery and kept across retries and resends: the best delivery id.
- `X-Gitlab-Event-UUID` (GitLab 14.8+): unique per event, not per delivery: every hook an event triggers (a project
  hook and a group hook) carries the same value, and so do "recursive" events caused by a receiver that passes it
  back to the API. The fallback delivery id for older instances (`SPEC.delivery_header`).

Payload reference: GitLab's "Webhook events" documentation (examples in `tests/fixtures/gitlab/`). No payload names the
GitLab instance or the hook, so `account_key` is None: the router knows the connection from the hook id in the URL.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from gitconnect.domain.events import (
    HEADS,
    TAGS,
    ChangedCommit,
    Ignored,
    PullRequestEvent,
    PushEvent,
    ReleaseEvent,
    RepoRef,
    WebhookEvent,
    commit_or_none,
)
from gitconnect.providers.base import WebhookSpec

TOKEN_HEADER = "x-gitlab-token"  # noqa: S105 (a header name)
EVENT_HEADER = "x-gitlab-event"
DELIVERY_HEADER = "x-gitlab-event-uuid"
IDEMPOTENCY_HEADER = "idempotency-key"
MAX_PUSH_COMMITS = 20  # GitLab lists at most the newest 20 commits; `total_commits_count` has the real number

PUSH, TAG_PUSH, MERGE_REQUEST, RELEASE = "Push Hook", "Tag Push Hook", "Merge Request Hook", "Release Hook"

_MR_ACTIONS = {"open": "opened", "reopen": "reopened", "close": "closed", "merge": "closed"}
_PUBLIC = 20  # visibility_level: 0 private, 10 internal, 20 public


def token_valid(token: str | None, secrets: Iterable[str]) -> bool:
    """Constant-time comparison of the delivered token with each configured secret (empty secrets never match)."""
    if not token:
        return False
    given = token.encode()
    valid = False
    for secret in secrets:
        if secret:
            valid |= hmac.compare_digest(secret.encode(), given)
    return valid


def verify(headers: Mapping[str, str], body: bytes, secrets: Iterable[str]) -> bool:
    """`headers` with lower-case names. The body is not signed by GitLab: only the token is checked."""
    return token_valid(headers.get(TOKEN_HEADER), secrets)


SPEC = WebhookSpec(
    "gitlab", EVENT_HEADER, DELIVERY_HEADER, verify, delivery_headers=(IDEMPOTENCY_HEADER, DELIVERY_HEADER)
)


def _repo(project: Mapping[str, Any], project_id: object = None) -> RepoRef | None:
    """A project as GitLab's hook payloads describe it (`project`, or an MR's `source`/`target`)."""
    pid = project.get("id") if project.get("id") is not None else project_id
    full_name = str(project.get("path_with_namespace") or "")
    if pid is None or not full_name:
        return None
    level = project.get("visibility_level")
    return RepoRef(
        id=str(pid),
        full_name=full_name,
        owner=full_name.rpartition("/")[0] or full_name,  # the namespace, nested groups included
        clone_url=project.get("git_http_url") or project.get("http_url"),
        web_url=project.get("web_url"),
        default_branch=project.get("default_branch"),
        private=None if not isinstance(level, int) else level != _PUBLIC,
    )


def _payload_repo(payload: Mapping[str, Any]) -> RepoRef | None:
    project = payload.get("project")
    return _repo(project, payload.get("project_id")) if isinstance(project, Mapping) else None


def _commit(raw: Mapping[str, Any]) -> ChangedCommit:
    lists = [raw.get(k) for k in ("added", "modified", "removed")]
    files = tuple(str(f) for v in lists for f in v) if all(isinstance(v, list) for v in lists) else None
    return ChangedCommit(sha=str(raw.get("id") or ""), message=str(raw.get("message") or ""), files=files)


def normalize(event: str, payload: Mapping[str, Any]) -> WebhookEvent:
    """The normalized event of one delivery (`Ignored` with the reason for what we do not act on)."""
    if event in (PUSH, TAG_PUSH):
        return _push(event, payload)
    if event == MERGE_REQUEST:
        return _merge_request(payload)
    repo = _payload_repo(payload)
    if event == RELEASE:
        if repo is None:
            return Ignored(f"{event} delivery without a project")
        commit = payload.get("commit") or {}
        return ReleaseEvent(
            account_key=None,
            repository=repo,
            action="published" if payload.get("action") == "create" else "other",
            tag=str(payload.get("tag") or ""),
            sha=commit_or_none(commit.get("id")) if isinstance(commit, Mapping) else None,
        )
    return Ignored(f"{event or 'unnamed'} events are not used", None, repo)


def _push(event: str, payload: Mapping[str, Any]) -> WebhookEvent:
    repo = _payload_repo(payload)
    ref = str(payload.get("ref") or "")
    if repo is None:
        return Ignored(f"{event} delivery without a project")
    if not ref.startswith(TAGS if event == TAG_PUSH else HEADS):
        return Ignored(f"{event} for an unexpected ref {ref!r}", None, repo)
    before, after = commit_or_none(payload.get("before")), commit_or_none(payload.get("after"))
    if event == TAG_PUSH and after is not None:
        # An annotated tag's `after` is the tag object; `checkout_sha` is the commit it points at.
        after = commit_or_none(payload.get("checkout_sha")) or after
    raw_commits = [c for c in payload.get("commits") or () if isinstance(c, Mapping)]
    commits = tuple(_commit(c) for c in raw_commits)
    total = payload.get("total_commits_count")
    checkout = payload.get("checkout_sha")
    last = raw_commits[-1] if raw_commits else None
    head = next((c for c in raw_commits if checkout and c.get("id") == checkout), last)
    return PushEvent(
        account_key=None,
        repository=repo,
        ref=ref,
        before=before,
        after=after,
        created=before is None,
        deleted=commit_or_none(payload.get("after")) is None,
        commits=commits,
        # At most MAX_PUSH_COMMITS are listed: complete only when the count says all of them are.
        commits_complete=isinstance(total, int) and len(commits) == total,
        head_message=None if head is None else head.get("message"),
    )


def _merge_request(payload: Mapping[str, Any]) -> WebhookEvent:
    attrs = payload.get("object_attributes")
    if not isinstance(attrs, Mapping):
        return Ignored(f"{MERGE_REQUEST} delivery without object_attributes")
    # The repository is the target project: GitLab sends the hook of the project the MR targets (`project`).
    target = attrs.get("target")
    repo = _repo(target, attrs.get("target_project_id")) if isinstance(target, Mapping) else None
    repo = repo or _payload_repo(payload)
    if repo is None:
        return Ignored(f"{MERGE_REQUEST} delivery without a target project")
    head_sha = commit_or_none((attrs.get("last_commit") or {}).get("id"))
    iid = attrs.get("iid")
    if head_sha is None or not isinstance(iid, int):
        return Ignored(f"{MERGE_REQUEST} delivery without an iid or a last commit", None, repo)
    action = str(attrs.get("action") or "")
    # An update carries `oldrev` only when the source branch moved (new commits, an applied suggestion);
    # without it only the title, description, labels... changed.
    new_commits = action == "update" and bool(attrs.get("oldrev"))
    mapped = "updated" if new_commits else _MR_ACTIONS.get(action, "other")
    source, target_id = attrs.get("source_project_id"), attrs.get("target_project_id")
    return PullRequestEvent(
        account_key=None,
        repository=repo,
        action=mapped,
        number=iid,
        head_sha=head_sha,
        head_ref=str(attrs.get("source_branch") or ""),
        base_ref=str(attrs.get("target_branch") or ""),
        from_fork=None if source is None or target_id is None else source != target_id,
        title=attrs.get("title"),
    )


__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "IDEMPOTENCY_HEADER",
    "MAX_PUSH_COMMITS",
    "SPEC",
    "TOKEN_HEADER",
    "normalize",
    "token_valid",
    "verify",
]
