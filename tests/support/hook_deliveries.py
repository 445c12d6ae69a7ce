"""Per-hook webhook deliveries (GitLab, Bitbucket) to hooks stored straight in the hooks table, for counting what
the intake costs per delivery (tests/functional/test_hook_secret_calls.py, bench section 5.1). Call under the
system's environment (`start_system`): hooks are sealed by `wiring.secrets()`, as HookService seals them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from pathlib import Path
from typing import Any

from gitconnect.domain.ids import iso, new_id, utcnow
from gitconnect.domain.models import Hook
from tests.support import bitbucket_fixtures

PROVIDERS = ("gitlab", "bitbucket")
GITLAB_PUSH = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab" / "push-hook.json"


def store_hook(provider: str, team: str, *, legacy: bool = False) -> tuple[str, str]:
    """A hook of `provider` with a fresh secret; `legacy`: sealed the way hooks were before the shared data key (a
    KMS data key of its own, under the record's context). Returns (hook id, secret)."""
    from gitconnect import wiring
    from gitconnect.adapters.cipher import KmsEnvelopeCipher

    hook_id, secret = new_id("hook"), secrets.token_urlsafe(32)
    if legacy:
        cipher = KmsEnvelopeCipher(wiring.aws_client("kms"), wiring.settings().kms_key_id)
        sealed = cipher.encrypt(secret.encode(), {"team_id": team, "hook_id": hook_id})
    else:
        sealed = wiring.secrets().seal_hook_secret(team, hook_id, secret)
    hook = Hook(hook_id, team, "conn_none", "src_none", provider, "1", "acme/app", "7", sealed, 1, iso(utcnow()))
    wiring.stores().hooks.put(hook)
    return hook_id, secret


def delivery(provider: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """A real push payload (GitLab's documented example, Bitbucket's fixture) signed the provider's way."""
    if provider == "gitlab":
        body = GITLAB_PUSH.read_bytes()
        return body, {"x-gitlab-token": secret, "x-gitlab-event": "Push Hook", "x-gitlab-event-uuid": str(uuid.uuid4())}
    body = bitbucket_fixtures.raw("repo-push")
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"x-hub-signature": signature, "x-event-key": "repo:push", "x-request-uuid": str(uuid.uuid4())}


def deliver(system: Any, provider: str, hook_id: str, secret: str) -> int:
    """One delivery to the hook's URL through the template's route; the intake's status."""
    body, headers = delivery(provider, secret)
    return system.call("POST", f"/v1/webhooks/{provider}/{hook_id}", raw_body=body, headers=headers).status
