"""Least privilege, read off template.yaml: every function's DynamoDB statements are exactly what infra/iam.py declares
(which the functional tier checks the code against: tests/support/iam_audit.py), no Scan anywhere, KMS only under the
cipher's encryption context, Secrets Manager only where provider secrets are read, and every function has a log group
with a retention and alarms on its errors and throttles."""

from __future__ import annotations

from typing import Any

import pytest

from gitconnect.adapters.cipher import HOOK_SECRETS_CONTEXT
from infra import iam
from infra.local import template as tpl

TEMPLATE = tpl.load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = tpl.resources_of_type(TEMPLATE, "AWS::Serverless::Function")
SAM_DYNAMODB_TEMPLATES = {"DynamoDBCrudPolicy", "DynamoDBReadPolicy", "DynamoDBWritePolicy",
                          "DynamoDBReconfigurePolicy", "DynamoDBRestoreFromBackupPolicy",
                          "DynamoDBBackupFullAccessPolicy", "DynamoDBStreamReadPolicy"}


def _statements(function_id: str) -> list[dict[str, Any]]:
    out = []
    for policy in FUNCTIONS[function_id]["Properties"].get("Policies") or ():
        if isinstance(policy, dict) and "Statement" in policy:
            out.extend(policy["Statement"])
    return out


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement.get("Action") or []
    return [action] if isinstance(action, str) else list(action)


def _resource_target(resource: Any) -> tuple[str, str | None]:
    """(table logical id, index or None) of `!GetAtt T.Arn` or `!Sub "${T.Arn}/index/<name>"`."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        target = resource["Fn::GetAtt"]
        name, attribute = target if isinstance(target, list) else target.split(".", 1)
        assert attribute == "Arn", resource
        return name, None
    if isinstance(resource, dict) and "Fn::Sub" in resource and isinstance(resource["Fn::Sub"], str):
        head, _, index = resource["Fn::Sub"].partition("/index/")
        assert head.startswith("${") and head.endswith(".Arn}") and index, resource
        return head[2:-5], index
    raise AssertionError(f"a DynamoDB resource is !GetAtt <T>.Arn or !Sub '${{<T>.Arn}}/index/<name>': {resource}")


def granted_dynamodb(function_id: str) -> dict[str, iam.Access]:
    granted: dict[str, iam.Access] = {}
    for statement in _statements(function_id):
        actions = [a for a in _actions(statement) if a.startswith("dynamodb:")]
        if not actions:
            continue
        assert len(actions) == len(_actions(statement)), f"{function_id}: one statement per table, DynamoDB only"
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        targets = [_resource_target(r) for r in resources]
        tables = {t for t, _ in targets}
        assert tables == {statement.get("Sid")}, f"{function_id}: a statement's Sid is its one table, {tables}"
        assert statement["Sid"] not in granted, f"{function_id}: two statements for {statement['Sid']}"
        granted[statement["Sid"]] = iam.access(*(a.removeprefix("dynamodb:") for a in actions),
                                               indexes=tuple(i for _, i in targets if i))
    return granted


def test_every_function_is_declared() -> None:
    assert set(iam.DYNAMODB) == set(FUNCTIONS), "infra/iam.py names each function of template.yaml (even with {})"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_dynamodb_statements_are_what_infra_iam_declares(function_id: str) -> None:
    policies = FUNCTIONS[function_id]["Properties"].get("Policies") or ()
    sam = [name for p in policies if isinstance(p, dict) for name in p if name in SAM_DYNAMODB_TEMPLATES]
    assert not sam, f"{function_id}: SAM's DynamoDB policy templates grant Scan and more: {sam}"
    assert granted_dynamodb(function_id) == iam.DYNAMODB[function_id], (
        f"{function_id}: template.yaml and infra/iam.py differ; `python -m infra.iam {function_id}` prints the "
        "statements infra/iam.py declares")


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_indexes_granted_exist(function_id: str) -> None:
    for table, granted in iam.DYNAMODB[function_id].items():
        declared = {i["IndexName"] for i in RESOURCES[table]["Properties"].get("GlobalSecondaryIndexes") or ()}
        assert granted.indexes <= declared, f"{function_id}: {table} has no index {granted.indexes - declared}"


def test_no_scan_and_batch_writes_only_where_declared() -> None:
    text = tpl.DEFAULT_TEMPLATE.read_text()
    assert "dynamodb:Scan" not in text and "dynamodb:*" not in text
    for function_id, tables in iam.DYNAMODB.items():
        for table, granted in tables.items():
            assert "Scan" not in granted.actions, f"{function_id} on {table}"
            if "BatchWriteItem" in granted.actions:
                assert (function_id, table) in iam.BATCH_WRITERS, f"{function_id} batch-writes {table}: say why"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_kms_only_under_the_cipher_encryption_context(function_id: str) -> None:
    for statement in _statements(function_id):
        actions = [a for a in _actions(statement) if a.startswith("kms:")]
        if not actions:
            continue
        assert set(actions) <= {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"}, actions
        condition = statement.get("Condition") or {}
        keys = (condition.get("ForAllValues:StringEquals") or {}).get("kms:EncryptionContextKeys")
        if statement.get("Sid") == "HookSecretsKey":  # the shared data key: its one fixed context, nothing else
            assert sorted(keys or ()) == sorted(HOOK_SECRETS_CONTEXT), f"{function_id}: {condition}"
            expected = {f"kms:EncryptionContext:{k}": v for k, v in HOOK_SECRETS_CONTEXT.items()}
            assert condition.get("StringEquals") == expected, f"{function_id}: {condition}"
            continue
        assert sorted(keys or ()) == sorted(iam.KMS_CONTEXT_KEYS), f"{function_id}: {condition}"
        assert (condition.get("Null") or {}).get("kms:EncryptionContext:team_id") == "false", (
            f"{function_id}: a call without an encryption context must not pass ForAllValues")


def test_secrets_manager_only_for_functions_that_read_provider_secrets() -> None:
    readers = {fid for fid in FUNCTIONS
               for p in FUNCTIONS[fid]["Properties"].get("Policies") or ()
               if isinstance(p, dict) and "AWSSecretsManagerGetSecretValuePolicy" in p}
    assert readers == iam.PROVIDER_SECRET_READERS


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_function_has_a_log_group_with_retention(function_id: str) -> None:
    config = FUNCTIONS[function_id]["Properties"].get("LoggingConfig") or {}
    group = (config.get("LogGroup") or {}).get("Ref")
    assert group in RESOURCES and RESOURCES[group]["Type"] == "AWS::Logs::LogGroup", f"{function_id}: {config}"
    assert RESOURCES[group]["Properties"].get("RetentionInDays"), f"{group} keeps logs forever"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_function_has_error_and_throttle_alarms(function_id: str) -> None:
    alarmed = {r["Properties"]["MetricName"] for r in RESOURCES.values()
               if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("Namespace") == "AWS/Lambda"
               and {"Name": "FunctionName", "Value": {"Ref": function_id}} in r["Properties"].get("Dimensions", [])}
    assert {"Errors", "Throttles"} <= alarmed


def test_every_alarm_notifies_a_topic() -> None:
    for lid, resource in RESOURCES.items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            assert resource["Properties"].get("AlarmActions") == [
                {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}], lid


def test_every_queue_has_an_age_alarm_and_every_dlq_a_depth_alarm() -> None:
    queues = tpl.resources_of_type(TEMPLATE, "AWS::SQS::Queue")
    watched: dict[str, set[str]] = {}
    for resource in RESOURCES.values():
        if resource["Type"] == "AWS::CloudWatch::Alarm" and resource["Properties"].get("Namespace") == "AWS/SQS":
            for dimension in resource["Properties"]["Dimensions"]:
                queue = dimension["Value"]["Fn::GetAtt"][0] if isinstance(dimension["Value"]["Fn::GetAtt"], list) \
                    else dimension["Value"]["Fn::GetAtt"].split(".")[0]
                watched.setdefault(queue, set()).add(resource["Properties"]["MetricName"])
    for queue in queues:
        wanted = "ApproximateNumberOfMessagesVisible" if queue.endswith("DLQ") else "ApproximateAgeOfOldestMessage"
        assert wanted in watched.get(queue, set()), f"{queue} has no {wanted} alarm"
