"""Connection credentials sealed with the cipher, bound to their connection (team id + connection id)."""

from __future__ import annotations

import json

from gitconnect.domain.models import Connection
from gitconnect.services.ports import Cipher


class ConnectionSecrets:
    def __init__(self, cipher: Cipher) -> None:
        self._cipher = cipher

    @staticmethod
    def _context(team_id: str, connection_id: str) -> dict[str, str]:
        return {"team_id": team_id, "connection_id": connection_id}

    def seal(self, team_id: str, connection_id: str, credentials: dict[str, str] | None) -> bytes | None:
        if not credentials:
            return None
        return self._cipher.encrypt(json.dumps(credentials).encode(), self._context(team_id, connection_id))

    def open(self, connection: Connection) -> dict[str, str] | None:
        if connection.secret is None:
            return None
        plain = self._cipher.decrypt(connection.secret, self._context(connection.team_id, connection.id))
        return json.loads(plain)  # type: ignore[no-any-return]
