"""The webhook intake with a stub queue: what is refused, what is queued, and that the router gets it back."""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest

from functions.webhook_intake import app
from gitconnect import wiring
from gitconnect.domain.deliveries import decode
from gitconnect.domain.ids import new_id
from gitconnect.providers.github.webhooks import SPEC
from gitconnect.providers.gitlab.webhooks import SPEC as GITLAB
from gitconnect.services import intake as intake_module
from gitconnect.services.intake import (
    COUNT_OPENERS_UP_TO,
    HOOK_ID,
    MAX_DELIVERY_ID,
    MAX_DEPTH,
    MAX_EVENT,
    MAX_MESSAGE_BYTES,
    Reply,
    Secrets,
    WebhookIntake,
)

SECRET = "s3cret"


def intake(queue: list[str], secrets: tuple[str, ...] = (SECRET,)) -> WebhookIntake:
    return WebhookIntake(queue.append, lambda provider, hook, fresh: Secrets(list(secrets)), lambda: "t")


def headers(body: bytes, event: str = "push", secret: str = SECRET) -> dict[str, str]:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-github-event": event, "x-github-delivery": "d-1", "x-hub-signature-256": signature}


@pytest.mark.parametrize(
    "payload",
    [
        {"ref": "refs/heads/main", "text": "héllo \u2028 \"quoted\" \\ end"},
        {"big": "x" * 300_000},  # over the inline limit: travels gzipped
    ],
)
def test_a_verified_delivery_is_queued_and_comes_back_intact(payload: dict[str, Any]) -> None:
    queue: list[str] = []
    body = json.dumps(payload, ensure_ascii=False).encode()
    reply = intake(queue).receive(SPEC, headers(body), body)
    assert (reply.status, reply.body["delivery_id"]) == (202, "d-1")
    message = json.loads(queue[0])
    assert (message["provider"], message["event"], message["delivery_id"]) == ("github", "push", "d-1")
    assert decode(queue[0]).payload == payload
    assert len(queue[0]) <= MAX_MESSAGE_BYTES


def test_a_body_that_is_not_utf8_travels_gzipped() -> None:
    queue: list[str] = []
    body = json.dumps({"a": "é"}).encode("utf-16")  # json.loads reads UTF-16; embedding it as text would not work
    assert intake(queue).receive(SPEC, headers(body), body).status == 202
    assert "body_gzip" in json.loads(queue[0]) and decode(queue[0]).payload == {"a": "é"}


def test_refusals_queue_nothing() -> None:
    queue: list[str] = []
    body = b'{"zen": "ok"}'
    gate = intake(queue)
    assert gate.receive(SPEC, headers(body, secret="wrong"), body).status == 401
    unsigned = {k: v for k, v in headers(body).items() if k != "x-hub-signature-256"}
    no_event = {k: v for k, v in headers(body).items() if k != "x-github-event"}
    assert gate.receive(SPEC, unsigned, body).status == 401
    assert gate.receive(SPEC, no_event, body).status == 400
    assert gate.receive(SPEC, headers(b"[1]"), b"[1]").status == 400
    assert gate.receive(SPEC, headers(b"{nope"), b"{nope").status == 400
    big = b"{" + b" " * (6 * 1024 * 1024) + b"}"
    assert gate.receive(SPEC, headers(big), big).status == 413
    assert gate.receive(SPEC, headers(body, event="ping"), body).status == 200
    assert intake(queue, secrets=()).receive(SPEC, headers(body), body).status == 401  # no secret configured
    assert queue == []


def test_the_previous_secret_is_accepted_while_rotating() -> None:
    queue: list[str] = []
    body = b'{"ref": "refs/heads/main"}'
    assert intake(queue, secrets=("new", SECRET)).receive(SPEC, headers(body), body).status == 202


def test_an_unknown_hook_is_404_and_a_hook_secret_version_travels_with_the_delivery() -> None:
    queue: list[str] = []
    hooks = {"h1": Secrets([SECRET], version=3)}
    gate = WebhookIntake(queue.append, lambda provider, hook, fresh: hooks.get(hook or ""), lambda: "t")
    body = b'{"ref": "refs/heads/main"}'
    assert gate.receive(SPEC, headers(body), body, hook_id="nope").status == 404
    assert gate.receive(SPEC, headers(body), body, hook_id="h1").status == 202
    assert json.loads(queue[0])["secret_version"] == 3


def test_a_failed_check_asks_once_for_a_fresh_hook_secret() -> None:
    queue: list[str] = []
    calls: list[bool] = []
    current = {"secret": "old"}

    def lookup(provider: str, hook: str | None, fresh: bool) -> Secrets:
        calls.append(fresh)
        return Secrets([current["secret"] if fresh else "old"], version=2 if fresh else 1)

    gate = WebhookIntake(queue.append, lookup, lambda: "t")
    current["secret"] = SECRET  # regenerated since the cache was filled
    body = b'{"ref": "refs/heads/main"}'
    assert gate.receive(SPEC, headers(body), body, hook_id="h1").status == 202
    assert calls == [False, True] and json.loads(queue[0])["secret_version"] == 2
    assert gate.receive(SPEC, headers(body, secret="forged"), body, hook_id="h1").status == 401


def test_hook_secret_refresh_is_bounded_per_hook() -> None:
    from gitconnect.wiring import ttl_cache

    reads: list[str] = []

    @ttl_cache(seconds=300, min_refresh_seconds=60)
    def secret(key: str) -> str:
        reads.append(key)
        return f"secret-{len(reads)}"

    assert secret("h1") == "secret-1"
    assert secret.refresh("h1") == "secret-1"  # read moments ago: forged requests cannot force more reads
    secret.min_refresh = 0
    assert secret.refresh("h1") == "secret-2"
    assert secret("h1") == "secret-2" and reads == ["h1", "h1"]


# ---------------------------------------------------------------------------------------------------- issue 17
# Whatever a request holds, a 2xx or a 4xx problem; only our own outage may be a 5xx. Signature, then headers, then
# body; what is queued can be read back and stored by the router.

OBJECT = b'{"ref": "refs/heads/main"}'


def refused(body: bytes, **header: str) -> tuple[Reply, list[str]]:
    queue: list[str] = []
    return intake(queue).receive(SPEC, {**headers(body), **header}, body), queue


def assert_problem(reply: Reply, status: int, words: str = "") -> None:
    assert reply.status == status, reply.body
    assert set(reply.body) == {"type", "title", "status", "detail"} and reply.body["status"] == status
    assert words in str(reply.body["detail"]), reply.body["detail"]


def accepted(body: bytes, **header: str) -> Any:
    """The payload the router gets back from what the intake queued."""
    queue: list[str] = []
    reply = intake(queue).receive(SPEC, {**headers(body), **header}, body)
    assert reply.status == 202, reply.body
    (message,) = queue
    assert all(c not in message for c in "\ufffe\uffff") and len(message) <= MAX_MESSAGE_BYTES
    return decode(message).payload


def nested(depth: int) -> bytes:
    """An object whose deepest value sits `depth` objects and arrays deep (the top object counts as one)."""
    return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 5000, 100_000])
def test_a_body_nested_too_deep_is_400(depth: int) -> None:
    reply, queue = refused(nested(depth))
    assert_problem(reply, 400, f"nests deeper than {MAX_DEPTH} levels")
    assert queue == []


def test_a_body_nested_up_to_the_limit_is_accepted() -> None:
    payload = accepted(nested(MAX_DEPTH))
    depth, node = 2, payload["a"]
    while node:
        depth, node = depth + 1, node[0]
    assert depth == MAX_DEPTH


def alternating(depth: int) -> bytes:
    """Objects and arrays in turn, `depth` deep."""
    opens = [b'{"a":' if level % 2 == 0 else b"[" for level in range(depth)]
    return b"".join(opens) + b"1" + b"".join(b"}" if o.startswith(b"{") else b"]" for o in reversed(opens))


def beside_leaves(depth: int) -> bytes:
    """Each object beside a user-like leaf object (which is as deep as the next level), `depth` deep."""
    return b'{"u":{"login":"x","id":1},"a":' * (depth - 1) + b'{"n":1}' + b"}" * (depth - 1)


SHAPES = {  # each `depth` containers deep, the top object counting as one
    "arrays in an object": nested,
    "objects in objects": lambda depth: b'{"a":' * depth + b"1" + b"}" * depth,
    "objects and arrays in turn": alternating,
    "beside leaf objects": beside_leaves,
}


@pytest.mark.parametrize("padded", [False, True], ids=["counted", "too large to count"])
@pytest.mark.parametrize("every_dict_read", [False, True], ids=["untracked dicts skipped", "every dict read"])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_depth_limit_holds_for_every_shape(shape: str, every_dict_read: bool, padded: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if every_dict_read:  # what the walk does were CPython to track every dict
        monkeypatch.setattr(intake_module, "_is_tracked", lambda _: True)
    pad = b" " * (COUNT_OPENERS_UP_TO + 1) if padded else b""  # whitespace after the object: the body is larger

    def make(depth: int) -> bytes:
        return SHAPES[shape](depth) + pad

    assert json.loads(make(MAX_DEPTH))  # well-formed
    accepted(make(MAX_DEPTH - 1))
    accepted(make(MAX_DEPTH))
    reply, queue = refused(make(MAX_DEPTH + 1))
    assert_problem(reply, 400, f"nests deeper than {MAX_DEPTH} levels")
    assert queue == []


def test_a_parsed_dict_holding_an_object_or_array_is_tracked() -> None:
    # What the depth walk's skip rests on: a dict the collector does not track holds no container.
    for member in ("{}", "[]", '{"b":1}', "[1]"):
        assert gc.is_tracked(json.loads(f'{{"n":1,"a":{member}}}'))
    assert not gc.is_tracked(json.loads('{"n":1,"s":"x","f":1.5,"t":true,"z":null}'))  # a leaf, skipped


def test_a_wide_shallow_body_with_more_brackets_than_the_limit_is_accepted() -> None:
    # More `{`/`[` bytes than MAX_DEPTH (containers side by side, brackets in strings): the depth is then walked
    body = json.dumps({"items": [{"n": i, "s": "[{"} for i in range(MAX_DEPTH)]}).encode()
    assert body.count(b"{") + body.count(b"[") > MAX_DEPTH
    assert len(accepted(body)["items"]) == MAX_DEPTH


@pytest.mark.parametrize(
    ("member", "words"),
    [
        (b'"n": ' + b"1" * 5000, "too many digits"),  # int() refuses more than 4 300 digits
        (b'"n": -' + b"9" * 4301, "too many digits"),
        (b'"n": 1e400', "out of range"),  # Python reads it as inf, which no JSON writer can write back
        (b'"n": -1e400', "out of range"),
        (b'"n": NaN', "NaN"),
        (b'"n": Infinity', "Infinity"),
        (b'"n": [-Infinity]', "-Infinity"),
    ],
)
def test_numbers_json_cannot_carry_are_400(member: bytes, words: str) -> None:
    reply, queue = refused(b"{" + member + b"}")
    assert_problem(reply, 400, words)
    assert queue == []


def test_numbers_json_can_carry_are_accepted() -> None:
    body = b'{"big": ' + b"1" * 4000 + b', "tiny": 1e-400, "long": 123456789012345678901234567890123456789}'
    assert accepted(body) == {"big": int("1" * 4000), "tiny": 0.0, "long": 123456789012345678901234567890123456789}


@pytest.mark.parametrize(
    "raw",
    [b"\xff", b"\xc3\x28", b"\xc0\xaf", b"\xe2\x82", b"\xf4\x90\x80\x80",
     b"\xed\xa0\x80",  # a surrogate encoded as UTF-8 (json.loads' own decoder lets it through)
     b"\xed\xa0\xbd\xed\xb8\x80"],  # CESU-8, two of them
)
def test_a_body_that_is_not_utf8_is_400(raw: bytes) -> None:
    reply, queue = refused(b'{"s": "a' + raw + b'b"}')
    assert_problem(reply, 400)
    assert queue == []


@pytest.mark.parametrize(
    "member",
    [rb'"s": "\ud800"', rb'"s": "\udfff"', rb'"s": "a\uD83Dz"', rb'"s": "\ude00\ud83d"', rb'"s": ["\ud800\u0041"]',
     rb'"\ud800": 1', rb'"s": "\\\ud800"'],  # the last: an escaped backslash, then a real lone escape
)
def test_a_lone_surrogate_escape_is_400(member: bytes) -> None:
    reply, queue = refused(b"{" + member + b"}")
    assert_problem(reply, 400, "lone UTF-16 surrogate")
    assert queue == []


def test_surrogate_pairs_and_lookalikes_are_accepted() -> None:
    body = rb'{"pair": "\ud83d\ude00", "upper": "\uD83D\uDE00", "escaped": "\\ud800", "hangul": "\ud55c\uae00"}'
    assert accepted(body) == {"pair": "😀", "upper": "😀", "escaped": "\\ud800", "hangul": "한글"}


def test_a_lone_surrogate_in_utf16_is_400() -> None:
    body = b'{"s": "'.decode().encode("utf-16-le") + b"\x00\xd8" + b'"}'.decode().encode("utf-16-le")
    assert_problem(refused(body)[0], 400, "lone UTF-16 surrogate")


def test_whitespace_around_the_object_is_accepted_and_the_router_reads_it() -> None:
    assert accepted(b' \t\r\n{"zen": "ok"} \t\r\n') == {"zen": "ok"}
    assert accepted(b'{"zen": "ok"}\n') == {"zen": "ok"}


def test_duplicate_keys_are_accepted_and_the_router_reads_what_the_intake_read() -> None:
    assert accepted(b'{"ref": 1, "ref": "refs/heads/main"}') == {"ref": "refs/heads/main"}


@pytest.mark.parametrize(
    ("body", "words"),
    [(b"", "empty"), (b" \n", "empty"), (b'"push"', "not a JSON object"), (b"42", "not a JSON object"),
     (b"null", "not a JSON object"), (b"[{}]", "not a JSON object"), (b"{} {}", "not valid JSON"),
     (b"{nope", "not valid JSON"), (b"\x00{}", "not valid JSON"),
     # after the object, whitespace JSON does not allow (it would break the queue message the body is embedded in)
     *[(('{"zen":"ok"}' + c).encode(), "Extra data at line")
       for c in ("\x0c", "\x0b", "\x1f", "\x85", "\xa0", "\u2028", "\u3000")]],
)
def test_a_body_that_is_not_one_json_object_is_400(body: bytes, words: str) -> None:
    reply, queue = refused(body)
    assert_problem(reply, 400, words)
    assert queue == []


@pytest.mark.parametrize("encode", [lambda t: b"\xef\xbb\xbf" + t.encode(), lambda t: t.encode("utf-16-le"),
                                    lambda t: t.encode("utf-32"), lambda t: t.encode("utf-16-be")])
def test_what_json_loads_reads_is_accepted_and_travels_gzipped(encode: Callable[[str], bytes]) -> None:
    queue: list[str] = []
    body = encode('{"a": "é"}')
    assert intake(queue).receive(SPEC, headers(body), body).status == 202
    message = json.loads(queue[0])
    assert "body_gzip" in message and decode(queue[0]).payload == {"a": "é"}


def test_characters_sqs_refuses_travel_gzipped() -> None:
    payload = accepted('{"a": "\ufffe\uffff", "b": "\\uffff"}'.encode())
    assert payload == {"a": "\ufffe\uffff", "b": "\uffff"}


@pytest.mark.parametrize(
    "delivery",
    ["72d3162e-cc78-11e3-81ab-4c9367dc0958", "{cb9c6a0a-4d5e-4f1a-9b0e-3f2c1d0e9a8b}", "d-1", "bench-push-0",
     "a" * MAX_DELIVERY_ID, "x"],
)
def test_real_delivery_ids_are_accepted(delivery: str) -> None:
    reply, queue = refused(OBJECT, **{"x-github-delivery": f" {delivery} "})
    assert (reply.status, reply.body["delivery_id"], len(queue)) == (202, delivery, 1)


@pytest.mark.parametrize(
    "delivery",
    ["a" * (MAX_DELIVERY_ID + 1), "a" * 8000, "a#b", "a,b", "a b", "a/b", "a\\b", 'a"b', "é", "a\x00b", "a\tb",
     "a\x7fb", "\ud800"],
)
def test_a_delivery_id_that_could_not_be_a_key_is_400(delivery: str) -> None:
    reply, queue = refused(OBJECT, **{"x-github-delivery": delivery})
    assert_problem(reply, 400, "x-github-delivery")
    assert queue == []


def test_the_delivery_id_of_each_provider_is_held_to_the_limit() -> None:
    queue: list[str] = []
    gate = WebhookIntake(queue.append, lambda provider, hook, fresh: Secrets([SECRET]), lambda: "t")
    base = {"x-gitlab-token": SECRET, "x-gitlab-event": "Push Hook"}
    long = {**base, "idempotency-key": "a" * 200, "x-gitlab-event-uuid": "u-1"}
    assert_problem(gate.receive(GITLAB, long, OBJECT, hook_id="h1"), 400, "idempotency-key or x-gitlab-event-uuid")
    fine = {**base, "idempotency-key": " ", "x-gitlab-event-uuid": "13792a34-cac6-4fda-95a8-c58e00a3954e"}
    assert gate.receive(GITLAB, fine, OBJECT, hook_id="h1").status == 202


@pytest.mark.parametrize("event", ["push", "Merge Request Hook", "repo:push", "a" * MAX_EVENT, "x,y", "a#b"])
def test_printable_event_names_are_accepted(event: str) -> None:
    assert refused(OBJECT, **{"x-github-event": event})[0].status == 202


@pytest.mark.parametrize("event", ["a" * (MAX_EVENT + 1), "a" * 8000, "pûsh", "push\x00", "a\x1fb", "\u2028", "\ud800"])
def test_an_event_name_that_is_not_short_printable_ascii_is_400(event: str) -> None:
    reply, queue = refused(OBJECT, **{"x-github-event": event})
    assert_problem(reply, 400, "x-github-event")
    assert queue == []


def test_the_signature_is_checked_first_then_headers_then_body() -> None:
    queue: list[str] = []
    gate = intake(queue)
    deep = nested(5000)
    bad_headers = {"x-github-event": "é", "x-github-delivery": "a" * 8000}
    unsigned = {"x-hub-signature-256": "", **bad_headers}
    assert_problem(gate.receive(SPEC, unsigned, deep), 401)
    assert_problem(gate.receive(SPEC, {**headers(deep), **bad_headers}, deep), 400, "x-github-event")
    assert_problem(gate.receive(SPEC, {**headers(deep), "x-github-delivery": "a#b"}, deep), 400, "delivery id")
    assert_problem(gate.receive(SPEC, headers(deep), deep), 400, "nests deeper")
    assert queue == []


@pytest.mark.parametrize("value", ["\ud800", "é" * 100, "\x00", "sha256=" + "é" * 64, "x" * 10_000])
def test_a_signature_or_token_header_that_is_no_text_is_401(value: str) -> None:
    queue: list[str] = []
    assert_problem(intake(queue).receive(SPEC, {**headers(OBJECT), "x-hub-signature-256": value}, OBJECT), 401)
    gate = WebhookIntake(queue.append, lambda provider, hook, fresh: Secrets([SECRET]), lambda: "t")
    lab = {"x-gitlab-token": value, "x-gitlab-event": "Push Hook", "x-gitlab-event-uuid": "u-1"}
    assert_problem(gate.receive(GITLAB, lab, OBJECT, hook_id="h1"), 401)
    assert queue == []


def test_a_body_that_could_not_be_decoded_is_refused_after_the_signature() -> None:
    queue: list[str] = []
    assert_problem(intake(queue).receive(SPEC, headers(OBJECT), None), 401)  # nothing was signed
    gate = WebhookIntake(queue.append, lambda provider, hook, fresh: Secrets([SECRET]), lambda: "t")
    lab = {"x-gitlab-token": SECRET, "x-gitlab-event": "Push Hook", "x-gitlab-event-uuid": "u-1"}
    assert_problem(gate.receive(GITLAB, lab, None, hook_id="h1"), 400, "base64")
    assert queue == []


def test_a_hook_id_that_is_no_table_key_is_404_without_a_lookup() -> None:
    looked: list[str | None] = []
    queue: list[str] = []

    def lookup(provider: str, hook: str | None, fresh: bool) -> Secrets | None:
        looked.append(hook)
        return Secrets([SECRET])

    gate = WebhookIntake(queue.append, lookup, lambda: "t")
    for hook_id in ("h" * 65, "é", "hook_\ud800"):
        assert_problem(gate.receive(SPEC, headers(OBJECT), OBJECT, hook_id=hook_id), 404)
    assert looked == [] and queue == []


# ---------------------------------------------------------------------------------------------------- the handler
class Recorder:
    """The intake behind the handler, with a stub queue and hook secrets; what it was asked is kept."""

    def __init__(self) -> None:
        self.queue: list[str] = []
        self.lookups: list[tuple[str, str | None]] = []
        self.hooks: dict[str, Secrets] = {}

    def secrets(self, provider: str, hook_id: str | None, fresh: bool) -> Secrets | None:
        self.lookups.append((provider, hook_id))
        return Secrets([SECRET]) if hook_id is None else self.hooks.get(hook_id)


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> tuple[Recorder, Callable[..., dict[str, Any]]]:
    recorder = Recorder()
    gate = WebhookIntake(recorder.queue.append, recorder.secrets, lambda: "t")
    monkeypatch.setattr(wiring, "webhook_intake", lambda: gate)

    def call(path: str, headers: dict[str, str], body: str | None, *, base64_encoded: bool = False,
             hook_id: str | None = None) -> dict[str, Any]:
        # API Gateway's payload format 2.0 gives header names in lower case (infra/local/apigw does the same)
        event: dict[str, Any] = {"rawPath": path, "headers": {k.lower(): v for k, v in headers.items()},
                                 "isBase64Encoded": base64_encoded}
        if body is not None:
            event["body"] = body
        if hook_id is not None:
            event["pathParameters"] = {"hook_id": hook_id}
        out = app.handler(event, None)
        parsed = json.loads(out["body"])
        if out["statusCode"] >= 400:
            assert out["headers"]["Content-Type"] == "application/problem+json"
            assert {"type", "title", "status", "detail"} <= set(parsed) and parsed["status"] == out["statusCode"]
        return {"status": out["statusCode"], **parsed}

    return recorder, call


def test_minted_hook_ids_have_the_shape_the_handler_accepts() -> None:
    assert all(HOOK_ID.fullmatch(new_id("hook")) for _ in range(100))
    assert intake_module.plausible_hook_id(new_id("hook"))


@pytest.mark.parametrize(
    "hook_id",
    ["hook_missing", "hook_" + "a" * 5000, "a" * 8000, "HOOK_01m8sm850psft8bvxqhfr11sg9",
     "hook_01M8SM850PSFT8BVXQHFR11SG9", "hook_01m8sm850psft8bvxqhfr11sgi", "hook_01m8sm850psft8bvxqhfr11sg",
     "hook_01m8sm850psft8bvxqhfr11sg99", "hook_01m8sm850psft8bvxqhfr11sg9 ", "hook_01m8sm850psft8bvxqhfr11sg9\x00",
     "é", "\ud800", "../x", ""],
)
def test_a_hook_id_that_could_not_be_ours_is_404_before_any_lookup(
        handler: tuple[Recorder, Callable[..., dict[str, Any]]], hook_id: str) -> None:
    recorder, call = handler
    for provider in ("gitlab", "bitbucket"):
        reply = call(f"/v1/webhooks/{provider}/x", {}, '{"a": 1}', hook_id=hook_id)
        assert reply["status"] == 404 and "no such webhook" in reply["detail"]
    assert recorder.lookups == [] and recorder.queue == []


def test_a_minted_hook_id_reaches_the_lookup(handler: tuple[Recorder, Callable[..., dict[str, Any]]]) -> None:
    recorder, call = handler
    hook_id = new_id("hook")
    recorder.hooks[hook_id] = Secrets([SECRET], version=1)
    lab = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "u-1"}
    assert call(f"/v1/webhooks/gitlab/{hook_id}", lab, '{"a": 1}', hook_id=hook_id)["status"] == 202
    assert call(f"/v1/webhooks/gitlab/{new_id('hook')}", lab, '{"a": 1}', hook_id=new_id("hook"))["status"] == 404
    assert [provider for provider, _ in recorder.lookups] == ["gitlab", "gitlab"]


def test_an_unknown_route_is_404(handler: tuple[Recorder, Callable[..., dict[str, Any]]]) -> None:
    recorder, call = handler
    for path in ("/v1/webhooks/gitea", "/v1/webhooks", "", "/v1/webhooks/../../etc"):
        assert call(path, {}, "{}")["status"] == 404
    assert recorder.lookups == []


@pytest.mark.parametrize("text", ["!!!", "abc", "a===", "=", "Zm9v\n", "é", '{"a": 1}', "\ud800"])
def test_a_body_flagged_base64_that_is_not_is_refused(handler: tuple[Recorder, Callable[..., dict[str, Any]]],
                                                      text: str) -> None:
    recorder, call = handler
    signed = headers(text.encode("utf-8", "surrogatepass"))
    assert call("/v1/webhooks/github", signed, text, base64_encoded=True)["status"] == 401  # nothing verifies
    hook_id = new_id("hook")
    recorder.hooks[hook_id] = Secrets([SECRET])
    lab = {"x-gitlab-token": SECRET, "x-gitlab-event": "Push Hook", "x-gitlab-event-uuid": "u-1"}
    reply = call(f"/v1/webhooks/gitlab/{hook_id}", lab, text, base64_encoded=True, hook_id=hook_id)
    assert reply["status"] == 400 and "base64" in reply["detail"]
    assert recorder.queue == []


def test_a_base64_body_is_verified_over_its_bytes(handler: tuple[Recorder, Callable[..., dict[str, Any]]]) -> None:
    recorder, call = handler
    body = '{"a": "\u00e9"}'.encode("latin-1")  # not UTF-8: API Gateway hands it over base64-encoded
    reply = call("/v1/webhooks/github", headers(body), base64.b64encode(body).decode(), base64_encoded=True)
    assert reply["status"] == 400 and "UTF-8" in reply["detail"]
    good = b'{"ref": "refs/heads/main"}'
    reply = call("/v1/webhooks/github", headers(good), base64.b64encode(good).decode(), base64_encoded=True)
    assert reply == {"status": 202, "accepted": True, "delivery_id": "d-1"} and len(recorder.queue) == 1


@pytest.mark.parametrize("body", [None, "", "\ud800", '{"s": "\ud800"}', "[]", 42, {"a": 1}])
def test_whatever_the_event_body_the_handler_answers(handler: tuple[Recorder, Callable[..., dict[str, Any]]],
                                                     body: Any) -> None:
    recorder, call = handler
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else b""
    assert call("/v1/webhooks/github", headers(raw), body)["status"] in (400, 401)
    assert call("/v1/webhooks/github", {}, body)["status"] == 401
    assert recorder.queue == []


@pytest.mark.parametrize("delivery_id", ["d-1", "{0b5c7a3e-1f2d-4c6b-9a8e-7d6c5b4a3f21}", "a.b_c:d@e+f=g~h"])
def test_an_accepted_reply_is_written_as_json_dumps_writes_it(delivery_id: str) -> None:
    # Given: a delivery id of any shape the intake accepts
    body = b'{"ref": "refs/heads/main"}'
    hdrs = {**headers(body), "x-github-delivery": delivery_id}
    # When
    reply = intake([]).receive(SPEC, hdrs, body)
    # Then: the body the hot path wrote itself is the one json.dumps writes, and the handler sends it
    assert reply.status == 202 and reply.text == json.dumps(reply.body)
    assert app.respond(reply)["body"] == json.dumps({"accepted": True, "delivery_id": delivery_id})


@pytest.mark.parametrize(
    "member",
    [rb'"s": "\\ud83d\ude00"',  # an escaped backslash, text, then a real lone low escape
     rb'"s": "\ud83d\ud83d\ude00"', rb'"s": "\ud83d\\ude00"', rb'"s": "\ud83d"', rb'"s": "x\udbff"'],
)
def test_lone_surrogates_beside_pairs_and_backslashes_are_400(member: bytes) -> None:
    reply, queue = refused(b"{" + member + b"}")
    assert_problem(reply, 400, "lone UTF-16 surrogate")
    assert queue == []


def test_a_payload_with_surrogate_pairs_only_skips_the_exact_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: emoji as escaped surrogate pairs (as GitHub writes them in some payloads), and the exact check disabled
    monkeypatch.setattr(intake_module, "_encodable", lambda payload: pytest.fail("the exact check ran"))
    body = rb'{"title": "ship it \ud83d\ude80", "body": "\uD83C\uDF89 done", "n": "\\u00e9"}'
    # When / Then: accepted without it
    assert accepted(body) == {"title": "ship it 🚀", "body": "🎉 done", "n": "\\u00e9"}


def test_the_prefilter_never_misses_a_lone_surrogate() -> None:
    # Every short sequence of escapes, backslashes and letters: wherever the decoded text has a lone surrogate, the
    # pre-filter matched (so the exact check ran)
    import itertools

    pieces = [rb"\ud83d", rb"\ude00", rb"\\", b"u", b"d83d", b"x", rb"\u0041"]
    for n in range(1, 5):
        for combo in itertools.product(pieces, repeat=n):
            raw = b'"' + b"".join(combo) + b'"'
            try:
                text = json.loads(raw)
            except json.JSONDecodeError:
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                assert intake_module._SURROGATE_ESCAPE.search(raw), raw
