"""The provider protocol: what every Git provider module implements (DESIGN.md §3 "Providers are plugins"), and the
capabilities some of them add (webhooks, managed hooks, commit statuses, ...), which services test with `isinstance`.

Provider modules are pure logic; all I/O goes through the ports they receive (a Git remote client today,
an HTTP client for the API providers).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: the intake loads this module for WebhookSpec, and nothing more of the domain
    from gitconnect.domain.events import RepoRef, WebhookEvent
    from gitconnect.domain.models import Build


@dataclass(frozen=True)
class GitCredentials:
    username: str
    secret: str


@dataclass(frozen=True)
class LinkedAccount:
    """What linking learned about the account; becomes a Connection."""

    name: str
    account: str | None
    base_url: str | None
    credentials: dict[str, str] | None
    account_key: str | None = None  # how webhooks name this account (e.g. `github#<installation id>`)
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Access:
    """What a provider needs to act for one connection: where, as whom (credentials opened by the caller)."""

    base_url: str | None
    account_key: str | None
    credentials: dict[str, str] | None


@dataclass(frozen=True)
class RepositoryRef:
    """The repository a source watches, as the provider identifies it."""

    repository: str
    clone_url: str
    id: str | None = None  # the provider's stable repository id, where it has one (webhooks carry it)


@dataclass(frozen=True)
class Repository:
    id: str
    full_name: str
    namespace: str | None
    default_branch: str | None
    private: bool | None
    clone_url: str
    web_url: str | None


@dataclass(frozen=True)
class RepoFile:
    """A file as stored in a repository (GitOps)."""

    path: str
    content: bytes
    version: str  # the provider's optimistic-concurrency token for the next commit (GitLab: last_commit_id)
    author: str | None = None  # who made the commit the content was read at, where the provider says so
    commit: str | None = None  # the commit it was read at, where `version` is not a commit (GitHub: a blob sha)

    @property
    def commit_sha(self) -> str:
        return self.commit or self.version


@dataclass(frozen=True)
class CommitAuthor:
    """Who a commit is authored by (the user who saved in the app); gitconnect stays its committer."""

    name: str
    email: str

    @property
    def line(self) -> str:
        """Git's `Name <email>` (Bitbucket's `author` field, a dulwich commit's author)."""
        return f"{self.name} <{self.email}>"


GITCONNECT = CommitAuthor("gitconnect", "gitconnect@users.noreply.invalid")  # the committer where one can be named


@dataclass(frozen=True)
class FileChange:
    """One file to commit (GitOps): `content` at `path` on `branch`, landing only if the file is still `expected`
    (RepoFile.version; None means create, refused when the file exists). `author`: who saved (None: gitconnect's
    own identity authors it, the provider's default)."""

    branch: str
    path: str
    content: bytes
    message: str
    expected: str | None
    author: CommitAuthor | None = None

    def refusal(self) -> str:
        """Why the provider refused the commit: the file exists (a create), or changed since it was read."""
        what = "already exists" if self.expected is None else "changed in the repository since it was read"
        return f"{self.path} on {self.branch} {what}"


@dataclass(frozen=True)
class Committed:
    """A commit made by `commit_file`: its sha, and the file's version for the next commit (GitHub: the new blob
    sha; GitLab, Bitbucket, Custom Git: the commit itself)."""

    sha: str
    version: str


@dataclass(frozen=True)
class ChangeRequest:
    """An open pull request (GitHub, Bitbucket) or merge request (GitLab): its number (GitLab: the `iid`), where a
    person reviews it, and its head commit."""

    number: int
    url: str
    head_sha: str | None = None


@dataclass(frozen=True)
class CommitCheck:
    """A named result on a commit that is not a build's (`gitconnect/template` on a pull request's head): shown the
    way the provider shows build statuses (GitHub: a check run where the App may, else a commit status)."""

    repository: str
    sha: str
    name: str
    state: Literal["success", "failure"]
    title: str
    summary: str
    external_id: str  # one check per (name, external id) on a commit: shown again, it is updated
    ref: str | None = None  # the branch the commit is on (GitLab keeps one status per name and ref)
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "sha": self.sha,
            "name": self.name,
            "state": self.state,
            "title": self.title,
            "summary": self.summary,
            "external_id": self.external_id,
            "ref": self.ref,
            "url": self.url,
        }


@dataclass(frozen=True)
class Tokens:
    """One OAuth token pair (GitLab, Bitbucket). `expires_at` is epoch seconds, None when the provider said the access
    token does not expire (old self-managed GitLab instances)."""

    access_token: str
    refresh_token: str
    expires_at: float | None
    scope: str | None = None

    def expires_within(self, seconds: float, now: float) -> bool:
        """True when the access token is expired or will be within `seconds` (refresh before it is)."""
        return self.expires_at is not None and self.expires_at - seconds <= now

    def __repr__(self) -> str:  # tokens never end up in logs or tracebacks
        return f"Tokens(expires_at={self.expires_at!r}, scope={self.scope!r})"


@dataclass(frozen=True)
class Branch:
    name: str
    sha: str


@dataclass(frozen=True)
class RemoteRefs:
    """The branches and tags a remote advertises (name -> commit; annotated tags peeled to their commit)."""

    branches: dict[str, str]
    tags: dict[str, str]


@dataclass(frozen=True)
class PushFacts:
    """What Git itself says about a head that moved from `before` to `after`: the head commit's message, and the
    files that differ between the two (None when not asked for or not known); `unknown` says why something is
    missing (the push was too large to inspect, the previous head is gone, ...)."""

    head_message: str | None
    files: tuple[str, ...] | None
    unknown: str | None = None


class GitRemote(Protocol):
    def ls_remote(self, url: str, credentials: GitCredentials | None) -> dict[str, str]:
        """Every advertised ref (name -> sha), annotated tags peeled to the commit they name."""
        ...

    def inspect_push(
        self,
        url: str,
        credentials: GitCredentials | None,
        before: str | None,
        after: str,
        *,
        files: bool,
        max_bytes: int,
    ) -> PushFacts:
        """The head commit `after` and, with `files` and a `before`, the files changed since `before`, read from one
        depth-1 fetch of at most `max_bytes` (over that: PushFacts with `unknown` said)."""
        ...

    def head_branch(self, url: str, credentials: GitCredentials | None) -> str | None:
        """The branch the remote's HEAD points at (its symref); None when it advertises none (an empty remote)."""
        ...

    def read_file(
        self, url: str, credentials: GitCredentials | None, branch: str, path: str
    ) -> tuple[str, bytes | None, str] | None:
        """(the branch head, the file or None, the head's author); None when the branch does not exist."""
        ...

    def commit_file(
        self,
        url: str,
        credentials: GitCredentials | None,
        change: FileChange,
        author: str,
        committer: str,
        parent: str,
    ) -> str | None:
        """The new commit of `change` (its `expected` aside) pushed on top of `parent`; None when the branch no longer
        points at `parent`."""
        ...


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class HttpClient(Protocol):
    """The one way providers reach HTTP APIs: SSRF-guarded, with timeouts and bounded retries (adapters.http)."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> HttpResponse: ...


def sha256_signature_valid(body: bytes, header: str | None, secrets: Iterable[str]) -> bool:
    """Constant-time check of a `sha256=<hex>` header (GitHub's X-Hub-Signature-256, Bitbucket's X-Hub-Signature)
    against the HMAC-SHA256 of the raw body with each secret (two while rotating). Each comparison is constant-time;
    stopping at the first secret that matches spares a second HMAC over the body and tells a forger nothing. A plain
    loop and hmac.new(...).hexdigest(): measured cheaper per delivery than a generator, hmac.digest or bytes.fromhex."""
    if not header or header[:7].lower() != "sha256=":
        return False
    given = header[7:].strip().lower().encode()
    for secret in secrets:
        if secret and hmac.compare_digest(hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode(), given):
            return True
    return False


@dataclass(frozen=True)
class WebhookSpec:
    """How one provider signs and names its deliveries (`providers/<id>/webhooks.py` defines its SPEC)."""

    provider: str
    event_header: str  # lower-case header names
    delivery_header: str
    verify: Callable[[Mapping[str, str], bytes, Sequence[str]], bool]  # pure, constant-time, over the raw body
    ping_events: tuple[str, ...] = ()
    # Where the delivery id may be, best first (e.g. GitLab's `idempotency-key`, kept across retries, before
    # `x-gitlab-event-uuid`); empty means `(delivery_header,)`.
    delivery_headers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.delivery_headers:
            object.__setattr__(self, "delivery_headers", (self.delivery_header,))

    def delivery_id(self, headers: Mapping[str, str]) -> str:
        """The first non-empty delivery header's value, stripped ('' when there is none)."""
        for name in self.delivery_headers:
            value = (headers.get(name) or "").strip()
            if value:
                return value
        return ""


@dataclass(frozen=True)
class ProviderPorts:
    git: GitRemote
    http: HttpClient | None = None
    clock: Callable[[], float] = time.time
    config: Mapping[str, str] = field(default_factory=dict)  # the provider's settings (e.g. GITHUB_* values)


class Provider(Protocol):
    id: ClassVar[str]

    def link(self, request: dict[str, Any]) -> LinkedAccount:
        """Verify a link-with-credentials request against the provider, before anything is stored."""
        ...

    def repository(self, access: Access, requested: str | None) -> RepositoryRef:
        """The repository a new source on this connection watches (validated against the provider)."""
        ...

    def repositories(self, access: Access) -> list[Repository]:
        """Every repository the connection can reach, all pages read with the provider's largest page size (None
        where the provider cannot say a field). The listing service sorts, filters, pages and caches them."""
        ...

    def namespaces(self, access: Access) -> list[str]: ...

    def branches(self, access: Access, repository: str) -> list[Branch]: ...

    def resolve_branch(self, access: Access, repository: str, branch: str) -> str | None:
        """The sha at the head of `branch`, or None when the branch does not exist."""
        ...


# ---------------------------------------------------------------------------------------------------- capabilities
# What a provider may do besides the Provider protocol. A provider class names the ones it implements among its bases,
# and services ask `isinstance(provider, Capability)`. That check only sees whether the methods exist, so a provider
# never has a method of a capability it lacks (no stub raising NotImplementedError); tests/unit/test_capabilities.py
# holds every registered provider to it.


@runtime_checkable
class Webhooks(Protocol):
    """Providers whose deliveries the router reads (API calls only where a payload leaves a gap)."""

    def normalize(self, event: str, payload: Mapping[str, Any]) -> WebhookEvent | tuple[WebhookEvent, ...]:
        """One event, or one per ref for a delivery that moved several (a Bitbucket push)."""
        ...

    def changed_files(self, access: Access, repo: RepoRef, before: str | None, after: str) -> list[str] | None:
        """The files changed between two commits (the compare API); None when the provider cannot say."""
        ...

    def tag_commit(self, access: Access, repo: RepoRef, tag: str) -> str | None:
        """The commit a tag points at; None when there is no such tag."""
        ...


@runtime_checkable
class PolledChanges(Protocol):
    """Providers whose sources learn of pushes by polling (Custom Git: no API, no webhooks): refs and the facts of a
    moved head come from Git itself, so path rules, skip flags and tag globs apply as they do to webhooks."""

    def refs(self, access: Access) -> RemoteRefs: ...

    def push_facts(self, access: Access, before: str | None, after: str, *, files: bool) -> PushFacts: ...


@runtime_checkable
class ShortHashes(Protocol):
    """Providers that look a commit up by its hash, full or short: Bitbucket pull request payloads name short
    hashes, and a manual build's `sha` must be a commit of the repository (every API provider)."""

    def full_commit(self, access: Access, repo: RepoRef, sha: str) -> str | None:
        """The full hash of the commit `sha` names; None when the repository has no such commit."""
        ...


@runtime_checkable
class DefaultBranches(Protocol):
    """Providers that say which branch is a repository's default (what a manual build without a branch builds)."""

    def default_branch(self, access: Access, repo: RepoRef) -> str | None:
        """None when the repository has none yet (it is empty)."""
        ...


@dataclass(frozen=True)
class FailedDelivery:
    """A webhook delivery the provider says it could not make (a timeout, a refused connection, a 4xx/5xx)."""

    id: str  # the provider's id of the attempt (what a redelivery names)
    guid: str  # the delivery's own id, as the intake saw it (X-GitHub-Delivery): dedupes the redelivery
    event: str
    delivered_at: str
    status: str  # the provider's words: "Internal Server Error", "timed out", …
    account_key: str | None


@runtime_checkable
class RedeliveredWebhooks(Protocol):
    """Providers that keep a log of their webhook deliveries and redeliver one on request (GitHub Apps): they do not
    retry a failed delivery by themselves."""

    def failed_deliveries(self, since: float, max_pages: int) -> list[FailedDelivery]:
        """Deliveries made after `since` (epoch seconds) that never succeeded and were never redelivered, newest
        first, reading at most `max_pages` pages of the log."""
        ...

    def redeliver(self, delivery: FailedDelivery) -> None: ...


@dataclass(frozen=True)
class RefListing:
    """A repository's branch heads and tags (name -> commit; tags peeled) as one reconcile pass lists them, the
    provider's validators to send next time (GitHub: one ETag per page and listing), and what the listing cost:
    `calls` requests, `free` of them answered 304 Not Modified (GitHub spends no rate limit on those). `unchanged`:
    every page answered 304, nothing moved since the validators were taken (`branches`/`tags` are then empty)."""

    branches: dict[str, str]
    tags: dict[str, str] | None  # None: not asked for
    validators: dict[str, list[str]]
    unchanged: bool
    calls: int
    free: int = 0


@runtime_checkable
class ReconciledRefs(Protocol):
    """Providers whose webhook-fed sources are reconciled: their branches (and tags) listed at the cheapest documented
    cost, conditionally where the provider allows it, so a push whose webhook never came is found."""

    def listed_refs(
        self, access: Access, repository: str, *, tags: bool, validators: Mapping[str, Sequence[str]]
    ) -> RefListing:
        """Branches, and tags when `tags`; `validators` as a previous listing returned them (empty: list afresh)."""
        ...


@runtime_checkable
class ManagedWebhooks(Protocol):
    """Providers whose webhooks gitconnect registers itself, one per source, each with its own URL and secret."""

    def create_webhook(self, access: Access, repo: RepoRef, url: str, secret: str) -> str:
        """The provider's id of the new hook."""
        ...

    def update_webhook(self, access: Access, repo: RepoRef, hook_id: str, url: str, secret: str) -> bool:
        """False when the provider no longer has the hook."""
        ...

    def delete_webhook(self, access: Access, repo: RepoRef, hook_id: str) -> bool:
        """False when the provider no longer had the hook."""
        ...

    def webhook_health(self, access: Access, repo: RepoRef, hook_id: str) -> str:
        """`ok`, `disabled` (after failed deliveries) or `missing`."""
        ...


@runtime_checkable
class CommitStatuses(Protocol):
    """Providers that show a build's status on its commit (GitHub commit statuses, ...)."""

    def report_status(self, access: Access, build: Build, url: str | None, description: str | None) -> None: ...


@runtime_checkable
class CommitChecks(Protocol):
    """Providers that show a named check on a commit, through the same path as build statuses (GitHub check runs or
    commit statuses, GitLab commit statuses, Bitbucket build statuses)."""

    def report_check(self, access: Access, check: CommitCheck) -> None: ...


@runtime_checkable
class RefreshingCredentials(Protocol):
    """Providers whose OAuth access tokens expire and are refreshed (GitLab, Bitbucket)."""

    def refresh_credentials(self, access: Access) -> dict[str, str]:
        """The new credentials (RefreshRefusedError when the provider refuses the refresh token)."""
        ...


@runtime_checkable
class GitOpsFiles(Protocol):
    """Providers that can read and commit a file (GitOps). A commit lands only if the file is still the version
    read (FileChange.expected): ConflictError otherwise, decided by the provider itself (no read-then-write race)."""

    def read_file(self, access: Access, repository: str, branch: str, path: str) -> RepoFile | None: ...

    def commit_file(self, access: Access, repository: str, change: FileChange) -> Committed: ...


@runtime_checkable
class ChangeRequests(Protocol):
    """Providers with pull requests (GitHub, Bitbucket) or merge requests (GitLab), through their documented APIs:
    a save in pull-request mode commits to a branch of gitconnect's and opens (or updates) one; a pull request's
    head is read to check the linked files it changes."""

    def start_branch(self, access: Access, repository: str, branch: str, sha: str) -> None:
        """`branch` at commit `sha`: created, or moved there when it exists (a branch nothing is open from)."""
        ...

    def open_change_request(
        self, access: Access, repository: str, head: str, base: str
    ) -> ChangeRequest | None:
        """The open pull request from branch `head` into `base` of the same repository, None when there is none."""
        ...

    def create_change_request(
        self, access: Access, repository: str, head: str, base: str, title: str, description: str
    ) -> ChangeRequest: ...

    def update_change_request(
        self, access: Access, repository: str, number: int, title: str, description: str
    ) -> ChangeRequest: ...

    def file_at(self, access: Access, repository: str, commit: str, path: str) -> bytes | None:
        """The file at a commit (a pull request's head), None when there is no file there."""
        ...


class GitOpsProvider(Provider, GitOpsFiles, Protocol):
    """A provider with GitOps files."""
