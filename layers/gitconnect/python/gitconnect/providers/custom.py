"""Custom Git: any http(s) Git remote, optionally with credentials. No API: no browsing, no webhooks.

The connection is one remote; its branches come from `ls-remote`, and the scheduled sync polls the heads. GitOps files
are read and committed with Git itself (a shallow fetch of the branch, a push of one commit on top of the head read).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from gitconnect.domain.errors import BadRequestError, ConflictError, NotFoundError, UnprocessableError
from gitconnect.domain.urls import check_remote_url
from gitconnect.providers.base import (
    GITCONNECT,
    Access,
    Branch,
    Committed,
    DefaultBranches,
    FileChange,
    GitCredentials,
    GitOpsFiles,
    LinkedAccount,
    PolledChanges,
    Provider,
    ProviderPorts,
    PushFacts,
    RemoteRefs,
    RepoFile,
    Repository,
    RepositoryRef,
)

if TYPE_CHECKING:
    from gitconnect.domain.events import RepoRef

_HEADS, _TAGS = "refs/heads/", "refs/tags/"
# A poll reads a moved head's commit (and the previous head's, for path rules) from one depth-1 fetch of at most
# this many bytes; a larger push builds with "changed files unknown". Servers that allow partial clone filters
# (GitHub, GitLab, Gitea, ...) send commits and trees only, so this is reached by huge trees alone.
INSPECT_MAX_BYTES = 8 * 1024 * 1024
_DEFAULT_USERNAME = "git"  # servers that authenticate by token ignore the user name (GitHub, GitLab, Gitea...)


def credentials_from_request(raw: dict[str, Any] | None) -> dict[str, str] | None:
    if raw is None:
        return None
    secret = raw.get("token") or raw.get("password")
    if not secret:
        raise BadRequestError("credentials need a `token` or a `password`")
    if raw.get("token") and raw.get("password"):
        raise BadRequestError("give either a `token` or a `password`, not both")
    return {"username": str(raw.get("username") or _DEFAULT_USERNAME), "secret": str(secret)}


def _git_credentials(credentials: dict[str, str] | None) -> GitCredentials | None:
    if not credentials:
        return None
    return GitCredentials(username=credentials["username"], secret=credentials["secret"])


def repository_name(url: str) -> str:
    """`https://git.example.com/team/app.git` -> `team/app`, a readable name for the remote."""
    path = urlsplit(url).path.strip("/")
    return path.removesuffix(".git") or urlsplit(url).hostname or url


def _remote(base_url: str | None) -> str:
    if not base_url:  # a Custom Git connection is always exactly one remote
        raise UnprocessableError("this connection has no remote URL")
    return base_url


class CustomGitProvider(Provider, GitOpsFiles, DefaultBranches, PolledChanges):
    id: ClassVar[str] = "custom"

    def __init__(self, ports: ProviderPorts) -> None:
        self._git = ports.git

    def link(self, request: dict[str, Any]) -> LinkedAccount:
        url = check_remote_url(request.get("url") or "")
        credentials = credentials_from_request(request.get("credentials"))
        # Reaching the remote before storing anything: a typo or a wrong token fails the link, not the first build.
        self._git.ls_remote(url, _git_credentials(credentials))
        return LinkedAccount(
            name=request.get("name") or repository_name(url),
            account=credentials["username"] if credentials else None,
            base_url=url,
            credentials=credentials,
        )

    def repository(self, access: Access, requested: str | None) -> RepositoryRef:
        base_url = _remote(access.base_url)
        if requested not in (None, "", repository_name(base_url), base_url):
            raise BadRequestError("a Custom Git connection is one repository: leave `repository` out")
        return RepositoryRef(repository=repository_name(base_url), clone_url=base_url)

    def repositories(self, access: Access) -> list[Repository]:
        """A Custom Git connection is exactly one remote: that is all there is to browse."""
        ref = self.repository(access, None)
        return [Repository(ref.repository, ref.repository, None, None, None, ref.clone_url, None)]

    def namespaces(self, access: Access) -> list[str]:
        raise UnprocessableError("a Custom Git connection has no namespaces")

    def branches(self, access: Access, repository: str) -> list[Branch]:
        refs = self._git.ls_remote(_remote(access.base_url), _git_credentials(access.credentials))
        return sorted(
            (Branch(name=ref[len(_HEADS) :], sha=sha) for ref, sha in refs.items() if ref.startswith(_HEADS)),
            key=lambda b: b.name,
        )

    def resolve_branch(self, access: Access, repository: str, branch: str) -> str | None:
        heads = {b.name: b.sha for b in self.branches(access, repository)}
        return heads.get(branch)

    def default_branch(self, access: Access, repo: RepoRef) -> str | None:
        """The remote's HEAD (the branch a clone checks out)."""
        return self._git.head_branch(_remote(access.base_url), _git_credentials(access.credentials))

    # ------------------------------------------------------------------ polling
    def refs(self, access: Access) -> RemoteRefs:
        refs = self._git.ls_remote(_remote(access.base_url), _git_credentials(access.credentials))
        return RemoteRefs(
            branches={ref[len(_HEADS) :]: sha for ref, sha in refs.items() if ref.startswith(_HEADS)},
            tags={ref[len(_TAGS) :]: sha for ref, sha in refs.items() if ref.startswith(_TAGS)},
        )

    def push_facts(self, access: Access, before: str | None, after: str, *, files: bool) -> PushFacts:
        url, credentials = _remote(access.base_url), _git_credentials(access.credentials)
        return self._git.inspect_push(url, credentials, before, after, files=files, max_bytes=INSPECT_MAX_BYTES)

    # ------------------------------------------------------------------ GitOps files
    def read_file(self, access: Access, repository: str, branch: str, path: str) -> RepoFile | None:
        """The file at the branch's head; its version is that head (the next commit must sit right on top of it)."""
        found = self._git.read_file(_remote(access.base_url), _git_credentials(access.credentials), branch, path)
        if found is None:
            raise NotFoundError(f"the branch {branch!r} does not exist in {repository}")
        head, content, author = found
        return None if content is None else RepoFile(path.lstrip("/"), content, head, author)

    def commit_file(self, access: Access, repository: str, change: FileChange) -> Committed:
        """One commit pushed only as a fast-forward of the version read (update) or of the head at which the file
        was found absent (create); a branch that moved since is a ConflictError, decided by the push itself."""
        url, credentials = _remote(access.base_url), _git_credentials(access.credentials)
        branch, path, parent = change.branch, change.path, change.expected
        if parent is None:
            found = self._git.read_file(url, credentials, branch, path)
            if found is None:
                raise NotFoundError(f"the branch {branch!r} does not exist in {repository}")
            parent, existing, _ = found
            if existing is not None:
                raise ConflictError(change.refusal())
        author = (change.author or GITCONNECT).line  # gitconnect commits; the user who saved authors
        sha = self._git.commit_file(url, credentials, change, author, GITCONNECT.line, parent)
        if sha is None:
            raise ConflictError(f"{branch} of {repository} changed since {path} was read")
        return Committed(sha, sha)  # the head the next push must fast-forward
