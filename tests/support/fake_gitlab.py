"""A faithful fake of the GitLab endpoints gitconnect calls, served over real HTTP on 127.0.0.1.

State lives in Python: users (with personal access tokens, project/group access tokens held by bot users, OAuth
access + refresh tokens expiring on an injectable clock), groups and user namespaces, projects with branches, commits,
comparisons, webhooks (their secret token kept, never returned) and commit statuses, an OAuth application and the
authorization codes its users approved. What it copies from GitLab (docs.gitlab.com/api and GitLab's source):

- `{prefix}/api/v4/...` routes and status codes: version, user, namespaces, projects (membership, search, simple),
  project by id or URL-encoded path, branches, branch, compare (`compare_timeout` when the diffs overflow), project
  hooks (CRUD + test trigger, which is also how GitLab re-enables a disabled hook), commit statuses (with GitLab's
  pending → running → success/failed/canceled transitions and its 400 "Cannot transition status" refusal);
- offset pagination exactly as GitLab builds it (per_page default 20, max 100; `X-Page`, `X-Per-Page`,
  `X-Next-Page`/`X-Prev-Page` (empty when none), `X-Total`/`X-Total-Pages` and rel="last" left out above
  `count_limit` (10,000 on GitLab); `Link` rel prev/next/first/last with every request and route parameter, built
  on the configured `external_url`), and keyset pagination (`pagination=keyset`: only a `Link` rel="next");
- error bodies: `{"message": "401 Unauthorized"}`, `{"message": "404 Project Not Found"}`, `{"message": "404 Not
  found"}` (a hook), `{"error": "url is missing"}` (parameters), `{"error": "404 Not Found"}` (no route), OAuth's
  `{"error": "invalid_token", "error_description": "Token is expired. ..."}` for expired or revoked tokens and
  `{"error": "insufficient_scope", ...}` (403) for a token without the scope;
- roles: reading a private project's code needs Reporter, hooks need Maintainer, statuses Developer (403 otherwise);
  a project the token cannot see is 404;
- `POST {prefix}/oauth/token` as Doorkeeper answers it: authorization_code with PKCE (S256 or plain) verification
  and redirect_uri check, refresh_token with rotation (the old access and refresh tokens stop working at once),
  `invalid_grant` (400), `invalid_client` (401), `invalid_request`, `unsupported_grant_type`;
- hook auto-disabling as GitLab.com does it: after 4 failed deliveries `alert_status` "temporarily_disabled" with
  `disabled_until` (1 minute, doubling up to a day), after 40 "disabled"; a 2xx delivery re-enables.

`/oauth/authorize` is a browser page: `approve(authorize_url, user)` plays the user's consent and returns the redirect.
Extras for tests: `refresh_delay` (seconds a refresh takes, to expose races) with `refresh_calls`/`refresh_successes`
counters; `disable_hook`/`remove_hook` ("on GitLab's side"); `send_event` delivers an event to the project's hooks;
`fail_next(path_prefix, status, ...)` and `slow_next(...)` faults (paths without the API prefix: "/projects/",
"/oauth/token"; an injected status says what GitLab says); every request is logged in `log` (`requests(...)` filters
it). Faults, the log and the server's lifecycle are tests/support/fake_http.py's.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from tests.support.fake_http import HTML, REASONS, FakeServer, Recorded, Reply, fake_sha, post_webhook

__all__ = ["DEVELOPER", "MAINTAINER", "FakeGitLab", "FakeHook", "FakeProject", "FakeUser", "Recorded", "fake_sha"]

GITLAB_VERSION = "17.11.1-ee"
GITLAB_REVISION = "2f5a3c1b9e8"
CREATED = "2024-01-02T03:04:05.000Z"
GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50

INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the "
    "authorization request, or was issued to another client."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, or unsupported "
    "authentication method."
)
UNSUPPORTED_GRANT = "The authorization grant type is not supported by the authorization server."
TOKEN_EXPIRED = "Token is expired. You can either do re-authorization or token refresh."
TOKEN_REVOKED = "Token was revoked. You have to re-authorize from the user."
INSUFFICIENT_SCOPE = "The request requires higher privileges than provided by the access token."
RATE_LIMITED = "This endpoint has been requested too many times. Try again later."

HOOK_EVENTS = {  # send_event kind -> (hook flag, X-Gitlab-Event)
    "push": ("push_events", "Push Hook"),
    "tag_push": ("tag_push_events", "Tag Push Hook"),
    "merge_request": ("merge_requests_events", "Merge Request Hook"),
    "release": ("releases_events", "Release Hook"),
}
HOOK_TRIGGERS = (
    "push_events", "tag_push_events", "issues_events", "confidential_issues_events", "note_events",
    "merge_requests_events", "job_events", "pipeline_events", "wiki_page_events", "releases_events",
    "emoji_events", "resource_access_token_events",
)
HOOK_FLAGS = (
    "push_events", "tag_push_events", "merge_requests_events", "repository_update_events", "issues_events",
    "confidential_issues_events", "note_events", "confidential_note_events", "pipeline_events", "wiki_page_events",
    "deployment_events", "feature_flag_events", "job_events", "releases_events", "milestone_events", "emoji_events",
    "resource_access_token_events", "resource_deploy_token_events", "vulnerability_events",
    "enable_ssl_verification",
)
TEMPORARILY_DISABLED_FAILURES, PERMANENTLY_DISABLED_FAILURES = 3, 39  # WebHooks::AutoDisabling thresholds
STATUS_STATES = ("pending", "running", "success", "failed", "canceled", "skipped")

READ = ("api", "read_api")
USER_READ = ("api", "read_api", "read_user")
WRITE = ("api",)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"


@dataclass
class FakeUser:
    id: int
    username: str
    name: str
    namespace_id: int
    bot: bool = False


@dataclass
class FakeToken:
    value: str
    user_id: int
    kind: str  # personal | project | group | oauth | refresh
    scopes: tuple[str, ...]
    expires_at: float | None = None
    revoked: bool = False
    client_id: str | None = None  # oauth/refresh: the application
    pair: str | None = None  # oauth: its refresh token; refresh: its access token
    redirect_uri: str | None = None  # refresh: the redirect_uri of the grant it came from


@dataclass
class FakeNamespace:
    id: int
    path: str
    name: str
    kind: str  # user | group
    parent_id: int | None = None
    visibility: str = "private"
    members: dict[int, int] = field(default_factory=dict)  # user id -> access level (groups)
    owner_id: int | None = None  # user namespaces


@dataclass
class FakeHook:
    id: int
    project_id: int
    url: str
    token: str | None
    flags: dict[str, bool]
    name: str | None = None
    description: str | None = None
    created_at: str = CREATED
    recent_failures: int = 0
    disabled_until: float | None = None
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class FakeProject:
    id: int
    path: str
    name: str
    namespace_id: int
    default_branch: str = "main"
    visibility: str = "private"
    archived: bool = False
    branches: dict[str, str] = field(default_factory=dict)  # name -> head sha
    tags: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # name -> (commit, message: annotated)
    commits: dict[str, list[str]] = field(default_factory=dict)  # sha -> branches that contain it
    comparisons: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    hooks: dict[int, FakeHook] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # sha -> statuses, oldest first
    members: dict[int, int] = field(default_factory=dict)
    # branch -> path -> (content, the last commit that changed it)
    files: dict[str, dict[str, tuple[bytes, str]]] = field(default_factory=dict)
    # sha -> {"author_name", "author_email", "committer_name", "committer_email"} of a Commits API commit
    commit_people: dict[str, dict[str, str]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, tuple[bytes, str]]] = field(default_factory=dict)  # commit -> its files (known)
    protected: set[str] = field(default_factory=set)  # branches the token's user may not push to
    merge_requests: list[dict[str, Any]] = field(default_factory=list)  # by iid - 1


@dataclass
class FakeApp:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scopes: tuple[str, ...] = ("api", "read_api", "read_user", "read_repository", "write_repository")
    confidential: bool = True


@dataclass
class FakeCode:
    code: str
    client_id: str
    user_id: int
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str | None
    method: str | None
    expires_at: float
    used: bool = False


@dataclass
class Delivery:
    hook_id: int
    event: str
    headers: dict[str, str]
    payload: Any
    status: int  # 0 when the receiver could not be reached


def _message(status: int, message: Any) -> Reply:
    return Reply(status, {"message": message})


def _param_error(text: str) -> Reply:
    return Reply(400, {"error": text})


def _oauth_error(status: int, code: str, description: str, **extra: Any) -> Reply:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = f'Bearer realm="Doorkeeper", error="{code}", error_description="{description}"'
    return Reply(status, {"error": code, "error_description": description, **extra}, headers)


def _invalid_token(description: str) -> Reply:
    header = f'Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description="{description}"'
    return Reply(401, {"error": "invalid_token", "error_description": description}, {"WWW-Authenticate": header})


def _bool(params: dict[str, Any], name: str) -> bool | None:
    if name not in params:
        return None
    value = params[name]
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "t", "1", "yes", "on"):
        return True
    if text in ("false", "f", "0", "no", "off"):
        return False
    raise _param_error(f"{name} is invalid")


def _int(query: dict[str, Any], name: str, default: int) -> int:
    try:
        return int(query[name])
    except (KeyError, ValueError, TypeError):
        return default


def _pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def http_deliver(hook: FakeHook, headers: dict[str, str], payload: Any) -> int:
    """GitLab's side of a webhook delivery: POST the JSON to the hook's URL; the receiver's status (0: unreachable)."""
    return post_webhook(hook.url, json.dumps(payload).encode(), headers)


class FakeGitLab(FakeServer):
    """GitLab (REST API v4 + the OAuth token endpoint) for tests. Use as a context manager or start()/stop()."""

    json_type = "application/json"

    def __init__(
        self,
        *,
        prefix: str = "",
        clock: Callable[[], float] = time.time,
        client_id: str = "fake-gitlab-application-id",
        client_secret: str = "gloas-fake-client-secret",  # noqa: S107 - a test fixture
        redirect_uris: Iterable[str] = ("http://127.0.0.1:3000/v1/oauth/gitlab/callback",),
        token_lifetime: float = 7200.0,
        refresh_delay: float = 0.0,
        external_url: str | None = None,
        count_limit: int = 10_000,
        allow_local_webhooks: bool = True,
        auto_disabling: bool = True,
        deliver: Callable[[FakeHook, dict[str, str], Any], int] = http_deliver,
        hook_test_limit: int = 5,
    ) -> None:
        super().__init__()
        self.prefix = prefix.rstrip("/")
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.refresh_delay = refresh_delay
        self._external_url = external_url.rstrip("/") if external_url else None
        self.count_limit = count_limit
        self.allow_local_webhooks = allow_local_webhooks
        self.auto_disabling = auto_disabling
        self.deliver = deliver
        self.hook_test_limit = hook_test_limit
        self.users: dict[int, FakeUser] = {}
        self.namespaces: dict[int, FakeNamespace] = {}
        self.projects: dict[int, FakeProject] = {}
        self.tokens: dict[str, FakeToken] = {}
        self.apps: dict[str, FakeApp] = {}
        self.codes: dict[str, FakeCode] = {}
        self.deliveries: list[Delivery] = []
        self.refresh_calls = 0
        self.refresh_successes = 0
        self._hook_tests: dict[tuple[int, int], list[float]] = {}
        self._user_ids = itertools.count(1)
        self._namespace_ids = itertools.count(100)
        self._project_ids = itertools.count(1000)
        self._hook_ids = itertools.count(5000)
        self._status_ids = itertools.count(90_000)
        self._pipeline_ids = itertools.count(70_000)
        self.app = self.add_app(client_id, client_secret, list(redirect_uris))

    @property
    def base_url(self) -> str:
        """What a user types as the instance's base URL (with the sub-path of a self-managed install)."""
        return f"{self.origin}{self.prefix}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/v4"

    @property
    def external_url(self) -> str:
        """The URL GitLab believes it has (`external_url`): web URLs and pagination links are built on it."""
        return self._external_url or self.base_url

    # -- state: accounts and tokens ------------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self.app.client_id

    @property
    def client_secret(self) -> str:
        return self.app.client_secret

    def add_app(self, client_id: str, client_secret: str, redirect_uris: list[str], *,
                confidential: bool = True) -> FakeApp:
        with self._lock:
            app = FakeApp(client_id, client_secret, list(redirect_uris), confidential=confidential)
            self.apps[client_id] = app
            return app

    def add_user(self, username: str, *, name: str | None = None, bot: bool = False) -> FakeUser:
        with self._lock:
            user_id = next(self._user_ids)
            namespace = FakeNamespace(next(self._namespace_ids), username, name or username.title(), "user",
                                      owner_id=user_id)
            self.namespaces[namespace.id] = namespace
            user = FakeUser(user_id, username, name or username.title(), namespace.id, bot)
            self.users[user.id] = user
            return user

    def user(self, username: str) -> FakeUser:
        return next(u for u in self.users.values() if u.username.lower() == username.lower())

    def add_group(self, path: str, *, parent: FakeNamespace | str | None = None, name: str | None = None,
                  visibility: str = "private") -> FakeNamespace:
        with self._lock:
            parent_ns = self.namespace(parent) if isinstance(parent, str) else parent
            group = FakeNamespace(next(self._namespace_ids), path, name or path.replace("-", " ").title(), "group",
                                  parent_ns.id if parent_ns else None, visibility)
            self.namespaces[group.id] = group
            return group

    def namespace(self, full_path: str) -> FakeNamespace:
        wanted = full_path.strip("/").lower()
        return next(n for n in self.namespaces.values() if self.full_path(n).lower() == wanted)

    def full_path(self, namespace: FakeNamespace) -> str:
        parts = [namespace.path]
        while namespace.parent_id is not None:
            namespace = self.namespaces[namespace.parent_id]
            parts.append(namespace.path)
        return "/".join(reversed(parts))

    def add_member(self, user: FakeUser, target: FakeNamespace | FakeProject, access_level: int = MAINTAINER) -> None:
        with self._lock:
            target.members[user.id] = access_level

    def _new_token(self, user: FakeUser, kind: str, scopes: Iterable[str], expires_at: float | None,
                   prefix: str = "glpat-") -> str:
        value = prefix + secrets.token_urlsafe(15)
        self.tokens[value] = FakeToken(value, user.id, kind, tuple(scopes), expires_at)
        return value

    def personal_token(self, user: FakeUser, *, scopes: Iterable[str] = ("api",),
                       expires_at: float | None = None) -> str:
        """A personal access token (`glpat-…`)."""
        with self._lock:
            return self._new_token(user, "personal", scopes, expires_at)

    def project_token(self, project: FakeProject, *, access_level: int = MAINTAINER,
                      scopes: Iterable[str] = ("api",), expires_at: float | None = None) -> str:
        """A project access token: a bot user who is a member of this project only."""
        with self._lock:
            bot = self.add_user(f"project_{project.id}_bot_{secrets.token_hex(16)}", name=f"{project.name} bot",
                                bot=True)
            project.members[bot.id] = access_level
            return self._new_token(bot, "project", scopes, expires_at)

    def group_token(self, group: FakeNamespace, *, access_level: int = MAINTAINER,
                    scopes: Iterable[str] = ("api",), expires_at: float | None = None) -> str:
        """A group access token: a bot user who is a member of the group (and so of its projects)."""
        with self._lock:
            bot = self.add_user(f"group_{group.id}_bot_{secrets.token_hex(16)}", name=f"{group.name} bot", bot=True)
            group.members[bot.id] = access_level
            return self._new_token(bot, "group", scopes, expires_at)

    def oauth_tokens(self, user: FakeUser, *, scopes: Iterable[str] = ("api",), client_id: str | None = None,
                     redirect_uri: str | None = None) -> tuple[str, str]:
        """An OAuth (access, refresh) pair, as a finished authorization would have issued."""
        with self._lock:
            app = self.apps[client_id or self.client_id]
            answer = self._issue_oauth(user.id, app, tuple(scopes), redirect_uri or app.redirect_uris[0])
            return answer["access_token"], answer["refresh_token"]

    def revoke(self, token: str) -> None:
        with self._lock:
            self.tokens[token].revoked = True

    def issue_code(self, user: FakeUser, *, redirect_uri: str | None = None, code_challenge: str | None = None,
                   method: str | None = "S256", scopes: Iterable[str] = ("api",), client_id: str | None = None) -> str:
        """An authorization code, as GitLab puts in the callback after the user approved (10 minutes)."""
        with self._lock:
            app = self.apps[client_id or self.client_id]
            code = secrets.token_hex(32)
            self.codes[code] = FakeCode(code, app.client_id, user.id, redirect_uri or app.redirect_uris[0],
                                        tuple(scopes), code_challenge, method if code_challenge else None,
                                        self.clock() + 600)
            return code

    def approve(self, authorize_url: str, user: FakeUser) -> str:
        """The user approves the authorize request: the callback URL GitLab redirects the browser to.

        Refuses (ValueError, GitLab shows an error page) an unknown client or an unregistered redirect_uri."""
        parts = urlsplit(authorize_url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if parts.path != f"{self.prefix}/oauth/authorize":
            raise ValueError(f"not this GitLab's authorize path: {parts.path}")
        app = self.apps.get(query.get("client_id", ""))
        if app is None:
            raise ValueError("Client authentication failed due to unknown client")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in app.redirect_uris:
            raise ValueError("The redirect uri included is not valid.")
        separator = "&" if "?" in redirect_uri else "?"

        def back(**params: str) -> str:
            if "state" in query:
                params["state"] = query["state"]
            return f"{redirect_uri}{separator}{urlencode(params)}"

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type",
                        error_description="The authorization server does not support this response type.")
        scopes = tuple(query.get("scope", "").split()) or ("api",)
        if any(scope not in app.scopes for scope in scopes):
            return back(error="invalid_scope",
                        error_description="The requested scope is invalid, unknown, or malformed.")
        challenge, method = query.get("code_challenge"), query.get("code_challenge_method", "plain")
        if challenge and method not in ("S256", "plain"):
            return back(error="invalid_request",
                        error_description="The code_challenge_method must be one of plain, S256.")
        code = self.issue_code(user, redirect_uri=redirect_uri, code_challenge=challenge or None, method=method,
                               scopes=scopes, client_id=app.client_id)
        return back(code=code)

    # -- state: projects --------------------------------------------------------------------------------------------

    def add_project(
        self,
        namespace: FakeNamespace | FakeUser | str,
        path: str,
        *,
        branches: dict[str, str] | None = None,
        default_branch: str = "main",
        visibility: str = "private",
        name: str | None = None,
    ) -> FakeProject:
        """A project in a group (or user namespace, or its full path); branches default to one `default_branch`."""
        with self._lock:
            if isinstance(namespace, FakeUser):
                owner = self.namespaces[namespace.namespace_id]
            elif isinstance(namespace, str):
                owner = self.namespace(namespace)
            else:
                owner = namespace
            project = FakeProject(next(self._project_ids), path, name or path, owner.id, default_branch, visibility)
            full = f"{self.full_path(owner)}/{path}"
            heads = {default_branch: fake_sha(f"{full}@{default_branch}")} if branches is None else dict(branches)
            for branch, sha in heads.items():
                project.branches[branch] = sha
                project.commits.setdefault(sha, []).append(branch)
            self.projects[project.id] = project
            return project

    def project(self, ident: str | int) -> FakeProject:
        found = self._find_project(str(ident))
        if found is None:
            raise KeyError(ident)
        return found

    def path_with_namespace(self, project: FakeProject) -> str:
        return f"{self.full_path(self.namespaces[project.namespace_id])}/{project.path}"

    def add_commit(self, project: FakeProject, sha: str, *, branches: Iterable[str] = ()) -> str:
        with self._lock:
            project.commits.setdefault(sha, []).extend(b for b in branches if b not in project.commits.get(sha, []))
        return sha

    def set_tag(self, project: FakeProject, tag: str, sha: str, message: str | None = None) -> None:
        """Create (or move) a tag on a commit, as a tag push would; a message makes it an annotated tag."""
        with self._lock:
            project.commits.setdefault(sha, [])
            project.tags[tag] = (sha, message)

    def set_branch(self, project: FakeProject, branch: str, sha: str) -> None:
        """Move (or create) a branch head, as a push would."""
        with self._lock:
            project.branches[branch] = sha
            contained = project.commits.setdefault(sha, [])
            if branch not in contained:
                contained.append(branch)

    def set_compare(self, project: FakeProject, from_ref: str, to_ref: str, files: list[str | dict[str, Any]], *,
                    overflow: bool = False, commits: int = 1) -> None:
        """What GitLab answers for compare?from&to (names or shas). Files as paths or diff entries
        ({"new_path", "old_path", "renamed_file", "new_file", "deleted_file", "collapsed", "too_large"}).
        `overflow`: the diff collection hit GitLab's limits (`compare_timeout: true`, the list is cut short)."""
        with self._lock:
            start = project.branches.get(from_ref, from_ref)
            end = project.branches.get(to_ref, to_ref)
            project.commits.setdefault(start, [])
            project.commits.setdefault(end, [])
            entries = [{"new_path": f, "old_path": f} if isinstance(f, str) else dict(f) for f in files]
            project.comparisons[(start, end)] = {"diffs": entries, "overflow": overflow, "commits": commits}

    def statuses(self, project: FakeProject, sha: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in project.statuses.get(sha, [])]

    # -- state: hooks "on GitLab's side" ------------------------------------------------------------------------------

    def hook(self, project: FakeProject, hook_id: int) -> FakeHook:
        return project.hooks[int(hook_id)]

    def disable_hook(self, project: FakeProject, hook_id: int, *, permanently: bool = False,
                     seconds: float = 60.0) -> None:
        """GitLab disabled the hook after failed deliveries: temporarily (until now + seconds) or for good."""
        with self._lock:
            hook = project.hooks[int(hook_id)]
            if permanently:
                hook.recent_failures, hook.disabled_until = PERMANENTLY_DISABLED_FAILURES + 1, None
            else:
                hook.recent_failures = TEMPORARILY_DISABLED_FAILURES + 1
                hook.disabled_until = self.clock() + seconds

    def remove_hook(self, project: FakeProject, hook_id: int) -> None:
        """Someone deleted the hook in GitLab's settings."""
        with self._lock:
            project.hooks.pop(int(hook_id), None)

    def alert_status(self, hook: FakeHook) -> str:
        if not self.auto_disabling:
            return "executable"
        failures = hook.recent_failures
        if failures > PERMANENTLY_DISABLED_FAILURES:
            return "disabled"
        if (hook.disabled_until is not None and hook.disabled_until >= self.clock()
                and failures > TEMPORARILY_DISABLED_FAILURES):
            return "temporarily_disabled"
        return "executable"

    def send_event(self, project: FakeProject, kind: str, payload: Any = None) -> list[tuple[int, int]]:
        """GitLab delivers an event (push, tag_push, merge_request, release) to every executable hook of the project
        that subscribes to it; (hook id, receiver status) for each delivery. Failures count towards disabling."""
        flag, event = HOOK_EVENTS[kind]
        with self._lock:
            targets = [h for h in project.hooks.values() if h.flags.get(flag) and self.alert_status(h) == "executable"]
        body = payload if payload is not None else self._push_payload(project)
        return [(hook.id, self._deliver(hook, event, body)) for hook in targets]

    def _deliver(self, hook: FakeHook, event: str, payload: Any) -> int:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"GitLab/{GITLAB_VERSION}",
            "X-Gitlab-Event": event,
            "X-Gitlab-Webhook-UUID": hook.uuid,
            "X-Gitlab-Instance": self.external_url,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "Idempotency-Key": str(uuid.uuid4()),
        }
        if hook.token:
            headers["X-Gitlab-Token"] = hook.token
        status = self.deliver(hook, headers, payload)
        with self._lock:
            self.deliveries.append(Delivery(hook.id, event, headers, payload, status))
            if 200 <= status < 300:
                hook.recent_failures, hook.disabled_until = 0, None
            elif self.alert_status(hook) == "executable":  # GitLab's backoff!
                previous = hook.recent_failures
                hook.recent_failures = min(previous + 1, PERMANENTLY_DISABLED_FAILURES + 1)
                if hook.recent_failures > TEMPORARILY_DISABLED_FAILURES:
                    backoff = 60.0 * 2.0 ** max(previous - TEMPORARILY_DISABLED_FAILURES, 0)
                    hook.disabled_until = self.clock() + min(max(backoff, 60.0), 86_400.0)
        return status

    # -- repository files (GitOps) ------------------------------------------------------------------------------

    def put_file(self, project: FakeProject, branch: str, path: str, content: bytes | str) -> str:
        """A push that changes one file on `branch` (as a developer would, outside gitconnect): the new commit sha."""
        with self._lock:
            data = content.encode() if isinstance(content, str) else content
            sha = fake_sha(f"{project.id}:{branch}:{path}:{data!r}:{len(self.log)}")
            project.files.setdefault(branch, {})[path] = (data, sha)
            project.branches[branch] = sha
            project.commits.setdefault(sha, []).append(branch)
            project.snapshots[sha] = dict(project.files[branch])
            return sha

    def _file_json(self, project: FakeProject, path: str, ref: str) -> dict[str, Any]:
        """GET …/repository/files/:path?ref=: a branch, or a commit whose files the fake knows."""
        if ref not in project.branches and ref not in project.snapshots:
            raise _message(404, "404 Commit Not Found")
        tree = project.files.get(ref, {}) if ref in project.branches else project.snapshots[ref]
        found = tree.get(path)
        if found is None:
            raise _message(404, "404 File Not Found")
        content, last_commit = found
        return {"file_name": path.rsplit("/", 1)[-1], "file_path": path, "size": len(content), "encoding": "base64",
                "content": base64.b64encode(content).decode(), "content_sha256": hashlib.sha256(content).hexdigest(),
                "ref": ref, "blob_id": hashlib.sha1(content).hexdigest(),  # noqa: S324 - Git's blob id scheme
                "commit_id": project.branches.get(ref, ref), "last_commit_id": last_commit,
                "execute_filemode": False}

    def _commit_actions(self, project: FakeProject, user: FakeUser, params: dict[str, Any]) -> dict[str, Any]:
        """POST /projects/:id/repository/commits: all actions apply, or none (GitLab answers 400 with why)."""
        branch, message, actions = params.get("branch"), params.get("commit_message"), params.get("actions")
        if not branch or not message or not isinstance(actions, list) or not actions:
            raise _param_error("branch, commit_message, actions are missing")
        if branch not in project.branches:
            raise _message(400, "You can only create or edit files when you are on a branch")
        if branch in project.protected:
            raise _message(403, "403 Forbidden - You are not allowed to push into this branch")
        files = project.files.setdefault(branch, {})
        for action in actions:
            path, kind = action.get("file_path"), action.get("action")
            if kind == "create" and path in files:
                raise _message(400, "A file with this name already exists")
            if kind == "update" and path not in files:
                raise _message(400, "A file with this name doesn't exist")
            if kind == "update" and action.get("last_commit_id") and action["last_commit_id"] != files[path][1]:
                raise _message(400, f"The file has changed since you started editing it: {path}")
            if kind not in ("create", "update"):
                raise _param_error("actions[action] does not have a valid value")
        parent = project.branches[branch]
        sha = fake_sha(f"{project.id}:{branch}:{message}:{json.dumps(actions, sort_keys=True)}:{parent}")
        for action in actions:
            raw = action.get("content") or ""
            data = base64.b64decode(raw) if action.get("encoding") == "base64" else str(raw).encode()
            files[action["file_path"]] = (data, sha)
        project.branches[branch] = sha
        project.commits.setdefault(sha, []).append(branch)
        project.snapshots[sha] = dict(files)
        # `author_name`/`author_email` name the author (default: the token's user); the committer is that user
        me = {"name": user.name, "email": f"{user.username}@example.com"}
        people = {
            "author_name": str(params.get("author_name") or me["name"]),
            "author_email": str(params.get("author_email") or me["email"]),
            "committer_name": me["name"],
            "committer_email": me["email"],
        }
        project.commit_people[sha] = people
        return {"id": sha, "short_id": sha[:8], "title": str(message).splitlines()[0], "message": message,
                **people,
                "created_at": _iso(self.clock()),
                "parent_ids": [parent], "web_url": f"{self.external_url}/-/commit/{sha}"}

    # -- branches and merge requests -----------------------------------------------------------------------------

    def protect(self, project: FakeProject, branch: str) -> None:
        """A protected branch the token's user may not push to ("Allowed to push: No one" or Maintainers only)."""
        with self._lock:
            project.protected.add(branch)

    def merge(self, project: FakeProject, iid: int) -> str:
        """"Merge" on GitLab: a merge commit on the target branch with the source branch's files over the target's
        (the fake keeps no history to three-way merge), the merge request `merged`. The merge commit's sha."""
        with self._lock:
            mr = project.merge_requests[iid - 1]
            source, target = mr["source_branch"], mr["target_branch"]
            files = {**project.files.get(target, {}), **project.files.get(source, {})}
            sha = fake_sha(f"{project.id} merge !{iid} {project.branches[target]} {project.branches[source]}")
            project.files[target] = {path: (data, sha) for path, (data, _) in files.items()}
            project.branches[target] = sha
            project.commits.setdefault(sha, []).append(target)
            project.snapshots[sha] = dict(project.files[target])
            mr.update(state="merged", merge_commit_sha=sha)
            return sha

    def _create_branch(self, project: FakeProject, user: FakeUser | None, params: dict[str, Any]) -> dict[str, Any]:
        """POST …/repository/branches?branch=&ref=: 400 "Branch already exists", 400 "Invalid reference name"."""
        name, ref = params.get("branch"), params.get("ref")
        if not name or not ref:
            raise _param_error("branch is missing" if not name else "ref is missing")
        if name in project.branches:
            raise _message(400, "Branch already exists")
        sha = self._resolve(project, str(ref))
        if sha is None:
            raise _message(400, f"Invalid reference name: {ref}")
        project.branches[name] = sha
        project.commits.setdefault(sha, []).append(name)
        source = project.files.get(str(ref)) if ref in project.branches else project.snapshots.get(sha)
        project.files[name] = dict(source or {})
        return self._branch_json(project, user, name)

    @staticmethod
    def _mr_matches(mr: dict[str, Any], q: dict[str, str]) -> bool:
        """GET …/merge_requests filters: `state` (opened, closed, merged, all), `source_branch`, `target_branch`."""
        return (
            q.get("state", "all") in ("all", mr["state"])
            and q.get("source_branch", mr["source_branch"]) == mr["source_branch"]
            and q.get("target_branch", mr["target_branch"]) == mr["target_branch"]
        )

    def _create_mr(self, project: FakeProject, params: dict[str, Any]) -> dict[str, Any]:
        """POST …/merge_requests: 400 for a missing parameter, 409 "Another open merge request already exists for
        this source branch: !<iid>", as GitLab answers."""
        for name in ("source_branch", "target_branch", "title"):
            if not params.get(name):
                raise _param_error(f"{name} is missing")
        source, target = str(params["source_branch"]), str(params["target_branch"])
        if source not in project.branches or target not in project.branches:
            raise _message(404, "404 Branch Not Found")
        for mr in project.merge_requests:
            if mr["state"] == "opened" and mr["source_branch"] == source:
                raise Reply(409, {"message": [
                    f"Another open merge request already exists for this source branch: !{mr['iid']}"]})
        mr = {"iid": len(project.merge_requests) + 1, "title": str(params["title"]),
              "description": params.get("description"), "source_branch": source, "target_branch": target,
              "state": "opened", "merge_commit_sha": None, "updates": 0}
        project.merge_requests.append(mr)
        return mr

    def _update_mr(self, project: FakeProject, iid: str, params: dict[str, Any]) -> dict[str, Any]:
        if not iid.isdigit() or not 0 < int(iid) <= len(project.merge_requests):
            raise _message(404, "404 Not found")
        mr = project.merge_requests[int(iid) - 1]
        mr.update({k: params[k] for k in ("title", "description") if isinstance(params.get(k), str)})
        mr["updates"] += 1
        return mr

    def _mr_json(self, project: FakeProject, mr: dict[str, Any]) -> dict[str, Any]:
        iid = mr["iid"]
        return {"id": project.id * 1000 + iid, "iid": iid, "project_id": project.id, "title": mr["title"],
                "description": mr["description"], "state": mr["state"], "source_branch": mr["source_branch"],
                "target_branch": mr["target_branch"], "source_project_id": project.id,
                "target_project_id": project.id, "sha": project.branches.get(mr["source_branch"]),
                "merge_commit_sha": mr["merge_commit_sha"], "draft": False, "created_at": CREATED,
                "updated_at": CREATED, "web_url": f"{self._web(project)}/-/merge_requests/{iid}"}

    # -- faults: GitLab's bodies, and where requests go -------------------------------------------------------------

    def fault_answer(self, status: int, headers: dict[str, str], body: Any) -> tuple[Any, dict[str, str]]:
        """"Retry later" with Retry-After for 429, `{"message": "500 Internal Server Error"}` for 5xx,
        `{"message": "<status> ..."}` otherwise."""
        if body is None and status == 429:
            body = "Retry later\n"
            reset = int(self.clock()) + 1
            headers = {"Retry-After": "1", "RateLimit-Name": "throttle_authenticated_api", "RateLimit-Limit": "2000",
                       "RateLimit-Observed": "2001", "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset),
                       **headers}
        elif body is None:
            body = {"message": f"{status} {REASONS.get(status, 'Error')}"}
        return body, headers

    def locate(self, path: str) -> tuple[str, bool, bool]:
        """Paths under the instance's prefix, without it (and without /api/v4 for the API); others are no route."""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            return path, False, False
        path = path[len(self.prefix):] or "/"
        if path.startswith("/api/v4/") or path == "/api/v4":
            return path[len("/api/v4"):] or "/", True, True
        return path, False, True

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any,
        raw_body: bytes, api: bool,
    ) -> tuple[int, Any, dict[str, str]]:
        if api:
            return self._api(method, path, query, headers, body)
        if path == "/oauth/token" and method == "POST":
            return self._token(query, headers, body)
        return self.no_route(method, path)

    def no_route(self, method: str, path: str) -> tuple[int, Any, dict[str, str]]:
        raise Reply(404, _NOT_FOUND_PAGE, {"content-type": HTML})

    def common_headers(self, api: bool) -> dict[str, str]:
        headers = {"X-Request-Id": uuid.uuid4().hex[:26].upper(),
                   "X-Gitlab-Meta": json.dumps({"correlation_id": uuid.uuid4().hex, "version": "1"})}
        if api:  # GitLab.com's RateLimit-* headers (throttle_authenticated_api: 2 000 a minute), on every API answer
            minute = int(self.clock()) // 60 * 60 + 60
            used = len(self.log)
            headers.update({"RateLimit-Name": "throttle_authenticated_api", "RateLimit-Limit": "2000",
                            "RateLimit-Observed": str(used), "RateLimit-Remaining": str(max(0, 2000 - used)),
                            "RateLimit-Reset": str(minute),
                            "RateLimit-ResetTime": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(minute))})
        return headers

    # -- authentication -----------------------------------------------------------------------------------------

    @staticmethod
    def _presented_token(headers: dict[str, str]) -> str | None:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        private = headers.get("private-token", "").strip()
        return private or None

    def _auth(self, headers: dict[str, str], scopes: tuple[str, ...], *, required: bool = True) -> FakeUser | None:
        value = self._presented_token(headers)
        if value is None:
            if required:
                raise _message(401, "401 Unauthorized")
            return None
        token = self.tokens.get(value)
        if token is None or token.kind == "refresh":
            raise _message(401, "401 Unauthorized")
        if token.revoked:
            raise _invalid_token(TOKEN_REVOKED)
        if token.expires_at is not None and token.expires_at <= self.clock():
            raise _invalid_token(TOKEN_EXPIRED)
        if not any(scope in token.scopes for scope in scopes):
            raise Reply(403, {"error": "insufficient_scope", "error_description": INSUFFICIENT_SCOPE,
                               "scope": " ".join(scopes)})
        return self.users[token.user_id]

    def _access(self, user: FakeUser | None, project: FakeProject) -> int:
        if user is None:
            return 0
        namespace = self.namespaces[project.namespace_id]
        if namespace.owner_id == user.id:
            return OWNER
        level = project.members.get(user.id, 0)
        current: FakeNamespace | None = namespace
        while current is not None:
            level = max(level, current.members.get(user.id, 0))
            current = self.namespaces.get(current.parent_id) if current.parent_id is not None else None
        return level

    def _visible(self, user: FakeUser | None, project: FakeProject) -> bool:
        if project.visibility == "public" or self._access(user, project) >= GUEST:
            return True
        return project.visibility == "internal" and user is not None and not user.bot

    def _find_project(self, ident: str) -> FakeProject | None:
        if ident.isdigit():
            return self.projects.get(int(ident))
        wanted = ident.lower()
        return next((p for p in self.projects.values() if self.path_with_namespace(p).lower() == wanted), None)

    def _project(self, ident: str, user: FakeUser | None, *, level: int = 0, code: bool = False) -> FakeProject:
        project = self._find_project(ident)
        if project is None or not self._visible(user, project):
            raise _message(404, "404 Project Not Found")
        access = self._access(user, project)
        if code and project.visibility == "private" and access < REPORTER:
            raise _message(403, "403 Forbidden")
        if level and access < level:
            raise _message(403, "403 Forbidden")
        return project

    # -- the API ------------------------------------------------------------------------------------------------

    def _api(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
             body: Any) -> tuple[int, Any, dict[str, str]]:
        segments = [unquote(s) for s in path.split("/")[1:]]
        q = {k: v[-1] for k, v in query.items()}
        params = {**q, **(body if isinstance(body, dict) else {})}
        test: tuple[FakeHook, str, FakeProject] | None = None
        with self._lock:
            match method, segments:
                case "GET", ["version"]:
                    self._auth(headers, USER_READ)
                    return 200, {"version": GITLAB_VERSION, "revision": GITLAB_REVISION,
                                 "kas": {"enabled": False, "externalUrl": None, "externalK8sProxyUrl": None,
                                         "version": None},
                                 "enterprise": True}, {}
                case "GET", ["user"]:
                    user = self._auth(headers, USER_READ)
                    assert user is not None
                    return 200, self._user_json(user, full=True), {}
                case "GET", ["namespaces"]:
                    user = self._auth(headers, READ)
                    assert user is not None
                    items = [self._namespace_json(n) for n in self._user_namespaces(user)]
                    return self._offset(items, path, q, {})
                case "GET", ["projects"]:
                    user = self._auth(headers, READ, required=False)
                    return self._list_projects(user, path, q)
                case "GET", ["projects", ident]:
                    user = self._auth(headers, READ, required=False)
                    project = self._project(ident, user)
                    return 200, self._project_json(project, user, simple=False), {}
                case "GET", ["projects", ident, "repository", "branches"]:
                    user = self._auth(headers, READ, required=False)
                    project = self._project(ident, user, code=True)
                    return self._list_branches(project, user, path, q, ident)
                case "GET", ["projects", ident, "repository", "tags"]:
                    user = self._auth(headers, READ, required=False)
                    project = self._project(ident, user, code=True)
                    # GitLab's default order is `updated` descending; by name here (any order is the same set).
                    items = [self._tag_json(project, n) for n in sorted(project.tags)]
                    return self._offset(items, path, q, {"id": ident})
                case "GET", ["projects", ident, "repository", "branches", branch]:
                    user = self._auth(headers, READ, required=False)
                    project = self._project(ident, user, code=True)
                    if branch not in project.branches:
                        raise _message(404, "404 Branch Not Found")
                    return 200, self._branch_json(project, user, branch), {}
                case "GET", ["projects", ident, "repository", "files", file_path]:
                    user = self._auth(headers, READ, required=False)
                    project = self._project(ident, user, code=True)
                    return 200, self._file_json(project, file_path, q.get("ref", project.default_branch)), {}
                case "POST", ["projects", ident, "repository", "commits"]:
                    user = self._auth(headers, WRITE)
                    project = self._project(ident, user, level=DEVELOPER)
                    assert user is not None
                    return 201, self._commit_actions(project, user, params), {}
                case "POST", ["projects", ident, "repository", "branches"]:
                    user = self._auth(headers, WRITE)
                    project = self._project(ident, user, level=DEVELOPER)
                    return 201, self._create_branch(project, user, params), {}
                case "DELETE", ["projects", ident, "repository", "branches", branch]:
                    user = self._auth(headers, WRITE)
                    project = self._project(ident, user, level=DEVELOPER)
                    if branch not in project.branches:
                        raise _message(404, "404 Branch Not Found")
                    del project.branches[branch]
                    project.files.pop(branch, None)
                    return 204, None, {}
                case "GET", ["projects", ident, "merge_requests"]:
                    user = self._auth(headers, READ, required=False)
                    project = self._project(ident, user, code=True)
                    found = [self._mr_json(project, m) for m in project.merge_requests if self._mr_matches(m, q)]
                    return self._offset(found, path, q, {})
                case "POST", ["projects", ident, "merge_requests"]:
                    user = self._auth(headers, WRITE)
                    project = self._project(ident, user, level=DEVELOPER)
                    return 201, self._mr_json(project, self._create_mr(project, params)), {}
                case "PUT", ["projects", ident, "merge_requests", iid]:
                    user = self._auth(headers, WRITE)
                    project = self._project(ident, user, level=DEVELOPER)
                    return 200, self._mr_json(project, self._update_mr(project, iid, params)), {}
                case "GET", ["projects", ident, "repository", "compare"]:
                    user = self._auth(headers, READ, required=False)
                    project = self._project(ident, user, code=True)
                    return 200, self._compare(project, q), {}
                case "GET", ["projects", ident, "repository", "commits", sha]:
                    # A branch, a full sha or a unique abbreviation of one; 404 "Commit Not Found" otherwise.
                    user = self._auth(headers, READ, required=False)
                    project = self._project(ident, user, code=True)
                    found = self._resolve(project, sha)
                    if found is None and len(sha) >= 4:
                        matches = [c for c in project.commits if c.startswith(sha.lower())]
                        found = matches[0] if len(matches) == 1 else None
                    if found is None:
                        raise _message(404, "404 Commit Not Found")
                    return 200, self._commit_json(project, found), {}
                case "GET", ["projects", ident, "repository", "commits", sha, "statuses"]:
                    user = self._auth(headers, READ, required=False)
                    project = self._project(ident, user, code=True)
                    if self._resolve(project, sha) is None:
                        raise _message(404, "404 Commit Not Found")
                    items = [self._public_status(s) for s in project.statuses.get(self._resolve(project, sha), [])]
                    return self._offset(items, path, q, {"id": ident, "sha": sha})
                case "POST", ["projects", ident, "statuses", sha]:
                    user = self._auth(headers, WRITE)
                    project = self._project(ident, user, level=DEVELOPER)
                    assert user is not None
                    return 201, self._create_status(project, user, sha, params), {}
                case "GET", ["projects", ident, "hooks"]:
                    user = self._auth(headers, READ)
                    project = self._project(ident, user, level=MAINTAINER)
                    items = [self._hook_json(h) for h in sorted(project.hooks.values(), key=lambda h: h.id)]
                    return self._offset(items, path, q, {"id": ident})
                case "POST", ["projects", ident, "hooks"]:
                    user = self._auth(headers, WRITE)
                    project = self._project(ident, user, level=MAINTAINER)
                    return 201, self._hook_json(self._create_hook(project, params)), {}
                case "GET", ["projects", ident, "hooks", hook_id]:
                    user = self._auth(headers, READ)
                    project = self._project(ident, user, level=MAINTAINER)
                    return 200, self._hook_json(self._find_hook(project, hook_id)), {}
                case "PUT", ["projects", ident, "hooks", hook_id]:
                    user = self._auth(headers, WRITE)
                    project = self._project(ident, user, level=MAINTAINER)
                    return 200, self._hook_json(self._update_hook(self._find_hook(project, hook_id), params)), {}
                case "DELETE", ["projects", ident, "hooks", hook_id]:
                    user = self._auth(headers, WRITE)
                    project = self._project(ident, user, level=MAINTAINER)
                    hook = self._find_hook(project, hook_id)
                    del project.hooks[hook.id]
                    return 204, None, {}
                case "POST", ["projects", ident, "hooks", hook_id, "test", trigger]:
                    user = self._auth(headers, WRITE)
                    project = self._project(ident, user, level=MAINTAINER)
                    assert user is not None
                    hook = self._find_hook(project, hook_id)
                    if trigger not in HOOK_TRIGGERS:
                        raise _param_error("trigger does not have a valid value")
                    self._hook_test_rate(project, user)
                    test = (hook, trigger, project)
        if test is not None:
            return self._test_hook(*test)  # outside the lock: the delivery is real HTTP
        raise Reply(404, {"error": "404 Not Found"})

    # -- lists and pagination -----------------------------------------------------------------------------------

    def _offset(self, items: list[Any], path: str, q: dict[str, str],
                route: dict[str, str]) -> tuple[int, list[Any], dict[str, str]]:
        """One page and GitLab's offset pagination headers (Gitlab::Pagination::OffsetHeaderBuilder)."""
        per_page = min(max(_int(q, "per_page", 20), 1), 100)
        page = max(_int(q, "page", 1), 1)
        total = len(items)
        counts = total <= self.count_limit
        total_pages = max(1, -(-total // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        next_number = page + 1 if page * per_page < total else None
        prev_number = page - 1 if page > 1 else None
        params = {**q, **route}

        def href(number: int) -> str:
            return self._link(path, {**params, "page": str(number), "per_page": str(per_page)})

        links = []
        if prev_number:
            links.append(f'<{href(prev_number)}>; rel="prev"')
        if next_number:
            links.append(f'<{href(next_number)}>; rel="next"')
        links.append(f'<{href(1)}>; rel="first"')
        if counts:
            links.append(f'<{href(total_pages)}>; rel="last"')
        headers = {
            "X-Per-Page": str(per_page),
            "X-Page": str(page),
            "X-Next-Page": str(next_number or ""),
            "X-Prev-Page": str(prev_number or ""),
            "Link": ", ".join(links),
        }
        if counts:
            headers |= {"X-Total": str(total), "X-Total-Pages": str(total_pages)}
        return 200, chunk, headers

    def _link(self, path: str, params: dict[str, str]) -> str:
        return f"{self.external_url}/api/v4{path}?{urlencode(sorted(params.items()))}"

    def _list_projects(self, user: FakeUser | None, path: str,
                       q: dict[str, str]) -> tuple[int, list[Any], dict[str, str]]:
        if _bool(q, "membership") and user is None:
            raise _message(401, "401 Unauthorized")
        projects = [p for p in self.projects.values() if self._visible(user, p)]
        if _bool(q, "membership"):
            projects = [p for p in projects if self._access(user, p) >= GUEST]
        if search := q.get("search", "").lower():
            in_namespace = bool(_bool(q, "search_namespaces"))
            projects = [p for p in projects if search in p.name.lower() or search in p.path.lower()
                        or (in_namespace and search in self.path_with_namespace(p).lower())]
        order_by, descending = q.get("order_by", "created_at"), q.get("sort", "desc") == "desc"
        keys = {"id": lambda p: p.id, "path": lambda p: (p.path.lower(), p.id),
                "name": lambda p: (p.name.lower(), p.id)}
        projects.sort(key=keys.get(order_by, lambda p: p.id), reverse=descending)
        simple = bool(_bool(q, "simple"))
        if q.get("pagination") == "keyset":
            if order_by != "id":
                raise Reply(405, {"error": "Keyset pagination is not yet available for this type of request"})
            after = _int(q, "id_after" if not descending else "id_before", 0)
            if after:
                projects = [p for p in projects if (p.id > after if not descending else p.id < after)]
            per_page = min(max(_int(q, "per_page", 20), 1), 100)
            chunk = projects[:per_page]
            headers: dict[str, str] = {}
            if len(projects) > per_page:
                cursor = "id_before" if descending else "id_after"
                following = {k: v for k, v in q.items() if k not in ("id_after", "id_before")}
                headers["Link"] = f'<{self._link(path, {**following, cursor: str(chunk[-1].id)})}>; rel="next"'
            return 200, [self._project_json(p, user, simple=simple) for p in chunk], headers
        return self._offset([self._project_json(p, user, simple=simple) for p in projects], path, q, {})

    def _list_branches(self, project: FakeProject, user: FakeUser | None, path: str, q: dict[str, str],
                       ident: str) -> tuple[int, list[Any], dict[str, str]]:
        names = sorted(project.branches)
        if search := q.get("search"):
            names = [n for n in names if search.lower() in n.lower()]
        if q.get("pagination") == "keyset":  # GitalyKeysetPager: a Link rel="next" only, while a page is full
            per_page = min(max(_int(q, "per_page", 20), 1), 100)
            token = q.get("page_token")
            if token is not None:
                if token not in project.branches:
                    raise Reply(422, {"message": "422 Unprocessable Entity"})
                names = [n for n in names if n > token]
            chunk = names[:per_page]
            headers = {}
            if len(chunk) == per_page and chunk:
                headers["Link"] = f'<{self._link(path, {**q, "id": ident, "page_token": chunk[-1]})}>; rel="next"'
            return 200, [self._branch_json(project, user, n) for n in chunk], headers
        items = [self._branch_json(project, user, n) for n in names]
        return self._offset(items, path, q, {"id": ident})

    def _user_namespaces(self, user: FakeUser) -> list[FakeNamespace]:
        own = [self.namespaces[user.namespace_id]]
        groups = [n for n in self.namespaces.values() if n.kind == "group" and user.id in n.members]
        return own + sorted(groups, key=lambda n: n.id)

    # -- repository -----------------------------------------------------------------------------------------------

    def _resolve(self, project: FakeProject, ref: str) -> str | None:
        if ref in project.branches:
            return project.branches[ref]
        return ref if ref in project.commits else None

    def _compare(self, project: FakeProject, q: dict[str, str]) -> dict[str, Any]:
        for name in ("from", "to"):
            if name not in q:
                raise _param_error(f"{name} is missing")
        start, end = self._resolve(project, q["from"]), self._resolve(project, q["to"])
        if start is None or end is None:
            raise _message(404, "404 Ref Not Found")
        known = project.comparisons.get((start, end)) or {"diffs": [], "overflow": False,
                                                          "commits": 0 if start == end else 1}
        shas = [fake_sha(f"{start}..{end} #{n}") for n in range(known["commits"] - 1)]
        shas += [end] if known["commits"] else []
        commits = [self._commit_json(project, sha) for sha in shas]
        diffs = [self._diff_json(entry) for entry in known["diffs"]]
        return {
            "commit": commits[-1] if commits else None,
            "commits": commits,
            "diffs": diffs,
            "compare_timeout": known["overflow"],
            "compare_same_ref": start == end,
            "web_url": f"{self._web(project)}/-/compare/{start}...{end}",
        }

    @staticmethod
    def _diff_json(entry: dict[str, Any]) -> dict[str, Any]:
        collapsed, too_large = bool(entry.get("collapsed")), bool(entry.get("too_large"))
        return {
            "diff": "" if collapsed or too_large else entry.get("diff", "@@ -1 +1 @@\n-old\n+new\n"),
            "collapsed": collapsed,
            "too_large": too_large,
            "new_path": entry["new_path"],
            "old_path": entry.get("old_path", entry["new_path"]),
            "a_mode": None if entry.get("new_file") else "100644",
            "b_mode": "0" if entry.get("deleted_file") else "100644",
            "new_file": bool(entry.get("new_file")),
            "renamed_file": bool(entry.get("renamed_file")),
            "deleted_file": bool(entry.get("deleted_file")),
            "generated_file": False,
        }

    # -- commit statuses ----------------------------------------------------------------------------------------

    def _create_status(self, project: FakeProject, user: FakeUser, sha: str, params: dict[str, Any]) -> dict[str, Any]:
        state = params.get("state")
        if state is None:
            raise _param_error("state is missing")
        if state not in STATUS_STATES:
            raise _param_error("state does not have a valid value")
        if sha not in project.commits:
            raise _message(404, "404 Commit Not Found")
        ref = params.get("ref") or next(iter(project.commits[sha]), None)
        if not ref:
            raise _message(404, "404 References for commit Not Found")
        name = params.get("name") or params.get("context") or "default"
        statuses = project.statuses.setdefault(sha, [])
        job = next((s for s in reversed(statuses) if s["name"] == name and s["ref"] == ref
                    and s["status"] in ("pending", "running")), None)
        now = _iso(self.clock())
        if job is None:
            job = {"id": next(self._status_ids), "sha": sha, "ref": ref, "status": "created", "name": name,
                   "target_url": None, "description": None, "created_at": now, "started_at": None,
                   "finished_at": None, "allow_failure": False, "coverage": None,
                   "pipeline_id": next(self._pipeline_ids), "author": self._user_json(user)}
            fresh = True
        else:
            fresh = False
        event, allowed = {
            "pending": ("enqueue", ("created",)),
            "running": ("run", ("created", "pending")),
            "success": ("success", ("created", "pending", "running")),
            "failed": ("drop", ("created", "pending", "running")),
            "canceled": ("cancel", ("created", "pending", "running")),
            "skipped": ("skip", ("created", "pending")),
        }[state]
        if job["status"] not in allowed:
            raise _message(400, f'Cannot transition status via :{event} from :{job["status"]} '
                                f'(Reason(s): Status cannot transition via "{event}")')
        for key in ("target_url", "description", "coverage"):
            if key in params:
                job[key] = params[key]
        job["status"] = state
        if state == "running":
            job["started_at"] = now
        if state in ("success", "failed", "canceled", "skipped"):
            job["finished_at"] = now
        if fresh:
            statuses.append(job)
        return self._public_status(job)

    @staticmethod
    def _public_status(job: dict[str, Any]) -> dict[str, Any]:
        return dict(job)

    # -- hooks ------------------------------------------------------------------------------------------------------

    def _find_hook(self, project: FakeProject, hook_id: str) -> FakeHook:
        hook = project.hooks.get(int(hook_id)) if hook_id.isdigit() else None
        if hook is None:
            raise _message(404, "404 Not found")
        return hook

    def _check_url(self, url: Any) -> str:
        if not isinstance(url, str) or not url:
            raise _param_error("url is missing")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _message(422, "Invalid url given")
        if not self.allow_local_webhooks:
            try:
                address = ipaddress.ip_address(parts.hostname)
            except ValueError:
                address = None
            local = parts.hostname == "localhost" or (
                address is not None and (address.is_private or address.is_loopback or address.is_link_local))
            if local:
                raise _message(422, "Invalid url given")
        return url

    def _create_hook(self, project: FakeProject, params: dict[str, Any]) -> FakeHook:
        url = self._check_url(params.get("url"))
        flags = {name: bool(_bool(params, name)) for name in HOOK_FLAGS if name in params}
        defaults = {"push_events": True, "enable_ssl_verification": True}
        hook = FakeHook(next(self._hook_ids), project.id, url, params.get("token") or None,
                        {**{n: defaults.get(n, False) for n in HOOK_FLAGS}, **flags},
                        params.get("name"), params.get("description"), _iso(self.clock()))
        project.hooks[hook.id] = hook
        return hook

    def _update_hook(self, hook: FakeHook, params: dict[str, Any]) -> FakeHook:
        url = self._check_url(params.get("url"))
        for name in HOOK_FLAGS:
            if name in params:
                hook.flags[name] = bool(_bool(params, name))
        if "token" in params:
            hook.token = params["token"] or None
        elif url != hook.url:
            hook.token = None  # GitLab resets the secret token when the URL changes without a new one
        hook.url = url
        for name in ("name", "description"):
            if name in params:
                setattr(hook, name, params[name])
        return hook  # an update does not re-enable a disabled hook: only a successful delivery does

    def _hook_test_rate(self, project: FakeProject, user: FakeUser) -> None:
        now = self.clock()
        recent = [t for t in self._hook_tests.get((project.id, user.id), []) if t > now - 60]
        if len(recent) >= self.hook_test_limit:
            raise _message(429, {"error": RATE_LIMITED})
        self._hook_tests[(project.id, user.id)] = [*recent, now]

    def _test_hook(self, hook: FakeHook, trigger: str, project: FakeProject) -> tuple[int, Any, dict[str, str]]:
        event = {"push_events": "Push Hook", "tag_push_events": "Tag Push Hook",
                 "merge_requests_events": "Merge Request Hook", "releases_events": "Release Hook"}.get(
            trigger, trigger.replace("_events", "").replace("_", " ").title() + " Hook")
        status = self._deliver(hook, event, self._push_payload(project))
        if 200 <= status < 300:
            return 201, {"message": "201 Created"}, {}
        reason = f"{status}" if status else "Failed to open TCP connection"
        raise _message(422, f"Error: {reason}")

    # -- representations ----------------------------------------------------------------------------------------

    def _web(self, project: FakeProject) -> str:
        return f"{self.external_url}/{self.path_with_namespace(project)}"

    def _user_json(self, user: FakeUser, *, full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": "active",
            "locked": False,
            "avatar_url": f"https://www.gravatar.com/avatar/{fake_sha(user.username)}?s=80&d=identicon",
            "web_url": f"{self.external_url}/{user.username}",
        }
        if full:
            out |= {"created_at": CREATED, "bio": "", "location": "", "public_email": None, "linkedin": "",
                    "twitter": "", "website_url": "", "organization": "", "job_title": "", "pronouns": None,
                    "bot": user.bot, "work_information": None, "local_time": None, "last_sign_in_at": CREATED,
                    "confirmed_at": CREATED, "last_activity_on": CREATED[:10],
                    "email": f"{user.username}@example.com", "theme_id": 3, "color_scheme_id": 1,
                    "projects_limit": 100000, "current_sign_in_at": CREATED, "identities": [],
                    "can_create_group": not user.bot, "can_create_project": not user.bot,
                    "two_factor_enabled": False, "external": False, "private_profile": False,
                    "commit_email": f"{user.username}@example.com"}
        return out

    def _namespace_json(self, namespace: FakeNamespace) -> dict[str, Any]:
        full = self.full_path(namespace)
        group = namespace.kind == "group"
        return {
            "id": namespace.id,
            "name": namespace.name,
            "path": namespace.path,
            "kind": namespace.kind,
            "full_path": full,
            "parent_id": namespace.parent_id,
            "avatar_url": None,
            "web_url": f"{self.external_url}/groups/{full}" if group else f"{self.external_url}/{full}",
        }

    def _project_json(self, project: FakeProject, user: FakeUser | None, *, simple: bool) -> dict[str, Any]:
        namespace = self.namespaces[project.namespace_id]
        full = self.path_with_namespace(project)
        web = self._web(project)
        host = urlsplit(self.external_url).hostname
        can_read_code = project.visibility != "private" or self._access(user, project) >= REPORTER
        out: dict[str, Any] = {
            "id": project.id,
            "description": None,
            "name": project.name,
            "name_with_namespace": f"{self._full_name(namespace)} / {project.name}",
            "path": project.path,
            "path_with_namespace": full,
            "created_at": CREATED,
        }
        if can_read_code:
            out["default_branch"] = project.default_branch
        out |= {
            "tag_list": [],
            "topics": [],
            "ssh_url_to_repo": f"git@{host}:{full}.git",
            "http_url_to_repo": f"{web}.git",
            "web_url": web,
        }
        if can_read_code:
            out |= {"readme_url": f"{web}/-/blob/{project.default_branch}/README.md", "forks_count": 0}
        out |= {
            "avatar_url": None,
            "star_count": 0,
            "last_activity_at": CREATED,
            "namespace": self._namespace_json(namespace),
        }
        if simple:
            return out
        api = f"{self.external_url}/api/v4/projects/{project.id}"
        access = self._access(user, project)
        out |= {
            "container_registry_image_prefix": f"registry.{host}/{full}",
            "_links": {"self": api, "issues": f"{api}/issues", "merge_requests": f"{api}/merge_requests",
                       "repo_branches": f"{api}/repository/branches", "labels": f"{api}/labels",
                       "events": f"{api}/events", "members": f"{api}/members",
                       "cluster_agents": f"{api}/cluster_agents"},
            "packages_enabled": True,
            "empty_repo": not project.branches,
            "archived": project.archived,
            "visibility": project.visibility,
            "resolve_outdated_diff_discussions": False,
            "repository_object_format": "sha1",
            "issues_enabled": True,
            "merge_requests_enabled": True,
            "wiki_enabled": True,
            "jobs_enabled": True,
            "snippets_enabled": True,
            "creator_id": namespace.owner_id or 1,
            "import_status": "none",
            "open_issues_count": 0,
            "ci_config_path": None,
            "shared_with_groups": [],
            "only_allow_merge_if_pipeline_succeeds": False,
            "permissions": {
                "project_access": ({"access_level": project.members[user.id], "notification_level": 3}
                                   if user is not None and user.id in project.members else None),
                "group_access": ({"access_level": access, "notification_level": 3}
                                 if user is not None and access and user.id not in project.members else None),
            },
        }
        if namespace.kind == "user" and namespace.owner_id in self.users:
            out["owner"] = self._user_json(self.users[namespace.owner_id])
        return out

    def _full_name(self, namespace: FakeNamespace) -> str:
        names = [namespace.name]
        while namespace.parent_id is not None:
            namespace = self.namespaces[namespace.parent_id]
            names.append(namespace.name)
        return " / ".join(reversed(names))

    def _commit_json(self, project: FakeProject, sha: str) -> dict[str, Any]:
        return {
            "id": sha,
            "short_id": sha[:8],
            "created_at": "2024-01-02T03:04:05.000+00:00",
            "parent_ids": [fake_sha(f"parent of {sha}")],
            "title": f"Commit {sha[:8]}",
            "message": f"Commit {sha[:8]}\n",
            "author_name": "Example User",
            "author_email": "user@example.com",
            "authored_date": "2024-01-02T03:04:05.000+00:00",
            "committer_name": "Example User",
            "committer_email": "user@example.com",
            "committed_date": "2024-01-02T03:04:05.000+00:00",
            "trailers": {},
            "extended_trailers": {},
            "web_url": f"{self._web(project)}/-/commit/{sha}",
        }

    def _branch_json(self, project: FakeProject, user: FakeUser | None, name: str) -> dict[str, Any]:
        default = name == project.default_branch
        return {
            "name": name,
            "commit": self._commit_json(project, project.branches[name]),
            "merged": False,
            "protected": default,
            "developers_can_push": False,
            "developers_can_merge": False,
            "can_push": self._access(user, project) >= (MAINTAINER if default else DEVELOPER),
            "default": default,
            "web_url": f"{self._web(project)}/-/tree/{name}",
        }

    def _tag_json(self, project: FakeProject, name: str) -> dict[str, Any]:
        """A tag as `GET /projects/:id/repository/tags` lists it: `commit` is the tagged commit, `target` the tag
        object's sha for an annotated tag (else the commit's)."""
        sha, message = project.tags[name]
        target = sha if message is None else fake_sha(f"{project.id} tag object {name}")
        return {"name": name, "message": message or "", "target": target, "commit": self._commit_json(project, sha),
                "release": None, "protected": False, "created_at": None}

    def _hook_json(self, hook: FakeHook) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": hook.id,
            "url": hook.url,
            "name": hook.name,
            "description": hook.description,
            "created_at": hook.created_at,
            "push_events": hook.flags["push_events"],
            "tag_push_events": hook.flags["tag_push_events"],
            "merge_requests_events": hook.flags["merge_requests_events"],
            "repository_update_events": hook.flags["repository_update_events"],
            "enable_ssl_verification": hook.flags["enable_ssl_verification"],
            "alert_status": self.alert_status(hook),
            "disabled_until": _iso(hook.disabled_until) if hook.disabled_until is not None else None,
            "url_variables": [],
            "push_events_branch_filter": None,
            "branch_filter_strategy": "wildcard",
            "custom_webhook_template": None,
            "custom_headers": [],
            "project_id": hook.project_id,
        }
        for name in HOOK_FLAGS:
            out.setdefault(name, hook.flags[name])
        return out  # never the token: GitLab does not return it

    def _push_payload(self, project: FakeProject) -> dict[str, Any]:
        """A push event as GitLab's webhook documentation shows it (what a test delivery sends)."""
        branch = project.default_branch
        after = project.branches.get(branch, "0" * 40)
        full, web = self.path_with_namespace(project), self._web(project)
        repo = {"name": project.name, "url": f"{web}.git", "description": None, "homepage": web,
                "git_http_url": f"{web}.git", "git_ssh_url": f"git@{urlsplit(self.external_url).hostname}:{full}.git",
                "visibility_level": {"private": 0, "internal": 10, "public": 20}[project.visibility]}
        commit = {"id": after, "message": f"Commit {after[:8]}\n", "title": f"Commit {after[:8]}",
                  "timestamp": "2024-01-02T03:04:05+00:00", "url": f"{web}/-/commit/{after}",
                  "author": {"name": "Example User", "email": "[REDACTED]"}, "added": [], "modified": ["README.md"],
                  "removed": []}
        return {
            "object_kind": "push", "event_name": "push", "before": fake_sha(f"parent of {after}"), "after": after,
            "ref": f"refs/heads/{branch}", "ref_protected": True, "checkout_sha": after, "message": None,
            "user_id": 1, "user_name": "Administrator", "user_username": "root", "user_email": None,
            "user_avatar": None, "project_id": project.id,
            "project": {"id": project.id, "name": project.name, "description": None, "web_url": web,
                        "avatar_url": None, "git_ssh_url": repo["git_ssh_url"], "git_http_url": f"{web}.git",
                        "namespace": self.namespaces[project.namespace_id].name,
                        "visibility_level": repo["visibility_level"], "path_with_namespace": full,
                        "default_branch": branch, "ci_config_path": None, "homepage": web,
                        "url": repo["git_ssh_url"], "ssh_url": repo["git_ssh_url"], "http_url": f"{web}.git"},
            "commits": [commit], "total_commits_count": 1, "push_options": {}, "repository": repo,
        }

    # -- the OAuth token endpoint -------------------------------------------------------------------------------

    def _token(self, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> tuple[int, Any, dict[str, str]]:
        params = {k: v[-1] for k, v in query.items()}
        if isinstance(body, dict):
            params.update({k: str(v) for k, v in body.items()})
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, client_secret = base64.b64decode(credentials).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id, client_secret = "", ""
            params.setdefault("client_id", unquote(client_id))
            params.setdefault("client_secret", unquote(client_secret))
        grant = params.get("grant_type")
        if not grant:
            raise _oauth_error(400, "invalid_request", "Missing required parameter: grant_type.")
        if grant == "refresh_token":
            with self._lock:
                self.refresh_calls += 1
            if self.refresh_delay:
                time.sleep(self.refresh_delay)  # outside the lock: concurrent refreshes overlap, as on GitLab
        with self._lock:
            app = self.apps.get(params.get("client_id", ""))
            if app is None or (app.confidential and params.get("client_secret") != app.client_secret):
                raise _oauth_error(401, "invalid_client", INVALID_CLIENT)
            if grant == "authorization_code":
                return 200, self._grant_code(app, params), {"Cache-Control": "no-store", "Pragma": "no-cache"}
            if grant == "refresh_token":
                answer = self._grant_refresh(app, params)
                self.refresh_successes += 1
                return 200, answer, {"Cache-Control": "no-store", "Pragma": "no-cache"}
        raise _oauth_error(400, "unsupported_grant_type", UNSUPPORTED_GRANT)

    def _grant_code(self, app: FakeApp, params: dict[str, str]) -> dict[str, Any]:
        for name in ("code", "redirect_uri"):
            if not params.get(name):
                raise _oauth_error(400, "invalid_request", f"Missing required parameter: {name}.")
        grant = self.codes.get(params["code"])
        if (grant is None or grant.used or grant.expires_at <= self.clock() or grant.client_id != app.client_id
                or grant.redirect_uri != params["redirect_uri"]):
            raise _oauth_error(400, "invalid_grant", INVALID_GRANT)
        verifier = params.get("code_verifier")
        if grant.challenge is not None:
            if not verifier:
                raise _oauth_error(400, "invalid_request", "Missing required parameter: code_verifier.")
            expected = _pkce_s256(verifier) if grant.method == "S256" else verifier
            if not secrets.compare_digest(expected, grant.challenge):
                raise _oauth_error(400, "invalid_grant", INVALID_GRANT)
        elif verifier:
            raise _oauth_error(400, "invalid_grant", INVALID_GRANT)
        grant.used = True
        return self._issue_oauth(grant.user_id, app, grant.scopes, grant.redirect_uri)

    def _grant_refresh(self, app: FakeApp, params: dict[str, str]) -> dict[str, Any]:
        if not params.get("refresh_token"):
            raise _oauth_error(400, "invalid_request", "Missing required parameter: refresh_token.")
        old = self.tokens.get(params["refresh_token"])
        if old is None or old.kind != "refresh" or old.revoked or old.client_id != app.client_id:
            raise _oauth_error(400, "invalid_grant", INVALID_GRANT)
        if params.get("redirect_uri") and params["redirect_uri"] != old.redirect_uri:
            raise _oauth_error(400, "invalid_grant", INVALID_GRANT)
        old.revoked = True  # GitLab: the refresh invalidates the existing access and refresh tokens
        if old.pair in self.tokens:
            self.tokens[old.pair].revoked = True
        return self._issue_oauth(old.user_id, app, old.scopes, old.redirect_uri)

    def _issue_oauth(self, user_id: int, app: FakeApp, scopes: tuple[str, ...],
                     redirect_uri: str | None) -> dict[str, Any]:
        now = self.clock()
        access, refresh = secrets.token_hex(32), secrets.token_hex(32)
        self.tokens[access] = FakeToken(access, user_id, "oauth", scopes, now + self.token_lifetime,
                                        client_id=app.client_id, pair=refresh)
        self.tokens[refresh] = FakeToken(refresh, user_id, "refresh", scopes, None, client_id=app.client_id,
                                         pair=access, redirect_uri=redirect_uri)
        return {"access_token": access, "token_type": "Bearer", "expires_in": int(self.token_lifetime),
                "refresh_token": refresh, "scope": " ".join(scopes), "created_at": int(now)}


_NOT_FOUND_PAGE = (
    "<!DOCTYPE html>\n<html>\n<head>\n<title>Not Found</title>\n</head>\n<body>\n<h1>404</h1>\n"
    "<p>Page not found</p>\n</body>\n</html>\n"
)
