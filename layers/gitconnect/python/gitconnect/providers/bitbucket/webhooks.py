"""Bitbucket Cloud webhooks, sans I/O: verify a delivery's signature, then normalize its payload.

Headers (Bitbucket Cloud's "Manage webhooks" and "Event payloads" documentation):
- `X-Hub-Signature`: `sha256=<hex HMAC-SHA256 of the raw body>` with the webhook's secret.
- `X-Event-Key`: `repo:push`, `pullrequest:created`, `pullrequest:updated`, `pullrequest:fulfilled`, ...
- `X-Request-UUID`: one per delivery, kept when Bitbucket retries it (`X-Attempt-Number` counts the attempts): the
  delivery id. `X-Hook-UUID` names the webhook (we know it from the URL).

Payloads (`fixtures/bitbucket-cloud/` has real ones): a `repo:push` carries `push.changes`, one per ref the push moved
(several branches and tags in one push); each change has `old`/`new` refs (`null` when the ref was created/deleted),
at most 5 `commits` (`truncated` when there were more) and never a file list. Pull request payloads name commits by
short hashes (12 characters): the router resolves them through the API. No payload names the connection, so
`account_key` is None: the router knows it from the hook id in the URL.
"""

from __future__ import annotations

import hashlib
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
    RepoRef,
    WebhookEvent,
    commit_or_none,
)
from gitconnect.providers.base import WebhookSpec

SIGNATURE_HEADER = "x-hub-signature"
EVENT_HEADER = "x-event-key"
DELIVERY_HEADER = "x-request-uuid"

PUSH = "repo:push"
PR_CREATED, PR_UPDATED = "pullrequest:created", "pullrequest:updated"
PR_FULFILLED, PR_REJECTED = "pullrequest:fulfilled", "pullrequest:rejected"
# What a source's webhook subscribes to (merged and declined pull requests build nothing, but are logged).
HOOK_EVENTS = (PUSH, PR_CREATED, PR_UPDATED, PR_FULFILLED)

_PR_ACTIONS = {PR_CREATED: "opened", PR_UPDATED: "updated", PR_FULFILLED: "closed", PR_REJECTED: "closed"}
_REF_PREFIX = {"branch": HEADS, "tag": TAGS}


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, secrets: Iterable[str]) -> bool:
    """`headers` with lower-case names; constant-time comparison with the signature of each secret."""
    given = (headers.get(SIGNATURE_HEADER) or "").strip().lower()
    if not given.startswith("sha256="):
        return False
    valid = False
    for secret in secrets:
        if secret:
            valid |= hmac.compare_digest(signature(secret, body).encode(), given.encode())
    return valid


SPEC = WebhookSpec("bitbucket", EVENT_HEADER, DELIVERY_HEADER, verify)


def _repo(raw: object) -> RepoRef | None:
    if not isinstance(raw, Mapping) or not raw.get("uuid") or not raw.get("full_name"):
        return None
    full_name = str(raw["full_name"])
    html = ((raw.get("links") or {}).get("html") or {}).get("href")
    return RepoRef(
        id=str(raw["uuid"]),
        full_name=full_name,
        owner=full_name.partition("/")[0],  # the workspace
        clone_url=f"{html}.git" if html else None,
        web_url=html,
        private=raw.get("is_private") if isinstance(raw.get("is_private"), bool) else None,
    )


def normalize(event: str, payload: Mapping[str, Any]) -> WebhookEvent | tuple[WebhookEvent, ...]:
    """The normalized events of one delivery: one per ref a push moved; `Ignored` with the reason otherwise."""
    repo = _repo(payload.get("repository"))
    if repo is None:
        return Ignored(f"{event or 'unnamed'} delivery without a repository")
    if event == PUSH:
        push = payload.get("push")
        changes = push.get("changes") if isinstance(push, Mapping) else None
        if not isinstance(changes, list) or not changes:
            return Ignored(f"{PUSH} delivery without changes", None, repo)
        return tuple(_change(repo, c) for c in changes)
    if event in _PR_ACTIONS:
        return _pull_request(event, payload, repo)
    return Ignored(f"{event or 'unnamed'} events are not used", None, repo)


def _ref_name(ref: object) -> tuple[str, str] | None:
    """(`refs/heads/x` or `refs/tags/x`, the target commit) of one side of a change."""
    if not isinstance(ref, Mapping) or ref.get("type") not in _REF_PREFIX or not ref.get("name"):
        return None
    target = ref.get("target") if isinstance(ref.get("target"), Mapping) else {}
    return _REF_PREFIX[str(ref["type"])] + str(ref["name"]), str(target.get("hash") or "")


def _change(repo: RepoRef, change: object) -> WebhookEvent:
    if not isinstance(change, Mapping):
        return Ignored("a push change that is not an object", None, repo)
    old, new = _ref_name(change.get("old")), _ref_name(change.get("new"))
    named = new or old
    if named is None:
        return Ignored("a push change without a branch or tag", None, repo)
    raw_commits = [c for c in change.get("commits") or () if isinstance(c, Mapping)]
    head = change["new"].get("target") if new else None
    return PushEvent(
        account_key=None,
        repository=repo,
        ref=named[0],
        before=commit_or_none(old[1]) if old else None,
        after=commit_or_none(new[1]) if new else None,
        created=old is None,
        deleted=new is None,
        # Bitbucket lists at most 5 commits, newest first, and never their files.
        commits=tuple(ChangedCommit(str(c.get("hash") or ""), str(c.get("message") or ""), None) for c in raw_commits),
        commits_complete=change.get("truncated") is False,
        head_message=str(head.get("message") or "") if isinstance(head, Mapping) else None,
    )


def _pull_request(event: str, payload: Mapping[str, Any], repo: RepoRef) -> WebhookEvent:
    pr = payload.get("pullrequest")
    if not isinstance(pr, Mapping):
        return Ignored(f"{event} delivery without a pull request", None, repo)
    source = pr.get("source") if isinstance(pr.get("source"), Mapping) else {}
    destination = pr.get("destination") if isinstance(pr.get("destination"), Mapping) else {}
    head = commit_or_none((source.get("commit") or {}).get("hash"))
    number = pr.get("id")
    if head is None or not isinstance(number, int):
        return Ignored(f"{event} delivery without an id or a source commit", None, repo)
    source_repo, target_repo = _repo(source.get("repository")), _repo(destination.get("repository"))
    return PullRequestEvent(
        account_key=None,
        repository=repo,
        action=_PR_ACTIONS[event],
        number=number,
        head_sha=head,  # a short hash: the router resolves it
        head_ref=str((source.get("branch") or {}).get("name") or ""),
        base_ref=str((destination.get("branch") or {}).get("name") or ""),
        from_fork=None if source_repo is None or target_repo is None else source_repo.id != target_repo.id,
        title=pr.get("title") if isinstance(pr.get("title"), str) else None,
    )
