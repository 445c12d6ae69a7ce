"""GitHub as a provider: an installation of the App is the account; installation tokens act for it."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar

from gitconnect.domain.errors import BadRequestError, ConflictError, NotFoundError, UnprocessableError
from gitconnect.domain.events import RepoRef, WebhookEvent
from gitconnect.domain.grants import grant_details
from gitconnect.domain.models import Build
from gitconnect.providers.base import (
    Access,
    Branch,
    ChangeRequest,
    ChangeRequests,
    CommitCheck,
    CommitChecks,
    CommitStatuses,
    Committed,
    DefaultBranches,
    FailedDelivery,
    FileChange,
    GitOpsFiles,
    LinkedAccount,
    Provider,
    ProviderPorts,
    ReconciledRefs,
    RedeliveredWebhooks,
    RefListing,
    RepoFile,
    Repository,
    RepositoryRef,
    ShortHashes,
    Webhooks,
)
from gitconnect.providers.github import webhooks
from gitconnect.providers.github.api import GitHubApi
from gitconnect.providers.github.app_auth import InstallationTokens

# Build statuses as GitHub commit status states.
_STATES = {"queued": "pending", "running": "pending", "succeeded": "success", "failed": "failure", "cancelled": "error"}
STATUS_CONTEXT = "gitconnect"


def installation_id(access: Access) -> str:
    key = access.account_key or ""
    if not key.startswith("github#"):
        raise UnprocessableError("this connection is not a GitHub App installation")
    return key.removeprefix("github#")


def _named_commits(items: Sequence[Any]) -> dict[str, str]:
    """`[{"name", "commit": {"sha"}}]` (GitHub's branch and tag lists) as name -> commit."""
    named = {}
    for item in items:
        commit = item.get("commit") if isinstance(item, dict) else None
        sha = commit.get("sha") if isinstance(commit, dict) else None
        if isinstance(item.get("name"), str) and isinstance(sha, str):
            named[item["name"]] = sha
    return named


def _split(full_name: str) -> tuple[str, str]:
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name:
        raise BadRequestError(f"a GitHub repository is `owner/name`, not {full_name!r}")
    return owner, name


@dataclass(frozen=True)
class InstallationView:
    """An installation as the App itself reads it (never as a URL names it): the account it becomes, `active` or
    `suspended`, and for `selected` repositories the ids of those granted (None: every repository, or unknown while
    suspended, when GitHub mints no token to list them)."""

    account: LinkedAccount
    status: str
    repository_ids: frozenset[str] | None


class GitHubProvider(
    Provider,
    Webhooks,
    GitOpsFiles,
    ChangeRequests,
    CommitStatuses,
    CommitChecks,
    ShortHashes,
    DefaultBranches,
    RedeliveredWebhooks,
    ReconciledRefs,
):
    id: ClassVar[str] = "github"

    def __init__(self, ports: ProviderPorts) -> None:
        if ports.http is None:
            raise RuntimeError("the GitHub provider needs an HTTP client")
        self._http = ports.http
        self._config = ports.config
        self._clock = ports.clock
        self.api = GitHubApi(ports.http, self.api_url)
        self._checks: dict[str, bool] = {}  # installation id -> whether its statuses are check runs

    @property
    def api_url(self) -> str:
        return self._config.get("GITHUB_API_URL") or "https://api.github.com"

    @property
    def web_url(self) -> str:
        return self._config.get("GITHUB_WEB_URL") or "https://github.com"

    @cached_property
    def tokens(self) -> InstallationTokens:
        """Installation tokens, cached per container until shortly before they expire."""
        app_id, key = self._config.get("GITHUB_APP_ID"), self._config.get("GITHUB_APP_PRIVATE_KEY")
        if not app_id or not key:
            raise UnprocessableError("the GitHub App is not configured (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY)")
        return InstallationTokens(self._http, self.api_url, app_id, key, self._clock)

    def _token(self, access: Access) -> str:
        return self.tokens.token(installation_id(access))

    # ------------------------------------------------------------------ linking
    def link(self, request: Mapping[str, Any]) -> LinkedAccount:
        raise UnprocessableError("GitHub is linked by installing the App: POST …/connections/github/authorize")

    def installation(self, installation: str) -> InstallationView:
        """GET /app/installations/{id} with the App's JWT, and for `selected` repositories the ones granted
        (GET /installation/repositories, every page up to the REST core's page bound) with its token."""
        details = self.api.installation(self.tokens.app_jwt(), installation)
        suspended = bool(details.get("suspended_at"))
        repositories = None
        if details.get("repository_selection") == "selected" and not suspended:
            repositories = self._repositories(Access(None, webhooks.account_key(installation), None))
        return InstallationView(
            self.installation_account(installation, details, repositories),
            "suspended" if suspended else "active",
            None if repositories is None else frozenset(str(r["id"]) for r in repositories),
        )

    def installation_account(
        self, installation: str, details: Mapping[str, Any], repositories: list[dict[str, Any]] | None
    ) -> LinkedAccount:
        """The connection an installation becomes (`details` is GET /app/installations/{id}; `repositories` those
        granted, None when they could not be read: the details then leave the stored list as it was)."""
        account = details.get("account") or {}
        login = str(account.get("login") or account.get("slug") or installation)
        selection = details.get("repository_selection")
        granted = {} if selection == "selected" and repositories is None else grant_details(
            selection, (str(r.get("full_name") or "") for r in repositories or ())
        )
        return LinkedAccount(
            name=login,
            account=login,
            base_url=self.web_url,
            credentials=None,  # nothing to store: installation tokens are minted with the App's key
            account_key=webhooks.account_key(installation),
            details={
                "installation_id": str(installation),
                "account_type": account.get("type"),
                "repository_selection": selection,
                **granted,
                # "Edit installation": where GitHub lets the user change the repositories the App may use.
                "settings_url": details.get("html_url") or f"{self.web_url}/settings/installations/{installation}",
            },
        )

    # ------------------------------------------------------------------ repositories
    def _repositories(self, access: Access) -> list[dict[str, Any]]:
        return self.api.installation_repositories(self._token(access))

    def repository(self, access: Access, requested: str | None) -> RepositoryRef:
        if not requested:
            raise BadRequestError("a GitHub source needs `repository` (owner/name)")
        owner, name = _split(requested)
        repo = self.api.repository(self._token(access), owner, name)  # one call: never the whole installation
        if repo is None:
            raise NotFoundError(f"{requested} is not among the repositories the GitHub App can access")
        return RepositoryRef(str(repo["full_name"]), str(repo.get("clone_url") or ""), str(repo["id"]))

    def repositories(self, access: Access) -> list[Repository]:
        found = []
        for repo in self._repositories(access):
            full_name = str(repo.get("full_name") or "")
            found.append(
                Repository(
                    id=str(repo["id"]),
                    full_name=full_name,
                    namespace=(repo.get("owner") or {}).get("login") or full_name.split("/", 1)[0],
                    default_branch=repo.get("default_branch"),
                    private=repo.get("private"),
                    clone_url=str(repo.get("clone_url") or ""),
                    web_url=repo.get("html_url"),
                )
            )
        return sorted(found, key=lambda r: r.full_name.lower())

    def namespaces(self, access: Access) -> list[str]:
        """An installation reaches its account's repositories only: that account (one call, GET
        /app/installations/{id}, instead of reading every repository to collect their owners)."""
        account = self.api.installation(self.tokens.app_jwt(), installation_id(access)).get("account") or {}
        login = account.get("login") or account.get("slug")
        return [str(login)] if login else []

    def branches(self, access: Access, repository: str) -> list[Branch]:
        owner, name = _split(repository)
        return [Branch(n, sha) for n, sha in self.api.branches(self._token(access), owner, name)]

    def listed_refs(
        self, access: Access, repository: str, *, tags: bool, validators: Mapping[str, Sequence[str]]
    ) -> RefListing:
        """`GET …/branches` and, when asked, `GET …/tags` (both name each head's commit; tags peeled), pages of 100,
        each conditional on its last ETag: an idle repository costs two 304s, which spend no rate limit."""
        owner, name = _split(repository)
        token = self._token(access)
        listed: dict[str, dict[str, str] | None] = {}  # None: that listing answered 304 throughout
        fresh: dict[str, list[str]] = {}
        calls = free = 0
        for listing in ("branches", "tags") if tags else ("branches",):
            answer = self.api.conditional_list(token, owner, name, listing, validators.get(listing, ()))
            calls, free, fresh[listing] = calls + answer.calls, free + answer.free, answer.validators
            listed[listing] = None if answer.items is None else _named_commits(answer.items)
        if all(v is None for v in listed.values()):
            return RefListing({}, {} if tags else None, fresh, True, calls, free)
        for listing in [k for k, v in listed.items() if v is None]:  # the other one moved: this one is needed too
            again = self.api.conditional_list(token, owner, name, listing, ())
            calls, fresh[listing] = calls + again.calls, again.validators
            listed[listing] = _named_commits(again.items or [])
        return RefListing(listed["branches"] or {}, listed.get("tags") if tags else None, fresh, False, calls, free)

    def resolve_branch(self, access: Access, repository: str, branch: str) -> str | None:
        owner, name = _split(repository)
        return self.api.branch_head(self._token(access), owner, name, branch)

    def default_branch(self, access: Access, repo: RepoRef) -> str | None:
        owner, name = _split(repo.full_name)
        found = self.api.repository(self._token(access), owner, name)
        branch = None if found is None else found.get("default_branch")
        return branch if isinstance(branch, str) and branch else None  # unknown: the source's own branch decides

    def full_commit(self, access: Access, repo: RepoRef, sha: str) -> str | None:
        owner, name = _split(repo.full_name)
        return self.api.commit(self._token(access), owner, name, sha)

    # ------------------------------------------------------------------ deliveries GitHub failed to make
    def failed_deliveries(self, since: float, max_pages: int) -> list[FailedDelivery]:
        """GitHub retries nothing: a delivery our intake did not take (a timeout, a 5xx, a 429) stays failed unless
        someone asks for it again. Attempts are grouped by GUID; one that succeeded, or was redelivered already (by
        us or by a person), is left alone, so each failed delivery is asked for once."""
        attempts: dict[str, list[Mapping[str, Any]]] = {}  # guid -> its attempts, newest first
        for number, page in enumerate(self.api.hook_deliveries(self.tokens.app_jwt()), start=1):
            older = False
            for item in page:  # newest first: the first one older than `since` ends the read
                at = _epoch(item.get("delivered_at"))
                if at is None or at < since:
                    older = True
                    break
                attempts.setdefault(str(item.get("guid") or ""), []).append(item)
            if older or number >= max_pages:  # bounded: max_pages pages of 100 attempts per run
                break
        failed = []
        for guid, tried in attempts.items():
            if not guid or any(_settled(t) or t.get("redelivery") for t in tried):
                continue
            latest = tried[0]
            installation = webhooks.installation_number(latest.get("installation_id"))
            failed.append(
                FailedDelivery(
                    id=str(latest.get("id")),
                    guid=guid,
                    event=str(latest.get("event") or ""),
                    delivered_at=str(latest.get("delivered_at") or ""),
                    status=f"{latest.get('status_code')} {latest.get('status') or ''}".strip(),
                    account_key=None if installation is None else webhooks.account_key(installation),
                )
            )
        return failed

    def redeliver(self, delivery: FailedDelivery) -> None:
        self.api.redeliver(self.tokens.app_jwt(), delivery.id)

    # ------------------------------------------------------------------ webhooks
    def normalize(self, event: str, payload: Mapping[str, Any]) -> WebhookEvent:
        return webhooks.normalize(event, payload)

    def changed_files(self, access: Access, repo: RepoRef, before: str | None, after: str) -> list[str] | None:
        if before is None:
            return None  # a new branch has no base to compare with: unknown, never guessed
        owner, name = _split(repo.full_name)
        return self.api.compare_files(self._token(access), owner, name, before, after)

    def tag_commit(self, access: Access, repo: RepoRef, tag: str) -> str | None:
        owner, name = _split(repo.full_name)
        return self.api.tag_commit(self._token(access), owner, name, tag)

    # ------------------------------------------------------------------ GitOps files
    def read_file(self, access: Access, repository: str, branch: str, path: str) -> RepoFile | None:
        """The file at the branch's head commit, read at that commit (one consistent snapshot); its version is the
        blob sha, which GitHub checks itself on the next commit."""
        owner, name = _split(repository)
        head = self.api.branch_head(self._token(access), owner, name, branch)
        if head is None:
            raise NotFoundError(f"the branch {branch!r} does not exist in {repository}")
        found = self.api.file(self._token(access), owner, name, path.lstrip("/"), head)
        if found is None:
            return None
        return RepoFile(path.lstrip("/"), base64.b64decode(found["content"]), str(found["sha"]), commit=head)

    def commit_file(self, access: Access, repository: str, change: FileChange) -> Committed:
        """One commit through the contents API; GitHub refuses it when the file's blob is no longer `expected`
        (or, for a create, when the file exists)."""
        owner, name = _split(repository)
        path, branch, expected = change.path, change.branch, change.expected
        answer = self.api.put_file(
            self._token(access),
            owner,
            name,
            path.lstrip("/"),
            change.content,
            change.message,
            branch,
            expected,
            change.author,
        )
        if answer is None:
            raise ConflictError(change.refusal())
        return Committed(str(answer["commit"]["sha"]), str(answer["content"]["sha"]))

    # ------------------------------------------------------------------ pull requests (GitOps pull-request mode)
    def start_branch(self, access: Access, repository: str, branch: str, sha: str) -> None:
        owner, name = _split(repository)
        token = self._token(access)
        if not self.api.create_ref(token, owner, name, branch, sha):
            self.api.move_ref(token, owner, name, branch, sha)

    def open_change_request(self, access: Access, repository: str, head: str, base: str) -> ChangeRequest | None:
        owner, name = _split(repository)
        found = self.api.open_pulls(self._token(access), owner, name, head, base)
        return _pull(found[0]) if found else None

    def create_change_request(
        self, access: Access, repository: str, head: str, base: str, title: str, description: str
    ) -> ChangeRequest:
        owner, name = _split(repository)
        return _pull(self.api.create_pull(self._token(access), owner, name, head, base, title, description))

    def update_change_request(
        self, access: Access, repository: str, number: int, title: str, description: str
    ) -> ChangeRequest:
        owner, name = _split(repository)
        return _pull(self.api.update_pull(self._token(access), owner, name, number, title, description))

    def file_at(self, access: Access, repository: str, commit: str, path: str) -> bytes | None:
        """The contents API at a commit: a pull request's head commit is readable in the base repository, from a
        fork too (GitHub keeps it under refs/pull/<n>/head)."""
        owner, name = _split(repository)
        found = self.api.file(self._token(access), owner, name, path.lstrip("/"), commit)
        return None if found is None else base64.b64decode(found["content"])

    # ------------------------------------------------------------------ status back
    def report_status(self, access: Access, build: Build, url: str | None, description: str | None) -> None:
        """A check run where the App has the Checks permission (read & write), else a commit status (Commit statuses
        read & write). Which one an installation takes is learnt on its first status and kept per container."""
        self._show(
            access, build.repository, _check_run(build, url, description), _STATES[build.status], url, description
        )

    def report_check(self, access: Access, check: CommitCheck) -> None:
        """A check that is not a build's (`gitconnect/template`), shown the same way as a build's status."""
        run: dict[str, Any] = {
            "name": check.name,
            "head_sha": check.sha,
            "status": "completed",
            "conclusion": check.state,
            "external_id": check.external_id,
            "output": {"title": check.title, "summary": check.summary},
        }
        if check.url:
            run["details_url"] = check.url
        self._show(access, check.repository, run, check.state, check.url, check.title)

    def _show(
        self,
        access: Access,
        repository: str,
        run: dict[str, Any],
        state: str,
        url: str | None,
        description: str | None,
    ) -> None:
        """`run` as a check run (created or updated: one per name and external id), or, for an installation whose
        App has no Checks permission, as a commit status of state `state` in the run's name."""
        owner, name = _split(repository)
        installation, token = installation_id(access), self._token(access)
        if self._checks.get(installation, True):
            if self.api.check_run(token, owner, name, run) is not None:
                self._checks[installation] = True
                return
            self._checks[installation] = False
        sha, context = str(run["head_sha"]), str(run["name"])
        self.api.create_commit_status(token, owner, name, sha, state, url, description, context)


def _pull(body: Mapping[str, Any]) -> ChangeRequest:
    head = body.get("head") or {}
    return ChangeRequest(int(body["number"]), str(body.get("html_url") or ""), head.get("sha"))


# Build statuses as check runs: a status, and a conclusion once the build is final.
_CHECK_STATES = {
    "queued": ("queued", None),
    "running": ("in_progress", None),
    "succeeded": ("completed", "success"),
    "failed": ("completed", "failure"),
    "cancelled": ("completed", "cancelled"),
}


def _check_run(build: Build, url: str | None, description: str | None) -> dict[str, Any]:
    status, conclusion = _CHECK_STATES[build.status]
    run: dict[str, Any] = {
        "name": STATUS_CONTEXT,
        "head_sha": build.sha,
        "status": status,
        "external_id": build.id,
        "output": {"title": f"Build {build.status}", "summary": description or f"gitconnect build {build.id}"},
    }
    if url:
        run["details_url"] = url
    if conclusion:
        run["conclusion"] = conclusion
    return run


def _epoch(value: object) -> float | None:
    """GitHub's ISO 8601 time (`2021-06-09T16:01:44Z`) as epoch seconds; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _settled(attempt: Mapping[str, Any]) -> bool:
    """Nothing to ask for again: our intake took it (2xx). A 4xx is settled too (a bad signature, a malformed body,
    an unknown provider would be refused again); a 5xx, a 429 or no answer at all (status code 0) is worth asking
    for again."""
    code = attempt.get("status_code")
    return isinstance(code, int) and code != 429 and 200 <= code < 500
