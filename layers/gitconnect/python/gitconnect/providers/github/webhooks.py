"""GitHub webhooks, sans I/O: verify a delivery over its raw bytes, then normalize its payload.

Headers: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, `X-GitHub-Event`, `X-GitHub-Delivery`.
Payload reference: GitHub's "Webhook events and payloads" documentation.
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
    InstallationEvent,
    PullRequestEvent,
    PushEvent,
    ReleaseEvent,
    RepoRef,
    TagEvent,
    WebhookEvent,
    commit_or_none,
)
from gitconnect.providers.base import WebhookSpec

SIGNATURE_HEADER = "x-hub-signature-256"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"
MAX_PUSH_COMMITS = 2048  # GitHub lists at most this many commits in a push payload

_PR_ACTIONS = {"opened": "opened", "synchronize": "updated", "reopened": "reopened", "closed": "closed"}


def signature_valid(body: bytes, signature: str | None, secrets: Iterable[str]) -> bool:
    """Constant-time check of `sha256=<hex>` against each configured secret (two while rotating)."""
    if not signature or not signature.startswith("sha256="):
        return False
    given = signature[len("sha256=") :].strip().lower().encode()
    valid = False
    for secret in secrets:
        if secret:
            expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
            valid |= hmac.compare_digest(expected, given)
    return valid


def verify(headers: Mapping[str, str], body: bytes, secrets: Iterable[str]) -> bool:
    return signature_valid(body, headers.get(SIGNATURE_HEADER), secrets)


SPEC = WebhookSpec("github", EVENT_HEADER, DELIVERY_HEADER, verify, ping_events=("ping",))


def account_key(installation_id: object) -> str:
    return f"github#{installation_id}"


def _repo(raw: Mapping[str, Any]) -> RepoRef:
    owner = raw.get("owner") or {}
    full_name = str(raw.get("full_name") or "")
    return RepoRef(
        id=str(raw["id"]),
        full_name=full_name,
        owner=str(owner.get("login") or owner.get("name") or full_name.split("/", 1)[0]),
        clone_url=raw.get("clone_url"),
        web_url=raw.get("html_url"),
        default_branch=raw.get("default_branch") or raw.get("master_branch"),
        private=raw.get("private"),
    )


def _listed_repo(raw: Mapping[str, Any]) -> RepoRef:
    """Installation payloads list repositories without owner or URLs: derive what the name says."""
    full_name = str(raw.get("full_name") or "")
    return RepoRef(id=str(raw["id"]), full_name=full_name, owner=full_name.split("/", 1)[0], private=raw.get("private"))


def _commit(raw: Mapping[str, Any]) -> ChangedCommit:
    lists = [raw.get(k) for k in ("added", "modified", "removed")]
    files = None if any(v is None for v in lists) else tuple(f for v in lists for f in v)  # type: ignore[union-attr]
    return ChangedCommit(sha=str(raw.get("id") or ""), message=str(raw.get("message") or ""), files=files)


def normalize(event: str, payload: Mapping[str, Any]) -> WebhookEvent:
    """The normalized event of one delivery (`Ignored` with the reason for what we do not act on)."""
    installation = (payload.get("installation") or {}).get("id")
    key = account_key(installation) if installation is not None else None
    if event == "ping":
        return Ignored("ping", key)
    if event in ("installation", "installation_repositories"):
        return _installation(event, payload, key)
    repository = payload.get("repository")
    if not isinstance(repository, Mapping) or "id" not in repository:
        return Ignored(f"{event} delivery without a repository", key)
    repo = _repo(repository)
    if event == "push":
        commits = tuple(_commit(c) for c in payload.get("commits") or ())
        head = payload.get("head_commit") or {}
        return PushEvent(
            account_key=key,
            repository=repo,
            ref=str(payload["ref"]),
            before=commit_or_none(payload.get("before")),
            after=commit_or_none(payload.get("after")),
            created=bool(payload.get("created")),
            deleted=bool(payload.get("deleted")),
            commits=commits,
            commits_complete=len(commits) < MAX_PUSH_COMMITS,
            head_message=head.get("message"),
        )
    if event == "pull_request":
        pr = payload["pull_request"]
        head_repo = (pr.get("head") or {}).get("repo")
        base_repo = (pr.get("base") or {}).get("repo") or repository
        return PullRequestEvent(
            account_key=key,
            repository=repo,
            action=_PR_ACTIONS.get(str(payload.get("action")), "other"),
            number=int(pr.get("number") or payload.get("number")),
            head_sha=str(pr["head"]["sha"]),
            head_ref=str(pr["head"].get("ref") or ""),
            base_ref=str(pr["base"].get("ref") or ""),
            # A deleted head repository says nothing about forks: None, not a guess.
            from_fork=None if head_repo is None else head_repo.get("id") != base_repo.get("id"),
            title=pr.get("title"),
        )
    if event == "create":
        if payload.get("ref_type") != "tag":
            return Ignored("branch created: its push event builds it", key, repo)
        return TagEvent(account_key=key, repository=repo, tag=str(payload["ref"]))
    if event == "delete":
        return Ignored(f"{payload.get('ref_type', 'ref')} deleted: nothing to build", key, repo)
    if event == "release":
        release = payload.get("release") or {}
        action = "published" if payload.get("action") == "published" else "other"
        return ReleaseEvent(
            account_key=key, repository=repo, action=action, tag=str(release.get("tag_name") or ""), sha=None
        )
    return Ignored(f"{event} events are not used", key, repo)


def _installation(event: str, payload: Mapping[str, Any], key: str | None) -> WebhookEvent:
    if key is None:
        return Ignored(f"{event} delivery without an installation")
    account = ((payload.get("installation") or {}).get("account") or {}).get("login")
    action = payload.get("action")
    if event == "installation_repositories":
        return InstallationEvent(
            account_key=key,
            action="repositories_changed",
            account=account,
            added=tuple(_listed_repo(r) for r in payload.get("repositories_added") or ()),
            removed=tuple(_listed_repo(r) for r in payload.get("repositories_removed") or ()),
        )
    mapped = {"created": "created", "deleted": "deleted", "suspend": "suspended", "unsuspend": "unsuspended"}
    if action not in mapped:
        return Ignored(f"installation {action} is not used", key)
    return InstallationEvent(
        account_key=key,
        action=mapped[action],  # type: ignore[arg-type]
        account=account,
        added=tuple(_listed_repo(r) for r in payload.get("repositories") or ()) if action == "created" else (),
    )


__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "HEADS",
    "SIGNATURE_HEADER",
    "SPEC",
    "TAGS",
    "normalize",
    "signature_valid",
    "verify",
]
