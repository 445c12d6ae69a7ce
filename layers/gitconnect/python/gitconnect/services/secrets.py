"""Connection credentials sealed with the cipher, bound to their connection (team id + connection id)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Protocol, cast

from gitconnect.domain.models import Connection, Hook
from gitconnect.providers.base import Access
from gitconnect.services.ports import Cipher, HookCipher

# Opened credentials stay in this container's memory for a few minutes, so a poll every minute does not pay a KMS
# Decrypt per private source. The key includes the ciphertext's hash: re-linked credentials are never served stale,
# and an unlinked connection is never looked up (its record is gone first).
_CACHE_SECONDS = 300.0


class Refresher(Protocol):
    def fresh(self, connection: Connection, credentials: dict[str, str] | None) -> dict[str, str] | None: ...


class ConnectionSecrets:
    def __init__(
        self, cipher: Cipher, clock: Callable[[], float] = time.monotonic, hook_cipher: HookCipher | None = None
    ) -> None:
        """`hook_cipher` seals per-hook webhook secrets (wiring: the shared-data-key cipher, so that the intake opens
        an uncached hook's secret without a KMS call); without one, `cipher` does and every sealed secret is current."""
        self._cipher = cipher
        self._hook_cipher: Cipher = hook_cipher if hook_cipher is not None else cipher
        self._hook_current: Callable[[bytes], bool] = (
            hook_cipher.current if hook_cipher is not None else lambda _blob: True
        )
        self._clock = clock
        self._opened: dict[tuple[str, str, str], tuple[float, dict[str, str]]] = {}

    @staticmethod
    def _context(team_id: str, connection_id: str) -> dict[str, str]:
        return {"team_id": team_id, "connection_id": connection_id}

    def seal(self, team_id: str, connection_id: str, credentials: dict[str, str] | None) -> bytes | None:
        if not credentials:
            return None
        return self._cipher.encrypt(json.dumps(credentials).encode(), self._context(team_id, connection_id))

    def open_sealed(self, team_id: str, connection_id: str, blob: bytes) -> dict[str, str]:
        """What `seal` sealed under that team and id (also used for secrets parked with a one-time state)."""
        opened = json.loads(self._cipher.decrypt(blob, self._context(team_id, connection_id)))
        return cast(dict[str, str], opened)  # what `seal` sealed: a JSON object of strings

    def open(self, connection: Connection) -> dict[str, str] | None:
        if connection.secret is None:
            return None
        key = (connection.team_id, connection.id, hashlib.sha256(connection.secret).hexdigest())
        now = self._clock()
        cached = self._opened.get(key)
        if cached and cached[0] > now:
            return dict(cached[1])
        plain = self._cipher.decrypt(connection.secret, self._context(connection.team_id, connection.id))
        credentials: dict[str, str] = json.loads(plain)
        self._opened = {k: v for k, v in self._opened.items() if v[0] > now}  # drop expired entries
        self._opened[key] = (now + _CACHE_SECONDS, credentials)
        return dict(credentials)

    def seal_hook_secret(self, team_id: str, hook_id: str, secret: str) -> bytes:
        return self._hook_cipher.encrypt(secret.encode(), {"team_id": team_id, "hook_id": hook_id})

    def open_hook_secret(self, hook: Hook) -> str:
        return self._hook_cipher.decrypt(hook.secret, {"team_id": hook.team_id, "hook_id": hook.id}).decode()

    def resealed_hook_secret(self, hook: Hook) -> bytes | None:
        """The hook's secret sealed the current way, or None when it already is (a hook stored before the shared
        data key: its per-item KMS envelope still opens, at a Decrypt per container, until this replaces it)."""
        if self._hook_current(hook.secret):
            return None
        return self.seal_hook_secret(hook.team_id, hook.id, self.open_hook_secret(hook))

    # Set by wiring: credentials that expire (OAuth) are refreshed before they are handed out.
    refresher: Refresher | None = None

    def access(self, connection: Connection) -> Access:
        credentials = self.open(connection)
        if self.refresher is not None:
            credentials = self.refresher.fresh(connection, credentials)
        return Access(connection.base_url, connection.account_key, credentials)
