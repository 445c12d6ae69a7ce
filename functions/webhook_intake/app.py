"""WebhookIntakeFunction: the hot path. Raw bytes in, signature checked, delivery queued; imports little."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from gitconnect import observability, wiring
from gitconnect.services.intake import refused

if TYPE_CHECKING:
    from gitconnect.services.intake import Reply


# Neither traced nor wrapped by observability.lambda_handler, and an accepted delivery writes no metric: each cost
# more CPU than DESIGN.md §8 leaves (README "Observability": measured by `make bench`). API Gateway's route metrics
# count what each provider's route received and answered; a refusal is counted here, per provider and reason.
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parts = (event.get("rawPath") or "").split("/")
    provider = parts[3] if len(parts) > 3 else ""  # /v1/webhooks/<provider>[/<hook_id>] (template.yaml)
    reply = receive(event, provider)
    if reply.status >= 400:
        refused(observability.metrics, provider, reply)
    return respond(reply)


def receive(event: dict[str, Any], provider: str) -> Reply:
    intake = wiring.webhook_intake()
    hook_id = (event.get("pathParameters") or {}).get("hook_id")
    webhook = wiring.webhook(provider)  # the provider's declared webhook; None for a provider that takes none
    if webhook is None or (webhook.per_hook and not intake.plausible_hook_id(hook_id)):
        return intake.unknown_hook()  # no hook of ours has such an id: answered before any table read
    # Header names come in lower case: API Gateway's payload format 2.0 writes them so (and infra/local/apigw).
    return intake.receive(wiring.webhook_spec(provider), event.get("headers") or {}, _body(event), hook_id)


def _body(event: dict[str, Any]) -> bytes | None:
    """The bytes the provider sent (and signed); None when API Gateway's event cannot give them back."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        return None
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):  # not base64, or not even ASCII
            return None
    return body.encode("utf-8", "surrogatepass")  # a lone surrogate stays a byte sequence the intake refuses


def respond(reply: Reply) -> dict[str, Any]:
    content_type = "application/json" if reply.status < 400 else "application/problem+json"
    body = reply.text if reply.text is not None else json.dumps(reply.body)
    return {"statusCode": reply.status, "headers": {"Content-Type": content_type}, "body": body}
