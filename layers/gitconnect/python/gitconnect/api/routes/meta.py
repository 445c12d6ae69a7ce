"""Health, the OpenAPI document of the whole API, and a browsable page of it."""

from __future__ import annotations

import html
import json
import re
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

router = APIGatewayHttpRouter()


def _all_routers() -> list[APIGatewayHttpRouter]:
    from gitconnect.api.routes import builds, connections, deliveries, listing, oauth, sources, templates

    return [
        router,
        connections.router,
        sources.router,
        builds.router,
        deliveries.router,
        listing.router,
        oauth.router,
        templates.router,
    ]


@cache
def openapi_document() -> dict[str, Any]:
    """The API's routes live in several functions; the document includes every router. Including a router
    rebinds it to the including resolver, so each router's own resolver is restored afterwards."""
    routers = _all_routers()
    owners = [r.api_resolver for r in routers]
    try:
        doc_app = APIGatewayHttpResolver(enable_validation=True)
        for r in routers:
            doc_app.include_router(r)
        text = doc_app.get_openapi_json_schema(
            title="gitconnect",
            version="1",
            description="Link Git accounts, watch repositories, turn pushes into build requests. "
            "Team endpoints need `Authorization: Bearer <JWT>`; errors are application/problem+json.",
        )
    finally:
        for r, owner in zip(routers, owners, strict=True):
            r.api_resolver = owner
    doc: dict[str, Any] = json.loads(text)
    doc.setdefault("paths", {}).update(_WEBHOOK_PATHS)
    return doc


@cache
def _path_patterns() -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
    doc = openapi_document()
    return [
        (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), tuple(m.upper() for m in ops))
        for path, ops in doc.get("paths", {}).items()
    ]


def allowed_methods(path: str) -> list[str]:
    """The methods the whole API (every function's routes) takes on `path`; empty when the path is unknown."""
    return sorted({m for pattern, methods in _path_patterns() if pattern.match(path) for m in methods})


# The webhook intake is deliberately not a Powertools app (it must import little); its route is described here.
_WEBHOOK_PATHS: dict[str, Any] = {
    "/v1/webhooks/github": {
        "post": {
            "summary": "The GitHub App's webhook URL",
            "tags": ["webhooks"],
            "description": "Verified with X-Hub-Signature-256 (HMAC-SHA256 over the raw body; the previous secret "
            "is accepted while rotating). X-GitHub-Event and X-GitHub-Delivery are required. Answers 202 once the "
            "delivery is queued (duplicates and ignored events too), 200 for ping, 401 for a missing or wrong "
            "signature, 400 for malformed JSON, 413 over 5 MiB.",
            "parameters": [
                {"name": "X-GitHub-Event", "in": "header", "required": True, "schema": {"type": "string"}},
                {"name": "X-GitHub-Delivery", "in": "header", "required": True, "schema": {"type": "string"}},
                {"name": "X-Hub-Signature-256", "in": "header", "required": True, "schema": {"type": "string"}},
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "200": {"description": "ping answered"},
                "202": {"description": "queued for routing"},
                "400": {"description": "malformed delivery"},
                "401": {"description": "missing or wrong signature"},
                "413": {"description": "body over the limit"},
            },
        }
    },
    "/v1/webhooks/gitlab/{hook_id}": {
        "post": {
            "summary": "A GitLab project hook gitconnect registered",
            "tags": ["webhooks"],
            "description": "Verified by comparing X-Gitlab-Token with the hook's own secret in constant time. "
            "X-Gitlab-Event and Idempotency-Key or X-Gitlab-Event-UUID are required. 202 once queued (duplicates and "
            "ignored events too), 401 for a wrong token, 404 for an unknown hook, 400 malformed, 413 over 5 MiB.",
            "parameters": [
                {"name": "hook_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "X-Gitlab-Token", "in": "header", "required": True, "schema": {"type": "string"}},
                {"name": "X-Gitlab-Event", "in": "header", "required": True, "schema": {"type": "string"}},
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "202": {"description": "queued for routing"},
                "400": {"description": "malformed delivery"},
                "401": {"description": "wrong or missing token"},
                "404": {"description": "no such hook"},
                "413": {"description": "body over the limit"},
            },
        }
    },
    "/v1/webhooks/bitbucket/{hook_id}": {
        "post": {
            "summary": "A Bitbucket Cloud repository webhook gitconnect registered",
            "tags": ["webhooks"],
            "description": "Verified with X-Hub-Signature (`sha256=` HMAC-SHA256 over the raw body with the hook's own "
            "secret, compared in constant time). X-Event-Key and X-Request-UUID (the delivery id, kept across retries) "
            "are required. 202 once queued (duplicates and ignored events too), 401 for a missing or wrong signature, "
            "404 for an unknown hook, 400 malformed, 413 over 5 MiB.",
            "parameters": [
                {"name": "hook_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "X-Hub-Signature", "in": "header", "required": True, "schema": {"type": "string"}},
                {"name": "X-Event-Key", "in": "header", "required": True, "schema": {"type": "string"}},
                {"name": "X-Request-UUID", "in": "header", "required": True, "schema": {"type": "string"}},
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "202": {"description": "queued for routing"},
                "400": {"description": "malformed delivery"},
                "401": {"description": "missing or wrong signature"},
                "404": {"description": "no such hook"},
                "413": {"description": "body over the limit"},
            },
        }
    },
}


@router.get("/v1/health", summary="Liveness", tags=["meta"])
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/openapi.json", summary="This API's OpenAPI document", tags=["meta"])
def openapi() -> dict[str, Any]:
    return openapi_document()


@router.get("/v1/docs", summary="A browsable page of the API", tags=["meta"])
def docs() -> Response[str]:
    """Rendered on the server so it works without reaching any CDN."""
    doc = openapi_document()
    rows = []
    for path, operations in sorted(doc.get("paths", {}).items()):
        for method, op in operations.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            params = ", ".join(p["name"] for p in op.get("parameters", []) if p.get("in") == "query")
            rows.append(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                    method.upper(),
                    html.escape(path),
                    html.escape(op.get("summary", "")),
                    html.escape(params),
                    f"<code>{html.escape(body.get('$ref', '').rsplit('/', 1)[-1])}</code>" if body else "",
                )
            )
    schemas = "".join(
        f"<h3 id='{html.escape(name)}'>{html.escape(name)}</h3><pre>{html.escape(json.dumps(schema, indent=2))}</pre>"
        for name, schema in sorted(doc.get("components", {}).get("schemas", {}).items())
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>gitconnect API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:4px 10px;border-bottom:1px solid #ddd}"
        "pre{background:#f6f6f6;padding:8px}</style></head><body>"
        f"<h1>gitconnect API</h1><p>{html.escape(doc['info'].get('description', ''))}</p>"
        "<p>Machine-readable: <a href='/v1/openapi.json'>/v1/openapi.json</a></p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>query</th><th>body</th></tr>"
        + "".join(rows)
        + f"</table><h2>Schemas</h2>{schemas}</body></html>"
    )
    return Response(200, content_type="text/html; charset=utf-8", body=page)
