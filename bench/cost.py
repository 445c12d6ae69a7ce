"""Pure cost arithmetic: AWS requests and Lambda durations of one build -> dollars per million builds.

List prices (us-east-1, on-demand, no free tier). Every call a function makes counts as one request of its service,
and every DynamoDB data-plane call as one request unit (the records are small: under 1 KB written, 4 KB read).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Prices:
    lambda_gb_second: float = 0.0000133334  # arm64
    lambda_request: float = 0.20 / 1e6
    api_request: float = 1.00 / 1e6  # API Gateway HTTP API
    sqs_request: float = 0.40 / 1e6
    dynamodb_write_unit: float = 0.625 / 1e6  # on-demand
    dynamodb_read_unit: float = 0.125 / 1e6
    kms_request: float = 0.03 / 1e4
    eventbridge_event: float = 1.00 / 1e6  # custom events


PRICES = Prices()

# How a call is billed, by botocore service id and operation.
DYNAMODB_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})

# The order of the line items in reports.
ITEMS = ("Lambda requests", "Lambda GB-s", "API Gateway", "SQS", "DynamoDB writes", "DynamoDB reads", "KMS",
         "EventBridge", "unpriced")

ASSUMPTIONS = (
    "Lambda arm64: $0.0000133334 per GB-s, $0.20 per 1M requests; billed duration = each invocation's measured "
    "in-process wall time rounded up to 1 ms, at the function's MemorySize",
    "API Gateway HTTP API: $1.00 per 1M requests (one per manual build; none for polled builds)",
    "SQS: $0.40 per 1M requests, incl. the event source mapping's ReceiveMessage/DeleteMessageBatch that "
    "returned messages (idle long polls and the schedule's own trigger are not charged to a build)",
    "DynamoDB on-demand: $0.625 per 1M write units, $0.125 per 1M read units; every call = 1 unit",
    "KMS: $0.03 per 10,000 requests; EventBridge: $1.00 per 1M custom events (PutEvents: 1 call = 1 event); "
    "scheduled rule invocations are free",
    "no free tier, no data transfer, no CloudWatch Logs; moto answers in-process, so durations exclude real "
    "AWS and Git network round trips",
)


def category(service: str, operation: str) -> str:
    """The line item a call is billed under (``service`` is botocore's service id, e.g. "DynamoDB")."""
    if service == "SQS":
        return "SQS"
    if service == "DynamoDB":
        if operation in DYNAMODB_WRITES:
            return "DynamoDB writes"
        if operation in DYNAMODB_READS:
            return "DynamoDB reads"
        return "unpriced"  # control-plane calls (DescribeTable, ...) have no request charge
    if service == "KMS":
        return "KMS"
    if service == "EventBridge" and operation == "PutEvents":
        return "EventBridge"
    return "unpriced"


@dataclass(frozen=True)
class Usage:
    """What one build uses: its Lambda invocations (duration ms, memory MB), API requests and AWS calls."""

    invocations: tuple[tuple[float, int], ...]
    api_requests: int = 0
    calls: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (service, operation) -> count


def billed_gb_seconds(invocations: Iterable[tuple[float, int]]) -> float:
    return sum(math.ceil(ms) / 1000 * memory_mb / 1024 for ms, memory_mb in invocations)


def requests_by_item(usage: Usage) -> dict[str, float]:
    """Billable quantities of one build per line item (GB-s for "Lambda GB-s", requests/units otherwise)."""
    out = dict.fromkeys(ITEMS, 0.0)
    out["Lambda requests"] = float(len(usage.invocations))
    out["Lambda GB-s"] = billed_gb_seconds(usage.invocations)
    out["API Gateway"] = float(usage.api_requests)
    for (service, operation), count in usage.calls.items():
        out[category(service, operation)] += count
    return out


def dollars_by_item(usage: Usage, prices: Prices = PRICES) -> dict[str, float]:
    """Dollars of one build per line item; "unpriced" is always 0 (reported so it is not missed)."""
    rate = {
        "Lambda requests": prices.lambda_request,
        "Lambda GB-s": prices.lambda_gb_second,
        "API Gateway": prices.api_request,
        "SQS": prices.sqs_request,
        "DynamoDB writes": prices.dynamodb_write_unit,
        "DynamoDB reads": prices.dynamodb_read_unit,
        "KMS": prices.kms_request,
        "EventBridge": prices.eventbridge_event,
        "unpriced": 0.0,
    }
    return {item: quantity * rate[item] for item, quantity in requests_by_item(usage).items()}


def aws_requests(usage: Usage) -> int:
    """AWS requests of one build: Lambda invocations + API requests + every AWS API call."""
    return len(usage.invocations) + usage.api_requests + sum(usage.calls.values())


def per_million(usage: Usage, prices: Prices = PRICES) -> float:
    """Dollars per million builds."""
    return sum(dollars_by_item(usage, prices).values()) * 1e6


def report(columns: Sequence[tuple[str, Usage]], prices: Prices = PRICES, *, width: int = 18,
           unit: str = "build") -> list[str]:
    """A table: what one ``unit`` (a build, a webhook) uses per line item, then the dollars per million of them, one
    column per flow."""

    def row(title: str, values: Iterable[str]) -> str:
        return f"  {title:<30}" + "".join(f"{v:>{width}}" for v in values)

    quantities = [requests_by_item(u) for _, u in columns]
    dollars = [dollars_by_item(u, prices) for _, u in columns]
    lines = [row(f"per {unit}", (name for name, _ in columns))]
    units = {"Lambda requests": "Lambda invocations", "Lambda GB-s": "Lambda GB-s", "API Gateway": "API requests",
             "SQS": "SQS requests", "DynamoDB writes": "DynamoDB write units", "DynamoDB reads": "DynamoDB read units",
             "KMS": "KMS requests", "EventBridge": "EventBridge events", "unpriced": "unpriced calls"}
    for item in ITEMS:
        if item == "unpriced" and not any(q[item] for q in quantities):
            continue
        if item == "Lambda GB-s":
            lines.append(row("Lambda billed ms", (f"{sum(math.ceil(ms) for ms, _ in u.invocations)}"
                                                  for _, u in columns)))
        fmt = "{:.4f}" if item == "Lambda GB-s" else "{:.0f}"
        lines.append(row(units[item], (fmt.format(q[item]) for q in quantities)))
    lines.append(row("AWS requests", (str(aws_requests(u)) for _, u in columns)))
    lines += ["", f"  $ per million {unit}s"]
    for item in ITEMS:
        if item == "unpriced":
            continue
        lines.append(row(item, (f"{d[item] * 1e6:.2f}" for d in dollars)))
    lines.append(row("total", (f"{per_million(u, prices):.2f}" for _, u in columns)))
    return lines
