"""A faithful fake of the GitHub endpoints gitconnect calls, served over real HTTP on 127.0.0.1.

State lives in Python (installations, repositories with branches/tags/commits/comparisons, commit statuses, users
with tokens, OAuth codes). What it copies from GitHub, so the client code meets the real protocol:

- routes and status codes of the REST operations gitconnect uses (the contract test validates the fake's answers
  against GitHub's OpenAPI description), and the web host's `POST /login/oauth/access_token`;
- `Link` pagination exactly as GitHub builds it (per_page default 30, max 100; page; rel prev/next/last/first;
  repository-scoped lists link to `/repositories/{id}/…`, as in octokit's recorded paginate-issues fixture, and
  those links are served);
- error bodies `{"message", "documentation_url", "status"}`, 401 "Bad credentials", 404 "Not Found" (also for
  repositories the token cannot see), 409 for an empty repository, 422 validation errors;
- App JWT verification on /app/* (RS256 with the App's public key, `exp` at most 10 minutes ahead, `iss` the App
  id), installation tokens (`ghs_…`, expiring) on /installation and /repos, user tokens (`ghu_…`) on /user;
- the OAuth code exchange answering 200 with `{"error": "bad_verification_code", …}` for a bad or reused code;
- `x-ratelimit-*` headers on every API answer, and an optional API path prefix (GitHub Enterprise: /api/v3);
- conditional requests on the branch and tag lists: an `ETag` on each page, 304 Not Modified (no body, not counted
  against the rate limit) for an `If-None-Match` naming the current one.

Faults, the request log and the server's lifecycle are tests/support/fake_http.py's (`fail_next(path_prefix, status,
headers)`: a 403 secondary rate limit with Retry-After, a 500, a redirect; `slow_next`; `log` and `requests(...)`);
an injected 403/429 or 5xx says what GitHub says.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.fake_http import FakeServer, Recorded, Reply, fake_sha

__all__ = ["FakeGitHub", "FakeInstallation", "FakeRepo", "FakeUser", "Recorded", "fake_sha", "rsa_key_pair"]

API_VERSIONS = ("2022-11-28", "2026-03-10")
DOCS = "https://docs.github.com/rest"
OAUTH_DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to "
    "GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000."
)
CREATED = "2024-01-02T03:04:05Z"


@functools.cache
def rsa_key_pair() -> tuple[str, str]:
    """(private key PEM, public key PEM) of a 2048-bit RSA key, made once per test process."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, ident: object) -> str:
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode().rstrip("=")


@dataclass
class FakeRepo:
    id: int
    owner: str
    name: str
    owner_type: str = "Organization"
    private: bool = True
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)  # name -> head sha
    tags: dict[str, str] = field(default_factory=dict)  # tag name -> sha its ref points at (commit or tag object)
    tag_objects: dict[str, dict[str, str]] = field(default_factory=dict)  # tag object sha -> {tag, sha, type, ...}
    commits: set[str] = field(default_factory=set)
    comparisons: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (base sha, head sha) -> ...
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # sha -> statuses, newest last
    check_runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # head sha -> check runs, newest last
    trees: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit sha -> path -> content (GitOps files)
    protected: set[str] = field(default_factory=set)  # branches whose protection wants pull requests
    pulls: list[dict[str, Any]] = field(default_factory=list)  # pull requests, by number - 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class FakeInstallation:
    id: int
    account: str
    account_id: int
    account_type: str = "Organization"
    repository_selection: str = "all"
    repo_ids: list[int] = field(default_factory=list)
    suspended: bool = False
    # What the App was granted on this installation (GitHub's names); add "checks": "write" for check runs.
    permissions: dict[str, str] = field(
        default_factory=lambda: {"contents": "read", "metadata": "read", "statuses": "write"}
    )


@dataclass
class FakeUser:
    login: str
    id: int
    token: str
    installation_ids: list[int] = field(default_factory=list)


def _blob_sha(data: bytes) -> str:
    """Git's id of a blob with these bytes (what the contents API calls a file's `sha`)."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def _error(status: int, message: str, **extra: Any) -> Reply:
    return Reply(status, {"message": message, "documentation_url": DOCS, "status": str(status), **extra})


def _invalid(resource: str, message: str) -> Reply:
    """GitHub's 422 "Validation Failed" with one custom error (`errors[].message` says what)."""
    return _error(422, "Validation Failed", errors=[{"resource": resource, "code": "custom", "message": message}])


class FakeGitHub(FakeServer):
    """GitHub (API + web OAuth endpoint) for one GitHub App. Use as a context manager or start()/stop()."""

    server_version = "GitHub.com"
    text_type = "application/x-www-form-urlencoded; charset=utf-8"  # the OAuth endpoint's answer without Accept

    def __init__(
        self,
        *,
        app_id: str = "4242",
        app_slug: str = "gitconnect-test",
        public_key_pem: str | None = None,
        client_id: str = "Iv1.fakeclientid00",
        client_secret: str = "fake-client-secret",  # noqa: S107 - a test fixture
        api_prefix: str = "",
        clock: Callable[[], float] = time.time,
        token_lifetime: float = 3600.0,
    ) -> None:
        super().__init__()
        self.app_id = str(app_id)
        self.app_slug = app_slug
        self.public_key_pem = public_key_pem or rsa_key_pair()[1]
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_prefix = api_prefix.rstrip("/")
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.installations: dict[int, FakeInstallation] = {}
        self.repos: dict[str, FakeRepo] = {}  # by lower-case full name
        self.users: dict[str, FakeUser] = {}  # by token
        self.installation_tokens: dict[str, tuple[int, float]] = {}  # token -> (installation id, expires at)
        self.codes: dict[str, dict[str, Any]] = {}
        self.file_commits: dict[str, tuple[str, str]] = {}  # commit sha -> (parent, message), GitOps commits
        # commit sha -> {"author": {name, email}, "committer": {name, email}} of a contents API commit
        self.file_commit_people: dict[str, dict[str, dict[str, str]]] = {}
        self._ids = itertools.count(1000)
        # The App's webhook delivery log, newest first (GET /app/hook/deliveries), and what each attempt sent.
        self.hook_deliveries: list[dict[str, Any]] = []
        self._delivered: dict[int, tuple[str, Any]] = {}  # attempt id -> (event, payload)
        # How a redelivery reaches the App's webhook URL: (guid, event, payload) -> the HTTP status it got.
        self.send_webhook: Callable[[str, str, Any], int] | None = None
        self.not_modified = 0  # conditional requests answered 304 (free of the rate limit)
        self._reset_at = 0

    @property
    def web_url(self) -> str:
        return self.origin

    @property
    def api_url(self) -> str:
        return self.web_url + self.api_prefix

    # -- state --------------------------------------------------------------------------------------------------

    def record_delivery(self, guid: str, event: str, payload: Any, status_code: int, *,
                        redelivery: bool = False) -> dict[str, Any]:
        """An attempt GitHub made to deliver `payload` to the App's webhook URL, and the status it got (0: no answer,
        as GitHub logs a timeout), at the head of the delivery log."""
        statuses = {0: "timed out", 200: "OK", 202: "Accepted", 401: "Unauthorized", 500: "Internal Server Error",
                    502: "Bad Gateway", 503: "Service Unavailable"}
        attempt_id = self.next_id()
        installation = (payload.get("installation") or {}).get("id") if isinstance(payload, dict) else None
        repository = (payload.get("repository") or {}).get("id") if isinstance(payload, dict) else None
        item = {
            "id": attempt_id, "guid": guid,
            "delivered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock())),
            "redelivery": redelivery, "duration": 0.27, "status": statuses.get(status_code, str(status_code)),
            "status_code": status_code, "event": event,
            "action": payload.get("action") if isinstance(payload, dict) else None,
            "installation_id": installation, "repository_id": repository, "throttled_at": None,
        }
        with self._lock:
            self.hook_deliveries.insert(0, item)
            self._delivered[attempt_id] = (event, payload)
        return item

    def next_id(self) -> int:
        return next(self._ids)

    def add_installation(
        self,
        account: str = "octo-org",
        *,
        account_type: str = "Organization",
        repository_selection: str = "all",
        suspended: bool = False,
    ) -> int:
        with self._lock:
            inst = FakeInstallation(
                self.next_id(), account, self.next_id(), account_type, repository_selection, suspended=suspended
            )
            self.installations[inst.id] = inst
            return inst.id

    def add_repo(
        self,
        installation_id: int,
        full_name: str,
        *,
        branches: dict[str, str] | None = None,
        default_branch: str = "main",
        private: bool = True,
    ) -> FakeRepo:
        owner, name = full_name.split("/", 1)
        with self._lock:
            inst = self.installations[installation_id]
            heads = {default_branch: fake_sha(f"{full_name}@{default_branch}")} if branches is None else dict(branches)
            repo = FakeRepo(self.next_id(), owner, name, inst.account_type, private, default_branch, heads)
            repo.commits.update(heads.values())
            self.repos[full_name.lower()] = repo
            inst.repo_ids.append(repo.id)
            return repo

    def repo(self, full_name: str) -> FakeRepo:
        return self.repos[full_name.lower()]

    def add_commit(self, full_name: str, sha: str) -> str:
        with self._lock:
            self.repo(full_name).commits.add(sha)
        return sha

    def put_file(self, full_name: str, branch: str, path: str, content: bytes | str, message: str = "edit") -> str:
        """A commit on `branch` that writes one file (a push from outside gitconnect): the new commit's sha."""
        with self._lock:
            return self._commit_file(self.repo(full_name), branch, path,
                                     content.encode() if isinstance(content, str) else content, message)

    def file_at(self, full_name: str, branch: str, path: str) -> bytes | None:
        repo = self.repo(full_name)
        return repo.trees.get(repo.branches.get(branch, ""), {}).get(path)

    def _commit_file(self, repo: FakeRepo, branch: str, path: str, data: bytes, message: str) -> str:
        parent = repo.branches[branch]
        tree = {**repo.trees.get(parent, {}), path: data}
        sha = fake_sha(f"{repo.full_name} {parent} {path} {data!r} {message}")
        repo.trees[sha], repo.branches[branch] = tree, sha
        repo.commits.add(sha)
        self.file_commits[sha] = (parent, message)
        return sha

    def add_tag(self, full_name: str, tag: str, commit_sha: str, *, annotated: bool = False, depth: int = 1) -> str:
        """A tag on a commit; annotated tags get a tag object (`depth` > 1: a tag of a tag of ...). Returns the
        sha the ref points at."""
        with self._lock:
            repo = self.repo(full_name)
            repo.commits.add(commit_sha)
            target, target_type = commit_sha, "commit"
            for level in range(depth if annotated else 0):
                sha = fake_sha(f"{full_name} tag {tag} {level}")
                repo.tag_objects[sha] = {"tag": tag, "sha": target, "type": target_type, "message": f"{tag}\n"}
                target, target_type = sha, "tag"
            repo.tags[tag] = target
            return target

    def set_compare(
        self,
        full_name: str,
        base: str,
        head: str,
        files: list[str | dict[str, Any]],
        *,
        status: str = "ahead",
        ahead_by: int = 1,
        behind_by: int = 0,
    ) -> None:
        """What GitHub answers for base...head (names or shas); files as names or diff entries
        ({"filename", "status", "previous_filename"?})."""
        with self._lock:
            repo = self.repo(full_name)
            base_sha, head_sha = (repo.branches.get(base, base), repo.branches.get(head, head))
            repo.commits.update({base_sha, head_sha})
            entries = [{"filename": f, "status": "modified"} if isinstance(f, str) else dict(f) for f in files]
            repo.comparisons[(base_sha, head_sha)] = {
                "files": entries, "status": status, "ahead_by": ahead_by, "behind_by": behind_by
            }

    # -- the installation changing on GitHub (what a user does on the App's installation settings page) ----------

    def select_repositories(self, installation_id: int, full_names: list[str]) -> None:
        """"Only select repositories": the installation grants exactly these (the account's own repositories)."""
        with self._lock:
            inst = self.installations[installation_id]
            inst.repository_selection = "selected"
            inst.repo_ids = [self.repo(n).id for n in full_names]

    def revoke_repository(self, installation_id: int, full_name: str) -> None:
        """Remove one repository from the installation (GitHub then lists the installation as `selected`)."""
        with self._lock:
            inst = self.installations[installation_id]
            inst.repository_selection = "selected"
            inst.repo_ids = [i for i in inst.repo_ids if i != self.repo(full_name).id]

    def grant_repository(self, installation_id: int, full_name: str) -> None:
        with self._lock:
            inst = self.installations[installation_id]
            if self.repo(full_name).id not in inst.repo_ids:
                inst.repo_ids.append(self.repo(full_name).id)

    def set_suspended(self, installation_id: int, suspended: bool) -> None:
        with self._lock:
            self.installations[installation_id].suspended = suspended

    def uninstall(self, installation_id: int) -> list[int]:
        """The App removed from the account: the installation is gone (404), its tokens stop working. Returns the
        repository ids it had, for a reinstall to reuse (GitHub's repository ids do not change)."""
        with self._lock:
            inst = self.installations.pop(installation_id)
            self.revoke_installation_tokens(installation_id)
            return list(inst.repo_ids)

    def reinstall(self, account: str, repo_ids: list[int], *, account_type: str = "Organization") -> int:
        """The App installed again on the same account: a new installation id over the same repositories."""
        installation = self.add_installation(account, account_type=account_type)
        with self._lock:
            self.installations[installation].repo_ids = list(repo_ids)
        return installation

    def setup_redirect(
        self, callback_url: str, installation_id: int, setup_action: str, *, state: str | None = None,
        code: str | None = None,
    ) -> str:
        """Where GitHub sends the browser after an install or an update: the callback URL with `code` (when the App
        requests user authorization during installation), `installation_id`, `setup_action` and the `state` the
        install page was opened with (none when GitHub redirects on its own after an update)."""
        params: dict[str, str] = {}
        if code is not None:
            params["code"] = code
        params.update({"installation_id": str(installation_id), "setup_action": setup_action})
        if state is not None:
            params["state"] = state
        return f"{callback_url}?{urlencode(params)}"

    def add_user(self, login: str, installation_ids: list[int] | None = None) -> str:
        """A user who can access these installations; returns their user access token (`ghu_…`)."""
        with self._lock:
            token = "ghu_" + secrets.token_hex(18)
            self.users[token] = FakeUser(login, self.next_id(), token, list(installation_ids or []))
            return token

    def issue_code(self, user_token: str, *, redirect_uri: str | None = None) -> str:
        """An OAuth code (as GitHub puts in the callback URL) that exchanges once for this user's token."""
        with self._lock:
            code = secrets.token_hex(10)
            self.codes[code] = {"token": user_token, "redirect_uri": redirect_uri, "expires": self.clock() + 600}
            return code

    def mint_installation_token(self, installation_id: int) -> str:
        """An installation token without going through the App JWT (for tests of the repository calls)."""
        with self._lock:
            token = "ghs_" + secrets.token_hex(18)
            self.installation_tokens[token] = (installation_id, self.clock() + self.token_lifetime)
            return token

    def revoke_installation_tokens(self, installation_id: int) -> None:
        with self._lock:
            for token, (inst, _) in list(self.installation_tokens.items()):
                if inst == installation_id:
                    del self.installation_tokens[token]

    def statuses(self, full_name: str, sha: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.repo(full_name).statuses.get(sha, []))

    # -- faults: GitHub's bodies ------------------------------------------------------------------------------------

    def fault_answer(self, status: int, headers: dict[str, str], body: Any) -> tuple[Any, dict[str, str]]:
        """A secondary rate limit message for 403/429, "Server Error" for 5xx."""
        if body is None and status in (403, 429):
            body = {"message": SECONDARY_LIMIT_MESSAGE, "documentation_url": f"{DOCS}/overview/rate-limits"}
        elif body is None and status >= 500:
            body = {"message": "Server Error"}
        return body, headers

    # -- representations (shapes from GitHub's OpenAPI description and recorded responses) ---------------------

    def _user_json(self, login: str, ident: int, kind: str = "User") -> dict[str, Any]:
        api, web = self.api_url, self.web_url
        return {
            "login": login,
            "id": ident,
            "node_id": _node_id("User", ident),
            "avatar_url": f"{web}/avatars/u/{ident}?v=4",
            "gravatar_id": "",
            "url": f"{api}/users/{login}",
            "html_url": f"{web}/{login}",
            "followers_url": f"{api}/users/{login}/followers",
            "following_url": f"{api}/users/{login}/following{{/other_user}}",
            "gists_url": f"{api}/users/{login}/gists{{/gist_id}}",
            "starred_url": f"{api}/users/{login}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/users/{login}/subscriptions",
            "organizations_url": f"{api}/users/{login}/orgs",
            "repos_url": f"{api}/users/{login}/repos",
            "events_url": f"{api}/users/{login}/events{{/privacy}}",
            "received_events_url": f"{api}/users/{login}/received_events",
            "type": kind,
            "user_view_type": "public",
            "site_admin": False,
        }

    def _bot_json(self) -> dict[str, Any]:
        return self._user_json(f"{self.app_slug}[bot]", 41898282, "Bot")

    def _installation_json(self, inst: FakeInstallation) -> dict[str, Any]:
        api, web = self.api_url, self.web_url
        org = inst.account_type == "Organization"
        return {
            "id": inst.id,
            "client_id": self.client_id,
            "account": self._user_json(inst.account, inst.account_id, inst.account_type),
            "repository_selection": inst.repository_selection,
            "access_tokens_url": f"{api}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{api}/installation/repositories",
            "html_url": f"{web}/organizations/{inst.account}/settings/installations/{inst.id}" if org
            else f"{web}/settings/installations/{inst.id}",
            "app_id": int(self.app_id) if self.app_id.isdigit() else 1,
            "app_slug": self.app_slug,
            "target_id": inst.account_id,
            "target_type": inst.account_type,
            "permissions": dict(inst.permissions),
            "events": ["create", "delete", "pull_request", "push", "release"],
            "created_at": CREATED,
            "updated_at": CREATED,
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": self._user_json(inst.account, inst.account_id) if inst.suspended else None,
            "suspended_at": CREATED if inst.suspended else None,
        }

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        web = self.web_url
        full, r = repo.full_name, f"{self.api_url}/repos/{repo.full_name}"
        host = urlsplit(web).netloc
        return {
            "id": repo.id,
            "node_id": _node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": full,
            "private": repo.private,
            "owner": self._user_json(repo.owner, repo.id + 1_000_000, repo.owner_type),
            "html_url": f"{web}/{full}",
            "description": None,
            "fork": False,
            "url": r,
            "forks_url": f"{r}/forks",
            "keys_url": f"{r}/keys{{/key_id}}",
            "collaborators_url": f"{r}/collaborators{{/collaborator}}",
            "teams_url": f"{r}/teams",
            "hooks_url": f"{r}/hooks",
            "issue_events_url": f"{r}/issues/events{{/number}}",
            "events_url": f"{r}/events",
            "assignees_url": f"{r}/assignees{{/user}}",
            "branches_url": f"{r}/branches{{/branch}}",
            "tags_url": f"{r}/tags",
            "blobs_url": f"{r}/git/blobs{{/sha}}",
            "git_tags_url": f"{r}/git/tags{{/sha}}",
            "git_refs_url": f"{r}/git/refs{{/sha}}",
            "trees_url": f"{r}/git/trees{{/sha}}",
            "statuses_url": f"{r}/statuses/{{sha}}",
            "languages_url": f"{r}/languages",
            "stargazers_url": f"{r}/stargazers",
            "contributors_url": f"{r}/contributors",
            "subscribers_url": f"{r}/subscribers",
            "subscription_url": f"{r}/subscription",
            "commits_url": f"{r}/commits{{/sha}}",
            "git_commits_url": f"{r}/git/commits{{/sha}}",
            "comments_url": f"{r}/comments{{/number}}",
            "issue_comment_url": f"{r}/issues/comments{{/number}}",
            "contents_url": f"{r}/contents/{{+path}}",
            "compare_url": f"{r}/compare/{{base}}...{{head}}",
            "merges_url": f"{r}/merges",
            "archive_url": f"{r}/{{archive_format}}{{/ref}}",
            "downloads_url": f"{r}/downloads",
            "issues_url": f"{r}/issues{{/number}}",
            "pulls_url": f"{r}/pulls{{/number}}",
            "milestones_url": f"{r}/milestones{{/number}}",
            "notifications_url": f"{r}/notifications{{?since,all,participating}}",
            "labels_url": f"{r}/labels{{/name}}",
            "releases_url": f"{r}/releases{{/id}}",
            "deployments_url": f"{r}/deployments",
            "created_at": CREATED,
            "updated_at": CREATED,
            "pushed_at": CREATED,
            "git_url": f"git://{host}/{full}.git",
            "ssh_url": f"git@{host}:{full}.git",
            "clone_url": f"{web}/{full}.git",
            "svn_url": f"{web}/{full}",
            "homepage": None,
            "size": 1,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": 0,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "forks": 0,
            "open_issues": 0,
            "watchers": 0,
            "default_branch": repo.default_branch,
            "permissions": {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True},
        }

    def _full_repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        """GET /repos/{owner}/{repo} ("full-repository"): the listing's shape and the counts only it has."""
        return {**self._repo_json(repo), "network_count": 0, "subscribers_count": 0}

    def _commit_json(self, repo: FakeRepo, sha: str) -> dict[str, Any]:
        r, web = f"{self.api_url}/repos/{repo.full_name}", self.web_url
        person = {"name": "Monalisa Octocat", "email": "mona@example.com", "date": CREATED}
        parent = fake_sha(f"parent of {sha}")
        return {
            "url": f"{r}/commits/{sha}",
            "sha": sha,
            "node_id": _node_id("Commit", sha[:12]),
            "html_url": f"{web}/{repo.full_name}/commit/{sha}",
            "comments_url": f"{r}/commits/{sha}/comments",
            "commit": {
                "url": f"{r}/git/commits/{sha}",
                "author": person,
                "committer": person,
                "message": f"Commit {sha[:7]}",
                "tree": {"sha": fake_sha(f"tree of {sha}"), "url": f"{r}/git/trees/{fake_sha(f'tree of {sha}')}"},
                "comment_count": 0,
                "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                                 "verified_at": None},
            },
            "author": None,
            "committer": None,
            "parents": [
                {"sha": parent, "url": f"{r}/commits/{parent}", "html_url": f"{web}/{repo.full_name}/commit/{parent}"}
            ],
        }

    # -- request handling ---------------------------------------------------------------------------------------

    def locate(self, path: str) -> tuple[str, bool, bool]:
        api = not path.startswith("/login/oauth/")
        if api and self.api_prefix:
            api = path == self.api_prefix or path.startswith(self.api_prefix + "/")
            path = path[len(self.api_prefix):] if api else path
        return path, api, True

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any,
        raw_body: bytes, api: bool,
    ) -> tuple[int, Any, dict[str, str]]:
        if api:
            return self._api(method, path, query, headers, body)
        return self._web(method, path, query, headers, body)

    def common_headers(self, api: bool) -> dict[str, str]:
        return self._rate_headers() if api else {}

    def _window_reset(self) -> int:
        """The primary limit's window: an hour from its first request, then the next hour (GitHub's reset stays put
        within a window)."""
        now = int(self.clock())
        if self._reset_at <= now:
            self._reset_at = now + 3600
        return self._reset_at

    def _rate_headers(self) -> dict[str, str]:
        used = len(self.log) - self.not_modified  # a 304 to a conditional request costs no rate limit
        return {
            "X-GitHub-Api-Version-Selected": API_VERSIONS[0],
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Request-Id": f"FAKE:{used:08X}",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(max(0, 5000 - used)),
            "X-RateLimit-Reset": str(self._window_reset()),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
        }

    def _api(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        version = headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            raise _error(400, f"API version {version} is not supported.")
        segments = [unquote(s) for s in path.split("/")[1:]]
        with self._lock:
            if len(segments) > 2 and segments[0] == "repositories":
                # GitHub's own pagination links name repositories by id: /repositories/{id}/branches?page=2
                by_id = next((r for r in self.repos.values() if str(r.id) == segments[1]), None)
                if by_id is None:
                    raise _error(404, "Not Found")
                segments = ["repos", by_id.owner, by_id.name, *segments[2:]]
            match method, segments:
                case "GET", ["app", "hook", "deliveries"]:
                    self._app_auth(headers)
                    return self._delivery_page(path, query, headers)
                case "POST", ["app", "hook", "deliveries", attempt, "attempts"]:
                    self._app_auth(headers)
                    return self._redeliver(attempt)
                case "GET", ["app", "installations", iid]:
                    self._app_auth(headers)
                    return 200, self._installation_json(self._installation(iid)), {}
                case "POST", ["app", "installations", iid, "access_tokens"]:
                    self._app_auth(headers)
                    return self._create_token(self._installation(iid), body)
                case "GET", ["user", "installations"]:
                    user = self._user_auth(headers)
                    items = [self._installation_json(self.installations[i]) for i in user.installation_ids
                             if i in self.installations]
                    page, link = self._paginate(items, path, query, headers)
                    return 200, {"total_count": len(items), "installations": page}, link
                case "GET", ["installation", "repositories"]:
                    inst = self._installation_auth(headers)
                    granted = set(inst.repo_ids)  # a set, and JSON for one page only: installations of 5 000 stay fast
                    repos = [r for r in self.repos.values() if r.id in granted]
                    page, link = self._paginate(repos, path, query, headers)
                    body_out = {"total_count": len(repos), "repository_selection": inst.repository_selection,
                                "repositories": [self._repo_json(r) for r in page]}
                    return 200, body_out, link
                case "GET", ["repos", owner, name]:
                    return 200, self._full_repo_json(self._repo_auth(headers, owner, name)), {}
                case "GET", ["repos", owner, name, "commits", ref]:
                    repo = self._repo_auth(headers, owner, name)
                    return 200, self._get_commit(repo, ref), {}
                case "GET", ["repos", owner, name, "branches"]:
                    repo = self._repo_auth(headers, owner, name)
                    items = [self._short_branch(repo, b, sha) for b, sha in sorted(repo.branches.items())]
                    page, link = self._paginate(items, f"/repositories/{repo.id}/branches", query, headers)
                    return self._conditional(headers, page, link)
                case "GET", ["repos", owner, name, "tags"]:
                    repo = self._repo_auth(headers, owner, name)
                    items = [self._tag_item(repo, t) for t in sorted(repo.tags)]
                    page, link = self._paginate(items, f"/repositories/{repo.id}/tags", query, headers)
                    return self._conditional(headers, page, link)
                case "GET", ["repos", owner, name, "branches", *branch] if branch:
                    repo = self._repo_auth(headers, owner, name)
                    return 200, self._branch(repo, "/".join(branch)), {}
                case "GET", ["repos", owner, name, "compare", *basehead] if basehead:
                    repo = self._repo_auth(headers, owner, name)
                    link_path = f"/repositories/{repo.id}/compare/{path.split('/compare/', 1)[1]}"
                    return self._compare(repo, "/".join(basehead), link_path, query, headers)
                case "GET", ["repos", owner, name, "git", "ref", *ref] if ref:
                    repo = self._repo_auth(headers, owner, name)
                    return 200, self._ref(repo, "/".join(ref)), {}
                case "GET", ["repos", owner, name, "git", "tags", sha]:
                    repo = self._repo_auth(headers, owner, name)
                    return 200, self._tag_object(repo, sha), {}
                case "POST", ["repos", owner, name, "git", "refs"]:
                    repo = self._repo_auth(headers, owner, name)
                    return 201, self._create_ref(repo, body), {}
                case "PATCH", ["repos", owner, name, "git", "refs", "heads", *branch] if branch:
                    repo = self._repo_auth(headers, owner, name)
                    return 200, self._move_ref(repo, "/".join(branch), body), {}
                case "GET", ["repos", owner, name, "pulls"]:
                    repo = self._repo_auth(headers, owner, name)
                    found = [self._pull_json(repo, p) for p in repo.pulls if self._pull_matches(repo, p, query)]
                    page, link = self._paginate(found, f"/repositories/{repo.id}/pulls", query, headers)
                    return 200, page, link
                case "POST", ["repos", owner, name, "pulls"]:
                    repo = self._repo_auth(headers, owner, name)
                    return 201, self._pull_json(repo, self._create_pull(repo, body)), {}
                case "PATCH", ["repos", owner, name, "pulls", number]:
                    repo = self._repo_auth(headers, owner, name)
                    return 200, self._pull_json(repo, self._update_pull(repo, number, body)), {}
                case "POST", ["repos", owner, name, "check-runs"]:
                    repo = self._checks_auth(headers, owner, name)
                    return 201, self._create_check_run(repo, body), {}
                case "PATCH", ["repos", owner, name, "check-runs", run_id]:
                    repo = self._checks_auth(headers, owner, name)
                    return 200, self._update_check_run(repo, run_id, body), {}
                case "GET", ["repos", owner, name, "commits", sha, "check-runs"]:
                    repo = self._checks_auth(headers, owner, name)
                    wanted = (query.get("check_name") or [None])[-1]
                    runs = [r for r in repo.check_runs.get(sha, []) if wanted in (None, r["name"])]
                    return 200, {"total_count": len(runs), "check_runs": list(reversed(runs))}, {}
                case "POST", ["repos", owner, name, "statuses", sha]:
                    repo = self._repo_auth(headers, owner, name)
                    return 201, self._create_status(repo, sha, body), {}
                case "GET", ["repos", owner, name, "contents", *parts]:
                    repo = self._repo_auth(headers, owner, name)
                    return 200, self._get_content(repo, "/".join(parts), query), {}
                case "PUT", ["repos", owner, name, "contents", *parts] if parts:
                    repo = self._repo_auth(headers, owner, name)
                    return self._put_content(repo, "/".join(parts), body)
        raise _error(404, "Not Found")

    # -- auth ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _bearer(headers: dict[str, str]) -> str:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token.strip():
            raise _error(401, "Requires authentication")
        return token.strip()

    def _app_auth(self, headers: dict[str, str]) -> None:
        token = self._bearer(headers)
        if token.startswith(("ghs_", "ghu_", "gho_", "ghp_")):
            raise _error(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                token,
                self.public_key_pem,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "require": ["iat", "exp", "iss"]},
            )
        except jwt.PyJWTError:
            raise _error(401, "A JSON web token could not be decoded") from None
        now = self.clock()
        if not isinstance(claims["exp"], int) or claims["exp"] <= now:
            raise _error(401, "'Expiration time' claim ('exp') must be a numeric value representing the future "
                              "time at which the assertion expires")
        if claims["exp"] > now + 600:
            raise _error(401, "'Expiration time' claim ('exp') is too far in the future")
        if not isinstance(claims["iat"], int) or claims["iat"] > now + 60:
            raise _error(401, "'Issued at' claim ('iat') must be an Integer representing the time that the "
                              "assertion was issued")
        if str(claims["iss"]) != self.app_id:
            raise _error(401, "'Issuer' claim ('iss') must be an Integer")

    def _installation_auth(self, headers: dict[str, str]) -> FakeInstallation:
        token = self._bearer(headers)
        if token.startswith("ghu_") and token in self.users:
            raise _error(403, "You must authenticate with an installation access token in order to list "
                              "repositories for an installation.")
        entry = self.installation_tokens.get(token)
        if entry is None or entry[1] <= self.clock() or entry[0] not in self.installations:
            raise _error(401, "Bad credentials")
        return self.installations[entry[0]]

    def _user_auth(self, headers: dict[str, str]) -> FakeUser:
        token = self._bearer(headers)
        if token in self.installation_tokens:
            raise _error(403, "Resource not accessible by integration")
        user = self.users.get(token)
        if user is None:
            raise _error(401, "Bad credentials")
        return user

    def _repo_auth(self, headers: dict[str, str], owner: str, name: str) -> FakeRepo:
        inst = self._installation_auth(headers)
        repo = self.repos.get(f"{owner}/{name}".lower())
        if repo is None or repo.id not in inst.repo_ids:
            raise _error(404, "Not Found")  # GitHub does not say whether it exists
        return repo

    def _installation(self, iid: str) -> FakeInstallation:
        inst = self.installations.get(int(iid)) if iid.isdigit() else None
        if inst is None:
            raise _error(404, "Not Found")
        return inst

    # -- operations ---------------------------------------------------------------------------------------------

    def _create_token(self, inst: FakeInstallation, body: Any) -> tuple[int, Any, dict[str, str]]:
        if inst.suspended:
            raise _error(403, "This installation has been suspended")
        if body is not None and not isinstance(body, dict):
            raise _error(400, "Problems parsing JSON")
        token = "ghs_" + secrets.token_hex(18)
        expires = self.clock() + self.token_lifetime
        self.installation_tokens[token] = (inst.id, expires)
        answer = {
            "token": token,
            "expires_at": _iso(expires),
            "permissions": dict(inst.permissions),
            "repository_selection": inst.repository_selection,
        }
        return 201, answer, {}

    def _paginate(
        self, items: list[Any], path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[list[Any], dict[str, str]]:
        """One page and its `Link` header, built as GitHub builds it (repository lists link to /repositories/{id})."""
        per_page = min(max(_int(query, "per_page", 30), 1), 100)
        page = max(_int(query, "page", 1), 1)
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        base = f"http://{headers.get('host', urlsplit(self.web_url).netloc)}{self.api_prefix}{path}"
        others = {k: v[-1] for k, v in query.items() if k != "page"}

        def url(number: int) -> str:
            return f"{base}?{urlencode({**others, 'page': number})}"

        links = []
        if page > 1:
            links.append(f'<{url(min(page - 1, last))}>; rel="prev"')
        if page < last:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            links.append(f'<{url(1)}>; rel="first"')
        return chunk, ({"Link": ", ".join(links)} if links else {})

    def _delivery_page(self, path: str, query: dict[str, list[str]],
                       headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        """GitHub pages the delivery log by cursor: the `Link` header's next URL names where the next page starts."""
        per_page = min(max(_int(query, "per_page", 30), 1), 100)
        cursor = (query.get("cursor") or [""])[-1]
        start = 0
        if cursor:
            ids = [str(d["id"]) for d in self.hook_deliveries]
            if not cursor.startswith("v1_") or cursor[3:] not in ids:
                raise _error(400, "Invalid cursor")
            start = ids.index(cursor[3:])
        chunk = self.hook_deliveries[start:start + per_page]
        following = self.hook_deliveries[start + per_page:start + per_page + 1]
        if not following:
            return 200, chunk, {}
        base = f"http://{headers.get('host', urlsplit(self.web_url).netloc)}{self.api_prefix}{path}"
        next_cursor = f"v1_{following[0]['id']}"
        return 200, chunk, {"Link": f'<{base}?{urlencode({"per_page": per_page, "cursor": next_cursor})}>; rel="next"'}

    def _redeliver(self, attempt: str) -> tuple[int, Any, dict[str, str]]:
        """202, then the delivery is sent again with its GUID; the new attempt joins the log as a redelivery."""
        original = next((d for d in self.hook_deliveries if str(d["id"]) == attempt), None)
        if original is None or self.send_webhook is None:
            raise _error(404, "Not Found")
        event, payload = self._delivered[original["id"]]
        self._lock.release()  # the webhook is sent outside the fake's lock, as GitHub sends it from elsewhere
        try:
            status = self.send_webhook(original["guid"], event, payload)
        finally:
            self._lock.acquire()
        again = {**original, "id": self.next_id(), "redelivery": True, "status_code": status,
                 "delivered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))}
        self.hook_deliveries.insert(0, again)
        self._delivered[again["id"]] = (event, payload)
        return 202, {}, {}

    def _conditional(self, headers: dict[str, str], page: list[Any], link: dict[str, str]
                     ) -> tuple[int, Any, dict[str, str]]:
        """GitHub's conditional requests: every answer carries an `ETag`; a request whose `If-None-Match` names the
        current one gets 304 Not Modified with no body, and GitHub does not count it against the rate limit."""
        etag = 'W/"' + hashlib.sha256(repr(page).encode()).hexdigest() + '"'
        sent = headers.get("if-none-match", "")
        if etag in [v.strip() for v in sent.split(",")] or etag.removeprefix("W/") in sent:
            self.not_modified += 1
            raise Reply(304, None, {"ETag": etag})
        return 200, page, {**link, "ETag": etag}

    def _tag_item(self, repo: FakeRepo, tag: str) -> dict[str, Any]:
        """An entry of `GET /repos/{owner}/{repo}/tags`: the commit the tag names (annotated tags peeled)."""
        sha = repo.tags[tag]
        for _ in range(10):
            obj = repo.tag_objects.get(sha)
            if obj is None:
                break
            sha = obj["sha"]
        base = f"{self.api_url}/repos/{repo.full_name}"
        return {"name": tag, "commit": {"sha": sha, "url": f"{base}/commits/{sha}"},
                "zipball_url": f"{base}/zipball/refs/tags/{tag}", "tarball_url": f"{base}/tarball/refs/tags/{tag}",
                "node_id": _node_id("Ref", f"{repo.id}:{tag}")}

    def _short_branch(self, repo: FakeRepo, name: str, sha: str) -> dict[str, Any]:
        return {"name": name, "commit": {"sha": sha, "url": f"{self.api_url}/repos/{repo.full_name}/commits/{sha}"},
                "protected": False}

    def _branch(self, repo: FakeRepo, name: str) -> dict[str, Any]:
        sha = repo.branches.get(name)
        if sha is None:
            raise _error(404, "Branch not found")
        r = f"{self.api_url}/repos/{repo.full_name}"
        return {
            "name": name,
            "commit": self._commit_json(repo, sha),
            "_links": {"self": f"{r}/branches/{name}", "html": f"{self.web_url}/{repo.full_name}/tree/{name}"},
            "protected": False,
            "protection": {"enabled": False, "required_status_checks": {"enforcement_level": "off", "contexts": [],
                                                                         "checks": []}},
            "protection_url": f"{r}/branches/{name}/protection",
        }

    def _resolve(self, repo: FakeRepo, ref: str) -> str | None:
        if ref in repo.branches:
            return repo.branches[ref]
        if ref in repo.tags:
            sha = repo.tags[ref]
            while sha in repo.tag_objects:
                sha = repo.tag_objects[sha]["sha"]
            return sha
        return ref if ref in repo.commits else None

    def _compare(
        self, repo: FakeRepo, basehead: str, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        base_ref, sep, head_ref = basehead.partition("...")
        if not sep:
            raise _error(404, "Not Found")
        base, head = self._resolve(repo, base_ref), self._resolve(repo, head_ref)
        if base is None or head is None:
            raise _error(404, "Not Found")
        known = repo.comparisons.get((base, head))
        if known is None and base != head:
            raise _error(404, f"No common ancestor between {base_ref} and {head_ref}.")
        known = known or {"files": [], "status": "identical", "ahead_by": 0, "behind_by": 0}
        r = f"{self.api_url}/repos/{repo.full_name}"
        web = f"{self.web_url}/{repo.full_name}"
        commit_shas = [fake_sha(f"{base}..{head} #{n}") for n in range(known["ahead_by"] - 1)]
        commit_shas += [head] if known["ahead_by"] else []
        commits = [self._commit_json(repo, sha) for sha in commit_shas]
        paged = "per_page" in query or "page" in query
        link: dict[str, str] = {}
        if paged:
            commits, link = self._paginate(commits, path, query, headers)
        else:
            commits = commits[-250:]
        first_page = _int(query, "page", 1) <= 1
        files = [self._diff_entry(repo, head, entry) for entry in known["files"][:300]] if first_page else []
        answer = {
            "url": f"{r}/compare/{basehead}",
            "html_url": f"{web}/compare/{basehead}",
            "permalink_url": f"{web}/compare/{repo.owner}:{base[:7]}...{repo.owner}:{head[:7]}",
            "diff_url": f"{web}/compare/{basehead}.diff",
            "patch_url": f"{web}/compare/{basehead}.patch",
            "base_commit": self._commit_json(repo, base),
            "merge_base_commit": self._commit_json(repo, base),
            "status": known["status"],
            "ahead_by": known["ahead_by"],
            "behind_by": known["behind_by"],
            "total_commits": known["ahead_by"],
            "commits": commits,
            "files": files,
        }
        return 200, answer, link

    def _diff_entry(self, repo: FakeRepo, head: str, entry: dict[str, Any]) -> dict[str, Any]:
        name = entry["filename"]
        web = f"{self.web_url}/{repo.full_name}"
        out = {
            "sha": fake_sha(f"blob {head} {name}"),
            "filename": name,
            "status": entry.get("status", "modified"),
            "additions": 1,
            "deletions": 0,
            "changes": 1,
            "blob_url": f"{web}/blob/{head}/{name}",
            "raw_url": f"{web}/raw/{head}/{name}",
            "contents_url": f"{self.api_url}/repos/{repo.full_name}/contents/{name}?ref={head}",
            "patch": "@@ -0,0 +1 @@\n+x",
        }
        if entry.get("previous_filename"):
            out["previous_filename"] = entry["previous_filename"]
        return out

    def _get_commit(self, repo: FakeRepo, ref: str) -> dict[str, Any]:
        """GET /repos/{owner}/{repo}/commits/{ref}: a branch, a tag, a full sha or a unique abbreviation of one; 409
        for an empty repository, 422 "No commit found for SHA" otherwise (GitHub's answers)."""
        if not repo.branches and not repo.commits:
            raise _error(409, "Git Repository is empty.")
        sha = self._resolve(repo, ref)
        if sha is None and len(ref) >= 4:
            known = {*repo.commits, *repo.branches.values()}
            matches = sorted(c for c in known if c.startswith(ref.lower()))
            sha = matches[0] if len(matches) == 1 else None
        if sha is None:
            raise _error(422, f"No commit found for SHA: {ref}")
        return {**self._commit_json(repo, sha), "files": [], "stats": {"total": 0, "additions": 0, "deletions": 0}}

    def _ref(self, repo: FakeRepo, ref: str) -> dict[str, Any]:
        if not repo.branches:
            raise _error(409, "Git Repository is empty.")
        kind, _, name = ref.partition("/")
        r = f"{self.api_url}/repos/{repo.full_name}"
        if kind == "heads" and name in repo.branches:
            sha, obj_type = repo.branches[name], "commit"
        elif kind == "tags" and name in repo.tags:
            sha = repo.tags[name]
            obj_type = "tag" if sha in repo.tag_objects else "commit"
        else:
            raise _error(404, "Not Found")
        obj_url = f"{r}/git/{'tags' if obj_type == 'tag' else 'commits'}/{sha}"
        return {"ref": f"refs/{ref}", "node_id": _node_id("Ref", ref), "url": f"{r}/git/refs/{ref}",
                "object": {"type": obj_type, "sha": sha, "url": obj_url}}

    def _tag_object(self, repo: FakeRepo, sha: str) -> dict[str, Any]:
        tag = repo.tag_objects.get(sha)
        if tag is None:
            raise _error(404, "Not Found")
        r = f"{self.api_url}/repos/{repo.full_name}"
        target_url = f"{r}/git/{'tags' if tag['type'] == 'tag' else 'commits'}/{tag['sha']}"
        return {
            "node_id": _node_id("Tag", sha[:12]),
            "sha": sha,
            "url": f"{r}/git/tags/{sha}",
            "tag": tag["tag"],
            "message": tag["message"],
            "tagger": {"name": "Monalisa Octocat", "email": "mona@example.com", "date": CREATED},
            "object": {"sha": tag["sha"], "type": tag["type"], "url": target_url},
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                             "verified_at": None},
        }

    # -- repository contents (GitOps) ---------------------------------------------------------------------------

    def _content_json(self, repo: FakeRepo, path: str, ref: str, data: bytes | None) -> dict[str, Any]:
        """A content item as GitHub describes it ("content-file"; a directory entry without `content`)."""
        r, web = f"{self.api_url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
        blob = _blob_sha(data) if data is not None else fake_sha(f"tree {path}")
        kind = "file" if data is not None else "dir"
        item: dict[str, Any] = {
            "type": kind, "size": len(data) if data is not None else 0, "name": path.rsplit("/", 1)[-1],
            "path": path, "sha": blob, "url": f"{r}/contents/{path}?ref={ref}",
            "git_url": f"{r}/git/{'blobs' if data is not None else 'trees'}/{blob}",
            "html_url": f"{web}/{'blob' if data is not None else 'tree'}/{ref}/{path}",
            "download_url": f"{self.web_url}/raw/{repo.full_name}/{ref}/{path}" if data is not None else None,
        }
        item["_links"] = {"self": item["url"], "git": item["git_url"], "html": item["html_url"]}
        return item

    def _get_content(self, repo: FakeRepo, path: str, query: dict[str, list[str]]) -> Any:
        """GET /repos/{owner}/{repo}/contents/{path}?ref=: a file (base64 content, blob sha), a directory (a list),
        404 "Not Found" for neither, 404 "No commit found for the ref …" for an unknown ref."""
        ref = (query.get("ref") or [repo.default_branch])[0]
        sha = self._resolve(repo, ref)
        if sha is None:
            raise _error(404, f"No commit found for the ref {ref}")
        tree = repo.trees.get(sha, {})
        path = path.strip("/")
        if path in tree:
            data = tree[path]
            encoded = base64.encodebytes(data).decode()  # GitHub wraps base64 at 60/76 columns
            return {**self._content_json(repo, path, ref, data), "content": encoded, "encoding": "base64"}
        prefix = f"{path}/" if path else ""
        children = sorted({p[len(prefix):].split("/", 1)[0] for p in tree if p.startswith(prefix)})
        if not children:
            raise _error(404, "Not Found")
        return [self._content_json(repo, f"{prefix}{c}", ref, tree.get(f"{prefix}{c}")) for c in children]

    def _put_content(self, repo: FakeRepo, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        """PUT /repos/{owner}/{repo}/contents/{path}: a commit writing one file. Updating needs the blob `sha` being
        replaced (422 without it, 409 when it is not the file's current one); creating needs none."""
        if not isinstance(body, dict) or not isinstance(body.get("message"), str) or "content" not in body:
            raise _error(422, "Invalid request.\n\n\"message\", \"content\" weren't supplied.")
        branch = body.get("branch") or repo.default_branch
        if branch not in repo.branches:
            raise _error(404, f"Branch {branch} not found")
        try:
            data = base64.b64decode(body["content"], validate=True)
        except ValueError:
            raise _error(422, "content is not valid Base64") from None
        if branch in repo.protected:
            # What GitHub answers a contents API commit to a branch whose protection requires pull requests.
            raise _error(409, "Could not update file: Changes must be made through a pull request.",
                         documentation_url="https://docs.github.com/articles/about-protected-branches")
        current = repo.trees.get(repo.branches[branch], {}).get(path)
        given = body.get("sha")
        if current is not None and not given:
            raise _error(422, "Invalid request.\n\n\"sha\" wasn't supplied.")
        if current is not None and given != _blob_sha(current):
            raise _error(409, f"{path} does not match {given}")
        if current is None and given:
            raise _error(422, f"sha does not match: {path} does not exist")
        # `committer` defaults to the authenticated user (an App: its bot), `author` to the committer; each, when
        # given, needs both `name` and `email` (422 otherwise).
        bot = {"name": "gitconnect[bot]", "email": "gitconnect[bot]@users.noreply.github.com"}
        people: dict[str, dict[str, str]] = {}
        for role in ("committer", "author"):
            given_person = body.get(role)
            if given_person is None:
                people[role] = people.get("committer", bot) if role == "author" else bot
                continue
            for key in ("name", "email"):
                if not isinstance(given_person, dict) or not isinstance(given_person.get(key), str):
                    raise _error(422, f"Invalid request.\n\n\"{key}\" wasn't supplied.")
            people[role] = {"name": given_person["name"], "email": given_person["email"]}
        parent = repo.branches[branch]
        sha = self._commit_file(repo, branch, path, data, body["message"])
        self.file_commit_people[sha] = people
        r, web = f"{self.api_url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
        when = {"date": "2026-11-22T00:00:00Z"}
        commit = {
            "sha": sha, "node_id": _node_id("Commit", int(sha[:8], 16)), "url": f"{r}/git/commits/{sha}",
            "html_url": f"{web}/commit/{sha}", "author": {**people["author"], **when},
            "committer": {**people["committer"], **when}, "message": body["message"],
            "tree": {"url": f"{r}/git/trees/{fake_sha(sha + ' tree')}", "sha": fake_sha(sha + " tree")},
            "parents": [{"url": f"{r}/git/commits/{parent}", "html_url": f"{web}/commit/{parent}", "sha": parent}],
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                             "verified_at": None},
        }
        return (201 if current is None else 200), {"content": self._content_json(repo, path, branch, data),
                                                   "commit": commit}, {}

    # -- branches and pull requests -------------------------------------------------------------------------------

    def protect(self, full_name: str, branch: str) -> None:
        """Branch protection that requires pull requests: a direct contents API commit to it is refused (409)."""
        with self._lock:
            self.repo(full_name).protected.add(branch)

    def pulls(self, full_name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self.repo(full_name).pulls]

    def merge_pull(self, full_name: str, number: int, message: str | None = None) -> str:
        """"Merge pull request" on GitHub: a merge commit on the base branch with the head's files (the fake keeps
        no history to three-way merge: the head's tree over the base's), the pull request closed and merged. The
        merge commit's sha."""
        with self._lock:
            repo = self.repo(full_name)
            pull = repo.pulls[number - 1]
            if pull["state"] != "open":
                raise ValueError(f"pull request #{number} is not open")
            base, head = pull["base"], repo.branches[pull["head"]]
            parent = repo.branches[base]
            tree = {**repo.trees.get(parent, {}), **repo.trees.get(head, {})}
            text = message or f"Merge pull request #{number} from {repo.owner}/{pull['head']}"
            sha = fake_sha(f"{repo.full_name} merge {number} {parent} {head}")
            repo.trees[sha], repo.branches[base] = tree, sha
            repo.commits.add(sha)
            self.file_commits[sha] = (parent, text)
            pull.update(state="closed", merged=True, merge_commit_sha=sha)
            return sha

    def _create_ref(self, repo: FakeRepo, body: Any) -> dict[str, Any]:
        """POST /repos/{owner}/{repo}/git/refs: `ref` a full `refs/…` name with two slashes at least (422
        otherwise), `sha` a commit of the repository (422 "Object does not exist"), the ref new (422 "Reference
        already exists")."""
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str) or not isinstance(body.get("sha"), str):
            raise _error(422, "Invalid request.\n\n\"ref\", \"sha\" weren't supplied.")
        ref, sha = body["ref"], body["sha"]
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise _error(422, "Reference name must start with 'refs/' and have at least two slashes.")
        if sha not in repo.commits and sha not in repo.branches.values():
            raise _error(422, "Object does not exist")
        branch = ref.removeprefix("refs/heads/")
        if branch in repo.branches:
            raise _error(422, "Reference already exists")
        repo.branches[branch] = sha
        return self._ref(repo, f"heads/{branch}")

    def _move_ref(self, repo: FakeRepo, branch: str, body: Any) -> dict[str, Any]:
        """PATCH /repos/{owner}/{repo}/git/refs/heads/{branch}: moved to `sha` (a non-fast-forward needs `force`; the
        fake keeps no ancestry, so it asks for `force` whenever the branch does not already point there)."""
        if branch not in repo.branches:
            raise _error(422, "Reference does not exist")
        if not isinstance(body, dict) or not isinstance(body.get("sha"), str):
            raise _error(422, "Invalid request.\n\n\"sha\" wasn't supplied.")
        if body["sha"] not in repo.commits and body["sha"] not in repo.branches.values():
            raise _error(422, "Object does not exist")
        if repo.branches[branch] != body["sha"] and body.get("force") is not True:
            raise _error(422, "Update is not a fast forward")
        repo.branches[branch] = body["sha"]
        return self._ref(repo, f"heads/{branch}")

    def _pull_matches(self, repo: FakeRepo, pull: dict[str, Any], query: dict[str, list[str]]) -> bool:
        """GET …/pulls filters: `state` (open by default; closed; all), `head` as `owner:branch`, `base`."""
        state = (query.get("state") or ["open"])[-1]
        head = (query.get("head") or [None])[-1]
        base = (query.get("base") or [None])[-1]
        return (
            state in ("all", pull["state"])
            and head in (None, f"{repo.owner}:{pull['head']}")
            and base in (None, pull["base"])
        )

    def _create_pull(self, repo: FakeRepo, body: Any) -> dict[str, Any]:
        """POST /repos/{owner}/{repo}/pulls: `title`, `head` and `base` branches of the repository; GitHub refuses a
        second open pull request for the same head and base, and one with no commits between them (422)."""
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("title", "head", "base")):
            raise _error(422, "Invalid request.\n\n\"title\", \"head\", \"base\" weren't supplied.")
        head, base = body["head"].split(":", 1)[-1], body["base"]
        if head not in repo.branches or base not in repo.branches:
            raise _invalid("PullRequest", f"{'head' if head not in repo.branches else 'base'} is invalid")
        if any(p["state"] == "open" and (p["head"], p["base"]) == (head, base) for p in repo.pulls):
            raise _invalid("PullRequest", f"A pull request already exists for {repo.owner}:{head}.")
        if repo.branches[head] == repo.branches[base]:
            raise _invalid("PullRequest", f"No commits between {base} and {head}")
        pull = {"number": len(repo.pulls) + 1, "title": body["title"], "body": body.get("body"), "head": head,
                "base": base, "state": "open", "merged": False, "merge_commit_sha": None, "updates": 0}
        repo.pulls.append(pull)
        return pull

    def _update_pull(self, repo: FakeRepo, number: str, body: Any) -> dict[str, Any]:
        if not number.isdigit() or not 0 < int(number) <= len(repo.pulls):
            raise _error(404, "Not Found")
        if not isinstance(body, dict):
            raise _error(400, "Problems parsing JSON")
        pull = repo.pulls[int(number) - 1]
        pull.update({k: body[k] for k in ("title", "body") if isinstance(body.get(k), str)})
        pull["updates"] += 1
        return pull

    def _pull_json(self, repo: FakeRepo, pull: dict[str, Any]) -> dict[str, Any]:
        """A pull request as GitHub answers it (the fields gitconnect and a reader use)."""
        r, web, n = f"{self.api_url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}", pull["number"]

        def side(branch: str) -> dict[str, Any]:
            return {"label": f"{repo.owner}:{branch}", "ref": branch, "sha": repo.branches.get(branch, ""),
                    "repo": self._repo_json(repo), "user": self._user_json(repo.owner, repo.id + 1_000_000)}

        links = {"self": f"{r}/pulls/{n}", "html": f"{web}/pull/{n}", "issue": f"{r}/issues/{n}",
                 "comments": f"{r}/issues/{n}/comments", "review_comments": f"{r}/pulls/{n}/comments",
                 "review_comment": f"{r}/pulls/comments{{/number}}", "commits": f"{r}/pulls/{n}/commits",
                 "statuses": f"{r}/statuses/{repo.branches.get(pull['head'], '')}"}
        merged = pull["merged"]
        return {
            "url": links["self"], "id": repo.id * 1000 + n, "node_id": _node_id("PullRequest", n),
            "html_url": links["html"], "diff_url": f"{web}/pull/{n}.diff", "patch_url": f"{web}/pull/{n}.patch",
            "issue_url": links["issue"], "commits_url": links["commits"],
            "review_comments_url": links["review_comments"], "review_comment_url": links["review_comment"],
            "comments_url": links["comments"], "statuses_url": links["statuses"], "number": n,
            "state": pull["state"], "locked": False, "title": pull["title"], "body": pull["body"],
            "user": self._bot_json(), "labels": [], "milestone": None, "active_lock_reason": None,
            "created_at": CREATED, "updated_at": CREATED, "closed_at": CREATED if pull["state"] == "closed" else None,
            "merged_at": CREATED if merged else None, "merge_commit_sha": pull["merge_commit_sha"],
            "assignee": None, "assignees": [], "requested_reviewers": [], "requested_teams": [],
            "head": side(pull["head"]), "base": side(pull["base"]),
            "_links": {name: {"href": href} for name, href in links.items()},
            "author_association": "NONE", "auto_merge": None, "draft": False, "merged": merged,
            "mergeable": None, "rebaseable": None, "mergeable_state": "unknown", "merged_by": None,
            "comments": 0, "review_comments": 0, "maintainer_can_modify": False, "commits": 1, "additions": 1,
            "deletions": 1, "changed_files": 1,
        }

    def _create_check_run(self, repo: FakeRepo, body: Any) -> dict[str, Any]:
        """POST /repos/{owner}/{repo}/check-runs as GitHub validates it: name and head_sha required; a `completed` run
        needs a conclusion; details_url a URL."""
        if not isinstance(body, dict):
            raise _error(400, "Problems parsing JSON")
        status, conclusion = body.get("status", "queued"), body.get("conclusion")
        known = repo.commits | set(repo.branches.values())
        invalid = (
            not isinstance(body.get("name"), str) or not body["name"]
            or not isinstance(body.get("head_sha"), str) or body["head_sha"] not in known
            or status not in ("queued", "in_progress", "completed")
            or (status == "completed") != (conclusion is not None)
            or conclusion not in (None, "action_required", "cancelled", "failure", "neutral", "success", "skipped",
                                  "stale", "timed_out")
        )
        if invalid:
            raise _error(422, "Validation Failed", errors=[{"resource": "CheckRun", "code": "invalid"}])
        run = {"id": self.next_id(), "head_sha": body["head_sha"], "name": body["name"], "status": status,
               "conclusion": conclusion, "details_url": body.get("details_url"),
               "external_id": body.get("external_id"), "output": body.get("output") or {}}
        repo.check_runs.setdefault(body["head_sha"], []).append(run)
        return run

    def _checks_auth(self, headers: dict[str, str], owner: str, name: str) -> FakeRepo:
        repo = self._repo_auth(headers, owner, name)
        if self._installation_auth(headers).permissions.get("checks") != "write":
            raise _error(403, "Resource not accessible by integration")
        return repo

    def _update_check_run(self, repo: FakeRepo, run_id: str, body: Any) -> dict[str, Any]:
        run = next((r for runs in repo.check_runs.values() for r in runs if str(r["id"]) == run_id), None)
        if run is None:
            raise _error(404, "Not Found")
        if not isinstance(body, dict):
            raise _error(400, "Problems parsing JSON")
        status, conclusion = body.get("status", run["status"]), body.get("conclusion", run["conclusion"])
        if (status == "completed") != (conclusion is not None):
            raise _error(422, "Validation Failed", errors=[{"resource": "CheckRun", "code": "invalid"}])
        run.update(status=status, conclusion=conclusion, details_url=body.get("details_url", run["details_url"]),
                   output=body.get("output", run["output"]))
        run["updates"] = run.get("updates", 0) + 1
        return run

    def check_runs(self, full_name: str, sha: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.repo(full_name).check_runs.get(sha, []))

    def _create_status(self, repo: FakeRepo, sha: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _error(400, "Problems parsing JSON")
        state = body.get("state")
        if state not in ("error", "failure", "pending", "success"):
            raise _error(422, "Validation Failed", errors=[
                {"resource": "Status", "code": "custom", "field": "state",
                 "message": "state is not included in the list"}
            ])
        description = body.get("description")
        if isinstance(description, str) and len(description) > 140:
            raise _error(422, "Validation Failed", errors=[
                {"resource": "Status", "code": "custom", "field": "description",
                 "message": "description is too long (maximum is 140 characters)"}
            ])
        if sha not in repo.commits:
            raise _error(422, f"No commit found for SHA: {sha}")
        ident = self.next_id()
        status = {
            "url": f"{self.api_url}/repos/{repo.full_name}/statuses/{sha}",
            "avatar_url": f"{self.web_url}/avatars/u/41898282?v=4",
            "id": ident,
            "node_id": _node_id("StatusContext", ident),
            "state": state,
            "description": description,
            "target_url": body.get("target_url"),
            "context": body.get("context") or "default",
            "created_at": _iso(self.clock()),
            "updated_at": _iso(self.clock()),
            "creator": self._bot_json(),
        }
        repo.statuses.setdefault(sha, []).append(status)
        return status

    # -- the web host: OAuth ------------------------------------------------------------------------------------

    def _web(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if method != "POST" or path != "/login/oauth/access_token":
            raise Reply(404, "Not Found", {"content-type": "text/plain; charset=utf-8"})
        params = {k: v[-1] for k, v in query.items()}
        if isinstance(body, dict):
            params.update({k: str(v) for k, v in body.items()})
        with self._lock:
            answer = self._exchange(params)
        accept = headers.get("accept", "")
        if "application/json" in accept:
            return 200, answer, {}
        return 200, urlencode(answer), {}

    def _exchange(self, params: dict[str, str]) -> dict[str, Any]:
        def error(code: str, description: str) -> dict[str, Any]:
            uri = f"{OAUTH_DOCS}#{code.replace('_', '-')}"
            return {"error": code, "error_description": description, "error_uri": uri}

        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            return error("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
        issued = self.codes.pop(params.get("code", ""), None)
        if issued is None or issued["expires"] <= self.clock():
            return error("bad_verification_code", "The code passed is incorrect or expired.")
        if issued["redirect_uri"] and params.get("redirect_uri") not in (None, issued["redirect_uri"]):
            return error("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this "
                                                  "application.")
        return {"access_token": issued["token"], "token_type": "bearer", "scope": "",
                "expires_in": 28800, "refresh_token": "ghr_" + secrets.token_hex(30),
                "refresh_token_expires_in": 15811200}


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    try:
        return int(query[name][-1])
    except (KeyError, ValueError, IndexError):
        return default

