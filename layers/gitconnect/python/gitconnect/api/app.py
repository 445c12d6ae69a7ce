"""One way to build a function's resolver: the routers it serves, problem+json errors, a body limit."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import observability
from gitconnect.api.auth import authenticate_event, bearer_token_of
from gitconnect.api.problems import PROBLEM_JSON, problem, validation_errors
from gitconnect.api.routes.meta import allowed_methods
from gitconnect.domain.errors import GitconnectError

MAX_BODY_BYTES = 256 * 1024
logger = observability.logger


def create_app(*routers: APIGatewayHttpRouter) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)

    # Registered by calling Powertools' (untyped) decorators, so the handlers keep their types.
    def domain_error(exc: GitconnectError) -> Response[str]:
        if exc.status >= 500:
            logger.exception("internal error")
        refused = problem(exc.status, exc.title, exc.detail, **exc.extra)
        retry_after = exc.extra.get("retry_after")
        if isinstance(retry_after, int):  # a provider's rate limit: RFC 9110's header, for clients that read it
            refused.headers["Retry-After"] = str(retry_after)
        return refused

    def unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        # AWS SDK and PynamoDB errors (recognized by module, the API layer does not import them) are a backing
        # service failing, usually throttling: worth retrying. Anything else is our bug.
        if type(exc).__module__.split(".")[0] in ("botocore", "boto3", "pynamodb"):
            detail = "a backing service failed; nothing was recorded, retry later"
            unavailable = problem(503, "Service unavailable", detail)
            unavailable.headers["Retry-After"] = "1"  # a throttled table or queue is usually free again at once
            return unavailable
        return problem(500, "Internal error", "an unexpected error occurred")

    def invalid_request(exc: RequestValidationError) -> Response[str]:
        errors = validation_errors(exc.errors())
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem(400, "Malformed JSON", "the request body is not valid JSON")
        return problem(
            400, "Invalid request", "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )

    def not_found(_: Exception) -> Response[str]:
        allowed = allowed_methods(app.current_event.path)
        if allowed:
            methods = ", ".join(allowed)
            refused = problem(405, "Method not allowed", f"this path takes {methods}")
            refused.headers["Allow"] = methods
            return refused
        return problem(404, "Not found", "no such route")

    app.exception_handler(GitconnectError)(domain_error)
    app.exception_handler(Exception)(unexpected)
    app.exception_handler(RequestValidationError)(invalid_request)
    app.not_found(not_found)

    return app


# Ids are far shorter: a longer segment names nothing of ours (and would pass DynamoDB's key size limit).
MAX_PATH_SEGMENT = 256
# Routes that authenticate with a token of their own (a build's or run's callback token, or a team token).
_CALLBACK_PATHS = re.compile(r"^/v1/(builds|runs)/[^/]+/status$")


def _refusal(status: int, title: str, detail: str) -> dict[str, Any]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return {"statusCode": status, "headers": {"Content-Type": PROBLEM_JSON}, "body": json.dumps(body)}


def _decoded_body(event: dict[str, Any]) -> str | None:
    """The body as text, or None when it is not UTF-8 (or is flagged base64 and is not)."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body)
    try:
        return base64.b64decode(str(body), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _refused_before_routing(app: APIGatewayHttpResolver, event: dict[str, Any]) -> dict[str, Any] | None:
    """Checks that need no route: who is asking, then the path's shape and the body's size, encoding and type.

    Authentication comes before body validation (Powertools validates before the route runs): a request without a
    valid token is a 401 whatever its body, and says nothing about the shape the route expects. The verified
    principal is kept in the resolver's context, so the route does not verify the token again."""
    path = str(event.get("rawPath") or "")
    try:
        if path.startswith("/v1/teams/"):
            app.append_context(principal=authenticate_event(event))
        elif _CALLBACK_PATHS.match(path):
            bearer_token_of(event)  # which token is valid depends on the record: the route checks it
    except GitconnectError as exc:
        return _refusal(exc.status, exc.title, exc.detail)
    if any(len(part) > MAX_PATH_SEGMENT or not part.isprintable() for part in map(unquote, path.split("/"))):
        return _refusal(404, "Not found", "no such resource: a path segment is too long or not printable")
    raw = event.get("body") or ""
    content_type = str((event.get("headers") or {}).get("content-type", "")).strip().lower()
    if len(raw) > MAX_BODY_BYTES * 4 // 3 + 4:  # base64 of the limit: refused before decoding anything
        return _refusal(413, "Payload too large", f"the request body is over {MAX_BODY_BYTES} bytes")
    body = _decoded_body(event)
    if body is None:
        return _refusal(400, "Malformed body", "the request body is not valid UTF-8 text")
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:  # (a lone surrogate is no reason for a 500)
        return _refusal(413, "Payload too large", f"the request body is over {MAX_BODY_BYTES} bytes")
    if body and content_type and not content_type.startswith("application/json"):
        return _refusal(415, "Unsupported media type", "send a JSON body with Content-Type: application/json")
    return None


def lambda_handler(app: APIGatewayHttpResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    @observability.lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # A builder's report names its build or run: every line of the request carries the id.
        parameters = event.get("pathParameters") or {}
        observability.bind(build_id=parameters.get("build_id"), run_id=parameters.get("run_id"))
        refused = _refused_before_routing(app, event)
        if refused is not None:
            app.clear_context()
            return refused
        if event.get("isBase64Encoded"):  # checked above: UTF-8 text, handed to the routes as such
            event = {**event, "body": _decoded_body(event), "isBase64Encoded": False}
        return app.resolve(event, context)

    return handler
