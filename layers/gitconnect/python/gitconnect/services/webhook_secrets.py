"""The webhook intake's secret policy: which secrets a delivery may be signed with, and how long what was read is
trusted. The intake asks `lookup(provider, hook_id, fresh)` for every delivery; this answers from memory.

- A provider-wide delivery (GitHub App: no hook id) is signed with the app's webhook secret, or with the previous one
  during a rotation. Both are read at most once a minute: a rotation takes effect within a minute.
- A per-hook delivery (GitLab, Bitbucket) is signed with its hook's own secret, kept five minutes. A regenerated
  secret is refused by the router at once, whatever is remembered here; the new one is fetched by a delivery that
  fails the remembered one (`fresh`), unless that was read less than `hook_refresh_seconds` ago: forged requests
  cost at most one read per hook per interval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from gitconnect.providers import REGISTRY
from gitconnect.services.intake import Secrets
from gitconnect.services.ttl_cache import TtlCache

if TYPE_CHECKING:
    from gitconnect.domain.models import Hook

APP_SECRETS_SECONDS = 60.0
HOOK_SECRETS_SECONDS = 300.0


class HookRecords(Protocol):
    def get(self, hook_id: str) -> Hook | None: ...


class HookSecretOpener(Protocol):
    def open_hook_secret(self, hook: Hook) -> str: ...


class WebhookSecrets:
    """`provider_secret` reads one named provider secret ("" when unset). `hooks` and `opener` are factories, called
    on the first per-hook lookup only: the intake's cold start loads no table or KMS client for app deliveries."""

    def __init__(
        self,
        provider_secret: Callable[[str], str],
        hooks: Callable[[], HookRecords],
        opener: Callable[[], HookSecretOpener],
        *,
        hook_refresh_seconds: float,
    ) -> None:
        self._provider_secret, self._hooks, self._opener = provider_secret, hooks, opener
        self._app = TtlCache(self._read_app, APP_SECRETS_SECONDS)
        self._hook = TtlCache(self._read_hook, HOOK_SECRETS_SECONDS, min_refresh_seconds=hook_refresh_seconds)

    def lookup(self, provider_id: str, hook_id: str | None, fresh: bool) -> Secrets | None:
        if hook_id is None:
            return self._app(provider_id)
        key = f"{provider_id}/{hook_id}"
        return self._hook.refresh(key) if fresh else self._hook(key)

    def _read_app(self, provider_id: str) -> Secrets | None:
        names = app_secret_names(provider_id)
        return Secrets([s for s in (self._provider_secret(n) for n in names) if s])

    def _read_hook(self, key: str) -> Secrets | None:
        hook = self._hooks().get(key.split("/", 1)[1])
        return None if hook is None else Secrets([self._opener().open_hook_secret(hook)], hook.secret_version)


def app_secret_names(provider_id: str) -> tuple[str, ...]:
    """The provider-wide signing secrets its declaration names, current first (GITHUB_WEBHOOK_SECRET, then
    GITHUB_WEBHOOK_SECRET_PREVIOUS while rotating); () for a provider without any."""
    declaration = REGISTRY.get(provider_id)
    webhook = None if declaration is None else declaration.webhook
    return () if webhook is None else webhook.secrets
