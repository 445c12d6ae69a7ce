"""Creates the template's stateful resources (tables, queues, keys, bus, secrets) in moto with boto3, and resolves
the functions' environment against them.

Works against moto's server (the local stack) and in-process under ``moto.mock_aws`` (functional tests) alike:
it only needs a boto3 session. Physical names follow ``<stack>-<LogicalId>`` (``gitconnect-local-BuildsQueue``).
"""

from __future__ import annotations

import json
import logging
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from typing import Any

import boto3

from infra.local import template as tpl

log = logging.getLogger("infra.local")

STACK_NAME = "gitconnect-local"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account

# Types the local stack creates; everything else gets synthetic attributes (enough for Ref/GetAtt) or is ignored.
_IGNORED = {"AWS::CloudWatch::Alarm", "AWS::Serverless::LayerVersion", "AWS::Serverless::HttpApi",
            "AWS::Serverless::Function", "AWS::Lambda::Permission", "AWS::IAM::Role", "AWS::IAM::Policy",
            "AWS::Logs::LogGroup"}

# CloudFormation AWS::SQS::Queue properties that are SQS queue attributes of the same name.
_SQS_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
                   "ReceiveMessageWaitTimeSeconds", "RedrivePolicy", "RedriveAllowPolicy", "FifoQueue",
                   "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit", "KmsMasterKeyId",
                   "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled")


@dataclass
class Resources:
    """What exists in (moto's) AWS for one template: physical names, URLs, ARNs by logical id."""

    template: dict[str, Any]
    stack_name: str
    region: str
    account_id: str
    parameters: dict[str, Any]
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> {"Ref": ..., "Arn": ...}

    @property
    def resolver(self) -> tpl.Resolver:
        pseudo = tpl.pseudo_parameters(region=self.region, account_id=self.account_id, stack_name=self.stack_name)
        return tpl.Resolver(self.template, parameters=self.parameters, pseudo=pseudo, refs=self.attrs)

    def function_env(self, function_id: str | None = None) -> dict[str, str]:
        """The resolved Environment.Variables of one function (Globals + its own), or of all functions merged."""
        specs = tpl.functions(self.template)
        chosen = [specs[function_id]] if function_id else list(specs.values())
        env: dict[str, str] = {}
        for spec in chosen:
            for name, value in self.resolver.resolve(spec.environment).items():
                text = tpl._scalar_str(value)
                if name in env and env[name] != text:
                    log.warning("%s differs between functions; the local stack shares one process, using %r",
                                name, env[name])
                    continue
                env[name] = text
        # Globals-only templates (no functions) still have an environment worth resolving.
        if not chosen:
            glob = ((self.template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
            env = {k: tpl._scalar_str(v) for k, v in self.resolver.resolve(glob.get("Variables") or {}).items()}
        return env

    def queue_url_for_arn(self, arn: str) -> str:
        for attrs in self.attrs.values():
            if attrs.get("Arn") == arn and "QueueUrl" in attrs:
                return attrs["QueueUrl"]
        raise KeyError(f"no queue with ARN {arn} in the template")

    def physical_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"


def resource_env_names(template: Mapping[str, Any]) -> set[str]:
    """Env vars whose value depends on a created resource (these always come from the stack, never the user)."""
    resource_ids = set(template.get("Resources") or {})
    names = set()
    for spec in tpl.functions(template).values():
        for name, value in spec.environment.items():
            if tpl.references(value) & resource_ids:
                names.add(name)
    return names


def local_parameters(template: Mapping[str, Any], environ: Mapping[str, str],
                     defaults: Mapping[str, str] | None = None) -> dict[str, str]:
    """Parameter values for a local stack.

    A parameter passed to the functions as ``VAR: !Ref Param`` takes the value of ``VAR`` from ``environ`` when the
    user set it; else ``defaults`` (the runner's local defaults, e.g. PublicUrl); else the template's Default; else "".
    """
    by_param: dict[str, str] = {}
    for spec in tpl.functions(template).values():
        for name, value in spec.environment.items():
            if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in (template.get("Parameters") or {}):
                by_param.setdefault(value["Ref"], name)
    values = {}
    for param, decl in (template.get("Parameters") or {}).items():
        var = by_param.get(param)
        if var and var in environ:
            values[param] = environ[var]
        elif defaults and param in defaults:
            values[param] = defaults[param]
        else:
            values[param] = tpl._scalar_str(decl.get("Default", ""))
    return values


def create_resources(template: dict[str, Any], session: boto3.Session | None = None, *,
                     stack_name: str = STACK_NAME, parameters: Mapping[str, Any] | None = None,
                     account_id: str | None = None) -> Resources:
    """Create every stateful resource of ``template`` (dependencies first) and return their attributes."""
    session = session or boto3.Session()
    region = session.region_name or "us-east-1"
    if account_id is None:
        account_id = session.client("sts").get_caller_identity()["Account"]
    params = dict(parameters) if parameters is not None else local_parameters(template, {})
    res = Resources(template=template, stack_name=stack_name, region=region, account_id=account_id,
                    parameters=params)
    declared = template.get("Resources") or {}
    graph = {lid: (tpl.references(r.get("Properties") or {}) | _depends_on(r)) & set(declared)
             for lid, r in declared.items()}
    clients: dict[str, Any] = {}

    def client(name: str) -> Any:
        if name not in clients:
            clients[name] = session.client(name, region_name=region)
        return clients[name]

    for lid in TopologicalSorter(graph).static_order():
        rtype = declared[lid].get("Type", "")
        if declared[lid].get("Condition") and not res.resolver.condition(declared[lid]["Condition"]):
            continue  # a conditional resource whose condition is false does not exist
        creator = _CREATORS.get(rtype)
        if creator is None:
            res.attrs[lid] = _synthetic_attrs(res, lid, rtype)
            if rtype not in _IGNORED:
                log.info("%s (%s) is not created locally", lid, rtype)
            continue
        props = res.resolver.resolve(declared[lid].get("Properties") or {})
        res.attrs[lid] = creator(client, res, lid, props)
    return res


def _depends_on(resource: Mapping[str, Any]) -> set[str]:
    dep = resource.get("DependsOn") or []
    return {dep} if isinstance(dep, str) else set(dep)


def _synthetic_attrs(res: Resources, lid: str, rtype: str) -> dict[str, Any]:
    """Plausible Ref/Arn values for resources that do not exist locally (functions, layers, the API...)."""
    name = res.physical_name(lid)
    arn_prefix = f"arn:aws:{{}}:{res.region}:{res.account_id}"
    if rtype == "AWS::Serverless::Function":
        arn = f"{arn_prefix.format('lambda')}:function:{name}"
        return {"Ref": name, "Arn": arn}
    if rtype == "AWS::Serverless::LayerVersion":
        return {"Ref": f"{arn_prefix.format('lambda')}:layer:{name}:1"}
    if rtype in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api"):
        return {"Ref": "local", "ApiEndpoint": res.parameters.get("PublicUrl", "")}
    return {"Ref": name, "Arn": f"{arn_prefix.format('local')}:{name}"}


# ---------------------------------------------------------------------------------------------------- creators

Creator = Callable[[Callable[[str], Any], Resources, str, dict[str, Any]], dict[str, Any]]


def _table(client: Callable[[str], Any], res: Resources, lid: str, props: dict[str, Any]) -> dict[str, Any]:
    ddb = client("dynamodb")
    name = props.get("TableName") or res.physical_name(lid)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
    }
    if props.get("BillingMode", "PROVISIONED") == "PAY_PER_REQUEST":
        kwargs["BillingMode"] = "PAY_PER_REQUEST"
    else:
        kwargs["ProvisionedThroughput"] = props.get("ProvisionedThroughput") or {
            "ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            kwargs[key] = [_index(i, kwargs.get("BillingMode")) for i in props[key]]
    stream = props.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    table = ddb.create_table(**kwargs)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and str(ttl.get("Enabled", False)).lower() == "true":
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": True})
    attrs = {"Ref": name, "Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attrs["StreamArn"] = table["LatestStreamArn"]
    return attrs


def _index(index: dict[str, Any], billing: str | None) -> dict[str, Any]:
    out = {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")}
    if billing != "PAY_PER_REQUEST" and "ProvisionedThroughput" not in out:
        out["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    return out


def _queue(client: Callable[[str], Any], res: Resources, lid: str, props: dict[str, Any]) -> dict[str, Any]:
    sqs = client("sqs")
    fifo = str(props.get("FifoQueue", "false")).lower() == "true"
    name = props.get("QueueName") or res.physical_name(lid) + (".fifo" if fifo else "")
    attributes = {}
    for key in _SQS_ATTRIBUTES:
        if key not in props:
            continue
        value = props[key]
        attributes[key] = json.dumps(value) if isinstance(value, dict) else tpl._scalar_str(value)
    if attributes.get("FifoQueue") == "false":
        del attributes["FifoQueue"]  # SQS refuses FifoQueue=false on create
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # CloudFormation: Ref of a queue is its URL.
    return {"Ref": url, "QueueUrl": url, "Arn": arn, "QueueName": name}


def _key(client: Callable[[str], Any], res: Resources, lid: str, props: dict[str, Any]) -> dict[str, Any]:
    kms = client("kms")
    kwargs: dict[str, Any] = {"Description": props.get("Description", lid)}
    if props.get("KeyPolicy"):
        policy = props["KeyPolicy"]
        kwargs["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
    if props.get("KeyUsage"):
        kwargs["KeyUsage"] = props["KeyUsage"]
    if props.get("KeySpec"):
        kwargs["KeySpec"] = props["KeySpec"]
    meta = kms.create_key(**kwargs)["KeyMetadata"]
    if str(props.get("EnableKeyRotation", "false")).lower() == "true":
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    return {"Ref": meta["KeyId"], "KeyId": meta["KeyId"], "Arn": meta["Arn"]}


def _alias(client: Callable[[str], Any], res: Resources, lid: str, props: dict[str, Any]) -> dict[str, Any]:
    client("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return {"Ref": props["AliasName"]}


def _bus(client: Callable[[str], Any], res: Resources, lid: str, props: dict[str, Any]) -> dict[str, Any]:
    name = props.get("Name") or res.physical_name(lid)
    arn = client("events").create_event_bus(Name=name)["EventBusArn"]
    return {"Ref": name, "Name": name, "Arn": arn}


def _secret(client: Callable[[str], Any], res: Resources, lid: str, props: dict[str, Any]) -> dict[str, Any]:
    name = props.get("Name") or res.physical_name(lid)
    kwargs: dict[str, Any] = {"Name": name}
    if "SecretString" in props:
        kwargs["SecretString"] = props["SecretString"]
    elif "GenerateSecretString" in props:
        kwargs["SecretString"] = _generated_secret(props["GenerateSecretString"])
    if props.get("KmsKeyId"):
        kwargs["KmsKeyId"] = props["KmsKeyId"]
    arn = client("secretsmanager").create_secret(**kwargs)["ARN"]
    # CloudFormation: Ref of a secret is its ARN.
    return {"Ref": arn, "Id": arn}


def _generated_secret(spec: Mapping[str, Any]) -> str:
    alphabet = string.ascii_letters + string.digits
    if str(spec.get("ExcludePunctuation", "false")).lower() != "true":
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    alphabet = "".join(c for c in alphabet if c not in spec.get("ExcludeCharacters", ""))
    password = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    template = spec.get("SecretStringTemplate")
    if template and spec.get("GenerateStringKey"):
        return json.dumps({**json.loads(template), spec["GenerateStringKey"]: password})
    return password


def _topic(client: Callable[[str], Any], res: Resources, lid: str, props: dict[str, Any]) -> dict[str, Any]:
    name = props.get("TopicName") or res.physical_name(lid)
    arn = client("sns").create_topic(Name=name)["TopicArn"]
    return {"Ref": arn, "TopicArn": arn, "TopicName": name}


_CREATORS: dict[str, Creator] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::KMS::Key": _key,
    "AWS::KMS::Alias": _alias,
    "AWS::Events::EventBus": _bus,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SNS::Topic": _topic,
}


# ---------------------------------------------------------------------------------------------------- bus tap

TAP_QUEUE = "gitconnect-local-bus-tap"


def create_bus_tap(session: boto3.Session, bus_name: str, *, source: str = "gitconnect",
                   queue_name: str = TAP_QUEUE) -> str:
    """An SQS queue receiving every event of ``source`` put on ``bus_name`` (to see what the functions publish)."""
    sqs = session.client("sqs")
    events = session.client("events")
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=queue_name, EventBusName=bus_name, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=queue_name, EventBusName=bus_name, Targets=[{"Id": "tap", "Arn": arn}])
    return url
