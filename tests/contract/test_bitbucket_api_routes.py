"""Every Bitbucket Cloud request gitconnect makes, checked against Bitbucket's own API description: the route table
of the npm `bitbucket` client (generated from Atlassian's OpenAPI description of api.bitbucket.org/2.0), fetched from
the registry at test time. Each BitbucketApi call runs against the fake; each request the fake received must be a
route of that method with its required parameters, and every query parameter must be the route's own (with an
allowed value where the description lists them) or one of Bitbucket's global paging/filtering parameters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote

import pytest

from gitconnect.adapters.http import RequestsHttpClient
from gitconnect.providers.bitbucket.api import BitbucketApi, basic_auth
from tests.support.fake_bitbucket import FakeBitbucket, Recorded
from tests.support.fake_gitlab import fake_sha
from tests.support.registry import bitbucket_routes

# Documented for every list ("Pagination", "Filter and sort API objects"), so not repeated per route.
GLOBAL_QUERY = {"pagelen", "page", "q", "sort", "fields"}
# Newer than the description the client was generated from: Bitbucket announced it on 2026-01-16 (CHANGE-3022) as the
# replacement for GET /user/permissions/workspaces, which CHANGE-2770 removed.
NEWER_ROUTES = {("GET", "/user/workspaces")}


def _pattern(url: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", url)
    regex = "".join(("(?P<path>.+)" if p == "{path}" else "[^/]+") if p.startswith("{") else re.escape(p)
                    for p in parts)
    return re.compile(f"^{regex}$")


def route_of(method: str, path: str) -> dict | None:
    """The most specific route matching a request (literal segments beat parameters)."""
    candidates = [r for r in bitbucket_routes() if r["method"] == method and _pattern(r["url"]).match(path)]
    return max(candidates, key=lambda r: len(re.sub(r"\{[^}]+\}", "", r["url"])), default=None)


@pytest.fixture(scope="module")
def exercised() -> Iterator[list[Recorded]]:
    """Every BitbucketApi method, success and "absent" answers, against the fake."""
    with FakeBitbucket() as fake:
        alice = fake.add_user("alice", email="alice@example.com")
        acme = fake.add_workspace("acme", members=[alice])
        repo = fake.add_repo(acme, "app", branches={"main": fake_sha("m1"), "release/1.x": fake_sha("r1")})
        fake.add_commit(repo, fake_sha("m2"), parents=[fake_sha("m1")])
        fake.set_diffstat(repo, fake_sha("m2"), fake_sha("m1"), ["src/a.py"])
        api = BitbucketApi(RequestsHttpClient(allow_loopback=True, timeout=10), fake.api_url)
        auth = basic_auth("alice@example.com", fake.api_token(alice))
        api.current_user(auth)
        api.workspaces(auth)
        api.repositories(auth, "acme", "ap")
        api.repositories(auth, "acme", first_page_only=True)
        api.repository(auth, "acme/app")
        api.branches(auth, "acme/app")
        api.named_commits(auth, "acme/app", "refs")  # the reconcile: branches and tags in one list
        api.named_commits(auth, "acme/app", "branches")
        api.branch_head(auth, "acme/app", "release/1.x")
        api.branch_head(auth, "acme/app", "missing")
        api.commit(auth, "acme/app", fake_sha("m2")[:12])
        api.commit(auth, "acme/app", "abcdef123456")
        api.diffstat_files(auth, "acme/app", fake_sha("m2"), fake_sha("m1"))
        uid = api.create_hook(auth, "acme/app", "https://gitconnect.example/v1/webhooks/bitbucket/h", "s3cret",
                              ("repo:push", "pullrequest:created"))
        api.hook(auth, "acme/app", uid)
        api.update_hook(auth, "acme/app", uid, "https://gitconnect.example/v1/webhooks/bitbucket/h", "n3w",
                        ("repo:push",))
        api.delete_hook(auth, "acme/app", uid)
        api.hook(auth, "acme/app", uid)
        api.create_build_status(auth, "acme/app", fake_sha("m2"), key="gitconnect-src", state="INPROGRESS",
                                url="https://gitconnect.example/b/1", name="gitconnect", description="running")
        head = api.branch_head(auth, "acme/app", "main")
        sha = api.commit_file(auth, "acme/app", "main", "/templates/app.json", b"{}", "Add", head)
        api.file(auth, "acme/app", str(sha), "templates/app.json")
        api.file(auth, "acme/app", str(sha), "absent.json")
        # Pull-request mode: gitconnect's branch (created, taken: False, deleted), its pull request
        assert api.create_branch(auth, "acme/app", "gitconnect/tpl_1", str(sha))
        assert not api.create_branch(auth, "acme/app", "gitconnect/tpl_1", str(sha))
        api.commit_file(auth, "acme/app", "gitconnect/tpl_1", "templates/app.json", b'{"a": 1}', "Propose", None)
        assert api.open_pull_requests(auth, "acme/app", "gitconnect/tpl_1", "main") == []
        opened = api.create_pull_request(auth, "acme/app", "gitconnect/tpl_1", "main", "Update app", "From the app")
        assert [p["id"] for p in api.open_pull_requests(auth, "acme/app", "gitconnect/tpl_1", "main")] == [opened["id"]]
        api.update_pull_request(auth, "acme/app", opened["id"], "Update app again", "From the app")
        assert api.delete_branch(auth, "acme/app", "gitconnect/tpl_1")
        assert not api.delete_branch(auth, "acme/app", "gitconnect/tpl_1")
        yield [r for r in fake.log if r.api]


def test_the_description_is_loaded() -> None:
    assert route_of("GET", "/repositories/acme/app/src/0123/templates/app.json")["url"] == (  # type: ignore[index]
        "/repositories/{workspace}/{repo_slug}/src/{commit}/{path}")
    assert route_of("GET", "/repositories/acme/app/refs/branches/main") is not None
    assert route_of("GET", "/nowhere") is None


def test_every_request_is_a_documented_route(exercised: list[Recorded]) -> None:
    assert len(exercised) >= 20
    for request in exercised:
        path = request.path.split("?", 1)[0]
        if (request.method, path) in NEWER_ROUTES:
            continue
        route = route_of(request.method, path)
        assert route is not None, f"{request.method} {path} is not a Bitbucket Cloud API route"
        for name, spec in route["params"].items():
            if name == "_body" and spec["required"]:
                assert request.body, f"{request.method} {route['url']} needs a body"
        for name, values in request.query.items():
            if name in GLOBAL_QUERY:
                continue
            assert name in route["params"], f"{request.method} {route['url']} has no query parameter {name!r}"
            allowed = route["params"][name]["enum"]
            assert allowed is None or all(v in allowed for v in values), (name, values, allowed)


def test_path_segments_are_quoted(exercised: list[Recorded]) -> None:
    """A branch with a slash is one path segment (`release%2F1.x`), never two."""
    (branch,) = [r for r in exercised if "release" in r.path]
    assert branch.path.endswith("/refs/branches/release%2F1.x")
    assert unquote(branch.path.rsplit("/", 1)[-1]) == "release/1.x"
