"""A faithful fake of the Bitbucket Cloud endpoints gitconnect calls, served over real HTTP on 127.0.0.1.

State lives in Python: users (Atlassian API tokens, used with HTTP Basic and the account's e-mail or nickname; OAuth
access + refresh tokens expiring on an injectable clock), workspaces with their members (first member: owner),
workspace and repository access tokens (Bearer, valid only inside their workspace or repository), repositories with
branches, commits, file trees, diffstats, webhooks (their secret kept, never returned) and build statuses, and the OAuth
consumer with the authorization codes its users approved. What it copies from Bitbucket Cloud
(developer.atlassian.com/cloud/bitbucket/rest and the webhook documentation):

- `/2.0/...` routes and status codes: user, user/workspaces, repositories of a workspace (BBQL `q` with `~ = != !~`
  joined by AND, `role`, `sort`), repository by slug or `{uuid}`, refs/branches (names may contain `/`), commit (full,
  short (7+) or branch name), diffstat `{new}..{old}`, hooks (CRUD, events checked against the repository's list,
  `secret_set` instead of the secret), build statuses (one per key and commit: 201 created, 200 overwritten), src
  (raw bytes, `format=meta`, directory listings; POST a commit from a form or multipart body, 409 when `parents` no
  longer names the branch's tip, 201 with `Location`);
- pages `{"pagelen", "size", "page", "values", "next"?, "previous"?}` (`pagelen` 10 by default, at most 100; `next`
  an absolute URL with every parameter of the request; a page past the end is 404 "Invalid page");
- error bodies `{"type": "error", "error": {"message", "detail"?, "fields"?}}`: "Access token expired.", "Token is
  invalid, expired, or not supported for this endpoint.", "Your credentials lack one or more required privilege
  scopes." (an API token's scopes), "This API is not accessible by this authentication mechanism" (access tokens on
  /user), "Repository ws/slug not found", "There is no API hosted at this URL";
- permissions: a private repository is visible to workspace members and the workspace's (or its own) access token
  (404 otherwise); hooks need admin (workspace owner or access token), src commits write (any member);
- `POST /site/oauth2/access_token` (client credentials by HTTP Basic or form): authorization_code (one use) and
  refresh_token with rotation (the old access and refresh tokens stop working at once); `invalid_grant` (400),
  `invalid_client` (401), `unsupported_grant_type` (400);
- deliveries: `repo:push` payloads of the shape of fixtures/bitbucket-cloud/repo-push.json (at most 5 commits per
  change, `truncated` beyond), headers `X-Event-Key`, `X-Hook-UUID` (no braces), `X-Request-UUID`,
  `X-Attempt-Number`, `User-Agent: Bitbucket-Webhooks/2.0` and, with a secret, `X-Hub-Signature: sha256=<HMAC of the
  exact bytes sent>`.

Extras for tests: `refresh_delay` (seconds a refresh takes, to expose races) with `refresh_calls`/`refresh_successes`;
`revoke(token)` and `remove_hook` ("on Bitbucket's side"); `users_by_nickname`; `put_file` (a push made outside
gitconnect); `send_push`/`send_event`; `fail_next(path_prefix, status, ...)` and `slow_next(...)` (paths without /2.0:
"/repositories/", "/site/oauth2/access_token"; an injected status says what Bitbucket says); every request is logged
in `log` (`requests(...)` filters it); `deliver(hook, headers, body_bytes) -> status` is swappable. Faults, the log
and the server's lifecycle are tests/support/fake_http.py's.
"""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from tests.support.fake_http import HTML, REASONS, FakeServer, Recorded, Reply, fake_sha, parse_body, post_webhook

__all__ = ["FakeBitbucket", "FakeHook", "FakeRepo", "FakeToken", "FakeUser", "FakeWorkspace", "Recorded", "fake_sha"]

HOOK_EVENTS = frozenset(
    {  # GET /2.0/hook_events/repository
        "repo:push",
        "repo:fork",
        "repo:updated",
        "repo:commit_comment_created",
        "repo:commit_status_created",
        "repo:commit_status_updated",
        "issue:created",
        "issue:updated",
        "issue:comment_created",
        "pullrequest:created",
        "pullrequest:updated",
        "pullrequest:approved",
        "pullrequest:unapproved",
        "pullrequest:fulfilled",
        "pullrequest:rejected",
        "pullrequest:comment_created",
        "pullrequest:comment_updated",
        "pullrequest:comment_deleted",
        "pullrequest:comment_resolved",
        "pullrequest:comment_reopened",
        "pullrequest:changes_request_created",
        "pullrequest:changes_request_removed",
    }
)
BUILD_STATES = ("INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED")
SRC_FIELDS = ("message", "author", "parents", "files", "branch")
MAX_PUSH_COMMITS = 5

UNAUTHORIZED = "Unauthorized"
TOKEN_EXPIRED = "Access token expired."
TOKEN_INVALID = "Token is invalid, expired, or not supported for this endpoint."
NOT_FOR_ACCESS_TOKENS = "This API is not accessible by this authentication mechanism"
SCOPES_LACKING = "Your credentials lack one or more required privilege scopes."
NEED_ADMIN = "Access denied. You must have admin access to this repository."
NEED_WRITE = "Access denied. You must have write or admin access."
NO_API = (
    "There is no API hosted at this URL.\n\nFor information about our API's, please refer to the documentation at: "
    "https://developer.atlassian.com/bitbucket/api/2/reference/"
)
REQUIRED = "This field is required."
# API token scopes per kind of call (OAuth consumers and access tokens are not checked: they hold what they need)
READ_USER, READ_WORKSPACE = "read:user:bitbucket", "read:workspace:bitbucket"
READ_REPO, WRITE_REPO = "read:repository:bitbucket", "write:repository:bitbucket"
READ_HOOK, WRITE_HOOK, DELETE_HOOK = "read:webhook:bitbucket", "write:webhook:bitbucket", "delete:webhook:bitbucket"


def _braced() -> str:
    return "{" + str(uuid.uuid4()) + "}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class FakeUser:
    uuid: str
    account_id: str
    nickname: str
    email: str
    display_name: str


@dataclass
class FakeWorkspace:
    uuid: str
    slug: str
    name: str
    members: dict[str, str] = field(default_factory=dict)  # user uuid -> "owner" | "member"


@dataclass
class FakeHook:
    uuid: str  # "{...}"
    repo_full_name: str
    url: str
    description: str
    active: bool
    events: list[str]
    secret: str | None
    created_at: str


@dataclass
class FakeRepo:
    uuid: str
    workspace: FakeWorkspace
    slug: str
    is_private: bool = True
    mainbranch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)  # name -> head sha
    tags: dict[str, str] = field(default_factory=dict)  # name -> the commit it points at
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha -> {"hash", "message", "parents"}
    files: dict[str, dict[str, tuple[bytes, str]]] = field(default_factory=dict)  # branch -> path -> (bytes, last sha)
    trees: dict[str, dict[str, tuple[bytes, str]]] = field(default_factory=dict)  # commit -> its files (when known)
    hooks: dict[str, FakeHook] = field(default_factory=dict)
    statuses: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # sha -> key -> status
    diffstats: dict[tuple[str, str], list[str | dict[str, str]]] = field(default_factory=dict)  # (new, old) -> paths
    restricted: set[str] = field(default_factory=set)  # branches whose restrictions allow no direct push
    pullrequests: list[dict[str, Any]] = field(default_factory=list)  # by id - 1

    @property
    def full_name(self) -> str:
        return f"{self.workspace.slug}/{self.slug}"


@dataclass
class FakeToken:
    value: str
    kind: str  # api | access | oauth | refresh
    user_uuid: str | None = None  # api, oauth, refresh
    workspace_uuid: str | None = None  # access
    repo_uuid: str | None = None  # access (repository access token)
    scopes: tuple[str, ...] | None = None  # api tokens with explicit scopes
    expires_at: float | None = None
    revoked: bool = False
    pair: str | None = None  # oauth: its refresh token; refresh: its access token


class Delivery(NamedTuple):
    """One delivery; the bytes sent (and signed) were exactly `json.dumps(payload).encode()`."""

    hook_uuid: str
    event: str
    headers: dict[str, str]
    payload: Any
    status: int  # 0 when the receiver could not be reached


def _error(status: int, message: str, *, detail: Any = None, **extra: Any) -> Reply:
    error: dict[str, Any] = {"message": message}
    if detail is not None:
        error["detail"] = detail
    headers = {"WWW-Authenticate": 'Basic realm="Bitbucket.org HTTP"'} if status == 401 else {}
    return Reply(status, {"type": "error", "error": {**error, **extra}}, headers)


_CONDITION = re.compile(r'\s*([a-z_.]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*')


def _pr_matches(pr: dict[str, Any], q: dict[str, str]) -> bool:
    """GET …/pullrequests filters: `state` (OPEN by default, repeatable in Bitbucket; one here) and a `q` of
    `field = "value"` conditions joined by AND (source.branch.name, destination.branch.name)."""
    if q.get("state", "OPEN") != pr["state"]:
        return False
    fields = {"source.branch.name": pr["source"], "destination.branch.name": pr["destination"]}
    for condition in filter(None, re.split(r"\s+AND\s+", q.get("q", "").strip())):
        found = _CONDITION.fullmatch(condition)
        if found is None or found[1] not in fields:
            raise _error(400, f"Invalid filter: {condition}")
        if fields[found[1]] != re.sub(r"\\(.)", r"\1", found[2]):
            return False
    return True


def _bad_fields(**fields: str) -> Reply:
    return _error(400, "Bad request", fields={name: [text] for name, text in fields.items()})


def _oauth_error(status: int, code: str, description: str) -> Reply:
    return Reply(status, {"error": code, "error_description": description})


def _form_fields(headers: dict[str, str], raw: bytes) -> list[tuple[str, bytes]]:
    """Every field of a urlencoded or multipart/form-data body, in order, values as bytes."""
    content_type = headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        message = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields = []
        for part in message.get_payload() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            if name is not None:
                fields.append((str(name), part.get_payload(decode=True) or b""))
        return fields
    return [(k, v.encode()) for k, v in parse_qsl(raw.decode(errors="replace"), keep_blank_values=True)]


def http_deliver(hook: FakeHook, headers: dict[str, str], body: bytes) -> int:
    """Bitbucket's side of a delivery: POST the (already signed) bytes to the hook's URL; the receiver's status."""
    return post_webhook(hook.url, body, headers)


class FakeBitbucket(FakeServer):
    """Bitbucket Cloud (REST API 2.0 + the OAuth token endpoint) for tests: a context manager, or start()/stop()."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        client_id: str = "fake-bitbucket-key",
        client_secret: str = "fake-bitbucket-secret",  # noqa: S107 - a test fixture
        token_lifetime: float = 7200.0,
        refresh_delay: float = 0.0,
        deliver: Callable[[FakeHook, dict[str, str], bytes], int] = http_deliver,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.client_id, self.client_secret = client_id, client_secret
        self.token_lifetime = token_lifetime
        self.refresh_delay = refresh_delay
        self.deliver = deliver
        self.users: dict[str, FakeUser] = {}
        self.workspaces: dict[str, FakeWorkspace] = {}  # uuid -> workspace
        self.repos: dict[str, FakeRepo] = {}  # uuid -> repository
        self.tokens: dict[str, FakeToken] = {}
        self.codes: dict[str, tuple[str, float]] = {}  # code -> (user uuid, expires at); removed when used
        self.deliveries: list[Delivery] = []
        self.refresh_calls = 0
        self.refresh_successes = 0
        self._serial = itertools.count(1)

    @property
    def api_url(self) -> str:
        """Like https://api.bitbucket.org: the API is under /2.0."""
        return self.origin

    @property
    def web_url(self) -> str:
        """Like https://bitbucket.org: /site/oauth2/authorize and /site/oauth2/access_token (same server)."""
        return self.origin

    # -- state: accounts, workspaces and tokens --------------------------------------------------------------------

    def add_user(self, nickname: str, *, email: str | None = None, display_name: str | None = None) -> FakeUser:
        with self._lock:
            user = FakeUser(
                _braced(),
                secrets.token_hex(12),
                nickname,
                email or f"{nickname}@example.com",
                display_name or nickname.title(),
            )
            self.users[user.uuid] = user
            return user

    def users_by_nickname(self, nickname: str) -> FakeUser:
        """The user with that nickname (KeyError when there is none)."""
        found = next((u for u in self.users.values() if u.nickname.lower() == nickname.lower()), None)
        if found is None:
            raise KeyError(nickname)
        return found

    def add_workspace(self, slug: str, *, members: Iterable[FakeUser] = (), name: str | None = None) -> FakeWorkspace:
        """A workspace; its first member is its owner (who created it), the others plain members."""
        with self._lock:
            workspace = FakeWorkspace(_braced(), slug, name or slug.replace("-", " ").title())
            for index, user in enumerate(members):
                workspace.members[user.uuid] = "owner" if index == 0 else "member"
            self.workspaces[workspace.uuid] = workspace
            return workspace

    def _new_token(self, prefix: str, **fields: Any) -> str:
        value = prefix + secrets.token_urlsafe(24)
        self.tokens[value] = FakeToken(value, **fields)
        return value

    def api_token(self, user: FakeUser, *, scopes: Iterable[str] | None = None) -> str:
        """An Atlassian API token: `Authorization: Basic base64(email-or-nickname:token)`."""
        with self._lock:
            return self._new_token(
                "ATATT3x", kind="api", user_uuid=user.uuid, scopes=None if scopes is None else tuple(scopes)
            )

    def access_token(self, workspace: FakeWorkspace, *, repository: FakeRepo | None = None) -> str:
        """A workspace (or repository) access token: `Authorization: Bearer <token>`, valid inside it only."""
        with self._lock:
            return self._new_token(
                "ATCTT3x",
                kind="access",
                workspace_uuid=workspace.uuid,
                repo_uuid=repository.uuid if repository else None,
            )

    def oauth_tokens(self, user: FakeUser) -> tuple[str, str]:
        """An OAuth (access, refresh) pair of the consumer, as a finished authorization would have issued."""
        with self._lock:
            answer = self._issue_oauth(user.uuid, "authorization_code")
            return answer["access_token"], answer["refresh_token"]

    def issue_code(self, user: FakeUser) -> str:
        """An authorization code for the consumer, as Bitbucket puts in the callback after the user approved."""
        with self._lock:
            code = secrets.token_urlsafe(18)
            self.codes[code] = (user.uuid, self.clock() + 600)
            return code

    def revoke(self, token: str) -> None:
        """The token (any kind) stops working, as when its user revokes it."""
        with self._lock:
            self.tokens[token].revoked = True

    # -- state: repositories -------------------------------------------------------------------------------------

    def add_repo(
        self,
        workspace: FakeWorkspace,
        slug: str,
        *,
        branches: dict[str, str] | None = None,
        private: bool = True,
        main: str = "main",
    ) -> FakeRepo:
        """A repository; branches default to `main` at a made-up commit."""
        with self._lock:
            repo = FakeRepo(_braced(), workspace, slug, private, main)
            heads = {main: fake_sha(f"{workspace.slug}/{slug}@{main}")} if branches is None else dict(branches)
            for name, sha in heads.items():
                self.set_branch(repo, name, sha)
            self.repos[repo.uuid] = repo
            return repo

    def add_commit(
        self, repo: FakeRepo, sha: str, *, message: str = "Commit message\n", parents: Iterable[str] = ()
    ) -> str:
        with self._lock:
            repo.commits[sha] = {"hash": sha, "message": message, "parents": list(parents)}
            return sha

    def set_branch(self, repo: FakeRepo, name: str, sha: str) -> None:
        """Move (or create) a branch head, as a push would; its files follow when the commit's tree is known."""
        with self._lock:
            if sha not in repo.commits:
                self.add_commit(repo, sha, message=f"Commit {sha[:7]}\n")
            repo.branches[name] = sha
            if sha in repo.trees:
                repo.files[name] = dict(repo.trees[sha])
            else:
                repo.files.setdefault(name, {})

    def set_diffstat(self, repo: FakeRepo, new_sha: str, old_sha: str, paths: list[str | dict[str, str]]) -> None:
        """What diffstat/{new}..{old} answers: paths (modified), or {"path", "status", "old_path"?} entries with
        status added | removed | modified | renamed. Unset pairs are 404."""
        with self._lock:
            repo.diffstats[(new_sha, old_sha)] = list(paths)

    def put_file(self, repo: FakeRepo, branch: str, path: str, content: bytes | str) -> str:
        """A push that changes one file on `branch` (made outside gitconnect): the new commit's sha."""
        with self._lock:
            data = content.encode() if isinstance(content, str) else content
            parents = [repo.branches[branch]] if branch in repo.branches else []
            return self._commit(repo, branch, parents, {path.lstrip("/"): data}, (), f"Update {path}\n")

    def statuses(self, repo: FakeRepo, sha: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in repo.statuses.get(sha, {}).values()]

    def remove_hook(self, repo: FakeRepo, hook_uuid: str) -> None:
        """Someone deleted the webhook in the repository's settings."""
        with self._lock:
            repo.hooks.pop(self._hook_key(hook_uuid), None)

    # -- deliveries ----------------------------------------------------------------------------------------------

    def send_push(
        self, repo: FakeRepo, changes: list[dict[str, Any]], *, actor: FakeUser | None = None
    ) -> list[tuple[str, int]]:
        """Deliver a repo:push to the repository's hooks. Each change: {"branch" or "tag": name, "old": sha | None,
        "new": sha | None, "commits"?: [sha, ...] newest first (default [new]), "forced"?: bool}."""
        with self._lock:
            payload = self._push_payload(repo, changes, actor)
        return self.send_event(repo, "repo:push", payload)

    def send_event(self, repo: FakeRepo, event_key: str, payload: Any) -> list[tuple[str, int]]:
        """Deliver a payload to every active hook of the repository subscribed to `event_key`."""
        with self._lock:
            targets = [h for h in repo.hooks.values() if h.active and event_key in h.events]
        body = json.dumps(payload).encode()  # serialized once: these bytes are signed and sent
        results = []
        for hook in targets:
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Bitbucket-Webhooks/2.0",
                "X-Event-Key": event_key,
                "X-Hook-UUID": hook.uuid.strip("{}"),
                "X-Request-UUID": str(uuid.uuid4()),
                "X-Attempt-Number": "1",
            }
            if hook.secret:
                headers["X-Hub-Signature"] = signature(hook.secret, body)
            status = self.deliver(hook, headers, body)
            with self._lock:
                self.deliveries.append(Delivery(hook.uuid, event_key, headers, payload, status))
            results.append((hook.uuid, status))
        return results

    # -- faults: Bitbucket's bodies, and where requests go ----------------------------------------------------------

    def fault_answer(self, status: int, headers: dict[str, str], body: Any) -> tuple[Any, dict[str, str]]:
        if body is None:
            reasons = {**REASONS, 401: UNAUTHORIZED, 404: "Resource not found",
                       429: "Rate limit for this resource has been exceeded"}
            body = {"type": "error", "error": {"message": reasons.get(status, "Error")}}
        return body, headers

    def locate(self, path: str) -> tuple[str, bool, bool]:
        api = path == "/2.0" or path.startswith("/2.0/")
        return (path[len("/2.0"):] or "/") if api else path, api, True

    def parse_request_body(self, headers: dict[str, str], raw: bytes) -> Any:
        if headers.get("content-type", "").startswith("multipart/form-data"):
            return {k: v.decode(errors="replace") for k, v in _form_fields(headers, raw)}
        return parse_body(headers, raw)

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any,
        raw_body: bytes, api: bool,
    ) -> tuple[int, Any, dict[str, str]]:
        if api:
            return self._api(method, path, query, headers, body, raw_body)
        if path == "/site/oauth2/access_token" and method == "POST":
            return self._token(headers, body)
        if path == "/site/oauth2/authorize" and method == "GET":
            return 200, "<!DOCTYPE html><html><body><h1>Authorize</h1></body></html>", {"content-type": HTML}
        raise Reply(404, "<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>", {"content-type": HTML})

    def on_bug(self, exc: Exception) -> tuple[int, Any, dict[str, str]]:
        """Answered rather than the connection dropped."""
        return 500, {"type": "error", "error": {"message": repr(exc)}}, {}

    def common_headers(self, api: bool) -> dict[str, str]:
        headers = {"X-Request-Id": uuid.uuid4().hex}
        if api:  # Bitbucket Cloud's rolling hour: a limit and what is left, no reset time
            used = len(self.log)
            headers.update({"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": str(max(0, 1000 - used)),
                            "X-RateLimit-Resource": "api", "X-RateLimit-NearLimit": str(used > 950).lower()})
        return headers

    # -- authentication and permissions ---------------------------------------------------------------------------

    def _auth(self, headers: dict[str, str], scope: str | None, *, required: bool = True) -> FakeToken | None:
        scheme, _, value = headers.get("authorization", "").strip().partition(" ")
        value = value.strip()
        if not scheme:
            if required:
                raise _error(401, UNAUTHORIZED)
            return None
        if scheme.lower() == "basic":
            try:
                ident, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise _error(401, UNAUTHORIZED) from None
            token = self.tokens.get(secret)
            user = self.users.get(token.user_uuid or "") if token else None
            if (
                token is None
                or user is None
                or token.kind != "api"
                or token.revoked
                or ident.lower() not in (user.email.lower(), user.nickname.lower())
            ):
                raise _error(401, UNAUTHORIZED)
        elif scheme.lower() == "bearer":
            token = self.tokens.get(value)
            if token is None or token.kind not in ("oauth", "access") or token.revoked:
                raise _error(401, TOKEN_INVALID)
            if token.expires_at is not None and token.expires_at <= self.clock():
                raise _error(401, TOKEN_EXPIRED)
        else:
            raise _error(401, UNAUTHORIZED)
        if scope and token.scopes is not None and scope not in token.scopes:
            raise _error(403, SCOPES_LACKING, detail={"granted": list(token.scopes), "required": [scope]})
        return token

    def _role(self, token: FakeToken | None, repo: FakeRepo) -> str | None:
        """admin | write | read | None for the caller on this repository."""
        if token is not None and token.kind == "access":
            inside = token.workspace_uuid == repo.workspace.uuid and token.repo_uuid in (None, repo.uuid)
            return "admin" if inside else None
        member = repo.workspace.members.get(token.user_uuid or "") if token is not None else None
        if member is not None:
            return "admin" if member == "owner" else "write"
        return None if repo.is_private else "read"

    def _find_workspace(self, ident: str) -> FakeWorkspace | None:
        wanted = ident.lower()
        return next((w for w in self.workspaces.values() if wanted in (w.slug.lower(), w.uuid.lower())), None)

    def _find_repo(self, workspace: str, slug: str) -> FakeRepo | None:
        owner = self._find_workspace(workspace)
        wanted = slug.lower()
        return next(
            (r for r in self.repos.values() if r.workspace is owner and wanted in (r.slug.lower(), r.uuid.lower())),
            None,
        )

    def _repo(self, token: FakeToken | None, workspace: str, slug: str, need: str = "read") -> FakeRepo:
        repo = self._find_repo(workspace, slug)
        role = self._role(token, repo) if repo is not None else None
        if repo is not None and role is None and token is None:
            raise _error(401, UNAUTHORIZED)  # anonymous, on a private repository
        if repo is None or role is None:
            raise _error(404, f"Repository {workspace}/{slug} not found")
        if need == "admin" and role != "admin":
            raise _error(403, NEED_ADMIN)
        if need == "write" and role == "read":
            raise _error(403, NEED_WRITE)
        return repo

    # -- the API ------------------------------------------------------------------------------------------------

    def _api(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any, raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        segments = [unquote(s) for s in path.split("/")[1:]]
        while segments and segments[-1] == "":
            segments.pop()
        q = {k: v[-1] for k, v in query.items()}
        params = body if isinstance(body, dict) else {}
        with self._lock:
            match method, segments:
                case "GET", ["user"]:
                    token = self._auth(headers, READ_USER)
                    assert token is not None
                    if token.kind == "access":
                        raise _error(403, NOT_FOR_ACCESS_TOKENS)
                    return 200, self._user_json(self.users[token.user_uuid or ""], full=True), {}
                case "GET", ["user", "workspaces"]:
                    token = self._auth(headers, READ_WORKSPACE)
                    assert token is not None
                    if token.kind == "access":
                        raise _error(403, NOT_FOR_ACCESS_TOKENS)
                    mine = [w for w in self.workspaces.values() if token.user_uuid in w.members]
                    values = [
                        {
                            "type": "workspace_access",
                            "administrator": w.members[token.user_uuid or ""] == "owner",
                            "workspace": self._workspace_json(w),
                        }
                        for w in mine
                    ]
                    return self._page(values, path, query)
                case "GET", ["repositories", workspace]:
                    return self._list_repos(self._auth(headers, READ_REPO, required=False), workspace, path, query, q)
                case "GET", ["repositories", workspace, slug]:
                    token = self._auth(headers, READ_REPO, required=False)
                    return 200, self._repo_json(self._repo(token, workspace, slug), token), {}
                case "GET", ["repositories", workspace, slug, "refs", "branches"]:
                    repo = self._repo(self._auth(headers, READ_REPO, required=False), workspace, slug)
                    return self._page([self._branch_json(repo, n) for n in sorted(repo.branches)], path, query)
                case "GET", ["repositories", workspace, slug, "refs"]:
                    # Branches and tags in one list, as Bitbucket documents `GET …/refs` (sorted by name here).
                    repo = self._repo(self._auth(headers, READ_REPO, required=False), workspace, slug)
                    refs = [(n, self._branch_json(repo, n)) for n in repo.branches]
                    refs += [(n, self._tag_json(repo, n)) for n in repo.tags]
                    return self._page([r for _, r in sorted(refs, key=lambda pair: pair[0])], path, query)
                case "GET", ["repositories", workspace, slug, "refs", "tags"]:
                    repo = self._repo(self._auth(headers, READ_REPO, required=False), workspace, slug)
                    return self._page([self._tag_json(repo, n) for n in sorted(repo.tags)], path, query)
                case "GET", ["repositories", workspace, slug, "refs", "branches", *name] if name:
                    repo = self._repo(self._auth(headers, READ_REPO, required=False), workspace, slug)
                    if "/".join(name) not in repo.branches:
                        raise _error(404, "Branch not found")
                    return 200, self._branch_json(repo, "/".join(name)), {}
                case "GET", ["repositories", workspace, slug, "commit", revision]:
                    repo = self._repo(self._auth(headers, READ_REPO, required=False), workspace, slug)
                    return 200, self._commit_json(repo, self._resolve_or_404(repo, revision)), {}
                case "GET", ["repositories", workspace, slug, "diffstat", spec]:
                    repo = self._repo(self._auth(headers, READ_REPO, required=False), workspace, slug)
                    return self._page(self._diffstat(repo, spec), path, query)
                case "GET", ["repositories", workspace, slug, "commit", revision, "statuses"]:
                    repo = self._repo(self._auth(headers, READ_REPO, required=False), workspace, slug)
                    sha = self._resolve_or_404(repo, revision)
                    return self._page(list(repo.statuses.get(sha, {}).values()), path, query)
                case "POST", ["repositories", workspace, slug, "commit", revision, "statuses", "build"]:
                    repo = self._repo(self._auth(headers, READ_REPO), workspace, slug, "write")
                    return self._build_status(repo, self._resolve_or_404(repo, revision), params)
                case "GET", ["repositories", workspace, slug, "hooks"]:
                    token = self._auth(headers, READ_HOOK)
                    repo = self._repo(token, workspace, slug, "admin")
                    return self._page([self._hook_json(repo, h, token) for h in repo.hooks.values()], path, query)
                case "POST", ["repositories", workspace, slug, "hooks"]:
                    token = self._auth(headers, WRITE_HOOK)
                    repo = self._repo(token, workspace, slug, "admin")
                    return 201, self._hook_json(repo, self._create_hook(repo, params), token), {}
                case "GET" | "PUT" | "DELETE", ["repositories", workspace, slug, "hooks", uid]:
                    scope = {"GET": READ_HOOK, "PUT": WRITE_HOOK, "DELETE": DELETE_HOOK}[method]
                    token = self._auth(headers, scope)
                    repo = self._repo(token, workspace, slug, "admin")
                    hook = repo.hooks.get(self._hook_key(uid))
                    if hook is None:
                        raise _error(404, "Webhook not found")
                    if method == "DELETE":
                        del repo.hooks[hook.uuid]
                        return 204, None, {}
                    if method == "PUT":
                        self._update_hook(hook, params)
                    return 200, self._hook_json(repo, hook, token), {}
                case "GET", ["repositories", workspace, slug, "src", *rest] if rest:
                    repo = self._repo(self._auth(headers, READ_REPO, required=False), workspace, slug)
                    return self._read_src(repo, rest, path, query, q)
                case "POST", ["repositories", workspace, slug, "src"]:
                    token = self._auth(headers, WRITE_REPO)
                    repo = self._repo(token, workspace, slug, "write")
                    return self._post_src(repo, query, _form_fields(headers, raw))
                case "POST", ["repositories", workspace, slug, "refs", "branches"]:
                    repo = self._repo(self._auth(headers, WRITE_REPO), workspace, slug, "write")
                    return 201, self._create_branch(repo, params), {}
                case "DELETE", ["repositories", workspace, slug, "refs", "branches", *name] if name:
                    repo = self._repo(self._auth(headers, WRITE_REPO), workspace, slug, "write")
                    branch = "/".join(name)
                    if branch not in repo.branches:
                        raise _error(404, f"Branch not found: {branch}")
                    del repo.branches[branch]
                    repo.files.pop(branch, None)
                    return 204, None, {}
                case "GET", ["repositories", workspace, slug, "pullrequests"]:
                    repo = self._repo(self._auth(headers, READ_REPO, required=False), workspace, slug)
                    found = [self._pr_json(repo, p) for p in repo.pullrequests if _pr_matches(p, q)]
                    return self._page(found, path, query)
                case "POST", ["repositories", workspace, slug, "pullrequests"]:
                    repo = self._repo(self._auth(headers, WRITE_REPO), workspace, slug, "write")
                    return 201, self._pr_json(repo, self._create_pr(repo, params)), {}
                case "PUT", ["repositories", workspace, slug, "pullrequests", number]:
                    repo = self._repo(self._auth(headers, WRITE_REPO), workspace, slug, "write")
                    return 200, self._pr_json(repo, self._update_pr(repo, number, params)), {}
        raise _error(404, "Resource not found", detail=NO_API)

    # -- pages --------------------------------------------------------------------------------------------------

    def _page(self, items: list[Any], path: str, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        try:
            pagelen = min(max(int(query.get("pagelen", ["10"])[-1]), 1), 100)
            page = int(query.get("page", ["1"])[-1])
        except ValueError:
            raise _error(400, "Invalid pagelen or page") from None
        if page < 1 or (page > 1 and (page - 1) * pagelen >= len(items)):
            raise _error(404, "Invalid page")
        out: dict[str, Any] = {
            "pagelen": pagelen,
            "size": len(items),
            "page": page,
            "values": items[(page - 1) * pagelen : page * pagelen],
        }

        def link(number: int) -> str:
            return f"{self.api_url}/2.0{path}?{urlencode({**query, 'page': [str(number)]}, doseq=True)}"

        if page * pagelen < len(items):
            out["next"] = link(page + 1)
        if page > 1:
            out["previous"] = link(page - 1)
        return 200, out, {}

    # -- repositories ---------------------------------------------------------------------------------------------

    def _list_repos(
        self, token: FakeToken | None, ident: str, path: str, query: dict[str, list[str]], q: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        workspace = self._find_workspace(ident)
        repos = [r for r in self.repos.values() if r.workspace is workspace and self._role(token, r) is not None]
        inside = (
            workspace is not None
            and token is not None
            and (token.user_uuid in workspace.members or token.workspace_uuid == workspace.uuid)
        )
        if workspace is not None and token is None and not repos:
            raise _error(401, UNAUTHORIZED)  # anonymous, on a workspace without public repositories
        if workspace is None or not (inside or repos):
            raise _error(404, f"No workspace with identifier '{ident}'.")
        if "role" in q:
            wanted = {
                "member": ("write", "admin"),
                "contributor": ("write", "admin"),
                "admin": ("admin",),
                "owner": ("admin",),
            }.get(q["role"])  # "read" is a public repository of someone else
            if wanted is None:
                raise _error(400, f"Invalid role: {q['role']}")
            repos = [r for r in repos if self._role(token, r) in wanted]
        if q.get("q"):
            repos = [r for r in repos if _bbql(q["q"], self._searchable(r))]
        sort = q.get("sort", "")
        if sort:
            key = sort.lstrip("-")
            if key not in ("name", "full_name", "slug", "created_on", "updated_on"):
                raise _error(400, f"Invalid sort field: {key}")
            fields = {
                "name": lambda r: r.slug.lower(),
                "slug": lambda r: r.slug.lower(),
                "full_name": lambda r: r.full_name.lower(),
            }
            repos = sorted(
                repos, key=fields.get(key, lambda r: list(self.repos).index(r.uuid)), reverse=sort.startswith("-")
            )
        return self._page([self._repo_json(r, token) for r in repos], path, query)

    @staticmethod
    def _searchable(repo: FakeRepo) -> dict[str, Any]:
        return {
            "name": repo.slug,
            "slug": repo.slug,
            "full_name": repo.full_name,
            "uuid": repo.uuid,
            "is_private": repo.is_private,
            "mainbranch.name": repo.mainbranch,
            "workspace.slug": repo.workspace.slug,
        }

    def _resolve(self, repo: FakeRepo, revision: str) -> str | None:
        """A full sha from a full or short (7+) sha or a branch name; None when unknown or ambiguous."""
        if revision in repo.commits:
            return revision
        if revision in repo.branches:
            return repo.branches[revision]
        if len(revision) >= 7 and re.fullmatch(r"[0-9a-f]+", revision):
            found = [sha for sha in repo.commits if sha.startswith(revision)]
            return found[0] if len(found) == 1 else None
        return None

    def _resolve_or_404(self, repo: FakeRepo, revision: str) -> str:
        sha = self._resolve(repo, revision)
        if sha is None:
            raise _error(404, "Commit not found", data={"shas": [revision]})
        return sha

    def _diffstat(self, repo: FakeRepo, spec: str) -> list[dict[str, Any]]:
        new, _, old = spec.partition("..")
        new_sha = self._resolve_or_404(repo, new)
        if not old:
            parents = repo.commits[new_sha]["parents"]
            old = parents[0] if parents else ""
        old_sha = self._resolve_or_404(repo, old)
        entries = repo.diffstats.get((new_sha, old_sha))
        if entries is None:
            if new_sha != old_sha:
                raise _error(404, "Commit not found", data={"shas": [new, old]})
            entries = []
        out = []
        for entry in entries:
            item = {"path": entry, "status": "modified"} if isinstance(entry, str) else dict(entry)
            status = item.get("status", "modified")
            before = None if status == "added" else item.get("old_path", item["path"])
            after = None if status == "removed" else item["path"]
            out.append(
                {
                    "type": "diffstat",
                    "status": status,
                    "lines_added": 0 if status == "removed" else 1,
                    "lines_removed": 0 if status == "added" else 1,
                    "old": before and {"path": before, "type": "commit_file", "escaped_path": before},
                    "new": after and {"path": after, "type": "commit_file", "escaped_path": after},
                }
            )
        return out

    # -- build statuses -------------------------------------------------------------------------------------------

    def _build_status(self, repo: FakeRepo, sha: str, params: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        for name in ("key", "state", "url"):
            if not params.get(name):
                raise _bad_fields(**{name: REQUIRED})
        if params["state"] not in BUILD_STATES:
            raise _bad_fields(state=f'"{params["state"]}" is not a valid choice.')
        now = _iso(self.clock())
        known = repo.statuses.setdefault(sha, {})
        existing = known.get(params["key"])
        status = existing or {
            "type": "build",
            "uuid": _braced(),
            "key": params["key"],
            "refname": None,
            "name": None,
            "description": "",
            "created_on": now,
        }
        for name in ("state", "url", "name", "description", "refname"):
            if name in params:
                status[name] = params[name]
        api = f"{self.api_url}/2.0/repositories/{repo.full_name}/commit/{sha}"
        status |= {
            "updated_on": now,
            "commit": {"type": "commit", "hash": sha},
            "links": {
                "self": {"href": f"{api}/statuses/build/{quote(params['key'], safe='')}"},
                "commit": {"href": api},
            },
        }
        known[params["key"]] = status
        return (200 if existing else 201), status, {}

    # -- hooks ----------------------------------------------------------------------------------------------------

    @staticmethod
    def _hook_key(uid: str) -> str:
        return "{" + uid.strip().strip("{}").lower() + "}"

    def _check_hook(self, params: dict[str, Any], *, creating: bool) -> None:
        if creating or "url" in params:
            url = params.get("url")
            if not url:
                raise _bad_fields(url=REQUIRED)
            parts = urlsplit(str(url))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise _bad_fields(url="Enter a valid URL.")
        if creating or "events" in params:
            events = params.get("events")
            if not isinstance(events, list) or not events:
                raise _bad_fields(events=REQUIRED)
            for event in events:
                if not isinstance(event, str) or event not in HOOK_EVENTS:
                    raise _bad_fields(events=f'"{event}" is not a valid choice.')

    def _create_hook(self, repo: FakeRepo, params: dict[str, Any]) -> FakeHook:
        self._check_hook(params, creating=True)
        hook = FakeHook(
            _braced(),
            repo.full_name,
            str(params["url"]),
            str(params.get("description") or ""),
            bool(params.get("active", True)),
            sorted(set(params["events"])),
            params.get("secret") or None,
            _iso(self.clock()),
        )
        repo.hooks[hook.uuid] = hook
        return hook

    def _update_hook(self, hook: FakeHook, params: dict[str, Any]) -> None:
        self._check_hook(params, creating=False)
        if "url" in params:
            hook.url = str(params["url"])
        if "description" in params:
            hook.description = str(params["description"] or "")
        if "active" in params:
            hook.active = bool(params["active"])
        if "events" in params:
            hook.events = sorted(set(params["events"]))
        if "secret" in params:
            hook.secret = params["secret"] or None

    # -- source -------------------------------------------------------------------------------------------------

    def _tree(self, repo: FakeRepo, sha: str | None) -> dict[str, tuple[bytes, str]]:
        """The files at a commit: those of a branch it is the head of, else its recorded tree, else none."""
        if sha is None:
            return {}
        branch = next((b for b, head in repo.branches.items() if head == sha), None)
        if branch is not None:
            return repo.files.get(branch, {})
        return repo.trees.get(sha, {})

    def _read_src(
        self, repo: FakeRepo, rest: list[str], path: str, query: dict[str, list[str]], q: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        ref, sha, file_path = None, None, ""
        for cut in range(len(rest), 0, -1):  # a branch name may contain "/": the longest one that exists
            if "/".join(rest[:cut]) in repo.branches:
                ref, file_path = "/".join(rest[:cut]), "/".join(rest[cut:])
                sha = repo.branches[ref]
                break
        if ref is None:
            sha = self._resolve_or_404(repo, rest[0])
            file_path = "/".join(rest[1:])
        tree = repo.files.get(ref, {}) if ref is not None else self._tree(repo, sha)
        commit = {"type": "commit", "hash": sha}
        found = tree.get(file_path)
        if found is not None:
            content, _ = found
            if q.get("format") == "meta":
                return (
                    200,
                    {
                        "type": "commit_file",
                        "path": file_path,
                        "escaped_path": file_path,
                        "commit": commit,
                        "size": len(content),
                        "attributes": [],
                        "mimetype": None,
                    },
                    {},
                )
            try:
                content.decode()
                kind = "text/plain"
            except UnicodeDecodeError:
                kind = "application/octet-stream"
            return 200, content, {"content-type": kind}
        prefix = file_path + "/" if file_path else ""
        below = sorted(p for p in tree if p.startswith(prefix))
        if not below and file_path:
            raise _error(404, f"No such file or directory: {file_path}")
        if q.get("format") == "meta":
            return 200, {"type": "commit_directory", "path": file_path, "commit": commit}, {}
        children: dict[str, str] = {}
        for name in below:
            head, slash, _ = name[len(prefix) :].partition("/")
            children.setdefault(prefix + head, "commit_directory" if slash else "commit_file")
        values = [{"type": kind, "path": p, "commit": commit} for p, kind in children.items()]
        return self._page(values, path, query)

    def _post_src(
        self, repo: FakeRepo, query: dict[str, list[str]], fields: list[tuple[str, bytes]]
    ) -> tuple[int, Any, dict[str, str]]:
        fields = [(k, v.encode()) for k, values in query.items() for v in values] + fields
        meta = {name: value.decode(errors="replace") for name, value in fields if name in SRC_FIELDS}
        declared = [value.decode(errors="replace").lstrip("/") for name, value in fields if name == "files"]
        writes = {name.lstrip("/"): value for name, value in fields if name not in SRC_FIELDS and name.strip("/")}
        branch = meta.get("branch") or repo.mainbranch
        if branch in repo.restricted:
            raise _error(403, "Permission denied",
                         detail=f"Branch restrictions on {branch} allow changes through pull requests only")
        parents = [self._resolve_or_404(repo, p.strip()) for p in meta.get("parents", "").split(",") if p.strip()]
        if branch in repo.branches:
            tip = repo.branches[branch]
            if parents and tip not in parents:
                raise _error(
                    409,
                    "Commit parents do not include the tip of the branch",
                    detail=f"branch {branch} is at {tip}, not at {', '.join(parents)}",
                )
            parents = parents or [tip]
        elif not parents and repo.mainbranch in repo.branches:
            parents = [repo.branches[repo.mainbranch]]
        deletes = tuple(p for p in declared if p not in writes)
        message = meta.get("message") or "Edited online with Bitbucket"
        sha = self._commit(repo, branch, parents, writes, deletes, message, meta.get("author"))
        location = f"{self.api_url}/2.0/repositories/{repo.full_name}/commit/{sha}"
        return 201, None, {"Location": location}

    def _commit(
        self,
        repo: FakeRepo,
        branch: str,
        parents: list[str],
        writes: dict[str, bytes],
        deletes: Iterable[str],
        message: str,
        author: str | None = None,
    ) -> str:
        """A new commit on `branch` with the files of its first parent (the branch's own when that is its tip)."""
        sha = fake_sha(f"{repo.uuid}:{branch}:{parents}:{sorted(writes.items())}:{next(self._serial)}")
        base = parents[0] if parents else None
        own = branch in repo.branches and repo.branches[branch] == base
        tree = dict(repo.files.get(branch, {}) if own else self._tree(repo, base))
        for path in deletes:
            tree.pop(path, None)
        tree.update({path: (content, sha) for path, content in writes.items()})
        repo.commits[sha] = {"hash": sha, "message": message, "parents": list(parents)}
        if author:
            repo.commits[sha]["author"] = author
        repo.trees[sha] = tree
        repo.branches[branch] = sha
        repo.files[branch] = dict(tree)
        return sha

    # -- branches and pull requests -------------------------------------------------------------------------------

    def restrict(self, repo: FakeRepo, branch: str) -> None:
        """A branch restriction that lets changes in through pull requests only: a direct src commit is a 403."""
        with self._lock:
            repo.restricted.add(branch)

    def merge(self, repo: FakeRepo, number: int) -> str:
        """"Merge" on Bitbucket: a merge commit on the destination with the source's files over the destination's
        (the fake keeps no history to three-way merge), the pull request MERGED. The merge commit's hash."""
        with self._lock:
            pr = repo.pullrequests[number - 1]
            source, destination = pr["source"], pr["destination"]
            writes = {path: data for path, (data, _) in repo.files.get(source, {}).items()}
            parents = [repo.branches[destination], repo.branches[source]]
            sha = self._commit(repo, destination, parents, writes, (), f"Merged in {source} (pull request #{number})\n")
            pr["state"] = "MERGED"
            return sha

    def _create_branch(self, repo: FakeRepo, params: dict[str, Any]) -> dict[str, Any]:
        """POST …/refs/branches {"name", "target": {"hash"}}: 400 when the name is taken or the target unknown."""
        name, target = params.get("name"), (params.get("target") or {}).get("hash")
        if not isinstance(name, str) or not name or not isinstance(target, str):
            raise _error(400, "name and target.hash are required")
        if name in repo.branches:
            raise _error(400, f'Branch "{name}" already exists')
        sha = self._resolve(repo, target)
        if sha is None:
            raise _error(400, f"Commit not found: {target}")
        repo.branches[name] = sha
        repo.files[name] = dict(self._tree(repo, sha))
        return self._branch_json(repo, name)

    def _create_pr(self, repo: FakeRepo, params: dict[str, Any]) -> dict[str, Any]:
        """POST …/pullrequests: a title and a source branch of the repository (destination: its main branch by
        default); 400 for another open pull request between the same branches."""
        source = ((params.get("source") or {}).get("branch") or {}).get("name")
        destination = ((params.get("destination") or {}).get("branch") or {}).get("name") or repo.mainbranch
        if not isinstance(params.get("title"), str) or not params["title"]:
            raise _error(400, "title: This field is required.")
        if source not in repo.branches or destination not in repo.branches:
            raise _error(400, f"branch not found: {source if source not in repo.branches else destination}")
        if any(p["state"] == "OPEN" and (p["source"], p["destination"]) == (source, destination)
               for p in repo.pullrequests):
            raise _error(400, f"There is already an open pull request from {source} to {destination}")
        pr = {"id": len(repo.pullrequests) + 1, "title": params["title"], "description": params.get("description"),
              "source": source, "destination": destination, "state": "OPEN", "updates": 0}
        repo.pullrequests.append(pr)
        return pr

    def _update_pr(self, repo: FakeRepo, number: str, params: dict[str, Any]) -> dict[str, Any]:
        if not number.isdigit() or not 0 < int(number) <= len(repo.pullrequests):
            raise _error(404, "Pull request not found")
        pr = repo.pullrequests[int(number) - 1]
        pr.update({k: params[k] for k in ("title", "description") if isinstance(params.get(k), str)})
        pr["updates"] += 1
        return pr

    def _pr_json(self, repo: FakeRepo, pr: dict[str, Any]) -> dict[str, Any]:
        def side(branch: str) -> dict[str, Any]:
            head = repo.branches.get(branch)
            return {"branch": {"name": branch}, "commit": {"type": "commit", "hash": head[:12] if head else None},
                    "repository": {"type": "repository", "full_name": repo.full_name, "uuid": repo.uuid}}

        number = pr["id"]
        return {"type": "pullrequest", "id": number, "title": pr["title"], "description": pr["description"],
                "state": pr["state"], "source": side(pr["source"]), "destination": side(pr["destination"]),
                "links": self._links(f"/repositories/{repo.full_name}/pullrequests/{number}",
                                     f"/{repo.full_name}/pull-requests/{number}")}

    # -- representations ------------------------------------------------------------------------------------------

    def _links(self, path: str, html: str | None = None) -> dict[str, Any]:
        return {"self": {"href": f"{self.api_url}/2.0{path}"}, "html": {"href": f"{self.web_url}{html or path}"}}

    def _user_json(self, user: FakeUser, *, full: bool = False) -> dict[str, Any]:
        quoted = quote(user.uuid, safe="")
        links = {
            **self._links(f"/users/{quoted}", f"/{quoted}/"),
            "avatar": {"href": f"https://secure.gravatar.com/avatar/{fake_sha(user.uuid)[:32]}"},
        }
        out = {
            "display_name": user.display_name,
            "links": links,
            "type": "user",
            "uuid": user.uuid,
            "account_id": user.account_id,
            "nickname": user.nickname,
        }
        if full:
            out |= {
                "username": user.nickname,
                "account_status": "active",
                "created_on": "2024-01-02T03:04:05+00:00",
                "is_staff": False,
                "location": None,
                "has_2fa_enabled": None,
            }
        return out

    def _workspace_json(self, workspace: FakeWorkspace) -> dict[str, Any]:
        return {
            "type": "workspace",
            "uuid": workspace.uuid,
            "slug": workspace.slug,
            "name": workspace.name,
            "links": self._links(f"/workspaces/{workspace.slug}", f"/{workspace.slug}/"),
        }

    def _repo_json(self, repo: FakeRepo, token: FakeToken | None = None) -> dict[str, Any]:
        user = self.users.get(token.user_uuid or "") if token is not None else None
        web = urlsplit(self.web_url)
        login = f"{user.nickname}@" if user is not None else ""
        return {
            "type": "repository",
            "uuid": repo.uuid,
            "full_name": repo.full_name,
            "name": repo.slug,
            "slug": repo.slug,
            "scm": "git",
            "is_private": repo.is_private,
            "description": "",
            "language": "",
            "fork_policy": "no_public_forks",
            "has_issues": False,
            "has_wiki": False,
            "website": None,
            "created_on": "2024-01-02T03:04:05.000000+00:00",
            "updated_on": "2024-01-02T03:04:05.000000+00:00",
            "mainbranch": {"type": "branch", "name": repo.mainbranch},
            "workspace": {
                "type": "workspace",
                "uuid": repo.workspace.uuid,
                "slug": repo.workspace.slug,
                "name": repo.workspace.name,
            },
            "links": {
                **self._links(f"/repositories/{repo.full_name}", f"/{repo.full_name}"),
                "clone": [
                    {"name": "https", "href": f"{web.scheme}://{login}{web.netloc}/{repo.full_name}.git"},
                    {"name": "ssh", "href": f"git@{web.hostname}:{repo.full_name}.git"},
                ],
            },
        }

    def _commit_json(self, repo: FakeRepo, sha: str, *, short: bool = False) -> dict[str, Any]:
        api, html = f"/repositories/{repo.full_name}/commit/{sha}", f"/{repo.full_name}/commits/{sha}"
        out: dict[str, Any] = {"type": "commit", "hash": sha, "links": self._links(api, html)}
        if short:
            return out
        known = repo.commits.get(sha, {"message": "", "parents": []})
        return out | {
            "message": known["message"],
            "date": "2024-01-02T03:04:05+00:00",
            "author": {"type": "author", "raw": known.get("author", "Example User <user@example.com>")},
            "parents": [self._commit_json(repo, p, short=True) for p in known["parents"]],
            "repository": {"type": "repository", "full_name": repo.full_name, "name": repo.slug, "uuid": repo.uuid},
        }

    def _branch_json(self, repo: FakeRepo, name: str) -> dict[str, Any]:
        quoted = quote(name, safe="")
        return {
            "type": "branch",
            "name": name,
            "target": self._commit_json(repo, repo.branches[name]),
            "links": {
                **self._links(
                    f"/repositories/{repo.full_name}/refs/branches/{quoted}", f"/{repo.full_name}/branch/{quoted}"
                )
            },
            "merge_strategies": ["merge_commit", "squash", "fast_forward"],
            "default_merge_strategy": "merge_commit",
        }

    def _tag_json(self, repo: FakeRepo, name: str) -> dict[str, Any]:
        quoted = quote(name, safe="")
        return {
            "type": "tag",
            "name": name,
            "target": self._commit_json(repo, repo.tags[name]),
            "links": {**self._links(f"/repositories/{repo.full_name}/refs/tags/{quoted}",
                                    f"/{repo.full_name}/commits/tag/{quoted}")},
            "message": None,
            "date": None,
            "tagger": None,
        }

    def _hook_json(self, repo: FakeRepo, hook: FakeHook, token: FakeToken | None) -> dict[str, Any]:
        return {
            "type": "webhook_subscription",
            "uuid": hook.uuid,
            "url": hook.url,
            "description": hook.description,
            "subject_type": "repository",
            "subject": self._repo_json(repo, token),
            "active": hook.active,
            "created_at": hook.created_at,
            "events": list(hook.events),
            "secret_set": bool(hook.secret),
            "skip_cert_verification": False,
            "links": {
                "self": {"href": f"{self.api_url}/2.0/repositories/{repo.full_name}/hooks/{quote(hook.uuid, safe='')}"}
            },
        }

    # -- push payloads (fixtures/bitbucket-cloud/repo-push.json) --------------------------------------------------

    def _actor_json(self, user: FakeUser) -> dict[str, Any]:
        quoted = quote(user.uuid, safe="")
        return {
            "nickname": user.nickname,
            "account_id": user.account_id,
            "display_name": user.display_name,
            "uuid": user.uuid,
            "links": {
                "self": {"href": f"{self.api_url}/2.0/users/{quoted}"},
                "html": {"href": f"{self.web_url}/{quoted}/"},
                "avatar": {"href": f"https://secure.gravatar.com/avatar/{fake_sha(user.uuid)[:32]}"},
            },
        }

    def _payload_commit(self, repo: FakeRepo, sha: str, actor: dict[str, Any], *, target: bool) -> dict[str, Any]:
        known = repo.commits.get(sha, {"message": f"Commit {sha[:7]}\n", "parents": []})
        links = {
            "self": {"href": f"{self.api_url}/2.0/repositories/{repo.full_name}/commit/{sha}"},
            "html": {"href": f"{self.web_url}/{repo.full_name}/commits/{sha}"},
        }
        if not target:
            return {"hash": sha, "type": "commit", "message": known["message"], "author": actor, "links": links}
        parents = [
            {"type": "commit", "hash": p, "links": self._payload_commit(repo, p, actor, target=False)["links"]}
            for p in known["parents"]
        ]
        return {
            "type": "commit",
            "hash": sha,
            "author": actor,
            "message": known["message"],
            "date": "2024-01-02T03:04:05+00:00",
            "parents": parents,
            "links": links,
        }

    def _payload_ref(
        self, repo: FakeRepo, kind: str, name: str, sha: str | None, actor: dict[str, Any]
    ) -> dict[str, Any] | None:
        if sha is None:
            return None
        quoted, api = quote(name, safe=""), f"{self.api_url}/2.0/repositories/{repo.full_name}"
        refs = "branches" if kind == "branch" else "tags"
        return {
            "type": kind,
            "name": name,
            "target": self._payload_commit(repo, sha, actor, target=True),
            "links": {
                "self": {"href": f"{api}/refs/{refs}/{quoted}"},
                "commits": {"href": f"{api}/commits/{quoted}"},
                "html": {"href": f"{self.web_url}/{repo.full_name}/{kind}/{quoted}"},
            },
        }

    def _push_payload(self, repo: FakeRepo, changes: list[dict[str, Any]], actor: FakeUser | None) -> dict[str, Any]:
        pusher = actor or next((self.users[u] for u in repo.workspace.members if u in self.users), None)
        if pusher is None:
            pusher = FakeUser(
                "{00000000-0000-4000-8000-000000000000}",
                "000000000000000000000000",
                "pusher",
                "pusher@example.com",
                "Pusher",
            )
        who = self._actor_json(pusher)
        api, web = f"{self.api_url}/2.0/repositories/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
        out = []
        for change in changes:
            kind = "tag" if "tag" in change else "branch"
            name, old, new = change[kind], change.get("old"), change.get("new")
            listed = list(change.get("commits", [new] if new and new != old else []))
            spec, between = f"{new or ''}..{old or ''}", urlencode({"include": new or "", "exclude": old or ""})
            out.append(
                {
                    "new": self._payload_ref(repo, kind, name, new, who),
                    "old": self._payload_ref(repo, kind, name, old, who),
                    "links": {
                        "html": {"href": f"{web}/branches/compare/{spec}"},
                        "diff": {"href": f"{api}/diff/{spec}"},
                        "commits": {"href": f"{api}/commits?{between}"},
                    },
                    "created": old is None,
                    "forced": bool(change.get("forced", False)),
                    "closed": new is None,
                    "commits": [
                        self._payload_commit(repo, sha, who, target=False) for sha in listed[:MAX_PUSH_COMMITS]
                    ],
                    "truncated": len(listed) > MAX_PUSH_COMMITS,
                }
            )
        quoted = quote(repo.uuid, safe="")
        repository = {
            "links": {
                "self": {"href": api},
                "html": {"href": web},
                "avatar": {"href": f"{self.web_url}/{repo.full_name}/avatar/32/?ts={quoted}"},
            },
            "uuid": repo.uuid,
            "full_name": repo.full_name,
            "name": repo.slug,
            "scm": "git",
            "is_private": repo.is_private,
        }
        return {"actor": who, "repository": repository, "push": {"changes": out}}

    # -- the OAuth token endpoint ---------------------------------------------------------------------------------

    def _token(self, headers: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        params = {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, client_secret = base64.b64decode(credentials).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id, client_secret = "", ""
            params.setdefault("client_id", client_id)
            params.setdefault("client_secret", client_secret)
        grant = params.get("grant_type", "")
        if grant == "refresh_token":
            with self._lock:
                self.refresh_calls += 1
            if self.refresh_delay:
                time.sleep(self.refresh_delay)  # outside the lock: concurrent refreshes overlap, as on Bitbucket
        with self._lock:
            given_id, given_secret = params.get("client_id", "").encode(), params.get("client_secret", "").encode()
            if not (
                hmac.compare_digest(given_id, self.client_id.encode())
                and hmac.compare_digest(given_secret, self.client_secret.encode())
            ):
                raise _oauth_error(401, "invalid_client", "Invalid OAuth client credentials")
            if grant == "authorization_code":
                user_uuid, expires_at = self.codes.pop(params.get("code", ""), ("", 0.0))
                if not user_uuid or expires_at <= self.clock():
                    raise _oauth_error(400, "invalid_grant", "The specified code is not valid.")
                return 200, self._issue_oauth(user_uuid, grant), {"Cache-Control": "no-store"}
            if grant == "refresh_token":
                old = self.tokens.get(params.get("refresh_token", ""))
                if old is None or old.kind != "refresh" or old.revoked:
                    raise _oauth_error(400, "invalid_grant", "Invalid refresh_token")
                old.revoked = True  # rotation: the old refresh token and its access token stop working at once
                if old.pair in self.tokens:
                    self.tokens[old.pair].revoked = True
                answer = self._issue_oauth(old.user_uuid or "", grant)
                self.refresh_successes += 1
                return 200, answer, {"Cache-Control": "no-store"}
        raise _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant or 'None'}")

    def _issue_oauth(self, user_uuid: str, state: str) -> dict[str, Any]:
        access = self._new_token("", kind="oauth", user_uuid=user_uuid, expires_at=self.clock() + self.token_lifetime)
        refresh = self._new_token("", kind="refresh", user_uuid=user_uuid, pair=access)
        self.tokens[access].pair = refresh
        return {
            "access_token": access,
            "scopes": "repository webhook account",
            "token_type": "bearer",
            "expires_in": int(self.token_lifetime),
            "state": state,
            "refresh_token": refresh,
        }


_CLAUSE = re.compile(r'\s*([\w.]+)\s*(!=|!~|=|~)\s*("(?:[^"\\]|\\.)*"|true|false|null)\s*', re.IGNORECASE)


def _bbql(query: str, fields: dict[str, Any]) -> bool:
    """BBQL as far as repository searches go: `field op "value"` clauses joined by AND (ops = != ~ !~)."""
    for clause in re.split(r"\s+AND\s+", query.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise _error(400, "Invalid query", detail=f"could not parse {clause!r}")
        name, op, raw = match.groups()
        if name not in fields:
            raise _error(400, "Invalid query", detail=f"'{name}' is not a field of repositories")
        if raw.startswith('"'):
            value: Any = re.sub(r"\\(.)", r"\1", raw[1:-1])
        else:
            value = {"true": True, "false": False, "null": None}[raw.lower()]
        actual = fields[name]
        if op in ("~", "!~"):
            hit = str(value).lower() in str(actual).lower()
        else:
            hit = actual == value if not isinstance(actual, str) else str(actual).lower() == str(value).lower()
        if hit != (op in ("=", "~")):
            return False
    return True
