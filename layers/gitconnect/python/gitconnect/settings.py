"""Environment -> one frozen settings object, parsed once per container (DESIGN.md §5 names)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


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
    events_queue_url: str = ""
    # One JSON document of provider secrets in Secrets Manager; a variable of the same name in the environment wins.
    provider_secrets_arn: str = ""
    github_app_id: str = ""
    github_app_slug: str = ""
    github_client_id: str = ""
    github_api_url: str = "https://api.github.com"
    github_web_url: str = "https://github.com"
    gitlab_url: str = "https://gitlab.com"
    gitlab_client_id: str = ""
    bitbucket_client_id: str = ""
    bitbucket_api_url: str = "https://api.bitbucket.org"
    bitbucket_web_url: str = "https://bitbucket.org"
    # Outbound calls to Git remotes and provider APIs never wait longer than this (seconds).
    http_timeout: float = 10.0

    @property
    def api_url(self) -> str:
        return self.public_url.rstrip("/")


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        public_url=_env("GITCONNECT_PUBLIC_URL", "http://127.0.0.1:3000"),
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
        gitlab_url=(_env("GITLAB_URL") or "https://gitlab.com").rstrip("/"),
        gitlab_client_id=_env("GITLAB_CLIENT_ID"),
        bitbucket_client_id=_env("BITBUCKET_CLIENT_ID"),
        bitbucket_api_url=(_env("BITBUCKET_API_URL") or "https://api.bitbucket.org").rstrip("/"),
        bitbucket_web_url=(_env("BITBUCKET_WEB_URL") or "https://bitbucket.org").rstrip("/"),
        events_queue_url=_env("GITCONNECT_EVENTS_QUEUE_URL"),
        provider_secrets_arn=_env("GITCONNECT_PROVIDER_SECRETS_ARN"),
        github_app_id=_env("GITHUB_APP_ID"),
        github_app_slug=_env("GITHUB_APP_SLUG"),
        github_client_id=_env("GITHUB_CLIENT_ID"),
        github_api_url=(_env("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
        github_web_url=(_env("GITHUB_WEB_URL") or "https://github.com").rstrip("/"),
    )


SECRET_NAMES = (
    "GITHUB_APP_PRIVATE_KEY",
    "GITHUB_WEBHOOK_SECRET",
    "GITHUB_WEBHOOK_SECRET_PREVIOUS",
    "GITHUB_CLIENT_SECRET",
    "GITLAB_CLIENT_SECRET",
    "BITBUCKET_CLIENT_SECRET",
)


def secret_from_env(name: str) -> str:
    """A provider secret set directly in the environment (local stack, tests); "" when absent."""
    return _env(name) if name in SECRET_NAMES else ""
