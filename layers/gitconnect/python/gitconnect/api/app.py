"""One way to build a function's resolver: the routers it serves, problem+json errors, a body limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect.api.problems import PROBLEM_JSON, problem, validation_errors
from gitconnect.domain.errors import GitconnectError

MAX_BODY_BYTES = 256 * 1024
logger = Logger()


def create_app(*routers: APIGatewayHttpRouter) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)

    @app.exception_handler(GitconnectError)
    def domain_error(exc: GitconnectError) -> Response:
        if exc.status >= 500:
            logger.exception("internal error")
        return problem(exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        # AWS SDK and PynamoDB errors (recognized by module, the API layer does not import them) are a backing
        # service failing, usually throttling: worth retrying. Anything else is our bug.
        if type(exc).__module__.split(".")[0] in ("botocore", "boto3", "pynamodb"):
            return problem(503, "Service unavailable", "a backing service failed; nothing was recorded, retry later")
        return problem(500, "Internal error", "an unexpected error occurred")

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response:
        errors = validation_errors(exc.errors())
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem(400, "Malformed JSON", "the request body is not valid JSON")
        return problem(
            400, "Invalid request", "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )

    @app.not_found
    def not_found(_: Exception) -> Response:
        return problem(404, "Not found", "no such route")

    return app


def _refused_before_routing(event: dict[str, Any]) -> dict[str, Any] | None:
    """Checks that need no parsing: an oversized body, or a body that is not JSON (the API speaks only JSON; a
    form-encoded body would otherwise surface as a confusing field error)."""
    body = event.get("body") or ""
    content_type = str((event.get("headers") or {}).get("content-type", "")).strip().lower()
    if len(body) > MAX_BODY_BYTES:
        status, title, detail = 413, "Payload too large", f"the request body is over {MAX_BODY_BYTES} bytes"
    elif body and content_type and not content_type.startswith("application/json"):
        status, title, detail = 415, "Unsupported media type", "send a JSON body with Content-Type: application/json"
    else:
        return None
    return {
        "statusCode": status,
        "headers": {"Content-Type": PROBLEM_JSON},
        "body": json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}),
    }


def lambda_handler(app: APIGatewayHttpResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return _refused_before_routing(event) or app.resolve(event, context)

    return handler
