"""Git remotes through dulwich (pure Python, runs inside Lambda), over the SSRF-guarded connection pool.

Files (GitOps) are read from a shallow fetch (depth 1) of one branch into memory, and committed by pushing one new
commit on top of the head that was read: dulwich advertises the remote's refs first, and the push is only sent when
the branch still points at that head (the server then updates it only from that value), so a branch that moved
since the read is a conflict, never an overwrite.

A poll inspects a moved head with one depth-1 fetch of the new head (and the previous one, for path rules), asking
for a partial clone (no blobs; no trees when only the message is needed) where the server allows it, and stopping
once the pack passes a byte cap: the changed files are the difference of the two trees.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from contextlib import contextmanager

import urllib3
from dulwich.client import HttpGitClient, HTTPUnauthorized
from dulwich.diff_tree import tree_changes
from dulwich.errors import GitProtocolError, NotGitRepository
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.pack import UnpackedObject
from dulwich.refs import Ref
from dulwich.repo import MemoryRepo

from gitconnect.domain.errors import GitconnectError, RemoteAuthError, RemoteUnreachableError, UnprocessableError
from gitconnect.domain.urls import check_remote_url
from gitconnect.providers.base import FileChange, GitCredentials, PushFacts

_FILE_MODE = 0o100644
_TREE_MODE = 0o040000
_PEELED = b"^{}"


class _PackTooLarge(Exception):
    """Raised from the pack callback to stop reading a pack past its byte cap."""


@contextmanager
def _remote_errors() -> Iterator[None]:
    """dulwich's and urllib3's failures as domain errors."""
    try:
        yield
    except GitconnectError:
        raise
    except HTTPUnauthorized as exc:
        raise RemoteAuthError("the remote asked for credentials, or refused the ones given") from exc
    except NotGitRepository as exc:
        raise RemoteUnreachableError("there is no Git repository at this URL") from exc
    except GitProtocolError as exc:
        if isinstance(exc.__cause__, urllib3.exceptions.HTTPError):  # dulwich wraps transport errors
            raise RemoteUnreachableError(f"the remote could not be reached: {_why(exc.__cause__)}") from exc
        raise RemoteUnreachableError(f"the remote did not answer as a Git server: {_short(exc)}") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise RemoteUnreachableError(f"the remote could not be reached: {_why(exc)}") from exc


class DulwichGitRemote:
    def __init__(self, pool_manager_factory: Callable[[], urllib3.PoolManager]) -> None:
        self._pool_manager_factory = pool_manager_factory

    def _client(self, url: str, credentials: GitCredentials | None) -> HttpGitClient:
        url = check_remote_url(url)
        return HttpGitClient(
            url,
            pool_manager=self._pool_manager_factory(),
            username=credentials.username if credentials else None,
            password=credentials.secret if credentials else None,
        )

    def ls_remote(self, url: str, credentials: GitCredentials | None) -> dict[str, str]:
        """Every ref the remote advertises (name -> sha), an annotated tag as the commit it peels to (`<tag>^{}`);
        HEAD symref targets are not followed."""
        client = self._client(url, credentials)
        with _remote_errors():
            result = client.get_refs(b"")
        refs = {name: sha for name, sha in result.refs.items() if sha is not None}
        peeled = {name[: -len(_PEELED)]: sha for name, sha in refs.items() if name.endswith(_PEELED)}
        return {
            name.decode("utf-8", "replace"): peeled.get(name, sha).decode("ascii")
            for name, sha in refs.items()
            if not name.endswith(_PEELED)
        }

    def head_branch(self, url: str, credentials: GitCredentials | None) -> str | None:
        """The branch HEAD's symref names (`symref=HEAD:refs/heads/main` in the advertisement), None without one."""
        client = self._client(url, credentials)
        with _remote_errors():
            result = client.get_refs(b"")
        target = bytes(result.symrefs.get(Ref(b"HEAD")) or b"")
        heads = b"refs/heads/"
        return target[len(heads) :].decode("utf-8", "replace") if target.startswith(heads) else None

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
        wanted = [after, before] if files and before else [after]
        received = bytearray()

        def wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
            return [ObjectID(sha.encode("ascii")) for sha in wanted]

        def pack_data(chunk: bytes) -> int:
            if len(received) + len(chunk) > max_bytes:
                raise _PackTooLarge
            received.extend(chunk)
            return len(chunk)

        client = self._client(url, credentials)
        repo = MemoryRepo()
        # blob:none / tree:0 are partial clone filters: dulwich sends them only to servers that allow them (else
        # the whole snapshot comes, within the cap).
        spec = b"blob:none" if len(wanted) == 2 else b"tree:0"
        try:
            with _remote_errors():
                client.fetch_pack(b"", wants, repo.get_graph_walker(), pack_data, depth=1, filter_spec=spec)
        except _PackTooLarge:
            return PushFacts(None, None, f"more than {max_bytes} bytes to inspect")
        if received:
            pack, commit, abort = repo.object_store.add_pack()
            try:
                pack.write(received)
            except BaseException:
                abort()
                raise
            try:
                commit()
            except Exception as exc:  # dulwich's checksum and delta errors: the bytes received are no valid pack
                raise RemoteUnreachableError("the remote sent a pack that could not be read") from exc
        head = _commit(repo, after)
        if head is None:
            return PushFacts(None, None, f"the remote did not send the commit {after}")
        message = head.message.decode("utf-8", "replace")
        if not files:
            return PushFacts(message, None)
        if before is None:
            return PushFacts(message, None, "a new branch: no previous head to compare with")
        previous = _commit(repo, before)
        if previous is None:
            return PushFacts(message, None, f"the remote did not send the previous head {before}")
        changes = tree_changes(repo.object_store, previous.tree, head.tree)
        entries = [entry for change in changes for entry in (change.old, change.new) if entry is not None]
        paths = {entry.path for entry in entries if entry.path is not None}
        return PushFacts(message, tuple(sorted(p.decode("utf-8", "replace") for p in paths)))

    def _fetch_head(self, client: HttpGitClient, branch: str) -> tuple[MemoryRepo, ObjectID] | None:
        """The branch's head commit (and its tree) in memory, or None when there is no such branch."""
        ref = Ref(f"refs/heads/{branch}".encode())
        repo = MemoryRepo()
        found: list[ObjectID] = []

        def wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
            if refs.get(ref):
                found.append(refs[ref])
            return found[:1]

        with _remote_errors():
            client.fetch(b"", repo, determine_wants=wants, depth=1)
        return (repo, found[0]) if found else None

    def read_file(
        self, url: str, credentials: GitCredentials | None, branch: str, path: str
    ) -> tuple[str, bytes | None, str] | None:
        """(the branch's head sha, the file's bytes or None when the path holds no file, the head commit's author);
        None when the branch does not exist."""
        fetched = self._fetch_head(self._client(url, credentials), branch)
        if fetched is None:
            return None
        repo, head = fetched
        commit = repo[head]
        if not isinstance(commit, Commit):  # a branch always names a commit; anything else is a broken remote
            raise RemoteUnreachableError(f"the head of {branch} is not a commit")
        blob = _lookup(repo, commit.tree, _parts(path))
        author = commit.author.decode("utf-8", "replace")
        return head.decode("ascii"), None if blob is None else blob.data, author

    def commit_file(
        self,
        url: str,
        credentials: GitCredentials | None,
        change: FileChange,
        author: str,
        committer: str,
        parent: str,
    ) -> str | None:
        """Push one commit writing `change.path` on top of `parent`; the new sha, or None when the branch no longer
        points at `parent` (someone pushed since: nothing is overwritten)."""
        client = self._client(url, credentials)
        fetched = self._fetch_head(client, change.branch)
        if fetched is None:
            return None
        repo, head = fetched
        if head.decode("ascii") != parent:
            return None
        blob = Blob.from_string(change.content)
        repo.object_store.add_object(blob)
        head_commit = repo[head]
        if not isinstance(head_commit, Commit):
            raise RemoteUnreachableError(f"the head of {change.branch} is not a commit")
        commit = Commit()
        commit.tree = _with_file(repo, head_commit.tree, _parts(change.path), blob.id)
        commit.parents = [head]
        commit.author, commit.committer = author.encode(), committer.encode()
        commit.author_time = commit.commit_time = int(time.time())
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = change.message.encode()
        repo.object_store.add_object(commit)
        ref = Ref(f"refs/heads/{change.branch}".encode())
        moved: list[bool] = []

        def update_refs(refs: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
            if refs.get(ref) != head:  # pushed since our fetch: send nothing
                moved.append(True)
                return {}
            return {ref: commit.id}

        def pack_data(
            have: AbstractSet[ObjectID],
            want: AbstractSet[ObjectID],
            *,
            ofs_delta: bool = False,
            progress: Callable[[bytes], None] | None = None,
        ) -> tuple[int, Iterator[UnpackedObject]]:
            # Only the new commit and its new trees and blob: the fetch was shallow, so the head's ancestors are
            # not here and must not be walked.
            return repo.object_store.generate_pack_data(
                [head], [commit.id], shallow={head}, ofs_delta=ofs_delta, progress=progress
            )

        with _remote_errors():
            result = client.send_pack(b"", update_refs, pack_data)
        if moved:
            return None
        error = (result.ref_status or {}).get(ref)
        if error is not None:  # dulwich reports a refused update here instead of raising
            if any(word in error for word in ("non-fast-forward", "stale", "fetch first", "lock")):
                return None
            raise UnprocessableError(f"the remote refused the commit to {change.branch}: {error}")
        return commit.id.decode("ascii")


def _commit(repo: MemoryRepo, sha: str) -> Commit | None:
    key = ObjectID(sha.encode("ascii"))
    if key not in repo.object_store:
        return None
    found = repo.object_store[key]
    return found if isinstance(found, Commit) else None


def _parts(path: str) -> list[bytes]:
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise UnprocessableError(f"{path!r} is not a file path inside the repository")
    return [p.encode() for p in parts]


def _lookup(repo: MemoryRepo, tree_id: ObjectID, parts: list[bytes]) -> Blob | None:
    tree = repo[tree_id]
    for i, name in enumerate(parts):
        if not isinstance(tree, Tree) or name not in tree:
            return None
        _, sha = tree[name]
        obj = repo[sha]
        if i == len(parts) - 1:
            return obj if isinstance(obj, Blob) else None
        tree = obj
    return None


def _with_file(repo: MemoryRepo, tree_id: ObjectID | None, parts: list[bytes], blob_id: ObjectID) -> ObjectID:
    """The id of a tree like `tree_id` with the blob at `parts` (subtrees created or rewritten as needed)."""
    tree = Tree()
    existing_tree = repo[tree_id] if tree_id is not None else None
    if isinstance(existing_tree, Tree):
        for item in existing_tree.items():
            tree.add(item.path, item.mode, item.sha)
    name = parts[0]
    if len(parts) == 1:
        tree.add(name, _FILE_MODE, blob_id)
    else:
        existing = tree[name][1] if name in tree and tree[name][0] == _TREE_MODE else None
        tree.add(name, _TREE_MODE, _with_file(repo, existing, parts[1:], blob_id))
    repo.object_store.add_object(tree)
    return tree.id


def _why(exc: BaseException) -> str:
    """A short reason for a transport failure, without urllib3's internal pool descriptions."""
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).lower()
    for needle, why in (
        ("refused", "connection refused"),
        ("timed out", "timed out"),
        ("ssl", "TLS failed"),
        ("certificate", "TLS certificate not trusted"),
        ("reset", "connection reset"),
    ):
        if needle in text:
            return why
    return reason.__class__.__name__


def _short(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if len(text) <= 200 else text[:200] + "..."
