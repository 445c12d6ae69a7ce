"""Webhooks gitconnect registers on a provider (GitLab, Bitbucket): one per source, with its own URL and secret.

Registering happens before a source is stored (a source that cannot receive events is not created); removal on
source delete and unlink is best effort and logged (the provider may already have lost the hook or our access).
"""

from __future__ import annotations

import logging
import secrets as random
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from gitconnect.domain.errors import GitconnectError
from gitconnect.domain.events import RepoRef
from gitconnect.domain.ids import iso, new_id, utcnow
from gitconnect.domain.models import Connection, Hook, Source
from gitconnect.providers.base import Access, ManagedWebhooks, Provider
from gitconnect.services.secrets import ConnectionSecrets

log = logging.getLogger(__name__)


class HookStore(Protocol):
    def put(self, h: Hook) -> None: ...
    def get(self, hook_id: str) -> Hook | None: ...
    def for_connection(self, connection_id: str) -> list[Hook]: ...
    def delete(self, hook_id: str) -> None: ...


class HookService:
    def __init__(
        self,
        hooks: HookStore,
        secrets: ConnectionSecrets,
        providers: Callable[[str], Provider],
        public_url: str,
    ) -> None:
        self._hooks = hooks
        self._secrets = secrets
        self._providers = providers
        self._public_url = public_url.rstrip("/")

    def _provider(self, provider_id: str) -> ManagedWebhooks | None:
        provider = self._providers(provider_id)
        return provider if isinstance(provider, ManagedWebhooks) else None

    def manages(self, provider_id: str) -> bool:
        return self._provider(provider_id) is not None

    def url(self, provider_id: str, hook_id: str) -> str:
        return f"{self._public_url}/v1/webhooks/{provider_id}/{hook_id}"

    def register(self, connection: Connection, source: Source) -> Hook | None:
        """The hook for a new source (None for providers without managed webhooks)."""
        provider = self._provider(connection.provider)
        if provider is None or source.repository_id is None:
            return None
        hook_id, secret = new_id("hook"), random.token_urlsafe(32)
        remote_id = provider.create_webhook(
            self._secrets.access(connection),
            RepoRef.named(source.repository, source.repository_id),
            self.url(connection.provider, hook_id),
            secret,
        )
        hook = Hook(
            id=hook_id,
            team_id=connection.team_id,
            connection_id=connection.id,
            source_id=source.id,
            provider=connection.provider,
            repository_id=source.repository_id,
            repository=source.repository,
            provider_hook_id=remote_id,
            secret=self._secrets.seal_hook_secret(connection.team_id, hook_id, secret),
            secret_version=1,
            created_at=iso(utcnow()),
        )
        self._hooks.put(hook)
        return hook

    def remove(self, access: Access | None, hooks: list[Hook]) -> int:
        """Delete hooks here and (best effort, with `access`) on the provider; returns how many the provider
        confirmed. The record goes either way: a hook we no longer know answers 404 and builds nothing."""
        confirmed = 0
        for hook in hooks:
            provider = self._provider(hook.provider)
            if provider is not None and access is not None:
                try:
                    confirmed += provider.delete_webhook(access, hook.repo, hook.provider_hook_id)
                except GitconnectError as exc:
                    log.warning("webhook not removed on the provider", extra={"hook_id": hook.id, "reason": exc.detail})
            self._hooks.delete(hook.id)
        return confirmed

    def for_source(self, connection_id: str, source_id: str) -> list[Hook]:
        return [h for h in self._hooks.for_connection(connection_id) if h.source_id == source_id]

    def for_connection(self, connection_id: str) -> list[Hook]:
        return self._hooks.for_connection(connection_id)

    def regenerate(self, connection: Connection) -> int:
        """A new secret on every hook of the connection; a hook gone from the provider is recreated. The old secret
        stops building at once (the router checks the secret version)."""
        provider = self._provider(connection.provider)
        if provider is None:
            return 0
        access = self._secrets.access(connection)
        count = 0
        for hook in self._hooks.for_connection(connection.id):
            secret = random.token_urlsafe(32)
            url = self.url(connection.provider, hook.id)
            remote_id = hook.provider_hook_id
            if not provider.update_webhook(access, hook.repo, remote_id, url, secret):
                remote_id = provider.create_webhook(access, hook.repo, url, secret)
            self._hooks.put(
                replace(
                    hook,
                    provider_hook_id=remote_id,
                    secret=self._secrets.seal_hook_secret(hook.team_id, hook.id, secret),
                    secret_version=hook.secret_version + 1,
                )
            )
            count += 1
        return count
