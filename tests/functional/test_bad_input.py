"""Bad input: a clear 4xx problem+json, never a 5xx or a trace, and nothing stored."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.local.git_server import GitHttpServer, WorkingCopy
from tests.functional.test_custom_git_flow import link
from tests.support.inprocess import Reply, System


def assert_problem(reply: Reply, status: int) -> dict:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/problem+json"
    body = reply.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in reply.body.decode()
    return body


def connections_of(system: System, team: str, token: str) -> list[dict]:
    return system.call("GET", f"/v1/teams/{team}/connections", token=token).json()["items"]


@pytest.fixture(scope="module")
def redirector() -> Iterator[str]:
    """A server on 127.0.0.1 that redirects every request to the cloud metadata address."""

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/repo.git"
    server.shutdown()


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("file:///etc/passwd", 400, "file://"),
        ("ext::sh -c id", 400, "spaces"),
        ("ext::git-remote-evil", 400, "only https:// and http://"),
        ("ssh://git@127.0.0.1/x.git", 400, "only https:// and http://"),
        ("http://10.0.0.7/repo.git", 400, "private"),
        ("http://169.254.169.254/latest/meta-data/", 400, "link-local"),
        ("http://[::ffff:10.0.0.7]/repo.git", 400, "private"),
        ("http://[fd00:ec2::254]/repo.git", 400, "private"),
        ("http://user:pw@127.0.0.1/repo.git", 400, "credentials"),
        ("http://127.0.0.1:1/nothing.git", 422, "could not be reached"),
        ("http://no-such-host.invalid/repo.git", 422, "could not be resolved"),
    ],
)
def test_refused_urls_store_nothing(system: System, team: str, admin: str, url: str, status: int,
                                    words: str) -> None:
    body = assert_problem(system.call("POST", f"/v1/teams/{team}/connections", token=admin,
                                      body={"provider": "custom", "url": url}), status)
    assert words in body["detail"]
    assert connections_of(system, team, admin) == []


def test_redirect_to_metadata_is_refused(system: System, team: str, admin: str, redirector: str) -> None:
    body = assert_problem(system.call("POST", f"/v1/teams/{team}/connections", token=admin,
                                      body={"provider": "custom", "url": redirector}), 400)
    assert "link-local" in body["detail"]
    assert connections_of(system, team, admin) == []


def test_not_a_git_repository(system: System, team: str, admin: str, git_server: GitHttpServer) -> None:
    body = assert_problem(system.call("POST", f"/v1/teams/{team}/connections", token=admin,
                                      body={"provider": "custom", "url": git_server.url_for("missing")}), 422)
    assert "no Git repository" in body["detail"]


def test_wrong_credentials_are_refused_and_right_ones_work(system: System, team: str, admin: str,
                                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("private")
    from infra.local.git_server import init_bare

    init_bare(root, "secret")
    with GitHttpServer(root, username="alice", password="s3cret-token") as server:
        url = server.url_for("secret")
        work = WorkingCopy.clone(server.url_for("secret", username="alice", password="s3cret-token"),
                                 tmp_path_factory.mktemp("wc") / "w")
        work.write("a", "a")
        sha = work.commit("one")
        work.push()
        for credentials in (None, {"username": "alice", "password": "wrong"}):
            extra = {"credentials": credentials} if credentials else {}
            body = assert_problem(system.call("POST", f"/v1/teams/{team}/connections", token=admin,
                                              body={"provider": "custom", "url": url, **extra}), 422)
            assert "credentials" in body["detail"]
        assert connections_of(system, team, admin) == []
        connection = link(system, team, admin, url, credentials={"username": "alice", "token": "s3cret-token"})
        assert connection["account"] == "alice" and "credentials" not in connection
        branches = system.call("GET", f"/v1/teams/{team}/connections/{connection['id']}/branches", token=admin)
        assert branches.json()["items"] == [{"name": "main", "sha": sha}]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"provider": "custom", "url": ', "not valid JSON"),
        ("[1, 2]", ""),
        ('{"provider": "custom", "url": "https://example.com/a.git", "colour": "red"}', "colour"),
        ('{"provider": "custom"}', "url"),
        ('{"provider": "svn", "url": "https://example.com/a.git"}', "provider"),
        ('{"provider": "custom", "url": 42}', "url"),
        ('{"provider": "custom", "url": "https://example.com/a.git", "credentials": {"token": ""}}', "token"),
        ('{"provider": "bitbucket", "workspace": "w", "username": "u"}', "api_token"),
        ('{"provider": "bitbucket", "access_token": "t", "username": "u", "api_token": "x"}', "either"),
        ('{"provider": "bitbucket", "workspace": "../x", "username": "u", "api_token": "x"}', "workspace"),
    ],
)
def test_malformed_link_bodies(system: System, team: str, admin: str, raw: str, words: str) -> None:
    body = assert_problem(system.call("POST", f"/v1/teams/{team}/connections", token=admin, raw_body=raw), 400)
    assert words in json.dumps(body)
    assert connections_of(system, team, admin) == []


def test_oversized_body(system: System, team: str, admin: str) -> None:
    big = json.dumps({"provider": "custom", "url": "https://example.com/a.git", "name": "x" * 300_000})
    assert_problem(system.call("POST", f"/v1/teams/{team}/connections", token=admin, raw_body=big), 413)


def test_a_body_that_is_not_json_is_a_clear_415(system: System, team: str, admin: str) -> None:
    body = assert_problem(system.call("POST", f"/v1/teams/{team}/connections", token=admin,
                                      raw_body="provider=custom&url=https://example.com/a.git",
                                      headers={"content-type": "application/x-www-form-urlencoded"}), 415)
    assert "application/json" in body["detail"]
    assert connections_of(system, team, admin) == []


def test_source_and_build_validation(system: System, team: str, admin: str,
                                     remote: tuple[str, WorkingCopy]) -> None:
    connection = link(system, team, admin, remote[0])
    sources = f"/v1/teams/{team}/sources"
    assert_problem(system.call("POST", sources, token=admin, body={"connection_id": connection["id"]}), 400)
    assert_problem(system.call("POST", sources, token=admin,
                               body={"connection_id": connection["id"], "branches": [" main"]}), 400)
    assert_problem(system.call("POST", sources, token=admin,
                               body={"connection_id": connection["id"], "branches": ["main"], "repository": "x/y"}),
                   400)
    assert_problem(system.call("POST", sources, token=admin,
                               body={"connection_id": "con_missing", "branches": ["main"]}), 404)
    assert system.call("GET", sources, token=admin).json()["items"] == []
    source = system.call("POST", sources, token=admin,
                         body={"connection_id": connection["id"], "branches": ["main"]}).json()
    builds = f"/v1/teams/{team}/sources/{source['id']}/builds"
    assert_problem(system.call("POST", builds, token=admin, body={"sha": "0" * 40}), 400)  # the null commit
    assert_problem(system.call("POST", builds, token=admin, body={"sha": "z" * 40}), 400)
    assert_problem(system.call("POST", builds, token=admin, body={"sha": "a" * 10}), 422)  # not a full id here
    assert_problem(system.call("POST", builds, token=admin, body={"branch": "nope"}), 422)
    assert_problem(system.call("GET", f"/v1/teams/{team}/builds?cursor=garbage", token=admin), 400)
    assert_problem(system.call("GET", f"/v1/teams/{team}/builds?limit=0", token=admin), 400)
    assert system.call("GET", f"/v1/teams/{team}/builds", token=admin).json()["items"] == []
    sha_build = system.call("POST", builds, token=admin, body={"sha": "a" * 40})
    assert sha_build.status == 202 and sha_build.json()["ref"] == "a" * 40
    default = system.call("POST", builds, token=admin, body={})  # no branch: the remote's HEAD, main
    assert default.status == 202 and default.json()["ref"] == "refs/heads/main"


def test_authentication_and_tenant_isolation(system: System, team: str, admin: str,
                                             remote: tuple[str, WorkingCopy]) -> None:
    connection = link(system, team, admin, remote[0])
    source = system.call("POST", f"/v1/teams/{team}/sources", token=admin,
                         body={"connection_id": connection["id"], "branches": ["main"]}).json()
    build = system.call("POST", f"/v1/teams/{team}/sources/{source['id']}/builds", token=admin,
                        body={"branch": "main"}).json()
    paths = [
        ("GET", f"/v1/teams/{team}/connections"),
        ("GET", f"/v1/teams/{team}/connections/{connection['id']}"),
        ("GET", f"/v1/teams/{team}/connections/{connection['id']}/branches"),
        ("GET", f"/v1/teams/{team}/connections/{connection['id']}/repositories"),
        ("DELETE", f"/v1/teams/{team}/connections/{connection['id']}"),
        ("GET", f"/v1/teams/{team}/sources/{source['id']}"),
        ("PATCH", f"/v1/teams/{team}/sources/{source['id']}"),
        ("DELETE", f"/v1/teams/{team}/sources/{source['id']}"),
        ("POST", f"/v1/teams/{team}/sources/{source['id']}/builds"),
        ("GET", f"/v1/teams/{team}/builds"),
        ("GET", f"/v1/teams/{team}/builds/{build['id']}"),
        ("GET", f"/v1/teams/{team}/deliveries"),
    ]
    other = system.token({"other-team": "admin"}, sub="mallory")
    for method, path in paths:
        body = {"branch": "main"} if path.endswith("/builds") and method == "POST" else {}
        assert_problem(system.call(method, path, body=body), 401)
        assert_problem(system.call(method, path, token="not-a-jwt", body=body), 401)
        assert_problem(system.call(method, path, token=other, body=body), 403)
    # The other team's own paths never reach this team's records
    for method, path in paths:
        if "/connections/" in path or "/sources/" in path or "/builds/" in path:
            foreign = path.replace(f"/teams/{team}/", "/teams/other-team/")
            body = {"branch": "main"} if foreign.endswith("/builds") and method == "POST" else {}
            assert_problem(system.call(method, foreign, token=other, body=body), 404)
    assert_problem(system.call("POST", f"/v1/builds/{build['id']}/status", token=other,
                               body={"status": "running"}), 403)
    assert_problem(system.call("POST", f"/v1/builds/{build['id']}/status", token="guess",
                               body={"status": "running"}), 401)
    # A member may trigger builds but not unlink
    member = system.token({team: "member"}, sub="bob")
    assert_problem(system.call("DELETE", f"/v1/teams/{team}/connections/{connection['id']}", token=member), 403)
    assert system.call("GET", f"/v1/teams/{team}/connections/{connection['id']}", token=member).status == 200


def test_canary_secret_never_leaves_its_envelope(system: System, team: str, admin: str,
                                                 tmp_path_factory: pytest.TempPathFactory,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    canary = "CANARY-7f3e9b1c-token"
    root = tmp_path_factory.mktemp("canary")
    from infra.local.git_server import init_bare

    init_bare(root, "c")
    with GitHttpServer(root, username="ci", password=canary) as server:
        work = WorkingCopy.clone(server.url_for("c", username="ci", password=canary),
                                 tmp_path_factory.mktemp("wc") / "w")
        work.write("a", "a")
        work.commit("one")
        work.push()
        replies = [system.call("POST", f"/v1/teams/{team}/connections", token=admin,
                               body={"provider": "custom", "url": server.url_for("c"),
                                     "credentials": {"username": "ci", "token": canary}})]
        connection = replies[0].json()
        source = system.call("POST", f"/v1/teams/{team}/sources", token=admin,
                             body={"connection_id": connection["id"], "branches": ["main"], "poll": True})
        replies += [source, system.call("GET", f"/v1/teams/{team}/connections", token=admin)]
        replies.append(system.call("POST", f"/v1/teams/{team}/sources/{source.json()['id']}/builds", token=admin,
                                   body={"branch": "main"}))
        queue = system.res.attrs["BuildsQueue"]["QueueUrl"]
        peek = system.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)
        system.drain()
        events = system.bus_events()
    assert all(canary not in r.body.decode() for r in replies)
    assert all(canary not in m["Body"] for m in peek.get("Messages", []))
    assert all(canary not in json.dumps(e) for e in events)
    ddb = system.client("dynamodb")
    for logical in ("ConnectionsTable", "SourcesTable", "BuildsTable", "IdempotencyTable"):
        items = ddb.scan(TableName=system.res.attrs[logical]["Ref"])["Items"]  # test-only inspection
        assert canary not in json.dumps(items, default=str)
        assert canary.encode().hex() not in json.dumps(items, default=lambda b: b.hex() if isinstance(b, bytes) else "")
    out, err = capfd.readouterr()
    assert canary not in out and canary not in err


@pytest.mark.parametrize(
    "raw",
    [b'{"provider": "custom", "url": "\xff\xfe"}', b"\xc3\x28", b'{"a": "\xed\xa0\x80"}', b"\x80" * 64],
)
def test_a_body_that_is_not_utf8_is_a_400_before_routing(system: System, team: str, admin: str, raw: bytes) -> None:
    body = assert_problem(system.call("POST", f"/v1/teams/{team}/connections", token=admin, raw_body=raw), 400)
    assert "UTF-8" in body["detail"]
    assert connections_of(system, team, admin) == []


@pytest.mark.parametrize(
    ("method", "path", "raw"),
    [
        ("POST", "/v1/teams/{team}/connections", '{"provider": 7}'),
        ("POST", "/v1/teams/{team}/connections", "not json"),
        ("POST", "/v1/teams/{team}/sources", "[]"),
        ("PUT", "/v1/teams/{team}/connections/c-1/restrictions", '{"mode": "sideways"}'),
        ("POST", "/v1/teams/{team}/connections", "\xff"),
        ("GET", "/v1/teams/{team}/builds?limit=-5", None),
        ("POST", "/v1/builds/b-1/status", '{"status": "exploded"}'),
        ("POST", "/v1/runs/r-1/status", "{"),
    ],
)
def test_no_token_is_a_401_whatever_the_body(system: System, team: str, method: str, path: str,
                                            raw: str | None) -> None:
    body = assert_problem(system.call(method, path.format(team=team), raw_body=raw), 401)
    assert "errors" not in body  # nothing about the shape the route expects


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/nothing-here", 404, None),  # `/` itself is the dashboard (tests/unit/test_dashboard.py)
        ("GET", "/v1", 404, None),
        ("POST", "/v1/nothing/here", 404, None),
        ("GET", "/v1/webhooks/github", 405, "POST"),
        ("DELETE", "/v1/health", 405, "GET"),
        ("PATCH", "/v1/teams/{team}/connections", 405, "GET, POST"),
        ("GET", "/v1/teams/{team}/no-such-collection", 404, None),
    ],
)
def test_unknown_paths_and_methods_are_problems(system: System, team: str, admin: str, method: str, path: str,
                                                status: int, allow: str | None) -> None:
    reply = system.call(method, path.format(team=team), token=admin)
    assert_problem(reply, status)
    assert reply.headers.get("allow") == allow


@pytest.mark.parametrize("segment", ["x" * 5000, "%00", "a%0Ab", "%E2%80%8B" * 300])
def test_odd_path_parameters_are_404s(system: System, team: str, admin: str, segment: str) -> None:
    for path in (f"/v1/teams/{team}/connections/{segment}", f"/v1/teams/{team}/sources/{segment}",
                 f"/v1/teams/{team}/builds/{segment}", f"/v1/teams/{team}/templates/{segment}/versions"):
        assert_problem(system.call("GET", path, token=admin), 404)
