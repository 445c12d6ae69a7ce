"""The OpenAPI document of the whole API: what Powertools generates from every router (each route's own answers,
`gitconnect.api.responses.answers`), completed with what routes share, from the rules that answer it:

- the security of each path (`auth.TEAM_API`: a team JWT; `auth.CALLBACK_PATHS`: a callback token or a team JWT),
  and with it 401 and 403;
- 400, 413 and 415 for a request body (`api.app` refuses before routing; Powertools' validation errors are mapped to
  a 400 problem, so no operation documents Powertools' `HTTPValidationError` 422), 400 for query and header
  parameters, 404 for path parameters, 503 for every route that reads a table;
- every 4xx and 5xx as application/problem+json, with the `Problem` schema."""

from __future__ import annotations

import copy
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, SecurityScheme
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic.json_schema import models_json_schema

from gitconnect.api.auth import CALLBACK_PATHS, TEAM_API
from gitconnect.api.idempotency import MARK
from gitconnect.api.outputs import InvalidRequest, Problem
from gitconnect.api.problems import PROBLEM_JSON

DESCRIPTION = """Link Git accounts, watch repositories, turn pushes into build requests.

**Authorization.** Every `/v1/teams/…` operation takes `Authorization: Bearer <JWT>` (the platform's team token;
`bearerAuth`); a builder's or runner's status callback takes the callback token of its `BuildRequested` /
`RunRequested` event (`callbackToken`) or a team token. Health, this document, the docs page, the webhooks and the
OAuth callbacks take none.

**What this document guarantees.** Every operation lists every status it answers and the schema of each body:
201 (created), 202 (requested, not done) and 204 (no body) where it answers them; errors are
`application/problem+json` (RFC 9457: `type`, `title`, `status`, `detail`; a 400 adds `errors`, one per field).
A body, query or path value that is not valid is a **400** problem, never a 422 `HTTPValidationError`; 422 means a
well-formed request the current state refuses (e.g. credentials the provider rejects). The test suite sends real
requests to the API and checks every answer against this document."""

SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    "bearerAuth": HTTPBearer(bearerFormat="JWT", description="The platform's team token (RS256 JWT)."),
    "callbackToken": HTTPBearer(description="The `callback_token` of a BuildRequested or RunRequested event."),
}
TEAM_TOKEN: list[dict[str, list[str]]] = [{"bearerAuth": []}]
CALLBACK_TOKEN: list[dict[str, list[str]]] = [{"callbackToken": []}, {"bearerAuth": []}]
_UNTABLED = ("/v1/health", "/v1/openapi.json", "/v1/docs")  # answered from memory: no backing service to fail
_POWERTOOLS_422 = "#/components/schemas/HTTPValidationError"


def build(routers: list[APIGatewayHttpRouter], webhooks: dict[str, Any]) -> dict[str, Any]:
    """The document of `routers` and the webhook `paths`. Including a router rebinds it to the including resolver,
    so each router's own resolver is restored afterwards."""
    owners = [r.api_resolver for r in routers]
    try:
        doc_app = APIGatewayHttpResolver(enable_validation=True)
        for r in routers:
            doc_app.include_router(r)
        text = doc_app.get_openapi_json_schema(
            title="gitconnect", version="1", description=DESCRIPTION, security_schemes=SECURITY_SCHEMES
        )
    finally:
        for r, owner in zip(routers, owners, strict=True):
            r.api_resolver = owner
    doc: dict[str, Any] = json.loads(text)
    doc.setdefault("paths", {}).update(copy.deepcopy(webhooks))
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    # Powertools' 422 and response-validation bodies: this API answers a 400 problem, and validates no responses
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    _, problems = models_json_schema(
        [(Problem, "serialization"), (InvalidRequest, "serialization")], ref_template="#/components/schemas/{model}"
    )
    schemas.update(problems["$defs"])
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            _complete(path, operation)
    return doc


def _refusal(description: str, schema: str = "Problem") -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _complete(path: str, operation: dict[str, Any]) -> None:
    from gitconnect.api.app import MAX_BODY_BYTES  # (the app module imports this one's callers)

    answers: dict[str, Any] = operation.setdefault("responses", {})
    ref = answers.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    if ref == _POWERTOOLS_422:
        del answers["422"]
    key_pattern = operation.pop(MARK, None)
    if key_pattern is not None:
        operation.setdefault("parameters", []).append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Retried with the key of a request that succeeded: that first answer again, nothing "
                "created twice (kept a day); with another body: 422; while the first still runs: 409",
                "schema": {"type": "string", "pattern": f"^{key_pattern}$"},
            }
        )
    where = {p.get("in") for p in operation.get("parameters", [])}
    shared: dict[str, dict[str, Any]] = {}
    if path.startswith(TEAM_API):
        operation["security"] = TEAM_TOKEN
    elif CALLBACK_PATHS.match(path):
        operation["security"] = CALLBACK_TOKEN
    if "security" in operation:
        shared["401"] = _refusal("No bearer token, or not a valid one")
        shared["403"] = _refusal("The token's user is not a member of the team, or not an admin where one must be")
    if "requestBody" in operation or where & {"query", "header"}:
        what = "body" if "requestBody" in operation else "request"
        shared["400"] = _refusal(f"The {what} is not valid (`errors` names each field and why)", "InvalidRequest")
    if "requestBody" in operation:
        shared["413"] = _refusal(f"The body is over {MAX_BODY_BYTES} bytes")
        shared["415"] = _refusal("A body that is not `Content-Type: application/json`")
    if "path" in where:
        shared["404"] = _refusal("No such record of the team (or a path segment that names nothing)")
    if path not in _UNTABLED and not path.startswith("/v1/webhooks/"):
        shared["503"] = _refusal("A backing service or the provider's rate limit: retry after `Retry-After`")
    for status, response in shared.items():
        answers.setdefault(status, response)  # a route's own description of the status comes first
    for status, response in answers.items():
        if response.get("content") == {}:  # `answers(204, None)`: no body
            del response["content"]
        if int(status) >= 400 and "content" not in response:  # the webhooks' declarations: answered as problems
            response["content"] = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    operation["responses"] = dict(sorted(answers.items()))
