"""Deliveries a provider failed to make, asked for again: GitHub does not retry a webhook delivery that timed out or
got a 5xx (its documentation tells App owners to redeliver failed deliveries themselves). The scheduled sync runs
this; a redelivery reaches the intake with the same GUID, so it is routed (or logged as a duplicate) like any
delivery, and each team linked to the account sees in its delivery log that it was recovered."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gitconnect.domain.errors import GitconnectError, UnprocessableError
from gitconnect.domain.ids import iso, utcnow
from gitconnect.domain.models import Connection, Delivery
from gitconnect.providers.base import FailedDelivery, Provider, RedeliveredWebhooks

log = logging.getLogger(__name__)


class Leases(Protocol):
    def acquire(self, lease_id: str, expires_at: int) -> bool: ...


class Remembered(Protocol):
    def acquire(self, lease_id: str, expires_at: int) -> bool: ...
    def release(self, lease_id: str) -> None: ...


class Accounts(Protocol):
    def by_account(self, account_key: str) -> list[Connection]: ...


class DeliveryLog(Protocol):
    def put_many(self, deliveries: Sequence[Delivery]) -> None: ...


@dataclass
class RecoveryReport:
    redelivered: dict[str, list[str]] = field(default_factory=dict)  # provider -> GUIDs asked for again
    skipped: dict[str, str] = field(default_factory=dict)  # provider -> why not this run
    failed: dict[str, str] = field(default_factory=dict)  # provider or GUID -> the error


@dataclass(frozen=True)
class DeliveryRecovery:
    providers: Callable[[str], Provider]
    provider_ids: Sequence[str]  # the providers that take webhooks
    leases: Leases
    connections: Accounts
    deliveries: DeliveryLog
    interval_seconds: float = 300.0  # at most one pass per provider per interval, across containers
    lookback_seconds: float = 3600.0  # how far back each pass reads the provider's log
    max_pages: int = 10  # and at most this many pages of it (100 deliveries each)
    clock: Callable[[], float] = time.time
    # GUIDs asked for, remembered past the window a pass reads (None: GitHub's own log is the only memory). GitHub
    # shows a redelivery in its log once it made the attempt; until then, and if the original attempt leaves the
    # window while the redelivery fails too, this keeps a long outage from asking for one delivery twice.
    remembered: Remembered | None = None

    def run(self, remaining_ms: Callable[[], int] | None = None, margin_ms: int = 5_000) -> RecoveryReport:
        """One pass per provider behind its lease. `remaining_ms` (the Lambda's clock) stops it `margin_ms` before
        the deadline: a delivery is marked "asked for" only just before it is asked, so what is left stays failed in
        GitHub's log and the next pass, reading the same window, asks for it."""
        report = RecoveryReport()
        for provider_id in self.provider_ids:
            provider = self.providers(provider_id)
            if not isinstance(provider, RedeliveredWebhooks):
                continue
            now = self.clock()
            if not self.leases.acquire(f"redelivery#{provider_id}", int(now + self.interval_seconds)):
                report.skipped[provider_id] = "a pass ran less than an interval ago"
                continue
            try:
                failed = provider.failed_deliveries(now - self.lookback_seconds, self.max_pages)
            except UnprocessableError as exc:  # not configured here (no GitHub App): nothing to recover
                report.skipped[provider_id] = exc.detail
                continue
            except GitconnectError as exc:  # the next passes read this window again: nothing is lost
                report.failed[provider_id] = exc.detail
                log.warning("delivery log not read", extra={"provider": provider_id, "reason": exc.detail})
                continue
            for delivery in failed:  # bounded by max_pages pages of 100, and by the deadline
                if remaining_ms is not None and remaining_ms() < margin_ms:
                    report.skipped[provider_id] = "stopped before the deadline: the next pass asks for the rest"
                    break
                mark = f"redelivered#{provider_id}#{delivery.guid}"
                keep_until = int(now + self.lookback_seconds + 2 * self.interval_seconds)
                if self.remembered is not None and not self.remembered.acquire(mark, keep_until):
                    report.skipped[delivery.guid] = "asked for once already"
                    continue
                try:
                    provider.redeliver(delivery)
                except GitconnectError as exc:  # not asked after all: the next pass asks again
                    report.failed[delivery.guid] = exc.detail
                    if self.remembered is not None:
                        self.remembered.release(mark)
                    continue
                report.redelivered.setdefault(provider_id, []).append(delivery.guid)
                self._log(provider_id, delivery)
        return report

    def _log(self, provider_id: str, delivery: FailedDelivery) -> None:
        """A `recovered` entry for each team linked to the account; the redelivery then logs its own outcome."""
        teams = [] if delivery.account_key is None else self.connections.by_account(delivery.account_key)
        reason = (
            f"{provider_id} could not deliver this at {delivery.delivered_at} ({delivery.status}): "
            "gitconnect asked it to deliver it again"
        )
        now = iso(utcnow())
        self.deliveries.put_many(
            [
                Delivery(
                    team_id=c.team_id,
                    id=delivery.guid,
                    provider=provider_id,
                    event=delivery.event,
                    connection_id=c.id,
                    repository=None,
                    received_at=now,
                    outcome="recovered",
                    reason=reason,
                )
                for c in teams
                if c.provider == provider_id
            ]
        )
