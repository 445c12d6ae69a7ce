"""Webhooks gitconnect registers on a provider (GitLab, Bitbucket): one per repository per connection, with its own
URL and secret, shared by everything of the connection that needs the repository's events: its sources (`src#<id>`),
linked templates (`tpl#<id>`) and release flow triggers (`trg#<id>`).

- `acquire` registers the hook when its first user appears (before that user is stored: a source or template that
  cannot receive events is not created) and only counts the others. Its id is derived from the connection and the
  repository, and it is stored only if absent: of two creators at the same moment one stores its hook, the other
  deletes the one it made on the provider and joins the stored one.
- `release` removes a user; the last one deletes the hook here (only if still unused) and, best effort and logged, on
  the provider (it may already have lost the hook or our access). Unlinking removes every hook of the connection.
- Hooks registered before the shared hook existed serve one source each (`Hook.source_id`) and go with it.
"""

from __future__ import annotations

import logging
import secrets as random
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from gitconnect.domain.errors import ConflictError, GitconnectError
from gitconnect.domain.events import RepoRef
from gitconnect.domain.ids import iso, stable_id, utcnow
from gitconnect.domain.models import Connection, Hook, Source
from gitconnect.providers.base import Access, ManagedWebhooks, Provider
from gitconnect.services.secrets import ConnectionSecrets

log = logging.getLogger(__name__)


_MAX_ACQUIRE_ATTEMPTS = 3  # each retry means a concurrent creator or remover changed the hook between two writes


class HookStore(Protocol):
    def put(self, h: Hook) -> None: ...
    def get(self, hook_id: str) -> Hook | None: ...
    def for_connection(self, connection_id: str) -> list[Hook]: ...
    def delete(self, hook_id: str) -> None: ...
    def put_new(self, h: Hook, user: str) -> bool: ...
    def add_user(self, hook_id: str, user: str) -> bool: ...
    def remove_user(self, hook_id: str, user: str) -> int | None: ...
    def delete_unused(self, hook_id: str) -> bool: ...


def shared_hook_id(connection_id: str, repository_id: str) -> str:
    """The id of a connection's hook on a repository: the same for every user, so creators meet on one record."""
    return stable_id("hook", connection_id, repository_id)


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
        """The repository's hook, with the new source as a user (None for providers without managed webhooks)."""
        if source.repository_id is None:
            return None
        return self.acquire(connection, RepoRef.named(source.repository, source.repository_id), f"src#{source.id}")

    def acquire(self, connection: Connection, repo: RepoRef, user: str) -> Hook | None:
        """The connection's hook on `repo` with `user` among its users, registered on the provider if it has none
        (None for providers without managed webhooks)."""
        provider = self._provider(connection.provider)
        if provider is None:
            return None
        hook_id = shared_hook_id(connection.id, repo.id)
        # Bounded: each round is one conditional write that another writer's change refused.
        for _ in range(_MAX_ACQUIRE_ATTEMPTS):
            if self._hooks.add_user(hook_id, user):
                return self._hooks.get(hook_id)
            access, secret = self._secrets.access(connection), random.token_urlsafe(32)
            remote_id = provider.create_webhook(access, repo, self.url(connection.provider, hook_id), secret)
            hook = Hook(
                id=hook_id,
                team_id=connection.team_id,
                connection_id=connection.id,
                source_id=None,
                provider=connection.provider,
                repository_id=repo.id,
                repository=repo.full_name,
                provider_hook_id=remote_id,
                secret=self._secrets.seal_hook_secret(connection.team_id, hook_id, secret),
                secret_version=1,
                created_at=iso(utcnow()),
            )
            if self._hooks.put_new(hook, user):
                return hook
            self._forget(provider, access, repo, remote_id)  # another creator stored theirs first: join it
        raise ConflictError(f"the webhook of {repo.full_name} changed too often meanwhile: try again")

    def release(self, access: Access | None, connection_id: str, repository_id: str, user: str) -> None:
        """`user` no longer needs the connection's hook on the repository; the last user's release deletes it."""
        hook_id = shared_hook_id(connection_id, repository_id)
        hook = self._hooks.get(hook_id)
        if hook is None or self._hooks.remove_user(hook_id, user) != 0:
            return
        if self._hooks.delete_unused(hook_id):
            provider = self._provider(hook.provider)
            if provider is not None and access is not None:
                self._forget(provider, access, hook.repo, hook.provider_hook_id)

    def release_repository(self, access: Access | None, connection_id: str, repository: str, user: str) -> None:
        """`release` by the repository's name (bounded by the connection's hooks: one index query)."""
        for hook in self._hooks.for_connection(connection_id):
            if hook.source_id is None and hook.repository == repository:
                self.release(access, connection_id, hook.repository_id, user)

    @staticmethod
    def _forget(provider: ManagedWebhooks, access: Access, repo: RepoRef, remote_id: str) -> None:
        try:
            provider.delete_webhook(access, repo, remote_id)
        except GitconnectError as exc:
            log.warning("webhook not removed on the provider", extra={"repository": repo.full_name,
                                                                      "reason": exc.detail})

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
