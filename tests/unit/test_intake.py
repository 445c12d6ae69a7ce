"""The webhook intake with a stub queue: what is refused, what is queued, and that the router gets it back."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from gitconnect.providers.github.webhooks import SPEC
from gitconnect.services.intake import MAX_MESSAGE_BYTES, Secrets, WebhookIntake, delivery_payload

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
def test_a_verified_delivery_is_queued_and_comes_back_intact(payload: dict) -> None:
    queue: list[str] = []
    body = json.dumps(payload, ensure_ascii=False).encode()
    reply = intake(queue).receive(SPEC, headers(body), body)
    assert (reply.status, reply.body["delivery_id"]) == (202, "d-1")
    message = json.loads(queue[0])
    assert (message["provider"], message["event"], message["delivery_id"]) == ("github", "push", "d-1")
    assert delivery_payload(message) == payload
    assert len(queue[0]) <= MAX_MESSAGE_BYTES


def test_a_body_that_is_not_utf8_travels_gzipped() -> None:
    queue: list[str] = []
    body = json.dumps({"a": "é"}).encode("utf-16")  # json.loads reads UTF-16; embedding it as text would not work
    assert intake(queue).receive(SPEC, headers(body), body).status == 202
    assert "body_gzip" in json.loads(queue[0]) and delivery_payload(json.loads(queue[0])) == {"a": "é"}


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
