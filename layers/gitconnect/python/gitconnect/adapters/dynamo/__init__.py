"""DynamoDB through PynamoDB, a module per aggregate. Models never leave this package: stores take and return
domain records. Access is by key or index only (no Scan on any path). Table names are bound once by `open_stores`.

base        a model bound to its table; the one conditional write (`write_if`) and the one read by key
keys        every key and sparse-index partition value (their bytes are what stored items hold)
cursors     page cursors bound to their team
connections, sources, builds, deliveries, hooks     a table each
state, leases, data_keys    the state table: one-time OAuth states, token-refresh leases and the shared data keys
(templates, their versions and runs: adapters/template_store.py, on the same base and keys)
"""

from __future__ import annotations

from typing import NamedTuple

from gitconnect.adapters.dynamo.base import bind_model
from gitconnect.adapters.dynamo.builds import BuildModel, BuildStore
from gitconnect.adapters.dynamo.connections import ConnectionModel, ConnectionStore
from gitconnect.adapters.dynamo.data_keys import DataKeyModel, DataKeyStore, ProgressModel, ProgressStore
from gitconnect.adapters.dynamo.deliveries import DeliveryModel, DeliveryStore
from gitconnect.adapters.dynamo.hooks import HookModel, HookStore
from gitconnect.adapters.dynamo.leases import LeaseModel, LeaseStore
from gitconnect.adapters.dynamo.sources import SourceModel, SourceStore
from gitconnect.adapters.dynamo.state import StateModel, StateStore
from gitconnect.settings import Settings

__all__ = [
    "BuildStore",
    "ConnectionStore",
    "DataKeyStore",
    "DeliveryStore",
    "HookStore",
    "LeaseStore",
    "ProgressStore",
    "SourceStore",
    "StateStore",
    "Stores",
    "bind_tables",
    "open_stores",
]


class Stores(NamedTuple):
    """Every store over the six tables. Read them by name; the first six positions are those of the tuple wiring
    used to hold (4 is still the store leases are taken from), the OAuth states come last."""

    connections: ConnectionStore
    sources: SourceStore
    builds: BuildStore
    deliveries: DeliveryStore
    leases: LeaseStore
    hooks: HookStore
    states: StateStore


def bind_tables(settings: Settings) -> None:
    """Point the models at this deployment's tables (names come from the template through the environment)."""
    for model, name in (
        (ConnectionModel, settings.connections_table),
        (SourceModel, settings.sources_table),
        (BuildModel, settings.builds_table),
        (DeliveryModel, settings.deliveries_table),
        (StateModel, settings.state_table),
        (LeaseModel, settings.state_table),
        (DataKeyModel, settings.state_table),
        (ProgressModel, settings.state_table),
        (HookModel, settings.hooks_table),
    ):
        bind_model(model, name, settings.region)


def open_stores(settings: Settings) -> Stores:
    bind_tables(settings)
    return Stores(
        ConnectionStore(), SourceStore(), BuildStore(), DeliveryStore(), LeaseStore(), HookStore(), StateStore()
    )
