"""Linking through the provider's browser flow. GitHub: install the App, then prove the user can access the
installation GitHub names in the redirect (that id can be spoofed), and read the installation as the App. GitLab
and Bitbucket: OAuth 2.0 authorization code (GitLab with PKCE), the token pair stored sealed.

A provider names its flow's factory in its declaration (`Declaration.browser_flow`, e.g.
`gitconnect.services.oauth:gitlab_oauth_flow`); wiring calls it with `FlowPorts`, and the API reaches the flow by
provider id. Each flow is bound to the id it is built for: its states, connections, callback URL and outcomes say it."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlencode, urlsplit

from gitconnect.domain.errors import BadRequestError, GitconnectError, UnprocessableError
from gitconnect.domain.ids import iso, new_id, utcnow
from gitconnect.domain.models import Connection, Restrictions
from gitconnect.domain.urls import check_remote_url
from gitconnect.providers import REGISTRY
from gitconnect.providers.base import HttpClient, Provider, Tokens
from gitconnect.providers.bitbucket import DECLARATION as BITBUCKET
from gitconnect.providers.bitbucket import oauth as bitbucket_oauth
from gitconnect.providers.github import DECLARATION as GITHUB
from gitconnect.providers.github.webhooks import MAX_ID_DIGITS, account_key
from gitconnect.providers.gitlab import DECLARATION as GITLAB
from gitconnect.providers.gitlab import oauth as gitlab_oauth
from gitconnect.providers.gitlab.api import GitLabApi
from gitconnect.services.installations import GitHubInstallations
from gitconnect.services.ports import ConnectionStore, SourceStore
from gitconnect.services.secrets import ConnectionSecrets

if TYPE_CHECKING:
    from gitconnect.providers.bitbucket.provider import BitbucketProvider
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


class BrowserFlow(Protocol):
    """Linking in the browser: `…/connections/<id>/authorize` answers `authorize`'s URL, and the provider sends the
    browser back to `/v1/oauth/<id>/callback`, whose answer is a redirect to `callback`'s URL."""

    def authorize(self, team_id: str, user_id: str, request: Mapping[str, str | None] | None = None) -> str: ...

    def callback(self, params: Mapping[str, str]) -> str: ...


@dataclass(frozen=True)
class FlowPorts:
    """What wiring gives the browser-flow factory a provider declares (`Declaration.browser_flow`). Each dependency
    is built when the factory asks for it: a flow loads only what it uses."""

    provider_id: str
    states: Callable[[], StateStore]
    connections: Callable[[], ConnectionStore]
    sources: Callable[[], SourceStore]
    secrets: Callable[[], ConnectionSecrets]
    provider: Callable[[], Provider]
    http: Callable[[], HttpClient]
    config: Callable[[], Mapping[str, str]]  # the provider's settings and secrets (wiring.provider_config)
    public_url: str
    dashboard_url: str


def github_install_flow(ports: FlowPorts) -> GitHubInstallFlow:
    github = cast("GitHubProvider", ports.provider())  # the provider the declaration names is a GitHubProvider
    installations = GitHubInstallations(ports.connections(), ports.sources())
    return GitHubInstallFlow(
        ports.states(),
        ports.connections(),
        installations,
        github,
        ports.config(),
        ports.dashboard_url,
        provider_id=ports.provider_id,
    )


def gitlab_oauth_flow(ports: FlowPorts) -> GitLabOAuthFlow:
    return GitLabOAuthFlow(
        ports.states(),
        ports.connections(),
        ports.secrets(),
        ports.http(),
        ports.config(),
        ports.public_url,
        ports.dashboard_url,
        provider_id=ports.provider_id,
    )


def bitbucket_oauth_flow(ports: FlowPorts) -> BitbucketOAuthFlow:
    bitbucket = cast("BitbucketProvider", ports.provider())  # the provider the declaration names
    return BitbucketOAuthFlow(
        ports.states(),
        ports.connections(),
        ports.secrets(),
        bitbucket,
        ports.http(),
        ports.config(),
        ports.dashboard_url,
        provider_id=ports.provider_id,
    )


class _StateBound:
    """What every browser flow does with its one-time `state`: store its hash bound to the team, the user and this
    flow's provider id; take it back once, refusing another flow's or an expired one."""

    def __init__(self, states: StateStore, provider_id: str, dashboard_url: str, clock: Callable[[], float]) -> None:
        self._states, self._provider_id, self._dashboard_url, self._clock = states, provider_id, dashboard_url, clock

    def _put_state(self, sid: str, team_id: str, user_id: str, data: dict[str, Any]) -> None:
        self._states.put(sid, team_id, user_id, self._provider_id, data, int(self._clock()) + STATE_SECONDS)

    def _take_state(self, params: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        """(the state's id, what was stored with it)."""
        state = params.get("state") or ""
        sid = state_id(state) if state else ""
        saved = self._states.take(sid) if state else None
        if saved is None or saved["provider"] != self._provider_id:
            raise LinkRefusedError("the link request is unknown, was already used, or belongs to another flow")
        if saved["expires_at"] < self._clock():
            raise LinkRefusedError("the link request expired: start again")
        return sid, saved

    def _outcome(self, link: Callable[[Mapping[str, str]], Connection], params: Mapping[str, str]) -> str:
        """The dashboard URL to send the browser to, with the outcome (never raises for a refused link)."""
        return self._answer(lambda: {"outcome": "linked", "connection_id": link(params).id})

    def _answer(self, attempt: Callable[[], dict[str, str]]) -> str:
        """The dashboard URL with the outcome `attempt` names, or `outcome=error` and the reason it was refused."""
        try:
            outcome = attempt()
        except GitconnectError as exc:
            outcome = {"outcome": "error", "reason": exc.detail}
        return _dashboard(self._dashboard_url, {"provider": self._provider_id, **outcome})


class GitHubInstallFlow(_StateBound):
    """GitHub sends the browser back with `installation_id` and `setup_action` (`install`, or `update` after the user
    changed an installation), `code` when the App requests user authorization during installation, and our `state`
    when the user came from `authorize` (none when GitHub redirects on its own after an update: "Redirect on update").
    The installation id in the URL can be spoofed: it is linked only once the user's own token shows it, and every
    fact stored about it is read from GitHub as the App."""

    def __init__(
        self,
        states: StateStore,
        connections: ConnectionStore,
        installations: GitHubInstallations,
        github: GitHubProvider,
        config: Mapping[str, str],
        dashboard_url: str,
        clock: Callable[[], float] = time.time,
        *,
        provider_id: str = GITHUB.id,
    ) -> None:
        super().__init__(states, provider_id, dashboard_url, clock)
        self._connections = connections
        self._installations = installations
        self._github = github
        self._config = config

    def authorize(self, team_id: str, user_id: str, request: Mapping[str, str | None] | None = None) -> str:
        """`request` (the body of `…/authorize`) is not needed: the App's install page asks for nothing."""
        slug = self._config.get("GITHUB_APP_SLUG")
        if not slug:
            raise UnprocessableError("the GitHub App is not configured (GITHUB_APP_SLUG)")
        state = secrets.token_urlsafe(32)
        self._put_state(state_id(state), team_id, user_id, {})
        return f"{self._github.web_url}/apps/{slug}/installations/new?{urlencode({'state': state})}"

    def callback(self, params: Mapping[str, str]) -> str:
        """The dashboard URL to send the browser to, with the outcome (never raises for a refused link)."""
        if params.get("setup_action") == "update" and not params.get("state"):
            return self._answer(lambda: self._updated_on_github(params))
        return self._answer(lambda: self._link(params))

    def _link(self, params: Mapping[str, str]) -> dict[str, str]:
        _, saved = self._take_state(params)
        installation = _installation_named(params)
        action = params.get("setup_action") or "install"
        if action not in ("install", "update"):
            raise BadRequestError(f"GitHub named an unknown setup_action {action[:32]!r}")
        team_id = saved["team_id"]
        key = account_key(installation)
        existing = next((c for c in self._connections.list(team_id) if c.account_key == key), None)
        if action == "update" and existing is not None:
            # The team has this installation already (verified when it was linked): GitHub's answer refreshes it.
            refreshed = self._installations.refresh(existing, self._github.installation(installation))
            return {"outcome": "updated", "connection_id": refreshed.id}
        code = params.get("code")
        if not code:
            why = "cannot be verified as yours" if action == "update" else "cannot be verified"
            raise LinkRefusedError(
                f"GitHub sent no authorization code, so the installation {why}: enable 'Request user "
                "authorization (OAuth) during installation' on the App"
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
        view = self._github.installation(installation)
        if existing is not None:
            # Re-linking an installation the team already has: one connection, not two, with GitHub's details.
            return {"outcome": "linked", "connection_id": self._installations.refresh(existing, view).id}
        linked = view.account
        connection = Connection(
            team_id=team_id,
            id=new_id("con"),
            provider=self._provider_id,
            name=linked.name,
            account=linked.account,
            base_url=linked.base_url,
            status=view.status,
            created_at=iso(utcnow()),
            account_key=linked.account_key,
            details=linked.details,
        )
        self._connections.put(connection)
        self._installations.take_over(connection)  # a reinstalled App: the sources left on the uninstalled one
        self._installations.follow_grant(connection, view.repository_ids)
        return {"outcome": "linked", "connection_id": connection.id}

    def _updated_on_github(self, params: Mapping[str, str]) -> dict[str, str]:
        """GitHub's own redirect after the user changed an installation on GitHub ("Redirect on update", no state):
        nothing new is linked; every team's connection to it is refreshed from the App's view of it."""
        installation = _installation_named(params)
        connections = [
            c for c in self._connections.by_account(account_key(installation)) if c.provider == self._provider_id
        ]
        if not connections:
            # Checked before GitHub is asked: a forged URL for an installation nobody linked costs no API call.
            raise LinkRefusedError(
                "no team has linked this GitHub App installation: connect GitHub from the dashboard to link it"
            )
        view = self._github.installation(installation)
        for connection in connections:  # bounded: the teams that linked this one installation
            self._installations.refresh(connection, view)
        # No connection id: the URL is unauthenticated, and the installation may be several teams'.
        return {"outcome": "updated", "installation_id": installation}


def _installation_named(params: Mapping[str, str]) -> str:
    installation = params.get("installation_id") or ""
    if not (installation.isascii() and installation.isdigit() and len(installation) <= MAX_ID_DIGITS):
        raise BadRequestError("GitHub did not name an installation")
    return installation


class _OAuthGrant(_StateBound):
    """What the OAuth code flows do once the provider granted tokens: one new connection per grant (`account_key`
    names the connection, not the account: two users of a team may each link their own account)."""

    _connections: ConnectionStore
    _secrets: ConnectionSecrets

    def _granted(self, team_id: str, account: str, base_url: str, name: str, credentials: dict[str, str]) -> Connection:
        connection_id = new_id("con")
        connection = Connection(
            team_id=team_id,
            id=connection_id,
            provider=self._provider_id,
            name=name,
            account=account,
            base_url=base_url,
            status="active",
            created_at=iso(utcnow()),
            account_key=f"{self._provider_id}#{connection_id}",
            secret=self._secrets.seal(team_id, connection_id, credentials),
            # Its token reaches every group of its user: a client prompts until an admin answers PUT …/restrictions.
            restrictions=Restrictions(confirmed=not REGISTRY[self._provider_id].asks_restrictions),
        )
        self._connections.put(connection)
        return connection


def _authorization_code(params: Mapping[str, str], provider: str) -> str:
    """The callback's `code`, or why the provider sent none (the user declined, or the app is misconfigured)."""
    if params.get("error"):
        raise LinkRefusedError(
            f"{provider} did not authorize the link: {params.get('error_description') or params['error']}"
        )
    if not params.get("code"):
        raise LinkRefusedError(f"{provider} sent no authorization code")
    return params["code"]


def _credentials(tokens: Tokens) -> dict[str, str]:
    return {
        "kind": "oauth",
        "token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": str(tokens.expires_at or ""),
    }


class GitLabOAuthFlow(_OAuthGrant):
    """OAuth 2.0 authorization code + PKCE against gitlab.com (the deployment's OAuth application) or a self-hosted
    GitLab (the OAuth application the user registered there: its client id and secret come with the request)."""

    def __init__(
        self,
        states: StateStore,
        connections: ConnectionStore,
        secrets: ConnectionSecrets,
        http: HttpClient,
        config: Mapping[str, str],
        public_url: str,
        dashboard_url: str,
        clock: Callable[[], float] = time.time,
        *,
        provider_id: str = GITLAB.id,
    ) -> None:
        super().__init__(states, provider_id, dashboard_url, clock)
        self._connections, self._secrets = connections, secrets
        self._http, self._config = http, config
        self.redirect_uri = f"{public_url.rstrip('/')}/v1/oauth/{provider_id}/callback"

    def authorize(self, team_id: str, user_id: str, request: Mapping[str, str | None] | None = None) -> str:
        request = request or {}
        default = self._config.get("GITLAB_URL") or "https://gitlab.com"
        base_url = check_remote_url(request.get("base_url") or default)
        if request.get("client_id") or base_url != default:
            client_id, client_secret = request.get("client_id"), request.get("client_secret")
            if not client_id or not client_secret:
                raise BadRequestError(
                    "a self-hosted GitLab needs the `client_id` and `client_secret` of the OAuth "
                    f"application registered there (redirect URI {self.redirect_uri})"
                )
        else:
            client_id, client_secret = self._config.get("GITLAB_CLIENT_ID"), self._config.get("GITLAB_CLIENT_SECRET")
            if not client_id or not client_secret:
                raise UnprocessableError("GitLab OAuth is not configured (GITLAB_CLIENT_ID, GITLAB_CLIENT_SECRET)")
        GitLabApi(self._http, base_url).version(None)  # SSRF rules (in the client) and "is it a GitLab?"
        state, verifier = secrets.token_urlsafe(32), gitlab_oauth.new_verifier()
        sid = state_id(state)
        sealed = self._secrets.seal(team_id, sid, {"client_secret": client_secret})
        data = {
            "base_url": base_url,
            "client_id": client_id,
            "verifier": verifier,
            "sealed": base64.b64encode(sealed or b"").decode(),
        }
        self._put_state(sid, team_id, user_id, data)
        return gitlab_oauth.authorize_url(
            base_url, client_id, self.redirect_uri, state, gitlab_oauth.challenge(verifier)
        )

    def callback(self, params: Mapping[str, str]) -> str:
        return self._outcome(self._link, params)

    def _link(self, params: Mapping[str, str]) -> Connection:
        sid, saved = self._take_state(params)
        code = _authorization_code(params, "GitLab")
        data, team_id = saved["data"], saved["team_id"]
        opened = self._secrets.open_sealed(team_id, sid, base64.b64decode(data["sealed"]))
        base_url, client_id, client_secret = data["base_url"], data["client_id"], opened["client_secret"]
        tokens = gitlab_oauth.exchange_code(
            self._http,
            base_url,
            client_id,
            client_secret,
            code,
            self.redirect_uri,
            data["verifier"],
            clock=self._clock,
        )
        user = GitLabApi(self._http, base_url).current_user(tokens.access_token)
        username = str(user.get("username") or user.get("id"))
        # The client's own id and secret travel with the tokens: a self-hosted instance's refresh needs them.
        client = {"client_id": client_id, "client_secret": client_secret, "redirect_uri": self.redirect_uri}
        name = f"{username}@{urlsplit(base_url).netloc}"
        return self._granted(team_id, username, base_url, name, {**_credentials(tokens), **client})


class BitbucketOAuthFlow(_OAuthGrant):
    """OAuth 2.0 authorization code grant with the deployment's Bitbucket OAuth consumer (`BITBUCKET_CLIENT_ID`,
    secret `BITBUCKET_CLIENT_SECRET`; its callback URL is `<GITCONNECT_PUBLIC_URL>/v1/oauth/bitbucket/callback`)."""

    def __init__(
        self,
        states: StateStore,
        connections: ConnectionStore,
        secrets: ConnectionSecrets,
        bitbucket: BitbucketProvider,
        http: HttpClient,
        config: Mapping[str, str],
        dashboard_url: str,
        clock: Callable[[], float] = time.time,
        *,
        provider_id: str = BITBUCKET.id,
    ) -> None:
        super().__init__(states, provider_id, dashboard_url, clock)
        self._connections, self._secrets = connections, secrets
        self._bitbucket, self._http, self._config = bitbucket, http, config

    def authorize(self, team_id: str, user_id: str, request: Mapping[str, str | None] | None = None) -> str:
        """No `request`: the API refuses a body first (`Declaration.refuses_authorize_body`)."""
        client_id = self._config.get("BITBUCKET_CLIENT_ID")
        if not client_id or not self._config.get("BITBUCKET_CLIENT_SECRET"):
            raise UnprocessableError("Bitbucket OAuth is not configured (BITBUCKET_CLIENT_ID, BITBUCKET_CLIENT_SECRET)")
        state = secrets.token_urlsafe(32)
        self._put_state(state_id(state), team_id, user_id, {})
        return bitbucket_oauth.authorize_url(self._bitbucket.web_url, client_id, state)

    def callback(self, params: Mapping[str, str]) -> str:
        return self._outcome(self._link, params)

    def _link(self, params: Mapping[str, str]) -> Connection:
        _, saved = self._take_state(params)
        code = _authorization_code(params, "Bitbucket")
        tokens = bitbucket_oauth.exchange_code(
            self._http,
            self._bitbucket.web_url,
            self._config.get("BITBUCKET_CLIENT_ID", ""),
            self._config.get("BITBUCKET_CLIENT_SECRET", ""),
            code,
            clock=self._clock,
        )
        user = self._bitbucket.api.current_user(f"Bearer {tokens.access_token}")
        account = str(user.get("nickname") or user.get("display_name") or user.get("uuid"))
        name = f"{account}@{self._provider_id}"
        return self._granted(saved["team_id"], account, self._bitbucket.web_url, name, _credentials(tokens))


def _dashboard(base: str, outcome: Mapping[str, str]) -> str:
    base = base or "/"
    return f"{base}{'&' if '?' in base else '?'}{urlencode(outcome)}"
