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

from gitconnect.domain.errors import MalformedPayloadError
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
from gitconnect.domain.payload import (
    JsonObject,
    name,
    opt_full_name,
    opt_identifier,
    opt_integer,
    opt_obj,
    opt_objects,
    opt_sha,
    opt_string,
    opt_strings,
    or_none,
    path,
    root,
    sha,
    string,
)
from gitconnect.providers.base import WebhookSpec

TOKEN_HEADER = "x-gitlab-token"  # noqa: S105 (a header name)
EVENT_HEADER = "x-gitlab-event"
DELIVERY_HEADER = "x-gitlab-event-uuid"
IDEMPOTENCY_HEADER = "idempotency-key"
MAX_PUSH_COMMITS = 20  # GitLab lists at most the newest 20 commits; `total_commits_count` has the real number

PUSH, TAG_PUSH, MERGE_REQUEST, RELEASE = "Push Hook", "Tag Push Hook", "Merge Request Hook", "Release Hook"

_MR_ACTIONS = {"open": "opened", "reopen": "reopened", "close": "closed", "merge": "closed"}
_UNMAPPED = {"update": "updated without new commits", "approved": "approved", "unapproved": "unapproved"}
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


def _repo(project: JsonObject, at: str, project_id: str | None = None) -> RepoRef | None:
    """A project as GitLab's hook payloads describe it (`project`, or an MR's `target`); None when it does not say
    which project (no id, no path)."""
    pid = opt_identifier(project, "id", at) or project_id
    # Absent or empty: the project is not named (ignored); a path that is not `group/.../project` is malformed.
    text = opt_string(project, "path_with_namespace", at)
    repository = opt_full_name(project, "path_with_namespace", at, nested=True) if text else None
    level = opt_integer(project, "visibility_level", at)
    clone_url = opt_string(project, "git_http_url", at)
    http_url = opt_string(project, "http_url", at)
    web_url, default_branch = opt_string(project, "web_url", at), opt_string(project, "default_branch", at)
    if pid is None or repository is None:
        return None
    return RepoRef(
        id=pid,
        full_name=repository,
        owner=repository.rpartition("/")[0],  # the namespace, nested groups included
        clone_url=clone_url or http_url,
        web_url=web_url,
        default_branch=default_branch,
        private=None if level is None else level != _PUBLIC,
    )


def _payload_repo(payload: JsonObject) -> RepoRef | None:
    project = opt_obj(payload, "project")
    project_id = opt_identifier(payload, "project_id")
    return None if project is None else _repo(project, "project", project_id)


def _commit(raw: JsonObject, at: str) -> ChangedCommit:
    lists = [opt_strings(raw, k, at) for k in ("added", "modified", "removed")]
    files = None if any(v is None for v in lists) else tuple(f for v in lists for f in v or ())
    return ChangedCommit(sha=string(raw, "id", at), message=opt_string(raw, "message", at) or "", files=files)


def normalize(event: str, payload: object) -> WebhookEvent:
    """The normalized event of one delivery (`Ignored` with the reason for what we do not act on). A payload that
    does not have the shape GitLab documents raises `MalformedPayloadError` naming the event and the value."""
    try:
        return _normalize(event, root(payload))
    except MalformedPayloadError as error:
        raise error.about(event or "unnamed") from None


def _normalize(event: str, payload: JsonObject) -> WebhookEvent:
    if event in (PUSH, TAG_PUSH):
        return _push(event, payload)
    if event == MERGE_REQUEST:
        return _merge_request(payload)
    if event != RELEASE:
        return Ignored(f"{event or 'unnamed'} events are not used", None, _repo_if_any(payload))
    repo = _payload_repo(payload)
    if repo is None:
        return Ignored(f"{event} delivery without a project")
    commit = opt_obj(payload, "commit")
    return ReleaseEvent(
        account_key=None,
        repository=repo,
        action="published" if opt_string(payload, "action") == "create" else "other",
        tag=name(payload, "tag"),
        sha=None if commit is None else commit_or_none(opt_sha(commit, "id", "commit")),
    )


def _repo_if_any(payload: JsonObject) -> RepoRef | None:
    """The project an event we do not use is about, for the delivery log, when it names one that can be read."""
    return or_none(lambda: _payload_repo(payload))


def _push(event: str, payload: JsonObject) -> WebhookEvent:
    repo = _payload_repo(payload)
    if repo is None:
        return Ignored(f"{event} delivery without a project")
    ref = string(payload, "ref")
    if not ref.startswith(TAGS if event == TAG_PUSH else HEADS):
        return Ignored(f"{event} for an unexpected ref {ref[:200]!r}", None, repo)
    before, after = commit_or_none(sha(payload, "before")), commit_or_none(sha(payload, "after"))
    checkout = opt_sha(payload, "checkout_sha")  # null when the push deleted the ref
    deleted = after is None
    if event == TAG_PUSH and after is not None:
        # An annotated tag's `after` is the tag object; `checkout_sha` is the commit it points at.
        after = commit_or_none(checkout) or after
    listed = [(raw, _commit(raw, at)) for at, raw in opt_objects(payload, "commits")]
    commits = tuple(c for _, c in listed)
    total = opt_integer(payload, "total_commits_count")
    last = listed[-1] if listed else None
    head = next(((raw, c) for raw, c in listed if checkout and c.sha == checkout), last)
    return PushEvent(
        account_key=None,
        repository=repo,
        ref=ref,
        before=before,
        after=after,
        created=before is None,
        deleted=deleted,
        commits=commits,
        # At most MAX_PUSH_COMMITS are listed: complete only when the count says all of them are.
        commits_complete=total is not None and len(commits) == total,
        head_message=None if head is None else opt_string(head[0], "message"),
    )


def _merge_request(payload: JsonObject) -> WebhookEvent:
    attrs = opt_obj(payload, "object_attributes")
    at = "object_attributes"
    if attrs is None:
        return Ignored(f"{MERGE_REQUEST} delivery without object_attributes")
    # The repository is the target project: GitLab sends the hook of the project the MR targets (`project`).
    target = opt_obj(attrs, "target", at)
    target_id = opt_identifier(attrs, "target_project_id", at)
    source_id = opt_identifier(attrs, "source_project_id", at)
    hooked = _payload_repo(payload)
    repo = None if target is None else _repo(target, path(at, "target"), target_id)
    repo = repo or hooked
    if repo is None:
        return Ignored(f"{MERGE_REQUEST} delivery without a target project")
    last_commit = opt_obj(attrs, "last_commit", at)
    head_sha = None if last_commit is None else commit_or_none(sha(last_commit, "id", path(at, "last_commit")))
    iid = opt_integer(attrs, "iid", at)
    action, oldrev = opt_string(attrs, "action", at) or "", opt_string(attrs, "oldrev", at)
    title = opt_string(attrs, "title", at)
    if head_sha is None or iid is None:
        return Ignored(f"{MERGE_REQUEST} delivery without an iid or a last commit", None, repo)
    # An update carries `oldrev` only when the source branch moved (new commits, an applied suggestion);
    # without it only the title, description, labels... changed.
    new_commits = action == "update" and bool(oldrev)
    mapped = "updated" if new_commits else _MR_ACTIONS.get(action, "other")
    return PullRequestEvent(
        account_key=None,
        repository=repo,
        action=mapped,
        number=iid,
        head_sha=head_sha,
        head_ref=string(attrs, "source_branch", at),
        base_ref=string(attrs, "target_branch", at),
        from_fork=None if source_id is None or target_id is None else source_id != target_id,
        title=title,
        fetch_ref=f"refs/merge-requests/{iid}/head",  # GitLab keeps it in the target project, forks included
        other_action=None if mapped != "other" else _UNMAPPED.get(action, action or "changed"),
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
