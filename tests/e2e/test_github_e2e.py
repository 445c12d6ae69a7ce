"""GitHub through the local stack process: install flow over HTTP, a signed push to the webhook URL, a build on the
bus, its status back on GitHub. GitHub is the faithful fake on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.functional.github_support import WEBHOOK_SECRET, example, readdress, sign
from tests.support.fake_github import FakeGitHub, fake_sha, rsa_key_pair
from tests.support.local_stack import running_stack
from tests.support.waiting import until


def test_github_push_to_build_through_the_local_stack(tmp_path: Path) -> None:
    private_pem, public_pem = rsa_key_pair()
    with FakeGitHub(public_key_pem=public_pem) as fake:
        installation = fake.add_installation("octo-org")
        repo = fake.add_repo(installation, "octo-org/app", branches={"main": fake_sha("m1")})
        env = {"GITHUB_APP_ID": fake.app_id, "GITHUB_APP_SLUG": fake.app_slug, "GITHUB_CLIENT_ID": fake.client_id,
               "GITHUB_CLIENT_SECRET": fake.client_secret, "GITHUB_APP_PRIVATE_KEY": private_pem,
               "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET, "GITHUB_API_URL": fake.api_url,
               "GITHUB_WEB_URL": fake.web_url, "GITCONNECT_DASHBOARD_URL": "https://dashboard.test/"}
        with running_stack(env) as stack:
            url = stack.request("POST", "/v1/teams/demo/connections/github/authorize").json()["url"]
            state = parse_qs(urlsplit(url).query)["state"][0]
            code = fake.issue_code(fake.add_user("octocat", [installation]))
            back = stack.request("GET", f"/v1/oauth/github/callback?installation_id={installation}"
                                        f"&setup_action=install&code={code}&state={state}")
            assert back.status == 302, back.body
            outcome = parse_qs(urlsplit(back.headers["location"]).query)
            assert outcome["outcome"] == ["linked"], outcome
            source = stack.request("POST", "/v1/teams/demo/sources", json_body={
                "connection_id": outcome["connection_id"][0], "repository": "octo-org/app", "branches": ["main"]})
            assert source.status == 201, source.body

            payload = readdress(example("push", where=lambda p: p["ref"].startswith("refs/heads/") and p["commits"]),
                                installation, repo)
            after = fake.add_commit(repo.full_name, fake_sha("m2"))
            payload.update({"ref": "refs/heads/main", "before": fake_sha("m1"), "after": after, "deleted": False})
            payload["head_commit"] = {**payload["head_commit"], "id": after, "message": "change"}
            body = json.dumps(payload).encode()
            reply = stack.request("POST", "/v1/webhooks/github", body=body, headers={
                "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "e2e-1",
                "X-Hub-Signature-256": sign(body)}, auth=False)
            assert reply.status == 202, reply.body
            events = stack.read_tap(at_least=1, wait_seconds=15)
            assert [(e["detail"]["sha"], e["detail"]["trigger"]) for e in events] == [(after, "push")]
            detail = events[0]["detail"]
            done = stack.request("POST", f"/v1/builds/{detail['build_id']}/status", json_body={"status": "failed"},
                                 token=detail["callback_token"])
            assert done.status == 200
            # Through the status queue: `pending` from when it was requested (if its turn came first), then the report

            def states() -> list[str]:
                return [s["state"] for s in fake.statuses(repo.full_name, after)]

            assert until(lambda: states()[-1:] == ["failure"])
            assert states() in (["failure"], ["pending", "failure"]), states()
