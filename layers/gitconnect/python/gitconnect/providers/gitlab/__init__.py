"""GitLab (gitlab.com and self-managed): `webhooks` (verify + normalize, sans I/O), `api` (REST calls over the injected
HTTP client), `oauth` (authorization and token refresh), `provider` (the provider protocol).

Its declaration is here, importing nothing of those modules (the registry, and so the webhook intake, loads it)."""

from __future__ import annotations

from gitconnect.providers.declaration import Declaration, Setting, webhook

DECLARATION = Declaration(
    id="gitlab",
    title="GitLab",
    provider="gitconnect.providers.gitlab.provider:GitLabProvider",
    settings=(
        Setting("GITLAB_URL", "https://gitlab.com", url=True),  # self-hosted instances are named per connection
        Setting("GITLAB_CLIENT_ID"),
    ),
    secrets=("GITLAB_CLIENT_SECRET",),
    links=("credentials", "oauth"),
    link_request="gitconnect.api.schemas:GitLabTokenLink",
    browser_flow="gitconnect.services.oauth:gitlab_oauth_flow",
    asks_restrictions=True,
    releases=True,
    webhook=webhook(
        "gitconnect.providers.gitlab.webhooks:SPEC",
        per_hook=True,
        summary="A GitLab project hook gitconnect registered",
        description="Verified by comparing X-Gitlab-Token with the hook's own secret in constant time. "
        "X-Gitlab-Event and Idempotency-Key or X-Gitlab-Event-UUID are required. 202 once queued (duplicates and "
        "ignored events too), 401 for a wrong token, 404 for an unknown hook, 400 malformed, 413 over 5 MiB.",
        headers=("X-Gitlab-Token", "X-Gitlab-Event"),
        responses={"401": "wrong or missing token", "404": "no such hook"},
    ),
)
