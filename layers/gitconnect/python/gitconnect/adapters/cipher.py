"""KMS envelope encryption of secrets, AES-256-GCM locally. Two envelopes, told apart by their first byte:

- version 1 (`KmsEnvelopeCipher`): a fresh data key per secret, encrypted under the KMS key with the record's own
  encryption context (team and id). Opening one costs a KMS Decrypt. Connection credentials use it.
- version 2 (`SharedKeyCipher`): a data key shared by many secrets, encrypted under the KMS key with one fixed,
  explicit encryption context (`HOOK_SECRETS_CONTEXT`, so IAM can condition on `kms:EncryptionContext:purpose`); the
  record's context (team and id) is the AES-GCM associated data. A container opens each shared data key once (KMS
  Decrypt), remembers it by its ciphertext, and then opens every secret sealed under it with no AWS call. The key is
  one for the whole deployment (kept in the state table, made again every 30 days), not one per writer. Per-hook
  webhook secrets use it: the intake's first delivery to a hook costs a GetItem, not a GetItem and a Decrypt.

Either way a ciphertext copied onto another record does not open (the context is authenticated).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = 1
_SHARED = 2
# The encryption context of every shared hook-secret data key: constant and explicit, never per record.
HOOK_SECRETS_CONTEXT = {"purpose": "gitconnect-hook-secrets"}
SHARED_KEY_ROTATE_SECONDS = 30 * 86400.0  # a new shared data key every 30 days (random nonces: far below 2**32 uses)
SHARED_KEY_RECHECK_SECONDS = 300.0  # a writer re-reads which key is current this often (it sees a rotation)
OPENED_KEYS = 64  # data keys a container keeps opened (LRU): one per rotation period in use, ~1 a month


def _aad(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True).encode()


def _split(blob: bytes) -> tuple[int, bytes, bytes, bytes]:
    version, wrapped_len = struct.unpack(">BH", blob[:3])
    wrapped = blob[3 : 3 + wrapped_len]
    nonce = blob[3 + wrapped_len : 15 + wrapped_len]
    return version, wrapped, nonce, blob[15 + wrapped_len :]


def _join(version: int, wrapped: bytes, nonce: bytes, sealed: bytes) -> bytes:
    return struct.pack(">BH", version, len(wrapped)) + wrapped + nonce + sealed


class KmsEnvelopeCipher:
    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> bytes:
        data_key = self._kms.generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context)
        nonce = os.urandom(12)
        sealed = AESGCM(data_key["Plaintext"]).encrypt(nonce, plaintext, _aad(context))
        return _join(_VERSION, data_key["CiphertextBlob"], nonce, sealed)

    def decrypt(self, blob: bytes, context: dict[str, str]) -> bytes:
        version, wrapped, nonce, sealed = _split(blob)
        if version != _VERSION:
            raise ValueError(f"unknown envelope version {version}")
        key = self._kms.decrypt(CiphertextBlob=wrapped, EncryptionContext=context, KeyId=self._key_id)["Plaintext"]
        return AESGCM(key).decrypt(nonce, sealed, _aad(context))


class DataKeys(Protocol):
    """Where the shared data key of one purpose is kept (adapters/dynamo/data_keys.py)."""

    def current(self) -> tuple[bytes, float] | None: ...
    def propose(self, wrapped: bytes, created_at: float, replacing: float | None, expires_at: float) -> bool: ...


class SharedKeyCipher:
    """Seals under the one data key `keys` holds now (version 2), made by whichever writer found none or one older
    than SHARED_KEY_ROTATE_SECONDS; opens both versions (a version 1 blob, stored before, through `legacy`: a KMS
    Decrypt each time, until it is sealed again). `current(blob)`: whether a blob is version 2.

    AWS calls: a writer reads the stored key at most every SHARED_KEY_RECHECK_SECONDS (a GetItem, and a Decrypt the
    first time it meets that key); a reader opens each data key once per container (a Decrypt), and since one key
    serves every secret sealed in a rotation period, a container meets about one."""

    def __init__(
        self,
        kms_client: Any,
        key_id: str,
        key_context: dict[str, str],
        keys: DataKeys,
        legacy: KmsEnvelopeCipher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kms, self._key_id, self._key_context = kms_client, key_id, dict(key_context)
        self._keys, self._legacy, self._clock = keys, legacy, clock
        self._lock = threading.Lock()
        self._sealing: tuple[bytes, float] | None = None  # (the wrapped key sealed under now, when it was read)
        # sha256(wrapped data key) -> the opened key, least recently used first; bounded by OPENED_KEYS
        self._opened: OrderedDict[bytes, AESGCM] = OrderedDict()

    @staticmethod
    def current(blob: bytes) -> bool:
        return blob[:1] == bytes([_SHARED])

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> bytes:
        wrapped = self._sealing_key()
        nonce = os.urandom(12)
        return _join(_SHARED, wrapped, nonce, self._key(wrapped).encrypt(nonce, plaintext, _aad(context)))

    def decrypt(self, blob: bytes, context: dict[str, str]) -> bytes:
        version, wrapped, nonce, sealed = _split(blob)
        if version == _VERSION:
            return self._legacy.decrypt(blob, context)
        if version != _SHARED:
            raise ValueError(f"unknown envelope version {version}")
        return self._key(wrapped).decrypt(nonce, sealed, _aad(context))

    def _sealing_key(self) -> bytes:
        now = self._clock()
        with self._lock:
            if self._sealing is not None and now - self._sealing[1] < SHARED_KEY_RECHECK_SECONDS:
                return self._sealing[0]
        stored = self._keys.current()
        if stored is None or now - stored[1] >= SHARED_KEY_ROTATE_SECONDS:
            context = self._key_context
            made = self._kms.generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context)
            expires = now + 2 * SHARED_KEY_ROTATE_SECONDS
            if self._keys.propose(made["CiphertextBlob"], now, None if stored is None else stored[1], expires):
                with self._lock:
                    self._remember(made["CiphertextBlob"], AESGCM(made["Plaintext"]))
                stored = (made["CiphertextBlob"], now)
            else:
                stored = self._keys.current()  # another writer rotated first: its key
                if stored is None:
                    raise RuntimeError("the shared data key was replaced and then removed while being rotated")
        with self._lock:
            self._sealing = (stored[0], now)
        return stored[0]

    def _key(self, wrapped: bytes) -> AESGCM:
        digest = hashlib.sha256(wrapped).digest()
        with self._lock:
            key = self._opened.get(digest)
            if key is not None:
                self._opened.move_to_end(digest)
                return key
        opened = self._kms.decrypt(CiphertextBlob=wrapped, EncryptionContext=self._key_context, KeyId=self._key_id)
        key = AESGCM(opened["Plaintext"])
        with self._lock:
            self._remember(wrapped, key)
        return key

    def _remember(self, wrapped: bytes, key: AESGCM) -> None:
        self._opened[hashlib.sha256(wrapped).digest()] = key
        while len(self._opened) > OPENED_KEYS:
            self._opened.popitem(last=False)
