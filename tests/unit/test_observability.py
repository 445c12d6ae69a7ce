"""gitconnect/observability.py: each log line carries the invocation that wrote it (also when the local stack runs
functions on threads of one process), the package's stdlib loggers write through the same JSON formatter with the
correlation ids, SQS messages carry the ids, and metrics are EMF in the gitconnect namespace, per invocation."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest

from gitconnect import observability
from infra.local.lambdas import LocalFunction
from infra.local.template import FunctionSpec


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the Powertools handler writes (its stream is Lambda's stdout), for this test."""
    handler = observability.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    out = io.StringIO()
    before = handler.setStream(out)
    yield out
    handler.setStream(before)


def spec(name: str) -> FunctionSpec:
    return FunctionSpec(logical_id=name, code_uri=".", handler="app.handler", timeout=30, memory_mb=128, environment={})


def test_concurrent_invocations_each_log_their_own_function_and_request(logged: io.StringIO) -> None:
    """Two functions on two threads, their lines interleaved: every line names the function and request that wrote
    it (Powertools' inject_lambda_context keeps these keys on the logger shared by every function of the process, so
    one thread's invocation relabelled the other's lines)."""
    both_started = threading.Barrier(2)
    package_log = logging.getLogger("gitconnect.services.router")

    def handler_for(name: str) -> Any:
        @observability.lambda_handler
        def handler(event: dict[str, Any], context: Any) -> str:
            both_started.wait(timeout=5)
            for i in range(20):
                package_log.warning("line %d", i, extra={"writer": context.aws_request_id})
                time.sleep(0.001)
            return str(context.aws_request_id)

        return handler

    functions = [LocalFunction(spec(n), name=n, arn=f"arn:{n}", loader=lambda s: handler_for(s.logical_id))
                 for n in ("EventRouterFunction", "BuildTriggerFunction")]
    results: dict[str, str] = {}
    threads = [threading.Thread(target=lambda f=f: results.__setitem__(f.name, f.invoke({}))) for f in functions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    written = [line for line in lines(logged.getvalue()) if line.get("message", "").startswith("line ")]
    assert len(written) == 40
    for line in written:
        assert line["function_request_id"] == line["writer"], line
        assert results[line["function_name"]] == line["writer"], line
    assert {line["function_name"] for line in written} == {"EventRouterFunction", "BuildTriggerFunction"}


def test_package_loggers_write_json_with_the_correlation_ids(logged: io.StringIO) -> None:
    @observability.lambda_handler
    def handler(event: dict[str, Any], context: Any) -> None:
        with observability.correlated(delivery_id="d-1", build_id="b-1"):
            logging.getLogger("gitconnect.adapters.http").warning("inside")
        logging.getLogger("gitconnect.adapters.http").warning("after")

    LocalFunction(spec("SyncFunction"), name="SyncFunction", arn="arn:x", loader=lambda s: handler).invoke({})
    inside, after = [line for line in lines(logged.getvalue()) if line.get("message") in ("inside", "after")]
    assert inside["service"] == "gitconnect" and inside["function_name"] == "SyncFunction"
    assert (inside["delivery_id"], inside["build_id"]) == ("d-1", "b-1")
    assert "delivery_id" not in after and after["function_name"] == "SyncFunction"


def test_messages_carry_the_bound_ids_and_consumers_bind_them_again() -> None:
    observability.logger.thread_safe_clear_keys()
    with observability.correlated(delivery_id="d-7", run_id=None):
        attributes = observability.message_attributes()
    assert attributes == {"delivery_id": {"DataType": "String", "StringValue": "d-7"}}
    assert observability.message_attributes() == {}
    # what Lambda hands a consumer: the attribute in the SQS record's own spelling
    assert observability.record_ids({"delivery_id": {"stringValue": "d-7", "dataType": "String"}}) == {
        "delivery_id": "d-7"}
    assert observability.record_ids(None) == {}


def test_metrics_are_emf_in_one_namespace_one_line_per_dimension_set(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = observability.metrics
    metrics.count("BuildsRequested", trigger="push", outcome="published")
    metrics.count("BuildsRequested", trigger="push", outcome="published")
    metrics.count("FanOut", 3, provider="github")
    metrics.milliseconds("RoutingLatency", 12.5)
    seen_elsewhere: list[object] = []
    other = threading.Thread(target=lambda: seen_elsewhere.append(metrics.pending()))
    other.start()
    other.join()
    assert seen_elsewhere == [{}]  # another thread's invocation has its own
    metrics.flush()
    emf = [line for line in lines(capsys.readouterr().out) if "_aws" in line]
    assert len(emf) == 3
    assert {d["Namespace"] for line in emf for d in line["_aws"]["CloudWatchMetrics"]} == {"gitconnect"}
    builds = next(line for line in emf if "BuildsRequested" in line)
    assert builds["BuildsRequested"] == [1.0, 1.0] and builds["trigger"] == "push"
    latency = next(line for line in emf if "RoutingLatency" in line)
    assert latency["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "RoutingLatency", "Unit": "Milliseconds"}]
    metrics.flush()
    assert "_aws" not in capsys.readouterr().out  # written once


def test_an_invocation_sees_no_context_variable_an_earlier_one_set() -> None:
    """The connection whose credentials an invocation opened last (services/ratelimits.py) is not the next
    invocation's: a provider answer before any credentials are opened is attributed to nobody."""
    from types import SimpleNamespace

    from gitconnect.domain.models import Connection
    from gitconnect.services import ratelimits

    @observability.lambda_handler
    def handler(event: dict[str, Any], context: Any) -> Any:
        before = ratelimits._ACTING_FOR.get()
        if event.get("open"):
            ratelimits.acting_for(cast(Connection, SimpleNamespace(team_id="team-a", id="con_a")))
        return before, ratelimits._ACTING_FOR.get()

    context = SimpleNamespace(function_name="ConnectionsFunction", aws_request_id="r1")
    assert handler({"open": True}, context) == (None, ("team-a", "con_a"))
    assert handler({}, context) == (None, None)
