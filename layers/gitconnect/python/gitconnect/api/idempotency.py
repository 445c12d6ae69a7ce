"""`Idempotency-Key` on the API's creating requests: a client retrying `POST …/connections`, `…/sources` or
`…/builds` with the key of a request that succeeded gets that first answer again, and nothing is created twice.

Powertools idempotency over the idempotency table: the record's key is the team, the operation and the client's key;
the request body is validated against the first one's (the same key with another body is a 422). A request that failed
keeps no record, so its retry runs again; one still running answers 409."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.domain.errors import BadRequestError, ConflictError, UnprocessableError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

HEADER = "idempotency-key"
KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII without spaces, as clients generate them (UUIDs, ULIDs)
# A route that answers through `once` says so with `openapi_extensions=DOCUMENTED`: the document then lists the header
# (gitconnect.api.reference turns the mark into the parameter).
MARK = "x-gitconnect-idempotency-key"
DOCUMENTED = {MARK: KEY.pattern}
RETENTION_SECONDS = 24 * 3600  # a client retries within minutes; a day is the common promise (Stripe's too)

Answer = Callable[[], Response[Any]]


def idempotency_key(router: APIGatewayHttpRouter) -> str | None:
    headers = router.current_event.raw_event.get("headers") or {}
    key = next((str(v) for k, v in headers.items() if k.lower() == HEADER), None)
    if key is None:
        return None
    if KEY.fullmatch(key) is None:
        raise BadRequestError("Idempotency-Key is 1 to 255 printable characters without spaces")
    return key


def once(router: APIGatewayHttpRouter, team: str, operation: str, body: object, answer: Answer) -> Response[Any]:
    """`answer()`, or the answer the first request with this request's Idempotency-Key got."""
    key = idempotency_key(router)
    if key is None:
        return answer()
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    request = {"team": team, "operation": operation, "key": key, "body": body}
    remembered, config = _remembered()
    if router.lambda_context is not None:
        config.register_lambda_context(router.lambda_context)  # an in-progress record expires with the invocation
    try:
        first = remembered(request=request, answer=answer)
    except IdempotencyValidationError as exc:
        raise UnprocessableError("this Idempotency-Key was used with another request body") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise ConflictError("a request with this Idempotency-Key is still in progress: retry shortly") from exc
    return Response(first["status"], content_type="application/json", body=first["body"])


@cache
def _remembered() -> tuple[Callable[..., dict[str, Any]], IdempotencyConfig]:
    """The idempotent call, made on first use (the persistence layer opens a DynamoDB client)."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(
        event_key_jmespath="[team, operation, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=RETENTION_SECONDS,
        raise_on_no_idempotency_key=True,
    )

    @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools' decorator has no annotations
        data_keyword_argument="request", config=config, persistence_store=wiring.idempotency_store()
    )
    def first_answer(request: dict[str, Any], answer: Answer) -> dict[str, Any]:
        response = answer()
        return {"status": response.status_code, "body": response.body}

    return first_answer, config
