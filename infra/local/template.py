"""Reading template.yaml: a YAML loader for CloudFormation short tags, an intrinsic-function resolver, and the
views the local stack needs (functions, HTTP routes, SQS event sources, schedules).

Nothing here talks to AWS: resource values come in through ``Resolver(refs=...)``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

# ---------------------------------------------------------------------------------------------------- YAML loading

# Short tag -> long form. GetAtt is special (its scalar form is "A.B"); everything else wraps the node's value.
_TAGS = ("Ref", "Condition", "GetAtt", "Sub", "If", "Not", "Equals", "And", "Or", "Join", "Select", "Split",
         "Base64", "FindInMap", "GetAZs", "ImportValue", "Cidr", "Length", "ToJsonString", "Transform")


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that also understands ``!Ref``, ``!GetAtt``, ``!Sub``... (turned into their JSON long form)."""


def _construct(tag: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    key = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {key: value}

    return construct


for _tag in _TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _construct(_tag))


def load_template(path: str | Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """Parse a SAM/CloudFormation template (YAML or JSON) into plain dicts with long-form intrinsics."""
    return loads_template(Path(path).read_text(encoding="utf-8"))


def loads_template(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - _CfnLoader is a SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError("a template is a mapping")
    return data


# ---------------------------------------------------------------------------------------------------- intrinsics


class UnresolvableError(ValueError):
    """An intrinsic the local stack cannot evaluate (unknown resource, attribute, parameter, or function)."""


class _NoValue:
    """AWS::NoValue: removes the property (or list item) that holds it."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


def pseudo_parameters(*, region: str, account_id: str, stack_name: str) -> dict[str, Any]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::StackName": stack_name,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
        "AWS::NoValue": NO_VALUE,
    }


class Resolver:
    """Evaluates CloudFormation intrinsics over a template.

    ``refs`` maps a logical id to its attributes: ``{"Ref": <what !Ref returns>, "Arn": ..., "QueueUrl": ...}``.
    """

    def __init__(self, template: Mapping[str, Any], *, parameters: Mapping[str, Any],
                 pseudo: Mapping[str, Any], refs: Mapping[str, Mapping[str, Any]]) -> None:
        self.template = template
        self.parameters = parameters
        self.pseudo = pseudo
        self.refs = refs

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic in ``value``; AWS::NoValue entries are dropped from mappings and lists."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._fn(key[4:], arg)
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs and "Ref" in self.refs[name]:
            return self.refs[name]["Ref"]
        raise UnresolvableError(f"!Ref {name}: not a parameter, pseudo parameter or known resource")

    def get_att(self, name: str, attribute: str) -> Any:
        attrs = self.refs.get(name)
        if attrs is None:
            raise UnresolvableError(f"!GetAtt {name}.{attribute}: unknown resource")
        if attribute not in attrs:
            raise UnresolvableError(f"!GetAtt {name}.{attribute}: attribute not available locally")
        return attrs[attribute]

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise UnresolvableError(f"unknown condition {name}")
        return bool(self.resolve(conditions[name]))

    def _fn(self, fn: str, arg: Any) -> Any:
        if fn == "GetAtt":
            name, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.get_att(name, self.resolve(attribute))
        if fn == "Sub":
            return self._sub(arg)
        if fn == "If":
            cond, yes, no = arg
            return self.resolve(yes if self.condition(cond) else no)
        if fn == "Not":
            return not self.resolve(arg[0])
        if fn == "Equals":
            a, b = (self.resolve(v) for v in arg)
            return _scalar_str(a) == _scalar_str(b)
        if fn == "And":
            return all(self.resolve(v) for v in arg)
        if fn == "Or":
            return any(self.resolve(v) for v in arg)
        if fn == "Join":
            sep, items = arg
            return self.resolve(sep).join(_scalar_str(v) for v in self.resolve(items))
        if fn == "Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if fn == "Split":
            sep, text = arg
            return self.resolve(text).split(self.resolve(sep))
        if fn == "Base64":
            return base64.b64encode(self.resolve(arg).encode()).decode()
        if fn == "FindInMap":
            name, top, second = (self.resolve(v) for v in arg)
            return self.template["Mappings"][name][top][second]
        if fn == "GetAZs":
            region = self.resolve(arg) or self.pseudo["AWS::Region"]
            return [f"{region}{zone}" for zone in "abc"]
        if fn == "Length":
            return len(self.resolve(arg))
        if fn == "ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        raise UnresolvableError(f"Fn::{fn} is not supported by the local stack")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return _scalar_str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return _scalar_str(self.get_att(resource, attribute))
            return _scalar_str(self.ref(name))

        # "${!Literal}" is an escaped "${Literal}".
        return _SUB_VAR.sub(replace, text).replace("${!", "${")


def _scalar_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def references(value: Any) -> set[str]:
    """Logical ids (or parameter names) that ``value`` refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" and isinstance(arg, str):
                return {arg}
            if key == "Fn::GetAtt":
                return {(arg.split(".", 1) if isinstance(arg, str) else arg)[0]}
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                names = {m.group(1).strip().split(".", 1)[0] for m in _SUB_VAR.finditer(text)}
                return (names - set(variables)) | references(variables)
        for v in value.values():
            found |= references(v)
    return found


# ---------------------------------------------------------------------------------------------------- views


def resources_of_type(template: Mapping[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in (template.get("Resources") or {}).items() if res.get("Type") in types}


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str
    timeout: int
    memory_mb: int
    environment: dict[str, Any]  # Globals + the function's own variables, intrinsics unresolved
    events: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """``functions/connections/`` + ``app.handler`` -> ``functions.connections.app``."""
        module_path, _, _ = self.handler.rpartition(".")
        parts = [p for p in self.code_uri.replace("\\", "/").split("/") if p not in ("", ".")]
        return ".".join([*parts, module_path])

    @property
    def attribute(self) -> str:
        return self.handler.rpartition(".")[2]


def functions(template: Mapping[str, Any]) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function with Globals.Function merged in (function values win)."""
    glob = (template.get("Globals") or {}).get("Function") or {}
    specs = {}
    for lid, res in resources_of_type(template, "AWS::Serverless::Function").items():
        props = res.get("Properties") or {}
        env = dict(((glob.get("Environment") or {}).get("Variables")) or {})
        env.update(((props.get("Environment") or {}).get("Variables")) or {})
        code_uri = props.get("CodeUri", glob.get("CodeUri", ""))
        if not isinstance(code_uri, str):
            raise UnresolvableError(f"{lid}: only a local CodeUri folder can run locally")
        specs[lid] = FunctionSpec(
            logical_id=lid,
            code_uri=code_uri,
            handler=props.get("Handler", glob.get("Handler", "")),
            timeout=int(props.get("Timeout", glob.get("Timeout", 3))),
            memory_mb=int(props.get("MemorySize", glob.get("MemorySize", 128))),
            environment=env,
            events=dict(props.get("Events") or {}),
        )
    return specs


def layer_paths(template: Mapping[str, Any]) -> list[Path]:
    """Folders that Lambda would put on sys.path (``<ContentUri>/python`` of each local layer that has one)."""
    paths = []
    for res in resources_of_type(template, "AWS::Serverless::LayerVersion").values():
        uri = (res.get("Properties") or {}).get("ContentUri")
        if isinstance(uri, str) and (REPO_ROOT / uri / "python").is_dir():
            paths.append(REPO_ROOT / uri / "python")
    return paths


@dataclass(frozen=True)
class HttpRouteSpec:
    function_id: str
    event_id: str
    method: str  # upper case; "ANY" for any method, "" for the $default route
    path: str  # "/v1/teams/{team}/{proxy+}", "" for the $default route


def http_routes(template: Mapping[str, Any]) -> list[HttpRouteSpec]:
    routes = []
    for fn in functions(template).values():
        for eid, event in fn.events.items():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            if "Path" not in props:  # SAM: an HttpApi event without Path/Method is the $default route
                routes.append(HttpRouteSpec(fn.logical_id, eid, "", ""))
            else:
                method = str(props.get("Method", "ANY")).upper()
                method = "ANY" if method in ("X-AMAZON-APIGATEWAY-ANY-METHOD", "*") else method
                routes.append(HttpRouteSpec(fn.logical_id, eid, method, props["Path"]))
    return routes


@dataclass(frozen=True)
class SqsSourceSpec:
    function_id: str
    event_id: str
    queue: Any  # intrinsic that resolves to the queue ARN
    batch_size: int
    report_batch_item_failures: bool
    enabled: bool


def sqs_sources(template: Mapping[str, Any]) -> list[SqsSourceSpec]:
    sources = []
    for fn in functions(template).values():
        for eid, event in fn.events.items():
            if event.get("Type") != "SQS":
                continue
            props = event.get("Properties") or {}
            sources.append(SqsSourceSpec(
                function_id=fn.logical_id,
                event_id=eid,
                queue=props["Queue"],
                batch_size=int(props.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                enabled=props.get("Enabled", True) not in (False, "false", "False"),
            ))
    return sources


@dataclass(frozen=True)
class ScheduleSpec:
    function_id: str
    event_id: str
    expression: str  # "rate(1 minute)" or "cron(...)"
    input: str | None  # the event's Input (a JSON string) when it sets one
    enabled: bool


def schedules(template: Mapping[str, Any]) -> list[ScheduleSpec]:
    found = []
    for fn in functions(template).values():
        for eid, event in fn.events.items():
            if event.get("Type") not in ("Schedule", "ScheduleV2"):
                continue
            props = event.get("Properties") or {}
            enabled = props.get("Enabled", True) not in (False, "false") and props.get("State", "ENABLED") != "DISABLED"
            expression = props.get("Schedule") or props.get("ScheduleExpression") or ""
            found.append(ScheduleSpec(fn.logical_id, eid, expression, props.get("Input"), enabled))
    return found
