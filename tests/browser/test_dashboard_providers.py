"""The dashboard in headless Chromium against `make run`'s stack with the GitHub, GitLab and Bitbucket fakes: each
provider linked through the page (the GitHub App install and the OAuth redirects: the page sends the browser to the
provider, the test plays the person's consent there, the provider's redirect brings it back through the callback to
the dashboard, which says so), the restrict prompt answered, 150 repositories paged and searched, a source created
from one, a push -> its build with the commit linked on GitHub; regenerate and unlink with their confirmations."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.functional.github_support import WEBHOOK_SECRET, example, readdress, sign
from tests.support.browser import Page, select_value, wait_refreshing
from tests.support.fake_bitbucket import FakeBitbucket
from tests.support.fake_github import FakeGitHub, fake_sha, rsa_key_pair
from tests.support.fake_gitlab import FakeGitLab
from tests.support.local_stack import Stack, running_stack

REPOSITORIES = 150


@dataclass
class World:
    stack: Stack
    github: FakeGitHub
    installation: int
    gitlab: FakeGitLab
    bitbucket: FakeBitbucket


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    private_pem, public_pem = rsa_key_pair()
    port = _free_port()  # the callback URLs registered with GitLab name it before the stack starts
    api = f"http://127.0.0.1:{port}"
    with FakeGitHub(public_key_pem=public_pem) as github, FakeGitLab() as gitlab, FakeBitbucket() as bitbucket:
        installation = github.add_installation("octo-org")
        for n in range(1, REPOSITORIES):
            github.add_repo(installation, f"octo-org/app-{n:03d}")
        branches = {"main": fake_sha("main"), **{f"feature-{i:03d}": fake_sha(f"f{i}") for i in range(1, 121)}}
        github.add_repo(installation, f"octo-org/app-{REPOSITORIES:03d}", branches=branches)  # 121 branches
        gitlab.add_app("gitconnect-app", "app-secret", [f"{api}/v1/oauth/gitlab/callback"])
        # A self-hosted instance's own OAuth application (the same fake plays that instance)
        gitlab.add_app("selfhosted-app", "selfhosted-secret", [f"{api}/v1/oauth/gitlab/callback"])
        alice = gitlab.add_user("alice")
        for group in ("acme", "tools"):
            namespace = gitlab.add_group(group)
            gitlab.add_member(alice, namespace)
            gitlab.add_project(namespace, "svc", branches={"main": fake_sha(group)})
        bob = bitbucket.add_user("bob", email="bob@example.com")
        for slug in ("bob-ws", "side-ws"):
            bitbucket.add_repo(bitbucket.add_workspace(slug, members=[bob]), "site")
        # No GITCONNECT_DASHBOARD_URL: the callbacks send the browser to the default, the dashboard gitconnect serves
        env = {"GITCONNECT_PORT": str(port),
               "GITHUB_APP_ID": github.app_id, "GITHUB_APP_SLUG": github.app_slug,
               "GITHUB_CLIENT_ID": github.client_id,
               "GITHUB_CLIENT_SECRET": github.client_secret, "GITHUB_APP_PRIVATE_KEY": private_pem,
               "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET, "GITHUB_API_URL": github.api_url,
               "GITHUB_WEB_URL": github.web_url,
               "GITLAB_URL": gitlab.base_url, "GITLAB_CLIENT_ID": "gitconnect-app",
               "GITLAB_CLIENT_SECRET": "app-secret",
               "BITBUCKET_API_URL": bitbucket.api_url, "BITBUCKET_WEB_URL": bitbucket.web_url,
               "BITBUCKET_CLIENT_ID": bitbucket.client_id, "BITBUCKET_CLIENT_SECRET": bitbucket.client_secret}
        with running_stack(env) as stack:
            assert stack.api_url == api
            yield World(stack, github, installation, gitlab, bitbucket)


def connections(stack: Stack, provider: str) -> list[dict[str, Any]]:
    return [c for c in stack.request("GET", "/v1/teams/demo/connections").json()["items"] if c["provider"] == provider]


def left_for(page: Page, origin: str) -> dict[str, list[str]]:
    """The browser went to the provider's page (`origin`): its query (the state and the rest gitconnect sent)."""
    page.wait(lambda: page.driver.current_url.startswith(origin), f"the browser on {origin}")
    return parse_qs(urlsplit(page.driver.current_url).query)


def back_on_dashboard(page: Page, stack: Stack, text: str) -> None:
    page.wait(lambda: page.driver.current_url.startswith(f"{stack.api_url}/dashboard"), "the dashboard again")
    page.wait_text(text, "#page-message")


def test_link_every_provider_through_the_page(world: World, driver: Any) -> None:
    stack, page = world.stack, Page(driver, world.stack.api_url)
    page.open(stack.token)
    page.wait_text("No usable Git connection")

    # GitHub: the App's install page; GitHub redirects to the callback with the installation, a code, our state
    page.click_button("Link GitHub", "section.provider")
    query = left_for(page, f"{world.github.web_url}/apps/{world.github.app_slug}/installations/new")
    code = world.github.issue_code(world.github.add_user("octocat", [world.installation]))
    driver.get(world.github.setup_redirect(f"{stack.api_url}/v1/oauth/github/callback", world.installation, "install",
                                           state=query["state"][0], code=code))
    back_on_dashboard(page, stack, "GitHub account linked.")
    (github,) = connections(stack, "github")
    row = page.wait(lambda: page.driver.find_element("css selector", f"tr[data-connection='{github['id']}']"), "row")
    assert "octo-org" in row.text and "active" in row.text and "unrestricted" in row.text
    assert row.find_element("link text", "Edit installation").get_attribute("href") == github["settings_url"]
    assert "No usable Git connection" not in page.text("#view")
    assert not driver.find_elements("css selector", "dialog[open]")  # GitHub's installation chose its repositories

    # GitLab (gitlab.com OAuth with PKCE): GitLab's consent page, then the restrict prompt for the new account
    page.click_button("Link GitLab", "section.provider")
    page.click_button("Link")  # the dialog's first choice: Sign in with gitlab.com (OAuth)
    left_for(page, f"{world.gitlab.base_url}/oauth/authorize")
    driver.get(world.gitlab.approve(driver.current_url, world.gitlab.user("alice")))
    back_on_dashboard(page, stack, "GitLab account linked.")
    page.wait_text("Which of the namespaces this account reaches", "dialog[open]")
    page.screenshot("10-restrict-prompt")
    page.choose("Only the namespaces picked below (restricted)")
    page.choose("acme")
    page.click_button("Save restrictions")
    page.dialog_closed()
    page.wait_text("restricted to acme.")
    (gitlab,) = connections(stack, "gitlab")
    assert gitlab["restrictions"] == {"mode": "restricted", "namespaces": ["acme"], "confirmed": True}

    # Bitbucket OAuth: Bitbucket's authorize page; it redirects to the callback with a code and our state
    page.click_button("Link Bitbucket", "section.provider")
    page.click_button("Link")
    query = left_for(page, f"{world.bitbucket.web_url}/site/oauth2/authorize")
    assert query["client_id"] == [world.bitbucket.client_id]
    code = world.bitbucket.issue_code(world.bitbucket.users_by_nickname("bob"))
    driver.get(f"{stack.api_url}/v1/oauth/bitbucket/callback?{urlencode({'code': code, 'state': query['state'][0]})}")
    back_on_dashboard(page, stack, "Bitbucket account linked.")
    page.wait_text("Which of the namespaces this account reaches", "dialog[open]")
    page.click_button("Save restrictions")  # "All namespaces (unrestricted)" is checked: confirmed as it is
    page.dialog_closed()
    (bitbucket,) = connections(stack, "bitbucket")
    assert bitbucket["restrictions"] == {"mode": "unrestricted", "confirmed": True}

    # A callback that failed comes back with its reason, shown
    driver.get(f"{stack.api_url}/v1/oauth/bitbucket/callback?code=nope&state=forged")
    page.wait(lambda: "Linking Bitbucket failed:" in page.text("#page-message"), "the failure's reason")
    page.screenshot("11-integrations-linked")
    page.screenshot("11-integrations-linked-phone", phone=True)
    assert page.wider_than_a_phone() == []
    assert page.console_errors() == []


def test_page_and_search_150_repositories_then_build_one(world: World, driver: Any) -> None:
    stack, page = world.stack, Page(driver, world.stack.api_url)
    page.open(stack.token)
    (github,) = connections(stack, "github")
    page.section("repositories")
    select_value(page, "Connection", github["id"])
    page.wait_text("Page 1: repositories 1 to 50", "#repo-page-status")
    assert "octo-org/app-001" in page.text("#repo-results") and "octo-org/app-051" not in page.text("#repo-results")
    page.click_button("Next page")
    page.wait_text("Page 2: repositories 51 to 100", "#repo-page-status")
    page.click_button("Next page")
    page.wait_text("Page 3: repositories 101 to 150 (last page)", "#repo-page-status")
    assert "octo-org/app-150" in page.text("#repo-results")
    assert not page.driver.find_element("xpath", "//button[text()='Next page']").is_enabled()
    page.click_button("Previous page")
    page.wait_text("Page 2: repositories 51 to 100", "#repo-page-status")

    page.fill("Search", "app-14")
    page.wait_text("Page 1: repositories 1 to 10 (last page)", "#repo-page-status")
    names = [b.text for b in page.driver.find_elements("css selector", "#repo-results button[data-repo]")]
    assert names == [f"octo-org/app-{n}" for n in range(140, 150)]
    page.screenshot("12-repositories-search")
    page.screenshot("12-repositories-search-phone", phone=True)
    assert page.wider_than_a_phone() == []

    # A repository's branches, a hundred at a time
    page.fill("Search", "app-150")
    page.wait_text("Page 1: repositories 1 to 1 (last page)", "#repo-page-status")
    page.click_button("octo-org/app-150")
    page.click_button("More branches")
    page.wait(lambda: len(page.driver.find_elements("css selector", "#repo-detail tbody tr")) == 121, "121 branches")
    assert "feature-120" in page.text("#repo-detail")
    assert not [b for b in page.driver.find_elements("css selector", "#repo-detail button")
                if b.text == "More branches"]

    page.fill("Search", "app-14")
    page.wait_text("Page 1: repositories 1 to 10 (last page)", "#repo-page-status")
    page.click_button("octo-org/app-142")
    page.wait_text("main", "#repo-detail")
    page.click_button("Create a source")
    assert page.field("Repository").get_attribute("value") == "octo-org/app-142"
    page.click_button("Create source")
    page.dialog_closed()
    page.wait_text("Source octo-org/app-142 created.")

    # A push to it (the App's signed webhook) -> the build, newest first, its commit linked on GitHub
    repo = world.github.repo("octo-org/app-142")
    before = repo.branches["main"]
    after = world.github.add_commit(repo.full_name, fake_sha("pushed"))
    payload = readdress(example("push", where=lambda p: p["ref"].startswith("refs/heads/") and p["commits"]),
                        world.installation, repo)
    payload.update({"ref": "refs/heads/main", "before": before, "after": after, "deleted": False})
    payload["head_commit"] = {**payload["head_commit"], "id": after, "message": "change"}
    body = json.dumps(payload).encode()
    reply = stack.request("POST", "/v1/webhooks/github", body=body, auth=False, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "browser-1",
        "X-Hub-Signature-256": sign(body)})
    assert reply.status == 202, reply.body
    page.section("builds")
    wait_refreshing(page, "Refresh", after[:7])
    link = page.wait(lambda: page.driver.find_element("css selector", "#builds tbody tr:first-child td a[title]"),
                     "the commit link")
    assert link.get_attribute("href") == f"{world.github.web_url}/octo-org/app-142/commit/{after}"
    page.screenshot("13-builds-github")
    assert page.wider_than_a_phone() == []
    page.section("deliveries")
    page.wait_text("built")

    # A release flow whose Git triggers watch main: the next push requests a run, listed on its page
    page.section("gitops")
    page.click_button("New template or release flow")
    page.fill("Name", "deploy")
    page.select("Kind", "Release flow")
    page.uncheck("Sync with a file in Git")  # on by default
    assert not page.driver.find_element("css selector", "input[name=synced]").is_selected()
    page.fill("Content (JSON)", '{"steps": ["ship"]}')
    page.choose("Run on pushes and pull requests")
    select_value(page, "Connection", github["id"])
    page.fill("Repository", "octo-org/app-142")
    page.fill("Branches", "main")
    assert page.unlabelled_controls() == []
    page.click_button("Create")
    page.wait_text("deploy created (version 1).")
    (flow,) = [t for t in stack.request("GET", "/v1/teams/demo/templates").json()["items"] if t["name"] == "deploy"]
    assert flow["triggers"]["branches"] == ["main"] and flow["kind"] == "release_flow"
    again = world.github.add_commit(repo.full_name, fake_sha("pushed again"))
    payload.update({"before": after, "after": again})
    payload["head_commit"] = {**payload["head_commit"], "id": again}
    body = json.dumps(payload).encode()
    reply = stack.request("POST", "/v1/webhooks/github", body=body, auth=False, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "browser-2",
        "X-Hub-Signature-256": sign(body)})
    assert reply.status == 202, reply.body

    def run_listed() -> bool:
        page.section("gitops")
        page.click_button("deploy")
        page.wait_text("Runs", "#view")
        return bool(page.driver.find_elements("css selector", "tr[data-run]"))

    page.wait(run_listed, "the push's run on the release flow's page", seconds=30)
    page.screenshot("16-release-flow-run")
    assert page.console_errors() == []


def test_pull_request_mode_from_the_settings_then_a_save_opens_a_pull_request(world: World, driver: Any) -> None:
    stack, page, fake = world.stack, Page(driver, world.stack.api_url), world.github
    (github,) = connections(stack, "github")
    repo = fake.add_repo(world.installation, "octo-org/deploys", branches={"main": fake_sha("deploys main")})
    created = stack.request("POST", "/v1/teams/demo/templates", json_body={
        "name": "proposed", "content": {"replicas": 1}, "gitops": {
            "connection_id": github["id"], "repository": repo.full_name, "branch": "main", "path": "app.json",
            "mode": "create"}})
    assert created.status == 201, created.body
    tid = created.json()["id"]
    page.open(stack.token)
    page.section("gitops")
    page.click_button("proposed")
    page.wait_text("Settings", "#view")
    # Given main protected, the person switches saves to pull requests in the template's settings
    fake.protect(repo.full_name, "main")
    page.select("Saves to Git", "Open a pull request")
    page.click_button("Save settings")
    page.wait_text("Settings saved.")
    assert stack.request("GET", f"/v1/teams/demo/templates/{tid}").json()["gitops"]["write"] == "pull_request"
    page.wait_text("saves open a pull request", "#gitops-status")
    # When they save new content, the page says which pull request it opened, linked on GitHub
    page.fill("Content (JSON)", '{"replicas": 2}')
    page.click_button("Save and commit")
    page.wait_text("Pull request #1 opened from gitconnect/", ".section-message")
    link = page.driver.find_element("css selector", "#last-pull-request a")
    assert link.get_attribute("href") == f"{fake.web_url}/{repo.full_name}/pull/1"
    assert "Version 1 stays current until it is merged." in page.text(".section-message")
    assert json.loads(fake.file_at(repo.full_name, f"gitconnect/{tid}", "app.json") or b"") == {"replicas": 2}
    assert json.loads(fake.file_at(repo.full_name, "main", "app.json") or b"") == {"replicas": 1}
    page.screenshot("13b-gitops-pull-request")
    assert page.console_errors() == []


def test_regenerate_and_unlink_ask_first(world: World, driver: Any) -> None:
    stack, page = world.stack, Page(driver, world.stack.api_url)
    page.open(stack.token)
    (gitlab,) = connections(stack, "gitlab")
    (bitbucket,) = connections(stack, "bitbucket")
    page.section("integrations")
    row = f"tr[data-connection='{gitlab['id']}']"
    page.click_button("Regenerate webhooks", row)
    page.wait_text("stop working at once", "dialog[open]")
    page.screenshot("14-regenerate-confirmation")
    page.click_button("Regenerate webhooks")  # the dialog's confirmation
    page.wait_text("webhook(s) of GitLab: alice have a new secret.")

    page.click_button("Unlink", f"tr[data-connection='{bitbucket['id']}']")
    page.wait_text("The builds already made stay. Future builds from this account stop", "dialog[open]")
    page.click_button("Cancel")
    page.dialog_closed()
    assert connections(stack, "bitbucket")
    page.click_button("Unlink", f"tr[data-connection='{bitbucket['id']}']")
    page.click_button("Unlink")
    page.wait_text("was unlinked.")
    assert connections(stack, "bitbucket") == []
    assert "No Bitbucket account linked." in page.text("#view")

    # Linked again with an API token and the account's e-mail: the restrict prompt follows at once
    bob = world.bitbucket.users_by_nickname("bob")
    page.click_button("Link Bitbucket", "section.provider")
    page.choose("API token (with your Atlassian e-mail)")
    page.fill("Workspace", "bob-ws")
    page.fill("Atlassian account e-mail", "bob@example.com")
    page.fill("API token", world.bitbucket.api_token(bob))
    assert page.unlabelled_controls() == []
    page.click_button("Link")
    page.wait_text("Which of the namespaces this account reaches", "dialog[open]")
    page.click_button("Save restrictions")
    page.dialog_closed()
    (relinked,) = connections(stack, "bitbucket")
    assert relinked["restrictions"]["confirmed"] is True
    assert page.console_errors() == []


def test_gitlab_by_access_token_and_by_a_self_hosted_instances_oauth_application(world: World, driver: Any) -> None:
    stack, page, gitlab = world.stack, Page(driver, world.stack.api_url), world.gitlab
    page.open(stack.token)
    page.section("integrations")
    carol = gitlab.add_user("carol")
    gitlab.add_member(carol, gitlab.add_group("carols-group"))
    page.click_button("Link GitLab", "section.provider")
    page.choose("Access token (personal, group or project)")
    page.fill("Access token", gitlab.personal_token(carol))
    page.click_button("Link")
    page.wait_text("Which of the namespaces this account reaches", "dialog[open]")
    page.choose("Only the namespaces picked below (restricted)")
    page.choose("carols-group")
    page.click_button("Save restrictions")
    page.dialog_closed()
    assert [c["restrictions"] for c in connections(stack, "gitlab") if c["account"] == "carol"] == [
        {"mode": "restricted", "namespaces": ["carols-group"], "confirmed": True}]

    dave = gitlab.add_user("dave")
    page.click_button("Link GitLab", "section.provider")
    page.choose("Sign in with a self-hosted GitLab (its own OAuth application)")
    page.fill("GitLab URL", gitlab.base_url)
    page.fill("Application ID", "selfhosted-app")
    page.fill("Application secret", "selfhosted-secret")
    page.click_button("Link")
    query = left_for(page, f"{gitlab.base_url}/oauth/authorize")
    assert query["client_id"] == ["selfhosted-app"]
    driver.get(gitlab.approve(driver.current_url, dave))
    back_on_dashboard(page, stack, "GitLab account linked.")
    page.wait_text("Which of the namespaces this account reaches", "dialog[open]")
    page.click_button("Save restrictions")
    page.dialog_closed()
    assert [c["base_url"] for c in connections(stack, "gitlab") if c["account"] == "dave"] == [gitlab.base_url]
    assert page.console_errors() == []


def test_sign_in_with_a_pasted_token_and_back_when_it_expires(world: World, driver: Any) -> None:
    stack, page = world.stack, Page(driver, world.stack.api_url)
    expired = stack.token_for("demo-admin", {"demo": "admin"}, ttl_seconds=-60)
    driver.get(f"{stack.api_url}/dashboard#token={expired}")
    page.wait_text("Sign in", "#view h1")
    assert "Unauthorized the bearer token is not valid" in page.text("#page-message")
    page.screenshot("15-sign-in")
    page.fill("Team token", stack.token)
    page.click_button("Sign in")
    page.wait_text("Git integrations", "#view h1")
    page.click_button("Sign out")
    page.wait_text("Sign in", "#view h1")
    assert driver.execute_script("return sessionStorage.getItem('gitconnect.token')") is None

    # A member sees the accounts but none of the admin's buttons (the API refuses them to members either way)
    page.fill("Team token", stack.token_for("demo-dev", {"demo": "member"}))
    page.click_button("Sign in")
    page.wait_text("octo-org", "#view")
    labels = {b.text for b in driver.find_elements("css selector", "#view button, #view a.button")}
    assert "Edit installation" in labels
    assert not labels & {"Link GitHub", "Link GitLab", "Unlink", "Restrict namespaces", "Regenerate webhooks"}, labels
    assert page.console_errors() == []
