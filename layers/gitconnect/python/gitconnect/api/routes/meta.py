"""Health, the OpenAPI document of the whole API, and a browsable page of it."""

from __future__ import annotations

import copy
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
    doc.setdefault("paths", {}).update(_webhook_paths())
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


def _webhook_paths() -> dict[str, Any]:
    """The webhook intake is deliberately not a Powertools app (it must import little): each provider's declaration
    describes its URL."""
    from gitconnect.providers import declared

    return {d.webhook.path(d.id): {"post": copy.deepcopy(dict(d.webhook.openapi))} for d in declared() if d.webhook}


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
