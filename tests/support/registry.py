"""Real GitHub material fetched from the package registries at test time (DESIGN.md §7).

Nothing here is committed: each package is downloaded with its registry's own client (``npm pack``, ``pip
download``) the first time it is asked for, unpacked into a cache and reused from then on. When it cannot be fetched
(no network, no npm), the caller gets ``pytest.skip`` with the reason under pytest, or ``RegistryUnavailable``
outside it (bench code, scripts).

Cache layout (``<repo>/.cache/registry/``, or ``$GITCONNECT_REGISTRY_CACHE``)::

    npm/<name, "/" -> "__">/<version>/package/...        what ``npm pack`` ships, under its usual ``package/`` root
    npm/<name, "/" -> "__">/<version>/.complete          marker: the whole tarball was extracted
    npm/<name, "/" -> "__">/<version>/<name>-<ver>.tgz   kept only when just some members were extracted
    pypi/<name, lowercase>/<version>/<sdist root>/...     the unpacked sdist, e.g. ``pygithub-2.10.0/``
    pypi/<name, lowercase>/<version>/.complete           marker; its text is the sdist root's name

Every entry is written into a temporary directory and renamed into place, under a per-entry file lock, so a marker or
a file that exists is complete; a crash mid-download leaves only a ``.tmp-*`` directory that the next run ignores.

What the loaders return (shared, cached objects: treat them as read-only, ``copy.deepcopy`` before changing them):

- ``github_webhook_examples()``: ``{event name: [payload, ...]}`` from ``@octokit/webhooks-examples``, whose
  ``api.github.com/index.json`` is a list of ``{"name", "actions", "description", "examples", "properties"}``, one per
  event (``github_webhook_definitions()`` returns that list as is). A payload is the JSON body GitHub POSTs; it has
  ``"action"`` only for events that have actions (``push``, ``create``, ``delete``, ``ping`` have none).
- ``github_openapi()``: ``@octokit/openapi``'s ``generated/api.github.com.json``, GitHub's own OpenAPI 3 description of
  api.github.com (only that file is extracted: the package unpacks to ~400 MB).
- ``octokit_fixture(name)``: ``@octokit/fixtures``' ``scenarios/api.github.com/<name>/normalized-fixture.json``, a list
  of recorded calls (nock definitions), each ``{"scope", "method", "path", "body", "status", "response",
  "reqheaders", "headers", "responseIsBinary"}``; ``method`` is lowercase, ``path`` includes the query string, ``scope``
  is ``"https://api.github.com:443"``. Names: ``octokit_fixture_names()`` (e.g. create-file, get-content, errors,
  create-status, paginate-issues).
- ``pygithub_replay(name)``: the text of PyGithub's ``tests/ReplayData/<name>.txt``, a recorded HTTP conversation;
  ``pygithub_replay_requests(name)`` parses it (see there) and ``pygithub_replay_names(substring)`` lists names.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, Literal

# Pinned so that every machine and CI run tests against the same bytes. Checked current on 2026-11-22 with
# `npm view <pkg> version` / `pip index versions PyGithub`; bump deliberately.
WEBHOOKS_EXAMPLES_VERSION = "7.6.1"  # @octokit/webhooks-examples
WEBHOOKS_SCHEMAS_VERSION = "7.6.1"  # @octokit/webhooks-schemas (schema.json: JSON Schema of every payload)
OPENAPI_VERSION = "23.0.2"  # @octokit/openapi
FIXTURES_VERSION = "23.1.2"  # @octokit/fixtures
PYGITHUB_VERSION = "2.10.0"  # PyGithub sdist, which ships tests/ReplayData/
BITBUCKET_CLIENT_VERSION = "2.12.0"  # npm `bitbucket`: its route table is generated from Bitbucket Cloud's OpenAPI

NPM_TIMEOUT_S = 120
PIP_TIMEOUT_S = 300  # pip builds the sdist's metadata in an isolated env first (~20 s the first time)

REPO_ROOT = Path(__file__).resolve().parents[2]

OnUnavailable = Literal["auto", "skip", "raise"]


class RegistryUnavailable(RuntimeError):
    """The package could not be fetched (registry unreachable, client missing, timeout)."""


class UnsafeArchive(ValueError):
    """An archive member would land outside the extraction directory (absolute path, ``..``, link, device)."""


# --------------------------------------------------------------------------------------------------------------------
# Cache and failure handling


def cache_dir() -> Path:
    """The cache root; read on every call so tests can point it elsewhere with monkeypatch.setenv."""
    return Path(os.environ.get("GITCONNECT_REGISTRY_CACHE") or REPO_ROOT / ".cache" / "registry")


def _unavailable(what: str, reason: str, on_unavailable: OnUnavailable) -> RegistryUnavailable:
    """Skip the test (under pytest) or return the exception for the caller to raise (bench code, scripts).

    "auto" skips when pytest is imported, i.e. we run inside a test session; pytest is imported lazily so this
    module works without it."""
    message = f"{what} could not be fetched from the registry: {reason}"
    if on_unavailable == "skip" or (on_unavailable == "auto" and "pytest" in sys.modules):
        import pytest

        pytest.skip(message, allow_module_level=True)
    return RegistryUnavailable(message)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextlib.contextmanager
def _locked(entry: Path) -> Iterator[None]:
    """An exclusive lock on ``<entry>.lock`` so parallel test processes do not download the same thing twice."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    with open(entry.parent / f"{entry.name}.lock", "a") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, the atomic renames still keep entries whole
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    # Through the module attribute, so a test can monkeypatch subprocess.run to prove the cache is used.
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


# --------------------------------------------------------------------------------------------------------------------
# Safe extraction


def _check_member_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in path.parts:
        raise UnsafeArchive(f"archive member escapes the extraction directory: {name!r}")
    return path


def _safe_tar_members(tar: tarfile.TarFile, wanted: set[str] | None = None) -> list[tarfile.TarInfo]:
    """The members to extract, after refusing anything that could write outside the destination.

    Links are refused outright (npm tarballs and sdists have none we need); devices and FIFOs too. ``wanted``
    limits extraction to those member names (and what lies under them, for directories)."""
    members = []
    for member in tar.getmembers():
        path = _check_member_name(member.name)
        if member.issym() or member.islnk():
            raise UnsafeArchive(f"archive member is a link: {member.name!r} -> {member.linkname!r}")
        if not (member.isfile() or member.isdir()):
            raise UnsafeArchive(f"archive member is not a file or directory: {member.name!r}")
        if wanted is None or any(str(path) == w or str(path).startswith(w.rstrip("/") + "/") for w in wanted):
            members.append(member)
    return members


def safe_extract(archive: Path, dest: Path, members: Iterable[str] | None = None) -> None:
    """Extract a .tar.gz/.tgz/.tar or .zip into ``dest``, refusing absolute paths, ``..``, links and devices.

    Raises UnsafeArchive before writing anything when any member is unsafe (the whole archive is checked first)."""
    wanted = set(members) if members is not None else None
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = []
            for info in zf.infolist():
                path = _check_member_name(info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise UnsafeArchive(f"archive member is a link: {info.filename!r}")
                if wanted is None or any(str(path) == w or str(path).startswith(w.rstrip("/") + "/") for w in wanted):
                    names.append(info.filename)
            zf.extractall(dest, members=names)  # noqa: S202 - every name was checked above
        return
    with tarfile.open(archive) as tar:
        selected = _safe_tar_members(tar, wanted)
        # The "data" filter (Python >= 3.11.4) re-checks all of the above and drops set-uid bits; belt and braces.
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=selected, filter="data")
        else:  # pragma: no cover - older Pythons; the checks above already ran
            tar.extractall(dest, members=selected)  # noqa: S202


# --------------------------------------------------------------------------------------------------------------------
# npm


def _npm_json(args: list[str], what: str, on_unavailable: OnUnavailable, timeout: float = NPM_TIMEOUT_S) -> Any:
    npm = shutil.which("npm")
    if npm is None:
        raise _unavailable(what, "npm is not installed (not on PATH)", on_unavailable)
    try:
        done = _run([npm, *args, "--json", "--silent"], timeout)
    except subprocess.TimeoutExpired:
        raise _unavailable(what, f"`npm {args[0]}` timed out after {timeout:.0f} s", on_unavailable) from None
    except OSError as exc:
        raise _unavailable(what, f"could not run npm: {exc}", on_unavailable) from None
    try:
        out = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        out = None
    # npm --json reports failures as {"error": {"code", "summary", "detail"}} on stdout.
    error = out.get("error") if isinstance(out, dict) else None
    if done.returncode != 0 or error:
        error = error or {}
        code = error.get("code", f"exit {done.returncode}")
        summary = error.get("summary") or done.stderr or done.stdout
        if code in ("E404", "ETARGET"):
            # The registry answered: the name or version does not exist. A mistake to fix, not a reason to skip.
            raise LookupError(f"{what}: npm {code}: {_short(summary)}")
        raise _unavailable(what, f"npm {code}: {_short(summary)}", on_unavailable)
    return out


def _npm_entry(name: str, version: str) -> Path:
    return cache_dir() / "npm" / name.replace("/", "__") / version


def npm_package(
    name: str,
    version: str | None = None,
    *,
    members: Iterable[str] | None = None,
    on_unavailable: OnUnavailable = "auto",
) -> Path:
    """The unpacked npm package ``name@version`` (``package/`` directory); downloaded once, then from the cache.

    ``version=None`` means the current "latest", resolved with ``npm view`` (one registry call each time) so the
    cache key is a concrete version; pass a pinned version for reproducible, offline-after-first-run tests.
    ``members`` (paths inside the package, e.g. ``["generated/api.github.com.json"]``) extracts only those; the
    tarball is then kept so later calls can extract other members without the network."""
    spec = f"{name}@{version or 'latest'}"
    what = f"npm package {spec}"
    if version is None:
        version = _npm_json(["view", spec, "version"], what, on_unavailable)
        if not isinstance(version, str):
            raise _unavailable(what, f"`npm view` gave no version: {version!r}", on_unavailable)
    entry = _npm_entry(name, version)
    package = entry / "package"
    wanted = None if members is None else {f"package/{m.strip('/')}" for m in members}

    def ready() -> bool:
        if (entry / ".complete").exists():
            return True
        return wanted is not None and all((entry / w).exists() for w in wanted)

    if ready():
        return package
    with _locked(entry):
        if ready():  # another process did it while we waited
            return package
        entry.mkdir(parents=True, exist_ok=True)
        tarball = next(iter(sorted(entry.glob("*.tgz"))), None)
        if tarball is None:
            with tempfile.TemporaryDirectory(prefix=".tmp-pack-", dir=entry) as tmp:
                packed = _npm_json(["pack", f"{name}@{version}", "--pack-destination", tmp], what, on_unavailable)
                info = packed[0]
                if info["version"] != version:
                    raise RuntimeError(f"{what}: npm packed {info['version']}, not {version}")
                tarball = entry / info["filename"]
                os.replace(Path(tmp) / info["filename"], tarball)
        _extract_into(tarball, entry, wanted)
        if wanted is None:
            (entry / ".complete").write_text(f"{name}@{version}\n")
            tarball.unlink()  # everything is extracted: the tarball is no longer needed
    return package


def _extract_into(archive: Path, entry: Path, wanted: set[str] | None) -> None:
    """Extract into a temporary directory beside ``entry``'s content, then move each top-level item (full
    extraction) or each wanted member (partial) into place with atomic renames."""
    with tempfile.TemporaryDirectory(prefix=".tmp-extract-", dir=entry) as tmp:
        staging = Path(tmp)
        safe_extract(archive, staging, wanted)
        if wanted is None:
            for item in staging.iterdir():
                target = entry / item.name
                if target.is_dir():  # left by an earlier partial extraction: superseded by the full one
                    shutil.rmtree(target)
                os.replace(item, target)
            return
        for member in sorted(wanted):
            source = staging / member
            if not source.exists():
                raise FileNotFoundError(f"{archive.name} has no member {member!r}")
            target = entry / member
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(source, target)


# --------------------------------------------------------------------------------------------------------------------
# PyPI


def pypi_sdist(name: str, version: str, *, on_unavailable: OnUnavailable = "auto") -> Path:
    """The unpacked source distribution of ``name==version`` from PyPI (its root directory, e.g.
    ``.../pygithub-2.10.0``); downloaded once with ``pip download --no-binary :all:``, then from the cache."""
    what = f"PyPI sdist {name}=={version}"
    entry = cache_dir() / "pypi" / name.lower() / version
    marker = entry / ".complete"
    if marker.exists():
        return entry / marker.read_text().strip()
    with _locked(entry):
        if marker.exists():
            return entry / marker.read_text().strip()
        entry.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".tmp-download-", dir=entry) as tmp:
            args = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "--disable-pip-version-check", "--quiet", f"{name}=={version}", "-d", tmp]
            try:
                done = _run(args, PIP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise _unavailable(what, f"`pip download` timed out after {PIP_TIMEOUT_S} s", on_unavailable) from None
            if done.returncode != 0:
                err = done.stderr
                listed = re.search(r"\(from versions: ([^)]*)\)", err)
                if listed and listed.group(1).strip() not in ("", "none"):
                    # The index answered with the project's versions: ours is not among them. Fix the pin.
                    raise LookupError(f"{what}: no such release; {_short(listed.group(0))}")
                reason = [line for line in err.splitlines() if line.startswith("ERROR")] or err.splitlines()[-1:]
                raise _unavailable(what, _short(" ".join(reason) or f"pip exit {done.returncode}"), on_unavailable)
            archives = [p for p in Path(tmp).iterdir() if p.name.endswith((".tar.gz", ".zip"))]
            if len(archives) != 1:
                left = sorted(p.name for p in Path(tmp).iterdir())
                raise RuntimeError(f"{what}: expected one sdist, pip left {left}")
            extracted = Path(tmp) / "x"
            safe_extract(archives[0], extracted)
            roots = list(extracted.iterdir())
            if len(roots) != 1 or not roots[0].is_dir():
                raise RuntimeError(f"{what}: expected one top-level directory, got {sorted(r.name for r in roots)}")
            target = entry / roots[0].name
            if target.exists():  # from an interrupted earlier run (no marker): replace it
                shutil.rmtree(target)
            os.replace(roots[0], target)
        marker.write_text(target.name + "\n")
    return target


# --------------------------------------------------------------------------------------------------------------------
# Loaders (cached per process)


@functools.cache
def github_webhook_definitions() -> list[dict[str, Any]]:
    """``@octokit/webhooks-examples``' api.github.com/index.json: one
    ``{"name", "actions", "description", "examples", "properties"}`` per event (58 events in 7.6.1)."""
    root = npm_package("@octokit/webhooks-examples", WEBHOOKS_EXAMPLES_VERSION)
    return json.loads((root / "api.github.com" / "index.json").read_text(encoding="utf-8"))


@functools.cache
def github_webhook_examples() -> dict[str, list[dict[str, Any]]]:
    """Event name (the ``X-GitHub-Event`` header value) -> example payloads, e.g. ``["push"][0]["ref"]``."""
    examples: dict[str, list[dict[str, Any]]] = {}
    for definition in github_webhook_definitions():
        examples.setdefault(definition["name"], []).extend(definition["examples"])
    return examples


@functools.cache
def github_webhook_schema() -> dict[str, Any]:
    """``@octokit/webhooks-schemas``' schema.json: a JSON Schema (draft 7), ``oneOf`` the ``<event>_event``
    definitions; ``definitions`` also has one per action, ``"<event>$<action>"`` (``"push$event"`` when none)."""
    root = npm_package("@octokit/webhooks-schemas", WEBHOOKS_SCHEMAS_VERSION)
    return json.loads((root / "schema.json").read_text(encoding="utf-8"))


@functools.cache
def github_openapi() -> dict[str, Any]:
    """GitHub's OpenAPI description of api.github.com (``paths``, ``components``...); ~13 MB of JSON, parsed once."""
    member = "generated/api.github.com.json"
    root = npm_package("@octokit/openapi", OPENAPI_VERSION, members=[member])
    return json.loads((root / member).read_text(encoding="utf-8"))


def _fixtures_root() -> Path:
    return npm_package("@octokit/fixtures", FIXTURES_VERSION) / "scenarios" / "api.github.com"


@functools.cache
def octokit_fixture_names() -> list[str]:
    return sorted(p.parent.name for p in _fixtures_root().glob("*/normalized-fixture.json"))


@functools.cache
def octokit_fixture(name: str) -> list[dict[str, Any]]:
    """The recorded calls of one ``@octokit/fixtures`` scenario, in order (see the module docstring for the keys)."""
    path = _fixtures_root() / name.removeprefix("api.github.com/") / "normalized-fixture.json"
    if not path.is_file():
        raise LookupError(f"no @octokit/fixtures scenario {name!r}; there are {octokit_fixture_names()}")
    return json.loads(path.read_text(encoding="utf-8"))


def _replay_dir() -> Path:
    return pypi_sdist("PyGithub", PYGITHUB_VERSION) / "tests" / "ReplayData"


@functools.cache
def _replay_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in _replay_dir().glob("*.txt")))


def pygithub_replay_names(substring: str = "") -> list[str]:
    """Names (file stems, e.g. ``GithubIntegration.testGetAccessToken``) containing ``substring``, case-insensitive."""
    needle = substring.lower()
    return [n for n in _replay_names() if needle in n.lower()]


@functools.cache
def pygithub_replay(name: str) -> str:
    """The text of ``tests/ReplayData/<name>.txt`` (``name`` with or without ``.txt``)."""
    path = _replay_dir() / f"{name.removesuffix('.txt')}.txt"
    if not path.is_file():
        close = pygithub_replay_names(name.split(".")[0])[:20]
        raise LookupError(f"no PyGithub replay file {name!r}; similar: {close}")
    return path.read_text(encoding="utf-8")


def _literal(text: str) -> Any:
    """A Python literal as PyGithub wrote it (repr of a dict or list of pairs); the raw text if it is not one
    (a few old recordings have stray text before the dict)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def pygithub_replay_requests(name: str) -> list[dict[str, Any]]:
    """Parse a replay file into its requests, in order. PyGithub (tests/Framework.py) writes, per request, the lines
    protocol, verb, host, port ("None" for the default), path with query, request headers (Python repr of a dict),
    request body ("None" or the JSON text), status, response headers (repr of a list of (name, value) pairs; names
    repeat, e.g. "vary"), response body, then an empty line. Streamed responses are base64 chunks, one a line, ended by
    an empty line, then the empty line. A file may end early (no body after a 204).

    Each record: ``{"protocol", "verb", "host", "port", "path", "request_headers", "request_body", "status",
    "response_headers", "response_body"}``; ``request_body``/``response_body`` are the raw text (``None`` for
    "None"; ``bytes`` for a streamed response), ``port`` an int or None."""
    lines = pygithub_replay(name).splitlines()
    records: list[dict[str, Any]] = []
    i = 0

    def take() -> str:
        nonlocal i
        line = lines[i] if i < len(lines) else ""
        i += 1
        return line

    while i < len(lines):
        if lines[i] == "":
            i += 1
            continue
        protocol, verb, host, port, path, req_headers, req_body = (take() for _ in range(7))
        status, resp_headers, body = take(), take(), take()
        response_body: str | bytes | None = None if body == "None" else body
        if i < len(lines) and lines[i] != "":  # more lines before the terminator: a streamed (base64) response
            chunks = [body]
            while i < len(lines) and lines[i] != "":
                chunks.append(take())
            take()  # the stream's own empty line; the record's follows
            response_body = b"".join(base64.b64decode(c) for c in chunks)
        take()
        records.append({
            "protocol": protocol,
            "verb": verb,
            "host": host,
            "port": None if port == "None" else int(port),
            "path": path,
            "request_headers": _literal(req_headers),
            "request_body": None if req_body == "None" else req_body,
            "status": int(status),
            "response_headers": _literal(resp_headers),
            "response_body": response_body,
        })
    return records


# -- Bitbucket Cloud -------------------------------------------------------------------------------------------------

_ROUTE_START = re.compile(r'method:"(GET|POST|PUT|DELETE|PATCH)",(params:\{)?')


def _object_keys(text: str, start: int) -> tuple[dict[str, str], int]:
    """The top-level `key:value` pairs of the JS object literal whose `{` is at `start` (values as source text),
    and the index after its `}`. Minified code: keys are bare identifiers or quoted strings; braces inside strings
    are skipped with the string."""
    depth, i, key_start, pairs, key = 0, start, start + 1, {}, None
    value_start = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i = text.index('"', i + 1)
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                if key is not None:
                    pairs[key] = text[value_start:i]
                return pairs, i + 1
        elif depth == 1 and c == ":" and key is None:
            key, value_start = text[key_start:i].strip('"'), i + 1
        elif depth == 1 and c == ",":
            if key is not None:
                pairs[key] = text[value_start:i]
            key, key_start = None, i + 1
        i += 1
    raise ValueError("unbalanced object literal")


@functools.cache
def bitbucket_routes() -> list[dict[str, Any]]:
    """Bitbucket Cloud's REST API 2.0 as the npm `bitbucket` client ships it (generated from Atlassian's OpenAPI
    description): `{"method", "url", "params": {name: {"required", "enum"?}}}`, url templates such as
    `/repositories/{workspace}/{repo_slug}/src/{commit}/{path}`. `_body` in params is the request body."""
    member = "lib/index.js"
    source = (npm_package("bitbucket", BITBUCKET_CLIENT_VERSION, members=[member]) / member).read_text("utf-8")
    routes = []
    for match in _ROUTE_START.finditer(source):
        params, end = _object_keys(source, match.end() - 1) if match.group(2) else ({}, match.end() - 1)
        url = re.match(r',?(?:returns:"[^"]*",?)?url:"([^"]+)"', source[end:])
        if url is None:
            continue
        routes.append({
            "method": match.group(1),
            "url": url.group(1),
            "params": {
                name: {"required": "required:!0" in value,
                       "enum": re.findall(r'"([^"]*)"', e.group(1)) if (e := re.search(r"enum:\[([^\]]*)\]", value))
                       else None}
                for name, value in params.items()
            },
        })
    if len(routes) < 100:
        raise RuntimeError(f"only {len(routes)} Bitbucket routes parsed from npm bitbucket {BITBUCKET_CLIENT_VERSION}")
    return routes

