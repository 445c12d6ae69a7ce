"""GitLab's REST API v4, the calls gitconnect makes: its endpoints over the shared REST core (`providers.rest`: the
injected `HttpClient`, no I/O of its own). GitLab's documentation (docs.gitlab.com/api) is the reference.

- The API lives under `{base_url}/api/v4` (a self-managed instance may sit under a sub-path: base_url
  `https://host/gitlab`). Every request carries `Authorization: Bearer <token>`, which GitLab accepts for OAuth
  access tokens and for personal, group and project access tokens alike.
- Project ids are numbers or URL-encoded full paths (`group%2Fsub%2Fproject`); branch names are URL-encoded too.
- Lists are read to the end: offset pagination follows `X-Next-Page` (empty on the last page); where GitLab only
  sends `Link` (keyset pagination, or a proxy that drops the X- headers), rel="next" is followed by reusing its query
  on our own URL, so the token never goes to a host GitLab's configured `external_url` names. Bounded by max_pages.
- Errors: GitLab's bodies are `{"message": ...}` (a string, or a field → messages object for validation errors),
  `{"error": ...}` for parameter errors, or OAuth's `{"error", "error_description"}` (expired or revoked tokens,
  insufficient scope; the code goes into the error's `extra`). The statuses map as for every provider
  (`providers.rest`): 400 (bad parameters) and 422 → UnprocessableError, 409 → ConflictError, 404 → None or
  NotFoundError as each method says, 429 (GitLab sends Retry-After and RateLimit-Reset) → RateLimitedError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitconnect.domain.errors import ProtectedBranchError, RemoteUnreachableError, UnprocessableError
from gitconnect.providers.base import CommitAuthor, HttpClient, HttpResponse
from gitconnect.providers.rest import (
    MAX_PAGES,
    USER_AGENT,
    Dialect,
    NextPageHeader,
    RestClient,
    bounded,
    json_or_none,
    next_link,
    next_page,
    segment,
    without_none,
)

__all__ = [
    "USER_AGENT",
    "GitLabApi",
    "HookEvents",
    "gitlab_message",
    "next_link",
    "next_page",
    "raise_for_status",
    "segment",
]

API_PREFIX = "/api/v4"
PER_PAGE = 100  # GitLab's maximum
STATUS_STATES = frozenset({"pending", "running", "success", "failed", "canceled", "skipped"})
HOOK_TEST_TRIGGERS = frozenset(
    {
        "push_events",
        "tag_push_events",
        "issues_events",
        "confidential_issues_events",
        "note_events",
        "merge_requests_events",
        "job_events",
        "pipeline_events",
        "wiki_page_events",
        "releases_events",
        "emoji_events",
        "resource_access_token_events",
    }
)
HOOK_NAME = "gitconnect"
_TRANSITION_REFUSED = "Cannot transition status"
_PROTECTED = "not allowed to push into this branch"  # GitLab's 403 for a protected branch
_COMMIT_REFUSED = ("has changed since", "already exists", "doesn't exist")  # GitLab's 400s for a stale commit


@dataclass(frozen=True)
class HookEvents:
    """Which events a project hook sends (GitLab's `*_events` flags); gitconnect's hooks send all four."""

    push: bool = True
    tag_push: bool = True
    merge_requests: bool = True
    releases: bool = True


ALL_HOOK_EVENTS = HookEvents()


def gitlab_message(response: HttpResponse) -> str:
    """GitLab's error text (bounded), or the status when the body says nothing usable."""
    body = json_or_none(response)
    text = ""
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str):
            text = message
        elif isinstance(message, dict):  # validation errors: {"url": ["is blocked: ..."], ...}
            text = "; ".join(
                f"{field} {', '.join(map(str, v)) if isinstance(v, list) else v}" for field, v in message.items()
            )
        elif isinstance(message, list):
            text = "; ".join(map(str, message))
        if not text.strip():
            description, error = body.get("error_description"), body.get("error")
            text = description if isinstance(description, str) and description.strip() else str(error or "")
    return bounded(text, response)


def _error_code(response: HttpResponse) -> dict[str, object]:
    """The OAuth error code of a refusal (`invalid_token`, `insufficient_scope`), for the error's `extra`."""
    body = json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    return {"error": error} if isinstance(error, str) and "_" in error else {}


GITLAB = Dialect("GitLab", gitlab_message, NextPageHeader(per_page=PER_PAGE), auth_extra=_error_code)
raise_for_status = GITLAB.raise_for_status


def _project_missing(response: HttpResponse) -> bool:
    """GitLab's 404 for the project itself (as opposed to a branch, ref or hook inside it)."""
    return response.status == 404 and "project not found" in gitlab_message(response).lower()


def _absent_inside_project(response: HttpResponse) -> bool:
    """Quirk: a 404 for something inside a project that exists (GitLab's 404 body says which is missing)."""
    return response.status == 404 and not _project_missing(response)


class GitLabApi:
    """The REST calls, each taking the token it is made with (OAuth access token or a personal/group/project
    access token)."""

    def __init__(self, http: HttpClient, base_url: str = "https://gitlab.com", *, max_pages: int = MAX_PAGES):
        self.base_url = base_url.rstrip("/")
        self._rest = RestClient(http, self.base_url + API_PREFIX, GITLAB, max_pages=max_pages)
        self.api_url = self._rest.api_url

    def _pages(self, path: str, token: str, what: str, params: Mapping[str, str | int] | None = None) -> list[Any]:
        """Every item of a paginated list (X-Next-Page, else Link rel="next"), bounded by max_pages."""
        return self._rest.pages(path, token, what, params=params)

    # -- the instance and the account ---------------------------------------------------------------------------

    def version(self, token: str | None) -> dict[str, Any]:
        """GET /api/v4/version: `{"version", "revision", ...}` — proof that base_url is a GitLab.

        Without a token GitLab answers 401 with its JSON error, which is proof enough: `{"version": None}`. A server
        that is not a GitLab (no such route, HTML, another JSON) raises UnprocessableError."""
        response = self._rest.call("GET", "/version", token)
        body = json_or_none(response)
        if response.status == 200 and isinstance(body, dict) and isinstance(body.get("version"), str):
            return body
        gitlab_error = isinstance(body, dict) and (
            str(body.get("message", "")).startswith(("401", "403")) or isinstance(body.get("error"), str)
        )
        if response.status in (401, 403) and gitlab_error:
            if token is None and response.status == 401:
                return {"version": None, "revision": None}
            self._rest.check(response, "the GitLab version")
        if response.status >= 500:
            raise RemoteUnreachableError(f"{self.base_url} failed to answer (HTTP {response.status})")
        raise UnprocessableError(f"{self.base_url} is not a GitLab (no /api/v4/version)")

    def current_user(self, token: str) -> dict[str, Any]:
        """GET /user: the token's user (`username`; project and group tokens have a bot user, `bot: true`)."""
        result: dict[str, Any] = self._rest.request("GET", "/user", token, "the token's user")
        return result

    def namespaces(self, token: str) -> list[dict[str, Any]]:
        """GET /namespaces (all pages): the user's own namespace and its groups (`kind`, `full_path`)."""
        return self._pages("/namespaces", token, "the namespaces")

    # -- projects and branches ------------------------------------------------------------------------------------

    def projects(self, token: str, search: str | None = None, *, simple: bool = True) -> list[dict[str, Any]]:
        """GET /projects?membership=true (all pages, by path): the projects the token's user is a member of.

        `simple=true` is GitLab's light representation: it has no `visibility` (nor `archived`); pass
        simple=False where those matter."""
        params: dict[str, str | int] = {
            "membership": "true",
            "simple": "true" if simple else "false",
            "order_by": "path",
            "sort": "asc",
        }
        if search:
            params["search"] = search
        return self._pages("/projects", token, "the projects", params)

    def project(self, token: str, id_or_path: str | int) -> dict[str, Any]:
        """GET /projects/:id (id, or full path such as `group/sub/project`). NotFoundError when the token cannot
        see it (GitLab does not say whether it exists)."""
        what = f"GitLab project {id_or_path}"
        result: dict[str, Any] = self._rest.request(
            "GET", f"/projects/{segment(id_or_path)}", token, what, not_found=f"{what} not found or not accessible"
        )
        return result

    def branches(self, token: str, project_id: str | int) -> list[tuple[str, str]]:
        """GET /projects/:id/repository/branches (all pages): (name, head sha) pairs."""
        what = f"the branches of GitLab project {project_id}"
        items = self._pages(f"/projects/{segment(project_id)}/repository/branches", token, what)
        return [(item["name"], item["commit"]["id"]) for item in items]

    def named_commits(self, token: str, project_id: str | int, listing: str) -> tuple[list[tuple[str, str]], int]:
        """GET /projects/:id/repository/branches or …/tags (`listing`), every page: (name, commit) pairs and the
        pages read. A tag's `commit.id` is the commit an annotated tag points at."""
        what = f"the {listing} of GitLab project {project_id}"
        pairs: list[tuple[str, str]] = []
        pages = 0
        for page in self._rest.each_page(f"/projects/{segment(project_id)}/repository/{listing}", token, what):
            pages += 1
            pairs.extend((str(item["name"]), str(item["commit"]["id"])) for item in page)
        return pairs, pages

    def branch_head(self, token: str, project_id: str | int, branch: str) -> str | None:
        """GET /projects/:id/repository/branches/:branch: the head sha; None when there is no such branch
        (NotFoundError when the project itself is gone)."""
        what = f"branch {branch!r} of GitLab project {project_id}"
        path = f"/projects/{segment(project_id)}/repository/branches/{segment(branch)}"
        body = self._rest.request("GET", path, token, what, missing=_absent_inside_project)
        if body is None:
            return None
        sha = body.get("commit", {}).get("id") if isinstance(body, dict) else None
        if not isinstance(sha, str):
            raise RemoteUnreachableError(f"GitLab answered {what} without a commit")
        return sha

    def commit(self, token: str, project_id: str | int, sha: str) -> str | None:
        """GET /projects/:id/repository/commits/:sha: the full id of a commit named by a (short) sha or ref; None
        when the project has no such commit (404 "Commit Not Found"; NotFoundError when the project is gone)."""
        what = f"commit {sha} of GitLab project {project_id}"
        path = f"/projects/{segment(project_id)}/repository/commits/{segment(sha)}"
        body = self._rest.request("GET", path, token, what, missing=_absent_inside_project)
        full = body.get("id") if isinstance(body, dict) else None
        return full if isinstance(full, str) else None

    def compare_files(self, token: str, project_id: str | int, from_sha: str, to_sha: str) -> list[str] | None:
        """GET /projects/:id/repository/compare?from&to: the paths changed (new and old path of every diff, so a
        rename names both), or None when GitLab cannot say: unknown refs (404), a comparison it could not
        compute (5xx), or one it cut short (`compare_timeout`: the diff collection overflowed its limits).

        A collapsed or too-large diff still names its paths, so it does not make the list unknown."""
        body = self._rest.request(
            "GET",
            f"/projects/{segment(project_id)}/repository/compare",
            token,
            f"the comparison {from_sha}...{to_sha} of GitLab project {project_id}",
            params={"from": from_sha, "to": to_sha},
            missing=lambda r: _absent_inside_project(r) or r.status >= 500,
        )
        diffs = body.get("diffs") if isinstance(body, dict) else None
        if not isinstance(diffs, list) or body.get("compare_timeout"):
            return None
        names: list[str] = []
        for entry in diffs:
            for key in ("new_path", "old_path"):
                name = entry.get(key) if isinstance(entry, dict) else None
                if isinstance(name, str) and name and name not in names:
                    names.append(name)
        return names

    # -- project webhooks ----------------------------------------------------------------------------------------

    @staticmethod
    def _hook_body(url: str, secret_token: str, events: HookEvents) -> dict[str, Any]:
        return {
            "url": url,
            "name": HOOK_NAME,
            "token": secret_token,
            "enable_ssl_verification": True,
            "push_events": events.push,
            "tag_push_events": events.tag_push,
            "merge_requests_events": events.merge_requests,
            "releases_events": events.releases,
        }

    def hooks(self, token: str, project_id: str | int) -> list[dict[str, Any]]:
        """GET /projects/:id/hooks (all pages). GitLab never returns a hook's secret token; a hook it disabled
        shows `alert_status` "temporarily_disabled" (with `disabled_until`) or "disabled"."""
        return self._pages(f"/projects/{segment(project_id)}/hooks", token, f"the hooks of GitLab project {project_id}")

    def hook(self, token: str, project_id: str | int, hook_id: str | int) -> dict[str, Any] | None:
        """GET /projects/:id/hooks/:hook_id, None when the hook (or its project) is gone."""
        result: dict[str, Any] | None = self._rest.request(
            "GET",
            f"/projects/{segment(project_id)}/hooks/{segment(hook_id)}",
            token,
            f"hook {hook_id} of GitLab project {project_id}",
            missing={404},
        )
        return result

    def create_hook(
        self,
        token: str,
        project_id: str | int,
        url: str,
        secret_token: str,
        events: HookEvents = ALL_HOOK_EVENTS,
    ) -> dict[str, Any]:
        """POST /projects/:id/hooks (Maintainer role needed: 403 otherwise). GitLab sends `secret_token` back in
        `X-Gitlab-Token` with every delivery. A URL GitLab refuses (e.g. a local address) is UnprocessableError."""
        result: dict[str, Any] = self._rest.request(
            "POST",
            f"/projects/{segment(project_id)}/hooks",
            token,
            f"a webhook on GitLab project {project_id}",
            json_body=self._hook_body(url, secret_token, events),
            not_found=f"GitLab project {project_id} not found or not accessible",
        )
        return result

    def update_hook(
        self,
        token: str,
        project_id: str | int,
        hook_id: str | int,
        url: str,
        secret_token: str,
        events: HookEvents = ALL_HOOK_EVENTS,
    ) -> dict[str, Any] | None:
        """PUT /projects/:id/hooks/:hook_id with the whole configuration (GitLab requires `url`, and resets the
        secret token when the URL changes without one): rotates the secret. None when the hook is gone."""
        result: dict[str, Any] | None = self._rest.request(
            "PUT",
            f"/projects/{segment(project_id)}/hooks/{segment(hook_id)}",
            token,
            f"hook {hook_id} of GitLab project {project_id}",
            json_body=self._hook_body(url, secret_token, events),
            missing={404},
        )
        return result

    def delete_hook(self, token: str, project_id: str | int, hook_id: str | int) -> bool:
        """DELETE /projects/:id/hooks/:hook_id: True when deleted, False when it was already gone (404)."""
        what = f"deleting hook {hook_id} of GitLab project {project_id}"
        return self._rest.done("DELETE", f"/projects/{segment(project_id)}/hooks/{segment(hook_id)}", token, what)

    def test_hook(self, token: str, project_id: str | int, hook_id: str | int, trigger: str = "push_events") -> bool:
        """POST /projects/:id/hooks/:hook_id/test/:trigger: GitLab sends a test delivery now. True when the receiver
        answered 2xx — which is also how GitLab re-enables a hook it disabled — False when it did not (422).
        NotFoundError when the hook is gone. GitLab limits this to five calls a minute per project and user."""
        if trigger not in HOOK_TEST_TRIGGERS:
            raise UnprocessableError(f"a GitLab hook test trigger is one of {sorted(HOOK_TEST_TRIGGERS)}")
        return self._rest.done(
            "POST",
            f"/projects/{segment(project_id)}/hooks/{segment(hook_id)}/test/{segment(trigger)}",
            token,
            f"a test delivery of hook {hook_id} of GitLab project {project_id}",
            missing={422},
            not_found=f"hook {hook_id} of GitLab project {project_id} not found",
        )

    # -- repository files (GitOps) ------------------------------------------------------------------------------

    def file(self, token: str, project_id: str | int, path: str, ref: str) -> dict[str, Any] | None:
        """GET /projects/:id/repository/files/:file_path?ref=: content (base64) and `last_commit_id`; None when the
        file is not on that ref. A ref that does not exist is NotFoundError."""
        result: dict[str, Any] | None = self._rest.request(
            "GET",
            f"/projects/{segment(project_id)}/repository/files/{segment(path)}",  # GitLab wants the `/` encoded
            token,
            f"{path} on {ref} of GitLab project {project_id}",
            params={"ref": ref},
            missing=lambda r: r.status == 404 and "File Not Found" in gitlab_message(r),
            not_found=f"the branch {ref!r} does not exist in GitLab project {project_id}",
        )
        return result

    def commit_files(
        self,
        token: str,
        project_id: str | int,
        branch: str,
        message: str,
        actions: list[dict[str, Any]],
        author: CommitAuthor | None = None,
    ) -> dict[str, Any] | None:
        """POST /projects/:id/repository/commits: one commit of `actions` ({"action": "create"|"update", "file_path",
        "content", "encoding", "last_commit_id"?}); the commit, or None when GitLab refuses because the file changed
        or already exists (its optimistic concurrency, checked atomically on its side). `author` becomes
        `author_name`/`author_email`; the committer is the token's user (gitconnect's)."""
        body: dict[str, Any] = {"branch": branch, "commit_message": message, "actions": actions}
        if author is not None:
            body |= {"author_name": author.name, "author_email": author.email}
        what = f"a commit to {branch} of GitLab project {project_id}"
        response = self._rest.call("POST", f"/projects/{segment(project_id)}/repository/commits", token, json_body=body)
        if response.status == 403 and _PROTECTED in gitlab_message(response):
            # A protected branch the token's user may not push to (GitLab's 403 for the Commits API).
            raise ProtectedBranchError(f"GitLab refused {what}: {gitlab_message(response)}")
        # Quirk: GitLab answers a stale commit with 400 (not 409) and says why in the message.
        if response.status == 400 and any(phrase in gitlab_message(response) for phrase in _COMMIT_REFUSED):
            return None
        not_found = f"GitLab project {project_id} not found or not accessible"
        result: dict[str, Any] = self._rest.decode(self._rest.check(response, what, not_found=not_found), what)
        return result

    # -- branches and merge requests (GitOps pull-request mode) --------------------------------------------------

    def create_branch(self, token: str, project_id: str | int, branch: str, ref: str) -> bool:
        """POST /projects/:id/repository/branches?branch=&ref=; False when the branch exists already (GitLab: 400
        "Branch already exists")."""
        body = self._rest.request(
            "POST",
            f"/projects/{segment(project_id)}/repository/branches",
            token,
            f"the branch {branch!r} of GitLab project {project_id}",
            params={"branch": branch, "ref": ref},
            missing=lambda r: r.status == 400 and "already exists" in gitlab_message(r),
        )
        return body is not None

    def delete_branch(self, token: str, project_id: str | int, branch: str) -> bool:
        """DELETE /projects/:id/repository/branches/:branch (204); False when there is no such branch (404)."""
        what = f"deleting the branch {branch!r} of GitLab project {project_id}"
        path = f"/projects/{segment(project_id)}/repository/branches/{segment(branch)}"
        return self._rest.done("DELETE", path, token, what, missing=_absent_inside_project)

    def open_merge_requests(
        self, token: str, project_id: str | int, source_branch: str, target_branch: str
    ) -> list[dict[str, Any]]:
        """GET /projects/:id/merge_requests?state=opened&source_branch=&target_branch= (all pages)."""
        what = f"the open merge requests from {source_branch} into {target_branch} of GitLab project {project_id}"
        params = {"state": "opened", "source_branch": source_branch, "target_branch": target_branch}
        return self._pages(f"/projects/{segment(project_id)}/merge_requests", token, what, params)

    def create_merge_request(
        self, token: str, project_id: str | int, source_branch: str, target_branch: str, title: str, description: str
    ) -> dict[str, Any]:
        """POST /projects/:id/merge_requests (201); a second open one from the same source branch is refused (409
        "Another open merge request already exists for this source branch"), ConflictError here."""
        body = {"source_branch": source_branch, "target_branch": target_branch, "title": title,
                "description": description}
        result: dict[str, Any] = self._rest.request(
            "POST",
            f"/projects/{segment(project_id)}/merge_requests",
            token,
            f"a merge request from {source_branch} into {target_branch} of GitLab project {project_id}",
            json_body=body,
        )
        return result

    def update_merge_request(
        self, token: str, project_id: str | int, iid: int, title: str, description: str
    ) -> dict[str, Any]:
        """PUT /projects/:id/merge_requests/:merge_request_iid: its title and description."""
        result: dict[str, Any] = self._rest.request(
            "PUT",
            f"/projects/{segment(project_id)}/merge_requests/{segment(iid)}",
            token,
            f"merge request !{iid} of GitLab project {project_id}",
            json_body={"title": title, "description": description},
        )
        return result

    # -- commit statuses -----------------------------------------------------------------------------------------

    def create_commit_status(
        self,
        token: str,
        project_id: str | int,
        sha: str,
        state: str,
        *,
        target_url: str | None,
        description: str | None,
        name: str = "gitconnect",
        ref: str | None = None,
    ) -> dict[str, Any] | None:
        """POST /projects/:id/statuses/:sha (Developer role needed). Without `ref` GitLab picks the first branch
        that contains the commit (404 when none does), so pass the ref that was built.

        GitLab moves one status per (name, ref) through pending → running → success|failed|canceled and refuses a
        transition it cannot make (the same state twice, or pending after running) with 400 "Cannot transition
        status ...": that answer means the status is already there or past it, and returns None."""
        if state not in STATUS_STATES:
            raise UnprocessableError(f"a GitLab commit status is one of {sorted(STATUS_STATES)}, not {state!r}")
        body = without_none(state=state, name=name, ref=ref, target_url=target_url, description=description)
        result: dict[str, Any] | None = self._rest.request(
            "POST",
            f"/projects/{segment(project_id)}/statuses/{segment(sha)}",
            token,
            f"a commit status on GitLab project {project_id}@{sha[:12]}",
            json_body=body,
            missing=lambda r: r.status == 400 and gitlab_message(r).startswith(_TRANSITION_REFUSED),
        )
        return result
