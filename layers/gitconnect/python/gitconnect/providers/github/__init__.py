"""GitHub through a GitHub App: `webhooks` (verify + normalize, sans I/O), `api` (REST calls over the injected
HTTP client), `app_auth` (App JWT, installation tokens), `provider` (the provider protocol).

Its declaration is here, importing nothing of those modules (the registry, and so the webhook intake, loads it)."""

from __future__ import annotations

from gitconnect.providers.declaration import Declaration, Setting, Webhook

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
    webhook=Webhook(
        spec="gitconnect.providers.github.webhooks:SPEC",
        per_hook=False,
        secrets=("GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET_PREVIOUS"),
        openapi={
            "summary": "The GitHub App's webhook URL",
            "tags": ["webhooks"],
            "description": "Verified with X-Hub-Signature-256 (HMAC-SHA256 over the raw body; the previous secret "
            "is accepted while rotating). X-GitHub-Event and X-GitHub-Delivery are required. Answers 202 once the "
            "delivery is queued (duplicates and ignored events too), 200 for ping, 401 for a missing or wrong "
            "signature, 400 for malformed JSON, 413 over 5 MiB.",
            "parameters": [
                {"name": "X-GitHub-Event", "in": "header", "required": True, "schema": {"type": "string"}},
                {"name": "X-GitHub-Delivery", "in": "header", "required": True, "schema": {"type": "string"}},
                {"name": "X-Hub-Signature-256", "in": "header", "required": True, "schema": {"type": "string"}},
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "200": {"description": "ping answered"},
                "202": {"description": "queued for routing"},
                "400": {"description": "malformed delivery"},
                "401": {"description": "missing or wrong signature"},
                "413": {"description": "body over the limit"},
            },
        },
    ),
)
