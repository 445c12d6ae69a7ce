"""GitHub's REST API, the calls gitconnect makes: its endpoints over the shared REST core (`providers.rest`: the
injected `HttpClient`, no I/O of its own; sans-I/O like gidgethub).

The official OpenAPI description (npm `@octokit/openapi`) is the reference: tests/contract checks every request
made here against it. Pagination follows the `Link` header's rel="next" (never guessed page numbers) on the API's
own origin, bounded by `max_pages`; path segments are percent-quoted; every API request names the API version it
was written for. GitHub answers 422 for validation failures and 409 for conflicts (an empty repository, a stale
blob sha), which the core maps to UnprocessableError and ConflictError.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gitconnect.domain.errors import (
    ProtectedBranchError,
    RemoteAuthError,
    RemoteUnreachableError,
    UnprocessableError,
)
from gitconnect.providers.base import CommitAuthor, HttpClient, HttpResponse
from gitconnect.providers.rest import (
    MAX_PAGES,
    USER_AGENT,
    Dialect,
    LinkHeader,
    ListTooLongError,
    RestClient,
    bounded,
    json_or_none,
    next_link,
    same_origin,
    segment,
    segments,
    without_none,
)

__all__ = ["API_VERSION", "USER_AGENT", "GitHubApi", "github_message", "next_link", "raise_for_status", "segment"]

API_VERSION = "2022-11-28"
ACCEPT = "application/vnd.github+json"
PER_PAGE = 100
COMPARE_FILES_LIMIT = 300  # GitHub lists at most 300 changed files for a comparison
STATUS_STATES = frozenset({"error", "failure", "pending", "success"})
STATUS_DESCRIPTION_MAX = 140
MAX_TAG_DEPTH = 5  # annotated tags of annotated tags: follow a few, never loop


def github_message(response: HttpResponse) -> str:
    """GitHub's error `message` (bounded), or the status when the body says nothing usable."""
    body = json_or_none(response)
    message = (
        body.get("message") or body.get("error_description") or body.get("error") if isinstance(body, dict) else ""
    )
    return bounded(message if isinstance(message, str) else "", response)


GITHUB = Dialect(
    "GitHub",
    github_message,
    LinkHeader(per_page=PER_PAGE),
    headers={"Accept": ACCEPT, "X-GitHub-Api-Version": API_VERSION},
)
raise_for_status = GITHUB.raise_for_status


@dataclass(frozen=True)
class _Validator:
    """What a conditional listing remembers of one page: its ETag, how many items it had, its next page's URL."""

    etag: str
    count: int
    next: str

    def dump(self) -> str:
        return json.dumps([self.etag, self.count, self.next])

    @classmethod
    def parse(cls, text: str) -> _Validator | None:
        try:
            etag, count, following = json.loads(text)
            return cls(str(etag), int(count), str(following))
        except (ValueError, TypeError):
            return None  # a validator of another shape: the page is read afresh


@dataclass(frozen=True)
class ConditionalList:
    """A conditional listing: `items` None when every page answered 304 (nothing changed)."""

    items: list[Any] | None
    validators: list[str]
    calls: int
    free: int


class GitHubApi:
    """The REST calls, each taking the token it is made with (installation token, user token or App JWT)."""

    def __init__(self, http: HttpClient, api_url: str = "https://api.github.com", *, max_pages: int = MAX_PAGES):
        self._http = http
        self._rest = RestClient(http, api_url, GITHUB, max_pages=max_pages)
        self.api_url = self._rest.api_url

    # -- the App and its installations --------------------------------------------------------------------------

    def installation(self, app_jwt: str, installation_id: int | str) -> dict[str, Any]:
        """GET /app/installations/{installation_id} (authenticated as the App)."""
        what = f"GitHub App installation {installation_id}"
        result: dict[str, Any] = self._rest.request(
            "GET",
            f"/app/installations/{segment(installation_id)}",
            app_jwt,
            what,
            not_found=f"{what} not found: the App was uninstalled or never installed there",
        )
        return result

    def create_installation_token(self, app_jwt: str, installation_id: int | str) -> dict[str, Any]:
        """POST /app/installations/{installation_id}/access_tokens: {"token", "expires_at", "permissions", ...}."""
        what = f"an access token for GitHub App installation {installation_id}"
        response = self._rest.call("POST", f"/app/installations/{segment(installation_id)}/access_tokens", app_jwt)
        # Quirk: here a 401 is about the App's own JWT and a 403 about the installation, so say what to check.
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
        missing = f"GitHub App installation {installation_id} not found or the App was uninstalled"
        body = self._rest.decode(self._rest.check(response, what, not_found=missing), what)
        if not isinstance(body, dict) or not isinstance(body.get("token"), str) or "expires_at" not in body:
            raise RemoteUnreachableError(f"GitHub answered {what} without a token")
        return body

    def user_installations(self, user_token: str) -> list[dict[str, Any]]:
        """GET /user/installations: the App's installations the signed-in user can access (a user token)."""
        return self._rest.pages(
            "/user/installations", user_token, "the user's installations", items_key="installations"
        )

    def installation_repositories(self, token: str) -> list[dict[str, Any]]:
        """GET /installation/repositories: every repository the installation can access."""
        what = "the installation's repositories"
        return self._rest.pages("/installation/repositories", token, what, items_key="repositories")

    # -- the App's webhook deliveries -------------------------------------------------------------------------

    def hook_deliveries(self, app_jwt: str) -> Iterator[list[dict[str, Any]]]:
        """GET /app/hook/deliveries (App JWT), newest first, a page of 100 at a time (cursor paging by Link)."""
        return self._rest.each_page(
            "/app/hook/deliveries", app_jwt, "the App's webhook deliveries", params={"per_page": 100}
        )

    def redeliver(self, app_jwt: str, delivery_id: str) -> bool:
        """POST /app/hook/deliveries/{delivery_id}/attempts: GitHub sends the delivery again (202); False when it no
        longer has it (404: deliveries are kept three days)."""
        path = f"/app/hook/deliveries/{segment(delivery_id)}/attempts"
        return self._rest.done("POST", path, app_jwt, f"the redelivery of {delivery_id}")

    # -- repositories ------------------------------------------------------------------------------------------

    def repository(self, token: str, owner: str, repo: str) -> dict[str, Any] | None:
        """GET /repos/{owner}/{repo} with an installation token: one call, however many repositories the installation
        has; None when the installation cannot access it (GitHub answers 404 without saying whether it exists)."""
        what = f"repository {owner}/{repo}"
        body = self._rest.request("GET", f"/repos/{segment(owner)}/{segment(repo)}", token, what, missing={404})
        if body is None:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("full_name"), str) or "id" not in body:
            raise RemoteUnreachableError(f"GitHub answered {what} without its full name and id")
        return body

    def commit(self, token: str, owner: str, repo: str, ref: str) -> str | None:
        """GET /repos/{owner}/{repo}/commits/{ref}: the full sha of a commit named by a (short) sha; None when the
        repository has no such commit (GitHub: 422 "No commit found for SHA", 404, or 409 for an empty repository).
        `per_page=1` keeps the answer small: the commit's file list is paged with it."""
        what = f"commit {ref} of {owner}/{repo}"
        path = f"/repos/{segment(owner)}/{segment(repo)}/commits/{segment(ref)}"
        body = self._rest.request("GET", path, token, what, params={"per_page": 1}, missing={404, 409, 422})
        sha = body.get("sha") if isinstance(body, dict) else None
        return sha if isinstance(sha, str) else None

    def branches(self, token: str, owner: str, repo: str) -> list[tuple[str, str]]:
        """GET /repos/{owner}/{repo}/branches (all pages): (name, head sha) pairs."""
        what = f"the branches of {owner}/{repo}"
        items = self._rest.pages(f"/repos/{segment(owner)}/{segment(repo)}/branches", token, what)
        return [(item["name"], item["commit"]["sha"]) for item in items]

    def conditional_list(
        self, token: str, owner: str, repo: str, listing: str, validators: Sequence[str]
    ) -> ConditionalList:
        """GET /repos/{owner}/{repo}/branches or …/tags (`listing`), every page sent with the ETag it had last time
        (`If-None-Match`): a page that did not change answers 304 Not Modified, which GitHub does not count against
        the rate limit. Pages follow `Link` rel="next" as GitHub gave it (for a 304 page: as it gave it with that
        ETag). Only when some page changed are the 304 pages read again, so the whole list is known; a last page that
        was full is always read (a new item would start a page its ETag cannot announce). Bounded by max_pages."""
        what = f"the {listing} of {owner}/{repo}"
        known = [_Validator.parse(v) for v in validators]
        url: str | None = f"{self.api_url}/repos/{segment(owner)}/{segment(repo)}/{listing}"
        params: dict[str, str | int] | None = {"per_page": PER_PAGE}
        pages: list[list[Any] | None] = []
        asked: list[tuple[str, dict[str, str | int] | None]] = []  # each page's URL, to read a 304 page again
        fresh: list[_Validator] = []
        calls = free = 0
        while url is not None:
            if len(pages) == self._rest.max_pages:
                raise ListTooLongError(f"GitHub has more than {self._rest.max_pages} pages of {what}")
            previous = known[len(pages)] if len(pages) < len(known) else None
            # A full last page is read unconditionally: an item added after it starts a page its ETag cannot tell.
            usable = previous is not None and previous.etag and (previous.next or previous.count < PER_PAGE)
            conditional = {"If-None-Match": previous.etag} if usable and previous else {}
            asked.append((url, params))
            response, calls = self._rest.get_url(url, token, params=params, headers=conditional), calls + 1
            if response.status == 304 and previous is not None:
                free += 1
                pages.append(None)
                fresh.append(previous)
                url, params = previous.next or None, None
                continue
            body = self._rest.decode(self._rest.check(response, what), what)
            if not isinstance(body, list):
                raise RemoteUnreachableError(f"GitHub answered {what} with an unexpected shape")
            following = next_link(response.headers.get("link"))
            if following is not None and not same_origin(following, self.api_url):
                raise RemoteUnreachableError(f"GitHub's pagination link for {what} leaves the API")
            pages.append(body)
            fresh.append(_Validator(response.headers.get("etag") or "", len(body), following or ""))
            url, params = following, None
        if all(page is None for page in pages):
            return ConditionalList(None, [v.dump() for v in fresh], calls, free)
        for index, page in enumerate(pages):  # something moved: the pages that did not are read again
            if page is None:
                response, calls = self._rest.get_url(*asked[index][:1], token, params=asked[index][1]), calls + 1
                body = self._rest.decode(self._rest.check(response, what), what)
                pages[index] = body if isinstance(body, list) else []
        items = [item for page in pages for item in page or ()]
        return ConditionalList(items, [v.dump() for v in fresh], calls, free)

    def branch_head(self, token: str, owner: str, repo: str, branch: str) -> str | None:
        """GET /repos/{owner}/{repo}/branches/{branch}: the head sha, None when there is no such branch.

        A renamed branch answers 301 to its new name, which the client follows (as git does for pushes)."""
        what = f"branch {branch!r} of {owner}/{repo}"
        path = f"/repos/{segment(owner)}/{segment(repo)}/branches/{segment(branch)}"
        body = self._rest.request("GET", path, token, what, missing={404})
        if body is None:
            return None
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
        body = self._rest.request(
            "GET", path, token, what, params={"per_page": 1}, missing=lambda r: r.status == 404 or r.status >= 500
        )
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
        """The commit a tag points at (annotated tags dereferenced, MAX_TAG_DEPTH of them at most), None when the
        tag does not exist or does not point at a commit."""
        base = f"/repos/{segment(owner)}/{segment(repo)}/git"
        what = f"tag {tag!r} of {owner}/{repo}"
        path = f"{base}/ref/tags/{segment(tag)}"
        for _ in range(1 + MAX_TAG_DEPTH):
            body = self._rest.request("GET", path, token, what, missing={404, 409})  # 409: the repository is empty
            target = (body.get("object") if isinstance(body, dict) else None) or {}
            if target.get("type") != "tag":
                return str(target["sha"]) if target.get("type") == "commit" else None
            path = f"{base}/tags/{segment(target['sha'])}"
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
        body = without_none(state=state, target_url=target_url, description=description, context=context)
        result: dict[str, Any] = self._rest.request(
            "POST",
            f"/repos/{segment(owner)}/{segment(repo)}/statuses/{segment(sha)}",
            token,
            f"a commit status on {owner}/{repo}@{sha[:12]}",
            json_body=body,
            not_found=f"{owner}/{repo} is not accessible to the GitHub App",
        )
        return result

    def check_run(self, token: str, owner: str, repo: str, run: dict[str, Any]) -> dict[str, Any] | None:
        """The build's check run on its commit, created (POST /repos/{owner}/{repo}/check-runs) or, when this build
        has one already (same name and `external_id`, GET …/commits/{sha}/check-runs), updated
        (PATCH …/check-runs/{id}): one run per build, moving from queued to completed. None when the App may not
        (no Checks permission: GitHub answers 403 "Resource not accessible by integration")."""
        base, sha = f"/repos/{segment(owner)}/{segment(repo)}", str(run["head_sha"])
        what = f"the check runs of {owner}/{repo}@{sha[:12]}"
        listed = self._rest.request(
            "GET",
            f"{base}/commits/{segment(sha)}/check-runs",
            token,
            what,
            params={"check_name": str(run["name"]), "filter": "all", "per_page": 100},
            missing=_no_checks_permission,
            not_found=f"{owner}/{repo} is not accessible to the GitHub App",
        )
        if listed is None:
            return None
        mine = next((r for r in listed.get("check_runs") or () if r.get("external_id") == run.get("external_id")), None)
        if mine is None:
            method, path = "POST", f"{base}/check-runs"
            body = run
        else:
            method, path = "PATCH", f"{base}/check-runs/{segment(str(mine['id']))}"
            body = {k: v for k, v in run.items() if k != "head_sha"}
        result: dict[str, Any] | None = self._rest.request(
            method,
            path,
            token,
            what,
            json_body=body,
            missing=_no_checks_permission,
            not_found=f"{owner}/{repo} is not accessible to the GitHub App",
        )
        return result

    # -- repository contents (GitOps) ---------------------------------------------------------------------------

    def file(self, token: str, owner: str, repo: str, path: str, ref: str) -> dict[str, Any] | None:
        """GET /repos/{owner}/{repo}/contents/{path}?ref=: the file (base64 `content`, blob `sha`); None when there is
        no file at that path (a directory is UnprocessableError, an unknown ref NotFoundError)."""
        body = self._rest.request(
            "GET",
            f"/repos/{segment(owner)}/{segment(repo)}/contents/{segments(path)}",
            token,
            f"{path} at {ref[:12]} of {owner}/{repo}",
            params={"ref": ref},
            # Quirk: GitHub says "Not Found" for a missing path, "No commit found for the ref ..." for a missing ref.
            missing=lambda r: r.status == 404 and github_message(r) == "Not Found",
        )
        if body is None:
            return None
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
        author: CommitAuthor | None = None,
    ) -> dict[str, Any] | None:
        """PUT /repos/{owner}/{repo}/contents/{path}: a commit writing the file on `branch`. `sha` is the blob being
        replaced (None: create). GitHub itself refuses a stale `sha` (409) and a create over an existing file (422,
        "sha" wasn't supplied): None here. The answer has the new `content.sha` and `commit.sha`. `author` names
        the commit's author; no `committer` is sent, so GitHub makes the App (gitconnect) the committer."""
        body: dict[str, Any] = {"message": message, "content": base64.b64encode(content).decode(), "branch": branch}
        if sha is not None:
            body["sha"] = sha
        if author is not None:
            body["author"] = {"name": author.name, "email": author.email}
        what = f"a commit of {path} to {branch} of {owner}/{repo}"
        response = self._rest.call(
            "PUT", f"/repos/{segment(owner)}/{segment(repo)}/contents/{segments(path)}", token, json_body=body
        )
        if _protected_branch(response):
            raise ProtectedBranchError(f"GitHub refused {what}: {github_message(response)}")
        if response.status == 409 or (response.status == 422 and '"sha"' in github_message(response)):
            return None
        not_found = f"the branch {branch!r} or {owner}/{repo} was not found"
        result: dict[str, Any] = self._rest.decode(self._rest.check(response, what, not_found=not_found), what)
        return result

    # -- branches and pull requests (GitOps pull-request mode) ---------------------------------------------------

    def create_ref(self, token: str, owner: str, repo: str, branch: str, sha: str) -> bool:
        """POST /repos/{owner}/{repo}/git/refs: the branch at `sha`; False when it exists already (GitHub: 422
        "Reference already exists")."""
        what = f"the branch {branch!r} of {owner}/{repo}"
        body = self._rest.request(
            "POST",
            f"/repos/{segment(owner)}/{segment(repo)}/git/refs",
            token,
            what,
            json_body={"ref": f"refs/heads/{branch}", "sha": sha},
            missing=lambda r: r.status == 422 and "already exists" in github_message(r),
        )
        return body is not None

    def move_ref(self, token: str, owner: str, repo: str, branch: str, sha: str) -> None:
        """PATCH /repos/{owner}/{repo}/git/refs/heads/{branch} with `force`: the branch moved to `sha`."""
        self._rest.request(
            "PATCH",
            f"/repos/{segment(owner)}/{segment(repo)}/git/refs/{segments('heads/' + branch)}",
            token,
            f"moving the branch {branch!r} of {owner}/{repo}",
            json_body={"sha": sha, "force": True},
        )

    def open_pulls(self, token: str, owner: str, repo: str, head: str, base: str) -> list[dict[str, Any]]:
        """GET /repos/{owner}/{repo}/pulls?state=open&head={owner}:{branch}&base=: the open pull requests from one
        branch of the repository into another (one at most, GitHub allows no second)."""
        what = f"the open pull requests from {head} into {base} of {owner}/{repo}"
        params = {"state": "open", "head": f"{owner}:{head}", "base": base}
        return self._rest.pages(f"/repos/{segment(owner)}/{segment(repo)}/pulls", token, what, params=params)

    def create_pull(
        self, token: str, owner: str, repo: str, head: str, base: str, title: str, body: str
    ) -> dict[str, Any]:
        """POST /repos/{owner}/{repo}/pulls (201); GitHub refuses a second open one for the same head (422 "A pull
        request already exists"), UnprocessableError here."""
        result: dict[str, Any] = self._rest.request(
            "POST",
            f"/repos/{segment(owner)}/{segment(repo)}/pulls",
            token,
            f"a pull request from {head} into {base} of {owner}/{repo}",
            json_body={"title": title, "head": head, "base": base, "body": body},
        )
        return result

    def update_pull(self, token: str, owner: str, repo: str, number: int, title: str, body: str) -> dict[str, Any]:
        """PATCH /repos/{owner}/{repo}/pulls/{pull_number}: its title and description."""
        result: dict[str, Any] = self._rest.request(
            "PATCH",
            f"/repos/{segment(owner)}/{segment(repo)}/pulls/{segment(number)}",
            token,
            f"pull request #{number} of {owner}/{repo}",
            json_body={"title": title, "body": body},
        )
        return result

    # -- OAuth (the web host, not the API) ----------------------------------------------------------------------

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
        # Quirk: the web host, not the API, with plain JSON and no API version.
        response = self._http.request(
            "POST",
            web_url.rstrip("/") + "/login/oauth/access_token",
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            form=form,
        )
        what = "the OAuth code exchange"
        body = self._rest.decode(self._rest.check(response, what), what)
        if not isinstance(body, dict):
            raise RemoteUnreachableError(f"GitHub answered {what} with an unexpected shape")
        if body.get("error"):
            reason = body.get("error_description") or body["error"]
            raise RemoteAuthError(f"GitHub refused the OAuth code: {reason}", error=str(body["error"]))
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise RemoteUnreachableError(f"GitHub answered {what} without an access token")
        return token


_PROTECTION_WORDS = ("protected branch", "changes must be made through a pull request", "repository rule violations")


def _protected_branch(response: HttpResponse) -> bool:
    """GitHub's refusal of a direct commit to a protected branch: 409 (branch protection: "Changes must be made
    through a pull request", with the about-protected-branches documentation URL) or 422 (repository rules:
    "Repository rule violations found")."""
    if response.status not in (409, 422):
        return False
    body = json_or_none(response)
    docs = str(body.get("documentation_url", "")) if isinstance(body, dict) else ""
    message = github_message(response).lower()
    return "protected-branches" in docs or any(words in message for words in _PROTECTION_WORDS)


def _no_checks_permission(response: HttpResponse) -> bool:
    """A 403 that is the App's missing permission (not a rate limit, which GitHub also answers with 403)."""
    if response.status != 403:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("message", "")).startswith("Resource not accessible by integration")
