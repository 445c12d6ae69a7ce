"""Environment -> one frozen settings object, parsed once per container (DESIGN.md §5 names)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitconnect.providers.declaration import Setting


@dataclass(frozen=True)
class Settings:
    public_url: str
    dashboard_url: str
    jwt_secret: str
    jwks_url: str
    jwt_issuer: str
    jwt_audience: str
    allow_loopback: bool
    region: str
    connections_table: str
    sources_table: str
    builds_table: str
    deliveries_table: str
    idempotency_table: str
    builds_queue_url: str
    event_bus: str
    kms_key_id: str
    state_table: str = ""
    hooks_table: str = ""
    templates_table: str = ""
    hook_secret_refresh_seconds: float = 2.0
    hook_check_seconds: float = 900.0
    # How often a polled source is polled unless it sets its own `poll_seconds` (0: at every scheduled sync, tests).
    poll_seconds: float = 180.0
    sync_queue_url: str = ""  # the scheduled sync sends due work here; SyncFunction does it
    gitops_queue_url: str = ""  # the FIFO `gitops` queue: template syncs, one message group per repository+branch
    # How often a linked template whose provider sends webhooks is checked for drift (a missed delivery); templates
    # on Custom Git (no webhooks) are checked every `poll_seconds`.
    drift_seconds: float = 900.0
    redelivery_seconds: float = 300.0  # GitHub: how often its log of failed deliveries is read
    # How often each webhook-fed source's watched heads and tags are compared with what gitconnect last saw.
    reconcile_seconds: float = 900.0
    # How long a container keeps a connection's repository, branch and namespace lists (and how long a listing's
    # cursor stays valid).
    listing_cache_seconds: float = 300.0
    events_queue_url: str = ""
    status_queue_url: str = ""
    # One JSON document of provider secrets in Secrets Manager; a variable of the same name in the environment wins.
    provider_secrets_arn: str = ""
    # Each registered provider's settings by their DESIGN.md §5 names, from its declaration (providers/<id>/):
    # {provider id: {"GITHUB_API_URL": "https://api.github.com", ...}}. Secrets are not here (wiring reads them).
    providers: Mapping[str, Mapping[str, str]] = field(default_factory=dict, hash=False)
    # The SSM parameter holding the API's own URL, for a deployment without PublicUrl (wiring.public_url reads it).
    public_url_parameter: str = ""
    # Outbound calls to Git remotes and provider APIs never wait longer than this (seconds).
    http_timeout: float = 10.0

    @property
    def api_url(self) -> str:
        return self.public_url.rstrip("/")

    def provider(self, provider_id: str) -> Mapping[str, str]:
        """One provider's settings by variable name (empty for a provider that has none, or is unknown)."""
        return self.providers.get(provider_id, {})

    def shared(self, name: str) -> str:
        """A deployment-wide setting a provider declares it is given (`Declaration.shared_settings`)."""
        return str(getattr(self, SHARED[name]))

    if not TYPE_CHECKING:  # typed code reads `provider(id)[NAME]`; this keeps `settings.github_api_url` working

        def __getattr__(self, name: str) -> str:
            """A provider setting by its variable's name in lower case (`github_api_url` is GITHUB_API_URL)."""
            for values in self.__dict__.get("providers", {}).values():
                for variable, value in values.items():
                    if variable.lower() == name:
                        return value
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


# The deployment-wide settings a provider may be given, by variable name -> Settings attribute.
SHARED: dict[str, str] = {"GITCONNECT_PUBLIC_URL": "public_url", "GITCONNECT_DASHBOARD_URL": "dashboard_url"}


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        public_url=_env("GITCONNECT_PUBLIC_URL", "http://127.0.0.1:3000"),
        public_url_parameter=_env("GITCONNECT_PUBLIC_URL_PARAMETER"),
        dashboard_url=_env("GITCONNECT_DASHBOARD_URL"),
        jwt_secret=_env("GITCONNECT_JWT_SECRET"),
        jwks_url=_env("GITCONNECT_JWKS_URL"),
        jwt_issuer=_env("GITCONNECT_JWT_ISSUER"),
        jwt_audience=_env("GITCONNECT_JWT_AUDIENCE"),
        allow_loopback=_env("GITCONNECT_ALLOW_LOOPBACK") == "1",
        region=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION", "us-east-1"),
        connections_table=_env("GITCONNECT_CONNECTIONS_TABLE"),
        sources_table=_env("GITCONNECT_SOURCES_TABLE"),
        builds_table=_env("GITCONNECT_BUILDS_TABLE"),
        deliveries_table=_env("GITCONNECT_DELIVERIES_TABLE"),
        idempotency_table=_env("GITCONNECT_IDEMPOTENCY_TABLE"),
        builds_queue_url=_env("GITCONNECT_BUILDS_QUEUE_URL"),
        event_bus=_env("GITCONNECT_EVENT_BUS"),
        kms_key_id=_env("GITCONNECT_KMS_KEY_ID"),
        http_timeout=float(_env("GITCONNECT_HTTP_TIMEOUT", "10")),
        state_table=_env("GITCONNECT_STATE_TABLE"),
        hooks_table=_env("GITCONNECT_HOOKS_TABLE"),
        templates_table=_env("GITCONNECT_TEMPLATES_TABLE"),
        hook_secret_refresh_seconds=float(_env("GITCONNECT_HOOK_SECRET_REFRESH_SECONDS", "2")),
        hook_check_seconds=float(_env("GITCONNECT_HOOK_CHECK_SECONDS", "900")),
        poll_seconds=float(_env("GITCONNECT_POLL_SECONDS", "180")),
        sync_queue_url=_env("GITCONNECT_SYNC_QUEUE_URL"),
        gitops_queue_url=_env("GITCONNECT_GITOPS_QUEUE_URL"),
        drift_seconds=float(_env("GITCONNECT_DRIFT_SECONDS", "900")),
        redelivery_seconds=float(_env("GITCONNECT_REDELIVERY_SECONDS", "300")),
        reconcile_seconds=float(_env("GITCONNECT_RECONCILE_SECONDS", "900")),
        listing_cache_seconds=float(_env("GITCONNECT_LISTING_CACHE_SECONDS", "300")),
        events_queue_url=_env("GITCONNECT_EVENTS_QUEUE_URL"),
        status_queue_url=_env("GITCONNECT_STATUS_QUEUE_URL"),
        provider_secrets_arn=_env("GITCONNECT_PROVIDER_SECRETS_ARN"),
        providers=_provider_settings(),
    )


def _provider_settings() -> dict[str, dict[str, str]]:
    from gitconnect.providers import REGISTRY  # here, not at the top: importing settings stays cheap

    return {d.id: {s.name: _setting(s) for s in d.settings} for d in REGISTRY.values()}


def _setting(setting: Setting) -> str:
    value = _env(setting.name) or setting.default
    return value.rstrip("/") if setting.url else value


def secret_names() -> frozenset[str]:
    """The provider secrets the registered providers declare: the only variables read as secrets."""
    from gitconnect.providers import REGISTRY

    return frozenset(name for d in REGISTRY.values() for name in d.secret_names())


def secret_from_env(name: str) -> str:
    """A provider secret set directly in the environment (local stack, tests); "" when absent."""
    return _env(name) if name in secret_names() else ""
