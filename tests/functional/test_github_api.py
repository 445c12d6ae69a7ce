"""GitHubApi against the fake GitHub on 127.0.0.1: requests built, answers parsed, errors mapped (its pure pieces:
tests/unit/test_github_api_stubbed.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitconnect.adapters.http import RequestsHttpClient
from gitconnect.domain.errors import NotFoundError, RemoteAuthError, RemoteUnreachableError, UnprocessableError
from gitconnect.providers.github.api import GitHubApi
from gitconnect.providers.rest import ListTooLongError
from tests.support.fake_github import FakeGitHub, fake_sha

OWNER, REPO = "octo-org", "hello-world"
MAIN, FEATURE = fake_sha("main"), fake_sha("feature")


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(api_prefix="/api/v3") as fake:  # GitHub Enterprise Server's layout: the base path matters
        yield fake


@pytest.fixture
def api(github: FakeGitHub, http: RequestsHttpClient) -> GitHubApi:
    return GitHubApi(http, github.api_url)


@pytest.fixture
def installation(github: FakeGitHub) -> int:
    inst = github.add_installation(OWNER)
    github.add_repo(inst, f"{OWNER}/{REPO}", branches={"main": MAIN, "feature/login": FEATURE})
    return inst


@pytest.fixture
def token(github: FakeGitHub, installation: int) -> str:
    return github.mint_installation_token(installation)


# -- requests and pagination ------------------------------------------------------------------------------------------


def test_every_request_names_the_api_version_and_media_type(
    github: FakeGitHub, api: GitHubApi, token: str
) -> None:
    api.branches(token, OWNER, REPO)
    api.branch_head(token, OWNER, REPO, "main")
    for record in github.requests():
        assert record.headers["accept"] == "application/vnd.github+json"
        assert record.headers["x-github-api-version"] == "2022-11-28"
        assert record.headers["user-agent"] == "gitconnect"
        assert record.headers["authorization"] == f"Bearer {token}"


def test_installation_repositories_read_every_page(github: FakeGitHub, api: GitHubApi, installation: int,
                                                   token: str) -> None:
    for n in range(249):
        github.add_repo(installation, f"{OWNER}/repo-{n:03d}")
    repositories = api.installation_repositories(token)
    assert len(repositories) == 250
    assert len({r["id"] for r in repositories}) == 250
    calls = github.requests("GET", "/installation/repositories")
    assert [c.query.get("page") for c in calls] == [None, ["2"], ["3"]]
    assert all(c.query["per_page"] == ["100"] for c in calls)


def test_branches_follow_githubs_links_across_three_pages(github: FakeGitHub, api: GitHubApi, token: str) -> None:
    repo = github.repo(f"{OWNER}/{REPO}")
    for n in range(220):
        repo.branches[f"topic/{n:03d}"] = fake_sha(f"topic {n}")
    branches = api.branches(token, OWNER, REPO)
    assert len(branches) == 222
    assert ("feature/login", FEATURE) in branches
    paths = [r.path for r in github.requests("GET")]
    # GitHub's next links name the repository by id; the client follows them as given.
    assert paths == [f"/repos/{OWNER}/{REPO}/branches", f"/repositories/{repo.id}/branches",
                     f"/repositories/{repo.id}/branches"]


def test_pagination_is_bounded(github: FakeGitHub, http: RequestsHttpClient, installation: int, token: str) -> None:
    for n in range(299):
        github.add_repo(installation, f"{OWNER}/repo-{n:03d}")
    capped = GitHubApi(http, github.api_url, max_pages=2)
    with pytest.raises(ListTooLongError, match="more than 2 pages"):
        capped.installation_repositories(token)
    assert len(github.requests("GET")) == 2


def test_branch_head(github: FakeGitHub, api: GitHubApi, token: str) -> None:
    assert api.branch_head(token, OWNER, REPO, "main") == MAIN
    assert api.branch_head(token, OWNER, REPO, "feature/login") == FEATURE
    assert github.requests()[-1].path == f"/repos/{OWNER}/{REPO}/branches/feature%2Flogin"
    assert api.branch_head(token, OWNER, REPO, "nope") is None


def test_a_repository_the_installation_cannot_see_is_not_found(api: GitHubApi, token: str) -> None:
    with pytest.raises(NotFoundError, match="Not Found"):
        api.branches(token, "someone-else", "private")


def test_bad_credentials_are_a_remote_auth_error(api: GitHubApi, installation: int) -> None:
    with pytest.raises(RemoteAuthError, match="Bad credentials"):
        api.branch_head("ghs_revoked", OWNER, REPO, "main")


def test_compare_files(github: FakeGitHub, api: GitHubApi, token: str) -> None:
    files = ["src/app.py", {"filename": "docs/b.md", "status": "renamed", "previous_filename": "docs/a.md"}]
    github.set_compare(f"{OWNER}/{REPO}", MAIN, FEATURE, files)
    assert api.compare_files(token, OWNER, REPO, MAIN, FEATURE) == ["src/app.py", "docs/b.md", "docs/a.md"]
    assert api.compare_files(token, OWNER, REPO, "main", "feature/login") == ["src/app.py", "docs/b.md", "docs/a.md"]
    assert github.requests()[-1].path.endswith("/compare/main...feature%2Flogin")
    assert api.compare_files(token, OWNER, REPO, MAIN, MAIN) == []


def test_compare_files_is_none_when_github_cannot_say(github: FakeGitHub, api: GitHubApi, token: str) -> None:
    github.set_compare(f"{OWNER}/{REPO}", MAIN, FEATURE, [f"f{n}" for n in range(301)])
    assert api.compare_files(token, OWNER, REPO, MAIN, FEATURE) is None  # GitHub lists at most 300 files
    assert api.compare_files(token, OWNER, REPO, MAIN, fake_sha("force-pushed away")) is None
    github.fail_next("/repos/", 500, times=3)  # too large to compute: GitHub answers 500 (after our retries)
    assert api.compare_files(token, OWNER, REPO, MAIN, FEATURE) is None


def test_tag_commit(github: FakeGitHub, api: GitHubApi, token: str) -> None:
    name = f"{OWNER}/{REPO}"
    github.add_tag(name, "v1", MAIN)
    github.add_tag(name, "v2", FEATURE, annotated=True)
    github.add_tag(name, "release/3", FEATURE, annotated=True, depth=3)
    assert api.tag_commit(token, OWNER, REPO, "v1") == MAIN
    assert api.tag_commit(token, OWNER, REPO, "v2") == FEATURE
    assert api.tag_commit(token, OWNER, REPO, "release/3") == FEATURE
    assert api.tag_commit(token, OWNER, REPO, "v9") is None
    tag_paths = [r.path for r in github.requests() if "/git/" in r.path]
    assert tag_paths[0] == f"/repos/{OWNER}/{REPO}/git/ref/tags/v1"
    assert sum("/git/tags/" in p for p in tag_paths) == 4  # one dereference for v2, three for release/3


def test_tag_commit_in_an_empty_repository(github: FakeGitHub, api: GitHubApi, installation: int,
                                           token: str) -> None:
    github.add_repo(installation, f"{OWNER}/empty", branches={})
    assert api.tag_commit(token, OWNER, "empty", "v1") is None


# -- statuses ----------------------------------------------------------------------------------------------------------


def test_create_commit_status(github: FakeGitHub, api: GitHubApi, token: str) -> None:
    status = api.create_commit_status(token, OWNER, REPO, MAIN, "pending", "https://ci.example.com/b/1",
                                      "Build queued", "gitconnect/build")
    assert status["state"] == "pending"
    sent = github.requests("POST")[-1].body
    assert sent == {"state": "pending", "target_url": "https://ci.example.com/b/1", "description": "Build queued",
                    "context": "gitconnect/build"}
    assert github.statuses(f"{OWNER}/{REPO}", MAIN)[-1]["context"] == "gitconnect/build"


def test_commit_status_description_is_cut_to_githubs_limit(github: FakeGitHub, api: GitHubApi, token: str) -> None:
    api.create_commit_status(token, OWNER, REPO, MAIN, "failure", None, "x" * 500, "ci")
    sent = github.requests("POST")[-1].body
    assert len(sent["description"]) == 140
    assert "target_url" not in sent


def test_commit_status_errors(github: FakeGitHub, api: GitHubApi, token: str) -> None:
    with pytest.raises(UnprocessableError, match="not 'passed'"):
        api.create_commit_status(token, OWNER, REPO, MAIN, "passed", None, None, "ci")
    assert github.requests("POST") == []
    with pytest.raises(UnprocessableError, match="No commit found for SHA"):
        api.create_commit_status(token, OWNER, REPO, fake_sha("unknown"), "success", None, None, "ci")
    github.fail_next("/repos/", 502)
    with pytest.raises(RemoteUnreachableError, match="502"):  # a POST is not retried: it may have been applied
        api.create_commit_status(token, OWNER, REPO, MAIN, "success", None, None, "ci")


# -- the App, installations and OAuth ----------------------------------------------------------------------------------


def test_user_installations_need_a_user_token(github: FakeGitHub, api: GitHubApi, installation: int,
                                              token: str) -> None:
    other = github.add_installation("mona", account_type="User")
    user = github.add_user("mona", [installation, other])
    assert [i["id"] for i in api.user_installations(user)] == [installation, other]
    assert github.requests()[-1].query == {"per_page": ["100"]}
    with pytest.raises(RemoteAuthError, match="Resource not accessible by integration"):
        api.user_installations(token)


def test_exchange_code(github: FakeGitHub, api: GitHubApi) -> None:
    user = github.add_user("mona")
    code = github.issue_code(user)
    assert api.exchange_code(github.web_url, github.client_id, github.client_secret, code) == user
    sent = github.requests("POST", "/login/oauth/access_token")[-1]
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.body == {"client_id": github.client_id, "client_secret": github.client_secret, "code": code}
    assert sent.query == {}  # the secret travels in the body, never in a URL
    # A used code, and wrong client credentials: GitHub answers 200 with an error object
    with pytest.raises(RemoteAuthError, match="incorrect or expired") as used:
        api.exchange_code(github.web_url, github.client_id, github.client_secret, code)
    assert used.value.extra == {"error": "bad_verification_code"}
    with pytest.raises(RemoteAuthError, match="client_secret passed are incorrect"):
        api.exchange_code(github.web_url, github.client_id, "wrong", github.issue_code(user))


def test_server_errors_are_unreachable_with_githubs_message(github: FakeGitHub, api: GitHubApi, token: str) -> None:
    github.fail_next("/repos/", 500, body={"message": "Server Error"}, times=3)
    with pytest.raises(RemoteUnreachableError, match="Server Error"):
        api.branches(token, OWNER, REPO)
