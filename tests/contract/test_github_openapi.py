"""GitHub's REST contract, from material nobody on this project wrote (DESIGN.md §7).

1. Every request gitconnect's GitHub code makes (captured from the fake's log while each `GitHubApi` method and
   `InstallationTokens` run) is checked against GitHub's official OpenAPI description (npm `@octokit/openapi`):
   the operation exists for that method and path, path parameters fill it and fit their schemas, query parameters
   are declared by the operation, JSON bodies validate against its requestBody schema, and the operation is
   enabled for GitHub Apps when an App credential makes it.
2. The fake's answers to those requests validate against the operation's response schema for their status, so the
   fake is faithful where the client code relies on it.
3. Recorded real conversations (`@octokit/fixtures`, PyGithub's `tests/ReplayData`) replayed through the code.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jsonschema
import pytest

from gitconnect.adapters.http import RequestsHttpClient
from gitconnect.domain.errors import NotFoundError, ProtectedBranchError, RemoteAuthError, UnprocessableError
from gitconnect.providers.base import HttpResponse
from gitconnect.providers.github.api import API_VERSION, GitHubApi, github_message, next_link, raise_for_status
from gitconnect.providers.github.app_auth import InstallationTokens, parse_timestamp
from tests.support import registry
from tests.support.fake_github import FakeGitHub, Recorded, fake_sha, rsa_key_pair

# ---------------------------------------------------------------------------------------------------------------------
# The OpenAPI description, as something to check requests and responses against


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema (draft 4): `nullable: true` becomes "or null"."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _to_json_schema(value) for key, value in node.items() if key not in ("example", "examples")}
    alternatives = converted.get("oneOf")
    if isinstance(alternatives, list) and all(str(a.get("$ref", "")).endswith("-error") for a in alternatives):
        # GitHub's error alternatives overlap (a basic-error body is also a valid repository-rule-violation-error):
        # "one of" these shapes, in the description's sense, is "any of" them in JSON Schema's.
        converted["anyOf"] = converted.pop("oneOf")
    if converted.pop("nullable", False) is True:
        return {"anyOf": [{"type": "null"}, converted]}
    return converted


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: Mapping[str, Any]
    parameters: Mapping[tuple[str, str], Mapping[str, Any]]  # (in, name) -> parameter object

    @property
    def id(self) -> str:
        return str(self.spec.get("operationId"))


class OpenApi:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.components = {"components": {"schemas": _to_json_schema(document["components"]["schemas"])}}
        self._routes: list[tuple[re.Pattern[str], str, int, list[str]]] = []
        for template, item in document["paths"].items():
            pattern, names = "", []
            for part in re.split(r"(\{[^}]+\})", template):
                if part.startswith("{"):
                    names.append(part[1:-1])
                    multi = any(p.get("x-multi-segment") for p in self._path_params(item, names[-1]))
                    pattern += "(.+)" if multi else "([^/]+)"
                else:
                    pattern += re.escape(part)
            literal = sum(1 for part in template.split("/") if part and "{" not in part)
            self._routes.append((re.compile(f"^{pattern}$"), template, literal, names))

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def _path_params(self, item: Mapping[str, Any], name: str) -> Iterator[Mapping[str, Any]]:
        for method, op in item.items():
            if method == "parameters" or not isinstance(op, dict):
                continue
            for param in [*item.get("parameters", []), *op.get("parameters", [])]:
                param = self.resolve(param)
                if param.get("in") == "path" and param.get("name") == name:
                    yield param

    def operations(self, method: str, path: str) -> list[tuple[Operation, dict[str, str]]]:
        """The operations a method and raw (percent-encoded) path can mean, each with its path parameters' values.

        As a router does, templates with more literal segments win (`/user/installations` is not
        `/user/{account_id}`). Usually one is left; a path reads two ways where the description lists an alias
        (`compare/{basehead}` and `compare/{base}...{head}`), and then the request must be right under both."""
        found = []
        best = 0
        for rx, template, literal, names in sorted(self._routes, key=lambda route: -route[2]):
            match = rx.match(path)
            op = self.document["paths"][template].get(method.lower()) if match else None
            if match is None or op is None or literal < best:
                continue
            best = literal
            item = self.document["paths"][template]
            params = {}
            for param in [*item.get("parameters", []), *op.get("parameters", [])]:
                param = self.resolve(param)
                params[(param["in"], param["name"])] = param
            values = {name: unquote(value) for name, value in zip(names, match.groups(), strict=True)}
            found.append((Operation(method.upper(), template, op, params), values))
        assert found, f"{method} {path}: no {method} operation of GitHub's OpenAPI description has this path"
        return found

    def validate(self, instance: Any, schema: Mapping[str, Any], where: str) -> None:
        root = {**self.components, "allOf": [_to_json_schema(schema)]}
        validator = jsonschema.Draft4Validator(root, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        assert not errors, f"{where}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors[:5]
        )

    def response_schema(self, op: Operation, status: int) -> Mapping[str, Any] | None:
        """The documented schema of this answer; GitHub's basic error for an error status the operation does not
        list (the description lists few of them: any call can answer 401 Bad credentials, for one)."""
        responses = op.spec["responses"]
        if status == 304 and op.method.upper() == "GET":
            # Conditional requests are documented for the whole REST API ("Best practices: use conditional
            # requests"), not per operation: a GET with a current If-None-Match answers 304 with no body.
            return None
        declared = responses.get(str(status)) or responses.get("default")
        if declared is None:
            assert status >= 400, f"{op.method} {op.template}: GitHub does not document status {status}"
            return {"$ref": "#/components/schemas/basic-error"}
        content = self.resolve(declared).get("content", {})
        media = content.get("application/json") or next(iter(content.values()), None)
        return None if media is None else media.get("schema")


@pytest.fixture(scope="module")
def openapi() -> OpenApi:
    return OpenApi(registry.github_openapi())


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def check_request(openapi: OpenApi, record: Recorded, *, app_credential: bool) -> list[Operation]:
    """One request the code made, against the description; returns the operations it calls."""
    found = openapi.operations(record.method, record.path)
    for op, path_values in found:
        _check_request(openapi, record, op, path_values, app_credential=app_credential)
    return [op for op, _ in found]


def _check_request(
    openapi: OpenApi, record: Recorded, op: Operation, path_values: Mapping[str, str], *, app_credential: bool
) -> None:
    where = f"{record.method} {record.path} ({op.id})"
    for name, value in path_values.items():
        param = op.parameters.get(("path", name))
        assert param is not None, f"{where}: {{{name}}} is not a declared path parameter of {op.id}"
        assert value, f"{where}: {{{name}}} is empty"
        openapi.validate(_coerce(value, param.get("schema", {})), param.get("schema", {}), f"{where} {{{name}}}")
    for name, values in record.query.items():
        param = op.parameters.get(("query", name))
        assert param is not None, f"{where}: query parameter {name!r} is not declared by {op.id}"
        for value in values:
            openapi.validate(_coerce(value, param.get("schema", {})), param.get("schema", {}), f"{where} ?{name}")
    for (location, name), param in op.parameters.items():
        if location == "query" and param.get("required"):
            assert name in record.query, f"{where}: required query parameter {name!r} missing"
    body_spec = op.spec.get("requestBody")
    if body_spec is None:
        assert record.body is None, f"{where}: {op.id} takes no body, the code sent {record.body!r}"
    else:
        body_spec = openapi.resolve(body_spec)
        if record.body is None:
            assert not body_spec.get("required"), f"{where}: {op.id} requires a body"
        else:
            assert record.headers.get("content-type", "").startswith("application/json"), where
            schema = body_spec["content"]["application/json"]["schema"]
            openapi.validate(record.body, schema, f"{where} request body")
    # What GitHub asks of every REST call (docs: "Getting started with the REST API").
    assert record.headers.get("accept") == "application/vnd.github+json", where
    assert record.headers.get("x-github-api-version") == API_VERSION, where
    assert record.headers.get("user-agent"), f"{where}: GitHub refuses requests without a User-Agent"
    assert record.headers.get("authorization", "").startswith("Bearer "), where
    if app_credential:
        assert op.spec.get("x-github", {}).get("enabledForGitHubApps"), f"{where}: {op.id} is not for GitHub Apps"


def check_response(openapi: OpenApi, record: Recorded) -> list[tuple[str, int]]:
    """The fake's answer against the documented response of every operation the request calls."""
    checked = []
    for op, _ in openapi.operations(record.method, record.path):
        schema = openapi.response_schema(op, record.status)
        if schema is not None:
            where = f"the fake's {record.status} to {record.method} {record.path} ({op.id})"
            openapi.validate(record.response, schema, where)
        checked.append((op.id, record.status))
    return checked


# ---------------------------------------------------------------------------------------------------------------------
# Exercising every call against the fake


EXPECTED_OPERATIONS = {
    "apps/create-installation-access-token",
    "apps/get-installation",
    "apps/list-installations-for-authenticated-user",
    "apps/list-repos-accessible-to-installation",
    "repos/list-branches",
    "repos/list-tags",
    "repos/get",
    "repos/get-commit",
    "repos/get-branch",
    "repos/compare-commits-with-basehead",
    "repos/compare-commits",  # the same call, under the older `{base}...{head}` template the description keeps
    "git/get-ref",
    "git/get-tag",
    "repos/create-commit-status",
    "repos/get-content",
    "repos/create-or-update-file-contents",
    "git/create-ref",
    "git/update-ref",
    "pulls/list",
    "pulls/create",
    "pulls/update",
}


@pytest.fixture(scope="module")
def exercised() -> Iterator[FakeGitHub]:
    """The fake after every GitHubApi method and InstallationTokens ran against it, success and "absent" paths,
    several pages included; GitHub Enterprise style (/api/v3) so the base path is honoured too."""
    private_key, public_key = rsa_key_pair()
    with FakeGitHub(api_prefix="/api/v3", public_key_pem=public_key) as github:
        inst = github.add_installation("octo-org")
        other = github.add_installation("mona", account_type="User", repository_selection="selected")
        main, feature = fake_sha("main"), fake_sha("feature")
        repo = github.add_repo(inst, "octo-org/hello-world", branches={"main": main, "feature/login": feature})
        for n in range(120):  # two pages of branches
            repo.branches[f"topic-{n:03d}"] = fake_sha(f"topic {n}")
        for n in range(130):  # two pages of repositories
            github.add_repo(inst, f"octo-org/repo-{n:03d}")
        github.add_repo(other, "mona/dotfiles")
        github.add_tag(repo.full_name, "v1.0.0", main)
        github.add_tag(repo.full_name, "release/2.0", feature, annotated=True, depth=2)
        github.set_compare(repo.full_name, main, feature,
                           ["src/app.py", {"filename": "docs/new.md", "status": "renamed",
                                           "previous_filename": "docs/old.md"}])
        user_token = github.add_user("mona", [inst, other])

        http = RequestsHttpClient(allow_loopback=True, timeout=10)
        tokens = InstallationTokens(http, github.api_url, github.app_id, private_key)
        api = GitHubApi(http, github.api_url)
        token = tokens.token(inst)
        assert api.installation(tokens.app_jwt(), inst)["id"] == inst
        with pytest.raises(NotFoundError):
            api.installation(tokens.app_jwt(), 999_999)
        assert len(api.user_installations(user_token)) == 2
        assert len(api.installation_repositories(token)) == 131
        assert len(api.branches(token, "octo-org", "hello-world")) == 122
        # The reconcile's conditional listings: 200s with ETags, then every page 304 (If-None-Match)
        listed = api.conditional_list(token, "octo-org", "hello-world", "branches", ())
        assert listed.items is not None and len(listed.items) == 122 and len(listed.validators) == 2
        assert api.conditional_list(token, "octo-org", "hello-world", "branches", listed.validators).items is None
        tags = api.conditional_list(token, "octo-org", "hello-world", "tags", ())
        assert sorted(t["commit"]["sha"] for t in tags.items or []) == sorted([main, feature])
        assert api.branch_head(token, "octo-org", "hello-world", "feature/login") == feature
        assert api.branch_head(token, "octo-org", "hello-world", "gone") is None
        assert api.compare_files(token, "octo-org", "hello-world", main, feature) == [
            "src/app.py", "docs/new.md", "docs/old.md"]
        assert api.compare_files(token, "octo-org", "hello-world", main, fake_sha("unknown")) is None
        assert api.tag_commit(token, "octo-org", "hello-world", "v1.0.0") == main
        assert api.tag_commit(token, "octo-org", "hello-world", "release/2.0") == feature
        assert api.tag_commit(token, "octo-org", "hello-world", "v9") is None
        assert api.repository(token, "octo-org", "hello-world")["default_branch"] == "main"
        assert api.commit(token, "octo-org", "hello-world", main[:12]) == main
        assert api.commit(token, "octo-org", "hello-world", fake_sha("never")) is None  # 422 No commit found
        status = api.create_commit_status(token, "octo-org", "hello-world", main, "success",
                                          "https://ci.example.com/builds/1", "Build passed", "gitconnect/build")
        assert status["state"] == "success"
        api.create_commit_status(token, "octo-org", "hello-world", feature, "pending", None, None, "gitconnect/build")
        code = github.issue_code(user_token)
        assert api.exchange_code(github.web_url, github.client_id, github.client_secret, code) == user_token
        # GitOps files through the contents API: create, read, update with the blob sha, refusals
        assert api.file(token, "octo-org", "hello-world", "templates/app.json", main) is None
        created = api.put_file(token, "octo-org", "hello-world", "templates/app.json", b"{}", "Add", "main", None)
        assert created is not None and created["commit"]["sha"] == repo.branches["main"]
        again = api.put_file(token, "octo-org", "hello-world", "templates/app.json", b"{}", "Again", "main", None)
        assert again is None
        read = api.file(token, "octo-org", "hello-world", "templates/app.json", "main")
        assert read is not None and read["sha"] == created["content"]["sha"]
        updated = api.put_file(token, "octo-org", "hello-world", "templates/app.json", b'{"a": 1}', "Edit", "main",
                               read["sha"])
        assert updated is not None
        assert api.put_file(token, "octo-org", "hello-world", "templates/app.json", b"[]", "Stale", "main",
                            read["sha"]) is None
        with pytest.raises(UnprocessableError):
            api.file(token, "octo-org", "hello-world", "templates", "main")  # a directory
        # Pull-request mode: gitconnect's branch (created, taken: False, moved), its pull request listed, opened,
        # updated; a protected branch's refusal of a direct commit
        head = repo.branches["main"]
        assert api.create_ref(token, "octo-org", "hello-world", "gitconnect/tpl_1", main)
        assert not api.create_ref(token, "octo-org", "hello-world", "gitconnect/tpl_1", main)
        api.move_ref(token, "octo-org", "hello-world", "gitconnect/tpl_1", head)
        assert api.put_file(token, "octo-org", "hello-world", "templates/app.json", b'{"b": 2}', "Propose",
                            "gitconnect/tpl_1", str(updated["content"]["sha"])) is not None
        assert api.open_pulls(token, "octo-org", "hello-world", "gitconnect/tpl_1", "main") == []
        pull = api.create_pull(token, "octo-org", "hello-world", "gitconnect/tpl_1", "main", "Update", "From the app")
        assert [p["number"] for p in api.open_pulls(token, "octo-org", "hello-world", "gitconnect/tpl_1", "main")] == [
            pull["number"]]
        assert api.update_pull(token, "octo-org", "hello-world", pull["number"], "Update again", "x")["title"] == (
            "Update again")
        github.protect(repo.full_name, "main")
        with pytest.raises(ProtectedBranchError):
            api.put_file(token, "octo-org", "hello-world", "templates/app.json", b"{}", "Direct", "main", None)
        yield github


def _first_requests(github: FakeGitHub) -> Iterator[Recorded]:
    """The API requests the code built itself. Follow-up pages are GitHub's own `Link` URLs (which name
    repositories by id, /repositories/{id}/…, a path the description does not list) and are checked apart."""
    for record in github.log:
        if record.api and not record.path.startswith("/repositories/"):
            yield record


def test_every_request_the_code_makes_is_in_githubs_openapi_description(
    openapi: OpenApi, exercised: FakeGitHub
) -> None:
    seen = set()
    for record in _first_requests(exercised):
        token = record.headers.get("authorization", "").removeprefix("Bearer ")
        ops = check_request(openapi, record, app_credential=not token.startswith("ghu_"))
        seen.update(op.id for op in ops)
    assert seen == EXPECTED_OPERATIONS


def test_follow_up_pages_are_exactly_the_links_github_gave(exercised: FakeGitHub) -> None:
    records = [r for r in exercised.log if r.api]
    followed = [r for r in records if r.path.startswith("/repositories/") or "page" in r.query]
    assert followed, "the exercise should span several pages"
    offered = set()
    for record in records:
        link = next_link(record.response_headers.get("link"))
        if link:
            parts = urlsplit(link)
            offered.add((parts.path.removeprefix("/api/v3"), frozenset(parse_qsl(parts.query))))
    for record in followed:
        sent = (record.path, frozenset((k, v) for k, vs in record.query.items() for v in vs))
        assert sent in offered, f"{record.path}?{record.query} was not a rel=next link GitHub gave"


def test_the_fakes_answers_follow_githubs_response_schemas(openapi: OpenApi, exercised: FakeGitHub) -> None:
    checked = set()
    for record in _first_requests(exercised):
        checked.update(check_response(openapi, record))
    assert {(op, 200) for op in EXPECTED_OPERATIONS if "create" not in op} <= checked
    assert ("apps/create-installation-access-token", 201) in checked
    assert ("repos/create-commit-status", 201) in checked
    assert {("repos/get-branch", 404), ("git/get-ref", 404), ("apps/get-installation", 404)} <= checked


def test_the_checks_can_fail(openapi: OpenApi, exercised: FakeGitHub) -> None:
    """The checker refuses what GitHub's description refuses: otherwise the tests above prove nothing."""
    status_call = next(r for r in exercised.log if r.method == "POST" and "/statuses/" in r.path)
    branch_call = next(r for r in exercised.log if r.path.endswith("/branches/feature%2Flogin"))
    bad_state = copy.deepcopy(status_call)
    bad_state.body["state"] = "passed"
    bad_query = copy.deepcopy(branch_call)
    bad_query.query["sort"] = ["name"]
    bad_path = copy.deepcopy(branch_call)
    bad_path.path = bad_path.path.replace("/branches/", "/branch/")
    bad_version = copy.deepcopy(branch_call)
    bad_version.headers["x-github-api-version"] = "2021-01-01"
    for record in (bad_state, bad_query, bad_path, bad_version):
        with pytest.raises(AssertionError):
            check_request(openapi, record, app_credential=True)
    missing = copy.deepcopy(branch_call)
    del missing.response["commit"]["sha"]
    wrong_type = copy.deepcopy(status_call)
    wrong_type.response["id"] = "1000"
    for record in (missing, wrong_type):
        with pytest.raises(AssertionError):
            check_response(openapi, record)


def test_the_fakes_errors_are_githubs(openapi: OpenApi) -> None:
    """Error answers the code relies on (401, 404, 409, 422) have GitHub's documented shape."""
    with FakeGitHub(public_key_pem=rsa_key_pair()[1]) as github:
        inst = github.add_installation()
        github.add_repo(inst, "octo-org/empty", branches={})
        github.add_repo(inst, "octo-org/full")
        token = github.mint_installation_token(inst)
        http = RequestsHttpClient(allow_loopback=True, timeout=10)
        api = GitHubApi(http, github.api_url)
        assert api.tag_commit(token, "octo-org", "empty", "v1") is None  # 409: Git Repository is empty.
        with pytest.raises(RemoteAuthError, match="Bad credentials"):
            api.branches("ghs_revoked", "octo-org", "full")
        with pytest.raises(UnprocessableError, match="No commit found"):
            api.create_commit_status(token, "octo-org", "full", fake_sha("nowhere"), "success", None, None, "ci")
        with pytest.raises(RemoteAuthError, match="JSON web token"):
            api.create_installation_token("not-a-jwt", inst)
        statuses = {r.status for r in github.log}
        assert statuses == {409, 401, 422}
        for record in github.log:
            check_response(openapi, record)
            assert isinstance(record.response, dict)
            assert record.response["message"]
            assert record.response["documentation_url"].startswith("https://docs.github.com/")


# ---------------------------------------------------------------------------------------------------------------------
# Recorded real conversations replayed through the code


class ReplayHttp:
    """An HttpClient answering from a recorded conversation, in order, and keeping what the code sent."""

    def __init__(self, exchanges: list[tuple[str, str, HttpResponse]]) -> None:
        self.exchanges = list(exchanges)
        self.sent: list[dict[str, Any]] = []

    def request(self, method: str, url: str, *, headers: Any = None, params: Any = None, json_body: Any = None,
                form: Any = None) -> HttpResponse:
        self.sent.append({"method": method, "url": url, "headers": dict(headers or {}), "params": dict(params or {}),
                          "json": json_body, "form": form})
        assert self.exchanges, f"{method} {url}: the recording has no more answers"
        want_method, want_path, response = self.exchanges.pop(0)
        assert (method.upper(), urlsplit(url).path) == (want_method.upper(), want_path.split("?")[0])
        return response


def _pygithub(name: str) -> list[tuple[str, str, HttpResponse]]:
    out = []
    for record in registry.pygithub_replay_requests(name):
        headers = record["response_headers"]
        pairs = headers.items() if isinstance(headers, dict) else headers
        body = record["response_body"]
        raw = body if isinstance(body, bytes) else (body or "").encode()
        response = HttpResponse(record["status"], {k.lower(): v for k, v in pairs}, raw)
        out.append((record["verb"], record["path"], response))
    return out


def _octokit(name: str) -> list[dict[str, Any]]:
    return [copy.deepcopy(call) for call in registry.octokit_fixture(name)]


def _octokit_response(call: Mapping[str, Any]) -> HttpResponse:
    body = call["response"]
    raw = json.dumps(body).encode() if not isinstance(body, str) else body.encode()
    return HttpResponse(call["status"], {k.lower(): str(v) for k, v in call["headers"].items()}, raw)


def _clock_before(expires_at: str) -> float:
    return parse_timestamp(expires_at) - 3000


def test_recorded_installation_token_is_parsed_and_cached() -> None:
    exchanges = _pygithub("GithubIntegration.testGetAccessToken")
    recorded = json.loads(exchanges[0][2].body)
    now = _clock_before(recorded["expires_at"])
    http = ReplayHttp(exchanges[:1])
    tokens = InstallationTokens(http, "https://api.github.com", "12345", rsa_key_pair()[0], clock=lambda: now)
    installation = exchanges[0][1].split("/")[3]
    assert tokens.token(installation) == recorded["token"]
    assert tokens.token(int(installation)) == recorded["token"]  # from the cache: the recording has one answer
    assert len(http.sent) == 1
    assert http.sent[0]["headers"]["Authorization"].startswith("Bearer ey")


@pytest.mark.parametrize(
    ("recording", "error", "words"),
    [
        ("GithubIntegration.testGetAccessTokenForNoInstallation", NotFoundError, "uninstalled"),
        ("GithubIntegration.testGetAccessTokenWithExpiredJWT", RemoteAuthError, "'Expiration time' claim"),
    ],
)
def test_recorded_token_refusals_become_clear_domain_errors(recording: str, error: type, words: str) -> None:
    exchanges = _pygithub(recording)
    tokens = InstallationTokens(ReplayHttp(exchanges), "https://api.github.com", "1", rsa_key_pair()[0])
    with pytest.raises(error, match=re.escape(words)):
        tokens.token(exchanges[0][1].split("/")[3])


def test_recorded_installation_listings_are_parsed() -> None:
    exchanges = _pygithub("Installation.testGetRepos")
    listing = [e for e in exchanges if e[1].startswith("/installation/repositories")]
    recorded = json.loads(listing[0][2].body)
    repositories = GitHubApi(ReplayHttp(listing)).installation_repositories("ghs_recorded")
    assert [r["full_name"] for r in repositories] == [r["full_name"] for r in recorded["repositories"]]

    exchanges = _pygithub("AuthenticatedUser.testInstallations")
    installations = GitHubApi(ReplayHttp(exchanges)).user_installations("ghu_recorded")
    assert [i["id"] for i in installations] == [i["id"] for i in json.loads(exchanges[0][2].body)["installations"]]

    exchanges = _pygithub("GithubIntegration.testGetAppInstallation")
    installation_id = exchanges[0][1].split("/")[-1]
    assert GitHubApi(ReplayHttp(exchanges[:1])).installation("jwt", installation_id)["id"] == int(installation_id)


def test_recorded_commit_status_call_matches_ours() -> None:
    call = _octokit("create-status")[0]
    owner, repo, sha = re.fullmatch(r"/repos/([^/]+)/([^/]+)/statuses/([0-9a-f]+)", call["path"]).groups()
    http = ReplayHttp([("POST", call["path"], _octokit_response(call))])
    sent = call["body"]
    answer = GitHubApi(http).create_commit_status(
        "ghs_recorded", owner, repo, sha, sent["state"], sent["target_url"], sent["description"], sent["context"]
    )
    assert http.sent[0]["json"] == sent  # the same body octokit sent to the real API
    assert answer["state"] == sent["state"] and answer["context"] == sent["context"]


def test_recorded_pagination_links_are_followed_to_the_end() -> None:
    calls = _octokit("paginate-issues")
    links = [call["headers"].get("link") for call in calls]
    url = next_link(links[0])
    followed = []
    while url:
        followed.append(url)
        index = next(i for i, c in enumerate(calls) if c["path"] == urlsplit(url).path + "?" + urlsplit(url).query)
        url = next_link(links[index])
    # GitHub's links leave the path the first request used: they name the repository by id.
    assert [urlsplit(u).path for u in followed] == ["/repositories/1000/issues"] * 4
    assert followed[-1].endswith("page=5")


def test_recorded_validation_error_surfaces_githubs_message() -> None:
    call = _octokit("errors")[0]
    response = _octokit_response(call)
    assert github_message(response) == "Validation Failed"
    with pytest.raises(UnprocessableError, match="Validation Failed"):
        raise_for_status(response, "creating a label")


def test_recorded_create_file_call_matches_ours() -> None:
    """octokit's recorded PUT /repos/{owner}/{repo}/contents/{path}: our request carries what it sent, and its real
    answer gives us the new commit and the new blob sha (the version of the next commit)."""
    call = _octokit("create-file")[0]
    owner, repo, path = re.fullmatch(r"/repos/([^/]+)/([^/]+)/contents/(.+)", call["path"]).groups()
    http = ReplayHttp([("PUT", call["path"], _octokit_response(call))])
    sent = call["body"]
    answer = GitHubApi(http).put_file(
        "ghs_recorded", owner, repo, path, base64.b64decode(sent["content"]), sent["message"], "main", None
    )
    ours = http.sent[0]["json"]
    assert {k: ours[k] for k in sent} == sent  # message and content exactly as octokit sent them
    assert answer is not None
    recorded = call["response"]
    assert answer["commit"]["sha"] == recorded["commit"]["sha"]
    assert answer["content"]["sha"] == recorded["content"]["sha"]


def test_recorded_directory_listing_is_not_a_file() -> None:
    """octokit's recorded GET …/contents/ (a directory): a clear refusal, not a crash."""
    call = next(c for c in _octokit("get-content") if c["path"].endswith("/contents/"))
    http = ReplayHttp([("GET", call["path"], _octokit_response(call))])
    with pytest.raises(UnprocessableError, match="not a file"):
        GitHubApi(http).file("ghs_recorded", "octokit-fixture-org", "hello-world", "", "master")

