"""Provider secrets: the environment first (local stack, tests), else one JSON document in Secrets Manager,
fetched through Powertools parameters and cached for five minutes (a warm webhook makes no Secrets Manager call)."""

from __future__ import annotations

from gitconnect.settings import Settings, secret_from_env

_MAX_AGE_SECONDS = 300


def provider_secret(settings: Settings, name: str) -> str:
    value = secret_from_env(name)
    if value or not settings.provider_secrets_arn:
        return value
    from aws_lambda_powertools.utilities import parameters

    document = parameters.get_secret(settings.provider_secrets_arn, transform="json", max_age=_MAX_AGE_SECONDS)
    return str((document or {}).get(name) or "")
