"""Bitbucket Cloud's REST API 2.0, the calls gitconnect makes: its endpoints over the shared REST core
(`providers.rest`: the injected `HttpClient`, no I/O of its own). developer.atlassian.com/cloud/bitbucket/rest is
the reference.

- The API lives under `{api_url}/2.0` (`https://api.bitbucket.org/2.0`). Every request carries the `Authorization`
  value it is given: `Bearer <OAuth or access token>`, or `Basic <e-mail:API token>` (`basic_auth`).
- Repositories are `{workspace}/{repo_slug}` (each segment percent-quoted); webhooks carry their stable `uuid`.
- Lists are pages `{"values", "next"?}`; `next` is an absolute URL, followed only while it stays on the API's own
  origin (the token never goes elsewhere: a `next` elsewhere is an error), bounded by max_pages.
- Errors are `{"type": "error", "error": {"message", "detail"?}}` (OAuth's token endpoint: `{"error",
  "error_description"}`). The statuses map as for every provider (`providers.rest`): 401/403 → RemoteAuthError,
  404 → None or NotFoundError as each method says, 400/422 → UnprocessableError, 409 → ConflictError,
  429 → RateLimitedError, 5xx (and Bitbucket's 555 for a diff that timed out) → RemoteUnreachableError.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from gitconnect.domain.errors import (
    ConflictError,
    NotFoundError,
    ProtectedBranchError,
    RemoteUnreachableError,
    UnprocessableError,
)
from gitconnect.providers.base import CommitAuthor, HttpClient, HttpResponse
from gitconnect.providers.rest import (
    MAX_PAGES,
    USER_AGENT,
    BodyNext,
    Dialect,
    RestClient,
    bounded,
    json_or_none,
    segment,
    segments,
    without_none,
)

__all__ = ["USER_AGENT", "BitbucketApi", "basic_auth", "error_message", "raise_for_status", "repo_path", "segment"]

log = logging.getLogger(__name__)

API_PREFIX = "/2.0"
PAGELEN = 100  # Bitbucket's maximum for most lists
BUILD_STATES = frozenset({"INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"})


def basic_auth(username: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()


def repo_path(full_name: str) -> str:
    """`/repositories/{workspace}/{repo_slug}` for `workspace/slug` (or `workspace/{uuid}`)."""
    workspace, _, slug = full_name.strip("/").partition("/")
    if not workspace or not slug or "/" in slug:
        raise UnprocessableError(f"a Bitbucket repository is `workspace/repository`, not {full_name!r}")
    return f"/repositories/{segment(workspace)}/{segment(slug)}"


def error_message(response: HttpResponse) -> str:
    """Bitbucket's error text (bounded), or the status when the body says nothing usable."""
    body = json_or_none(response)
    text = ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            text = str(error.get("message") or "")
            if error.get("detail"):
                text = f"{text}: {error['detail']}" if text else str(error["detail"])
        elif isinstance(error, str):
            text = str(body.get("error_description") or error)
    return bounded(text, response)


def _as_given(authorization: str) -> str:
    return authorization  # callers pass the whole header value: Bearer or Basic


BITBUCKET = Dialect("Bitbucket", error_message, BodyNext(pagelen=PAGELEN), authorization=_as_given)
raise_for_status = BITBUCKET.raise_for_status


class BitbucketApi:
    """The REST calls, each made with the `Authorization` value it is given."""

    def __init__(self, http: HttpClient, api_url: str = "https://api.bitbucket.org", *, max_pages: int = MAX_PAGES):
        self._rest = RestClient(http, api_url.rstrip("/") + API_PREFIX, BITBUCKET, max_pages=max_pages)
        self.api_url = self._rest.api_url

    # -- the account ---------------------------------------------------------------------------------------------

    def current_user(self, auth: str) -> dict[str, Any]:
        """GET /user: `nickname`, `display_name`, `uuid`, `account_id`."""
        result: dict[str, Any] = self._rest.request("GET", "/user", auth, "the account")
        return result

    def workspaces(self, auth: str) -> list[str]:
        """GET /user/workspaces (all pages): the slugs of the workspaces the account can reach. Access tokens, which
        belong to one workspace, are refused (403)."""
        values = self._rest.pages("/user/workspaces", auth, "the account's workspaces")
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
            page = self._rest.request(
                "GET",
                path,
                auth,
                what,
                params={**params, "pagelen": 1},
                not_found=f"workspace {workspace!r} not found or not accessible",
            )
            return list(page.get("values") or [])
        return self._rest.pages(path, auth, what, params=params)

    def repository(self, auth: str, full_name: str) -> dict[str, Any]:
        """GET /repositories/{workspace}/{repo_slug}; NotFoundError when it is not there or not visible."""
        what = f"Bitbucket repository {full_name}"
        result: dict[str, Any] = self._rest.request(
            "GET", repo_path(full_name), auth, what, not_found=f"{what} not found or not accessible"
        )
        return result

    def branches(self, auth: str, full_name: str) -> list[tuple[str, str]]:
        """GET …/refs/branches (all pages): (name, head sha) pairs."""
        items = self._rest.pages(f"{repo_path(full_name)}/refs/branches", auth, f"the branches of {full_name}")
        return [(str(b["name"]), str(b["target"]["hash"])) for b in items]

    def named_commits(self, auth: str, full_name: str, listing: str) -> tuple[list[tuple[str, str, str]], int]:
        """GET …/refs (branches and tags in one list) or …/refs/branches (`listing`), every page of 100:
        (type, name, commit) triples (`type` "branch" or "tag"; a tag's target is its commit) and the pages read."""
        path = f"{repo_path(full_name)}/refs" + ("" if listing == "refs" else f"/{listing}")
        triples: list[tuple[str, str, str]] = []
        pages = 0
        for page in self._rest.each_page(path, auth, f"the {listing} of {full_name}"):
            pages += 1
            for ref in page:
                kind = str(ref.get("type") or ("branch" if listing == "branches" else ""))
                triples.append((kind, str(ref["name"]), str(ref["target"]["hash"])))
        return triples, pages

    def branch_head(self, auth: str, full_name: str, branch: str) -> str | None:
        """GET …/refs/branches/{name}: the head sha, None when there is no such branch (NotFoundError when the
        repository itself is gone)."""
        what = f"branch {branch!r} of {full_name}"
        body = self._rest.request(
            "GET", f"{repo_path(full_name)}/refs/branches/{segment(branch)}", auth, what, missing={404}
        )
        if body is None:
            # Quirk: Bitbucket's 404 does not say whether the branch or the repository is missing.
            self.repository(auth, full_name)  # raises when the repository is what is missing
            return None
        sha = (body.get("target") or {}).get("hash")
        if not isinstance(sha, str):
            raise RemoteUnreachableError(f"Bitbucket answered {what} without a commit")
        return sha

    def commit(self, auth: str, full_name: str, revision: str) -> str | None:
        """GET …/commit/{revision}: the full hash of a (short) hash or ref; None when Bitbucket does not know it."""
        what = f"commit {revision} of {full_name}"
        body = self._rest.request(
            "GET", f"{repo_path(full_name)}/commit/{segment(revision)}", auth, what, missing={404}
        )
        sha = body.get("hash") if isinstance(body, dict) else None
        return sha if isinstance(sha, str) else None

    def diffstat_files(self, auth: str, full_name: str, new: str, old: str) -> list[str] | None:
        """GET …/diffstat/{new}..{old} (all pages): every path changed (both sides of a rename), or None when
        Bitbucket cannot say (unknown commits, or it failed to compute the diff: 5xx, 555 when it timed out)."""
        what = f"the diffstat {old[:12]}..{new[:12]} of {full_name}"
        spec = f"{segment(new)}..{segment(old)}"
        try:
            values = self._rest.pages(f"{repo_path(full_name)}/diffstat/{spec}", auth, what)
        except (NotFoundError, RemoteUnreachableError, UnprocessableError, ConflictError) as exc:
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
        created = self._rest.request(
            "POST",
            f"{repo_path(full_name)}/hooks",
            auth,
            f"a webhook on {full_name}",
            json_body=self._hook_body(url, secret, events),
            not_found=f"Bitbucket repository {full_name} not found or not accessible",
        )
        return str(created["uuid"])

    def hook(self, auth: str, full_name: str, hook_uuid: str) -> dict[str, Any] | None:
        """GET …/hooks/{uid}; None when it is gone."""
        result: dict[str, Any] | None = self._rest.request(
            "GET",
            f"{repo_path(full_name)}/hooks/{segment(hook_uuid)}",
            auth,
            f"webhook {hook_uuid} of {full_name}",
            missing={404},
        )
        return result

    def update_hook(
        self, auth: str, full_name: str, hook_uuid: str, url: str, secret: str, events: tuple[str, ...]
    ) -> bool:
        """PUT …/hooks/{uid} with the whole configuration and a new secret; False when the hook is gone."""
        return self._rest.done(
            "PUT",
            f"{repo_path(full_name)}/hooks/{segment(hook_uuid)}",
            auth,
            f"webhook {hook_uuid} of {full_name}",
            json_body=self._hook_body(url, secret, events),
        )

    def delete_hook(self, auth: str, full_name: str, hook_uuid: str) -> bool:
        """DELETE …/hooks/{uid}: True when deleted, False when it was already gone."""
        what = f"deleting webhook {hook_uuid} of {full_name}"
        return self._rest.done("DELETE", f"{repo_path(full_name)}/hooks/{segment(hook_uuid)}", auth, what)

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
        body = without_none(key=key, state=state, url=url, name=name, description=description)
        result: dict[str, Any] = self._rest.request(
            "POST",
            f"{repo_path(full_name)}/commit/{segment(sha)}/statuses/build",
            auth,
            f"a build status on {full_name}@{sha[:12]}",
            json_body=body,
        )
        return result

    # -- source (GitOps) -----------------------------------------------------------------------------------------

    def file(self, auth: str, full_name: str, commit: str, path: str) -> bytes | None:
        """GET …/src/{commit}/{path}: the file's bytes; None when there is no file at that path (a directory is
        UnprocessableError). Read at a commit hash, never a branch name (a branch may contain `/`)."""
        what = f"{path} at {commit[:12]} of {full_name}"
        base = f"{repo_path(full_name)}/src/{segment(commit)}/{segments(path.lstrip('/'))}"
        meta = self._rest.request("GET", base, auth, what, params={"format": "meta"}, missing={404})
        if meta is None:
            return None
        if not isinstance(meta, dict) or meta.get("type") != "commit_file":
            raise UnprocessableError(f"{path} is a directory in {full_name}, not a file")
        # Quirk: without format=meta the answer is the file's raw bytes, not JSON.
        return self._rest.check(self._rest.call("GET", base, auth), what).body

    def commit_file(
        self,
        auth: str,
        full_name: str,
        branch: str,
        path: str,
        content: bytes,
        message: str,
        parent: str | None,
        author: CommitAuthor | None = None,
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
        if author is not None:  # "Name <email>"; without it Bitbucket authors the commit as the token's user
            form["author"] = author.line
        what = f"a commit to {branch} of {full_name}"
        response = self._rest.call("POST", f"{repo_path(full_name)}/src", auth, form=form)
        if response.status == 409:
            return None
        if response.status == 403 and _RESTRICTED in error_message(response).lower():
            # Branch restrictions (a push restriction, or merges through pull requests only) refuse the commit.
            raise ProtectedBranchError(f"Bitbucket refused {what}: {error_message(response)}")
        self._rest.check(response, what, not_found=f"Bitbucket repository {full_name} not found or not accessible")
        # Quirk: the answer has no body; the new commit is the last segment of `Location`.
        location = response.headers.get("location", "")
        sha = location.rstrip("/").rsplit("/", 1)[-1]
        if len(sha) < 40:
            raise RemoteUnreachableError(f"Bitbucket answered {what} without the new commit's location")
        return sha

    # -- branches and pull requests (GitOps pull-request mode) ---------------------------------------------------

    def create_branch(self, auth: str, full_name: str, branch: str, sha: str) -> bool:
        """POST …/refs/branches {"name", "target": {"hash"}} (201); False when the branch exists already (400)."""
        body = self._rest.request(
            "POST",
            f"{repo_path(full_name)}/refs/branches",
            auth,
            f"the branch {branch!r} of {full_name}",
            json_body={"name": branch, "target": {"hash": sha}},
            # Its words or its code (`BRANCH_ALREADY_EXISTS`), as clients of the API match it.
            missing=lambda r: r.status == 400 and any(w in error_message(r).lower() for w in _TAKEN),
        )
        return body is not None

    def delete_branch(self, auth: str, full_name: str, branch: str) -> bool:
        """DELETE …/refs/branches/{name} (204); False when there is no such branch (404)."""
        what = f"deleting the branch {branch!r} of {full_name}"
        return self._rest.done("DELETE", f"{repo_path(full_name)}/refs/branches/{segment(branch)}", auth, what)

    def open_pull_requests(self, auth: str, full_name: str, source: str, destination: str) -> list[dict[str, Any]]:
        """GET …/pullrequests?state=OPEN&q=source.branch.name="…" AND destination.branch.name="…" (all pages)."""
        what = f"the open pull requests from {source} into {destination} of {full_name}"
        query = f"source.branch.name={_quoted(source)} AND destination.branch.name={_quoted(destination)}"
        params = {"state": "OPEN", "q": query}
        return self._rest.pages(f"{repo_path(full_name)}/pullrequests", auth, what, params=params)

    def create_pull_request(
        self, auth: str, full_name: str, source: str, destination: str, title: str, description: str
    ) -> dict[str, Any]:
        """POST …/pullrequests (201): from a branch of the repository into another."""
        body = {
            "title": title,
            "description": description,
            "source": {"branch": {"name": source}},
            "destination": {"branch": {"name": destination}},
        }
        result: dict[str, Any] = self._rest.request(
            "POST",
            f"{repo_path(full_name)}/pullrequests",
            auth,
            f"a pull request from {source} into {destination} of {full_name}",
            json_body=body,
        )
        return result

    def update_pull_request(
        self, auth: str, full_name: str, number: int, title: str, description: str
    ) -> dict[str, Any]:
        """PUT …/pullrequests/{pull_request_id}: its title and description."""
        result: dict[str, Any] = self._rest.request(
            "PUT",
            f"{repo_path(full_name)}/pullrequests/{segment(number)}",
            auth,
            f"pull request #{number} of {full_name}",
            json_body={"title": title, "description": description},
        )
        return result


_TAKEN = ("already exists", "already_exists")
_RESTRICTED = "branch restriction"  # Bitbucket's 403 when branch restrictions refuse a commit


def _quoted(value: str) -> str:
    """A string literal of Bitbucket's filter language (`q`)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
