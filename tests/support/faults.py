"""Fault injection at the AWS call site: every botocore client (boto3's and PynamoDB's) goes through
BaseClient._make_api_call, so a failure injected there is what the code would see from AWS."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from botocore.client import BaseClient
from botocore.exceptions import ClientError


@dataclass
class Fault:
    operation: str
    times: int | None  # None: every call fails
    match: dict[str, str] = field(default_factory=dict)  # e.g. {"TableName": "..."}
    code: str = "ThrottlingException"
    injected: int = 0


@contextmanager
def failing(operation: str, *, times: int | None = None, code: str = "ThrottlingException",
            **match: str) -> Iterator[Fault]:
    fault = Fault(operation, times, match, code)
    original = BaseClient._make_api_call
    lock = threading.Lock()

    def make_api_call(client: BaseClient, operation_name: str, params: dict[str, Any]) -> Any:
        if operation_name == fault.operation and all(str(params.get(k, "")).endswith(v) for k, v in match.items()):
            with lock:
                fire = fault.times is None or fault.injected < fault.times
                if fire:
                    fault.injected += 1
            if fire:
                raise ClientError({"Error": {"Code": code, "Message": "injected fault"}}, operation_name)
        return original(client, operation_name, params)

    with mock.patch.object(BaseClient, "_make_api_call", make_api_call):
        yield fault
