"""Templates and release flows (GitOps, DESIGN.md §2): JSON documents with a version history, optionally linked to a
file in a Git repository (synced both ways), and the runs they request."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from gitconnect.domain.errors import BadRequestError, PayloadTooLargeError, UnprocessableError
from gitconnect.domain.models import PathRules, PullRequestRules, Source

Kind = Literal["template", "release_flow"]
Concurrency = Literal["allow", "queue", "forbid"]
WriteMode = Literal["direct", "pull_request"]  # how a save from the app reaches the linked branch
RUN_FINAL = ("succeeded", "failed", "cancelled")
MAX_DOCUMENT_BYTES = 300 * 1024  # a version item must stay under DynamoDB's 400 KB item limit with its metadata


def file_path(path: str) -> str:
    """A path relative to the repository root: `/a.json` and `a.json` are the same file. Refused: `..`, `.`, empty
    segments that hide them, backslashes, URLs, control characters."""
    text = path.strip()
    if "://" in text or text.startswith("//") or "\\" in text or any(ord(c) < 32 for c in text):
        raise BadRequestError(f"{path!r} is not a path inside the repository")
    parts = [p for p in text.strip("/").split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise BadRequestError(f"{path!r} is not a file path inside the repository")
    return "/".join(parts)


def parse_document(raw: bytes) -> dict[str, Any]:
    """A template file's JSON object; UnprocessableError saying why when it is not one."""
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise PayloadTooLargeError(f"the document is over {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnprocessableError(f"the file is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise UnprocessableError("the file is JSON, but not a JSON object")
    return document


def render(document: dict[str, Any]) -> bytes:
    """How gitconnect writes a document to a file: stable, readable, one trailing newline."""
    encoded = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
    if len(encoded) > MAX_DOCUMENT_BYTES:
        raise PayloadTooLargeError(f"the document is over {MAX_DOCUMENT_BYTES} bytes")
    return encoded


@dataclass(frozen=True)
class GitOpsLink:
    connection_id: str
    repository: str
    branch: str
    path: str
    status: Literal["synced", "error", "unlinked"] = "synced"
    last_synced_sha: str | None = None  # the commit whose content the template has (or gitconnect committed)
    file_version: str | None = None  # the provider's optimistic-concurrency token of that content
    last_error: dict[str, Any] | None = None  # {"reason", "commit_sha", "at"}: a pushed version that was refused
    refused_version: str | None = None  # that refused file's version: a save naming its commit replaces only it
    write: WriteMode = "direct"  # "pull_request": saves commit to gitconnect's branch and open a pull request
    # The latest save proposed through a pull request: {"number", "url", "branch", "commit_sha", "action"}.
    last_pull_request: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "repository": self.repository,
            "branch": self.branch,
            "path": self.path,
            "status": self.status,
            "last_synced_sha": self.last_synced_sha,
            "last_error": self.last_error,
            "write": self.write,
            "last_pull_request": self.last_pull_request,
        }


@dataclass(frozen=True)
class Triggers:
    """A release flow's Git triggers: pushes to `branches` and/or pull requests on one repository, with path rules."""

    connection_id: str
    repository: str
    branches: tuple[str, ...] = ()
    pull_requests: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def as_source(self, template_id: str, team_id: str) -> Source:
        """The triggers as source rules, so a release flow's pushes and pull requests are decided like builds."""
        return Source(
            team_id=team_id,
            id=template_id,
            name=template_id,
            connection_id=self.connection_id,
            provider="",
            repository=self.repository,
            clone_url="",
            branches=self.branches,
            created_at="",
            updated_at="",
            pull_requests=PullRequestRules(enabled=self.pull_requests, branches=self.branches, forks="build"),
            paths=PathRules(self.include, self.exclude),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "repository": self.repository,
            "branches": list(self.branches),
            "pull_requests": self.pull_requests,
            "paths": {"include": list(self.include), "exclude": list(self.exclude)},
        }


@dataclass(frozen=True)
class Template:
    team_id: str
    id: str
    name: str
    kind: Kind
    content: dict[str, Any]
    version: int
    run_on_update: bool
    concurrency: Concurrency
    created_at: str
    updated_at: str
    gitops: GitOpsLink | None = None
    triggers: Triggers | None = None
    # Its provider sends no webhooks (Custom Git): the drift check is how its file and its Git triggers learn of
    # pushes, every poll interval; the others are checked for a missed delivery, every drift interval.
    polled: bool = False
    drift_due_at: float | None = None  # epoch seconds of its next drift check (None: nothing to check)
    trigger_heads: dict[str, str] | None = None  # polled triggers: the heads last seen (None: not polled yet)
    # How many saves the stored item has had. Each save is conditional on it: two saves from one read (a PATCH of
    # the settings and a sync recording a commit, neither bumping `version`) cannot both land, one gets a conflict.
    revision: int = 0

    @property
    def linked(self) -> GitOpsLink | None:
        return self.gitops if self.gitops is not None and self.gitops.status != "unlinked" else None

    @property
    def drift_group(self) -> str | None:
        """What its drift check shares with other templates' (they are due together, see domain/schedule.py): the
        linked branch (one head check); on a polled provider the connection, whose one `ls-remote` shows every
        branch (the file's and the triggers'). None: nothing to check (no link; triggers that webhooks deliver)."""
        link = self.linked
        if self.polled:
            return link.connection_id if link is not None else (self.triggers.connection_id if self.triggers else None)
        if link is not None:
            return f"{link.connection_id}\x1f{link.repository}\x1f{link.branch}"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "content": self.content,
            "version": self.version,
            "gitops": None if self.gitops is None else self.gitops.to_json(),
            "triggers": None if self.triggers is None else self.triggers.to_json(),
            "run_on_update": self.run_on_update,
            "concurrency": self.concurrency,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class TemplateVersion:
    template_id: str
    version: int
    content: dict[str, Any]
    origin: Literal["app", "git"]
    created_at: str
    commit_sha: str | None = None
    author: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "origin": self.origin,
            "commit_sha": self.commit_sha,
            "author": self.author,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Run:
    id: str
    team_id: str
    template_id: str
    version: int
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    created_at: str
    updated_at: str
    reason: str = ""  # what requested it (a version from the app or from Git, a push, a pull request, by hand)
    started: bool = False  # RunRequested was published (a run waiting under `queue` is queued but not started)
    description: str | None = None
    callback_token_hash: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # e.g. the ref and sha of a triggering push
    position: int | None = None  # under `queue`: its place in the template's queue (1, 2, ...: request order)

    @property
    def created_key(self) -> str:
        return f"{self.created_at}#{self.id}"

    @property
    def active(self) -> bool:
        return self.started and self.status not in RUN_FINAL

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "template_id": self.template_id,
            "version": self.version,
            "status": self.status,
            "reason": self.reason,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            **self.details,
            **({} if self.position is None else {"position": self.position}),
        }
