"""GitHub's REST API, the calls gitconnect makes: request building and response parsing over the injected
`HttpClient` (no I/O of its own; sans-I/O like gidgethub).

The official OpenAPI description (npm `@octokit/openapi`) is the reference: tests/contract checks every request
made here against it. Pagination follows the `Link` header's rel="next" (never guessed page numbers), bounded by
`max_pages`; path segments are percent-quoted; every API request names the API version it was written for.
"""

from __future__ import annotations

import base64
import logging
import re
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

API_VERSION = "2022-11-28"
USER_AGENT = "gitconnect"
ACCEPT = "application/vnd.github+json"
PER_PAGE = 100
MAX_PAGES = 100
COMPARE_FILES_LIMIT = 300  # GitHub lists at most 300 changed files for a comparison
STATUS_STATES = frozenset({"error", "failure", "pending", "success"})
STATUS_DESCRIPTION_MAX = 140
MAX_TAG_DEPTH = 5  # annotated tags of annotated tags: follow a few, never loop

_REL = re.compile(r';\s*rel\s*=\s*(?:"([^"]*)"|([^;\s,]+))', re.IGNORECASE)


def next_link(link_header: str | None) -> str | None:
    """The URL of rel="next" in an RFC 8288 `Link` header, or None (commas inside quoted parameters are fine)."""
    header = link_header or ""
    position = 0
    while (start := header.find("<", position)) >= 0:
        end = header.find(">", start)
        if end < 0:
            return None
        cursor, quoted = end + 1, False
        while cursor < len(header) and (quoted or header[cursor] != ","):
            if header[cursor] == "\\" and quoted:
                cursor += 1
            elif header[cursor] == '"':
                quoted = not quoted
            cursor += 1
        for quoted_rel, bare_rel in _REL.findall(header[end + 1 : cursor]):
            if "next" in (quoted_rel or bare_rel).lower().split():
                return header[start + 1 : end].strip()
        position = cursor + 1
    return None


def segment(value: str | int) -> str:
    """One URL path segment, percent-quoted (a `/` inside a branch or tag name becomes %2F)."""
    text = str(value)
    if not text:
        raise UnprocessableError("an empty name cannot be part of a GitHub API path")
    return quote(text, safe="")


def github_message(response: HttpResponse) -> str:
    """GitHub's error `message` (bounded), or the status when the body says nothing usable."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("error_description") or body.get("error")
        if isinstance(message, str) and message.strip():
            return message.strip()[:300]
    return f"HTTP {response.status}"


def raise_for_status(response: HttpResponse, what: str, *, not_found: str | None = None) -> None:
    """Map GitHub's error answers to domain errors; GitHub's own `message` goes into the detail."""
    status = response.status
    if 200 <= status < 300:
        return
    message = github_message(response)
    if status == 401:
        raise RemoteAuthError(f"GitHub refused the credentials for {what}: {message}")
    if status == 403:
        raise RemoteAuthError(f"GitHub did not allow {what}: {message}")
    if status == 404:
        raise NotFoundError(not_found or f"{what}: GitHub answered {message}")
    if status in (409, 422):
        raise UnprocessableError(f"GitHub refused {what}: {message}")
    if status >= 500:
        raise RemoteUnreachableError(f"GitHub failed to answer {what} (HTTP {status}): {message}")
    raise RemoteUnreachableError(f"GitHub answered {what} with HTTP {status}: {message}")


def _json(response: HttpResponse, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise RemoteUnreachableError(f"GitHub answered {what} with something that is not JSON") from None


class GitHubApi:
    """The REST calls, each taking the token it is made with (installation token, user token or App JWT)."""

    def __init__(self, http: HttpClient, api_url: str = "https://api.github.com", *, max_pages: int = MAX_PAGES):
        self._http = http
        self.api_url = api_url.rstrip("/")
        self._max_pages = max_pages
        origin = urlsplit(self.api_url)
        self._origin = (origin.scheme, origin.netloc)

    # -- plumbing ------------------------------------------------------------------------------------------------

    @staticmethod
    def headers(token: str | None) -> dict[str, str]:
        headers = {"Accept": ACCEPT, "X-GitHub-Api-Version": API_VERSION, "User-Agent": USER_AGENT}
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

    def _pages(self, path: str, token: str, what: str, items_key: str | None = None) -> list[Any]:
        """Every item of a paginated list, following rel="next" (bounded by max_pages)."""
        items: list[Any] = []
        response = self._call("GET", path, token, params={"per_page": PER_PAGE})
        for page in range(1, self._max_pages + 1):
            raise_for_status(response, what)
            body = _json(response, what)
            chunk = body.get(items_key) if items_key and isinstance(body, dict) else body
            if not isinstance(chunk, list):
                raise RemoteUnreachableError(f"GitHub answered {what} with an unexpected shape")
            items.extend(chunk)
            url = next_link(response.headers.get("link"))
            if url is None:
                return items
            if (urlsplit(url).scheme, urlsplit(url).netloc) != self._origin:
                # Our token goes with the request: never follow a link off the API's origin.
                raise RemoteUnreachableError(f"GitHub's pagination link for {what} leaves {self._origin[1]}")
            if page == self._max_pages:
                break
            response = self._http.request("GET", url, headers=self.headers(token))
        log.warning("%s has more than %d pages; the rest is not read", what, self._max_pages)
        return items

    # -- the App and its installations --------------------------------------------------------------------------

    def installation(self, app_jwt: str, installation_id: int | str) -> dict[str, Any]:
        """GET /app/installations/{installation_id} (authenticated as the App)."""
        what = f"GitHub App installation {installation_id}"
        result: dict[str, Any] = self._get(
            f"/app/installations/{segment(installation_id)}",
            app_jwt,
            what,
            not_found=f"{what} not found: the App was uninstalled or never installed there",
        )
        return result

    def create_installation_token(self, app_jwt: str, installation_id: int | str) -> dict[str, Any]:
        """POST /app/installations/{installation_id}/access_tokens: {"token", "expires_at", "permissions", ...}."""
        what = f"an access token for GitHub App installation {installation_id}"
        response = self._call("POST", f"/app/installations/{segment(installation_id)}/access_tokens", app_jwt)
        if response.status == 401:
            raise RemoteAuthError(
                f"GitHub refused the App's JWT ({github_message(response)}): check GITHUB_APP_ID, "
                "GITHUB_APP_PRIVATE_KEY and the clock"
            )
        if response.status == 403:
            raise RemoteAuthError(
                f"GitHub refused {what}: the installation is suspended or the App may not act on it "
                f"({github_message(response)})"
            )
        raise_for_status(
            response,
            what,
            not_found=f"GitHub App installation {installation_id} not found or the App was uninstalled",
        )
        body = _json(response, what)
        if not isinstance(body, dict) or not isinstance(body.get("token"), str) or "expires_at" not in body:
            raise RemoteUnreachableError(f"GitHub answered {what} without a token")
        return body

    def user_installations(self, user_token: str) -> list[dict[str, Any]]:
        """GET /user/installations: the App's installations the signed-in user can access (a user token)."""
        return self._pages("/user/installations", user_token, "the user's installations", "installations")

    def installation_repositories(self, token: str) -> list[dict[str, Any]]:
        """GET /installation/repositories: every repository the installation can access."""
        return self._pages("/installation/repositories", token, "the installation's repositories", "repositories")

    # -- repositories ------------------------------------------------------------------------------------------

    def branches(self, token: str, owner: str, repo: str) -> list[tuple[str, str]]:
        """GET /repos/{owner}/{repo}/branches (all pages): (name, head sha) pairs."""
        what = f"the branches of {owner}/{repo}"
        items = self._pages(f"/repos/{segment(owner)}/{segment(repo)}/branches", token, what)
        return [(item["name"], item["commit"]["sha"]) for item in items]

    def branch_head(self, token: str, owner: str, repo: str, branch: str) -> str | None:
        """GET /repos/{owner}/{repo}/branches/{branch}: the head sha, None when there is no such branch.

        A renamed branch answers 301 to its new name, which the client follows (as git does for pushes)."""
        what = f"branch {branch!r} of {owner}/{repo}"
        response = self._call("GET", f"/repos/{segment(owner)}/{segment(repo)}/branches/{segment(branch)}", token)
        if response.status == 404:
            return None
        raise_for_status(response, what)
        body = _json(response, what)
        sha = body.get("commit", {}).get("sha") if isinstance(body, dict) else None
        if not isinstance(sha, str):
            raise RemoteUnreachableError(f"GitHub answered {what} without a commit")
        return sha

    def compare_files(self, token: str, owner: str, repo: str, base: str, head: str) -> list[str] | None:
        """The paths changed between base and head (renames name both paths), or None when GitHub cannot say:
        unknown commits (404), a comparison too large to compute (5xx) or one it truncates (300+ files).

        `per_page=1` keeps the answer small: with pagination GitHub lists the changed files of the whole comparison
        on the first page and pages only the commits."""
        what = f"the comparison {base}...{head} of {owner}/{repo}"
        path = f"/repos/{segment(owner)}/{segment(repo)}/compare/{segment(base)}...{segment(head)}"
        response = self._call("GET", path, token, params={"per_page": 1})
        if response.status == 404 or response.status >= 500:
            return None
        raise_for_status(response, what)
        body = _json(response, what)
        files = body.get("files") if isinstance(body, dict) else None
        if not isinstance(files, list) or len(files) >= COMPARE_FILES_LIMIT:
            return None
        names: list[str] = []
        for entry in files:
            for key in ("filename", "previous_filename"):
                name = entry.get(key)
                if isinstance(name, str) and name not in names:
                    names.append(name)
        return names

    def tag_commit(self, token: str, owner: str, repo: str, tag: str) -> str | None:
        """The commit a tag points at (annotated tags dereferenced), None when the tag does not exist or does
        not point at a commit."""
        base = f"/repos/{segment(owner)}/{segment(repo)}/git"
        what = f"tag {tag!r} of {owner}/{repo}"
        response = self._call("GET", f"{base}/ref/tags/{segment(tag)}", token)
        if response.status in (404, 409):  # 409: the repository is empty
            return None
        raise_for_status(response, what)
        target = _json(response, what).get("object") or {}
        for _ in range(MAX_TAG_DEPTH):
            if target.get("type") == "commit":
                return str(target["sha"])
            if target.get("type") != "tag":
                return None
            response = self._call("GET", f"{base}/tags/{segment(target['sha'])}", token)
            if response.status in (404, 409):
                return None
            raise_for_status(response, what)
            target = _json(response, what).get("object") or {}
        return None

    def create_commit_status(
        self,
        token: str,
        owner: str,
        repo: str,
        sha: str,
        state: str,
        target_url: str | None,
        description: str | None,
        context: str,
    ) -> dict[str, Any]:
        """POST /repos/{owner}/{repo}/statuses/{sha}."""
        if state not in STATUS_STATES:
            raise UnprocessableError(f"a commit status is one of {sorted(STATUS_STATES)}, not {state!r}")
        if description is not None and len(description) > STATUS_DESCRIPTION_MAX:
            description = description[: STATUS_DESCRIPTION_MAX - 1] + "…"
        body: dict[str, Any] = {"state": state, "context": context}
        if target_url is not None:
            body["target_url"] = target_url
        if description is not None:
            body["description"] = description
        what = f"a commit status on {owner}/{repo}@{sha[:12]}"
        response = self._call(
            "POST", f"/repos/{segment(owner)}/{segment(repo)}/statuses/{segment(sha)}", token, json_body=body
        )
        raise_for_status(response, what, not_found=f"{owner}/{repo} is not accessible to the GitHub App")
        result: dict[str, Any] = _json(response, what)
        return result

    # -- OAuth (the web host, not the API) ----------------------------------------------------------------------

    # -- repository contents (GitOps) ---------------------------------------------------------------------------

    def file(self, token: str, owner: str, repo: str, path: str, ref: str) -> dict[str, Any] | None:
        """GET /repos/{owner}/{repo}/contents/{path}?ref=: the file (base64 `content`, blob `sha`); None when there is
        no file at that path (a directory is UnprocessableError, an unknown ref NotFoundError)."""
        what = f"{path} at {ref[:12]} of {owner}/{repo}"
        response = self._call(
            "GET",
            f"/repos/{segment(owner)}/{segment(repo)}/contents/{quote(path, safe='/')}",
            token,
            params={"ref": ref},
        )
        if response.status == 404 and github_message(response) == "Not Found":
            return None
        raise_for_status(response, what)
        body = _json(response, what)
        if not isinstance(body, dict) or body.get("type") != "file":
            raise UnprocessableError(f"{path} is not a file in {owner}/{repo}")
        if body.get("encoding") != "base64":  # files over 1 MB come without content
            raise UnprocessableError(f"{path} in {owner}/{repo} is too large to read through the contents API")
        return body

    def put_file(
        self,
        token: str,
        owner: str,
        repo: str,
        path: str,
        content: bytes,
        message: str,
        branch: str,
        sha: str | None,
    ) -> dict[str, Any] | None:
        """PUT /repos/{owner}/{repo}/contents/{path}: a commit writing the file on `branch`. `sha` is the blob being
        replaced (None: create). GitHub itself refuses a stale `sha` (409) and a create over an existing file (422,
        "sha" wasn't supplied): None here. The answer has the new `content.sha` and `commit.sha`."""
        what = f"a commit of {path} to {branch} of {owner}/{repo}"
        body: dict[str, Any] = {"message": message, "content": base64.b64encode(content).decode(), "branch": branch}
        if sha is not None:
            body["sha"] = sha
        response = self._call(
            "PUT", f"/repos/{segment(owner)}/{segment(repo)}/contents/{quote(path, safe='/')}", token, json_body=body
        )
        if response.status == 409 or (response.status == 422 and '"sha"' in github_message(response)):
            return None
        raise_for_status(response, what, not_found=f"the branch {branch!r} or {owner}/{repo} was not found")
        result: dict[str, Any] = _json(response, what)
        return result

    def exchange_code(
        self,
        web_url: str,
        client_id: str,
        client_secret: str,
        code: str,
        *,
        code_verifier: str | None = None,
        redirect_uri: str | None = None,
    ) -> str:
        """POST {web_url}/login/oauth/access_token: the user access token for an OAuth `code`.

        GitHub answers a bad or reused code with 200 and `{"error": ...}`, which raises RemoteAuthError."""
        form = {"client_id": client_id, "client_secret": client_secret, "code": code}
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        if redirect_uri is not None:
            form["redirect_uri"] = redirect_uri
        response = self._http.request(
            "POST",
            web_url.rstrip("/") + "/login/oauth/access_token",
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            form=form,
        )
        what = "the OAuth code exchange"
        raise_for_status(response, what)
        body = _json(response, what)
        if not isinstance(body, dict):
            raise RemoteUnreachableError(f"GitHub answered {what} with an unexpected shape")
        if body.get("error"):
            reason = body.get("error_description") or body["error"]
            raise RemoteAuthError(f"GitHub refused the OAuth code: {reason}", error=str(body["error"]))
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise RemoteUnreachableError(f"GitHub answered {what} without an access token")
        return token
