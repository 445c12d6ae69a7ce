"""GitOps through pull requests (DESIGN.md §2 "GitOps"): a save in pull-request mode, and the check of a pull request
that changes a linked file.

- Pull-request mode (`gitops.write: "pull_request"`): a save commits the file to gitconnect's own branch,
  `gitconnect/<template id>`, and opens a pull request (GitHub, Bitbucket) or merge request (GitLab) from it into the
  linked branch, or updates the one that is open. The template keeps its version: it takes the new one when the change
  reaches the linked branch (merge → push → the usual sync). With nothing open from the branch, the branch starts
  again at the linked branch's head, so each new pull request holds only the latest save.
- Checks: a pull request into a linked branch whose head changes a linked file gets one result on its head commit,
  `gitconnect/template`: success when every changed linked file parses to a JSON object, failure naming the file and
  the parse error (with its line) otherwise. It goes through the status queue like a build's status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gitconnect.domain.errors import ConflictError, GitconnectError, NotFoundError, UnprocessableError
from gitconnect.domain.events import PullRequestEvent
from gitconnect.domain.templates import GitOpsLink, Template, parse_document
from gitconnect.providers.base import (
    Access,
    ChangeRequests,
    CommitAuthor,
    CommitCheck,
    FileChange,
    GitOpsProvider,
)

BRANCH_PREFIX = "gitconnect/"
CHECK_NAME = "gitconnect/template"
CHECKED_ACTIONS = ("opened", "updated", "reopened")  # new commits to check; closed and edits change none


class ProposingProvider(GitOpsProvider, ChangeRequests, Protocol):
    """A provider with GitOps files and pull requests."""


def proposal_branch(template_id: str) -> str:
    """The branch a template's saves are proposed from: predictable, one per template."""
    return f"{BRANCH_PREFIX}{template_id}"


@dataclass(frozen=True)
class Proposal:
    content: bytes
    message: str
    author: CommitAuthor | None
    title: str
    description: str


def propose(
    provider: ProposingProvider, access: Access, link: GitOpsLink, template_id: str, proposal: Proposal
) -> dict[str, Any]:
    """Commit the content to the template's branch and open (or update) the pull request into the linked branch:
    {"number", "url", "branch", "commit_sha", "action": "opened" | "updated"}. A save racing another onto the branch
    is refused by the provider (the file version read), ConflictError."""
    repository, branch = link.repository, proposal_branch(template_id)
    open_now = provider.open_change_request(access, repository, branch, link.branch)
    if open_now is None:
        head = provider.resolve_branch(access, repository, link.branch)
        if head is None:
            raise NotFoundError(f"the branch {link.branch!r} does not exist in {repository}")
        provider.start_branch(access, repository, branch, head)
    found = provider.read_file(access, repository, branch, link.path)
    change = FileChange(
        branch, link.path, proposal.content, proposal.message, None if found is None else found.version, proposal.author
    )
    committed = provider.commit_file(access, repository, change)
    action: Literal["opened", "updated"] = "updated"
    if open_now is None:
        try:
            made = provider.create_change_request(
                access, repository, branch, link.branch, proposal.title, proposal.description
            )
            action = "opened"
        except (UnprocessableError, ConflictError):
            # A save at the same time opened it first (GitHub 422, GitLab 409, Bitbucket 400 for a second one):
            # this commit is on its branch already, so that pull request is this save's too.
            open_now = provider.open_change_request(access, repository, branch, link.branch)
            if open_now is None:
                raise
    if open_now is not None:
        made = provider.update_change_request(
            access, repository, open_now.number, proposal.title, proposal.description
        )
    return {"number": made.number, "url": made.url, "branch": branch, "commit_sha": committed.sha, "action": action}


@dataclass(frozen=True)
class FileVerdict:
    path: str
    error: str | None  # None: the file parses to a JSON object


def check_pull_request(
    provider: ProposingProvider, access: Access, event: PullRequestEvent, linked: Sequence[Template]
) -> CommitCheck | None:
    """The `gitconnect/template` check of a pull request's head, over the files linked on its target branch that it
    changes (the file at the head differs from the file at the target branch's head); None when it changes none.

    Bounded by the templates linked to that repository and branch: two file reads each (head and target), plus one
    head lookup of the target branch."""
    base: str | None = None
    verdicts: list[FileVerdict] = []
    for path in sorted({t.gitops.path for t in linked if t.gitops is not None}):
        ours = provider.file_at(access, event.repository.full_name, event.head_sha, path)
        if base is None:
            base = provider.resolve_branch(access, event.repository.full_name, event.base_ref) or ""
        theirs = provider.file_at(access, event.repository.full_name, base, path) if base else None
        if ours == theirs:
            continue
        verdicts.append(FileVerdict(path, _problem(ours)))
    if not verdicts:
        return None
    failed = [v for v in verdicts if v.error is not None]
    lines = [f"{v.path}: {v.error or 'a valid JSON object'}" for v in verdicts]
    if failed:
        title = f"{failed[0].path}: {failed[0].error}"
    else:
        title = f"{len(verdicts)} linked file(s) valid" if len(verdicts) > 1 else f"{verdicts[0].path} is valid"
    return CommitCheck(
        repository=event.repository.full_name,
        sha=event.head_sha,
        name=CHECK_NAME,
        state="failure" if failed else "success",
        title=title,
        summary="\n".join(lines),
        external_id=CHECK_NAME,
        # GitLab keeps statuses per ref: the source branch, or for a fork the merge request's ref in the target project
        ref=event.fetch_ref if event.from_fork else event.head_ref,
    )


def _problem(raw: bytes | None) -> str | None:
    if raw is None:
        return "the pull request removes the linked file"
    try:
        parse_document(raw)
    except GitconnectError as exc:
        return exc.detail.removeprefix("the file is ")
    return None
