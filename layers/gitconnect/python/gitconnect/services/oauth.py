"""Linking through the provider's browser flow. GitHub: install the App, then prove the user can access the
installation GitHub names in the redirect (that id can be spoofed), and read the installation as the App."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from gitconnect.domain.errors import BadRequestError, GitconnectError, UnprocessableError
from gitconnect.domain.ids import iso, new_id, utcnow
from gitconnect.domain.models import Connection
from gitconnect.services.ports import ConnectionStore

if TYPE_CHECKING:
    from gitconnect.providers.github.provider import GitHubProvider

STATE_SECONDS = 600


class StateStore(Protocol):
    def put(
        self, state_id: str, team_id: str, user_id: str, provider: str, data: dict[str, Any], expires_at: int
    ) -> None: ...
    def take(self, state_id: str) -> dict[str, Any] | None: ...


class LinkRefusedError(GitconnectError):
    status = 400
    title = "Link refused"


def state_id(state: str) -> str:
    """Only the hash is stored: a leaked table does not hand out usable states."""
    return hashlib.sha256(state.encode()).hexdigest()


class GitHubInstallFlow:
    def __init__(
        self,
        states: StateStore,
        connections: ConnectionStore,
        github: GitHubProvider,
        config: Mapping[str, str],
        dashboard_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._states = states
        self._connections = connections
        self._github = github
        self._config = config
        self._dashboard_url = dashboard_url
        self._clock = clock

    def authorize(self, team_id: str, user_id: str) -> str:
        slug = self._config.get("GITHUB_APP_SLUG")
        if not slug:
            raise UnprocessableError("the GitHub App is not configured (GITHUB_APP_SLUG)")
        state = secrets.token_urlsafe(32)
        self._states.put(state_id(state), team_id, user_id, "github", {}, int(self._clock()) + STATE_SECONDS)
        return f"{self._github.web_url}/apps/{slug}/installations/new?{urlencode({'state': state})}"

    def callback(self, params: Mapping[str, str]) -> str:
        """The dashboard URL to send the browser to, with the outcome (never raises for a refused link)."""
        try:
            connection = self._link(params)
        except GitconnectError as exc:
            return self._dashboard({"provider": "github", "outcome": "error", "reason": exc.detail})
        return self._dashboard({"provider": "github", "outcome": "linked", "connection_id": connection.id})

    def _link(self, params: Mapping[str, str]) -> Connection:
        state = params.get("state") or ""
        saved = self._states.take(state_id(state)) if state else None
        if saved is None or saved["provider"] != "github":
            raise LinkRefusedError("the link request is unknown, was already used, or belongs to another flow")
        if saved["expires_at"] < self._clock():
            raise LinkRefusedError("the link request expired: start again")
        installation = params.get("installation_id") or ""
        if not installation.isdigit():
            raise BadRequestError("GitHub did not name an installation")
        code = params.get("code")
        if not code:
            raise LinkRefusedError(
                "GitHub sent no authorization code: enable 'Request user authorization (OAuth) "
                "during installation' on the App"
            )
        # The installation id in the URL can be spoofed: link it only if this user can access it...
        user_token = self._github.api.exchange_code(
            self._github.web_url,
            self._config.get("GITHUB_CLIENT_ID", ""),
            self._config.get("GITHUB_CLIENT_SECRET", ""),
            code,
        )
        visible = {str(i.get("id")) for i in self._github.api.user_installations(user_token)}
        if installation not in visible:
            raise LinkRefusedError("that installation is not accessible to the GitHub user who installed the App")
        # ... and read it as the App itself.
        details = self._github.api.installation(self._github.tokens.app_jwt(), installation)
        linked = self._github.installation_account(installation, details)
        team_id = saved["team_id"]
        existing = next((c for c in self._connections.list(team_id) if c.account_key == linked.account_key), None)
        if existing is not None:
            return existing  # re-linking an installation the team already has: one connection, not two
        connection = Connection(
            team_id=team_id,
            id=new_id("con"),
            provider="github",
            name=linked.name,
            account=linked.account,
            base_url=linked.base_url,
            status="suspended" if details.get("suspended_at") else "active",
            created_at=iso(utcnow()),
            account_key=linked.account_key,
            details=linked.details,
        )
        self._connections.put(connection)
        return connection

    def _dashboard(self, outcome: Mapping[str, str]) -> str:
        base = self._dashboard_url or "/"
        return f"{base}{'&' if '?' in base else '?'}{urlencode(outcome)}"
