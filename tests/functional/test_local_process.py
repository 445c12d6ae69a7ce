"""`python -m infra.local` as a user runs it: ready line, the real /v1/health, a clean Ctrl-C."""

from __future__ import annotations

import signal
import time

import jwt
import pytest

from tests.support.local_stack import running_stack


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_local_stack_serves_health_and_stops_cleanly(sig: int) -> None:
    with running_stack({"GITHUB_APP_ID": "4242"}) as stack:
        # Given the stack is ready
        assert stack.api_url.startswith("http://127.0.0.1:")
        assert stack.env["GITCONNECT_PUBLIC_URL"] == stack.api_url
        assert stack.env["GITCONNECT_ALLOW_LOOPBACK"] == "1"
        assert stack.env["GITCONNECT_EVENT_BUS"] == "gitconnect-local-bus"
        claims = jwt.decode(stack.token, stack.env["GITCONNECT_JWT_SECRET"], algorithms=["HS256"])
        assert (claims["sub"], claims["teams"]) == ("demo-admin", {"demo": "admin"})
        stack.client("dynamodb").describe_table(TableName=stack.env["GITCONNECT_BUILDS_TABLE"])
        stack.client("sqs").get_queue_attributes(QueueUrl=stack.tap_queue_url, AttributeNames=["QueueArn"])

        # When the real health endpoint is called, Then the real handler answers
        resp = stack.request("GET", "/v1/health", auth=False)
        assert (resp.status, resp.json()) == (200, {"status": "ok"})
        assert stack.request("GET", "/v1/no-such-route").status == 404
        # The dashboard URL it prints opens the page, signed in by the token in the fragment
        assert f"  dashboard     {stack.api_url}/dashboard#token={stack.token}\n" in stack.stdout
        page = stack.request("GET", "/dashboard", auth=False)
        assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"

        # When Ctrl-C (or a SIGTERM) is sent, Then everything stops within 10 s with exit code 0 and no traceback
        started = time.monotonic()
        code = stack.stop(timeout=10, sig=sig)
        assert time.monotonic() - started < 10
        assert code == 0, stack.logs
        assert "Traceback" not in stack.logs
        assert any(line.startswith("GITCONNECT_READY ") for line in stack.stdout)
