"""A verified delivery on its way from the intake to the router: the one queue message format (DESIGN.md §3).

The message is one JSON object: the metadata (`provider`, `delivery_id`, `event`, `hook_id`, `secret_version`,
`received_at`, in that order), then the body, either as `payload` (the provider's bytes as they came: JSON embedded in
JSON, never parsed and written again) or as `body_gzip` (base64 of the gzipped bytes). Messages already on a queue
keep decoding: this is the format the intake has always written.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass, field
from functools import cached_property
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

INLINE_BODY_BYTES = 200 * 1024  # larger bodies travel gzipped, to stay under SQS's message size limit


@dataclass(frozen=True)
class DeliveryMeta:
    """What is known of a verified delivery besides its body."""

    provider: str
    delivery_id: str
    event: str
    hook_id: str | None  # the per-hook URL it came to (GitLab, Bitbucket); None for an app-wide URL (GitHub)
    secret_version: int | None  # the generation of the hook's secret it was verified with
    received_at: str

    @property
    def idempotency_key(self) -> tuple[str, str | None, str]:
        """Which messages are one delivery (a provider retry, a redelivery, SQS at-least-once). The hook is part of
        it: one GitLab event fires every hook of a project with the same event UUID, and each feeds its own source.
        (Hashed as the list `[provider, hook_id, delivery_id]`, the key idempotency records have always had.)"""
        return (self.provider, self.hook_id, self.delivery_id)


@dataclass(frozen=True)
class QueuedDelivery(DeliveryMeta):
    """A delivery read back from the queue (`decode`). Exactly one of `embedded` and `gzipped` holds the body."""

    embedded: Any = field(default=None, repr=False)  # the `payload` member: the body's JSON, parsed with the message
    gzipped: str | None = field(default=None, repr=False)  # the `body_gzip` member

    @cached_property
    def payload(self) -> Any:
        """The delivery's parsed JSON (a gzipped body is decompressed and parsed on first use only)."""
        if self.gzipped is not None:
            return json.loads(gzip.decompress(base64.b64decode(self.gzipped)))
        return self.embedded


def encode(
    provider: str,
    delivery_id: str,
    event: str,
    hook_id: str | None,
    secret_version: int | None,
    received_at: str,
    body: bytes,
    text: str | None = None,
) -> str:
    """The queue message for a delivery's metadata (DeliveryMeta's fields, in its order: the intake passes them as
    they are, for a DeliveryMeta would cost as much as the rest of this) and `body`, the bytes of one JSON object the
    caller has parsed and checked (the intake: no NaN, no lone surrogate, not too deep), which the message then
    carries as they are.

    `text` is the body already decoded as UTF-8 when the caller has it (the intake parsed exactly that text), else
    None and the body is decoded here. Plain UTF-8 text up to INLINE_BODY_BYTES is embedded as is (re-encoding it as
    an escaped string cost a quarter of the intake's CPU); a body too big for that, with a BOM, in UTF-16/32, or with a
    character SQS refuses (U+FFFE, U+FFFF) travels gzipped."""
    if text is None:
        text = _plain_text(body)
    head = (  # what json.dumps(..., separators=(",", ":")) writes, for a seventh of its CPU, without the closing brace
        f'{{"provider":{_quote(provider)},"delivery_id":{_quote(delivery_id)},"event":{_quote(event)},'
        f'"hook_id":{"null" if hook_id is None else _quote(hook_id)},'
        f'"secret_version":{"null" if secret_version is None else int(secret_version)},'
        f'"received_at":{_quote(received_at)}'
    )
    if text is not None and len(body) <= INLINE_BODY_BYTES and not (
        b"\xef" in body and (b"\xef\xbf\xbe" in body or b"\xef\xbf\xbf" in body)
    ):
        return f'{head},"payload":{text}}}'
    return f'{head},"body_gzip":"{base64.b64encode(gzip.compress(body, 6)).decode()}"}}'


def _plain_text(body: bytes) -> str | None:
    """The body as UTF-8 text, or None when it is not plain UTF-8 JSON text (undecodable, a BOM, or UTF-16/32, which
    put a NUL in the first two bytes): what `json.loads` reads there is not that text."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if text.startswith("\ufeff") or b"\x00" in body[:2] else text


def decode(message: str | bytes) -> QueuedDelivery:
    """A queue message `encode` wrote (or the intake, before `encode` existed: the format is the same)."""
    fields = json.loads(message)
    if not isinstance(fields, dict):
        raise ValueError("a queued delivery is a JSON object")
    gzipped = fields.get("body_gzip")
    if gzipped is None and "payload" not in fields:
        raise ValueError("a queued delivery without a body")
    hook_id, version = fields.get("hook_id"), fields.get("secret_version")
    return QueuedDelivery(
        provider=str(fields["provider"]),
        delivery_id=str(fields["delivery_id"]),
        event=str(fields["event"]),
        hook_id=str(hook_id) if hook_id else None,
        secret_version=version if isinstance(version, int) and not isinstance(version, bool) else None,
        received_at=str(fields.get("received_at") or ""),
        embedded=fields.get("payload"),
        gzipped=None if gzipped is None else str(gzipped),
    )
