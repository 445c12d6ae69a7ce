"""Bitbucket Cloud: OAuth consumers, API tokens and access tokens; per-source repository webhooks.

Its declaration is here, importing nothing of the package's modules (the registry, and so the webhook intake, loads
it)."""

from __future__ import annotations

from gitconnect.providers.declaration import Declaration, Setting, Webhook

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
    webhook=Webhook(
        spec="gitconnect.providers.bitbucket.webhooks:SPEC",
        per_hook=True,
        openapi={
            "summary": "A Bitbucket Cloud repository webhook gitconnect registered",
            "tags": ["webhooks"],
            "description": "Verified with X-Hub-Signature (`sha256=` HMAC-SHA256 over the raw body with the hook's own "
            "secret, compared in constant time). X-Event-Key and X-Request-UUID (the delivery id, kept across retries) "
            "are required. 202 once queued (duplicates and ignored events too), 401 for a missing or wrong signature, "
            "404 for an unknown hook, 400 malformed, 413 over 5 MiB.",
            "parameters": [
                {"name": "hook_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "X-Hub-Signature", "in": "header", "required": True, "schema": {"type": "string"}},
                {"name": "X-Event-Key", "in": "header", "required": True, "schema": {"type": "string"}},
                {"name": "X-Request-UUID", "in": "header", "required": True, "schema": {"type": "string"}},
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "202": {"description": "queued for routing"},
                "400": {"description": "malformed delivery"},
                "401": {"description": "missing or wrong signature"},
                "404": {"description": "no such hook"},
                "413": {"description": "body over the limit"},
            },
        },
    ),
)
