"""The local stack's template reader: CloudFormation short tags, intrinsics, and the views read from template.yaml."""

from __future__ import annotations

import pytest

from infra.local import resources
from infra.local import template as tpl

SNIPPET = """
Parameters:
  Env: {Type: String, Default: dev}
  Topic: {Type: String, Default: ""}
Conditions:
  HasTopic: !Not [!Equals [!Ref Topic, ""]]
  IsDev: !Equals [dev, !Ref Env]
Resources:
  Queue: {Type: AWS::SQS::Queue}
Outputs:
  Ref: {Value: !Ref Queue}
  AttScalar: {Value: !GetAtt Queue.Arn}
  AttList: {Value: !GetAtt [Queue, QueueName]}
  Sub: {Value: !Sub "${AWS::StackName}-${Env}-${Queue.QueueName}@${AWS::Region}.${AWS::URLSuffix}"}
  SubVars: {Value: !Sub ["${A}/${Queue}", {A: !Ref Env}]}
  Escaped: {Value: !Sub "${!Literal}-${Env}"}
  Join: {Value: !Join [":", [a, !Ref Env, 3]]}
  Select: {Value: !Select [1, !Split [",", "x,y,z"]]}
  IfNo: {Value: !If [HasTopic, [!Ref Topic], !Ref AWS::NoValue]}
  IfYes: {Value: !If [IsDev, yes-dev, no-dev]}
  List: {Value: [a, !Ref AWS::NoValue, b]}
  Arn: {Value: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
"""


@pytest.fixture
def resolver() -> tpl.Resolver:
    template = tpl.loads_template(SNIPPET)
    pseudo = tpl.pseudo_parameters(region="eu-west-1", account_id="111122223333", stack_name="stk")
    refs = {"Queue": {"Ref": "https://q/url", "Arn": "arn:aws:sqs:eu-west-1:111122223333:stk-Queue",
                      "QueueName": "stk-Queue"}}
    params = resources.local_parameters(template, {})
    return tpl.Resolver(template, parameters=params, pseudo=pseudo, refs=refs)


def _out(resolver: tpl.Resolver, name: str) -> object:
    return resolver.resolve(resolver.template["Outputs"][name]["Value"])


def test_short_tags_load_as_long_form() -> None:
    # Given a template with short tags, When it is loaded, Then they are the JSON long forms
    outputs = tpl.loads_template(SNIPPET)["Outputs"]
    assert outputs["Ref"]["Value"] == {"Ref": "Queue"}
    assert outputs["AttScalar"]["Value"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert outputs["AttList"]["Value"] == {"Fn::GetAtt": ["Queue", "QueueName"]}
    assert outputs["Join"]["Value"] == {"Fn::Join": [":", ["a", {"Ref": "Env"}, 3]]}
    assert tpl.loads_template(SNIPPET)["Conditions"]["HasTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "Topic"}, ""]}]}


@pytest.mark.parametrize(("name", "expected"), [
    ("Ref", "https://q/url"),
    ("AttScalar", "arn:aws:sqs:eu-west-1:111122223333:stk-Queue"),
    ("AttList", "stk-Queue"),
    ("Sub", "stk-dev-stk-Queue@eu-west-1.amazonaws.com"),
    ("SubVars", "dev/https://q/url"),
    ("Escaped", "${Literal}-dev"),
    ("Join", "a:dev:3"),
    ("Select", "y"),
    ("IfYes", "yes-dev"),
    ("List", ["a", "b"]),
    ("Arn", "arn:aws:iam::111122223333:root"),
])
def test_intrinsics_resolve(resolver: tpl.Resolver, name: str, expected: object) -> None:
    assert _out(resolver, name) == expected


def test_no_value_removes_the_property(resolver: tpl.Resolver) -> None:
    # Given a condition that is false, When !If picks AWS::NoValue, Then the key disappears from its mapping
    assert resolver.resolve({"Keep": 1, "Drop": resolver.template["Outputs"]["IfNo"]["Value"]}) == {"Keep": 1}
    assert resolver.condition("HasTopic") is False
    assert resolver.condition("IsDev") is True


def test_unknown_references_fail_loudly(resolver: tpl.Resolver) -> None:
    with pytest.raises(tpl.UnresolvableError, match="Nope"):
        resolver.resolve({"Ref": "Nope"})
    with pytest.raises(tpl.UnresolvableError, match=r"Queue\.Missing"):
        resolver.resolve({"Fn::GetAtt": ["Queue", "Missing"]})
    with pytest.raises(tpl.UnresolvableError, match="ImportValue"):
        resolver.resolve({"Fn::ImportValue": "x"})


def test_references_finds_dependencies() -> None:
    value = {"A": {"Ref": "T"}, "B": [{"Fn::GetAtt": "Q.Arn"}],
             "C": {"Fn::Sub": ["${X}-${Bus}-${AWS::Region}-${Key.Arn}", {"X": {"Ref": "P"}}]}}
    assert tpl.references(value) == {"T", "Q", "Bus", "AWS::Region", "Key", "P"}


# ---------------------------------------------------------------------------------------------------- template.yaml


@pytest.fixture(scope="module")
def template() -> dict:
    return tpl.load_template()


def test_functions_map_code_uri_and_handler_to_a_module(template: dict) -> None:
    fns = tpl.functions(template)
    connections = fns["ConnectionsFunction"]
    assert (connections.module, connections.attribute) == ("functions.connections.app", "handler")
    # Globals apply unless the function overrides them
    assert connections.timeout == 30
    assert fns["ScheduledSyncFunction"].timeout == 120
    assert connections.memory_mb == 512
    assert connections.environment["GITCONNECT_EVENT_BUS"] == {"Ref": "EventBus"}


def test_nested_handler_module() -> None:
    spec = tpl.FunctionSpec("F", "./functions/x/", "pkg.mod.run", 3, 128, {})
    assert (spec.module, spec.attribute) == ("functions.x.pkg.mod", "run")


def test_routes_sources_and_schedules_come_from_the_template(template: dict) -> None:
    routes = {(r.method, r.path): r.function_id for r in tpl.http_routes(template)}
    assert routes[("GET", "/v1/health")] == "ConnectionsFunction"
    assert routes[("ANY", "/v1/teams/{team}/{proxy+}")] == "ConnectionsFunction"
    assert routes[("GET", "/v1/teams/{team}/connections/{connection_id}/repositories")] == "RepoListingFunction"
    [builds] = [s for s in tpl.sqs_sources(template) if s.function_id == "BuildTriggerFunction"]
    assert builds.queue == {"Fn::GetAtt": ["BuildsQueue", "Arn"]}
    assert (builds.batch_size, builds.report_batch_item_failures, builds.enabled) == (10, True, True)
    [sync] = [s for s in tpl.schedules(template) if s.function_id == "ScheduledSyncFunction"]
    assert (sync.expression, sync.enabled) == ("rate(1 minute)", True)


def test_parameters_take_the_users_environment_then_local_defaults(template: dict) -> None:
    # Given the user set the env var that a parameter feeds, When parameters are resolved, Then the user's value wins
    params = resources.local_parameters(template, {"GITCONNECT_PUBLIC_URL": "https://tunnel.example"},
                                        {"PublicUrl": "http://127.0.0.1:3000", "JwksUrl": ""})
    assert params["PublicUrl"] == "https://tunnel.example"
    assert params["JwksUrl"] == ""
    assert params["DashboardUrl"] == ""  # the template's Default
    params = resources.local_parameters(template, {}, {"PublicUrl": "http://127.0.0.1:3000"})
    assert params["PublicUrl"] == "http://127.0.0.1:3000"


def test_resource_backed_variables_are_known(template: dict) -> None:
    names = resources.resource_env_names(template)
    assert {"GITCONNECT_CONNECTIONS_TABLE", "GITCONNECT_BUILDS_QUEUE_URL", "GITCONNECT_EVENT_BUS",
            "GITCONNECT_KMS_KEY_ID"} <= names
    assert "GITCONNECT_PUBLIC_URL" not in names
    assert "POWERTOOLS_SERVICE_NAME" not in names
