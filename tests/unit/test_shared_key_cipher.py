"""The shared-data-key envelope (adapters/cipher.py SharedKeyCipher) against a KMS fake that checks encryption
contexts as KMS does: one data key for every writer, made again after 30 days, opened once per container."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from gitconnect.adapters import cipher as cipher_module
from gitconnect.adapters.cipher import HOOK_SECRETS_CONTEXT, KmsEnvelopeCipher, SharedKeyCipher


class FakeKms:
    """GenerateDataKey and Decrypt; a ciphertext opens only under the encryption context it was made with."""

    def __init__(self) -> None:
        self.keys: dict[bytes, tuple[bytes, dict[str, str]]] = {}
        self.calls: Counter[str] = Counter()
        self.contexts: list[dict[str, str]] = []

    def generate_data_key(self, *, KeyId: str, KeySpec: str, EncryptionContext: dict[str, str]) -> dict[str, Any]:
        self.calls["GenerateDataKey"] += 1
        self.contexts.append(dict(EncryptionContext))
        plain, wrapped = os.urandom(32), os.urandom(40)
        self.keys[wrapped] = (plain, dict(EncryptionContext))
        return {"Plaintext": plain, "CiphertextBlob": wrapped}

    def decrypt(self, *, CiphertextBlob: bytes, EncryptionContext: dict[str, str], KeyId: str) -> dict[str, Any]:
        self.calls["Decrypt"] += 1
        self.contexts.append(dict(EncryptionContext))
        plain, context = self.keys[CiphertextBlob]
        if context != EncryptionContext:
            raise ValueError("InvalidCiphertextException")
        return {"Plaintext": plain}


class MemoryDataKeys:
    def __init__(self) -> None:
        self.item: tuple[bytes, float] | None = None
        self.reads = 0

    def current(self) -> tuple[bytes, float] | None:
        self.reads += 1
        return self.item

    def propose(self, wrapped: bytes, created_at: float, replacing: float | None, expires_at: float) -> bool:
        if (self.item[1] if self.item else None) != replacing:
            return False
        self.item = (wrapped, created_at)
        return True


def make(kms: FakeKms, keys: MemoryDataKeys, now: list[float]) -> SharedKeyCipher:
    return SharedKeyCipher(kms, "key", HOOK_SECRETS_CONTEXT, keys, KmsEnvelopeCipher(kms, "key"), clock=lambda: now[0])


CONTEXT = {"team_id": "t1", "hook_id": "hook_a"}


def test_writers_share_one_data_key_and_a_reader_opens_it_once() -> None:
    # Given: two writer containers and a reader, one KMS and one stored key
    kms, keys, now = FakeKms(), MemoryDataKeys(), [1_000_000.0]
    first, second, reader = make(kms, keys, now), make(kms, keys, now), make(kms, keys, now)
    # When: each writer seals secrets of many hooks
    blobs = [first.encrypt(f"s{i}".encode(), {"team_id": "t1", "hook_id": f"hook_{i}"}) for i in range(50)]
    blobs += [second.encrypt(f"s{i}".encode(), {"team_id": "t1", "hook_id": f"hook_{i}"}) for i in range(50, 100)]
    # Then: one data key was made, with the explicit, constant encryption context, and the reader opens all 100
    # secrets with one Decrypt
    assert kms.calls["GenerateDataKey"] == 1 and all(c == HOOK_SECRETS_CONTEXT for c in kms.contexts)
    decrypts = kms.calls["Decrypt"]
    opened = [reader.decrypt(b, {"team_id": "t1", "hook_id": f"hook_{i}"}) for i, b in enumerate(blobs)]
    assert opened == [f"s{i}".encode() for i in range(100)]
    assert kms.calls["Decrypt"] - decrypts == 1
    assert all(SharedKeyCipher.current(b) for b in blobs)


def test_the_record_context_binds_a_blob_to_its_hook() -> None:
    kms, keys, now = FakeKms(), MemoryDataKeys(), [1_000_000.0]
    sealed = make(kms, keys, now).encrypt(b"secret", CONTEXT)
    with pytest.raises(InvalidTag):
        make(kms, keys, now).decrypt(sealed, {"team_id": "t1", "hook_id": "hook_b"})
    with pytest.raises(InvalidTag):
        make(kms, keys, now).decrypt(sealed, {"team_id": "t2", "hook_id": "hook_a"})


def test_a_legacy_blob_opens_through_its_own_kms_data_key_and_is_not_current() -> None:
    kms, keys, now = FakeKms(), MemoryDataKeys(), [1_000_000.0]
    legacy = KmsEnvelopeCipher(kms, "key").encrypt(b"old secret", CONTEXT)
    assert not SharedKeyCipher.current(legacy)
    assert make(kms, keys, now).decrypt(legacy, CONTEXT) == b"old secret"
    assert kms.contexts[-1] == CONTEXT  # its data key was made under the record's context


def test_the_key_is_made_again_after_its_rotation_period_and_old_blobs_still_open() -> None:
    kms, keys, now = FakeKms(), MemoryDataKeys(), [1_000_000.0]
    writer = make(kms, keys, now)
    old = writer.encrypt(b"a", CONTEXT)
    now[0] += cipher_module.SHARED_KEY_ROTATE_SECONDS + 1
    new = writer.encrypt(b"b", CONTEXT)
    assert kms.calls["GenerateDataKey"] == 2 and old[3:43] != new[3:43]
    reader = make(kms, keys, now)
    assert reader.decrypt(old, CONTEXT) == b"a" and reader.decrypt(new, CONTEXT) == b"b"


def test_a_writer_sees_a_rotation_within_its_recheck_and_reads_the_store_no_more_often() -> None:
    kms, keys, now = FakeKms(), MemoryDataKeys(), [1_000_000.0]
    writer, other = make(kms, keys, now), make(kms, keys, now)
    writer.encrypt(b"a", CONTEXT)
    for _ in range(100):
        writer.encrypt(b"a", CONTEXT)
    assert keys.reads == 1
    now[0] += cipher_module.SHARED_KEY_ROTATE_SECONDS + 1
    rotated = other.encrypt(b"b", CONTEXT)  # the other writer rotates
    now[0] += cipher_module.SHARED_KEY_RECHECK_SECONDS
    assert writer.encrypt(b"c", CONTEXT)[3:43] == rotated[3:43]


def test_two_writers_rotating_at_once_end_on_one_key() -> None:
    kms, now = FakeKms(), [1_000_000.0]

    class Racing(MemoryDataKeys):
        """The other writer's key lands between this writer's read and its proposal."""

        def propose(self, wrapped: bytes, created_at: float, replacing: float | None, expires_at: float) -> bool:
            if self.item is None:
                self.item = (b"\x01" * 40, created_at)
                kms.keys[self.item[0]] = (os.urandom(32), dict(HOOK_SECRETS_CONTEXT))
            return super().propose(wrapped, created_at, replacing, expires_at)

    racing = Racing()
    blob = make(kms, racing, now).encrypt(b"x", CONTEXT)
    assert blob[3:43] == b"\x01" * 40
    assert make(kms, racing, now).decrypt(blob, CONTEXT) == b"x"


def test_opened_keys_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cipher_module, "OPENED_KEYS", 3)
    kms, keys, now = FakeKms(), MemoryDataKeys(), [1_000_000.0]
    writer, reader = make(kms, keys, now), make(kms, keys, now)
    blobs = []
    for _ in range(5):
        blobs.append(writer.encrypt(b"x", CONTEXT))
        now[0] += cipher_module.SHARED_KEY_ROTATE_SECONDS + 1
    for blob in blobs:
        reader.decrypt(blob, CONTEXT)
    assert len(reader._opened) == 3 and len(writer._opened) == 3
