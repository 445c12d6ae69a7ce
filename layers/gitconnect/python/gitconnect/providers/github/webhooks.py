"""GitHub webhooks, sans I/O: verify a delivery over its raw bytes, then normalize its payload.

Headers: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, `X-GitHub-Event`, `X-GitHub-Delivery`.
Payload reference: GitHub's "Webhook events and payloads" documentation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from gitconnect.domain.errors import MalformedPayloadError
from gitconnect.domain.events import (
    HEADS,
    TAGS,
    ChangedCommit,
    Ignored,
    InstallationEvent,
    MergeGroupEvent,
    PullRequestEvent,
    PushEvent,
    ReleaseEvent,
    RepoRef,
    TagEvent,
    WebhookEvent,
    commit_or_none,
)
from gitconnect.domain.payload import (
    INT_MAX,
    JsonObject,
    boolean,
    full_name,
    identifier,
    integer,
    name,
    obj,
    objects,
    opt_boolean,
    opt_integer,
    opt_obj,
    opt_objects,
    opt_string,
    opt_strings,
    or_none,
    path,
    root,
    sha,
    string,
)
from gitconnect.providers.base import WebhookSpec, sha256_signature_valid

SIGNATURE_HEADER = "x-hub-signature-256"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"
MAX_PUSH_COMMITS = 2048  # GitHub lists at most this many commits in a push payload

MAX_ID_DIGITS = 19  # a digit string longer than that is no 64-bit installation id (nor worth parsing)

_PR_ACTIONS = {"opened": "opened", "synchronize": "updated", "reopened": "reopened", "closed": "closed"}
_REPOSITORY_EVENTS = frozenset({"push", "pull_request", "create", "delete", "release", "merge_group"})
InstallationAction = Literal["created", "deleted", "suspended", "unsuspended"]


def signature_valid(body: bytes, signature: str | None, secrets: Iterable[str]) -> bool:
    return sha256_signature_valid(body, signature, secrets)


def verify(headers: Mapping[str, str], body: bytes, secrets: Iterable[str]) -> bool:
    return sha256_signature_valid(body, headers.get(SIGNATURE_HEADER), secrets)  # one frame less on the hot path


SPEC = WebhookSpec("github", EVENT_HEADER, DELIVERY_HEADER, verify, ping_events=("ping",))


def account_key(installation_id: object) -> str:
    return f"github#{installation_id}"


def installation_number(value: object) -> int | None:
    """An installation id as GitHub sends it (an integer), or written as a digit string; None for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT_MAX:
        return value
    return None


def account_key_of(payload: object) -> str | None:
    """The account a delivery names (`installation.id`), read without judging the rest of the payload: who to tell
    about a delivery that could not be normalized. None when it names none that can be read."""
    installation = payload.get("installation") if isinstance(payload, Mapping) else None
    number = installation_number(installation.get("id")) if isinstance(installation, Mapping) else None
    return None if number is None else account_key(number)


def normalize(event: str, payload: object) -> WebhookEvent:
    """The normalized event of one delivery (`Ignored` with the reason for what we do not act on). A payload that
    does not have the shape GitHub documents raises `MalformedPayloadError` naming the event and the value."""
    try:
        return _normalize(event, root(payload))
    except MalformedPayloadError as error:
        raise error.about(event) from None


def _normalize(event: str, payload: JsonObject) -> WebhookEvent:
    installation = opt_obj(payload, "installation")  # absent on hooks that are not the App's
    key = None if installation is None else account_key(_installation_id(installation))
    if event == "ping":
        return Ignored("ping", key)
    if event in ("installation", "installation_repositories"):
        installed = obj(payload, "installation")
        return _installation(event, payload, installed, account_key(_installation_id(installed)))
    if event not in _REPOSITORY_EVENTS:
        return Ignored(f"{event} events are not used", key, _repo_if_any(payload))
    repo = _repo(obj(payload, "repository"), "repository")
    if event == "push":
        return _push(payload, key, repo)
    if event == "pull_request":
        return _pull_request(payload, key, repo)
    if event == "create":
        ref, ref_type = name(payload, "ref"), string(payload, "ref_type")
        if ref_type != "tag":
            return Ignored("branch created: its push event builds it", key, repo)
        return TagEvent(account_key=key, repository=repo, tag=ref)
    if event == "delete":
        return Ignored(f"{opt_string(payload, 'ref_type') or 'ref'} deleted: nothing to build", key, repo)
    if event == "merge_group":
        group = obj(payload, "merge_group")
        return MergeGroupEvent(
            account_key=key,
            repository=repo,
            action=string(payload, "action"),
            head_sha=sha(group, "head_sha", "merge_group"),
            head_ref=name(group, "head_ref", "merge_group"),
            base_ref=name(group, "base_ref", "merge_group"),
        )
    release = obj(payload, "release")
    action = "published" if string(payload, "action") == "published" else "other"
    return ReleaseEvent(
        account_key=key, repository=repo, action=action, tag=name(release, "tag_name", "release"), sha=None
    )


def _installation_id(installation: JsonObject) -> int:
    number = installation_number(installation.get("id"))
    if number is None:
        integer(installation, "id", "installation")  # names what is wrong with it (missing, another type)
        raise MalformedPayloadError("installation.id is not an installation id")
    return number


def _repo(raw: JsonObject, at: str) -> RepoRef:
    repository = full_name(raw, "full_name", at)
    owner = opt_obj(raw, "owner", at)
    where = path(at, "owner")
    login = None if owner is None else opt_string(owner, "login", where) or opt_string(owner, "name", where)
    return RepoRef(
        id=identifier(raw, "id", at),
        full_name=repository,
        owner=login or repository.split("/", 1)[0],
        clone_url=opt_string(raw, "clone_url", at),
        web_url=opt_string(raw, "html_url", at),
        default_branch=opt_string(raw, "default_branch", at) or opt_string(raw, "master_branch", at),
        private=opt_boolean(raw, "private", at),
    )


def _repo_if_any(payload: JsonObject) -> RepoRef | None:
    """The repository an event we do not use is about, for the delivery log, when it names one that can be read."""
    return or_none(lambda: _repo(obj(payload, "repository"), "repository"))


def _listed_repo(raw: JsonObject, at: str) -> RepoRef:
    """Installation payloads list repositories without owner or URLs: derive what the name says."""
    repository = full_name(raw, "full_name", at)
    return RepoRef(
        id=identifier(raw, "id", at),
        full_name=repository,
        owner=repository.split("/", 1)[0],
        private=opt_boolean(raw, "private", at),
    )


def _commit(raw: JsonObject, at: str) -> ChangedCommit:
    lists = [opt_strings(raw, k, at) for k in ("added", "modified", "removed")]
    files = None if any(v is None for v in lists) else tuple(f for v in lists for f in v or ())
    return ChangedCommit(sha=string(raw, "id", at), message=string(raw, "message", at), files=files)


def _push(payload: JsonObject, key: str | None, repo: RepoRef) -> PushEvent:
    commits = tuple(_commit(c, at) for at, c in objects(payload, "commits"))
    head = opt_obj(payload, "head_commit")  # null when the push deleted the ref
    ref, after = name(payload, "ref"), commit_or_none(sha(payload, "after"))
    if ref.startswith(TAGS) and head is not None and after is not None:
        # An annotated tag's `after` is the tag object, not a commit: `head_commit` is the commit it tags (the
        # one its `create` and a release on it resolve to: one build, and a status on a real commit).
        after = sha(head, "id", "head_commit")
    return PushEvent(
        account_key=key,
        repository=repo,
        ref=ref,
        before=commit_or_none(sha(payload, "before")),
        after=after,
        created=boolean(payload, "created"),
        deleted=boolean(payload, "deleted"),
        commits=commits,
        commits_complete=len(commits) < MAX_PUSH_COMMITS,
        head_message=None if head is None else string(head, "message", "head_commit"),
    )


def _pull_request(payload: JsonObject, key: str | None, repo: RepoRef) -> PullRequestEvent:
    pr = obj(payload, "pull_request")
    action = string(payload, "action")
    head, base = obj(pr, "head", "pull_request"), obj(pr, "base", "pull_request")
    head_repo = opt_obj(head, "repo", "pull_request.head")  # null when the fork was deleted
    base_repo = opt_obj(base, "repo", "pull_request.base")
    number, top_number = opt_integer(pr, "number", "pull_request"), opt_integer(payload, "number")
    if number is None:
        number = top_number if top_number is not None else integer(pr, "number", "pull_request")
    base_id = repo.id if base_repo is None else identifier(base_repo, "id", "pull_request.base.repo")
    return PullRequestEvent(
        account_key=key,
        repository=repo,
        action=_PR_ACTIONS.get(action, "other"),
        number=number,
        head_sha=sha(head, "sha", "pull_request.head"),
        head_ref=string(head, "ref", "pull_request.head"),
        base_ref=string(base, "ref", "pull_request.base"),
        # A deleted head repository says nothing about forks: None, not a guess.
        from_fork=None if head_repo is None else identifier(head_repo, "id", "pull_request.head.repo") != base_id,
        title=opt_string(pr, "title", "pull_request"),
        fetch_ref=f"refs/pull/{number}/head",
        other_action=None if action in _PR_ACTIONS else action.replace("_", " "),
    )


_INSTALLATION_ACTIONS: dict[str, InstallationAction] = {
    "created": "created",
    "deleted": "deleted",
    "suspend": "suspended",
    "unsuspend": "unsuspended",
}


def _installation(event: str, payload: JsonObject, installation: JsonObject, key: str) -> WebhookEvent:
    account_of = opt_obj(installation, "account", "installation")
    account = None if account_of is None else opt_string(account_of, "login", "installation.account")
    action = string(payload, "action")
    if event == "installation_repositories":
        return InstallationEvent(
            account_key=key,
            action="repositories_changed",
            account=account,
            added=_listed(payload, "repositories_added"),
            removed=_listed(payload, "repositories_removed"),
            repository_selection=_selection(payload),
        )
    mapped = _INSTALLATION_ACTIONS.get(action)
    if mapped is None:
        return Ignored(f"installation {action} is not used", key)
    return InstallationEvent(
        account_key=key,
        action=mapped,
        account=account,
        added=_listed(payload, "repositories") if mapped == "created" else (),
    )


def _selection(payload: JsonObject) -> str | None:
    """`repository_selection` (`all` | `selected`); anything else is not a selection GitHub documents."""
    selection = opt_string(payload, "repository_selection")
    return selection if selection in ("all", "selected") else None


def _listed(payload: JsonObject, key: str) -> tuple[RepoRef, ...]:
    return tuple(_listed_repo(r, at) for at, r in opt_objects(payload, key))


__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "HEADS",
    "SIGNATURE_HEADER",
    "SPEC",
    "TAGS",
    "account_key",
    "account_key_of",
    "installation_number",
    "normalize",
    "signature_valid",
    "verify",
]
