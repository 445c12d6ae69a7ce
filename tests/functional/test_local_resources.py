"""Every resource template.yaml declares is created (in moto, in-process) as declared, and the functions'
environment points at them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local import resources
from infra.local import template as tpl


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return tpl.load_template()


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.Session(region_name="eu-central-1")


@pytest.fixture
def created(template: dict[str, Any], session: boto3.Session) -> resources.Resources:
    params = resources.local_parameters(template, {}, {"PublicUrl": "http://127.0.0.1:3000"})
    return resources.create_resources(template, session, parameters=params)


def test_tables_match_the_template(template: dict[str, Any], session: boto3.Session,
                                   created: resources.Resources) -> None:
    ddb = session.client("dynamodb")
    declared = tpl.resources_of_type(template, "AWS::DynamoDB::Table")
    assert set(declared) >= {"ConnectionsTable", "SourcesTable", "BuildsTable", "DeliveriesTable", "IdempotencyTable"}
    for lid, res in declared.items():
        props = res["Properties"]
        name = created.attrs[lid]["Ref"]
        assert name == f"gitconnect-local-{lid}"
        table = ddb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == props["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
            props["AttributeDefinitions"], key=lambda a: a["AttributeName"])
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
        for gsi in props.get("GlobalSecondaryIndexes", []):
            assert indexes[gsi["IndexName"]]["KeySchema"] == gsi["KeySchema"]
            assert indexes[gsi["IndexName"]]["Projection"]["ProjectionType"] == gsi["Projection"]["ProjectionType"]
        assert len(indexes) == len(props.get("GlobalSecondaryIndexes", []))
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in props:
            assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == (
                "ENABLED", props["TimeToLiveSpecification"]["AttributeName"])
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_queues_have_their_attributes_and_dlq_redrive(session: boto3.Session,
                                                      created: resources.Resources) -> None:
    sqs = session.client("sqs")
    queue = created.attrs["BuildsQueue"]
    dlq = created.attrs["BuildsDLQ"]
    assert queue["QueueName"] == "gitconnect-local-BuildsQueue"
    assert queue["Ref"] == queue["QueueUrl"] == sqs.get_queue_url(QueueName=queue["QueueName"])["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=queue["QueueUrl"], AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "180"
    assert attrs["QueueArn"] == queue["Arn"]
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["Arn"], "maxReceiveCount": 5}
    dlq_attrs = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["All"])["Attributes"]
    assert dlq_attrs["MessageRetentionPeriod"] == "1209600"
    assert created.queue_url_for_arn(dlq["Arn"]) == dlq["QueueUrl"]


def test_bus_and_key(session: boto3.Session, created: resources.Resources) -> None:
    bus = created.attrs["EventBus"]
    assert bus["Ref"] == "gitconnect-local-bus"  # !Sub "${AWS::StackName}-bus"
    assert session.client("events").describe_event_bus(Name=bus["Ref"])["Arn"] == bus["Arn"]
    kms = session.client("kms")
    key_id = created.attrs["SecretsKey"]["Ref"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"] == created.attrs["SecretsKey"]["Arn"]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{created.account_id}:root"}


def test_alarms_layers_and_api_are_not_created(session: boto3.Session, created: resources.Resources) -> None:
    assert session.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert created.attrs["ConnectionsFunction"]["Ref"] == "gitconnect-local-ConnectionsFunction"


def test_function_env_points_at_the_created_resources(session: boto3.Session,
                                                      created: resources.Resources) -> None:
    env = created.function_env()
    assert env["GITCONNECT_PUBLIC_URL"] == "http://127.0.0.1:3000"
    assert env["GITCONNECT_JWKS_URL"] == ""
    assert env["POWERTOOLS_SERVICE_NAME"] == "gitconnect"
    assert env["GITCONNECT_EVENT_BUS"] == "gitconnect-local-bus"
    assert env["GITCONNECT_BUILDS_QUEUE_URL"] == created.attrs["BuildsQueue"]["QueueUrl"]
    ddb = session.client("dynamodb")
    for name in ("CONNECTIONS", "SOURCES", "BUILDS", "DELIVERIES", "IDEMPOTENCY"):
        ddb.describe_table(TableName=env[f"GITCONNECT_{name}_TABLE"])
    session.client("kms").describe_key(KeyId=env["GITCONNECT_KMS_KEY_ID"])
    assert all(isinstance(v, str) for v in env.values())
    assert created.function_env("BuildTriggerFunction").items() >= {
        k: v for k, v in env.items() if k.startswith("GITCONNECT_")}.items()


def test_fifo_queue_secret_and_conditions(session: boto3.Session) -> None:
    template = tpl.loads_template("""
Parameters:
  Topic: {Type: String, Default: ""}
Conditions:
  HasTopic: !Not [!Equals [!Ref Topic, ""]]
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true, ContentBasedDeduplication: true,
                 RedrivePolicy: {deadLetterTargetArn: !GetAtt JobsDLQ.Arn, maxReceiveCount: 2}}
  JobsDLQ:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true}
  Token:
    Type: AWS::SecretsManager::Secret
    Properties: {GenerateSecretString: {PasswordLength: 20, ExcludePunctuation: true}}
  OnlyWithTopic:
    Type: AWS::SQS::Queue
    Condition: HasTopic
""")
    created = resources.create_resources(template, session, stack_name="t")
    sqs = session.client("sqs")
    url = created.attrs["Jobs"]["QueueUrl"]
    assert url.endswith("/t-Jobs.fifo")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["FifoQueue"], attrs["ContentBasedDeduplication"]) == ("true", "true")
    assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"] == created.attrs["JobsDLQ"]["Arn"]
    secret = session.client("secretsmanager").get_secret_value(SecretId=created.attrs["Token"]["Ref"])
    assert len(secret["SecretString"]) == 20
    assert secret["SecretString"].isalnum()
    assert "OnlyWithTopic" not in created.attrs
    assert len(sqs.list_queues()["QueueUrls"]) == 2
