"""The dashboard in headless Chromium against `make run`'s stack and real git http-backends, the git CLI on the
other side: link Custom Git through the page, create a source with path rules, push -> the build appears; a push
the rules ignore is explained on Deliveries; GitOps: create (Fetch says no file), save, a conflict shown with both
sides and resolved, an invalid push shown with its commit and replaced. Screenshots in .local/screenshots/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.keys import Keys

from infra.local.git_server import GitHttpServer, WorkingCopy, init_bare
from tests.support.browser import Page, select_value, wait_refreshing
from tests.support.local_stack import Stack, running_stack
from tests.support.waiting import until


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack({"GITCONNECT_LOCAL_SCHEDULE_SECONDS": "1", "GITCONNECT_POLL_SECONDS": "0"}) as running:
        yield running


@pytest.fixture(scope="module")
def remotes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GitHttpServer, dict[str, WorkingCopy]]]:
    root = tmp_path_factory.mktemp("remotes")
    work: dict[str, WorkingCopy] = {}
    for name in ("app", "infra"):
        init_bare(root, name)
    with GitHttpServer(root) as git:
        for name in ("app", "infra"):
            copy = WorkingCopy.clone(git.url_for(name), root.parent / f"work-{name}")
            copy.write("README.md", f"{name}\n")
            copy.write("src/main.py", "print(1)\n")
            copy.commit("first")
            copy.push("main")
            work[name] = copy
        yield git, work


def link_custom(page: Page, stack: Stack, url: str) -> dict[str, Any]:
    page.section("integrations")
    page.click_button("Link Custom Git")
    page.fill("Remote URL", url)
    page.click_button("Link")
    page.dialog_closed()
    page.wait_text("linked.", "#view .section-message")
    (connection,) = [c for c in stack.request("GET", "/v1/teams/demo/connections").json()["items"]
                     if c.get("name") == url or c.get("account") == url or url in json.dumps(c)]
    page.wait(lambda: page.driver.find_elements("css selector", f"tr[data-connection='{connection['id']}']"),
              "the linked account's row")
    return connection


def test_push_builds_and_an_ignored_push_is_explained(stack: Stack, remotes: Any, driver: Any) -> None:
    git, work = remotes
    page = Page(driver, stack.api_url)
    page.open(stack.token)
    page.wait_text("No usable Git connection")
    page.screenshot("01-integrations-no-connection")

    # With the keyboard only: Enter on "Link Custom Git", the dialog's first field has the focus, Enter submits
    page.button("Link Custom Git").send_keys(Keys.ENTER)
    page.wait(lambda: driver.switch_to.active_element.get_attribute("name") == "url", "the focus in Remote URL")
    assert page.unlabelled_controls() == []
    driver.switch_to.active_element.send_keys(git.url_for("app") + Keys.ENTER)
    page.dialog_closed()
    page.wait_text("linked.", "#view .section-message")
    (connection,) = stack.request("GET", "/v1/teams/demo/connections").json()["items"]
    assert "No usable Git connection" not in page.text("#view")
    page.screenshot("02-integrations-custom-linked")

    # A refused remote: the API's problem (title and detail) in the dialog, which stays open; nothing linked
    page.click_button("Link Custom Git")
    page.fill("Remote URL", "ssh://git@example.com/app.git")
    page.click_button("Link")
    page.wait(lambda: page.text("dialog[open] .problem-title"), "the problem's title in the dialog")
    assert "transports are refused" in page.text("dialog[open] .problem-detail")
    page.screenshot("02b-link-refused")
    page.click_button("Cancel")
    page.dialog_closed()
    assert len(stack.request("GET", "/v1/teams/demo/connections").json()["items"]) == 1

    # A source with path rules, polled
    page.section("sources")
    page.click_button("New source")
    select_value(page, "Connection", connection["id"])
    page.fill("Name", "app")
    page.fill("Paths to include", "src/**")
    page.click_button("Create source")
    page.dialog_closed()
    page.wait_text("Source app created.")
    (source,) = stack.request("GET", "/v1/teams/demo/sources").json()["items"]
    assert (source["paths"]["include"], source["branches"], source["poll"]) == (["src/**"], ["main"], True)
    page.screenshot("03-sources")

    # git push -> the next poll builds it -> it is on the Builds page, newest first
    work["app"].write("src/main.py", "print(2)\n")
    built = work["app"].commit("change the code")
    work["app"].push("main")
    page.section("builds")
    wait_refreshing(page, "Refresh", built[:7])
    first_row = page.driver.find_element("css selector", "#builds tbody tr")
    assert built[:7] in first_row.text and "poll" in first_row.text and "refs/heads/main" in first_row.text
    page.screenshot("04-builds")

    # The builder reports: the page, left alone, follows the build while it moves (no click)
    (requested,) = [e["detail"] for e in stack.read_tap(at_least=1, wait_seconds=10) if e["detail"]["sha"] == built]
    for status in ("running", "succeeded"):
        reply = stack.request("POST", f"/v1/builds/{requested['build_id']}/status", json_body={"status": status},
                              token=requested["callback_token"])
        assert reply.status == 200, reply.body
        page.wait_text(status, f"#builds tr[data-build='{requested['build_id']}']", seconds=15)

    # A push that touches no watched path: no build, and Deliveries says why
    work["app"].write("README.md", "docs only\n")
    work["app"].commit("docs")
    work["app"].push("main")
    page.section("deliveries")
    wait_refreshing(page, "Refresh", "match the source's path rules")
    ignored = page.driver.find_element("css selector", "#deliveries tr[data-outcome='ignored']")
    assert "none of the 1 changed file(s) match the source's path rules" in ignored.text, ignored.text
    page.screenshot("05-deliveries")
    assert page.wider_than_a_phone() == []
    builds = stack.request("GET", "/v1/teams/demo/builds").json()["items"]
    assert [b["sha"] for b in builds] == [built]

    # Trigger build from the page: the default branch
    page.section("sources")
    page.click_button("Trigger build")
    page.click_button("Trigger build")  # the dialog's submit
    page.wait_text("Build of refs/heads/main requested.")
    page.wait(lambda: "manual" in page.text("#builds tbody tr:first-child"), "the manual build first")

    # Edit the rules, then remove the source (each after its confirmation)
    page.section("sources")
    page.click_button("Edit")
    page.fill("Paths to include", "src/**, lib/**")
    assert page.unlabelled_controls() == []
    page.click_button("Save")
    page.wait_text("Source app saved.")
    assert stack.request("GET", f"/v1/teams/demo/sources/{source['id']}").json()["paths"]["include"] == [
        "src/**", "lib/**"]
    page.click_button("Remove")
    page.wait_text("Pushes to this repository stop building", "dialog[open]")
    page.click_button("Remove source")
    page.wait_text("Source app removed.")
    assert stack.request("GET", "/v1/teams/demo/sources").json()["items"] == []
    assert page.console_errors() == []


def test_gitops_create_save_conflict_and_invalid_push(stack: Stack, remotes: Any, driver: Any) -> None:
    git, work = remotes
    page = Page(driver, stack.api_url)
    page.open(stack.token)
    connection = link_custom(page, stack, git.url_for("infra"))

    page.section("gitops")
    page.click_button("New template or release flow")
    page.fill("Name", "web")
    select_value(page, "Connection", connection["id"])
    page.fill("Path", "templates/web.json")
    page.click_button("Fetch")
    page.wait_text("No file there yet", "#fetch-result")
    page.fill("Content (JSON)", '{"replicas": ')
    page.wait_text("Not a valid JSON object")
    page.fill("Content (JSON)", '{"replicas": 1}')
    page.wait_text("Valid JSON object.")
    page.fill("Commit message", "Add web")
    page.choose("Run on update")
    page.screenshot("06-gitops-new")
    page.click_button("Create")
    page.wait_text("web created (version 1).")
    (template,) = [t for t in stack.request("GET", "/v1/teams/demo/templates").json()["items"] if t["name"] == "web"]
    infra = work["infra"]
    infra.pull()
    assert json.loads((infra.path / "templates/web.json").read_text()) == {"replicas": 1}
    assert infra.git("log", "-1", "--format=%s") == "Add web"

    # Save with a message: a commit in the repository, version 2 in the list
    page.fill("Content (JSON)", '{"replicas": 2}')
    page.fill("Commit message", "scale to 2")
    page.click_button("Save and commit")
    page.wait_text("Saved: version 2.")
    infra.pull()
    assert infra.git("log", "-1", "--format=%s") == "scale to 2"
    page.wait(lambda: page.driver.find_elements("css selector", "tr[data-version='2']"), "version 2 listed")

    # Someone else saves version 3 meanwhile: saving from version 2 shows both sides; keeping mine resolves it
    other = stack.request("PUT", f"/v1/teams/demo/templates/{template['id']}",
                          json_body={"content": {"replicas": 3}, "base_version": 2})
    assert other.status == 200, other.body
    page.fill("Content (JSON)", '{"replicas": 5}')
    page.click_button("Save and commit")
    page.wait_text("Conflict: both sides")
    sides = page.text(".conflict .sides")
    assert '"replicas": 5' in sides and '"replicas": 3' in sides and "Current (version 3)" in sides, sides
    assert "version 2 is not the latest (3)" in page.text(".section-message")
    page.screenshot("07-gitops-conflict")
    page.click_button("Keep mine (save over version 3)")
    page.wait_text("Saved: version 4.")
    assert stack.request("GET", f"/v1/teams/demo/templates/{template['id']}").json()["content"] == {"replicas": 5}

    # Invalid JSON pushed with git: refused, shown with its commit; the editor's content replaces it
    infra.pull()
    infra.write("templates/web.json", '{"replicas": ')
    broken = infra.commit("broken")
    infra.push()
    assert until(lambda: stack.request("GET", f"/v1/teams/demo/templates/{template['id']}").json()["gitops"]
                 ["status"] == "error")
    page.section("gitops")
    page.click_button("web")
    page.wait_text("The repository holds an invalid file.")
    assert broken in page.text("#invalid-file")
    page.screenshot("08-gitops-invalid-push")
    page.click_button("Replace the invalid file with the editor's content")
    page.wait_text("Saved: version 5.")
    infra.pull()
    assert json.loads((infra.path / "templates/web.json").read_text()) == {"replicas": 5}
    page.wait(lambda: page.driver.find_elements("css selector", "tr[data-run]"), "the runs of the saves")
    page.screenshot("09-gitops-runs", phone=True)
    assert page.wider_than_a_phone() == []

    # Settings are no versions: PATCH concurrency
    page.select("Concurrency", "queue: one at a time, in order")
    page.click_button("Save settings")
    page.wait_text("Settings saved.")
    current = stack.request("GET", f"/v1/teams/demo/templates/{template['id']}").json()
    assert (current["concurrency"], current["version"]) == ("queue", 5)

    # Link an existing file: Fetch finds it and loads it; the new template takes its content
    page.section("gitops")
    page.click_button("New template or release flow")
    page.fill("Name", "web-linked")
    select_value(page, "Connection", connection["id"])
    page.fill("Path", "templates/web.json")
    page.click_button("Fetch")
    page.wait_text("The file exists", "#fetch-result")
    assert page.field("Link the existing file (take its content)").is_selected()
    assert json.loads(page.field("Content (JSON)").get_attribute("value")) == {"replicas": 5}
    assert page.unlabelled_controls() == []
    page.click_button("Create")
    page.wait_text("web-linked created (version 1).")
    linked = [t for t in stack.request("GET", "/v1/teams/demo/templates").json()["items"] if t["name"] == "web-linked"]
    assert [(t["content"], t["gitops"]["status"]) for t in linked] == [({"replicas": 5}, "synced")]

    # A template kept in the app, then synced with a new file from its page (PATCH gitops), then no longer
    page.section("gitops")
    page.click_button("New template or release flow")
    page.fill("Name", "local")
    page.uncheck("Sync with a file in Git")
    page.fill("Content (JSON)", '{"local": true}')
    page.click_button("Create")
    page.wait_text("local created (version 1).")
    select_value(page, "Connection", connection["id"])
    page.fill("Path", "templates/local.json")
    page.fill("Commit message", "Add local")
    page.click_button("Start syncing")
    page.wait_text("Syncing with Git.")
    infra.pull()
    assert json.loads((infra.path / "templates/local.json").read_text()) == {"local": True}
    assert infra.git("log", "-1", "--format=%s") == "Add local"
    page.click_button("Stop syncing with Git")
    page.wait_text("The file stays in the repository", "dialog[open]")
    page.click_button("Stop syncing")
    page.wait(lambda: "Sync with a Git file" in page.text("#view h2"), "the page without its Git file")
    (local,) = [t for t in stack.request("GET", "/v1/teams/demo/templates").json()["items"] if t["name"] == "local"]
    assert local["gitops"] is None
    assert page.console_errors() == []
