"""Health, the OpenAPI document of the whole API, and its interactive reference (Swagger UI)."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect.api.outputs import Health, OpenApiDocument
from gitconnect.api.responses import answers

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
    """The API's routes live in several functions; the document includes every router, and the webhooks. (Built on
    first use: Powertools' OpenAPI models take longer to import than the rest of a function.)"""
    from gitconnect.api import reference

    return reference.build(_all_routers(), _webhook_paths())


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


@router.get("/v1/health", summary="Liveness", tags=["meta"], responses=answers(200, Health))
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/v1/openapi.json", summary="This API's OpenAPI document", tags=["meta"], responses=answers(200, OpenApiDocument)
)
def openapi() -> dict[str, Any]:
    return openapi_document()


@router.get(
    "/v1/docs",
    summary="The interactive API reference (Swagger UI)",
    tags=["meta"],
    responses={200: {"description": "Swagger UI", "content": {"text/html": {"schema": {"type": "string"}}}}},
    compress=True,
)
def docs() -> Response[str]:
    """Powertools' Swagger UI with the assets Powertools bundles inlined (it reaches no CDN: it works offline), on
    this document; "Authorize" takes a team token, and "Try it out" calls this API with it."""
    return Response(200, content_type="text/html; charset=utf-8", body=_swagger_page())


@cache
def _swagger_page() -> str:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    assets = Path(swagger_ui.__file__).parent
    spec = json.dumps(openapi_document()).replace("</", "<\\/")  # no `</script>` can end the page's script early
    page = swagger_ui.generate_swagger_html(
        spec,
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",  # no base URL: the assets are inlined
        None,
        persist_authorization=True,
    )
    # The page links the document it shows: ours is `openapi.json` beside it (Powertools' own route answers
    # `?format=json`, which this one does not).
    return page.replace("<title>Swagger UI</title>", "<title>gitconnect API reference</title>", 1).replace(
        'updateUrl(currentUrl.pathname + "?format=json")', 'updateUrl(new URL("openapi.json", currentUrl).pathname)', 1
    )
