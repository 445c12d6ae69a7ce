"""The encryption contexts the cipher's callers use are the ones template.yaml's KMS grants allow (infra/iam.py's
KMS_CONTEXT_KEYS, each statement conditioned on them: tests/template/test_iam.py). A caller with a new context key
fails here until the key is declared, instead of failing in AWS with AccessDenied."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

from gitconnect.adapters.cipher import HOOK_SECRETS_CONTEXT, KmsEnvelopeCipher, SharedKeyCipher
from gitconnect.services.secrets import ConnectionSecrets
from infra import iam


class RecordingKms:
    """KMS's two calls, with the data key kept in the clear (the unit tier has no AWS): records each context."""

    def __init__(self) -> None:
        self.contexts: list[dict[str, str]] = []

    def generate_data_key(self, *, KeyId: str, KeySpec: str, EncryptionContext: dict[str, str]) -> dict[str, Any]:
        self.contexts.append(EncryptionContext)
        key = os.urandom(32)
        return {"Plaintext": key, "CiphertextBlob": key}

    def decrypt(self, *, CiphertextBlob: bytes, EncryptionContext: dict[str, str], KeyId: str) -> dict[str, Any]:
        self.contexts.append(EncryptionContext)
        return {"Plaintext": CiphertextBlob}


def test_every_context_the_callers_use_passes_the_grants_condition() -> None:
    kms = RecordingKms()
    secrets = ConnectionSecrets(KmsEnvelopeCipher(kms, "alias/test"))
    sealed = secrets.seal("team-1", "conn-1", {"token": "t"})
    assert sealed is not None
    assert secrets.open_sealed("team-1", "conn-1", sealed) == {"token": "t"}
    hook_secret = secrets.seal_hook_secret("team-1", "hook-1", "s3cret")
    hook: Any = SimpleNamespace(id="hook-1", team_id="team-1", secret=hook_secret)
    assert secrets.open_hook_secret(hook) == "s3cret"
    assert len(kms.contexts) == 4
    for context in kms.contexts:
        # ForAllValues:StringEquals kms:EncryptionContextKeys, and Null kms:EncryptionContext:team_id = false
        assert set(context) <= set(iam.KMS_CONTEXT_KEYS), context
        assert context.get("team_id"), context
    assert {k for c in kms.contexts for k in c} == set(iam.KMS_CONTEXT_KEYS)  # no key declared that nothing uses


class OneDataKey:
    """The state table's shared data key slot (adapters/dynamo/data_keys.py), in memory."""

    def __init__(self) -> None:
        self.stored: tuple[bytes, float] | None = None

    def current(self) -> tuple[bytes, float] | None:
        return self.stored

    def propose(self, wrapped: bytes, created_at: float, replacing: float | None, expires_at: float) -> bool:
        self.stored = (wrapped, created_at)
        return True


def test_the_hook_secrets_shared_key_is_asked_for_under_its_own_fixed_context_only() -> None:
    """template.yaml's HookSecretsKey grant allows exactly HOOK_SECRETS_CONTEXT (tests/template/test_iam.py): the
    shared cipher must send KMS neither a record's context (which that grant refuses) nor another fixed one, when it
    seals (a writer) or when another container opens (the intake)."""
    kms, slot = RecordingKms(), OneDataKey()

    def shared() -> SharedKeyCipher:
        return SharedKeyCipher(kms, "alias/test", HOOK_SECRETS_CONTEXT, slot, KmsEnvelopeCipher(kms, "alias/test"))

    writer = ConnectionSecrets(KmsEnvelopeCipher(kms, "alias/test"), hook_cipher=shared())
    sealed = writer.seal_hook_secret("team-1", "hook-1", "s3cret")
    reader = ConnectionSecrets(KmsEnvelopeCipher(kms, "alias/test"), hook_cipher=shared())
    hook: Any = SimpleNamespace(id="hook-1", team_id="team-1", secret=sealed)
    assert reader.open_hook_secret(hook) == "s3cret"
    assert len(kms.contexts) == 2  # the writer's GenerateDataKey, the reader's one Decrypt of the shared key
    assert all(c == HOOK_SECRETS_CONTEXT for c in kms.contexts), kms.contexts
