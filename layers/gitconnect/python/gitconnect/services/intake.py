"""Webhook intake, the hot path (DESIGN.md §3): verify the raw bytes, check size, headers and body, queue the raw
delivery. No provider call, no table, no KMS; 2xx only once SQS has it (a lost event is worse than a duplicate).

Whatever a request holds, the answer is a 2xx or a 4xx problem (DESIGN.md §4, §9): only our own outage (the queue, a
secret lookup) may be a 5xx. The order is fixed: size, signature (401 whatever the body), headers, body. What is
queued is what the router can read back and store: a delivery id that fits a table key, an event name of printable
ASCII, and a JSON object nested at most MAX_DEPTH deep with neither NaN/Infinity nor a lone UTF-16 surrogate."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from gc import is_tracked as _is_tracked
from json.encoder import encode_basestring_ascii as _quote
from typing import TYPE_CHECKING, Any, NamedTuple

from gitconnect.domain.deliveries import encode
from gitconnect.providers.base import WebhookSpec

if TYPE_CHECKING:
    from gitconnect.services.ports import Metrics

MAX_BODY_BYTES = 5 * 1024 * 1024  # API Gateway allows 10 MB; real deliveries stay far below (GitHub caps at 25 MB)
MAX_MESSAGE_BYTES = 256 * 1024
MAX_DELIVERY_ID = 128  # GitHub GUIDs, GitLab and Bitbucket UUIDs are 36 (38 in braces)
MAX_EVENT = 64  # the longest real names are ~30 ("pull_request_review_thread", "Merge Request Hook")
MAX_DEPTH = 128  # real payloads nest ~10 deep; this keeps far from the recursion limit of whoever parses it next

# A delivery id becomes part of the delivery log's sort key (`received_at#id#connection`, at most 1 024 bytes): no `#`,
# no `,` (repeated headers arrive joined with commas), no space or control character.
_DELIVERY_ID = re.compile(rf"[A-Za-z0-9._:@+=~{{}}-]{{1,{MAX_DELIVERY_ID}}}")
_EVENT = re.compile(rf"[ -~]{{1,{MAX_EVENT}}}")  # printable ASCII (GitLab's names have spaces: "Push Hook")
# Per-hook URLs carry `domain.ids.new_id("hook")`: `hook_` then 26 characters of lower-case Crockford base32.
HOOK_ID = re.compile(r"hook_[0-9a-hjkmnp-tv-z]{26}")
# What may decode to a lone surrogate: a high `\ud800`-`\udbff` escape not followed by a low one, a low
# `\udc00`-`\udfff` escape not preceded by a high one, or such an escape after a backslash (`\\ud83d`: maybe an escaped
# backslash, then text). A surrogate pair (an emoji: `\ud83d\ude00`) matches none, so real payloads with emoji escapes
# skip the exact check (a json.dumps of the whole payload: most of such a delivery's CPU). The cheap test before it is
# a memchr for a backslash.
# Every alternative starts at the backslash (a literal first byte keeps the search a fast scan; a leading lookbehind
# made it try every position: 90 µs on a 2.6 KB body).
_SURROGATE_ESCAPE = re.compile(
    rb"\\(?:u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\)u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|\\u[dD][89a-fA-F])"
)


@dataclass(frozen=True)
class Secrets:
    """The secrets a delivery may be signed with; `version` names a per-hook secret's generation (the router
    refuses a delivery verified with a generation that was regenerated since)."""

    values: Sequence[str]
    version: int | None = None


class Reply(NamedTuple):  # a tuple: half the CPU of a frozen dataclass, built once per delivery
    status: int
    body: dict[str, object]
    text: str | None = None  # `body` as json.dumps writes it, when the hot path wrote it itself (a tenth of the CPU)


def problem(status: int, title: str, detail: str) -> Reply:
    return Reply(status, {"type": "about:blank", "title": title, "status": status, "detail": detail})


def refused(metrics: Metrics, provider: str, reply: Reply) -> None:
    """A refused delivery, counted (DeliveriesRefused per provider and reason, the problem's title) and written now:
    the intake's handler has no end-of-invocation flush (functions/webhook_intake/app.py)."""
    metrics.count("DeliveriesRefused", provider=provider or "none", reason=str(reply.body.get("title")))
    metrics.flush()


def unknown_hook() -> Reply:
    return problem(404, "Not found", "no such webhook: it was removed, or never registered by gitconnect")


def plausible_hook_id(hook_id: object) -> bool:
    """Whether `hook_id` has the shape of an id gitconnect mints: anything else is a 404 before any table read."""
    return isinstance(hook_id, str) and HOOK_ID.fullmatch(hook_id) is not None


class _Malformed(ValueError):
    """A body that parses but must not be queued; its message is the problem's detail."""


def _no_constant(name: str) -> Any:
    raise _Malformed(f"the delivery body has {name}, which JSON does not allow")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Malformed("the delivery body has a number out of range")
    return value


# json.loads(str) is this same decoder's decode(); the hooks run only for NaN/Infinity and for floats.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
# What decode() runs between its two whitespace matches: the C scanner JSONDecoder.__init__ sets (typeshed omits it).
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_JSON_WHITESPACE = " \t\n\r"  # RFC 8259's four; json.decoder's WHITESPACE


def _loads(text: str) -> Any:
    """`_DECODER.decode(text)`, calling its scanner directly when the text starts with the value and ends with it or
    with whitespace (every real delivery): a tenth of a small delivery's parse is decode()'s two regex matches."""
    try:
        payload, end = _SCAN(text, 0)
    except StopIteration:  # leading whitespace, or no JSON value: decode() reads the first and says what the second is
        return _DECODER.decode(text)
    if end != len(text) and text[end:].strip(_JSON_WHITESPACE):  # str.isspace() would take what JSON does not
        _DECODER.decode(text)  # raises "Extra data" at the place it starts
    return payload


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

    # For the handler, which imports nothing of this module when it loads (its cold import stays small).
    plausible_hook_id = staticmethod(plausible_hook_id)
    unknown_hook = staticmethod(unknown_hook)

    def receive(
        self, spec: WebhookSpec, headers: Mapping[str, str], body: bytes | None, hook_id: str | None = None
    ) -> Reply:
        """`headers` with lower-case names; `body` exactly the bytes the provider signed, None when the transport
        could not decode them (a body flagged base64 that is not): nothing verifies then, and it is refused."""
        if body is not None and len(body) > MAX_BODY_BYTES:
            return problem(413, "Payload too large", f"the delivery is over {MAX_BODY_BYTES} bytes")
        if hook_id is not None and (len(hook_id) > 64 or not hook_id.isascii()):
            return unknown_hook()  # no table key; the handler holds hook ids to the minted shape before this
        secrets = self._secrets(spec.provider, hook_id, False)
        if secrets is None:
            return unknown_hook()
        signed = b"" if body is None else body
        verified = _verify(spec, headers, signed, secrets.values)
        if not verified and hook_id is not None:
            fresh = self._secrets(spec.provider, hook_id, True)
            if fresh is not None:
                secrets = fresh
                verified = _verify(spec, headers, signed, secrets.values)
        if not verified:
            return problem(401, "Unauthorized", "the delivery's signature is missing or does not match")
        event = headers.get(spec.event_header, "").strip()
        delivery_id = spec.delivery_id(headers)
        if not event or not delivery_id:
            return problem(
                400, "Bad request", f"the {spec.event_header} and {spec.delivery_header} headers are required"
            )
        if _EVENT.fullmatch(event) is None:
            detail = f"the {spec.event_header} header must be 1 to {MAX_EVENT} printable ASCII characters"
            return problem(400, "Bad request", detail)
        if _DELIVERY_ID.fullmatch(delivery_id) is None:
            return problem(
                400,
                "Bad request",
                f"the delivery id ({' or '.join(spec.delivery_headers)}) must be 1 to {MAX_DELIVERY_ID} characters "
                "of A-Z, a-z, 0-9 and . _ : @ + = ~ { } -",
            )
        if body is None:
            return problem(400, "Malformed body", "the request body is flagged base64 but is not valid base64")
        text, payload, refused = _parse(body)
        if refused is not None:
            return problem(400, "Malformed JSON", refused)
        if not isinstance(payload, dict):
            return problem(400, "Bad request", "the delivery body is not a JSON object")
        if _may_nest_deeper(body, MAX_DEPTH) and _deeper_than(payload, MAX_DEPTH):
            return problem(400, "Malformed JSON", f"the delivery body nests deeper than {MAX_DEPTH} levels")
        if event in spec.ping_events:
            return Reply(200, {"ok": True, "event": event})
        # the body as it came, embedded when `text` is plain UTF-8, else gzipped
        message = encode(spec.provider, delivery_id, event, hook_id, secrets.version, self._clock(), body, text)
        if len(message) > MAX_MESSAGE_BYTES:
            return problem(413, "Payload too large", "the delivery does not fit a queue message even compressed")
        self._enqueue(message)
        text = f'{{"accepted": true, "delivery_id": {_quote(delivery_id)}}}'
        return Reply(202, {"accepted": True, "delivery_id": delivery_id}, text)


def _verify(spec: WebhookSpec, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> bool:
    try:
        return spec.verify(headers, body, secrets)
    except ValueError:  # a header that is no text (a lone surrogate cannot be encoded): signed by nobody
        return False


def _parse(body: bytes) -> tuple[str | None, Any, str | None]:
    """(the body's text when it is plain UTF-8 JSON text, the parsed JSON, why it is refused or None).

    The hot path decodes once (json.loads(bytes) decodes too) and embeds that text in the queue message. Anything
    else json.loads reads (a BOM, UTF-16, UTF-32) is read as json.loads reads it, then checked for lone surrogates
    (its decoder lets them through), and travels gzipped."""
    try:
        text: str | None = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    try:
        if text is not None and not text.startswith("\ufeff") and b"\x00" not in body[:2]:  # else UTF-16/32
            payload = _loads(text)
            if b"\\" in body and _SURROGATE_ESCAPE.search(body) and not _encodable(payload):
                return None, None, "the delivery body has a lone UTF-16 surrogate escape, which is no text"
            return text, payload, None
        payload = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except UnicodeDecodeError:
        return None, None, "the delivery body is not UTF-8 (nor UTF-16 or UTF-32) text"
    except json.JSONDecodeError as exc:
        if not body.strip():
            return None, None, "the delivery body is empty"
        return None, None, f"the delivery body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except _Malformed as exc:
        return None, None, str(exc)
    except RecursionError:
        return None, None, f"the delivery body nests deeper than {MAX_DEPTH} levels"
    except ValueError:  # int() refuses numbers of more than sys.get_int_max_str_digits() digits
        return None, None, "the delivery body has a number with too many digits"
    if not _encodable(payload):
        return None, None, "the delivery body has a lone UTF-16 surrogate, which is no text"
    return None, payload, None


def _encodable(payload: Any) -> bool:
    """Whether every string of `payload` is text (a lone surrogate cannot be encoded, so it cannot be stored)."""
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError, ValueError):
        return False
    return True


# Up to this size, counting the bytes that open a container costs less than the walk and almost always spares it (it
# does for all 289 bench examples under 12 KB, and 27 of the 70 larger): past it the count is skipped.
COUNT_OPENERS_UP_TO = 12 * 1024
_NOT_AN_OPENER = bytes(sorted(set(range(256)) - set(b"{[")))


def _may_nest_deeper(body: bytes, limit: int) -> bool:
    """False when `body` cannot nest more than `limit` deep: every object or array opens with a `{` or `[` byte (in
    any of JSON's encodings), so fewer such bytes than `limit` means fewer containers. Past COUNT_OPENERS_UP_TO it
    does not count (True: let the walk decide). One translate that keeps only those bytes: cheaper than two counts."""
    return len(body) > COUNT_OPENERS_UP_TO or len(body.translate(None, _NOT_AN_OPENER)) > limit


def _deeper_than(payload: dict[str, Any], limit: int) -> bool:
    """Whether `payload` nests more than `limit` objects and arrays deep (one level at a time, containers only).

    A dict CPython does not track for garbage collection holds no dict or list (it starts tracking a dict as soon as
    one goes in), so the walk skips it without reading its values: the leaves of a real payload are mostly such dicts
    (a user, a label), which halves the walk, down to a sixth of the parse's CPU. Were every dict tracked, the walk
    would read them all: the answer is the same either way (tests/unit/test_intake.py pins both)."""
    level: list[Any] = [payload]
    for _ in range(limit):
        below: list[Any] = []
        for node in level:
            if type(node) is dict:
                if not _is_tracked(node):
                    continue
                node = node.values()
            for child in node:
                kind = type(child)
                if kind is dict or kind is list:
                    below.append(child)
        if not below:
            return False
        level = below
    return True
