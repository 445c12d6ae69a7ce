"""Webhook health, one hook at a time as the sync queue hands them out (the scheduled sync finds those due): a hook
the provider disabled (after failed deliveries) or that was deleted on its side is recreated with the same URL and
secret, and the commits pushed meanwhile to watched branches are built (each branch head compared with the last build
of that branch)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from gitconnect.domain.errors import GitconnectError
from gitconnect.domain.ids import stable_id
from gitconnect.domain.models import Build, Connection, Hook, Source
from gitconnect.domain.rules import matches_any
from gitconnect.providers.base import Access, ManagedWebhooks, Provider
from gitconnect.services.builds import new_build
from gitconnect.services.hooks import HookService
from gitconnect.services.ports import BuildQueue, BuildStore, ConnectionStore, SourceStore
from gitconnect.services.secrets import ConnectionSecrets

log = logging.getLogger(__name__)


class HealthStore(Protocol):
    def put(self, h: Hook) -> None: ...
    def get(self, hook_id: str) -> Hook | None: ...
    def set_checked(self, hook_id: str, at: float) -> bool: ...
    def reseal(self, hook_id: str, old: bytes, new: bytes) -> bool: ...


@dataclass
class RepairReport:
    checked: int = 0
    recreated: list[str] = field(default_factory=list)
    builds: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class HookRepair:
    def __init__(
        self,
        hooks: HealthStore,
        hook_service: HookService,
        connections: ConnectionStore,
        sources: SourceStore,
        builds: BuildStore,
        secrets: ConnectionSecrets,
        providers: Callable[[str], Provider],
        queue: BuildQueue,
        interval_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._hooks, self._service, self._connections, self._sources = hooks, hook_service, connections, sources
        self._builds, self._secrets, self._providers, self._queue = builds, secrets, providers, queue
        self._interval, self._clock = interval_seconds, clock

    def check(self, hook_id: str) -> RepairReport:
        """Check one hook the scheduled sync found due (through the sync queue). A message handed out again soon
        after a check (SQS delivers at least once) does nothing: a hook is asked about at most twice an interval."""
        report = RepairReport()
        hook = self._hooks.get(hook_id)
        if hook is None or not self._service.manages(hook.provider):
            return report  # removed meanwhile, or a provider whose webhooks gitconnect does not manage
        now = self._clock()
        if hook.checked_at is not None and now - hook.checked_at < self._interval / 2:
            return report
        try:
            self._check(hook, report)
        except GitconnectError as exc:
            report.failed[hook.id] = exc.detail
            log.warning("webhook check failed", extra={"hook_id": hook.id, "reason": exc.detail})
        self._hooks.set_checked(hook.id, now)
        self._migrate(hook)
        return report

    def _migrate(self, hook: Hook) -> None:
        """A secret stored under its own KMS data key (before the shared one) is sealed again under the shared key,
        at the hook's check: every stored hook migrates within one GITCONNECT_HOOK_CHECK_SECONDS. Conditional on the
        stored secret being the one read, so a regenerated secret written meanwhile is never undone."""
        resealed = self._secrets.resealed_hook_secret(hook)
        if resealed is not None and self._hooks.reseal(hook.id, hook.secret, resealed):
            log.info("webhook secret sealed under the shared data key", extra={"hook_id": hook.id})

    def _check(self, hook: Hook, report: RepairReport) -> None:
        connection = self._connections.get(hook.team_id, hook.connection_id)
        if connection is None or connection.status != "active":
            return  # unlinked (its hooks are being removed) or waiting to be linked again
        provider = self._providers(hook.provider)
        if not isinstance(provider, ManagedWebhooks):
            return  # hooks are only checked for providers whose webhooks gitconnect manages (see `run`)
        report.checked += 1
        access = self._secrets.access(connection)
        health = provider.webhook_health(access, hook.repo, hook.provider_hook_id)
        if health == "ok":
            return
        if health == "disabled":
            provider.delete_webhook(access, hook.repo, hook.provider_hook_id)
        secret = self._secrets.open_hook_secret(hook)
        remote_id = provider.create_webhook(access, hook.repo, self._service.url(hook.provider, hook.id), secret)
        self._hooks.put(replace(hook, provider_hook_id=remote_id))
        report.recreated.append(hook.id)
        missed = self._missed(connection, access, hook)
        self._queue.send(missed)
        report.builds.extend(b.id for b in missed)

    def _missed(self, connection: Connection, access: Access, hook: Hook) -> list[Build]:
        """The builds a recreated hook missed: of its source (a hook from before sharing), or of every source of the
        connection on the repository (a shared hook; bounded by the sources on one repository). Linked templates
        there are caught up by their drift check."""
        if hook.source_id is not None:
            found = self._sources.get(hook.team_id, hook.source_id)
            sources = [] if found is None else [found]
        else:
            on_repository = self._sources.for_repository(hook.provider, hook.repository_id)
            sources = [s for s in on_repository if s.connection_id == hook.connection_id]
        return [build for source in sources for build in self._missed_of(connection, access, source)]

    def _missed_of(self, connection: Connection, access: Access, source: Source) -> list[Build]:
        heads = {
            b.name: b.sha
            for b in self._providers(connection.provider).branches(access, source.repository)
            if matches_any(b.name, source.branches)
        }
        last_built: dict[str, str] = {}
        for build in self._builds.list(source.team_id, source_id=source.id, cursor=None, limit=100).items:
            if isinstance(build, Build):  # a page holds builds here (Page.items is any listing's)
                last_built.setdefault(build.ref, build.sha)
        missed = []
        for name, sha in sorted(heads.items()):
            ref = f"refs/heads/{name}"
            known = last_built.get(ref) or source.heads.get(name)
            if known is not None and known != sha:
                missed.append(
                    new_build(
                        source,
                        ref=ref,
                        sha=sha,
                        trigger="push",
                        requested_by=None,
                        # The router's id for this push (source, trigger, ref, sha, before): if the delivery turns
                        # up after all, it requests this same build.
                        build_id=stable_id("bld", source.id, "push", ref, sha, known),
                    )
                )
        return missed
