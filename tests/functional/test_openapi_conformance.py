"""The API reference tells the truth: the main flows (Custom Git against a real git http-backend, GitLab and GitHub
against their faithful fakes) walked through the real handlers, and every answer — successes and errors — checked
against the operation's documented status, content type and schema in the document `/v1/openapi.json` serves
(tests/support/conformance.py). Then: every operation of the team API answered its documented success at least once.
Also the document's own promises (security, problem+json, no Powertools 422) and the offline Swagger UI page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from infra.local.git_server import WorkingCopy
from tests.functional.conftest import system_with
from tests.functional.github_support import DASHBOARD, WEBHOOK_SECRET
from tests.support.conformance import Documented
from tests.support.fake_github import FakeGitHub, fake_sha, rsa_key_pair
from tests.support.fake_gitlab import FakeGitLab
from tests.support.fake_gitlab import fake_sha as lab_sha
from tests.support.inprocess import System

TEAM = "reference-team"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[System, FakeGitHub, FakeGitLab]]:
    """One system with GitHub's and GitLab's fakes configured (Custom Git needs none)."""
    private_pem, public_pem = rsa_key_pair()
    with FakeGitHub(public_key_pem=public_pem) as github, FakeGitLab() as gitlab:
        env = {
            "GITHUB_APP_ID": github.app_id, "GITHUB_APP_SLUG": github.app_slug, "GITHUB_CLIENT_ID": github.client_id,
            "GITHUB_CLIENT_SECRET": github.client_secret, "GITHUB_APP_PRIVATE_KEY": private_pem,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET, "GITHUB_API_URL": github.api_url,
            "GITHUB_WEB_URL": github.web_url, "GITCONNECT_DASHBOARD_URL": DASHBOARD, "GITLAB_URL": gitlab.base_url,
        }
        with system_with(env) as system:
            yield system, github, gitlab


def custom_git_flow(api: Documented, admin: str, other: str, remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    t = f"/v1/teams/{TEAM}"
    connection = api.call("POST", f"{t}/connections", token=admin, body={"provider": "custom", "url": url})
    assert connection.status == 201, connection.body
    cid = connection.json()["id"]
    assert api.call("GET", f"{t}/connections", token=admin).status == 200
    assert api.call("GET", f"{t}/connections/{cid}", token=admin).status == 200
    assert api.call("GET", f"{t}/connections/{cid}/branches", token=admin).json()["items"][0]["name"] == "main"
    assert api.call("GET", f"{t}/connections/{cid}/repositories", token=admin).status == 200
    assert api.call("POST", f"{t}/connections/custom/authorize", token=admin).status == 422
    assert api.call("POST", f"{t}/connections/{cid}/webhooks/regenerate", token=admin).status == 422

    source = api.call("POST", f"{t}/sources", token=admin,
                      body={"name": "app", "connection_id": cid, "branches": ["main"], "poll": True})
    assert source.status == 201, source.body
    sid = source.json()["id"]
    keyed = {"name": "keyed", "connection_id": cid, "branches": ["main"]}
    first, again = (api.call("POST", f"{t}/sources", token=admin, body=keyed, headers={"idempotency-key": "k-1"})
                    for _ in range(2))
    assert (first.status, again.status) == (201, 201) and first.json()["id"] == again.json()["id"]
    assert api.call("DELETE", f"{t}/sources/{first.json()['id']}", token=admin).status == 204
    assert api.call("GET", f"{t}/sources", token=admin).status == 200
    assert api.call("GET", f"{t}/sources/{sid}", token=admin).json()["polling"]["status"] == "pending"
    assert api.call("PATCH", f"{t}/sources/{sid}", token=admin, body={"tags": ["v*"]}).status == 200
    api.system.bus_events()  # forget what came before
    build = api.call("POST", f"{t}/sources/{sid}/builds", token=admin, body={"branch": "main"})
    assert build.status == 202, build.body
    assert api.call("POST", f"{t}/sources/{sid}/builds", token=admin).status == 202  # no body: the default branch
    bid = build.json()["id"]
    assert api.call("GET", f"{t}/builds?source_id={sid}&limit=1", token=admin).json()["next_cursor"]
    assert api.call("GET", f"{t}/builds/{bid}", token=admin).json()["sha"] == work.head()
    api.system.drain()
    callback = next(e["detail"]["callback_token"] for e in api.system.bus_events() if e["detail"]["build_id"] == bid)
    for status, expected in (("running", 200), ("succeeded", 200), ("running", 409)):
        reply = api.call("POST", f"/v1/builds/{bid}/status", token=callback, body={"status": status})
        assert reply.status == expected, reply.body
    assert api.call("GET", f"{t}/deliveries?connection_id={cid}", token=admin).status == 200

    # GitOps: a template committed to a new file, saved, a stale save, its versions, runs and their callback
    gitops = {"connection_id": cid, "branch": "main", "path": "templates/app.json"}
    assert api.call("POST", f"{t}/gitops/fetch", token=admin, body=gitops).json()["exists"] is False
    assert api.call("POST", f"{t}/gitops/fetch", token=admin, body={**gitops, "path": "README.md"}).status == 422
    created = api.call("POST", f"{t}/templates", token=admin, body={
        "name": "app", "content": {"services": ["web"]}, "gitops": {**gitops, "mode": "create"}})
    assert created.status == 201, created.body
    tid = created.json()["id"]
    again = api.call("POST", f"{t}/templates", token=admin, body={
        "name": "again", "content": {}, "gitops": {**gitops, "mode": "create"}})
    assert again.status == 409
    assert api.call("GET", f"{t}/templates", token=admin).status == 200
    assert api.call("GET", f"{t}/templates/{tid}", token=admin).json()["gitops"]["status"] == "synced"
    saved = api.call("PUT", f"{t}/templates/{tid}", token=admin, body={"content": {"v": 2}, "base_version": 1})
    assert saved.status == 200, saved.body
    stale = api.call("PUT", f"{t}/templates/{tid}", token=admin, body={"content": {"v": 3}, "base_version": 1})
    assert stale.status == 409
    assert [v["version"] for v in api.call("GET", f"{t}/templates/{tid}/versions", token=admin).json()["items"]]
    configured = api.call("PATCH", f"{t}/templates/{tid}", token=admin, body={"concurrency": "forbid"})
    assert configured.status == 200, configured.body
    api.system.bus_events("RunRequested")
    run = api.call("POST", f"{t}/templates/{tid}/runs", token=admin)
    assert run.status == 202, run.body
    assert api.call("POST", f"{t}/templates/{tid}/runs", token=admin).status == 409  # forbid: one is running
    assert api.call("GET", f"{t}/templates/{tid}/runs", token=admin).json()["items"]
    run_token = next(e["detail"]["callback_token"] for e in api.system.bus_events("RunRequested"))
    reported = api.call("POST", f"/v1/runs/{run.json()['id']}/status", token=run_token, body={"status": "succeeded"})
    assert reported.status == 200, reported.body

    # Refusals, each as documented
    assert api.call("GET", f"{t}/sources").status == 401
    assert api.call("GET", f"{t}/sources", token=other).status == 403
    assert api.call("GET", f"{t}/sources/no-such-source", token=admin).status == 404
    invalid = api.call("POST", f"{t}/sources", token=admin, body={"connection_id": cid, "branches": "main"})
    assert invalid.status == 400 and invalid.json()["errors"]
    assert api.call("POST", f"{t}/sources", token=admin, raw_body="{").status == 400
    assert api.call("POST", f"{t}/sources", token=admin, raw_body="x=1",
                    headers={"content-type": "text/plain"}).status == 415
    assert api.call("POST", f"{t}/sources", token=admin, raw_body=json.dumps({"name": "x" * 300_000})).status == 413
    assert api.call("GET", f"{t}/builds?limit=0", token=admin).status == 400
    assert api.call("GET", f"{t}/builds?cursor=not-a-cursor", token=admin).status == 400
    assert api.call("POST", f"{t}/sources/{sid}/builds", token=admin, body={"sha": "0" * 40}).status == 400
    assert api.call("POST", f"{t}/sources/{sid}/builds", token=admin, body={"branch": "nope"}).status == 422
    assert api.call("POST", f"{t}/sources/{sid}/builds", token=admin, headers={"idempotency-key": "a b"}).status == 400
    assert api.call("POST", "/v1/builds/no-such-build/status", token=callback, body={"status": "running"}).status in (
        401, 404)

    assert api.call("DELETE", f"{t}/templates/{tid}", token=admin).status == 204
    assert api.call("DELETE", f"{t}/sources/{sid}", token=admin).status == 204
    assert api.call("DELETE", f"{t}/connections/{cid}", token=admin).status == 204


def gitlab_flow(api: Documented, admin: str, gitlab: FakeGitLab) -> None:
    alice = gitlab.add_user("alice")
    group = gitlab.add_group("acme")
    gitlab.add_member(alice, group)
    project = gitlab.add_project(group, "app", branches={"main": lab_sha("main-1")})
    t = f"/v1/teams/{TEAM}"
    refused = api.call("POST", f"{t}/connections", token=admin, body={"provider": "gitlab", "token": "glpat-wrong"})
    assert refused.status == 422
    linked = api.call("POST", f"{t}/connections", token=admin,
                      body={"provider": "gitlab", "token": gitlab.personal_token(alice)})
    assert linked.status == 201, linked.body
    base = f"{t}/connections/{linked.json()['id']}"
    assert {"name": "acme", "allowed": True} in api.call("GET", f"{base}/namespaces", token=admin).json()["items"]
    restricted = api.call("PUT", f"{base}/restrictions", token=admin,
                          body={"mode": "restricted", "namespaces": ["acme"]})
    assert restricted.json()["restrictions"] == {"mode": "restricted", "namespaces": ["acme"], "confirmed": True}
    assert api.call("GET", f"{base}/repositories?search=app", token=admin).json()["items"][0]["full_name"] == "acme/app"
    assert api.call("GET", f"{base}/branches?repository=acme/app", token=admin).status == 200
    source = api.call("POST", f"{t}/sources", token=admin,
                      body={"connection_id": linked.json()["id"], "repository": "acme/app", "branches": ["main"]})
    assert source.status == 201, source.body
    assert api.call("POST", f"{base}/webhooks/regenerate", token=admin).json() == {"regenerated": 1}
    assert api.call("POST", "/v1/webhooks/gitlab/no-such-hook", body={}).status in (400, 401, 404)
    assert project.id
    assert api.call("DELETE", base, token=admin).status == 204


def github_flow(api: Documented, admin: str, github: FakeGitHub) -> None:
    installation = github.add_installation("octo-org")
    github.add_repo(installation, "octo-org/app", branches={"main": fake_sha("main-1")})
    authorized = api.call("POST", f"/v1/teams/{TEAM}/connections/github/authorize", token=admin)
    assert authorized.status == 200, authorized.body
    state = parse_qs(urlsplit(authorized.json()["url"]).query)["state"][0]
    code = github.issue_code(github.add_user("octocat", [installation]))
    back = api.call("GET", f"/v1/oauth/github/callback?installation_id={installation}&setup_action=install"
                           f"&code={code}&state={state}")
    assert back.status == 302
    outcome = parse_qs(urlsplit(back.headers["location"]).query)
    assert outcome["outcome"] == ["linked"], outcome
    connection = api.call("GET", f"/v1/teams/{TEAM}/connections/{outcome['connection_id'][0]}", token=admin).json()
    assert connection["settings_url"]  # a provider fact the document allows beside the listed fields
    assert api.call("GET", "/v1/oauth/nothing/callback").status == 404


def test_the_main_flows_answer_as_documented(world: tuple[System, FakeGitHub, FakeGitLab],
                                             remote: tuple[str, WorkingCopy]) -> None:
    system, github, gitlab = world
    api = Documented.served_by(system)
    admin = system.token({TEAM: "admin"}, sub="octocat")
    other = system.token({"another-team": "admin"})
    for path in ("/v1/health", "/v1/openapi.json", "/v1/docs"):
        assert api.call("GET", path).status == 200
    custom_git_flow(api, admin, other, remote)
    gitlab_flow(api, admin, gitlab)
    github_flow(api, admin, github)
    # Every operation of the API answered its documented success (the webhooks: tests/fuzz, tests/e2e)
    answered = {(method, path) for method, path, status in api.seen if status < 400}
    expected = {
        (method.upper(), path)
        for path, operations in api.doc["paths"].items()
        for method in operations
        if not path.startswith("/v1/webhooks/")
    }
    assert expected - answered == set()


def test_the_document_keeps_its_promises(world: tuple[System, FakeGitHub, FakeGitLab]) -> None:
    doc = world[0].call("GET", "/v1/openapi.json").json()
    assert "problem+json" in doc["info"]["description"] and "bearerAuth" in doc["info"]["description"]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"]}
    assert "HTTPValidationError" not in json.dumps([doc["paths"], doc["components"]])
    public = ("/v1/health", "/v1/openapi.json", "/v1/docs", "/v1/webhooks/", "/v1/oauth/")
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            if path.startswith("/v1/teams/"):
                assert operation["security"] == [{"bearerAuth": []}], where
                assert {"401", "403"} <= set(operation["responses"]), where
            elif path.startswith(public):
                assert "security" not in operation, where
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(operation["responses"]), where
            successes = [s for s in operation["responses"] if int(s) < 400]
            # (GitHub's ping answers 200; a save in pull-request mode 202)
            assert len(successes) == 1 or (method, path) in (
                ("post", "/v1/webhooks/github"), ("put", "/v1/teams/{team}/templates/{template_id}")), where
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == [PROBLEM], (where, status)
                elif status in ("204", "302"):
                    assert "content" not in response, (where, status)
                elif not path.startswith("/v1/webhooks/"):
                    schema = next(iter(response["content"].values()))["schema"]
                    assert schema.get("$ref") or schema.get("type") == "string", (where, status, schema)
    keyed = {(method, path) for path, ops in doc["paths"].items() for method, op in ops.items()
             if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))}
    assert keyed == {("post", "/v1/teams/{team}/connections"), ("post", "/v1/teams/{team}/sources"),
                     ("post", "/v1/teams/{team}/sources/{source_id}/builds")}
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}


def test_the_docs_page_is_swagger_ui_that_works_offline(world: tuple[System, FakeGitHub, FakeGitLab]) -> None:
    reply = world[0].call("GET", "/v1/docs")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/html")
    page = reply.body.decode()
    assert "SwaggerUIBundle(" in page and "persistAuthorization: true" in page
    assert '"bearerAuth"' in page and "/v1/teams/{team}/sources/{source_id}/builds" in page
    assert 'updateUrl(new URL("openapi.json", currentUrl).pathname)' in page  # the page links /v1/openapi.json
    # Nothing is fetched from elsewhere: no script, stylesheet or image is loaded from a URL
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)\s*=\s*['"]?(https?:)?//""", page, re.I)
    gzipped = world[0].call("GET", "/v1/docs", headers={"accept-encoding": "gzip"})
    assert gzipped.status == 200 and gzipped.headers.get("content-encoding") == "gzip"
    assert len(gzipped.body) < len(reply.body) / 3
