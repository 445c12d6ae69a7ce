"""gitconnect.api.reference on a router of its own: what the document adds to each operation follows the rules that
answer the requests (the path's token, a body, query and path parameters), and a route's own answers come first."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from gitconnect.api import reference
from gitconnect.api.outputs import Health
from gitconnect.api.responses import answers

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


class ThingIn(BaseModel):
    name: str


def toy_document() -> dict[str, Any]:
    router = APIGatewayHttpRouter()

    @router.post("/v1/teams/<team>/things", responses=answers(201, Health, {409: "the thing exists"}))
    def create(team: str, body: Annotated[ThingIn, Body()]) -> dict[str, object]:
        return {}

    @router.get("/v1/teams/<team>/things", responses=answers(200, Health))
    def listing(team: str, limit: Annotated[int, Query(ge=1)] = 1) -> dict[str, object]:
        return {}

    @router.delete("/v1/teams/<team>/things/<thing>", responses=answers(204, None))
    def remove(team: str, thing: str) -> Response[None]:
        return Response(204)

    @router.post("/v1/builds/<build_id>/status", responses=answers(200, Health))
    def report(build_id: str, body: Annotated[ThingIn, Body()]) -> dict[str, object]:
        return {}

    @router.get("/v1/health", responses=answers(200, Health))
    def health() -> dict[str, object]:
        return {}

    webhook = {"post": {"responses": {"202": {"description": "queued"}, "401": {"description": "bad signature"}}}}
    return reference.build([router], {"/v1/webhooks/toy": webhook})


def test_each_operation_gets_the_refusals_its_shape_can_answer() -> None:
    paths = toy_document()["paths"]
    create = paths["/v1/teams/{team}/things"]["post"]
    assert create["security"] == [{"bearerAuth": []}]
    assert sorted(create["responses"]) == ["201", "400", "401", "403", "404", "409", "413", "415", "503"]
    assert create["responses"]["409"]["description"] == "the thing exists"  # the route's own description
    assert create["responses"]["400"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/InvalidRequest"}
    created = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/Health"}
    listing = paths["/v1/teams/{team}/things"]["get"]
    assert sorted(listing["responses"]) == ["200", "400", "401", "403", "404", "503"]  # a query: 400; no body
    remove = paths["/v1/teams/{team}/things/{thing}"]["delete"]
    assert sorted(remove["responses"]) == ["204", "401", "403", "404", "503"]
    assert "content" not in remove["responses"]["204"]
    assert paths["/v1/builds/{build_id}/status"]["post"]["security"] == [{"callbackToken": []}, {"bearerAuth": []}]
    health = paths["/v1/health"]["get"]
    assert "security" not in health and sorted(health["responses"]) == ["200"]
    hook = paths["/v1/webhooks/toy"]["post"]
    assert "security" not in hook and hook["responses"]["401"]["content"] == PROBLEM
    assert "content" not in hook["responses"]["202"]


def test_no_powertools_validation_error_is_left() -> None:
    doc = toy_document()
    assert all("422" not in op["responses"] for ops in doc["paths"].values() for op in ops.values())
    schemas = doc["components"]["schemas"]
    assert not {"HTTPValidationError", "ValidationError", "ResponseValidationError"} & set(schemas)
    assert {"Problem", "InvalidRequest", "FieldError", "Health", "ThingIn"} <= set(schemas)
    assert doc["components"]["securitySchemes"]["bearerAuth"]["bearerFormat"] == "JWT"


def test_the_idempotency_key_is_documented_on_exactly_the_routes_that_take_it() -> None:
    """A route answering through `idempotency.once` lists the header; no other does (the mark cannot drift)."""
    import inspect

    from gitconnect.api.routes import builds, connections, deliveries, listing, meta, oauth, sources, templates

    modules = (builds, connections, deliveries, listing, meta, oauth, sources, templates)
    taking = {name for m in modules for name, f in inspect.getmembers(m, inspect.isfunction)
              if f.__module__ == m.__name__ and "once" in f.__code__.co_names}
    documented = {
        op["operationId"].split("_v1_", 1)[0]
        for ops in meta.openapi_document()["paths"].values()
        for op in ops.values()
        if any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op.get("parameters", []))
    }
    assert taking == documented == {"link", "create_source", "trigger"}
