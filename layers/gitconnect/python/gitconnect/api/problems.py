"""Errors as RFC 9457 problem+json, in one place. Never a stack trace, never an echo of the input."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response[str]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body))


def validation_errors(errors: Any) -> list[dict[str, str]]:
    """Pydantic's errors without their `input` (it could be a secret the caller sent)."""
    out = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body",))
        out.append({"field": location or "body", "message": str(error.get("msg", "is not valid"))})
    return out
