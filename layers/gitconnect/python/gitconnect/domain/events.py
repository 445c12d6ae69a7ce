"""One normalized shape for what providers tell us (DESIGN.md §3). A field a provider cannot supply is None,
never a guess; the router decides what to do about the gap (e.g. ask the API for the changed files)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HEADS, TAGS = "refs/heads/", "refs/tags/"


def commit_or_none(value: object) -> str | None:
    """Git providers write the all-zero sha for "no commit" (a created ref's before, a deleted ref's after)."""
    text = str(value or "")
    return None if not text or set(text) == {"0"} else text


@dataclass(frozen=True)
class RepoRef:
    id: str  # the provider's stable id (survives renames and transfers)
    full_name: str
    owner: str
    clone_url: str | None = None
    web_url: str | None = None
    default_branch: str | None = None
    private: bool | None = None

    @classmethod
    def named(cls, full_name: str, repository_id: str) -> RepoRef:
        return cls(id=repository_id, full_name=full_name, owner=full_name.rpartition("/")[0] or full_name)


@dataclass(frozen=True)
class ChangedCommit:
    sha: str
    message: str
    files: tuple[str, ...] | None  # added + modified + removed; None when the provider did not list them


@dataclass(frozen=True)
class PushEvent:
    """A ref moved: branch or tag pushed, created or deleted."""

    account_key: str | None  # finds the connections it belongs to (`github#<installation id>`); None: unknown
    repository: RepoRef
    ref: str  # full name: refs/heads/main, refs/tags/v1
    before: str | None
    after: str | None
    created: bool
    deleted: bool
    commits: tuple[ChangedCommit, ...]
    commits_complete: bool  # False when the provider truncated the list of pushed commits
    head_message: str | None
    kind: Literal["push"] = "push"

    @property
    def is_tag(self) -> bool:
        return self.ref.startswith(TAGS)

    @property
    def name(self) -> str:
        return self.ref.removeprefix(HEADS).removeprefix(TAGS)


@dataclass(frozen=True)
class PullRequestEvent:
    account_key: str | None
    repository: RepoRef
    action: str  # provider-independent: opened | updated | reopened | closed | other
    number: int
    head_sha: str
    head_ref: str
    base_ref: str
    from_fork: bool | None
    title: str | None
    # What a builder fetches, as the provider serves it: GitHub `refs/pull/<n>/head` and GitLab
    # `refs/merge-requests/<iid>/head` in the target repository; Bitbucket has no pull request refs, so the source
    # branch, from the fork (`fetch_url`) when the pull request comes from one.
    fetch_ref: str
    fetch_url: str | None = None
    # With `action` "other": what happened, in the provider's words ("edited", "labeled", "updated without new
    # commits"), for the delivery log.
    other_action: str | None = None
    kind: Literal["pull_request"] = "pull_request"


@dataclass(frozen=True)
class TagEvent:
    """A tag was created, but the provider did not say at which commit (GitHub `create`)."""

    account_key: str | None
    repository: RepoRef
    tag: str
    kind: Literal["tag"] = "tag"


@dataclass(frozen=True)
class ReleaseEvent:
    account_key: str | None
    repository: RepoRef
    action: str  # published | other
    tag: str
    sha: str | None  # None when the provider names only the tag (resolved through the API)
    kind: Literal["release"] = "release"


@dataclass(frozen=True)
class MergeGroupEvent:
    """A merge queue asks for checks on the commit it would merge (GitHub `merge_group`): `head_ref` is the queue's
    temporary branch (`refs/heads/gh-readonly-queue/<base>/…`), `base_ref` the branch it merges into."""

    account_key: str | None
    repository: RepoRef
    action: str  # checks_requested | destroyed | other
    head_sha: str
    head_ref: str
    base_ref: str
    kind: Literal["merge_group"] = "merge_group"


@dataclass(frozen=True)
class InstallationEvent:
    """The account behind a connection changed: installed, removed, suspended, repositories added/removed."""

    account_key: str
    action: Literal["created", "deleted", "suspended", "unsuspended", "repositories_changed"]
    account: str | None
    added: tuple[RepoRef, ...] = ()
    removed: tuple[RepoRef, ...] = ()
    repository_selection: str | None = None  # `all` | `selected` after the change, where the provider says
    kind: Literal["installation"] = "installation"


@dataclass(frozen=True)
class Ignored:
    """A verified delivery we do not act on, and why (answered 2xx, logged)."""

    reason: str
    account_key: str | None = None
    repository: RepoRef | None = None
    kind: Literal["ignored"] = "ignored"


WebhookEvent = PushEvent | PullRequestEvent | TagEvent | ReleaseEvent | MergeGroupEvent | InstallationEvent | Ignored


def repository_of(event: WebhookEvent) -> RepoRef | None:
    """The repository an event is about: None for an account's event (an installation), and for an ignored delivery
    that named none."""
    return None if isinstance(event, InstallationEvent) else event.repository
