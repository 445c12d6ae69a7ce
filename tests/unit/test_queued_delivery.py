"""The queued delivery (domain/deliveries.py): the one message format between the intake and the router. Messages
queued by the code before it keep decoding, `encode` writes what that code wrote, and the idempotency key hashes as
the records already in the table do."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from dataclasses import astuple
from json.encoder import encode_basestring_ascii as quote
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from gitconnect.domain.deliveries import INLINE_BODY_BYTES, DeliveryMeta, decode, encode

HOOK = "hook_01hzzzzzzzzzzzzzzzzzzzzzzz"
# Written by the intake before QueuedDelivery existed (services/intake.py `_message`), byte for byte.
OLD_INLINE = (
    '{"provider":"github","delivery_id":"72d3162e-cc78-11e3-81ab-4c9367dc0958","event":"push","hook_id":null,'
    '"secret_version":null,"received_at":"2024-01-02T03:04:05Z","payload":{"ref": "refs/heads/main", "n": [1, 2.5]}}'
)
OLD_GZIPPED = (
    '{"provider":"gitlab","delivery_id":"u-1","event":"Push Hook","hook_id":"hook_01hzzzzzzzzzzzzzzzzzzzzzzz",'
    '"secret_version":3,"received_at":"t","body_gzip":"'
    + base64.b64encode(gzip.compress('{"a": "\ufffe"}'.encode(), 6)).decode()
    + '"}'
)


def old_message(meta: DeliveryMeta, body: bytes) -> str:
    """What the intake wrote before (its `_meta` f-string and `_with_payload`), to compare `encode` with."""
    version, hook_id = meta.secret_version, meta.hook_id
    head = (
        f'{{"provider":{quote(meta.provider)},"delivery_id":{quote(meta.delivery_id)},"event":{quote(meta.event)},'
        f'"hook_id":{"null" if hook_id is None else quote(hook_id)},'
        f'"secret_version":{"null" if version is None else int(version)},"received_at":{quote(meta.received_at)}}}'
    )
    try:
        text: str | None = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and (text.startswith("\ufeff") or b"\x00" in body[:2]):
        text = None
    if text is not None and len(body) <= INLINE_BODY_BYTES and b"\xef\xbf\xbe" not in body and (
        b"\xef\xbf\xbf" not in body
    ):
        return f'{head[:-1]},"payload":{text}}}'
    return f'{head[:-1]},"body_gzip":"{base64.b64encode(gzip.compress(body, 6)).decode()}"}}'


def test_a_message_queued_by_the_old_intake_decodes() -> None:
    delivery = decode(OLD_INLINE)
    assert (delivery.provider, delivery.delivery_id, delivery.event, delivery.hook_id, delivery.secret_version,
            delivery.received_at) == ("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "push", None, None,
                                      "2024-01-02T03:04:05Z")
    assert delivery.payload == {"ref": "refs/heads/main", "n": [1, 2.5]}
    gzipped = decode(OLD_GZIPPED.encode())  # SQS bodies may come as bytes too
    assert (gzipped.provider, gzipped.hook_id, gzipped.secret_version) == ("gitlab", HOOK, 3)
    assert gzipped.payload == {"a": "\ufffe"}


META = DeliveryMeta("github", "d-1", "pull_request", None, None, "2024-01-02T03:04:05Z")
HOOKED = DeliveryMeta("bitbucket", "{cb9c6a0a-4d5e}", "repo:push", HOOK, 7, "t")


@pytest.mark.parametrize("meta", [META, HOOKED])
@pytest.mark.parametrize(
    "body",
    [
        b'{"ref":"refs/heads/main"}',
        '{"text": "héllo \u2028 \\"quoted\\" \\\\ end", "emoji": "😀"}'.encode(),
        b'{"big": "' + b"x" * (INLINE_BODY_BYTES + 1) + b'"}',  # over the inline limit
        b"\xef\xbb\xbf{}",  # a BOM
        '{"a": "é"}'.encode("utf-16-le"),
        '{"a": "é"}'.encode("utf-16"),
        '{"a": "é"}'.encode("utf-32"),
        '{"a": "\ufffe", "b": "\uffff"}'.encode(),  # characters SQS refuses
        b'{"s": "\\uffff"}',  # escaped, so harmless
    ],
)
def test_encode_writes_what_the_old_intake_wrote_and_decode_reads_it_back(meta: DeliveryMeta, body: bytes) -> None:
    message = encode(*astuple(meta), body)
    assert message == old_message(meta, body)
    assert all(c not in message for c in "\ufffe\uffff")
    delivery = decode(message)
    assert DeliveryMeta(delivery.provider, delivery.delivery_id, delivery.event, delivery.hook_id,
                        delivery.secret_version, delivery.received_at) == meta
    assert delivery.payload == json.loads(body)


def test_a_given_text_is_embedded_as_is() -> None:
    body = b'{ "spaced" : [1,  2] }'
    assert encode(*astuple(META), body, body.decode()).endswith(',"payload":{ "spaced" : [1,  2] }}')


def test_a_gzipped_body_is_read_on_first_use_only() -> None:
    delivery = decode(encode(*astuple(META), b'{"big": "' + b"x" * (INLINE_BODY_BYTES + 1) + b'"}'))
    assert "payload" not in vars(delivery)
    first = delivery.payload
    assert delivery.payload is first


@pytest.mark.parametrize("message", ['["provider"]', '{"provider":"github","delivery_id":"d","event":"push"}'])
def test_a_message_that_is_no_delivery_is_refused(message: str) -> None:
    with pytest.raises(ValueError, match="queued delivery"):
        decode(message)


class _Records(BasePersistenceLayer):
    """A persistence layer that stores nothing: only its key hashing is used."""

    def _get_record(self, idempotency_key: str) -> DataRecord:
        raise AssertionError("not stored")

    def _put_record(self, data_record: DataRecord) -> None:
        raise AssertionError("not stored")

    def _update_record(self, data_record: DataRecord) -> None:
        raise AssertionError("not stored")

    def _delete_record(self, data_record: DataRecord) -> None:
        raise AssertionError("not stored")


def record_key(key_expression: str, data: Any) -> str | None:
    records = cast(Callable[[], _Records], _Records)()  # Powertools' __init__ is not annotated
    records.configure(IdempotencyConfig(event_key_jmespath=key_expression), function_name="app.route")
    return records._get_hashed_idempotency_key(data)


@pytest.mark.parametrize("message", [OLD_INLINE, OLD_GZIPPED])
def test_the_idempotency_record_key_is_the_one_the_old_key_expression_made(message: str) -> None:
    """The router's records were keyed with `event_key_jmespath="[provider, hook_id, delivery_id]"` over the whole
    message; now on `QueuedDelivery.idempotency_key` alone. Records written before still match."""
    old = record_key("[provider, hook_id, delivery_id]", json.loads(message))
    assert old is not None
    assert record_key("", decode(message).idempotency_key) == old
