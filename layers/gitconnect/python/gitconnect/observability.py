"""How every function logs, counts and traces (Powertools), in one place.

- Logs: one Powertools Logger (JSON). The package's stdlib loggers (`gitconnect.*`) are its children, so their lines
  go through the same formatter. An invocation's keys (function name, request id, cold start) and the correlation ids
  (`delivery_id`, `build_id`, `run_id`) are kept per thread (Powertools' thread-safe keys): the local stack runs every
  function in one process, and a line must carry the keys of the invocation that wrote it, not of another thread's.
- Correlation: the ids a function handles are bound for the record it works on; every SQS message it sends carries
  them as message attributes, and the consumer binds them again (`bind_record`), so a delivery can be followed from the
  intake to the router, the build trigger and the status mirror.
- Metrics: CloudWatch EMF, namespace `gitconnect`, collected per invocation (per thread) and written once at its end,
  one EMF line per set of dimensions (Powertools' EMF provider serializes them).
- Traces: Powertools Tracer (X-Ray) on every function but the intake (README, "Observability").
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from aws_lambda_powertools import Logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

NAMESPACE = "gitconnect"
CORRELATION_KEYS = ("delivery_id", "build_id", "run_id")

# Named `gitconnect` whatever POWERTOOLS_SERVICE_NAME says: the package's loggers (gitconnect.*) are its children.
logger = Logger(service=NAMESPACE)

R = TypeVar("R")
P = ParamSpec("P")
Handler = Callable[[Any, Any], R]
_Pending = dict[tuple[tuple[str, str], ...], dict[str, tuple[str, list[float]]]]
_pending: ContextVar[_Pending | None] = ContextVar("gitconnect_metrics", default=None)
_started: set[str] = set()  # functions of this process that have had an invocation (cold_start)


# ------------------------------------------------------------------------------------------------ correlation ids
def bind(**ids: str | None) -> None:
    """Append these correlation ids to every line this thread logs (None and "" are left out)."""
    logger.thread_safe_append_keys(**{k: v for k, v in ids.items() if v})


def correlation() -> dict[str, str]:
    """The correlation ids bound now."""
    keys = logger.thread_safe_get_current_keys()
    return {k: str(keys[k]) for k in CORRELATION_KEYS if keys.get(k)}


def message_attributes() -> dict[str, dict[str, str]]:
    """The bound correlation ids as SQS message attributes (what every queue message gitconnect sends carries)."""
    return {k: {"DataType": "String", "StringValue": v} for k, v in correlation().items()}


@contextmanager
def correlated(**ids: str | None) -> Iterator[None]:
    """Bind ids for one record; the ids bound before it are back afterwards."""
    before = correlation()
    bind(**ids)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(CORRELATION_KEYS)
        bind(**before)


def record_ids(message_attributes: Mapping[str, Any] | None) -> dict[str, str]:
    """The correlation ids an SQS record's message attributes carry (Lambda's event shape: `stringValue`)."""
    ids: dict[str, str] = {}
    for key in CORRELATION_KEYS:
        attribute = (message_attributes or {}).get(key) or {}
        value = attribute.get("stringValue") or attribute.get("StringValue")
        if isinstance(value, str) and value:
            ids[key] = value
    return ids


# ------------------------------------------------------------------------------------------------ metrics
class EmfMetrics:
    """services.ports.Metrics over CloudWatch EMF: what an invocation counts, written when it ends (`flush`)."""

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        self._add(name, "Count", value, dimensions)

    def milliseconds(self, name: str, value: float, **dimensions: str) -> None:
        self._add(name, "Milliseconds", value, dimensions)

    def timed(self, name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorate a function: its wall time when it returns (not when it raises), in milliseconds."""

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(fn)
            def timed(*args: P.args, **kwargs: P.kwargs) -> R:
                started = time.perf_counter()
                result = fn(*args, **kwargs)
                self.milliseconds(name, (time.perf_counter() - started) * 1000)
                return result

            return timed

        return decorate

    @staticmethod
    def _add(name: str, unit: str, value: float, dimensions: Mapping[str, str]) -> None:
        pending = _pending.get()
        if pending is None:
            pending = {}
            _pending.set(pending)
        group = pending.setdefault(tuple(sorted((k, str(v) or "none") for k, v in dimensions.items())), {})
        group.setdefault(name, (unit, []))[1].append(float(value))

    @staticmethod
    def pending() -> _Pending:
        return _pending.get() or {}

    @staticmethod
    def flush() -> None:
        """One EMF line per set of dimensions (a Metrics object of its own each: no state shared across threads)."""
        pending = _pending.get()
        _pending.set(None)
        if not pending:
            return
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

        for dimensions, metrics in pending.items():
            emf = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, metric_set={}, dimension_set={}, metadata_set={},
                                              default_dimensions={})
            for key, value in dimensions:
                emf.add_dimension(key, value)
            for name, (unit, values) in metrics.items():
                for v in values:
                    emf.add_metric(name=name, unit=unit, value=v)
            emf.flush_metrics()


metrics = EmfMetrics()


# ------------------------------------------------------------------------------------------------ handlers
@functools.cache
def tracer() -> Any:
    """Powertools Tracer, made on first use (it imports the X-Ray SDK and patches botocore and requests)."""
    from aws_lambda_powertools import Tracer

    return Tracer()


def lambda_handler(handler: Handler[R], *, trace: bool = True) -> Handler[R]:
    """Wrap a function's handler: its invocation's keys on every log line, its metrics written at the end, traced
    (X-Ray) unless `trace=False`. Keys and metrics are the thread's own (see the module's docstring)."""
    traced: Handler[R] = tracer().capture_lambda_handler(handler) if trace else handler

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> R:
        # In a context of its own: nothing a context variable held in an earlier invocation of this container (whose
        # connection's credentials were opened last: services/ratelimits.py) reaches this one.
        return contextvars.Context().run(invoke, event, context)

    def invoke(event: Any, context: Any) -> R:
        name = str(getattr(context, "function_name", ""))
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(
            function_name=name,
            function_memory_size=getattr(context, "memory_limit_in_mb", None),
            function_arn=getattr(context, "invoked_function_arn", None),
            function_request_id=getattr(context, "aws_request_id", None),
            cold_start=name not in _started,
        )
        _started.add(name)
        try:
            return traced(event, context)
        finally:
            metrics.flush()
            logger.thread_safe_clear_keys()

    return wrapper


def consume(event: dict[str, Any], context: Any, processor: Any,
            record_handler: Callable[[Any], None]) -> PartialItemFailureResponse:
    """An SQS consumer's batch (Powertools partial failures): each record handled with the correlation ids its
    message attributes carry bound; the records that failed counted (`RecordsFailed`: each is retried, and after its
    queue's maxReceiveCount it is in the DLQ)."""
    from aws_lambda_powertools.utilities.batch import process_partial_response

    def handle(record: Any) -> None:
        with correlated(**record_ids(record.raw_event.get("messageAttributes"))):
            record_handler(record)

    response = process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
    failed = len(response.get("batchItemFailures") or ())
    if failed:
        metrics.count("RecordsFailed", failed, function=str(getattr(context, "function_name", "")))
    return response
