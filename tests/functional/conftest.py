from __future__ import annotations

# First: it registers with botocore before any client exists.
from tests.support import iam_audit  # isort: skip

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from moto import mock_aws

from gitconnect.adapters.http import RequestsHttpClient
from infra.local.git_server import GitHttpServer, WorkingCopy, init_bare
from infra.local.moto_atomic import serialize_dynamodb
from tests.support.inprocess import System, start_system


@contextmanager
def system_with(env: dict[str, str] | None = None) -> Iterator[System]:
    """The system under moto with `env` added; the functions' environment is restored afterwards so that other
    modules (and the subprocesses they start) see the machine's own environment."""
    saved = dict(os.environ)
    try:
        os.environ.update(env or {})
        serialize_dynamodb()  # handlers run in threads here: DynamoDB's operations are atomic
        with mock_aws():
            yield start_system()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(autouse=True)
def _dynamodb_access_is_declared() -> Iterator[None]:
    """Every DynamoDB call a function made during the test is one infra/iam.py declares (and template.yaml grants)."""
    iam_audit.CALLS.clear()
    yield
    dump = os.environ.get("GITCONNECT_IAM_AUDIT_DUMP")  # a file to collect the calls in, instead of checking them
    if dump:
        with open(dump, "a") as out:
            out.writelines(json.dumps(call) + "\n" for call in sorted(set(iam_audit.CALLS), key=str))
        return
    missing = iam_audit.undeclared(iam_audit.CALLS)
    assert not missing, "DynamoDB calls infra/iam.py does not declare (nor template.yaml grant):\n" + "\n".join(missing)


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with system_with() as running:
        yield running


@pytest.fixture
def team() -> str:
    """A fresh team per test: tests share one moto backend but never each other's records."""
    return f"team-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(system: System, team: str) -> str:
    return system.token({team: "admin"})


@pytest.fixture
def http() -> Iterator[RequestsHttpClient]:
    """The real HTTP client (SSRF guard on, loopback allowed for the fakes on 127.0.0.1), never sleeping."""
    client = RequestsHttpClient(allow_loopback=True, timeout=5, sleep=lambda _: None)
    yield client
    client.close()


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    with GitHttpServer(tmp_path_factory.mktemp("remotes")) as server:
        yield server


@pytest.fixture
def remote(git_server: GitHttpServer, tmp_path: Path) -> tuple[str, WorkingCopy]:
    """A fresh bare repository with one commit on main, and a working copy to push more."""
    name = f"repo-{uuid.uuid4().hex[:8]}"
    init_bare(git_server.root, name)
    url = git_server.url_for(name)
    work = WorkingCopy.clone(url, tmp_path / name)
    work.write("README.md", "hello\n")
    work.commit("first")
    work.push("main")
    return url, work
