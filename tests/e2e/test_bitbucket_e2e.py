"""Bitbucket Cloud through the local stack process, with the fake Bitbucket delivering signed webhooks over real
HTTP: link by API token -> list -> source (webhook registered) -> push -> build -> status back -> regenerate -> the old
secret builds nothing -> unlink (webhook removed)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from gitconnect.providers.bitbucket.webhooks import signature
from tests.support.bitbucket_fixtures import payload
from tests.support.fake_bitbucket import FakeBitbucket
from tests.support.fake_gitlab import fake_sha
from tests.support.local_stack import running_stack
from tests.support.waiting import until


def test_bitbucket_end_to_end() -> None:
    with FakeBitbucket() as fake, running_stack(
        {"BITBUCKET_API_URL": fake.api_url, "BITBUCKET_WEB_URL": fake.web_url}
    ) as stack:
        alice = fake.add_user("alice", email="alice@example.com")
        acme = fake.add_workspace("acme", members=[alice])
        app = fake.add_repo(acme, "app", branches={"main": fake_sha("m1")})
        connection = stack.request("POST", "/v1/teams/demo/connections", json_body={
            "provider": "bitbucket", "workspace": "acme", "username": "alice@example.com",
            "api_token": fake.api_token(alice)})
        assert connection.status == 201, connection.body
        conn_id = connection.json()["id"]
        repos = stack.request("GET", f"/v1/teams/demo/connections/{conn_id}/repositories").json()["items"]
        assert [r["full_name"] for r in repos] == ["acme/app"]
        source = stack.request("POST", "/v1/teams/demo/sources", json_body={
            "connection_id": conn_id, "repository": "acme/app", "branches": ["main"]})
        assert source.status == 201, source.body
        (hook,) = app.hooks.values()
        assert hook.url.startswith(stack.api_url + "/v1/webhooks/bitbucket/")

        fake.add_commit(app, fake_sha("m2"), parents=[fake_sha("m1")])
        fake.set_branch(app, "main", fake_sha("m2"))
        assert [s for _, s in fake.send_push(app, [{"branch": "main", "old": fake_sha("m1"),
                                                    "new": fake_sha("m2")}])] == [202]
        events = stack.read_tap(at_least=1, wait_seconds=15)
        assert [(e["detail"]["sha"], e["detail"]["provider"]) for e in events] == [(fake_sha("m2"), "bitbucket")]
        detail = events[0]["detail"]
        status = stack.request("POST", f"/v1/builds/{detail['build_id']}/status",
                               json_body={"status": "succeeded"}, token=detail["callback_token"])
        assert status.status == 200, status.body
        # Through the status queue: one status per source, updated in place
        assert until(lambda: [s["state"] for s in fake.statuses(app, fake_sha("m2"))] == ["SUCCESSFUL"])

        old_secret = hook.secret
        regenerated = stack.request("POST", f"/v1/teams/demo/connections/{conn_id}/webhooks/regenerate")
        assert regenerated.json() == {"regenerated": 1}
        (hook,) = app.hooks.values()
        assert hook.secret != old_secret
        body = payload("repo-push")
        body["repository"].update({"uuid": app.uuid, "full_name": "acme/app"})
        change = body["push"]["changes"][0]
        change["old"].update({"name": "main", "target": {**change["old"]["target"], "hash": fake_sha("m2")}})
        change["new"].update({"name": "main", "target": {**change["new"]["target"], "hash": fake_sha("m3")}})
        raw = json.dumps(body).encode()
        stale = urllib.request.Request(hook.url, data=raw, method="POST", headers={
            "Content-Type": "application/json", "X-Event-Key": "repo:push", "X-Request-UUID": "stale-1",
            "X-Hub-Signature": signature(old_secret, raw)})
        try:
            with urllib.request.urlopen(stale, timeout=10) as answer:
                code = answer.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        assert code in (202, 401)  # refused at the door, or (cached secret) refused by the router: never built
        time.sleep(2)
        assert stack.read_tap(at_least=1, wait_seconds=2) == []

        assert stack.request("DELETE", f"/v1/teams/demo/connections/{conn_id}").status == 204
        assert app.hooks == {}
