"""KMS envelope encryption of secrets: a fresh data key per secret, AES-256-GCM locally, the data key
encrypted under the KMS key. The encryption context binds a ciphertext to its record (team and id), so a
ciphertext copied onto another record does not decrypt.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = 1


class KmsEnvelopeCipher:
    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> bytes:
        data_key = self._kms.generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context)
        nonce = os.urandom(12)
        aad = json.dumps(context, sort_keys=True).encode()
        sealed = AESGCM(data_key["Plaintext"]).encrypt(nonce, plaintext, aad)
        wrapped: bytes = data_key["CiphertextBlob"]
        return struct.pack(">BH", _VERSION, len(wrapped)) + wrapped + nonce + sealed

    def decrypt(self, blob: bytes, context: dict[str, str]) -> bytes:
        version, wrapped_len = struct.unpack(">BH", blob[:3])
        if version != _VERSION:
            raise ValueError(f"unknown envelope version {version}")
        wrapped = blob[3 : 3 + wrapped_len]
        nonce = blob[3 + wrapped_len : 15 + wrapped_len]
        sealed = blob[15 + wrapped_len :]
        key = self._kms.decrypt(CiphertextBlob=wrapped, EncryptionContext=context, KeyId=self._key_id)["Plaintext"]
        aad = json.dumps(context, sort_keys=True).encode()
        return AESGCM(key).decrypt(nonce, sealed, aad)
