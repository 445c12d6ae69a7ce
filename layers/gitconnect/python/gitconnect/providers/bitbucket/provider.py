"""Bitbucket Cloud as a provider. A connection is an OAuth grant (every workspace the user can reach), an Atlassian
API token with its account's e-mail, or a workspace/repository access token (both scoped to one workspace);
webhooks are repository webhooks gitconnect registers per source, each with its own secret."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from gitconnect.domain.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    RemoteAuthError,
    UnprocessableError,
)
from gitconnect.domain.events import RepoRef, WebhookEvent
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
from gitconnect.providers.bitbucket import oauth as bitbucket_oauth
from gitconnect.providers.bitbucket import webhooks
from gitconnect.providers.bitbucket.api import BitbucketApi, basic_auth

# Build statuses as Bitbucket build states (Bitbucket has no "queued": INPROGRESS until the end).
_STATES = {
    "queued": "INPROGRESS",
    "running": "INPROGRESS",
    "succeeded": "SUCCESSFUL",
    "failed": "FAILED",
    "cancelled": "STOPPED",
}
STATUS_NAME = "gitconnect"


def _without_userinfo(url: str) -> str:
    """Bitbucket's clone links name the user (`https://nick@bitbucket.org/ws/repo.git`); builds must not."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _https_clone(repo: Mapping[str, Any]) -> str:
    for link in (repo.get("links") or {}).get("clone") or ():
        if isinstance(link, Mapping) and link.get("name") == "https":
            return _without_userinfo(str(link.get("href") or ""))
    return ""


class BitbucketProvider(
    Provider,
    Webhooks,
    ReconciledRefs,
    ShortHashes,
    ManagedWebhooks,
    RefreshingCredentials,
    GitOpsFiles,
    ChangeRequests,
    CommitStatuses,
    CommitChecks,
    DefaultBranches,
):
    id: ClassVar[str] = "bitbucket"

    def __init__(self, ports: ProviderPorts) -> None:
        if ports.http is None:
            raise RuntimeError("the Bitbucket provider needs an HTTP client")
        self._http = ports.http
        self._config = ports.config
        self.api = BitbucketApi(self._http, self._config.get("BITBUCKET_API_URL") or "https://api.bitbucket.org")

    @property
    def web_url(self) -> str:
        return (self._config.get("BITBUCKET_WEB_URL") or "https://bitbucket.org").rstrip("/")

    @staticmethod
    def _auth(access: Access) -> str:
        credentials = access.credentials or {}
        token = credentials.get("token")
        if not token:
            raise UnprocessableError("this Bitbucket connection has no credentials: link it again")
        if credentials.get("kind") == "api_token":
            return basic_auth(credentials["username"], token)
        return f"Bearer {token}"

    # ------------------------------------------------------------------ linking
    def link(self, request: Mapping[str, Any]) -> LinkedAccount:
        """Credentials verified before anything is stored: an API token (with the account's e-mail or username)
        must name its account and reach the workspace; an access token must reach its workspace."""
        if request.get("access_token"):
            token = str(request["access_token"])
            workspace = self._access_token_workspace(f"Bearer {token}", request.get("workspace"))
            credentials = {"kind": "access_token", "token": token, "workspace": workspace}
            account = workspace
        else:
            username, token, workspace = str(request["username"]), str(request["api_token"]), str(request["workspace"])
            auth = basic_auth(username, token)
            user = self.api.current_user(auth)
            self._check_workspace(auth, workspace)
            credentials = {"kind": "api_token", "username": username, "token": token, "workspace": workspace}
            account = str(user.get("nickname") or user.get("display_name") or username)
        return LinkedAccount(
            name=request.get("name") or f"{account}@{workspace}",
            account=account,
            base_url=self.web_url,
            credentials=credentials,
            details={"workspace": workspace},
        )

    def _access_token_workspace(self, auth: str, workspace: str | None) -> str:
        """An access token belongs to one workspace; Bitbucket does not say which to the token itself (it may not
        list workspaces), so the request names it unless the token happens to be allowed to list them."""
        if workspace:
            self._check_workspace(auth, workspace)
            return workspace
        try:
            found = self.api.workspaces(auth)
        except RemoteAuthError:
            found = []
        if len(found) != 1:
            raise BadRequestError("name the `workspace` this Bitbucket access token belongs to")
        return found[0]

    def _check_workspace(self, auth: str, workspace: str) -> None:
        try:
            self.api.repositories(auth, workspace, first_page_only=True)
        except NotFoundError:
            raise UnprocessableError(
                f"the workspace {workspace!r} does not exist or these credentials cannot reach it"
            ) from None

    def refresh_credentials(self, access: Access) -> dict[str, str]:
        """A new token pair for an OAuth connection (the old pair stops working: callers serialize this)."""
        credentials = dict(access.credentials or {})
        tokens = bitbucket_oauth.refresh(
            self._http,
            self.web_url,
            self._config.get("BITBUCKET_CLIENT_ID", ""),
            self._config.get("BITBUCKET_CLIENT_SECRET", ""),
            credentials["refresh_token"],
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
    def _workspaces(self, access: Access) -> list[str]:
        workspace = (access.credentials or {}).get("workspace")
        return [workspace] if workspace else self.api.workspaces(self._auth(access))

    def repository(self, access: Access, requested: str | None) -> RepositoryRef:
        if not requested:
            raise BadRequestError("a Bitbucket source needs `repository` (workspace/repository)")
        repo = self.api.repository(self._auth(access), requested)
        return RepositoryRef(str(repo["full_name"]), _https_clone(repo), str(repo["uuid"]))

    def repositories(self, access: Access) -> list[Repository]:
        auth = self._auth(access)
        found = []
        for workspace in self._workspaces(access):
            for repo in self.api.repositories(auth, workspace):
                full_name = str(repo["full_name"])
                found.append(
                    Repository(
                        id=str(repo["uuid"]),
                        full_name=full_name,
                        namespace=full_name.partition("/")[0],
                        default_branch=(repo.get("mainbranch") or {}).get("name"),
                        private=repo.get("is_private"),
                        clone_url=_https_clone(repo),
                        web_url=((repo.get("links") or {}).get("html") or {}).get("href"),
                    )
                )
        return found

    def namespaces(self, access: Access) -> list[str]:
        return sorted(self._workspaces(access))

    def branches(self, access: Access, repository: str) -> list[Branch]:
        return [Branch(n, sha) for n, sha in self.api.branches(self._auth(access), repository)]

    def listed_refs(
        self, access: Access, repository: str, *, tags: bool, validators: Mapping[str, Sequence[str]]
    ) -> RefListing:
        """`GET …/refs/branches`, or `GET …/refs` (branches and tags in one list) when tags are asked for, pages of 100
        (`pagelen`); Bitbucket documents no conditional request: every page is a call."""
        triples, calls = self.api.named_commits(self._auth(access), repository, "refs" if tags else "branches")
        branches = {name: sha for kind, name, sha in triples if kind == "branch"}
        listed_tags = {name: sha for kind, name, sha in triples if kind == "tag"} if tags else None
        return RefListing(branches, listed_tags, {}, False, calls)

    def resolve_branch(self, access: Access, repository: str, branch: str) -> str | None:
        return self.api.branch_head(self._auth(access), repository, branch)

    # ------------------------------------------------------------------ webhooks
    def normalize(self, event: str, payload: Mapping[str, Any]) -> WebhookEvent | tuple[WebhookEvent, ...]:
        return webhooks.normalize(event, payload)

    def changed_files(self, access: Access, repo: RepoRef, before: str | None, after: str) -> list[str] | None:
        """Bitbucket's push payloads list no files: the diffstat between the ref's old and new commit."""
        if before is None:
            return None
        return self.api.diffstat_files(self._auth(access), repo.full_name, after, before)

    def tag_commit(self, access: Access, repo: RepoRef, tag: str) -> str | None:
        return None  # a tag's push change carries its commit

    def full_commit(self, access: Access, repo: RepoRef, sha: str) -> str | None:
        """Pull request payloads name commits by short hashes; builds need the full one."""
        return self.api.commit(self._auth(access), repo.full_name, sha)

    def default_branch(self, access: Access, repo: RepoRef) -> str | None:
        """The repository's `mainbranch` (null for an empty repository)."""
        main = self.api.repository(self._auth(access), repo.full_name).get("mainbranch") or {}
        name = main.get("name") if isinstance(main, dict) else None
        return name if isinstance(name, str) and name else None

    def create_webhook(self, access: Access, repo: RepoRef, url: str, secret: str) -> str:
        return self.api.create_hook(self._auth(access), repo.full_name, url, secret, webhooks.HOOK_EVENTS)

    def update_webhook(self, access: Access, repo: RepoRef, hook_id: str, url: str, secret: str) -> bool:
        return self.api.update_hook(self._auth(access), repo.full_name, hook_id, url, secret, webhooks.HOOK_EVENTS)

    def webhook_health(self, access: Access, repo: RepoRef, hook_id: str) -> str:
        """ "ok", "disabled" (made inactive on Bitbucket) or "missing" (deleted there)."""
        hook = self.api.hook(self._auth(access), repo.full_name, hook_id)
        if hook is None:
            return "missing"
        return "ok" if hook.get("active", True) else "disabled"

    def delete_webhook(self, access: Access, repo: RepoRef, hook_id: str) -> bool:
        return self.api.delete_hook(self._auth(access), repo.full_name, hook_id)

    # ------------------------------------------------------------------ GitOps files
    def _head(self, access: Access, repository: str, branch: str) -> str:
        head = self.resolve_branch(access, repository, branch)
        if head is None:
            raise NotFoundError(f"the branch {branch!r} does not exist in {repository}")
        return head

    def read_file(self, access: Access, repository: str, branch: str, path: str) -> RepoFile | None:
        """The file at the branch's head; its version is that head commit (Bitbucket's `parents` check is on the
        branch tip, so any commit to the branch since the read makes the next write a conflict)."""
        head = self._head(access, repository, branch)
        content = self.api.file(self._auth(access), repository, head, path)
        return None if content is None else RepoFile(path.lstrip("/"), content, head)

    def commit_file(self, access: Access, repository: str, change: FileChange) -> Committed:
        """One commit on `branch` whose parent must still be its tip: the version read (update), or the head at
        which the file was found absent (create)."""
        branch, path, parent = change.branch, change.path, change.expected
        if parent is None:
            parent = self._head(access, repository, branch)
            if self.api.file(self._auth(access), repository, parent, path) is not None:
                raise ConflictError(change.refusal())
        auth = self._auth(access)
        sha = self.api.commit_file(
            auth, repository, branch, path, change.content, change.message, parent, change.author
        )
        if sha is None:
            raise ConflictError(f"{branch} of {repository} changed since {path} was read")
        return Committed(sha, sha)  # the branch tip the next commit names in `parents`

    # ------------------------------------------------------------------ pull requests (GitOps pull-request mode)
    def start_branch(self, access: Access, repository: str, branch: str, sha: str) -> None:
        """Created at `sha`; one that exists is deleted first (Bitbucket has no call that moves a branch)."""
        auth = self._auth(access)
        if not self.api.create_branch(auth, repository, branch, sha):
            self.api.delete_branch(auth, repository, branch)
            if not self.api.create_branch(auth, repository, branch, sha):
                raise ConflictError(f"the branch {branch!r} of {repository} came back while it was moved")

    def open_change_request(self, access: Access, repository: str, head: str, base: str) -> ChangeRequest | None:
        found = self.api.open_pull_requests(self._auth(access), repository, head, base)
        return _pull_request(found[0]) if found else None

    def create_change_request(
        self, access: Access, repository: str, head: str, base: str, title: str, description: str
    ) -> ChangeRequest:
        auth = self._auth(access)
        return _pull_request(self.api.create_pull_request(auth, repository, head, base, title, description))

    def update_change_request(
        self, access: Access, repository: str, number: int, title: str, description: str
    ) -> ChangeRequest:
        auth = self._auth(access)
        return _pull_request(self.api.update_pull_request(auth, repository, number, title, description))

    def file_at(self, access: Access, repository: str, commit: str, path: str) -> bytes | None:
        """The `src` endpoint at the commit (a pull request from a fork has its commits in the fork only)."""
        return self.api.file(self._auth(access), repository, commit, path)

    # ------------------------------------------------------------------ status back
    def report_status(self, access: Access, build: Build, url: str | None, description: str | None) -> None:
        public = (self._config.get("GITCONNECT_PUBLIC_URL") or "").rstrip("/")
        self.api.create_build_status(
            self._auth(access),
            build.repository,
            build.sha,
            # One status per source on a commit, updated in place (`gitconnect-<source id without src_>`).
            key=f"{STATUS_NAME}-{build.source_id.removeprefix('src_')}",
            state=_STATES[build.status],
            url=url or f"{public}/v1/teams/{build.team_id}/builds/{build.id}",  # Bitbucket requires a link
            name=STATUS_NAME,
            description=description,
        )

    def report_check(self, access: Access, check: CommitCheck) -> None:
        """A build status of its own key (one per key and commit, updated in place)."""
        public = (self._config.get("GITCONNECT_PUBLIC_URL") or "").rstrip("/")
        self.api.create_build_status(
            self._auth(access),
            check.repository,
            check.sha,
            key=check.name.replace("/", "-"),  # `gitconnect-template`
            state="SUCCESSFUL" if check.state == "success" else "FAILED",
            url=check.url or f"{public}/v1/docs",  # Bitbucket requires a link
            name=check.name,
            description=check.title,
        )


def _pull_request(body: Mapping[str, Any]) -> ChangeRequest:
    html = ((body.get("links") or {}).get("html") or {}).get("href")
    commit = ((body.get("source") or {}).get("commit") or {}).get("hash")
    return ChangeRequest(int(body["id"]), str(html or ""), commit)
