"""WebhookIntakeFunction: the hot path. Raw bytes in, signature checked, delivery queued; imports little."""

import base64
import json
from typing import Any

from gitconnect import wiring


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    provider = event.get("rawPath", "").split("/")[3]  # /v1/webhooks/<provider>[/<hook_id>]: the routes fix it
    hook_id = (event.get("pathParameters") or {}).get("hook_id")
    reply = wiring.webhook_intake().receive(wiring.webhook_spec(provider), headers, raw, hook_id)
    content_type = "application/json" if reply.status < 400 else "application/problem+json"
    return {"statusCode": reply.status, "headers": {"Content-Type": content_type}, "body": json.dumps(reply.body)}
