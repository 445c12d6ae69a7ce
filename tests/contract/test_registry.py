"""tests/support/registry.py: real GitHub material from npm and PyPI, fetched once per machine (DESIGN.md §7).

These tests reach the registries on a cold cache (that is their point) and skip when they cannot."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support import registry

EVENTS = ["push", "pull_request", "create", "delete", "release", "installation", "installation_repositories", "ping"]
EVENTS_WITH_ACTIONS = {"pull_request", "release", "installation", "installation_repositories"}


@pytest.mark.parametrize("event", EVENTS)
def test_webhook_examples_cover_the_events_we_handle(event: str) -> None:
    examples = registry.github_webhook_examples()
    assert examples.get(event), f"no example payload for {event}"
    for payload in examples[event]:
        assert isinstance(payload, dict)
        assert ("action" in payload) == (event in EVENTS_WITH_ACTIONS)
        if event.startswith("installation"):
            assert isinstance(payload["installation"]["id"], int)
        elif event == "ping":  # a repository's hook or an organization's: no "repository" for the latter
            # Real data: hook_id is not always hook.id (the organization example in 7.6.1 differs); don't rely on it.
            assert isinstance(payload["hook_id"], int) and payload["hook"]["type"] in {"Repository", "Organization"}
        else:
            assert payload["repository"]["full_name"]
    if event == "push":
        assert all(p["ref"].startswith("refs/") and len(p["after"]) == 40 for p in examples[event])


def test_webhook_definitions_name_their_actions() -> None:
    definitions = {d["name"]: d for d in registry.github_webhook_definitions()}
    assert {"opened", "synchronize", "closed"} <= set(definitions["pull_request"]["actions"])
    assert set(definitions["installation_repositories"]["actions"]) == {"added", "removed"}


def test_webhook_schema_loads() -> None:
    schema = registry.github_webhook_schema()
    # Definitions are named "<event>$<action>" / "<event>_event" ("push$event" for events without actions).
    assert {"push$event", "ping$event", "installation$created", "installation_repositories_event"} <= set(
        schema["definitions"]
    )


def test_openapi_describes_installation_access_tokens() -> None:
    spec = registry.github_openapi()
    operation = spec["paths"]["/app/installations/{installation_id}/access_tokens"]["post"]
    assert operation["operationId"] == "apps/create-installation-access-token"
    assert "201" in operation["responses"]


@pytest.mark.parametrize("name", ["create-file", "get-content", "paginate-issues", "errors", "create-status"])
def test_octokit_fixture_scenarios_are_recorded_calls(name: str) -> None:
    calls = registry.octokit_fixture(name)
    assert calls
    for call in calls:
        assert {"scope", "method", "path", "status", "response", "reqheaders", "headers"} <= call.keys()
        assert call["scope"] == "https://api.github.com:443"
        assert call["method"] in {"get", "post", "put", "patch", "delete"}
        assert call["path"].startswith("/")
        assert 200 <= call["status"] < 600
    if name == "errors":
        assert calls[0]["status"] == 422 and calls[0]["response"]["errors"]


def test_unknown_octokit_fixture_names_the_known_ones() -> None:
    with pytest.raises(LookupError, match="create-file"):
        registry.octokit_fixture("no-such-scenario")


def test_pygithub_replay_of_an_installation_token() -> None:
    names = registry.pygithub_replay_names("accesstoken")
    assert "GithubIntegration.testGetAccessToken" in names
    text = registry.pygithub_replay("GithubIntegration.testGetAccessToken")
    assert text.startswith("https\nPOST\napi.github.com\n")
    assert registry.pygithub_replay("GithubIntegration.testGetAccessToken.txt") == text

    call = registry.pygithub_replay_requests("GithubIntegration.testGetAccessToken")[0]
    assert call["verb"] == "POST" and call["status"] == 201 and call["port"] is None
    assert call["path"].startswith("/app/installations/") and call["path"].endswith("/access_tokens")
    assert json.loads(call["request_body"]) == {"permissions": {}}
    assert json.loads(call["response_body"])["token"].startswith("ghs_")
    assert ("content-type", "application/json; charset=utf-8") in call["response_headers"]


def test_pygithub_replay_parser_reads_every_file() -> None:
    """The format has quirks (files ending without a body after a 204, streamed base64 bodies, stray text before
    old header dicts): every recorded file must still parse into well-formed requests."""
    names = registry.pygithub_replay_names()
    assert len(names) > 900
    total = 0
    for name in names:
        for call in registry.pygithub_replay_requests(name):
            assert call["protocol"] in {"http", "https"}, name
            assert call["verb"] in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}, name
            assert call["path"].startswith("/") or call["path"].startswith("http"), name
            assert 100 <= call["status"] < 600, name
            total += 1
    assert total > 2000


def test_unknown_pygithub_replay_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="no PyGithub replay file"):
        registry.pygithub_replay("Nope.testNothing")


def test_warm_cache_does_not_download_again(monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = [
        ("@octokit/webhooks-examples", registry.WEBHOOKS_EXAMPLES_VERSION, None),
        ("@octokit/webhooks-schemas", registry.WEBHOOKS_SCHEMAS_VERSION, None),
        ("@octokit/fixtures", registry.FIXTURES_VERSION, None),
        ("@octokit/openapi", registry.OPENAPI_VERSION, ["generated/api.github.com.json"]),
    ]
    first = [registry.npm_package(n, v, members=m) for n, v, m in pinned]
    first.append(registry.pypi_sdist("PyGithub", registry.PYGITHUB_VERSION))

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"downloaded again: {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    again = [registry.npm_package(n, v, members=m) for n, v, m in pinned]
    again.append(registry.pypi_sdist("PyGithub", registry.PYGITHUB_VERSION))
    assert again == first
    assert (first[2] / "scenarios" / "api.github.com" / "create-file" / "normalized-fixture.json").is_file()
    assert (first[-1] / "tests" / "ReplayData").is_dir()


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GITCONNECT_REGISTRY_CACHE", raising=False)
    assert registry.cache_dir() == registry.REPO_ROOT / ".cache" / "registry"
    monkeypatch.setenv("GITCONNECT_REGISTRY_CACHE", str(tmp_path))
    assert registry.cache_dir() == tmp_path


# --- failures: unreachable registry, missing client, wrong pin --------------------------------------------------------


@pytest.fixture
def cold_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("GITCONNECT_REGISTRY_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def unreachable_npm(monkeypatch: pytest.MonkeyPatch, cold_cache: Path) -> None:
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")  # discard port: connection refused
    monkeypatch.setenv("npm_config_cache", str(cold_cache / "npm-cache"))  # nothing to fall back on
    monkeypatch.setenv("npm_config_fetch_retries", "0")


@pytest.mark.usefixtures("unreachable_npm")
def test_unreachable_npm_registry_raises_or_skips() -> None:
    with pytest.raises(registry.RegistryUnavailable, match=r"could not be fetched from the registry: npm ECONNREFUSED"):
        registry.npm_package("@octokit/fixtures", registry.FIXTURES_VERSION, on_unavailable="raise")
    with pytest.raises(pytest.skip.Exception, match="could not be fetched from the registry"):
        registry.npm_package("@octokit/fixtures", registry.FIXTURES_VERSION)  # "auto": we run under pytest


@pytest.mark.usefixtures("cold_cache")
def test_missing_npm_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(registry.RegistryUnavailable, match="npm is not installed"):
        registry.npm_package("@octokit/fixtures", registry.FIXTURES_VERSION, on_unavailable="raise")


@pytest.mark.usefixtures("cold_cache")
def test_unreachable_pypi_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(registry.RegistryUnavailable, match="could not be fetched from the registry"):
        registry.pypi_sdist("PyGithub", registry.PYGITHUB_VERSION, on_unavailable="raise")


@pytest.mark.usefixtures("cold_cache")
def test_a_version_that_does_not_exist_fails_instead_of_skipping() -> None:
    # Needs the registry to answer "no such version"; skips (auto mode) when it cannot be reached at all.
    with pytest.raises(LookupError, match="ETARGET"):
        registry.npm_package("@octokit/fixtures", "0.0.0-does-not-exist")


# --- safe extraction ------------------------------------------------------------------------------------------------


def _tarball(path: Path, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            data = b"pwned\n" if info.isfile() else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    "evil",
    [
        tarfile.TarInfo("../evil"),
        tarfile.TarInfo("package/../../evil"),
        tarfile.TarInfo("/tmp/evil"),
        _link("package/evil", "../../evil"),
        _link("package/evil", "/etc/passwd", tarfile.LNKTYPE),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink"],
)
def test_safe_extract_refuses_members_outside_the_destination(tmp_path: Path, evil: tarfile.TarInfo) -> None:
    archive = _tarball(tmp_path / "evil.tgz", tarfile.TarInfo("package/ok.txt"), evil)
    dest = tmp_path / "a" / "b"
    with pytest.raises(registry.UnsafeArchive):
        registry.safe_extract(archive, dest)
    assert not (tmp_path / "a" / "evil").exists() and not (tmp_path / "evil").exists()
    assert not (dest / "package" / "ok.txt").exists(), "nothing is written when any member is unsafe"


def test_safe_extract_refuses_dotdot_in_a_zip(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pkg-1.0/ok.txt", "ok")
        zf.writestr("../evil", "pwned")
    with pytest.raises(registry.UnsafeArchive):
        registry.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_safe_extract_extracts_only_the_wanted_members(tmp_path: Path) -> None:
    archive = _tarball(tmp_path / "ok.tgz", tarfile.TarInfo("package/a.json"), tarfile.TarInfo("package/b/c.json"))
    registry.safe_extract(archive, tmp_path / "out", members=["package/b"])
    assert (tmp_path / "out" / "package" / "b" / "c.json").read_text() == "pwned\n"
    assert not (tmp_path / "out" / "package" / "a.json").exists()
