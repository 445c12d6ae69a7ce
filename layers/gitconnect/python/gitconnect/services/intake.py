"""Webhook intake, the hot path (DESIGN.md §3): verify the raw bytes, check size and event type, queue the raw
delivery. No provider call, no table, no KMS; 2xx only once SQS has it (a lost event is worse than a duplicate)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitconnect.providers.base import WebhookSpec

MAX_BODY_BYTES = 5 * 1024 * 1024  # API Gateway allows 10 MB; real deliveries stay far below (GitHub caps at 25 MB)
INLINE_BODY_BYTES = 200 * 1024  # larger bodies travel gzipped, to stay under SQS's message size limit
MAX_MESSAGE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Secrets:
    """The secrets a delivery may be signed with; `version` names a per-hook secret's generation (the router
    refuses a delivery verified with a generation that was regenerated since)."""

    values: Sequence[str]
    version: int | None = None


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, object]


def problem(status: int, title: str, detail: str) -> Reply:
    return Reply(status, {"type": "about:blank", "title": title, "status": status, "detail": detail})


class WebhookIntake:
    def __init__(
        self,
        enqueue: Callable[[str], None],
        secrets: Callable[[str, str | None, bool], Secrets | None],
        clock: Callable[[], str],
    ) -> None:
        """`secrets(provider, hook_id, fresh)`: the secrets to verify with; `fresh` asks past any cache (after a
        failed check, so a regenerated secret is accepted at once; the lookup itself bounds how often)."""
        self._enqueue = enqueue
        self._secrets = secrets
        self._clock = clock

    def receive(self, spec: WebhookSpec, headers: Mapping[str, str], body: bytes, hook_id: str | None = None) -> Reply:
        """`headers` with lower-case names; `body` exactly the bytes the provider signed."""
        if len(body) > MAX_BODY_BYTES:
            return problem(413, "Payload too large", f"the delivery is over {MAX_BODY_BYTES} bytes")
        secrets = self._secrets(spec.provider, hook_id, False)
        if secrets is None:
            return problem(404, "Not found", "no such webhook: it was removed, or never registered by gitconnect")
        if not spec.verify(headers, body, secrets.values) and hook_id is not None:
            secrets = self._secrets(spec.provider, hook_id, True) or secrets
        if not spec.verify(headers, body, secrets.values):
            return problem(401, "Unauthorized", "the delivery's signature is missing or does not match")
        event = headers.get(spec.event_header, "").strip()
        delivery_id = spec.delivery_id(headers)
        if not event or not delivery_id:
            return problem(
                400, "Bad request", f"the {spec.event_header} and {spec.delivery_header} headers are required"
            )
        try:
            payload = json.loads(body)
        except ValueError:
            return problem(400, "Malformed JSON", "the delivery body is not valid JSON")
        if not isinstance(payload, dict):
            return problem(400, "Bad request", "the delivery body is not a JSON object")
        if event in spec.ping_events:
            return Reply(200, {"ok": True, "event": event})
        meta = json.dumps(
            {
                "provider": spec.provider,
                "delivery_id": delivery_id,
                "event": event,
                "hook_id": hook_id,
                "secret_version": secrets.version,
                "received_at": self._clock(),
            },
            separators=(",", ":"),
        )
        text = _with_payload(meta, body)
        if len(text) > MAX_MESSAGE_BYTES:
            return problem(413, "Payload too large", "the delivery does not fit a queue message even compressed")
        self._enqueue(text)
        return Reply(202, {"accepted": True, "delivery_id": delivery_id})


def _with_payload(meta: str, body: bytes) -> str:
    """The queue message: the metadata object with the delivery inside. The body was just parsed as a JSON object,
    so its own UTF-8 text is embedded as is (re-encoding it as an escaped string cost a quarter of the intake's
    CPU); bodies too big for that, or not UTF-8, travel gzipped."""
    if len(body) <= INLINE_BODY_BYTES:
        try:
            return f'{meta[:-1]},"payload":{body.decode("utf-8")}}}'
        except UnicodeDecodeError:
            pass
    return f'{meta[:-1]},"body_gzip":"{base64.b64encode(gzip.compress(body, 6)).decode()}"}}'


def delivery_payload(message: Mapping[str, Any]) -> Any:
    """The delivery's parsed JSON back from a queued message."""
    if "body_gzip" in message:
        return json.loads(gzip.decompress(base64.b64decode(str(message["body_gzip"]))))
    return message["payload"]
