"""GitHub through a GitHub App: `webhooks` (verify + normalize, sans I/O), `api` (REST calls over the injected
HTTP client), `app_auth` (App JWT, installation tokens), `provider` (the provider protocol).

Its declaration is here, importing nothing of those modules (the registry, and so the webhook intake, loads it)."""

from __future__ import annotations

from gitconnect.providers.declaration import Declaration, Setting, webhook

DECLARATION = Declaration(
    id="github",
    title="GitHub",
    provider="gitconnect.providers.github.provider:GitHubProvider",
    settings=(
        Setting("GITHUB_APP_ID"),
        Setting("GITHUB_APP_SLUG"),
        Setting("GITHUB_CLIENT_ID"),
        Setting("GITHUB_API_URL", "https://api.github.com", url=True),
        Setting("GITHUB_WEB_URL", "https://github.com", url=True),
    ),
    secrets=("GITHUB_APP_PRIVATE_KEY", "GITHUB_CLIENT_SECRET"),
    links=("app_install",),
    link_request="gitconnect.api.schemas:GitHubCredentialsLink",  # answers that the App is installed instead
    browser_flow="gitconnect.services.oauth:github_install_flow",
    releases=True,
    webhook=webhook(
        "gitconnect.providers.github.webhooks:SPEC",
        per_hook=False,
        secrets=("GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET_PREVIOUS"),
        summary="The GitHub App's webhook URL",
        description="Verified with X-Hub-Signature-256 (HMAC-SHA256 over the raw body; the previous secret is "
        "accepted while rotating). X-GitHub-Event and X-GitHub-Delivery are required. Answers 202 once the delivery is "
        "queued (duplicates and ignored events too), 200 for ping, 401 for a missing or wrong signature, 400 for "
        "malformed JSON, 413 over 5 MiB.",
        headers=("X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256"),
        responses={"200": "ping answered", "401": "missing or wrong signature"},
    ),
)
