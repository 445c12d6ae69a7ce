"""GitLab (gitlab.com or self-hosted) as a provider: a connection is one user's token on one instance; webhooks
are project hooks gitconnect registers per source, each with its own secret."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from gitconnect.domain.errors import BadRequestError, ConflictError, UnprocessableError
from gitconnect.domain.events import RepoRef, WebhookEvent
from gitconnect.domain.models import Build
from gitconnect.domain.urls import check_remote_url
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
    FileChange,
    GitOpsFiles,
    LinkedAccount,
    ManagedWebhooks,
    Provider,
    ProviderPorts,
    ReconciledRefs,
    RefListing,
    RefreshingCredentials,
    RepoFile,
    Repository,
    RepositoryRef,
    ShortHashes,
    Webhooks,
)
from gitconnect.providers.gitlab import oauth as gitlab_oauth
from gitconnect.providers.gitlab import webhooks
from gitconnect.providers.gitlab.api import GitLabApi

# Build statuses as GitLab commit status states.
_STATES = {
    "queued": "pending",
    "running": "running",
    "succeeded": "success",
    "failed": "failed",
    "cancelled": "canceled",
}
STATUS_NAME = "gitconnect"


class GitLabProvider(
    Provider,
    Webhooks,
    ReconciledRefs,
    ManagedWebhooks,
    RefreshingCredentials,
    GitOpsFiles,
    ChangeRequests,
    CommitStatuses,
    CommitChecks,
    ShortHashes,
    DefaultBranches,
):
    id: ClassVar[str] = "gitlab"

    def __init__(self, ports: ProviderPorts) -> None:
        if ports.http is None:
            raise RuntimeError("the GitLab provider needs an HTTP client")
        self._http = ports.http
        self._config = ports.config

    @property
    def default_url(self) -> str:
        return self._config.get("GITLAB_URL") or "https://gitlab.com"

    def _api(self, access: Access) -> GitLabApi:
        return GitLabApi(self._http, access.base_url or self.default_url)

    @staticmethod
    def _token(access: Access) -> str:
        token = (access.credentials or {}).get("token")
        if not token:
            raise UnprocessableError("this GitLab connection has no token: link it again")
        return token

    # ------------------------------------------------------------------ linking
    def link(self, request: Mapping[str, Any]) -> LinkedAccount:
        """An access token (personal, group or project), verified before anything is stored: the base URL must pass
        the SSRF rules and answer /api/v4/version as a GitLab, and the token must name a user."""
        base_url = check_remote_url(request.get("base_url") or self.default_url)
        token = str(request["token"])
        api = GitLabApi(self._http, base_url)
        api.version(token)
        user = api.current_user(token)
        username = str(user.get("username") or user.get("id"))
        host = urlsplit(base_url).netloc
        return LinkedAccount(
            name=request.get("name") or f"{username}@{host}",
            account=username,
            base_url=base_url,
            credentials={"token": token, "kind": "access_token"},
        )

    def refresh_credentials(self, access: Access) -> dict[str, str]:
        """A new token pair for an OAuth connection (the old pair stops working: callers serialize this)."""
        credentials = dict(access.credentials or {})
        tokens = gitlab_oauth.refresh(
            self._http,
            access.base_url or self.default_url,
            credentials["client_id"],
            credentials["client_secret"],
            credentials["refresh_token"],
            credentials["redirect_uri"],
        )
        credentials.update(
            {
                "token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "expires_at": str(tokens.expires_at or ""),
            }
        )
        return credentials

    # ------------------------------------------------------------------ repositories
    def repository(self, access: Access, requested: str | None) -> RepositoryRef:
        if not requested:
            raise BadRequestError("a GitLab source needs `repository` (the project's path, e.g. group/app)")
        project = self._api(access).project(self._token(access), requested)
        return RepositoryRef(
            str(project["path_with_namespace"]), str(project.get("http_url_to_repo") or ""), str(project["id"])
        )

    def repositories(self, access: Access) -> list[Repository]:
        return [
            Repository(
                id=str(p["id"]),
                full_name=str(p["path_with_namespace"]),
                namespace=(p.get("namespace") or {}).get("full_path")
                or str(p["path_with_namespace"]).rsplit("/", 1)[0],
                default_branch=p.get("default_branch"),
                private=None if "visibility" not in p else p["visibility"] != "public",
                clone_url=str(p.get("http_url_to_repo") or ""),
                web_url=p.get("web_url"),
            )
            for p in self._api(access).projects(self._token(access))
        ]

    def namespaces(self, access: Access) -> list[str]:
        return sorted({str(n.get("full_path")) for n in self._api(access).namespaces(self._token(access))})

    def branches(self, access: Access, repository: str) -> list[Branch]:
        return [Branch(n, sha) for n, sha in self._api(access).branches(self._token(access), repository)]

    def listed_refs(
        self, access: Access, repository: str, *, tags: bool, validators: Mapping[str, Sequence[str]]
    ) -> RefListing:
        """`GET …/repository/branches` and, when asked, `…/repository/tags`, pages of 100 (GitLab documents no
        conditional request for them: every page is a call)."""
        api, token = self._api(access), self._token(access)
        branches, calls = api.named_commits(token, repository, "branches")
        if not tags:
            return RefListing(dict(branches), None, {}, False, calls)
        listed_tags, more = api.named_commits(token, repository, "tags")
        return RefListing(dict(branches), dict(listed_tags), {}, False, calls + more)

    def resolve_branch(self, access: Access, repository: str, branch: str) -> str | None:
        return self._api(access).branch_head(self._token(access), repository, branch)

    def default_branch(self, access: Access, repo: RepoRef) -> str | None:
        branch = self._api(access).project(self._token(access), repo.id or repo.full_name).get("default_branch")
        return branch if isinstance(branch, str) and branch else None  # an empty project has none

    def full_commit(self, access: Access, repo: RepoRef, sha: str) -> str | None:
        return self._api(access).commit(self._token(access), repo.id or repo.full_name, sha)

    # ------------------------------------------------------------------ webhooks
    def normalize(self, event: str, payload: Mapping[str, Any]) -> WebhookEvent:
        return webhooks.normalize(event, payload)

    def changed_files(self, access: Access, repo: RepoRef, before: str | None, after: str) -> list[str] | None:
        if before is None:
            return None
        return self._api(access).compare_files(self._token(access), repo.id, before, after)

    def tag_commit(self, access: Access, repo: RepoRef, tag: str) -> str | None:
        return None  # GitLab's tag push and release payloads carry the commit: nothing to resolve

    def create_webhook(self, access: Access, repo: RepoRef, url: str, secret: str) -> str:
        return str(self._api(access).create_hook(self._token(access), repo.id, url, secret)["id"])

    def update_webhook(self, access: Access, repo: RepoRef, hook_id: str, url: str, secret: str) -> bool:
        """Rotate the hook's secret; False when the hook is gone from GitLab (the caller recreates it)."""
        return self._api(access).update_hook(self._token(access), repo.id, hook_id, url, secret) is not None

    def webhook_health(self, access: Access, repo: RepoRef, hook_id: str) -> str:
        """ "ok", "disabled" (GitLab stopped calling it after failures) or "missing" (deleted on GitLab)."""
        hook = self._api(access).hook(self._token(access), repo.id, hook_id)
        if hook is None:
            return "missing"
        return "disabled" if hook.get("alert_status") in ("disabled", "temporarily_disabled") else "ok"

    def delete_webhook(self, access: Access, repo: RepoRef, hook_id: str) -> bool:
        return self._api(access).delete_hook(self._token(access), repo.id, hook_id)

    # ------------------------------------------------------------------ GitOps files
    def read_file(self, access: Access, repository: str, branch: str, path: str) -> RepoFile | None:
        found = self._api(access).file(self._token(access), repository, path.lstrip("/"), branch)
        if found is None:
            return None
        return RepoFile(path.lstrip("/"), base64.b64decode(found["content"]), str(found["last_commit_id"]))

    def commit_file(self, access: Access, repository: str, change: FileChange) -> Committed:
        """One commit through the Commits API; `last_commit_id` makes GitLab refuse it if the file changed since."""
        branch, path, expected = change.branch, change.path, change.expected
        action: dict[str, Any] = {
            "action": "create" if expected is None else "update",
            "file_path": path.lstrip("/"),
            "content": base64.b64encode(change.content).decode(),
            "encoding": "base64",
        }
        if expected is not None:
            action["last_commit_id"] = expected
        api, token = self._api(access), self._token(access)
        commit = api.commit_files(token, repository, branch, change.message, [action], change.author)
        if commit is None:
            raise ConflictError(change.refusal())
        return Committed(str(commit["id"]), str(commit["id"]))  # last_commit_id of the next update

    # ------------------------------------------------------------------ merge requests (GitOps pull-request mode)
    def start_branch(self, access: Access, repository: str, branch: str, sha: str) -> None:
        """Created at `sha`; one that exists is deleted first (GitLab has no call that moves a branch)."""
        api, token = self._api(access), self._token(access)
        if not api.create_branch(token, repository, branch, sha):
            api.delete_branch(token, repository, branch)
            if not api.create_branch(token, repository, branch, sha):
                raise ConflictError(f"the branch {branch!r} of {repository} came back while it was moved")

    def open_change_request(self, access: Access, repository: str, head: str, base: str) -> ChangeRequest | None:
        found = self._api(access).open_merge_requests(self._token(access), repository, head, base)
        return _merge_request(found[0]) if found else None

    def create_change_request(
        self, access: Access, repository: str, head: str, base: str, title: str, description: str
    ) -> ChangeRequest:
        api, token = self._api(access), self._token(access)
        return _merge_request(api.create_merge_request(token, repository, head, base, title, description))

    def update_change_request(
        self, access: Access, repository: str, number: int, title: str, description: str
    ) -> ChangeRequest:
        api, token = self._api(access), self._token(access)
        return _merge_request(api.update_merge_request(token, repository, number, title, description))

    def file_at(self, access: Access, repository: str, commit: str, path: str) -> bytes | None:
        found = self._api(access).file(self._token(access), repository, path.lstrip("/"), commit)
        return None if found is None else base64.b64decode(found["content"])

    # ------------------------------------------------------------------ status back
    def report_status(self, access: Access, build: Build, url: str | None, description: str | None) -> None:
        self._api(access).create_commit_status(
            self._token(access),
            build.repository,
            build.sha,
            _STATES[build.status],
            target_url=url,
            description=description,
            name=STATUS_NAME,
        )

    def report_check(self, access: Access, check: CommitCheck) -> None:
        """A commit status of its own name (GitLab keeps one per name and ref: shown again, it moves)."""
        self._api(access).create_commit_status(
            self._token(access),
            check.repository,
            check.sha,
            "success" if check.state == "success" else "failed",
            target_url=check.url,
            description=check.title,
            name=check.name,
            ref=check.ref,
        )


def _merge_request(body: Mapping[str, Any]) -> ChangeRequest:
    return ChangeRequest(int(body["iid"]), str(body.get("web_url") or ""), body.get("sha"))
