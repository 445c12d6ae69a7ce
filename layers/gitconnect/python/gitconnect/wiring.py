"""Builds the adapters and services once per container and caches them. The only place that knows which
adapter implements which port; handlers and routes ask here."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from gitconnect.settings import Settings, get_settings

# Adapters and services are imported inside the factories that build them: each function loads only what it uses
# (the webhook intake loads almost nothing), which keeps cold starts short.
if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    from gitconnect.adapters.dynamo import (
        Stores,
    )
    from gitconnect.adapters.messaging import BuildsQueue, PlatformBus, WaitingRoom
    from gitconnect.adapters.template_store import TemplateStore
    from gitconnect.adapters.tokens import JwtVerifier
    from gitconnect.providers.base import HttpClient, Provider, WebhookSpec
    from gitconnect.providers.declaration import Webhook
    from gitconnect.services.backfill import DueBackfill
    from gitconnect.services.builds import BuildDispatcher, BuildService
    from gitconnect.services.connections import ConnectionService
    from gitconnect.services.drift import DriftCheck, DriftSchedule
    from gitconnect.services.gitops_queue import GitOpsSyncConsumer, SyncRequests
    from gitconnect.services.hooks import HookService
    from gitconnect.services.intake import WebhookIntake
    from gitconnect.services.listing import ListingService
    from gitconnect.services.oauth import BrowserFlow
    from gitconnect.services.ratelimits import RateLimitRecorder
    from gitconnect.services.reconcile import ReconcileService
    from gitconnect.services.redelivery import DeliveryRecovery
    from gitconnect.services.repair import HookRepair
    from gitconnect.services.router import EventRouter
    from gitconnect.services.runs import RunService
    from gitconnect.services.schedule import SyncScheduler
    from gitconnect.services.secrets import ConnectionSecrets
    from gitconnect.services.sources import SourceService
    from gitconnect.services.statuses import StatusMirror, StatusRequests
    from gitconnect.services.sync import PollService
    from gitconnect.services.templates import TemplateService
    from gitconnect.services.ttl_cache import ttl_cache as ttl_cache
else:

    def __getattr__(name: str) -> Any:
        """`ttl_cache` lived here before services/ttl_cache.py; it is still importable from here, loaded on first use
        so that no function's cold start pays for it."""
        if name == "ttl_cache":
            from gitconnect.services.ttl_cache import ttl_cache

            return ttl_cache
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def settings() -> Settings:
    return get_settings()


@cache
def public_url() -> str:
    """Where providers and browsers reach the API: GITCONNECT_PUBLIC_URL (the PublicUrl parameter, a custom domain), or,
    when that is empty, the API's own URL, which the stack writes to the SSM parameter GITCONNECT_PUBLIC_URL_PARAMETER
    names (a function's environment cannot name the API it is a route of: CloudFormation calls that a circular
    dependency). Read once per container, and only by the functions that build URLs (never the intake)."""
    s = settings()
    if s.public_url or not s.public_url_parameter:
        return s.public_url
    return str(aws_client("ssm").get_parameter(Name=s.public_url_parameter)["Parameter"]["Value"])


def dashboard_url() -> str:
    """Where the OAuth and App callbacks send the browser back: GITCONNECT_DASHBOARD_URL, or the dashboard gitconnect
    serves itself (`gitconnect.api.dashboard`) on the public URL."""
    return settings().dashboard_url or public_url().rstrip("/") + "/dashboard"


@cache
def aws_client(service: str) -> Any:
    import boto3  # type: ignore[import-untyped]  # no type stubs installed for boto3
    from botocore.config import Config  # type: ignore[import-untyped]  # nor for botocore

    # Bounded retries with backoff and short timeouts on every AWS call.
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)
    return boto3.session.Session().client(service, region_name=settings().region, config=config)


@cache
def stores() -> Stores:
    """The tables, one adapter each (`stores().connections`, `.sources`, `.builds`, …)."""
    from gitconnect.adapters.dynamo import open_stores

    return open_stores(settings())


@cache
def secrets() -> ConnectionSecrets:
    from gitconnect.adapters.cipher import HOOK_SECRETS_CONTEXT, KmsEnvelopeCipher, SharedKeyCipher
    from gitconnect.adapters.dynamo import DataKeyStore
    from gitconnect.services.secrets import ConnectionSecrets
    from gitconnect.services.token_refresh import TokenRefresher

    kms, key_id, tables = aws_client("kms"), settings().kms_key_id, stores()
    per_item = KmsEnvelopeCipher(kms, key_id)
    hook_cipher = SharedKeyCipher(kms, key_id, HOOK_SECRETS_CONTEXT, DataKeyStore("hook-secrets"), per_item)
    sealed = ConnectionSecrets(per_item, hook_cipher=hook_cipher)
    sealed.refresher = TokenRefresher(tables.connections, tables.leases, sealed, provider)
    return sealed


@cache
def http_client() -> HttpClient:
    from gitconnect.adapters.http import RequestsHttpClient

    s = settings()
    return RequestsHttpClient(allow_loopback=s.allow_loopback, timeout=s.http_timeout,
                              observer=rate_limits().observe)


@cache
def rate_limits() -> RateLimitRecorder:
    """Each connection's `rate_limit`, from the provider answers the container's HTTP client sees."""
    from gitconnect.services.ratelimits import RateLimitRecorder

    return RateLimitRecorder(lambda: stores().connections)


def provider_config(provider_id: str) -> dict[str, str]:
    """A provider's settings and secrets by their DESIGN.md §5 names, as its declaration lists them (secrets read
    once, then cached); {} for an unknown provider."""
    from gitconnect.providers import REGISTRY

    declaration = REGISTRY.get(provider_id)
    if declaration is None:
        return {}
    s = settings()
    config = dict(s.provider(provider_id))
    resolved: dict[str, Callable[[], str]] = {"GITCONNECT_PUBLIC_URL": public_url,
                                              "GITCONNECT_DASHBOARD_URL": dashboard_url}
    config.update({name: resolved[name]() if name in resolved else s.shared(name)
                   for name in declaration.shared_settings})
    config.update({name: provider_secret(name) for name in declaration.secrets})
    return config


@cache
def provider(provider_id: str) -> Provider:
    from gitconnect.adapters.git_remote import DulwichGitRemote
    from gitconnect.adapters.net import guarded_pool_manager
    from gitconnect.providers import REGISTRY
    from gitconnect.providers import create as create_provider
    from gitconnect.providers.base import ProviderPorts

    s = settings()
    git = DulwichGitRemote(lambda: guarded_pool_manager(allow_loopback=s.allow_loopback, timeout=s.http_timeout))
    http = http_client() if REGISTRY[provider_id].http else None
    return create_provider(provider_id, ProviderPorts(git=git, http=http, config=provider_config(provider_id)))


@cache
def waiting_room() -> WaitingRoom:
    """Where a delivery that met a provider's rate limit waits for the reset (the events queue, delayed)."""
    from gitconnect.adapters.messaging import WaitingRoom

    return WaitingRoom(aws_client("sqs"), settings().events_queue_url)


@cache
def builds_queue() -> BuildsQueue:
    from gitconnect.adapters.messaging import BuildsQueue

    return BuildsQueue(aws_client("sqs"), settings().builds_queue_url)


@cache
def token_verifier() -> JwtVerifier:
    from gitconnect.adapters.tokens import JwtVerifier

    s = settings()
    return JwtVerifier(secret=s.jwt_secret, jwks_url=s.jwks_url, issuer=s.jwt_issuer, audience=s.jwt_audience)


@cache
def connections() -> ConnectionService:
    from gitconnect.services.connections import ConnectionService

    tables = stores()
    return ConnectionService(
        tables.connections,
        tables.sources,
        secrets(),
        provider,
        hooks(),
        on_unlink=lambda c: templates().unlinked(c),
        reachable_namespaces=lambda c: listing().reachable_namespaces(c),
    )


@cache
def sources() -> SourceService:
    from gitconnect.services.sources import SourceService

    return SourceService(
        stores().sources,
        connections(),
        secrets(),
        provider,
        hooks(),
        poll_seconds=settings().poll_seconds,
        reconcile_seconds=settings().reconcile_seconds,
    )


@cache
def hooks() -> HookService:
    from gitconnect.services.hooks import HookService

    return HookService(stores().hooks, secrets(), provider, public_url())


@cache
def listing() -> ListingService:
    from gitconnect.services.listing import ListingService

    return ListingService(connections(), secrets(), provider, cache_seconds=settings().listing_cache_seconds)


@cache
def builds() -> BuildService:
    from gitconnect.services.builds import BuildService

    return BuildService(
        stores().builds, stores().sources, connections(), secrets(), provider, builds_queue(), status_requests()
    )


@cache
def dispatcher() -> BuildDispatcher:
    from gitconnect.services.builds import BuildDispatcher

    return BuildDispatcher(stores().builds, stores().sources, bus(), public_url(), status_requests())


@cache
def status_requests() -> StatusRequests:
    from gitconnect.adapters.messaging import MessageQueue
    from gitconnect.providers import REGISTRY, provider_class
    from gitconnect.providers.base import CommitStatuses
    from gitconnect.services.statuses import StatusRequests

    def shows_statuses(provider_id: str) -> bool:
        return provider_id in REGISTRY and issubclass(provider_class(provider_id), CommitStatuses)

    return StatusRequests(MessageQueue(aws_client("sqs"), settings().status_queue_url), shows_statuses)


@cache
def status_mirror() -> StatusMirror:
    from gitconnect.services.statuses import StatusMirror

    tables = stores()
    return StatusMirror(tables.builds, tables.builds, tables.connections, secrets(), provider)


@cache
def poller() -> PollService:
    from gitconnect.services.sync import PollService

    return PollService(
        stores().sources,
        stores().connections,
        secrets(),
        provider,
        builds_queue(),
        stores().deliveries,
        poll_seconds=settings().poll_seconds,
    )


@cache
def sync_scheduler() -> SyncScheduler:
    from gitconnect.adapters.messaging import MessageQueue
    from gitconnect.adapters.template_store import DRIFT_BUCKET, POLLED_DRIFT_BUCKET, DriftDue
    from gitconnect.services.schedule import Lane, SyncScheduler

    _template_store()  # binds the templates table
    lanes = [
        Lane("poll", stores().sources, settings().poll_seconds),
        Lane("hook", stores().hooks, settings().hook_check_seconds),
        Lane("reconcile", stores().reconcile_due, settings().reconcile_seconds),
        # Template drift: Custom Git's (its only news of pushes) first, then the webhooked ones' missed deliveries.
        Lane("drift", DriftDue(POLLED_DRIFT_BUCKET), settings().poll_seconds, aligned=True),
        Lane("drift", DriftDue(DRIFT_BUCKET), settings().drift_seconds, aligned=True),
    ]
    return SyncScheduler(lanes, MessageQueue(aws_client("sqs"), settings().sync_queue_url))


@cache
def due_backfill() -> DueBackfill:
    from gitconnect.adapters.dynamo import ProgressStore
    from gitconnect.providers import REGISTRY
    from gitconnect.services.backfill import BackfillLane, DueBackfill

    sources, hooks = stores().sources, stores().hooks
    per_hook = tuple(p for p, d in sorted(REGISTRY.items()) if d.webhook is not None and d.webhook.per_hook)
    lanes = [
        BackfillLane("poll", sources.undue_page, sources.set_due_if_absent, settings().poll_seconds),
        BackfillLane(
            "hook",
            lambda start, limit: hooks.undue_page(start, limit, per_hook),
            hooks.set_due_if_absent,
            settings().hook_check_seconds,
        ),
        # Linked templates: their due time is their drift group's phase (TemplateService), not the lane's draw.
        BackfillLane(
            "drift",
            _template_store().undue_page,
            lambda team_id, template_id, _due: templates().schedule_drift_if_absent(team_id, template_id),
            settings().drift_seconds,
        ),
    ]
    return DueBackfill(lanes, ProgressStore())


def idempotency_store() -> DynamoDBPersistenceLayer:
    """A new layer per caller, never shared: Powertools configures a layer once, with the first function's key
    expression, and functions sharing a process (the local stack) would then dedupe on each other's keys."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=settings().idempotency_table, boto3_client=aws_client("dynamodb"))


def idempotency_config(key: str) -> IdempotencyConfig:
    """Records are kept 8 days: longer than any redelivery, replay or redrive window we use."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath=key, expires_after_seconds=8 * 24 * 3600, raise_on_no_idempotency_key=True
    )


def reset() -> None:
    """Forget every cached adapter and service (tests that change the environment)."""
    get_settings.cache_clear()
    for value in list(globals().values()):
        if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == __name__:
            value.cache_clear()


# ---------------------------------------------------------------------------------------------------- webhooks
@lru_cache(maxsize=16)  # bounded: the id comes from the request's path, so it may be anything
def webhook(provider_id: str) -> Webhook | None:
    """How `provider_id`'s deliveries come (its declaration's webhook); None for a provider that takes none."""
    from gitconnect.providers import REGISTRY

    declaration = REGISTRY.get(provider_id)
    return None if declaration is None else declaration.webhook


@cache
def webhook_spec(provider_id: str) -> WebhookSpec:
    """The declared SPEC (`providers/<id>/webhooks.py`), imported alone: the intake must not load the provider's API
    client."""
    from gitconnect.providers import REGISTRY
    from gitconnect.providers.declaration import load

    declared = REGISTRY[provider_id].webhook
    if declared is None:
        raise KeyError(f"{provider_id!r} takes no webhooks")
    return load(declared.spec)  # type: ignore[no-any-return]  # a reference's target is untyped; SPEC is a WebhookSpec


def provider_secret(name: str) -> str:
    from gitconnect.adapters.provider_secrets import provider_secret as lookup

    return lookup(settings(), name)


@cache
def webhook_intake() -> WebhookIntake:
    from gitconnect.domain.ids import IsoClock
    from gitconnect.services.intake import WebhookIntake
    from gitconnect.services.webhook_secrets import WebhookSecrets

    sqs, url = aws_client("sqs"), settings().events_queue_url
    # The hook store and the cipher are passed as factories: built on the first per-hook delivery, not at cold start.
    policy = WebhookSecrets(
        provider_secret, lambda: stores().hooks, secrets, hook_refresh_seconds=settings().hook_secret_refresh_seconds
    )
    return WebhookIntake(lambda text: sqs.send_message(QueueUrl=url, MessageBody=text), policy.lookup, IsoClock())


@cache
def router() -> EventRouter:
    from gitconnect.services.router import EventRouter

    return EventRouter(
        stores().connections,
        stores().sources,
        stores().deliveries,
        builds_queue(),
        provider,
        secrets(),
        stores().hooks,
        gitops=lambda: templates(),
        seen=stores().seen,
    )


@cache
def reconciler() -> ReconcileService:
    from gitconnect.services.reconcile import ReconcileService

    return ReconcileService(
        stores().sources, stores().connections, secrets(), provider, stores().seen, builds_queue(), stores().deliveries
    )


def browser_flow(provider_id: str) -> BrowserFlow | None:
    """The flow behind `…/connections/<id>/authorize` and `/v1/oauth/<id>/callback`, built by the factory the
    provider declares; None for a provider linked only with credentials (or unknown)."""
    from gitconnect.providers import REGISTRY

    declaration = REGISTRY.get(provider_id)
    if declaration is None or declaration.browser_flow is None:
        return None  # not cached: the id comes from the request path
    return _browser_flow(provider_id, declaration.browser_flow)


@cache
def _browser_flow(provider_id: str, factory: str) -> BrowserFlow:
    from gitconnect.providers.declaration import load
    from gitconnect.services.oauth import FlowPorts

    ports = FlowPorts(
        provider_id=provider_id,
        states=lambda: stores().states,
        connections=lambda: stores().connections,
        sources=lambda: stores().sources,
        secrets=secrets,
        provider=lambda: provider(provider_id),
        http=http_client,
        config=lambda: provider_config(provider_id),
        public_url=public_url(),
        dashboard_url=dashboard_url(),
    )
    return load(factory)(ports)  # type: ignore[no-any-return]  # a reference's target is untyped; this one is a flow


@cache
def _template_store() -> TemplateStore:
    from gitconnect.adapters.template_store import TemplateStore, bind_template_table

    bind_template_table(settings().templates_table, settings().region)
    return TemplateStore()


@cache
def bus() -> PlatformBus:
    from gitconnect.adapters.messaging import PlatformBus

    return PlatformBus(aws_client("events"), settings().event_bus)


@cache
def runs() -> RunService:
    from gitconnect.services.runs import RunService

    return RunService(_template_store(), _template_store(), bus(), public_url())


@cache
def templates() -> TemplateService:
    from gitconnect.services.templates import TemplateService

    return TemplateService(
        _template_store(),
        connections(),
        secrets(),
        provider,
        runs(),
        status_requests(),
        requests=gitops_requests(),
        drift=drift_schedule(),
        hooks=hooks(),
    )


@cache
def gitops_requests() -> SyncRequests:
    """The sending side of the FIFO gitops queue (router, drift check)."""
    from gitconnect.adapters.messaging import FifoQueue
    from gitconnect.services.gitops_queue import SyncRequests

    return SyncRequests(FifoQueue(aws_client("sqs"), settings().gitops_queue_url))


@cache
def drift_schedule() -> DriftSchedule:
    from gitconnect.services.drift import DriftSchedule

    return DriftSchedule(poll_seconds=settings().poll_seconds, drift_seconds=settings().drift_seconds)


@cache
def drift() -> DriftCheck:
    from gitconnect.services.drift import DriftCheck

    return DriftCheck(_template_store(), stores().connections, secrets(), provider, gitops_requests(), runs())


@cache
def gitops_consumer() -> GitOpsSyncConsumer:
    from gitconnect.services.gitops_queue import GitOpsSyncConsumer

    return GitOpsSyncConsumer(templates())


@cache
def recovery() -> DeliveryRecovery:
    """Failed deliveries asked for again. Each pass reads the hour before it (four passes at the default interval:
    a pass that failed is covered by the next ones)."""
    from gitconnect.providers import REGISTRY
    from gitconnect.services.redelivery import DeliveryRecovery

    every = settings().redelivery_seconds
    with_webhooks = [pid for pid, declaration in REGISTRY.items() if declaration.webhook is not None]
    tables = stores()
    return DeliveryRecovery(provider, with_webhooks, tables.leases, tables.connections, tables.deliveries,
                            interval_seconds=every, lookback_seconds=max(3600.0, 4 * every), remembered=tables.leases)


@cache
def repair() -> HookRepair:
    from gitconnect.services.repair import HookRepair

    return HookRepair(
        stores().hooks,
        hooks(),
        stores().connections,
        stores().sources,
        stores().builds,
        secrets(),
        provider,
        builds_queue(),
        settings().hook_check_seconds,
    )
