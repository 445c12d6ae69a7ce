"""build_stack in-process under mock_aws: the functions' environment, the pollers and schedules it prepares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
from moto import mock_aws

from infra.local import template as tpl
from infra.local.schedules import ScheduleThread
from infra.local.sqs_poller import SqsPoller
from infra.local.stack import LocalStack, build_stack


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalStack, dict[str, str]]]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    environ = {
        "GITCONNECT_PUBLIC_URL": "https://tunnel.example",  # a parameter-backed variable: the user's value wins
        "GITCONNECT_BUILDS_TABLE": "stale-table",  # a resource-backed variable: the stack's value wins
        "GITHUB_API_URL": "http://127.0.0.1:9",  # not in the template: left alone
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }
    with mock_aws():
        built = build_stack(tpl.load_template(), boto3.Session(region_name="us-east-1"), port=0, environ=environ,
                            schedule_seconds=7)
        yield built, environ
        built.stop()


def test_environment_precedence(stack: tuple[LocalStack, dict[str, str]]) -> None:
    built, environ = stack
    assert environ["GITCONNECT_PUBLIC_URL"] == built.env["GITCONNECT_PUBLIC_URL"] == "https://tunnel.example"
    assert environ["GITCONNECT_BUILDS_TABLE"] == built.env["GITCONNECT_BUILDS_TABLE"] == "gitconnect-local-BuildsTable"
    assert environ["GITHUB_API_URL"] == "http://127.0.0.1:9"
    assert environ["GITCONNECT_ALLOW_LOOPBACK"] == "1"
    assert environ["GITCONNECT_JWKS_URL"] == ""
    assert len(environ["GITCONNECT_JWT_SECRET"]) >= 32
    claims: dict[str, Any] = jwt.decode(built.admin_token(), environ["GITCONNECT_JWT_SECRET"], algorithms=["HS256"])
    assert claims["teams"] == {"demo": "admin"}


def test_user_jwt_secret_and_loopback_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    environ = {"GITCONNECT_JWT_SECRET": "mine-mine-mine-mine-mine-mine-mine-mine", "GITCONNECT_ALLOW_LOOPBACK": "0"}
    with mock_aws():
        built = build_stack(tpl.load_template(), boto3.Session(region_name="us-east-1"), port=0, environ=environ,
                            bus_tap=False)
        built.stop()
    assert built.env["GITCONNECT_JWT_SECRET"] == "mine-mine-mine-mine-mine-mine-mine-mine"
    assert built.env["GITCONNECT_ALLOW_LOOPBACK"] == "0"
    assert built.env["GITCONNECT_PUBLIC_URL"].startswith("http://127.0.0.1:")


def test_pollers_schedules_and_routes_come_from_the_template(stack: tuple[LocalStack, dict[str, str]]) -> None:
    built, _ = stack
    template = built.template
    pollers = {t.source.function_id: t for t in built.threads if isinstance(t, SqsPoller)}
    assert len(pollers) == len([s for s in tpl.sqs_sources(template) if s.enabled])
    poller = pollers["BuildTriggerFunction"]
    assert poller.source.function_id == "BuildTriggerFunction"
    assert poller.source.queue_url == built.env["GITCONNECT_BUILDS_QUEUE_URL"]
    assert poller.source.report_batch_item_failures is True
    [schedule] = [t for t in built.threads if isinstance(t, ScheduleThread) and t.label.startswith("ScheduledSync")]
    assert (schedule.label, schedule.period) == ("ScheduledSyncFunction.Every", 7)
    event = schedule.make_event()
    assert event["resources"] == [
        "arn:aws:events:us-east-1:123456789012:rule/gitconnect-local-ScheduledSyncFunctionEvery"]
    assert len(built.server.routes) == len(tpl.http_routes(template)) >= 8
    assert set(built.functions) == set(tpl.functions(template))
    assert built.tap_queue_url is not None
    assert built.tap_queue_url.endswith("/gitconnect-local-bus-tap")
