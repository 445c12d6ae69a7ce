"""The bench's cost arithmetic: requests and Lambda durations of one build -> $ per million builds."""

from __future__ import annotations

import pytest

from bench.cost import Prices, Usage, aws_requests, billed_gb_seconds, category, dollars_by_item, per_million, report

BUILD = Usage(
    invocations=((100.0, 512), (50.0, 1024)),
    api_requests=1,
    calls={
        ("SQS", "SendMessage"): 1,
        ("SQS", "DeleteMessageBatch"): 1,
        ("DynamoDB", "PutItem"): 2,
        ("DynamoDB", "GetItem"): 1,
        ("KMS", "Decrypt"): 1,
        ("EventBridge", "PutEvents"): 1,
    },
)


def test_lambda_duration_is_billed_per_started_millisecond_at_the_memory_size() -> None:
    assert billed_gb_seconds([(100.2, 512)]) == pytest.approx(0.101 * 0.5)
    assert billed_gb_seconds([(100.0, 512), (50.0, 1024)]) == pytest.approx(0.1)


def test_a_build_costs_the_sum_of_its_line_items_at_list_prices() -> None:
    items = {k: v * 1e6 for k, v in dollars_by_item(BUILD).items()}
    assert items == pytest.approx({
        "Lambda requests": 0.40,
        "Lambda GB-s": 0.1 * 13.3334,
        "API Gateway": 1.00,
        "SQS": 0.80,
        "DynamoDB writes": 1.25,
        "DynamoDB reads": 0.125,
        "KMS": 3.00,
        "EventBridge": 1.00,
        "unpriced": 0.0,
    })
    assert per_million(BUILD) == pytest.approx(0.40 + 1.33334 + 1.00 + 0.80 + 1.25 + 0.125 + 3.00 + 1.00)


def test_prices_can_be_changed() -> None:
    free_kms = Prices(kms_request=0.0)
    assert per_million(BUILD) - per_million(BUILD, free_kms) == pytest.approx(3.00)


@pytest.mark.parametrize(
    ("service", "operation", "item"),
    [
        ("DynamoDB", "Query", "DynamoDB reads"),
        ("DynamoDB", "UpdateItem", "DynamoDB writes"),
        ("DynamoDB", "TransactWriteItems", "DynamoDB writes"),
        ("DynamoDB", "DescribeTable", "unpriced"),
        ("SQS", "ReceiveMessage", "SQS"),
        ("KMS", "GenerateDataKey", "KMS"),
        ("EventBridge", "PutEvents", "EventBridge"),
        ("EventBridge", "PutRule", "unpriced"),
        ("STS", "GetCallerIdentity", "unpriced"),
    ],
)
def test_calls_are_billed_under_their_service(service: str, operation: str, item: str) -> None:
    assert category(service, operation) == item


def test_aws_requests_count_invocations_api_requests_and_calls() -> None:
    assert aws_requests(BUILD) == 2 + 1 + 7


def test_report_has_a_column_per_flow_and_the_total_per_million() -> None:
    lines = report([("a", BUILD), ("b", Usage(invocations=((1.0, 1024),)))])
    total = next(line for line in lines if line.strip().startswith("total")).split()
    assert total[1:] == [f"{per_million(BUILD):.2f}", f"{per_million(Usage(invocations=((1.0, 1024),))):.2f}"]
    assert "unpriced calls" not in "\n".join(lines)
