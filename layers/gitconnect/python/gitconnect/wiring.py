"""Builds the adapters and services once per container and caches them. The only place that knows which
adapter implements which port; handlers and routes ask here."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from gitconnect.providers import create as create_provider
from gitconnect.providers.base import Provider, ProviderPorts
from gitconnect.services.builds import BuildDispatcher, BuildService
from gitconnect.services.connections import ConnectionService
from gitconnect.services.listing import ListingService
from gitconnect.services.secrets import ConnectionSecrets
from gitconnect.services.sources import SourceService
from gitconnect.services.sync import PollService
from gitconnect.settings import Settings, get_settings

# Adapters are imported inside the factories that build them: each function loads only the libraries it uses
# (dulwich, PyJWT, cryptography, the idempotency layer), which keeps cold starts short.
if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    from gitconnect.adapters.dynamo import BuildStore, ConnectionStore, DeliveryStore, SourceStore
    from gitconnect.adapters.messaging import BuildsQueue
    from gitconnect.adapters.tokens import JwtVerifier


def settings() -> Settings:
    return get_settings()


@cache
def aws_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Bounded retries with backoff and short timeouts on every AWS call.
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)
    return boto3.session.Session().client(service, region_name=settings().region, config=config)


@cache
def _stores() -> tuple[ConnectionStore, SourceStore, BuildStore, DeliveryStore]:
    from gitconnect.adapters.dynamo import BuildStore, ConnectionStore, DeliveryStore, SourceStore, bind_tables

    bind_tables(settings())
    return ConnectionStore(), SourceStore(), BuildStore(), DeliveryStore()


def connection_store() -> ConnectionStore:
    return _stores()[0]


def source_store() -> SourceStore:
    return _stores()[1]


def build_store() -> BuildStore:
    return _stores()[2]


def delivery_store() -> DeliveryStore:
    return _stores()[3]


@cache
def secrets() -> ConnectionSecrets:
    from gitconnect.adapters.cipher import KmsEnvelopeCipher

    return ConnectionSecrets(KmsEnvelopeCipher(aws_client("kms"), settings().kms_key_id))


@cache
def provider(provider_id: str) -> Provider:
    from gitconnect.adapters.git_remote import DulwichGitRemote
    from gitconnect.adapters.net import guarded_pool_manager

    s = settings()
    git = DulwichGitRemote(lambda: guarded_pool_manager(allow_loopback=s.allow_loopback, timeout=s.http_timeout))
    return create_provider(provider_id, ProviderPorts(git=git))


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
    return ConnectionService(connection_store(), source_store(), secrets(), provider)


@cache
def sources() -> SourceService:
    return SourceService(source_store(), connections(), secrets(), provider)


@cache
def listing() -> ListingService:
    return ListingService(connections(), secrets(), provider)


@cache
def builds() -> BuildService:
    return BuildService(build_store(), source_store(), connections(), secrets(), provider, builds_queue())


@cache
def dispatcher() -> BuildDispatcher:
    from gitconnect.adapters.messaging import PlatformBus

    bus = PlatformBus(aws_client("events"), settings().event_bus)
    return BuildDispatcher(build_store(), source_store(), bus, settings().public_url)


@cache
def poller() -> PollService:
    return PollService(source_store(), connection_store(), secrets(), provider, builds_queue())


@cache
def idempotency_store() -> DynamoDBPersistenceLayer:
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
    for fn in (
        aws_client,
        _stores,
        idempotency_store,
        secrets,
        provider,
        builds_queue,
        token_verifier,
        connections,
        sources,
        listing,
        builds,
        dispatcher,
        poller,
    ):
        fn.cache_clear()
