"""Bitbucket Cloud: OAuth consumers, API tokens and access tokens; per-source repository webhooks.

Its declaration is here, importing nothing of the package's modules (the registry, and so the webhook intake, loads
it)."""

from __future__ import annotations

from gitconnect.providers.declaration import Declaration, Setting, webhook

DECLARATION = Declaration(
    id="bitbucket",
    title="Bitbucket Cloud",
    provider="gitconnect.providers.bitbucket.provider:BitbucketProvider",
    settings=(
        Setting("BITBUCKET_CLIENT_ID"),
        Setting("BITBUCKET_API_URL", "https://api.bitbucket.org", url=True),  # the API is under /2.0
        Setting("BITBUCKET_WEB_URL", "https://bitbucket.org", url=True),  # OAuth authorize and token endpoints
    ),
    secrets=("BITBUCKET_CLIENT_SECRET",),
    shared_settings=("GITCONNECT_PUBLIC_URL",),  # build statuses link to the build when the builder names no URL
    links=("credentials", "oauth"),
    link_request="gitconnect.api.schemas:BitbucketLink",
    browser_flow="gitconnect.services.oauth:bitbucket_oauth_flow",
    refuses_authorize_body="Bitbucket Cloud is linked through the deployment's OAuth consumer: send no body",
    asks_restrictions=True,
    webhook=webhook(
        "gitconnect.providers.bitbucket.webhooks:SPEC",
        per_hook=True,
        summary="A Bitbucket Cloud repository webhook gitconnect registered",
        description="Verified with X-Hub-Signature (`sha256=` HMAC-SHA256 over the raw body with the hook's own "
        "secret, compared in constant time). X-Event-Key and X-Request-UUID (the delivery id, kept across retries) "
        "are required. 202 once queued (duplicates and ignored events too), 401 for a missing or wrong signature, "
        "404 for an unknown hook, 400 malformed, 413 over 5 MiB.",
        headers=("X-Hub-Signature", "X-Event-Key", "X-Request-UUID"),
        responses={"401": "missing or wrong signature", "404": "no such hook"},
    ),
)
