"""A delivery followed through the logs: its id is on every line the router, the build trigger and the status mirror
write for it (carried by the queue messages between them), and the build id from the build trigger on."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from gitconnect import observability
from tests.functional.github_support import deliver, github_system
from tests.functional.test_github_flow import install, push_payload
from tests.support.fake_github import FakeGitHub, fake_sha
from tests.support.inprocess import System

TEAM = "corr-team"


@pytest.fixture(scope="module")
def gh() -> Iterator[tuple[System, FakeGitHub]]:
    with github_system() as pair:
        yield pair


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """Every line the functions' logger writes during the test, at INFO."""
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    out, level = io.StringIO(), observability.logger.log_level
    before = handler.setStream(out)
    observability.logger.setLevel("INFO")
    yield out
    observability.logger.setLevel(level)
    handler.setStream(before)


def test_the_delivery_id_and_build_id_follow_a_push_through_every_function(
        gh: tuple[System, FakeGitHub], logged: io.StringIO) -> None:
    system, fake = gh
    admin = system.token({TEAM: "admin"}, sub="octocat")
    installation = fake.add_installation("corr-org")
    repo = fake.add_repo(installation, "corr-org/app", branches={"main": fake_sha("c-1")})
    outcome = install(system, fake, admin, installation, user_installs=[installation], team=TEAM)
    assert system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin, body={
        "connection_id": outcome["connection_id"][0], "repository": "corr-org/app", "branches": ["main"]}).status == 201
    after = fake.add_commit(repo.full_name, fake_sha("c-2"))
    payload = push_payload(installation, repo, "refs/heads/main", fake_sha("c-1"), after)
    assert deliver(system, "push", payload, delivery_id="delivery-corr-1").status == 202
    system.drain("EventRouterFunction")
    system.drain("BuildTriggerFunction")
    system.drain("StatusMirrorFunction")  # the "pending" status the build trigger asked for
    (event,) = [e["detail"] for e in system.bus_events()]

    lines: list[dict[str, Any]] = [json.loads(line) for line in logged.getvalue().splitlines() if line.startswith("{")]
    by_function: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_function.setdefault(line.get("function_name", "?"), []).append(line)
    for function in ("EventRouterFunction", "BuildTriggerFunction", "StatusMirrorFunction"):
        assert by_function.get(function), f"{function} wrote no line: {sorted(by_function)}"
        for line in by_function[function]:
            assert line.get("delivery_id") == "delivery-corr-1", line
            assert line.get("function_request_id"), line
    for function in ("BuildTriggerFunction", "StatusMirrorFunction"):
        assert {line.get("build_id") for line in by_function[function]} == {event["build_id"]}
