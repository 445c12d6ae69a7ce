"""Every DynamoDB call a function makes in the in-process system, against infra/iam.py's declared access.

Registered with botocore before any client exists (tests/functional/conftest.py imports this module first), it sees
the calls of every client: PynamoDB's, wiring's, Powertools idempotency's. A call is the function's whose invocation
the calling thread is in (gitconnect/observability.py keeps the function name per thread)."""

from __future__ import annotations

import functools
import os
from typing import Any

import botocore.handlers

from gitconnect import observability
from infra import iam
from infra.local import template as tpl

# (function logical id, action, table logical id, index or None)
CALLS: list[tuple[str, str, str, str | None]] = []
_ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                 "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


@functools.cache
def _table_variables() -> dict[str, str]:
    """The functions' environment variable naming each table -> the table's logical id (template.yaml Globals)."""
    refs = tpl.load_template()["Globals"]["Function"]["Environment"]["Variables"]
    return {var: ref["Ref"] for var, ref in refs.items()
            if isinstance(ref, dict) and str(ref.get("Ref", "")).endswith("Table")}


def _logical(table: str) -> str:
    return next((ref for var, ref in _table_variables().items() if os.environ.get(var) == table), table)


def _record(params: dict[str, Any], model: Any, **_: Any) -> None:
    function = observability.logger.thread_safe_get_current_keys().get("function_name")
    if not function:
        return  # a test's own call (setup, assertions), not a function's
    name = model.name
    if name in ("TransactWriteItems", "TransactGetItems"):
        for item in params.get("TransactItems", ()):
            for kind, body in item.items():
                CALLS.append((function, _ITEM_ACTIONS[kind], _logical(body["TableName"]), None))
    elif name in ("BatchWriteItem", "BatchGetItem"):
        CALLS.extend((function, name, _logical(table), None) for table in params.get("RequestItems", {}))
    else:
        CALLS.append((function, name, _logical(params.get("TableName", "")), params.get("IndexName")))


botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build.dynamodb", _record))


def undeclared(calls: list[tuple[str, str, str, str | None]]) -> list[str]:
    """The calls infra/iam.py does not grant, spelled for a failure message."""
    out = []
    for function, action, logical, index in calls:
        if function not in iam.DYNAMODB and not function.endswith("Function"):
            continue  # a test's own context name (a handler called directly), not a function of the template
        granted = iam.DYNAMODB.get(function, {}).get(logical)
        if granted is None or action not in granted.actions or (index is not None and index not in granted.indexes):
            out.append(f"{function}: dynamodb:{action} on {logical}" + (f" index {index}" if index else ""))
    return sorted(set(out))
