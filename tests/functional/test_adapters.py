"""Adapters against real peers: moto's KMS and a real Git server on 127.0.0.1."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag

from gitconnect.adapters.cipher import KmsEnvelopeCipher
from gitconnect.adapters.git_remote import DulwichGitRemote
from gitconnect.adapters.net import guarded_pool_manager
from gitconnect.domain.errors import UnsafeUrlError
from infra.local.git_server import GitHttpServer, WorkingCopy
from tests.support.inprocess import System


def test_envelope_is_bound_to_its_record(system: System) -> None:
    cipher = KmsEnvelopeCipher(system.client("kms"), system.env["GITCONNECT_KMS_KEY_ID"])
    context = {"team_id": "t1", "connection_id": "con_1"}
    blob = cipher.encrypt(b'{"secret":"s3cret"}', context)
    assert b"s3cret" not in blob
    assert cipher.decrypt(blob, context) == b'{"secret":"s3cret"}'
    # Copied onto another team's record, the ciphertext does not open: KMS refuses the data key
    with pytest.raises(ClientError) as refused:
        cipher.decrypt(blob, {"team_id": "t2", "connection_id": "con_1"})
    assert refused.value.response["Error"]["Code"] == "InvalidCiphertextException"
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(InvalidTag):
        cipher.decrypt(tampered, context)


def test_loopback_remote_refused_unless_allowed(git_server: GitHttpServer, remote: tuple[str, WorkingCopy]) -> None:
    url, work = remote
    strict = DulwichGitRemote(lambda: guarded_pool_manager(allow_loopback=False, timeout=5))
    with pytest.raises(UnsafeUrlError, match="loopback"):
        strict.ls_remote(url, None)
    with pytest.raises(UnsafeUrlError, match="loopback"):
        strict.ls_remote(url.replace("127.0.0.1", "localhost"), None)
    relaxed = DulwichGitRemote(lambda: guarded_pool_manager(allow_loopback=True, timeout=5))
    assert relaxed.ls_remote(url, None)["refs/heads/main"] == work.head()
