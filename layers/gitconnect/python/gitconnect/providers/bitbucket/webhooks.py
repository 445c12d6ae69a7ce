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

from gitconnect.domain.errors import MalformedPayloadError
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
from gitconnect.domain.payload import (
    JsonObject,
    full_name,
    identifier,
    integer,
    name,
    obj,
    opt_array,
    opt_boolean,
    opt_obj,
    opt_objects,
    opt_string,
    or_none,
    path,
    root,
    sha,
    string,
)
from gitconnect.providers.base import WebhookSpec, sha256_signature_valid

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
    """`headers` with lower-case names; X-Hub-Signature is `sha256=<hex>` of the raw body."""
    return sha256_signature_valid(body, headers.get(SIGNATURE_HEADER), secrets)


SPEC = WebhookSpec("bitbucket", EVENT_HEADER, DELIVERY_HEADER, verify)


def _repo(raw: JsonObject, at: str) -> RepoRef:
    repository = full_name(raw, "full_name", at)
    links = opt_obj(raw, "links", at)
    html = None if links is None else opt_obj(links, "html", path(at, "links"))
    href = None if html is None else opt_string(html, "href", path(at, "links.html"))
    return RepoRef(
        id=identifier(raw, "uuid", at),
        full_name=repository,
        owner=repository.partition("/")[0],  # the workspace
        clone_url=f"{href}.git" if href else None,
        web_url=href or None,
        private=opt_boolean(raw, "is_private", at),
    )


def _repo_if_any(payload: JsonObject) -> RepoRef | None:
    """The repository an event we do not use is about, for the delivery log, when it names one that can be read."""
    return or_none(lambda: _repo(obj(payload, "repository"), "repository"))


def normalize(event: str, payload: object) -> WebhookEvent | tuple[WebhookEvent, ...]:
    """The normalized events of one delivery: one per ref a push moved; `Ignored` with the reason otherwise. A payload
    that does not have the shape Bitbucket documents raises `MalformedPayloadError` naming the event and the value."""
    try:
        return _normalize(event, root(payload))
    except MalformedPayloadError as error:
        raise error.about(event or "unnamed") from None


def _normalize(event: str, payload: JsonObject) -> WebhookEvent | tuple[WebhookEvent, ...]:
    if event != PUSH and event not in _PR_ACTIONS:
        repo = _repo_if_any(payload)
        if repo is None:
            return Ignored(f"{event or 'unnamed'} delivery without a repository")
        return Ignored(f"{event or 'unnamed'} events are not used", None, repo)
    raw = opt_obj(payload, "repository")
    if raw is None:
        return Ignored(f"{event} delivery without a repository")
    repo = _repo(raw, "repository")
    if event != PUSH:
        return _pull_request(event, payload, repo)
    push = payload.get("push")
    # Not an object: nothing that says what moved (answered as ignored, as it always was).
    changes = opt_array(push, "changes", "push") if isinstance(push, Mapping) else None
    if not changes:
        return Ignored(f"{PUSH} delivery without changes", None, repo)
    return tuple(_change(repo, c, f"push.changes[{i}]") for i, c in enumerate(changes))


def _side(change: JsonObject, key: str, at: str) -> tuple[str, str, JsonObject] | None:
    """(`refs/heads/x` or `refs/tags/x`, the target commit, the target) of one side of a change; None when that
    side is null (the ref was created or deleted) or is no Git ref."""
    ref = opt_obj(change, key, at)
    if ref is None:
        return None
    where = path(at, key)
    kind = string(ref, "type", where)
    if kind not in _REF_PREFIX:
        return None  # e.g. a Mercurial bookmark
    ref_name = name(ref, "name", where)
    target = obj(ref, "target", where)
    return _REF_PREFIX[kind] + ref_name, sha(target, "hash", path(where, "target")), target


def _change(repo: RepoRef, change: object, at: str) -> WebhookEvent:
    if not isinstance(change, Mapping):
        return Ignored("a push change that is not an object", None, repo)
    old, new = _side(change, "old", at), _side(change, "new", at)
    named = new or old
    # Bitbucket lists at most 5 commits, newest first, and never their files.
    commits = tuple(
        ChangedCommit(string(c, "hash", where), opt_string(c, "message", where) or "", None)
        for where, c in opt_objects(change, "commits", at)
    )
    truncated = opt_boolean(change, "truncated", at)
    head_message = None if new is None else opt_string(new[2], "message", path(at, "new.target"))
    if named is None:
        return Ignored("a push change without a branch or tag", None, repo)
    return PushEvent(
        account_key=None,
        repository=repo,
        ref=named[0],
        before=commit_or_none(old[1]) if old else None,
        after=commit_or_none(new[1]) if new else None,
        created=old is None,
        deleted=new is None,
        commits=commits,
        commits_complete=truncated is False,
        head_message=None if new is None else head_message or "",
    )


def _pull_request(event: str, payload: JsonObject, repo: RepoRef) -> WebhookEvent:
    pr = opt_obj(payload, "pullrequest")
    if pr is None:
        return Ignored(f"{event} delivery without a pull request", None, repo)
    at = "pullrequest"
    source, destination = obj(pr, "source", at), obj(pr, "destination", at)
    number = integer(pr, "id", at)
    # A short hash (12 digits): the router resolves it.
    head = commit_or_none(sha(obj(source, "commit", "pullrequest.source"), "hash", "pullrequest.source.commit",
                              short=True))
    head_ref = string(obj(source, "branch", "pullrequest.source"), "name", "pullrequest.source.branch")
    base_ref = string(obj(destination, "branch", "pullrequest.destination"), "name", "pullrequest.destination.branch")
    source_raw = opt_obj(source, "repository", "pullrequest.source")
    target_raw = opt_obj(destination, "repository", "pullrequest.destination")
    source_repo = None if source_raw is None else _repo(source_raw, "pullrequest.source.repository")
    target_repo = None if target_raw is None else _repo(target_raw, "pullrequest.destination.repository")
    title = opt_string(pr, "title", at)
    if head is None:
        return Ignored(f"{event} delivery without a source commit", None, repo)
    from_fork = None if source_repo is None or target_repo is None else source_repo.id != target_repo.id
    return PullRequestEvent(
        account_key=None,
        repository=repo,
        action=_PR_ACTIONS[event],
        number=number,
        head_sha=head,
        head_ref=head_ref,
        base_ref=base_ref,
        from_fork=from_fork,
        title=title,
        fetch_ref=f"refs/heads/{head_ref}",
        fetch_url=source_repo.clone_url if from_fork and source_repo is not None else None,
    )
