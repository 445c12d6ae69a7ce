"""In-process Lambda functions: lazy handler import, one invocation at a time per function, a fake context."""

from __future__ import annotations

import importlib
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.local.template import FunctionSpec


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float  # time.monotonic() at which Lambda would time the invocation out
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class LocalFunction:
    """One function of the template. Like a single warm Lambda container, it runs one invocation at a time
    (a lock, not a pool: module-level state such as the Powertools resolver is not thread-safe)."""

    def __init__(self, spec: FunctionSpec, *, name: str, arn: str,
                 loader: Callable[[FunctionSpec], Callable[..., Any]] | None = None) -> None:
        self.spec = spec
        self.name = name
        self.arn = arn
        self._loader = loader or load_handler
        self._handler: Callable[..., Any] | None = None
        self.lock = threading.Lock()

    def invoke(self, event: Any) -> Any:
        """Call the handler; exceptions propagate (callers decide what a failure means for their trigger)."""
        with self.lock:
            if self._handler is None:  # imported on first use, after the runner has set the environment
                self._handler = self._loader(self.spec)
            context = LambdaContext(
                function_name=self.name,
                memory_limit_in_mb=self.spec.memory_mb,
                invoked_function_arn=self.arn,
                aws_request_id=str(uuid.uuid4()),
                deadline=time.monotonic() + self.spec.timeout,
                log_group_name=f"/aws/lambda/{self.name}",
            )
            return self._handler(event, context)


def load_handler(spec: FunctionSpec) -> Callable[..., Any]:
    module = importlib.import_module(spec.module)
    return getattr(module, spec.attribute)


def report_exception(what: str) -> None:
    """Print the current exception to the runner's stderr (what CloudWatch Logs would show), never to a client."""
    print(f"[gitconnect-local] {what} raised:", file=sys.stderr)
    traceback.print_exc(file=sys.stderr)
