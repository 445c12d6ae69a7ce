"""The fake Bitbucket Cloud over real HTTP (urllib): pages, authentication, webhooks, build statuses, src commits,
OAuth rotation and signed repo:push deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.error import HTTPError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

import pytest

from tests.support.bitbucket_fixtures import payload
from tests.support.clock import Clock
from tests.support.fake_bitbucket import FakeBitbucket, FakeHook, FakeRepo, FakeUser, FakeWorkspace


def call(
    method: str,
    url: str,
    auth: str | None = None,
    *,
    json_body: Any = None,
    form: dict[str, str] | None = None,
    data: bytes | None = None,
    content_type: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Accept": "application/json"}
    if auth:
        headers["Authorization"] = auth
    if json_body is not None:
        data, content_type = json.dumps(json_body).encode(), "application/json"
    elif form is not None:
        data, content_type = urlencode(form).encode(), "application/x-www-form-urlencoded"
    if content_type:
        headers["Content-Type"] = content_type
    try:
        with urlopen(Request(url, data=data, headers=headers, method=method), timeout=5) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def basic(user: FakeUser, token: str, ident: str | None = None) -> str:
    return "Basic " + base64.b64encode(f"{ident or user.email}:{token}".encode()).decode()


def client_basic(fake: FakeBitbucket) -> str:
    return "Basic " + base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bb(clock: Clock) -> Iterator[FakeBitbucket]:
    with FakeBitbucket(clock=clock) as fake:
        yield fake


@pytest.fixture
def ada(bb: FakeBitbucket) -> FakeUser:
    return bb.add_user("ada", email="ada@example.com")


@pytest.fixture
def acme(bb: FakeBitbucket, ada: FakeUser) -> FakeWorkspace:
    return bb.add_workspace("acme", members=[ada])  # ada: the owner


@pytest.fixture
def repo(bb: FakeBitbucket, acme: FakeWorkspace) -> FakeRepo:
    return bb.add_repo(acme, "web", branches={"main": "a" * 40, "feature/x": "b" * 40})


def api(bb: FakeBitbucket, path: str) -> str:
    return f"{bb.api_url}/2.0{path}"


def test_pages_follow_next_with_every_parameter_and_end_without_next(bb: FakeBitbucket, ada: FakeUser) -> None:
    acme = bb.add_workspace("acme", members=[ada])
    for n in range(23):
        bb.add_repo(acme, f"svc-{n:02d}")
    bb.add_repo(acme, "other")
    auth = basic(ada, bb.api_token(ada))
    url: str | None = api(bb, "/repositories/acme?" + urlencode({"role": "member", "q": 'name ~ "SVC"'}))
    names, pages = [], []
    while url:
        status, _, raw = call("GET", url, auth)
        assert status == 200
        page = json.loads(raw)
        pages.append(page)
        names += [r["full_name"] for r in page["values"]]
        url = page.get("next")
        if url:
            assert url.startswith(bb.api_url + "/2.0/repositories/acme?") and "role=member" in url
    assert [p["page"] for p in pages] == [1, 2, 3] and {p["pagelen"] for p in pages} == {10}
    assert pages[0]["size"] == 23 and "next" not in pages[-1] and pages[-1]["previous"]
    assert sorted(names) == [f"acme/svc-{n:02d}" for n in range(23)]
    repo = pages[0]["values"][0]
    assert repo["type"] == "repository" and repo["uuid"].startswith("{") and repo["mainbranch"]["name"] == "main"
    clone = {link["name"]: link["href"] for link in repo["links"]["clone"]}
    assert clone["https"].endswith("/acme/svc-00.git") and "ada@" in clone["https"]
    status, _, raw = call("GET", api(bb, "/repositories/acme?page=9"), auth)
    assert status == 404 and json.loads(raw)["error"]["message"] == "Invalid page"


def test_authentication_is_refused_with_bitbuckets_error_bodies(
    bb: FakeBitbucket, clock: Clock, ada: FakeUser, acme: FakeWorkspace, repo: FakeRepo
) -> None:
    token = bb.api_token(ada)
    for auth in (None, basic(ada, "wrong"), basic(ada, token, "someone@example.com"), f"Bearer {token}"):
        status, headers, raw = call("GET", api(bb, "/user"), auth)
        assert status == 401 and json.loads(raw)["type"] == "error" and "www-authenticate" in headers, auth
    assert call("GET", api(bb, "/user"), basic(ada, token, "ada"))[0] == 200  # nickname works as well as e-mail
    access, _ = bb.oauth_tokens(ada)
    status, _, raw = call("GET", api(bb, "/user"), f"Bearer {access}")
    assert status == 200 and json.loads(raw)["nickname"] == "ada" and json.loads(raw)["uuid"] == ada.uuid
    clock.now += 7200
    status, _, raw = call("GET", api(bb, "/user"), f"Bearer {access}")
    assert (status, json.loads(raw)) == (401, {"type": "error", "error": {"message": "Access token expired."}})
    # workspace and repository access tokens: no /user, and nothing outside their workspace or repository
    other = bb.add_repo(bb.add_workspace("elsewhere", members=[bb.add_user("eve")]), "secret")
    sibling = bb.add_repo(acme, "sibling")
    ws_token, repo_token = f"Bearer {bb.access_token(acme)}", f"Bearer {bb.access_token(acme, repository=repo)}"
    status, _, raw = call("GET", api(bb, "/user"), ws_token)
    assert status == 403 and "not accessible by this authentication mechanism" in json.loads(raw)["error"]["message"]
    assert call("GET", api(bb, f"/repositories/{other.full_name}"), ws_token)[0] == 404
    assert call("GET", api(bb, f"/repositories/{sibling.full_name}"), ws_token)[0] == 200
    assert call("GET", api(bb, f"/repositories/{sibling.full_name}"), repo_token)[0] == 404
    status, _, raw = call("GET", api(bb, "/repositories/acme"), repo_token)
    assert [r["slug"] for r in json.loads(raw)["values"]] == ["web"]
    by_uuid = api(bb, f"/repositories/acme/{quote(repo.uuid, safe='')}")
    assert json.loads(call("GET", by_uuid, repo_token)[2])["full_name"] == "acme/web"
    # an API token with scopes: what it lacks is 403
    reader = basic(ada, bb.api_token(ada, scopes=["read:repository:bitbucket"]))
    assert call("GET", api(bb, "/repositories/acme/web"), reader)[0] == 200
    status, _, raw = call("GET", api(bb, "/repositories/acme/web/hooks"), reader)
    assert status == 403 and json.loads(raw)["error"]["detail"]["required"] == ["read:webhook:bitbucket"]


def test_hooks_keep_their_secret_and_need_admin(bb: FakeBitbucket, ada: FakeUser, repo: FakeRepo) -> None:
    auth = basic(ada, bb.api_token(ada))
    hooks = api(bb, "/repositories/acme/web/hooks")
    body = {
        "description": "gitconnect",
        "url": "https://hooks.example.com/b",
        "active": True,
        "events": ["repo:push", "pullrequest:created"],
        "secret": "s3cr3t-value",
    }
    status, _, raw = call("POST", hooks, auth, json_body=body)
    created = json.loads(raw)
    assert status == 201 and created["type"] == "webhook_subscription" and created["secret_set"] is True
    assert b"s3cr3t-value" not in raw and "secret" not in created
    assert created["subject"]["full_name"] == "acme/web" and created["events"] == ["pullrequest:created", "repo:push"]
    assert repo.hooks[created["uuid"]].secret == "s3cr3t-value"
    one = f"{hooks}/{quote(created['uuid'], safe='')}"
    status, _, raw = call("GET", f"{hooks}/{created['uuid'].strip('{}')}", auth)  # without braces too
    assert status == 200 and b"s3cr3t-value" not in raw
    status, _, raw = call("PUT", one, auth, json_body={"secret": None, "active": False})
    assert status == 200 and json.loads(raw)["secret_set"] is False and json.loads(raw)["active"] is False
    listed = json.loads(call("GET", hooks, auth)[2])
    assert [h["uuid"] for h in listed["values"]] == [created["uuid"]]
    for bad, field in (({**body, "events": ["repo:pushed"]}, "events"), ({**body, "url": ""}, "url")):
        status, _, raw = call("POST", hooks, auth, json_body=bad)
        assert status == 400 and field in json.loads(raw)["error"]["fields"]
    member = bb.add_user("bob")
    repo.workspace.members[member.uuid] = "member"
    assert call("POST", hooks, basic(member, bb.api_token(member)), json_body=body)[0] == 403
    assert call("POST", hooks, f"Bearer {bb.access_token(repo.workspace)}", json_body=body)[0] == 201
    assert call("DELETE", one, auth)[0] == 204
    assert call("DELETE", one, auth)[0] == 404


def test_refs_commits_diffstat_and_build_statuses(bb: FakeBitbucket, ada: FakeUser, repo: FakeRepo) -> None:
    auth = basic(ada, bb.api_token(ada))
    base = "/repositories/acme/web"
    status, _, raw = call("GET", api(bb, f"{base}/refs/branches/{quote('feature/x', safe='')}"), auth)
    assert status == 200 and json.loads(raw)["target"]["hash"] == "b" * 40
    status, _, raw = call("GET", api(bb, f"{base}/refs/branches/nope"), auth)
    assert status == 404 and json.loads(raw)["type"] == "error"
    bb.add_commit(repo, "c" * 40, message="third\n", parents=["a" * 40])
    commit = json.loads(call("GET", api(bb, f"{base}/commit/ccccccc"), auth)[2])
    assert commit["hash"] == "c" * 40 and commit["parents"][0]["hash"] == "a" * 40
    assert call("GET", api(bb, f"{base}/commit/cccc"), auth)[0] == 404  # too short
    assert call("GET", api(bb, f"{base}/diffstat/{'c' * 40}..{'a' * 40}"), auth)[0] == 404  # not set
    bb.set_diffstat(repo, "c" * 40, "a" * 40, ["app.yaml", {"path": "old.txt", "status": "removed"}])
    values = json.loads(call("GET", api(bb, f"{base}/diffstat/{'c' * 40}..{'a' * 40}"), auth)[2])["values"]
    assert [(v["status"], (v["old"] or {}).get("path"), (v["new"] or {}).get("path")) for v in values] == [
        ("modified", "app.yaml", "app.yaml"),
        ("removed", "old.txt", None),
    ]
    build = api(bb, f"{base}/commit/{'c' * 40}/statuses/build")
    status_body = {"key": "gitconnect", "state": "INPROGRESS", "url": "https://ci.example.com/1", "name": "deploy"}
    assert call("POST", build, auth, json_body=status_body)[0] == 201
    status, _, raw = call("POST", build, auth, json_body={**status_body, "state": "SUCCESSFUL"})
    assert status == 200 and json.loads(raw)["commit"]["hash"] == "c" * 40
    assert [s["state"] for s in bb.statuses(repo, "c" * 40)] == ["SUCCESSFUL"]
    assert call("POST", build, auth, json_body={**status_body, "state": "DONE"})[0] == 400
    assert call("POST", build, auth, json_body={"key": "k", "state": "FAILED"})[0] == 400  # no url
    listed = json.loads(call("GET", api(bb, f"{base}/commit/{'c' * 40}/statuses"), auth)[2])
    assert [s["key"] for s in listed["values"]] == ["gitconnect"]


def test_src_commits_refuse_stale_parents_and_answer_the_new_commit(
    bb: FakeBitbucket, ada: FakeUser, repo: FakeRepo
) -> None:
    auth = basic(ada, bb.api_token(ada))
    src = api(bb, "/repositories/acme/web/src")
    first = bb.put_file(repo, "main", "deploy/app.yaml", "replicas: 1\n")
    assert repo.branches["main"] == first and repo.commits[first]["parents"] == ["a" * 40]
    moved = bb.put_file(repo, "main", "README.md", "hello\n")  # someone pushed meanwhile
    form = {"/deploy/app.yaml": "replicas: 2\n", "message": "Scale", "branch": "main", "parents": first}
    status, _, raw = call("POST", src, auth, form=form)
    assert status == 409 and json.loads(raw)["type"] == "error" and repo.branches["main"] == moved
    status, headers, raw = call("POST", src, auth, form={**form, "parents": moved})
    assert status == 201 and raw == b""
    new = headers["location"].rsplit("/", 1)[-1]
    assert headers["location"] == api(bb, f"/repositories/acme/web/commit/{new}") and repo.branches["main"] == new
    status, headers, raw = call("GET", f"{src}/{new}/deploy/app.yaml", auth)
    assert (status, raw) == (200, b"replicas: 2\n") and headers["content-type"].startswith("text/plain")
    assert call("GET", f"{src}/{first}/deploy/app.yaml", auth)[2] == b"replicas: 1\n"  # history is kept
    meta = json.loads(call("GET", f"{src}/{new}/deploy/app.yaml?format=meta", auth)[2])
    assert meta["type"] == "commit_file" and meta["commit"]["hash"] == new
    assert json.loads(call("GET", f"{src}/{new}/deploy?format=meta", auth)[2])["type"] == "commit_directory"
    status, _, raw = call("GET", f"{src}/{new}/missing.txt", auth)
    assert status == 404 and "missing.txt" in json.loads(raw)["error"]["message"]
    # multipart/form-data, on a new branch made from a parent
    boundary = uuid.uuid4().hex
    parts = [("/bin.dat", b"\x00\xff"), ("branch", b"feature/y"), ("parents", new.encode()), ("message", b"Bin")]
    data = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
            for name, value in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    status, headers, _ = call("POST", src, auth, data=data, content_type=f"multipart/form-data; boundary={boundary}")
    assert status == 201 and repo.branches["feature/y"] == headers["location"].rsplit("/", 1)[-1]
    assert repo.files["feature/y"]["bin.dat"][0] == b"\x00\xff" and "deploy/app.yaml" in repo.files["feature/y"]
    assert call("GET", f"{src}/feature/y/bin.dat", auth)[2] == b"\x00\xff"  # a branch name with a slash
    reader = bb.add_user("rita")
    assert call("POST", src, basic(reader, bb.api_token(reader)), form=form)[0] == 404  # not a member: not visible


def test_oauth_codes_are_single_use_and_refresh_rotates(bb: FakeBitbucket, ada: FakeUser) -> None:
    token_url = f"{bb.web_url}/site/oauth2/access_token"
    code = bb.issue_code(ada)
    status, _, raw = call("POST", token_url, client_basic(bb), form={"grant_type": "authorization_code", "code": code})
    first = json.loads(raw)
    assert status == 200 and first["token_type"] == "bearer" and first["expires_in"] == 7200
    assert first["state"] == "authorization_code" and first["scopes"] == "repository webhook account"
    status, _, raw = call("POST", token_url, client_basic(bb), form={"grant_type": "authorization_code", "code": code})
    assert status == 400 and json.loads(raw)["error"] == "invalid_grant"
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    status, _, raw = call("POST", token_url, None, form={**form, "client_id": bb.client_id, "client_secret": "x"})
    assert status == 401 and json.loads(raw)["error"] == "invalid_client"
    status, _, raw = call(
        "POST", token_url, None, form={**form, "client_id": bb.client_id, "client_secret": bb.client_secret}
    )
    second = json.loads(raw)
    assert status == 200 and second["state"] == "refresh_token" and second["refresh_token"] != first["refresh_token"]
    assert call("GET", api(bb, "/user"), f"Bearer {first['access_token']}")[0] == 401  # rotated away at once
    assert call("GET", api(bb, "/user"), f"Bearer {second['access_token']}")[0] == 200
    status, _, raw = call("POST", token_url, client_basic(bb), form=form)  # the old refresh token
    assert status == 400 and json.loads(raw)["error"] == "invalid_grant"
    assert (bb.refresh_calls, bb.refresh_successes) == (3, 1)


def test_concurrent_refreshes_with_one_token_let_one_win(bb: FakeBitbucket, ada: FakeUser) -> None:
    bb.refresh_delay = 0.2
    _, refresh = bb.oauth_tokens(ada)
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                call("POST", f"{bb.web_url}/site/oauth2/access_token", client_basic(bb), form=form)[0]
            )
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 400] and bb.refresh_calls == 2 and bb.refresh_successes == 1


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Handler", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/bitbucket", received
    server.shutdown()
    server.server_close()


def test_signed_push_delivery_verifies_over_the_received_bytes(
    bb: FakeBitbucket,
    ada: FakeUser,
    repo: FakeRepo,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    auth = basic(ada, bb.api_token(ada))
    body = {"url": url, "description": "gitconnect", "active": True, "events": ["repo:push"], "secret": "k3y"}
    hook_uuid = json.loads(call("POST", api(bb, "/repositories/acme/web/hooks"), auth, json_body=body)[2])["uuid"]
    call("POST", api(bb, "/repositories/acme/web/hooks"), auth, json_body={**body, "events": ["pullrequest:created"]})
    bb.add_commit(repo, "d" * 40, message="ship it\n", parents=["a" * 40])
    results = bb.send_push(
        repo,
        [
            {"branch": "main", "old": "a" * 40, "new": "d" * 40},
            {"tag": "v1", "old": None, "new": "d" * 40, "commits": ["d" * 40] * 7},
        ],
    )
    assert results == [(hook_uuid, 202)] and len(received) == 1
    headers, raw = received[0]
    assert headers["x-hub-signature"] == "sha256=" + hmac.new(b"k3y", raw, hashlib.sha256).hexdigest()
    assert headers["x-event-key"] == "repo:push" and headers["x-hook-uuid"] == hook_uuid.strip("{}")
    assert headers["user-agent"] == "Bitbucket-Webhooks/2.0" and headers["x-attempt-number"] == "1"
    assert uuid.UUID(headers["x-request-uuid"])
    payload = json.loads(raw)
    branch, tag = payload["push"]["changes"]
    assert branch["new"]["target"]["hash"] == "d" * 40 and branch["old"]["name"] == "main"
    assert branch["new"]["target"]["message"] == "ship it\n" and branch["created"] is False
    assert tag["new"]["type"] == "tag" and tag["old"] is None and tag["created"] is True
    assert len(tag["commits"]) == 5 and tag["truncated"] is True
    assert payload["repository"]["uuid"] == repo.uuid and payload["repository"]["full_name"] == "acme/web"
    hook_id, event, sent_headers, sent_payload, status = bb.deliveries[-1]
    assert (hook_id, event, status, json.dumps(sent_payload).encode()) == (hook_uuid, "repo:push", 202, raw)
    assert sent_headers["X-Hub-Signature"] == headers["x-hub-signature"]
    # without a secret, no signature; an inactive hook gets nothing
    repo.hooks[hook_uuid].secret = None
    bb.send_push(repo, [{"branch": "main", "old": "a" * 40, "new": "d" * 40}])
    assert "x-hub-signature" not in received[-1][0]
    repo.hooks[hook_uuid].active = False
    assert bb.send_push(repo, [{"branch": "main", "old": "a" * 40, "new": "d" * 40}]) == []
    bb.remove_hook(repo, hook_uuid)
    assert hook_uuid not in repo.hooks


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_push_payload_has_the_shape_of_bitbuckets_own(bb: FakeBitbucket, ada: FakeUser, repo: FakeRepo) -> None:
    captured: list[bytes] = []

    def deliver(hook: FakeHook, headers: dict[str, str], body: bytes) -> int:
        captured.append(body)
        return 200

    bb.deliver = deliver
    repo.hooks["{h}"] = FakeHook("{h}", repo.full_name, "http://x", "", True, ["repo:push"], None, "")
    bb.add_commit(repo, "a" * 40, message="old commit message\n", parents=["9" * 40])
    bb.add_commit(repo, "e" * 40, message="new commit message\n", parents=["a" * 40])
    bb.send_push(repo, [{"branch": "main", "old": "a" * 40, "new": "e" * 40, "commits": ["e" * 40]}])
    expected = payload("repo-push")
    got = json.loads(captured[0])
    assert _shape(got) == _shape(expected)
