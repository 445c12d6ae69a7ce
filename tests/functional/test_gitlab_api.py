"""GitLabApi against the fake GitLab on 127.0.0.1 (a self-managed instance under a sub-path): requests built,
answers parsed, pagination followed, errors mapped (its pure pieces: tests/unit/test_gitlab_api_stubbed.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gitconnect.adapters.http import RequestsHttpClient
from gitconnect.domain.errors import (
    NotFoundError,
    RemoteAuthError,
    RemoteUnreachableError,
    UnprocessableError,
    UnsafeUrlError,
)
from gitconnect.providers.base import HttpResponse
from gitconnect.providers.gitlab.api import GitLabApi, HookEvents
from gitconnect.providers.rest import ListTooLongError
from tests.support.clock import Clock
from tests.support.fake_gitlab import DEVELOPER, MAINTAINER, FakeGitLab, FakeHook, FakeProject, FakeUser, fake_sha

MAIN, FEATURE = fake_sha("main"), fake_sha("feature")
HOOK_URL = "https://gitconnect.example.com/v1/webhooks/gitlab/hk_123"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gitlab(clock: Clock) -> Iterator[FakeGitLab]:
    with FakeGitLab(prefix="/gitlab", clock=clock) as fake:  # self-managed under a sub-path: the base path matters
        yield fake


@pytest.fixture
def api(gitlab: FakeGitLab, http: RequestsHttpClient) -> GitLabApi:
    return GitLabApi(http, gitlab.base_url)


@pytest.fixture
def mona(gitlab: FakeGitLab) -> FakeUser:
    user = gitlab.add_user("mona")
    group = gitlab.add_group("acme")
    gitlab.add_group("platform", parent=group)
    gitlab.add_member(user, group, MAINTAINER)
    return user


@pytest.fixture
def project(gitlab: FakeGitLab, mona: FakeUser) -> FakeProject:
    return gitlab.add_project("acme/platform", "web", branches={"main": MAIN, "feature/login": FEATURE})


@pytest.fixture
def token(gitlab: FakeGitLab, mona: FakeUser, project: FakeProject) -> str:
    return gitlab.personal_token(mona)


# -- requests and pagination -------------------------------------------------------------------------------------------


def test_every_request_is_a_bearer_request_under_api_v4(gitlab: FakeGitLab, api: GitLabApi, token: str,
                                                        project: FakeProject) -> None:
    api.current_user(token)
    api.branches(token, project.id)
    api.branch_head(token, "acme/platform/web", "main")
    for record in gitlab.requests():
        assert record.api  # served under /gitlab/api/v4
        assert record.headers["authorization"] == f"Bearer {token}"
        assert record.headers["accept"] == "application/json"
        assert record.headers["user-agent"] == "gitconnect"
    assert gitlab.requests()[-1].path == "/projects/acme%2Fplatform%2Fweb/repository/branches/main"


def test_projects_read_every_page_through_x_next_page(gitlab: FakeGitLab, api: GitLabApi, token: str) -> None:
    for n in range(249):
        gitlab.add_project("acme", f"repo-{n:03d}")
    projects = api.projects(token)
    assert len(projects) == 250
    assert [p["path"] for p in projects] == sorted(p["path"] for p in projects)
    calls = gitlab.requests("GET", "/projects")
    assert [c.query.get("page") for c in calls] == [None, ["2"], ["3"]]
    for call in calls:
        assert {k: v[0] for k, v in call.query.items() if k != "page"} == {
            "membership": "true", "simple": "true", "order_by": "path", "sort": "asc", "per_page": "100"}
    assert calls[-1].response_headers["x-next-page"] == ""
    assert "visibility" not in projects[0]  # GitLab's simple view has none


def test_projects_search_and_the_full_view(gitlab: FakeGitLab, api: GitLabApi, token: str) -> None:
    gitlab.add_project("acme", "api-server", visibility="internal")
    found = api.projects(token, "api", simple=False)
    assert [p["path_with_namespace"] for p in found] == ["acme/api-server"]
    assert found[0]["visibility"] == "internal"
    assert gitlab.requests("GET", "/projects")[-1].query["search"] == ["api"]


def test_only_member_projects_are_listed(gitlab: FakeGitLab, api: GitLabApi, token: str, project: FakeProject) -> None:
    stranger = gitlab.add_user("stranger")
    gitlab.add_project(stranger, "secret")
    gitlab.add_project(stranger, "open-source", visibility="public")
    assert [p["path_with_namespace"] for p in api.projects(token)] == ["acme/platform/web"]


def test_pagination_beyond_gitlabs_count_limit(clock: Clock, http: RequestsHttpClient) -> None:
    """Above 10,000 rows GitLab sends no X-Total, X-Total-Pages nor rel="last": X-Next-Page still leads on."""
    with FakeGitLab(clock=clock, count_limit=150) as gitlab:
        user = gitlab.add_user("mona")
        for n in range(230):
            gitlab.add_project(user, f"p{n:03d}")
        assert len(GitLabApi(http, gitlab.base_url).projects(gitlab.personal_token(user))) == 230
        last = gitlab.requests("GET", "/projects")[-1]
        assert "x-total" not in last.response_headers
        assert 'rel="last"' not in last.response_headers["link"]


class _Recording:
    """The real client, minus GitLab's X- pagination headers (as a proxy stripping them would), recording URLs."""

    def __init__(self, http: RequestsHttpClient) -> None:
        self.http = http
        self.urls: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        self.urls.append(url)
        response = self.http.request(method, url, **kwargs)
        headers: Mapping[str, str] = {k: v for k, v in response.headers.items() if not k.startswith("x-")}
        return HttpResponse(response.status, headers, response.body)


def test_branches_follow_link_only_on_our_own_origin(clock: Clock, http: RequestsHttpClient) -> None:
    """GitLab builds Link on its configured external_url, which may not be the URL we were given: the next page's
    query is reused on our own URL, never sent with the token to another host."""
    with FakeGitLab(clock=clock, external_url="https://gitlab.example.com") as gitlab:
        user = gitlab.add_user("mona")
        project = gitlab.add_project(user, "big", branches={f"topic/{n:03d}": fake_sha(str(n)) for n in range(230)})
        recording = _Recording(http)
        branches = GitLabApi(recording, gitlab.base_url).branches(gitlab.personal_token(user), project.id)
        assert len(branches) == 230
        assert ("topic/007", fake_sha("7")) in branches
        assert len(recording.urls) == 3
        assert all(url.startswith(gitlab.api_url) for url in recording.urls)
        assert [r.query.get("page") for r in gitlab.requests("GET")] == [None, ["2"], ["3"]]


def test_keyset_pagination_gives_only_a_link(gitlab: FakeGitLab, api: GitLabApi, token: str,
                                             project: FakeProject) -> None:
    for n in range(198):
        gitlab.set_branch(project, f"topic/{n:03d}", fake_sha(f"topic {n}"))
    items = api._pages(f"/projects/{project.id}/repository/branches", token, "branches", {"pagination": "keyset"})
    assert len(items) == 200
    calls = gitlab.requests("GET")
    assert len(calls) == 3  # GitLab links on while a page is full, so the last page is an empty one
    assert calls[-1].response == []
    assert all("x-next-page" not in c.response_headers for c in calls)
    assert calls[1].query["page_token"] == [items[99]["name"]]


def test_pagination_is_bounded(gitlab: FakeGitLab, http: RequestsHttpClient, token: str) -> None:
    for n in range(299):
        gitlab.add_project("acme", f"repo-{n:03d}")
    with pytest.raises(ListTooLongError, match="more than 2 pages"):
        GitLabApi(http, gitlab.base_url, max_pages=2).projects(token)
    assert len(gitlab.requests("GET")) == 2


# -- the instance and the account --------------------------------------------------------------------------------------


def test_version_proves_a_gitlab(gitlab: FakeGitLab, api: GitLabApi, token: str, http: RequestsHttpClient) -> None:
    assert api.version(token)["version"] == "17.11.1-ee"
    assert api.version(None) == {"version": None, "revision": None}  # GitLab's JSON 401: a GitLab, version unknown
    assert gitlab.requests()[-1].path == "/version"
    with pytest.raises(RemoteAuthError, match="401 Unauthorized"):
        api.version("glpat-wrong")
    without_sub_path = GitLabApi(http, f"http://127.0.0.1:{gitlab.port}")  # the instance lives under /gitlab
    with pytest.raises(UnprocessableError, match="not a GitLab"):
        without_sub_path.version(token)
    assert gitlab.requests()[-1].api is False and gitlab.requests()[-1].status == 404


class _NotGitLab(BaseHTTPRequestHandler):
    status = 404

    def do_GET(self) -> None:
        body = b"<html><body><h1>Not Found</h1></body></html>"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize("status", [404, 200, 401])
def test_a_server_that_is_not_gitlab_is_refused(http: RequestsHttpClient, status: int) -> None:
    handler = type("Handler", (_NotGitLab,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        api = GitLabApi(http, f"http://127.0.0.1:{server.server_address[1]}")
        for token in (None, "glpat-x"):
            with pytest.raises(UnprocessableError, match=r"not a GitLab \(no /api/v4/version\)"):
                api.version(token)
    finally:
        server.shutdown()
        server.server_close()


def test_current_user_and_bot_users(gitlab: FakeGitLab, api: GitLabApi, token: str, project: FakeProject) -> None:
    assert api.current_user(token)["username"] == "mona"
    bot = api.current_user(gitlab.project_token(project))
    assert bot["bot"] is True
    assert bot["username"].startswith(f"project_{project.id}_bot_")


def test_namespaces(gitlab: FakeGitLab, api: GitLabApi, token: str) -> None:
    names = {(n["full_path"], n["kind"]) for n in api.namespaces(token)}
    assert names == {("mona", "user"), ("acme", "group")}


def test_a_project_token_sees_its_project_only(gitlab: FakeGitLab, api: GitLabApi, project: FakeProject) -> None:
    other = gitlab.add_project("acme", "other")
    project_token = gitlab.project_token(project)
    assert [p["id"] for p in api.projects(project_token)] == [project.id]
    with pytest.raises(NotFoundError):
        api.project(project_token, other.id)
    group_token = gitlab.group_token(gitlab.namespace("acme"))
    assert {p["id"] for p in api.projects(group_token)} == {project.id, other.id}


# -- projects, branches, comparisons -----------------------------------------------------------------------------------


def test_project_by_path_or_id(gitlab: FakeGitLab, api: GitLabApi, token: str, project: FakeProject) -> None:
    by_path = api.project(token, "acme/platform/web")
    assert by_path["id"] == project.id
    assert by_path["http_url_to_repo"] == f"{gitlab.base_url}/acme/platform/web.git"
    assert by_path["visibility"] == "private"
    assert api.project(token, project.id)["path_with_namespace"] == "acme/platform/web"
    with pytest.raises(NotFoundError, match="not found or not accessible"):
        api.project(token, "acme/nope")
    stranger = gitlab.add_user("stranger")
    gitlab.add_project(stranger, "secret")
    with pytest.raises(NotFoundError):
        api.project(token, "stranger/secret")  # GitLab does not say it exists


def test_branches_and_branch_heads(gitlab: FakeGitLab, api: GitLabApi, token: str, project: FakeProject) -> None:
    assert sorted(api.branches(token, "acme/platform/web")) == [("feature/login", FEATURE), ("main", MAIN)]
    assert api.branch_head(token, project.id, "feature/login") == FEATURE
    assert gitlab.requests()[-1].path == f"/projects/{project.id}/repository/branches/feature%2Flogin"
    assert api.branch_head(token, project.id, "nope") is None
    with pytest.raises(NotFoundError, match="404 Project Not Found"):
        api.branch_head(token, 999_999, "main")


def test_compare_files(gitlab: FakeGitLab, api: GitLabApi, token: str, project: FakeProject) -> None:
    files: list[str | dict[str, Any]] = [
        "src/app.py",
        {"new_path": "docs/b.md", "old_path": "docs/a.md", "renamed_file": True},
        {"new_path": "assets/big.bin", "too_large": True},
        {"new_path": "gone.txt", "deleted_file": True},
    ]
    gitlab.set_compare(project, MAIN, FEATURE, files)
    expected = ["src/app.py", "docs/b.md", "docs/a.md", "assets/big.bin", "gone.txt"]
    assert api.compare_files(token, project.id, MAIN, FEATURE) == expected
    assert api.compare_files(token, project.id, "main", "feature/login") == expected
    assert gitlab.requests()[-1].query == {"from": ["main"], "to": ["feature/login"]}
    assert api.compare_files(token, project.id, MAIN, MAIN) == []


def test_compare_files_is_none_when_gitlab_cannot_say(gitlab: FakeGitLab, api: GitLabApi, token: str,
                                                      project: FakeProject) -> None:
    gitlab.set_compare(project, MAIN, FEATURE, [f"f{n}" for n in range(3)], overflow=True)
    assert api.compare_files(token, project.id, MAIN, FEATURE) is None  # compare_timeout: the list was cut
    assert api.compare_files(token, project.id, MAIN, fake_sha("force-pushed away")) is None  # 404 Ref Not Found
    gitlab.fail_next("/projects/", 500)
    assert api.compare_files(token, project.id, MAIN, FEATURE) is None
    with pytest.raises(NotFoundError):
        api.compare_files(token, 999_999, MAIN, FEATURE)


# -- hooks -------------------------------------------------------------------------------------------------------------


def test_hook_lifecycle(gitlab: FakeGitLab, api: GitLabApi, token: str, project: FakeProject) -> None:
    created = api.create_hook(token, "acme/platform/web", HOOK_URL, "secret-1")
    sent = gitlab.requests("POST", "/projects/")[-1].body
    assert sent == {"url": HOOK_URL, "name": "gitconnect", "token": "secret-1", "enable_ssl_verification": True,
                    "push_events": True, "tag_push_events": True, "merge_requests_events": True,
                    "releases_events": True}
    assert "token" not in created  # GitLab never returns a hook's secret
    assert created["alert_status"] == "executable"
    hook_id = created["id"]
    assert gitlab.hook(project, hook_id).token == "secret-1"
    assert [h["id"] for h in api.hooks(token, project.id)] == [hook_id]
    assert api.hook(token, project.id, hook_id)["url"] == HOOK_URL

    updated = api.update_hook(token, project.id, hook_id, HOOK_URL, "secret-2", HookEvents(releases=False))
    assert updated is not None and updated["releases_events"] is False
    assert gitlab.requests("PUT")[-1].body["token"] == "secret-2"
    assert gitlab.hook(project, hook_id).token == "secret-2"

    assert api.delete_hook(token, project.id, hook_id) is True
    assert api.delete_hook(token, project.id, hook_id) is False
    assert api.hook(token, project.id, hook_id) is None
    assert api.update_hook(token, project.id, hook_id, HOOK_URL, "secret-3") is None


def test_a_hook_deleted_or_disabled_on_gitlabs_side(gitlab: FakeGitLab, api: GitLabApi, token: str,
                                                    project: FakeProject, clock: Clock) -> None:
    first = api.create_hook(token, project.id, HOOK_URL, "s1")["id"]
    second = api.create_hook(token, project.id, HOOK_URL + "x", "s2")["id"]
    gitlab.disable_hook(project, first, seconds=600)
    gitlab.remove_hook(project, second)
    [listed] = api.hooks(token, project.id)
    assert listed["alert_status"] == "temporarily_disabled"
    assert listed["disabled_until"] is not None
    assert api.hook(token, project.id, second) is None
    clock.now += 601  # a temporary disabling lapses by itself
    assert api.hook(token, project.id, first)["alert_status"] == "executable"
    gitlab.disable_hook(project, first, permanently=True)
    assert api.hook(token, project.id, first)["alert_status"] == "disabled"
    api.update_hook(token, project.id, first, HOOK_URL, "s3")
    assert api.hook(token, project.id, first)["alert_status"] == "disabled"  # an edit does not re-enable it


def test_a_test_delivery_re_enables_a_disabled_hook(clock: Clock, http: RequestsHttpClient) -> None:
    answers = [500, 200]
    seen: list[dict[str, str]] = []

    def receiver(hook: FakeHook, headers: dict[str, str], payload: Any) -> int:
        seen.append(headers)
        return answers.pop(0)

    with FakeGitLab(clock=clock, deliver=receiver) as gitlab:
        user = gitlab.add_user("mona")
        project = gitlab.add_project(user, "web")
        token = gitlab.personal_token(user)
        api = GitLabApi(http, gitlab.base_url)
        hook_id = api.create_hook(token, project.id, HOOK_URL, "the-secret")["id"]
        gitlab.disable_hook(project, hook_id, permanently=True)
        assert api.test_hook(token, project.id, hook_id) is False  # the receiver failed: still disabled
        assert api.hook(token, project.id, hook_id)["alert_status"] == "disabled"
        assert api.test_hook(token, project.id, hook_id) is True
        assert api.hook(token, project.id, hook_id)["alert_status"] == "executable"
        assert seen[-1]["X-Gitlab-Token"] == "the-secret"
        assert seen[-1]["X-Gitlab-Event"] == "Push Hook"
        with pytest.raises(NotFoundError):
            api.test_hook(token, project.id, 1)


def test_failed_deliveries_disable_a_hook_as_gitlab_does(clock: Clock) -> None:
    with FakeGitLab(clock=clock, deliver=lambda *_: 503) as gitlab:
        user = gitlab.add_user("mona")
        project = gitlab.add_project(user, "web")
        hook = gitlab._create_hook(project, {"url": HOOK_URL, "token": "t"})
        for _ in range(4):
            gitlab.send_event(project, "push")
        assert gitlab.alert_status(hook) == "temporarily_disabled"
        assert gitlab.send_event(project, "push") == []  # not delivered while disabled
        assert gitlab.send_event(project, "release") == []  # not subscribed


def test_hooks_need_the_maintainer_role(gitlab: FakeGitLab, api: GitLabApi, project: FakeProject) -> None:
    developer = gitlab.add_user("dev")
    gitlab.add_member(developer, project, DEVELOPER)
    with pytest.raises(RemoteAuthError, match="403 Forbidden"):
        api.create_hook(gitlab.personal_token(developer), project.id, HOOK_URL, "s")


def test_a_hook_url_gitlab_refuses(clock: Clock, http: RequestsHttpClient) -> None:
    with FakeGitLab(clock=clock, allow_local_webhooks=False) as gitlab:
        user = gitlab.add_user("mona")
        project = gitlab.add_project(user, "web")
        with pytest.raises(UnprocessableError, match="Invalid url given"):
            GitLabApi(http, gitlab.base_url).create_hook(
                gitlab.personal_token(user), project.id, "http://127.0.0.1:3000/v1/webhooks/gitlab/x", "s")


# -- commit statuses ---------------------------------------------------------------------------------------------------


def test_commit_status_lifecycle(gitlab: FakeGitLab, api: GitLabApi, token: str, project: FakeProject) -> None:
    pending = api.create_commit_status(token, project.id, MAIN, "pending", target_url="https://ci.example.com/b/1",
                                       description="Build queued", ref="main")
    assert pending is not None and pending["status"] == "pending"
    assert gitlab.requests("POST")[-1].body == {"state": "pending", "name": "gitconnect", "ref": "main",
                                                "target_url": "https://ci.example.com/b/1",
                                                "description": "Build queued"}
    assert api.create_commit_status(token, project.id, MAIN, "pending", target_url=None, description=None,
                                    ref="main") is None  # already pending: GitLab refuses the transition
    api.create_commit_status(token, project.id, MAIN, "running", target_url=None, description=None, ref="main")
    done = api.create_commit_status(token, project.id, MAIN, "success", target_url=None, description="ok",
                                    ref="main")
    assert done is not None and done["id"] == pending["id"]  # one status moved through its states
    [status] = gitlab.statuses(project, MAIN)
    assert (status["status"], status["name"], status["description"]) == ("success", "gitconnect", "ok")
    again = api.create_commit_status(token, project.id, MAIN, "running", target_url=None, description=None)
    assert again is not None and again["id"] != pending["id"] and again["ref"] == "main"  # a rebuild: a new one


def test_commit_status_errors(gitlab: FakeGitLab, api: GitLabApi, token: str, project: FakeProject) -> None:
    with pytest.raises(UnprocessableError, match="not 'succeeded'"):
        api.create_commit_status(token, project.id, MAIN, "succeeded", target_url=None, description=None)
    assert gitlab.requests("POST") == []
    with pytest.raises(NotFoundError, match="404 Commit Not Found"):
        api.create_commit_status(token, project.id, fake_sha("unknown"), "success", target_url=None,
                                 description=None)
    reporter = gitlab.add_user("reporter")
    gitlab.add_member(reporter, project, 20)
    with pytest.raises(RemoteAuthError, match="403 Forbidden"):
        api.create_commit_status(gitlab.personal_token(reporter), project.id, MAIN, "success", target_url=None,
                                 description=None)
    gitlab.fail_next("/projects/", 502)
    with pytest.raises(RemoteUnreachableError, match="502"):  # a POST is not retried: it may have been applied
        api.create_commit_status(token, project.id, MAIN, "success", target_url=None, description=None)


# -- errors ------------------------------------------------------------------------------------------------------------


def test_unknown_expired_and_revoked_tokens(gitlab: FakeGitLab, api: GitLabApi, mona: FakeUser,
                                            clock: Clock) -> None:
    with pytest.raises(RemoteAuthError, match="401 Unauthorized"):
        api.current_user("glpat-unknown")
    access, _ = gitlab.oauth_tokens(mona)
    assert api.current_user(access)["username"] == "mona"
    clock.now += 7201
    with pytest.raises(RemoteAuthError, match="Token is expired") as expired:
        api.current_user(access)
    assert expired.value.extra == {"error": "invalid_token"}
    pat = gitlab.personal_token(mona)
    gitlab.revoke(pat)
    with pytest.raises(RemoteAuthError, match="Token was revoked"):
        api.current_user(pat)


def test_a_token_without_the_api_scope(gitlab: FakeGitLab, api: GitLabApi, mona: FakeUser,
                                       project: FakeProject) -> None:
    read_only = gitlab.personal_token(mona, scopes=("read_api",))
    assert api.branches(read_only, project.id)
    with pytest.raises(RemoteAuthError, match="higher privileges") as refused:
        api.create_hook(read_only, project.id, HOOK_URL, "s")
    assert refused.value.extra == {"error": "insufficient_scope"}


def test_server_errors_are_unreachable(gitlab: FakeGitLab, api: GitLabApi, token: str, project: FakeProject) -> None:
    gitlab.fail_next("/projects/", 500, body={"message": "500 Internal Server Error"})
    with pytest.raises(RemoteUnreachableError, match="500 Internal Server Error"):
        api.branches(token, project.id)
    gitlab.fail_next("/projects/", 503, times=2)  # GETs are retried on 502/503/504
    assert api.branches(token, project.id)


def test_rate_limits_are_waited_out(gitlab: FakeGitLab, api: GitLabApi, token: str, project: FakeProject) -> None:
    gitlab.fail_next("/projects/", 429)  # "Retry later" with Retry-After: 1
    assert len(api.branches(token, project.id)) == 2
    assert [r.status for r in gitlab.requests("GET")] == [429, 200]


def test_ssrf_guard_refuses_the_loopback_fake(gitlab: FakeGitLab, token: str) -> None:
    guarded = RequestsHttpClient(allow_loopback=False, timeout=5, sleep=lambda _: None)
    try:
        with pytest.raises(UnsafeUrlError):
            GitLabApi(guarded, gitlab.base_url).version(token)
    finally:
        guarded.close()
    assert gitlab.requests() == []
