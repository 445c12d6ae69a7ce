"""Bitbucket Cloud's REST API 2.0, the calls gitconnect makes: request building and response parsing over the
injected `HttpClient` (no I/O of its own). developer.atlassian.com/cloud/bitbucket/rest is the reference.

- The API lives under `{api_url}/2.0` (`https://api.bitbucket.org/2.0`). Every request carries the `Authorization`
  value it is given: `Bearer <OAuth or access token>`, or `Basic <e-mail:API token>` (`basic_auth`).
- Repositories are `{workspace}/{repo_slug}` (each segment percent-quoted); webhooks carry their stable `uuid`.
- Lists are pages `{"values", "next"?}`; `next` is an absolute URL, followed only while it stays on the API's own
  origin (the token never goes elsewhere), bounded by max_pages.
- Errors are `{"type": "error", "error": {"message", "detail"?}}` (OAuth's token endpoint: `{"error",
  "error_description"}`). 401/403 → RemoteAuthError, 404 → None or NotFoundError as each method says, 400/409/422 →
  UnprocessableError, 5xx → RemoteUnreachableError; 429 is the HTTP client's.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from gitconnect.domain.errors import (
    NotFoundError,
    RemoteAuthError,
    RemoteUnreachableError,
    UnprocessableError,
)
from gitconnect.providers.base import HttpClient, HttpResponse

log = logging.getLogger(__name__)

API_PREFIX = "/2.0"
USER_AGENT = "gitconnect"
PAGELEN = 100  # Bitbucket's maximum for most lists
MAX_PAGES = 100
BUILD_STATES = frozenset({"INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"})


def basic_auth(username: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()


def segment(value: str) -> str:
    if not value:
        raise UnprocessableError("an empty name cannot be part of a Bitbucket API path")
    return quote(value, safe="")


def repo_path(full_name: str) -> str:
    """`/repositories/{workspace}/{repo_slug}` for `workspace/slug` (or `workspace/{uuid}`)."""
    workspace, _, slug = full_name.strip("/").partition("/")
    if not workspace or not slug or "/" in slug:
        raise UnprocessableError(f"a Bitbucket repository is `workspace/repository`, not {full_name!r}")
    return f"/repositories/{segment(workspace)}/{segment(slug)}"


def error_message(response: HttpResponse) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    text = ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            text = str(error.get("message") or "")
            if error.get("detail"):
                text = f"{text}: {error['detail']}" if text else str(error["detail"])
        elif isinstance(error, str):
            text = str(body.get("error_description") or error)
    text = text.strip()
    return text[:300] if text else f"HTTP {response.status}"


def raise_for_status(response: HttpResponse, what: str, *, not_found: str | None = None) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    message = error_message(response)
    if status == 401:
        raise RemoteAuthError(f"Bitbucket refused the credentials for {what}: {message}")
    if status == 403:
        raise RemoteAuthError(f"Bitbucket did not allow {what}: {message}")
    if status == 404:
        raise NotFoundError(not_found or f"{what}: Bitbucket answered {message}")
    if status in (400, 409, 422):
        raise UnprocessableError(f"Bitbucket refused {what}: {message}")
    raise RemoteUnreachableError(f"Bitbucket failed to answer {what} (HTTP {status}): {message}")


def _json(response: HttpResponse, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise RemoteUnreachableError(f"Bitbucket answered {what} with something that is not JSON") from None


class BitbucketApi:
    """The REST calls, each made with the `Authorization` value it is given."""

    def __init__(self, http: HttpClient, api_url: str = "https://api.bitbucket.org", *, max_pages: int = MAX_PAGES):
        self._http = http
        self.api_url = api_url.rstrip("/") + API_PREFIX
        self._origin = urlsplit(self.api_url)[:2]
        self._max_pages = max_pages

    # -- plumbing ------------------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path_or_url: str,
        auth: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else self.api_url + path_or_url
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, "Authorization": auth}
        return self._http.request(method, url, headers=headers, params=params, json_body=json_body, form=form)

    def _get(self, path: str, auth: str, what: str, *, not_found: str | None = None) -> Any:
        response = self._call("GET", path, auth)
        raise_for_status(response, what, not_found=not_found)
        return _json(response, what)

    def _pages(self, path: str, auth: str, what: str, params: Mapping[str, str | int] | None = None) -> list[Any]:
        """Every value of a paginated list, following `next` on the API's own origin, bounded by max_pages."""
        items: list[Any] = []
        target: str = path
        query: Mapping[str, str | int] | None = {**(params or {}), "pagelen": PAGELEN}
        for _ in range(self._max_pages):
            response = self._call("GET", target, auth, params=query)
            raise_for_status(response, what)
            page = _json(response, what)
            values = page.get("values") if isinstance(page, dict) else None
            if not isinstance(values, list):
                raise RemoteUnreachableError(f"Bitbucket answered {what} with an unexpected shape")
            items.extend(values)
            following = page.get("next")
            if not isinstance(following, str) or not following:
                return items
            if urlsplit(following)[:2] != self._origin:
                log.warning("%s: Bitbucket's next page is on another origin; not followed", what)
                return items
            target, query = following, None  # `next` carries every parameter of the request
        log.warning("%s has more than %d pages; the rest is not read", what, self._max_pages)
        return items

    # -- the account ---------------------------------------------------------------------------------------------

    def current_user(self, auth: str) -> dict[str, Any]:
        """GET /user: `nickname`, `display_name`, `uuid`, `account_id`."""
        result: dict[str, Any] = self._get("/user", auth, "the account")
        return result

    def workspaces(self, auth: str) -> list[str]:
        """GET /user/workspaces (all pages): the slugs of the workspaces the account can reach. Access tokens, which
        belong to one workspace, are refused (403)."""
        values = self._pages("/user/workspaces", auth, "the account's workspaces")
        return [str(v["workspace"]["slug"]) for v in values if isinstance(v.get("workspace"), dict)]

    # -- repositories and refs -----------------------------------------------------------------------------------

    def repositories(
        self, auth: str, workspace: str, search: str | None = None, *, first_page_only: bool = False
    ) -> list[dict[str, Any]]:
        """GET /repositories/{workspace}?role=member (all pages, by full name; `search` matches names)."""
        params: dict[str, str | int] = {"role": "member", "sort": "full_name"}
        if search:
            escaped = search.replace("\\", "\\\\").replace('"', '\\"')
            params["q"] = f'name ~ "{escaped}"'
        what = f"the repositories of workspace {workspace}"
        path = f"/repositories/{segment(workspace)}"
        if first_page_only:
            response = self._call("GET", path, auth, params={**params, "pagelen": 1})
            raise_for_status(response, what, not_found=f"workspace {workspace!r} not found or not accessible")
            return list(_json(response, what).get("values") or [])
        return self._pages(path, auth, what, params)

    def repository(self, auth: str, full_name: str) -> dict[str, Any]:
        """GET /repositories/{workspace}/{repo_slug}; NotFoundError when it is not there or not visible."""
        what = f"Bitbucket repository {full_name}"
        result: dict[str, Any] = self._get(
            repo_path(full_name), auth, what, not_found=f"{what} not found or not accessible"
        )
        return result

    def branches(self, auth: str, full_name: str) -> list[tuple[str, str]]:
        """GET …/refs/branches (all pages): (name, head sha) pairs."""
        items = self._pages(f"{repo_path(full_name)}/refs/branches", auth, f"the branches of {full_name}")
        return [(str(b["name"]), str(b["target"]["hash"])) for b in items]

    def branch_head(self, auth: str, full_name: str, branch: str) -> str | None:
        """GET …/refs/branches/{name}: the head sha, None when there is no such branch (NotFoundError when the
        repository itself is gone)."""
        what = f"branch {branch!r} of {full_name}"
        response = self._call("GET", f"{repo_path(full_name)}/refs/branches/{segment(branch)}", auth)
        if response.status == 404:
            self.repository(auth, full_name)  # raises when the repository is what is missing
            return None
        raise_for_status(response, what)
        sha = (_json(response, what).get("target") or {}).get("hash")
        if not isinstance(sha, str):
            raise RemoteUnreachableError(f"Bitbucket answered {what} without a commit")
        return sha

    def commit(self, auth: str, full_name: str, revision: str) -> str | None:
        """GET …/commit/{revision}: the full hash of a (short) hash or ref; None when Bitbucket does not know it."""
        what = f"commit {revision} of {full_name}"
        response = self._call("GET", f"{repo_path(full_name)}/commit/{segment(revision)}", auth)
        if response.status == 404:
            return None
        raise_for_status(response, what)
        sha = _json(response, what).get("hash")
        return sha if isinstance(sha, str) else None

    def diffstat_files(self, auth: str, full_name: str, new: str, old: str) -> list[str] | None:
        """GET …/diffstat/{new}..{old} (all pages): every path changed (both sides of a rename), or None when
        Bitbucket cannot say (unknown commits, or it failed to compute the diff)."""
        what = f"the diffstat {old[:12]}..{new[:12]} of {full_name}"
        spec = f"{segment(new)}..{segment(old)}"
        try:
            values = self._pages(f"{repo_path(full_name)}/diffstat/{spec}", auth, what)
        except (NotFoundError, RemoteUnreachableError, UnprocessableError) as exc:
            log.info("diffstat unavailable", extra={"reason": exc.detail})
            return None
        paths: list[str] = []
        for entry in values:
            for side in ("old", "new"):
                path = (entry.get(side) or {}).get("path")
                if isinstance(path, str) and path not in paths:
                    paths.append(path)
        return paths

    # -- webhooks ------------------------------------------------------------------------------------------------

    @staticmethod
    def _hook_body(url: str, secret: str, events: tuple[str, ...]) -> dict[str, Any]:
        return {"description": "gitconnect", "url": url, "active": True, "events": list(events), "secret": secret}

    def create_hook(self, auth: str, full_name: str, url: str, secret: str, events: tuple[str, ...]) -> str:
        """POST …/hooks (admin on the repository needed): the new webhook's uuid. Bitbucket signs deliveries with
        `secret` and never returns it (`secret_set`)."""
        what = f"a webhook on {full_name}"
        response = self._call(
            "POST", f"{repo_path(full_name)}/hooks", auth, json_body=self._hook_body(url, secret, events)
        )
        raise_for_status(response, what, not_found=f"Bitbucket repository {full_name} not found or not accessible")
        return str(_json(response, what)["uuid"])

    def hook(self, auth: str, full_name: str, hook_uuid: str) -> dict[str, Any] | None:
        """GET …/hooks/{uid}; None when it is gone."""
        what = f"webhook {hook_uuid} of {full_name}"
        response = self._call("GET", f"{repo_path(full_name)}/hooks/{segment(hook_uuid)}", auth)
        if response.status == 404:
            return None
        raise_for_status(response, what)
        result: dict[str, Any] = _json(response, what)
        return result

    def update_hook(
        self, auth: str, full_name: str, hook_uuid: str, url: str, secret: str, events: tuple[str, ...]
    ) -> bool:
        """PUT …/hooks/{uid} with the whole configuration and a new secret; False when the hook is gone."""
        response = self._call(
            "PUT",
            f"{repo_path(full_name)}/hooks/{segment(hook_uuid)}",
            auth,
            json_body=self._hook_body(url, secret, events),
        )
        if response.status == 404:
            return False
        raise_for_status(response, f"webhook {hook_uuid} of {full_name}")
        return True

    def delete_hook(self, auth: str, full_name: str, hook_uuid: str) -> bool:
        """DELETE …/hooks/{uid}: True when deleted, False when it was already gone."""
        response = self._call("DELETE", f"{repo_path(full_name)}/hooks/{segment(hook_uuid)}", auth)
        if response.status == 404:
            return False
        raise_for_status(response, f"deleting webhook {hook_uuid} of {full_name}")
        return True

    # -- build statuses ------------------------------------------------------------------------------------------

    def create_build_status(
        self,
        auth: str,
        full_name: str,
        sha: str,
        *,
        key: str,
        state: str,
        url: str,
        name: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """POST …/commit/{sha}/statuses/build: one status per `key` and commit, updated in place (201 new, 200
        updated). `url` is required by Bitbucket."""
        if state not in BUILD_STATES:
            raise UnprocessableError(f"a Bitbucket build status is one of {sorted(BUILD_STATES)}, not {state!r}")
        body: dict[str, Any] = {"key": key, "state": state, "url": url}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        what = f"a build status on {full_name}@{sha[:12]}"
        response = self._call(
            "POST", f"{repo_path(full_name)}/commit/{segment(sha)}/statuses/build", auth, json_body=body
        )
        raise_for_status(response, what)
        result: dict[str, Any] = _json(response, what)
        return result

    # -- source (GitOps) -----------------------------------------------------------------------------------------

    def file(self, auth: str, full_name: str, commit: str, path: str) -> bytes | None:
        """GET …/src/{commit}/{path}: the file's bytes; None when there is no file at that path (a directory is
        UnprocessableError). Read at a commit hash, never a branch name (a branch may contain `/`)."""
        what = f"{path} at {commit[:12]} of {full_name}"
        base = f"{repo_path(full_name)}/src/{segment(commit)}/{quote(path.lstrip('/'))}"
        meta = self._call("GET", base, auth, params={"format": "meta"})
        if meta.status == 404:
            return None
        raise_for_status(meta, what)
        if _json(meta, what).get("type") != "commit_file":
            raise UnprocessableError(f"{path} is a directory in {full_name}, not a file")
        response = self._call("GET", base, auth)
        raise_for_status(response, what)
        return response.body

    def commit_file(
        self, auth: str, full_name: str, branch: str, path: str, content: bytes, message: str, parent: str | None
    ) -> str | None:
        """POST …/src (form): one commit writing `path` on `branch`. With `parent`, Bitbucket makes the commit only
        if the branch's tip is still that commit (409 otherwise: None here). The new commit's hash comes in
        `Location`."""
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise UnprocessableError("only UTF-8 text files can be committed to Bitbucket here") from None
        form = {"/" + path.lstrip("/"): text, "message": message, "branch": branch}
        if parent is not None:
            form["parents"] = parent
        what = f"a commit to {branch} of {full_name}"
        response = self._call("POST", f"{repo_path(full_name)}/src", auth, form=form)
        if response.status == 409:
            return None
        raise_for_status(response, what, not_found=f"Bitbucket repository {full_name} not found or not accessible")
        location = response.headers.get("location", "")
        sha = location.rstrip("/").rsplit("/", 1)[-1]
        if len(sha) < 40:
            raise RemoteUnreachableError(f"Bitbucket answered {what} without the new commit's location")
        return sha
