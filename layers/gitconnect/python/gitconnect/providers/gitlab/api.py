"""GitLab's REST API v4, the calls gitconnect makes: request building and response parsing over the injected
`HttpClient` (no I/O of its own). GitLab's documentation (docs.gitlab.com/api) is the reference.

- The API lives under `{base_url}/api/v4` (a self-managed instance may sit under a sub-path: base_url
  `https://host/gitlab`). Every request carries `Authorization: Bearer <token>`, which GitLab accepts for OAuth
  access tokens and for personal, group and project access tokens alike.
- Project ids are numbers or URL-encoded full paths (`group%2Fsub%2Fproject`); branch names are URL-encoded too.
- Lists are read to the end: offset pagination follows `X-Next-Page` (empty on the last page); where GitLab only
  sends `Link` (keyset pagination, or a proxy that drops the X- headers), rel="next" is followed by reusing its query
  on our own URL, so the token never goes to a host GitLab's configured `external_url` names. Bounded by max_pages.
- Errors: GitLab's bodies are `{"message": ...}` (a string, or a field → messages object for validation errors),
  `{"error": ...}` for parameter errors, or OAuth's `{"error", "error_description"}` (expired or revoked tokens,
  insufficient scope). 401 → RemoteAuthError, 403 → RemoteAuthError with GitLab's reason, 404 → None or
  NotFoundError as each method says, 400/409/422 → UnprocessableError, 5xx → RemoteUnreachableError. 429 is the
  HTTP client's (GitLab sends Retry-After with it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from gitconnect.domain.errors import (
    NotFoundError,
    RemoteAuthError,
    RemoteUnreachableError,
    UnprocessableError,
)
from gitconnect.providers.base import HttpClient, HttpResponse

log = logging.getLogger(__name__)

API_PREFIX = "/api/v4"
USER_AGENT = "gitconnect"
PER_PAGE = 100  # GitLab's maximum
MAX_PAGES = 100
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
_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[^;,=\s]+\s*(?:=\s*(?:"[^"]*"|[^;,]*))?)*)')
_REL = re.compile(r';\s*rel\s*=\s*(?:"([^"]*)"|([^;\s,]+))', re.IGNORECASE)


def next_link(link_header: str | None) -> str | None:
    """The URL of rel="next" in an RFC 8288 `Link` header, or None."""
    for url, parameters in _LINK.findall(link_header or ""):
        for quoted, bare in _REL.findall(parameters):
            if "next" in (quoted or bare).lower().split():
                return url.strip()
    return None


def segment(value: str | int) -> str:
    """One URL path segment, percent-quoted (`group/project` → `group%2Fproject`, as GitLab requires)."""
    text = str(value)
    if not text:
        raise UnprocessableError("an empty name cannot be part of a GitLab API path")
    return quote(text, safe="")


def _body(response: HttpResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def gitlab_message(response: HttpResponse) -> str:
    """GitLab's error text (bounded), or the status when the body says nothing usable."""
    body = _body(response)
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
    text = text.strip()
    return text[:300] if text else f"HTTP {response.status}"


def _error_code(response: HttpResponse) -> str | None:
    body = _body(response)
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and "_" in error else None  # OAuth codes: invalid_token, insufficient_scope


def raise_for_status(response: HttpResponse, what: str, *, not_found: str | None = None) -> None:
    """Map GitLab's error answers to domain errors; GitLab's own message goes into the detail."""
    status = response.status
    if 200 <= status < 300:
        return
    message = gitlab_message(response)
    extra: dict[str, object] = {}
    if code := _error_code(response):
        extra["error"] = code
    if status == 401:
        raise RemoteAuthError(f"GitLab refused the credentials for {what}: {message}", **extra)
    if status == 403:
        raise RemoteAuthError(f"GitLab did not allow {what}: {message}", **extra)
    if status == 404:
        raise NotFoundError(not_found or f"{what}: GitLab answered {message}")
    if status in (400, 409, 422):
        raise UnprocessableError(f"GitLab refused {what}: {message}")
    if status >= 500:
        raise RemoteUnreachableError(f"GitLab failed to answer {what} (HTTP {status}): {message}")
    raise RemoteUnreachableError(f"GitLab answered {what} with HTTP {status}: {message}")


def _json(response: HttpResponse, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise RemoteUnreachableError(f"GitLab answered {what} with something that is not JSON") from None


def _project_missing(response: HttpResponse) -> bool:
    """GitLab's 404 for the project itself (as opposed to a branch, ref or hook inside it)."""
    return response.status == 404 and "project not found" in gitlab_message(response).lower()


def next_page(response: HttpResponse) -> dict[str, str] | None:
    """The query of the next page, or None on the last one (pure).

    Offset pagination: `X-Next-Page` (an empty value on the last page). Without that header (keyset pagination, or
    a proxy that strips it), the query of `Link` rel="next"."""
    headers = response.headers
    if "x-next-page" in headers:
        number = headers["x-next-page"].strip()
        return {"page": number} if number.isdigit() else None
    url = next_link(headers.get("link"))
    if url is None:
        return None
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


class GitLabApi:
    """The REST calls, each taking the token it is made with (OAuth access token or a personal/group/project
    access token)."""

    def __init__(self, http: HttpClient, base_url: str = "https://gitlab.com", *, max_pages: int = MAX_PAGES):
        self._http = http
        self.base_url = base_url.rstrip("/")
        self.api_url = self.base_url + API_PREFIX
        self._max_pages = max_pages

    # -- plumbing ------------------------------------------------------------------------------------------------

    @staticmethod
    def headers(token: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _call(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
    ) -> HttpResponse:
        return self._http.request(
            method, self.api_url + path, headers=self.headers(token), params=params, json_body=json_body
        )

    def _get(self, path: str, token: str, what: str, *, not_found: str | None = None) -> Any:
        response = self._call("GET", path, token)
        raise_for_status(response, what, not_found=not_found)
        return _json(response, what)

    def _pages(self, path: str, token: str, what: str, params: Mapping[str, str | int] | None = None) -> list[Any]:
        """Every item of a paginated list (X-Next-Page, else Link rel="next"), bounded by max_pages."""
        first: dict[str, str | int] = {**(params or {}), "per_page": PER_PAGE}
        query: dict[str, str | int] = first
        items: list[Any] = []
        for page in range(1, self._max_pages + 1):
            response = self._call("GET", path, token, params=query)
            raise_for_status(response, what, not_found=f"{what}: GitLab answered {gitlab_message(response)}")
            chunk = _json(response, what)
            if not isinstance(chunk, list):
                raise RemoteUnreachableError(f"GitLab answered {what} with an unexpected shape")
            items.extend(chunk)
            following = next_page(response)
            if following is None:
                return items
            if page == self._max_pages:
                break
            # The page number (offset) or the cursor (keyset) goes with our own request's parameters.
            query = {**first, **following} if "page" in following and len(following) == 1 else following
        log.warning("%s has more than %d pages; the rest is not read", what, self._max_pages)
        return items

    # -- the instance and the account ---------------------------------------------------------------------------

    def version(self, token: str | None) -> dict[str, Any]:
        """GET /api/v4/version: `{"version", "revision", ...}` — proof that base_url is a GitLab.

        Without a token GitLab answers 401 with its JSON error, which is proof enough: `{"version": None}`. A server
        that is not a GitLab (no such route, HTML, another JSON) raises UnprocessableError."""
        response = self._call("GET", "/version", token)
        body = _body(response)
        if response.status == 200 and isinstance(body, dict) and isinstance(body.get("version"), str):
            return body
        gitlab_error = isinstance(body, dict) and (
            str(body.get("message", "")).startswith(("401", "403")) or isinstance(body.get("error"), str)
        )
        if response.status in (401, 403) and gitlab_error:
            if token is None and response.status == 401:
                return {"version": None, "revision": None}
            raise_for_status(response, "the GitLab version")
        if response.status >= 500:
            raise RemoteUnreachableError(f"{self.base_url} failed to answer (HTTP {response.status})")
        raise UnprocessableError(f"{self.base_url} is not a GitLab (no /api/v4/version)")

    def current_user(self, token: str) -> dict[str, Any]:
        """GET /user: the token's user (`username`; project and group tokens have a bot user, `bot: true`)."""
        result: dict[str, Any] = self._get("/user", token, "the token's user")
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
        result: dict[str, Any] = self._get(
            f"/projects/{segment(id_or_path)}", token, what, not_found=f"{what} not found or not accessible"
        )
        return result

    def branches(self, token: str, project_id: str | int) -> list[tuple[str, str]]:
        """GET /projects/:id/repository/branches (all pages): (name, head sha) pairs."""
        what = f"the branches of GitLab project {project_id}"
        items = self._pages(f"/projects/{segment(project_id)}/repository/branches", token, what)
        return [(item["name"], item["commit"]["id"]) for item in items]

    def branch_head(self, token: str, project_id: str | int, branch: str) -> str | None:
        """GET /projects/:id/repository/branches/:branch: the head sha; None when there is no such branch
        (NotFoundError when the project itself is gone)."""
        what = f"branch {branch!r} of GitLab project {project_id}"
        response = self._call("GET", f"/projects/{segment(project_id)}/repository/branches/{segment(branch)}", token)
        if response.status == 404 and not _project_missing(response):
            return None
        raise_for_status(response, what)
        body = _json(response, what)
        sha = body.get("commit", {}).get("id") if isinstance(body, dict) else None
        if not isinstance(sha, str):
            raise RemoteUnreachableError(f"GitLab answered {what} without a commit")
        return sha

    def compare_files(self, token: str, project_id: str | int, from_sha: str, to_sha: str) -> list[str] | None:
        """GET /projects/:id/repository/compare?from&to: the paths changed (new and old path of every diff, so a
        rename names both), or None when GitLab cannot say: unknown refs (404), a comparison it could not
        compute (5xx), or one it cut short (`compare_timeout`: the diff collection overflowed its limits).

        A collapsed or too-large diff still names its paths, so it does not make the list unknown."""
        what = f"the comparison {from_sha}...{to_sha} of GitLab project {project_id}"
        response = self._call(
            "GET", f"/projects/{segment(project_id)}/repository/compare", token, params={"from": from_sha, "to": to_sha}
        )
        if _project_missing(response):
            raise_for_status(response, what)
        if response.status == 404 or response.status >= 500:
            return None
        raise_for_status(response, what)
        body = _json(response, what)
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
    def _hook_body(
        url: str, secret_token: str, push: bool, tag_push: bool, merge_requests: bool, releases: bool
    ) -> dict[str, Any]:
        return {
            "url": url,
            "name": HOOK_NAME,
            "token": secret_token,
            "enable_ssl_verification": True,
            "push_events": push,
            "tag_push_events": tag_push,
            "merge_requests_events": merge_requests,
            "releases_events": releases,
        }

    def hooks(self, token: str, project_id: str | int) -> list[dict[str, Any]]:
        """GET /projects/:id/hooks (all pages). GitLab never returns a hook's secret token; a hook it disabled
        shows `alert_status` "temporarily_disabled" (with `disabled_until`) or "disabled"."""
        return self._pages(f"/projects/{segment(project_id)}/hooks", token, f"the hooks of GitLab project {project_id}")

    def hook(self, token: str, project_id: str | int, hook_id: str | int) -> dict[str, Any] | None:
        """GET /projects/:id/hooks/:hook_id, None when the hook (or its project) is gone."""
        what = f"hook {hook_id} of GitLab project {project_id}"
        response = self._call("GET", f"/projects/{segment(project_id)}/hooks/{segment(hook_id)}", token)
        if response.status == 404:
            return None
        raise_for_status(response, what)
        result: dict[str, Any] = _json(response, what)
        return result

    def create_hook(
        self,
        token: str,
        project_id: str | int,
        url: str,
        secret_token: str,
        *,
        push: bool = True,
        tag_push: bool = True,
        merge_requests: bool = True,
        releases: bool = True,
    ) -> dict[str, Any]:
        """POST /projects/:id/hooks (Maintainer role needed: 403 otherwise). GitLab sends `secret_token` back in
        `X-Gitlab-Token` with every delivery. A URL GitLab refuses (e.g. a local address) is UnprocessableError."""
        what = f"a webhook on GitLab project {project_id}"
        response = self._call(
            "POST",
            f"/projects/{segment(project_id)}/hooks",
            token,
            json_body=self._hook_body(url, secret_token, push, tag_push, merge_requests, releases),
        )
        raise_for_status(response, what, not_found=f"GitLab project {project_id} not found or not accessible")
        result: dict[str, Any] = _json(response, what)
        return result

    def update_hook(
        self,
        token: str,
        project_id: str | int,
        hook_id: str | int,
        url: str,
        secret_token: str,
        *,
        push: bool = True,
        tag_push: bool = True,
        merge_requests: bool = True,
        releases: bool = True,
    ) -> dict[str, Any] | None:
        """PUT /projects/:id/hooks/:hook_id with the whole configuration (GitLab requires `url`, and resets the
        secret token when the URL changes without one): rotates the secret. None when the hook is gone."""
        what = f"hook {hook_id} of GitLab project {project_id}"
        response = self._call(
            "PUT",
            f"/projects/{segment(project_id)}/hooks/{segment(hook_id)}",
            token,
            json_body=self._hook_body(url, secret_token, push, tag_push, merge_requests, releases),
        )
        if response.status == 404:
            return None
        raise_for_status(response, what)
        result: dict[str, Any] = _json(response, what)
        return result

    def delete_hook(self, token: str, project_id: str | int, hook_id: str | int) -> bool:
        """DELETE /projects/:id/hooks/:hook_id: True when deleted, False when it was already gone (404)."""
        response = self._call("DELETE", f"/projects/{segment(project_id)}/hooks/{segment(hook_id)}", token)
        if response.status == 404:
            return False
        raise_for_status(response, f"deleting hook {hook_id} of GitLab project {project_id}")
        return True

    def test_hook(self, token: str, project_id: str | int, hook_id: str | int, trigger: str = "push_events") -> bool:
        """POST /projects/:id/hooks/:hook_id/test/:trigger: GitLab sends a test delivery now. True when the receiver
        answered 2xx — which is also how GitLab re-enables a hook it disabled — False when it did not (422).
        NotFoundError when the hook is gone. GitLab limits this to five calls a minute per project and user."""
        if trigger not in HOOK_TEST_TRIGGERS:
            raise UnprocessableError(f"a GitLab hook test trigger is one of {sorted(HOOK_TEST_TRIGGERS)}")
        what = f"a test delivery of hook {hook_id} of GitLab project {project_id}"
        response = self._call(
            "POST", f"/projects/{segment(project_id)}/hooks/{segment(hook_id)}/test/{segment(trigger)}", token
        )
        if response.status == 422:
            return False
        raise_for_status(response, what, not_found=f"hook {hook_id} of GitLab project {project_id} not found")
        return True

    # -- repository files (GitOps) ------------------------------------------------------------------------------

    def file(self, token: str, project_id: str | int, path: str, ref: str) -> dict[str, Any] | None:
        """GET /projects/:id/repository/files/:file_path?ref=: content (base64) and `last_commit_id`; None when the
        file is not on that ref. A ref that does not exist is NotFoundError."""
        what = f"{path} on {ref} of GitLab project {project_id}"
        response = self._call(
            "GET", f"/projects/{segment(project_id)}/repository/files/{segment(path)}", token, params={"ref": ref}
        )
        if response.status == 404 and "File Not Found" in gitlab_message(response):
            return None
        raise_for_status(response, what, not_found=f"the branch {ref!r} does not exist in GitLab project {project_id}")
        result: dict[str, Any] = _json(response, what)
        return result

    def commit_files(
        self, token: str, project_id: str | int, branch: str, message: str, actions: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """POST /projects/:id/repository/commits: one commit of `actions` ({"action": "create"|"update", "file_path",
        "content", "encoding", "last_commit_id"?}); the commit, or None when GitLab refuses because the file changed
        or already exists (its optimistic concurrency, checked atomically on its side)."""
        what = f"a commit to {branch} of GitLab project {project_id}"
        response = self._call(
            "POST",
            f"/projects/{segment(project_id)}/repository/commits",
            token,
            json_body={"branch": branch, "commit_message": message, "actions": actions},
        )
        if response.status == 400 and any(
            phrase in gitlab_message(response) for phrase in ("has changed since", "already exists", "doesn't exist")
        ):
            return None
        raise_for_status(response, what, not_found=f"GitLab project {project_id} not found or not accessible")
        result: dict[str, Any] = _json(response, what)
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
        body: dict[str, Any] = {"state": state, "name": name}
        if ref is not None:
            body["ref"] = ref
        if target_url is not None:
            body["target_url"] = target_url
        if description is not None:
            body["description"] = description
        what = f"a commit status on GitLab project {project_id}@{sha[:12]}"
        response = self._call("POST", f"/projects/{segment(project_id)}/statuses/{segment(sha)}", token, json_body=body)
        if response.status == 400 and gitlab_message(response).startswith(_TRANSITION_REFUSED):
            return None
        raise_for_status(response, what)
        result: dict[str, Any] = _json(response, what)
        return result
