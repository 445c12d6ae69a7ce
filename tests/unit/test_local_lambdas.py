"""In-process functions: lazy import, one invocation at a time, the context object; and the demo tokens."""

from __future__ import annotations

import threading
import time
from typing import Any

import jwt
import pytest

from infra.local.lambdas import LocalFunction
from infra.local.template import FunctionSpec
from infra.local.tokens import mint_token

SPEC = FunctionSpec("Fn", "functions/x/", "app.handler", timeout=30, memory_mb=256, environment={})


def test_handler_is_imported_on_first_invocation_and_gets_a_context() -> None:
    loads = []

    def loader(spec: FunctionSpec) -> Any:
        loads.append(spec.module)
        return lambda event, ctx: {"event": event, "name": ctx.function_name, "mem": ctx.memory_limit_in_mb,
                                   "arn": ctx.invoked_function_arn, "rid": ctx.aws_request_id,
                                   "left": ctx.get_remaining_time_in_millis()}

    fn = LocalFunction(SPEC, name="stk-Fn", arn="arn:aws:lambda:r:1:function:stk-Fn", loader=loader)
    assert loads == []
    first, second = fn.invoke({"a": 1}), fn.invoke({"a": 2})
    assert loads == ["functions.x.app"]
    assert (first["event"], first["name"], first["mem"], first["arn"]) == (
        {"a": 1}, "stk-Fn", 256, "arn:aws:lambda:r:1:function:stk-Fn")
    assert first["rid"] != second["rid"]
    assert 29000 < first["left"] <= 30000


def test_a_function_runs_one_invocation_at_a_time() -> None:
    active = 0
    peak = 0
    guard = threading.Lock()

    def handler(event: Any, ctx: Any) -> None:
        nonlocal active, peak
        with guard:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with guard:
            active -= 1

    fn = LocalFunction(SPEC, name="n", arn="a", loader=lambda spec: handler)
    threads = [threading.Thread(target=fn.invoke, args=({},)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 1


def test_a_failed_import_is_retried_on_the_next_invocation() -> None:
    attempts = []

    def loader(spec: FunctionSpec) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise ModuleNotFoundError("not written yet")
        return lambda event, ctx: "ok"

    fn = LocalFunction(SPEC, name="n", arn="a", loader=loader)
    with pytest.raises(ModuleNotFoundError):
        fn.invoke({})
    assert fn.invoke({}) == "ok"


SECRET = "a-local-test-secret-of-32-bytes-or-more"


def test_mint_token_claims() -> None:
    token = mint_token(SECRET, "demo-admin", {"demo": "admin"})
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["teams"]) == ("demo-admin", {"demo": "admin"})
    assert claims["exp"] - claims["iat"] == 86400
    assert abs(claims["iat"] - time.time()) < 5
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET + "x", algorithms=["HS256"])
    scoped = mint_token(SECRET, "u", {"t": "member"}, 60, issuer="iss", audience="aud")
    assert jwt.decode(scoped, SECRET, algorithms=["HS256"], audience="aud", issuer="iss")["exp"] > time.time()
